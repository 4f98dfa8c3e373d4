//! `[dkim]`: outbound DKIM signing (`crate::auth::sign`): one key per internal domain, as
//! rspamd's `dkim_signing` and OpenDKIM's KeyTable do, so the province's mail passes DMARC at
//! the big receivers.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Signing settings; nothing is signed without a key.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct DkimConfig {
    /// Sign outbound mail whose From domain (or a parent of it) has a key.
    pub sign: bool,
    /// Header fields signed when present (RFC 6376 §5.4.1); `From` is always signed, and
    /// signed once more than it occurs ("oversigned"), so no second From can be added.
    pub headers: Vec<String>,
    /// The keys, one per signing domain.
    pub keys: Vec<DkimKey>,
}

/// One signing key: `selector._domainkey.domain` publishes its public half.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct DkimKey {
    /// The signing domain (`d=`); mail from it and its subdomains is signed with this key.
    pub domain: String,
    /// The selector (`s=`).
    pub selector: String,
    /// PEM private key (RSA of 2048 to 8192 bits, PKCS#1 or PKCS#8, or Ed25519 PKCS#8), as
    /// `locthu dkim keygen`, `opendkim-genkey` or `openssl genpkey` write it; relative to the
    /// config file's directory.
    pub key: PathBuf,
}

impl Default for DkimConfig {
    fn default() -> Self {
        DkimConfig {
            sign: true,
            headers: [
                "From",
                "Reply-To",
                "Subject",
                "Date",
                "Message-ID",
                "To",
                "Cc",
                "In-Reply-To",
                "References",
                "MIME-Version",
                "Content-Type",
                "Content-Transfer-Encoding",
                "Content-Language",
            ]
            .map(String::from)
            .to_vec(),
            keys: Vec::new(),
        }
    }
}
