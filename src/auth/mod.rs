//! Sender authentication with the `mail-auth` crate: SPF (RFC 7208), DKIM (RFC 6376), DMARC
//! (RFC 9989) and ARC (RFC 8617) verification of mail from outside, rule `forged-internal`,
//! the `Authentication-Results` header (RFC 8601), and DKIM signing of the province's own
//! outbound mail.

pub mod align;
pub mod cache;
pub mod key;
pub mod keygen;
pub mod sign;
pub mod symbols;
pub mod verify;

use mail_auth::MessageAuthenticator;

use crate::config;

/// mail-auth's resolver, built from `[dns]` (the same servers, port, timeouts as the other DNS
/// checks), and its caches; made once and kept across reloads (`Services::authenticator`).
pub struct Authenticator {
    pub resolver: MessageAuthenticator,
    pub caches: cache::Caches,
}

impl Authenticator {
    /// An authenticator asking the servers of `dns`, caching `entries` answers per record type.
    pub fn new(dns: &config::Dns, entries: usize) -> Result<Authenticator, String> {
        let (servers, opts) = crate::dns::hickory_settings(dns)?;
        let resolver = MessageAuthenticator::new(servers, opts)
            .map_err(|e| format!("[dns] cannot build the authentication resolver: {e}"))?;
        Ok(Authenticator {
            resolver,
            caches: cache::Caches::new(entries),
        })
    }
}
