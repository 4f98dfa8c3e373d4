//! Outbound DKIM signing: mail of internal senders whose From domain (or a parent of it) has a
//! key is signed at delivery, over the header block as it leaves and the body as received,
//! relaxed/relaxed (RFC 6376 §3.4.2, §3.4.4: survives the re-folding relays do).

use std::path::Path;
use std::sync::Arc;

use mail_auth::dkim::DkimSigner;
use mail_auth::headers::HeaderWriter;
use mail_auth::AuthenticatedMessage;

use super::key::DkimKey;
use crate::config::dkim::DkimConfig;
use crate::engine::{
    domain_of, Check, Connection, Direction, Envelope, Outgoing, StampFuture, Verdict,
};
use crate::metrics::metrics;

/// One domain's key.
struct DomainKey {
    domain: String,
    selector: String,
    key: Arc<DkimKey>,
}

/// The signing check.
pub struct Signer {
    keys: Vec<DomainKey>,
    headers: Vec<String>,
}

impl Signer {
    /// Loads every key; each error starts with its key (`dkim.keys.1.key: …`), so the runtime
    /// puts the config file's line on it.
    pub fn new(cfg: &DkimConfig, base: &Path) -> Result<Signer, String> {
        let mut keys = Vec::new();
        let mut errors = Vec::new();
        for (i, k) in cfg.keys.iter().enumerate() {
            let domain = k.domain.trim_end_matches('.').to_ascii_lowercase();
            if let Err(e) = crate::config::valid_smtp_domain(&domain) {
                errors.push(format!("dkim.keys.{i}.domain `{}` {e}", k.domain));
                continue;
            }
            if keys.iter().any(|d: &DomainKey| d.domain == domain) {
                errors.push(format!(
                    "dkim.keys.{i}.domain `{domain}` has a key already: one per domain"
                ));
                continue;
            }
            if k.selector.is_empty()
                || !k
                    .selector
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
            {
                errors.push(format!(
                    "dkim.keys.{i}.selector `{}`: letters, digits, '-' and dots only",
                    k.selector
                ));
                continue;
            }
            let path = base.join(&k.key);
            match DkimKey::from_file(&path) {
                Ok(key) => keys.push(DomainKey {
                    domain,
                    selector: k.selector.clone(),
                    key: Arc::new(key),
                }),
                Err(e) => errors.push(format!("dkim.keys.{i}.key: {e}")),
            }
        }
        if !errors.is_empty() {
            return Err(errors.join("\n"));
        }
        Ok(Signer {
            keys,
            headers: cfg.headers.clone(),
        })
    }

    /// The key for mail From `domain`: its own, else the nearest parent's (a subdomain's mail
    /// signed by the parent still aligns under DMARC's relaxed mode).
    fn key_for(&self, domain: &str) -> Option<&DomainKey> {
        self.keys
            .iter()
            .filter(|k| super::align::under(domain, &k.domain))
            .max_by_key(|k| k.domain.len())
    }

    /// The DKIM-Signature line for the message leaving as `out`, or `None` when no key fits.
    pub fn sign(&self, out: &Outgoing<'_>) -> Result<Option<String>, String> {
        let mut head = out.head.to_vec();
        head.extend_from_slice(b"\r\n");
        let from = AuthenticatedMessage::parse(&head)
            .map(|m| {
                m.from_addresses()
                    .iter()
                    .map(|a| domain_of(a))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        // One From domain (RFC 5322 allows several authors; DMARC then does not apply).
        let Some(domain) = from.first() else {
            return Ok(None);
        };
        let Some(k) = self.key_for(domain) else {
            return Ok(None);
        };
        let raw = out
            .spool
            .bytes()
            .map_err(|e| format!("spool unreadable: {e}"))?;
        // mail-auth reads chained parts as header blocks, the last one running on into the
        // body: hand it the spool from its empty line on (that line ends the header block).
        let at = (out.body_offset as usize).min(raw.len());
        let blank = if raw[..at].ends_with(b"\r\n\r\n") {
            at - 2
        } else if raw[..at].ends_with(b"\n\n") {
            at - 1
        } else {
            at
        };
        let rest: &[u8] = if blank < at { &raw[blank..] } else { b"\r\n" };
        // Present fields are signed as often as they occur; From is listed once more than
        // it occurs, so a second From added later breaks the signature (RFC 6376 §8.15).
        let mut names: Vec<String> = vec!["From".into(), "From".into()];
        names.extend(
            self.headers
                .iter()
                .filter(|h| !h.eq_ignore_ascii_case("from") && has_field(out.head, h))
                .cloned(),
        );
        let signature = DkimSigner::from_key(KeyRef(Arc::clone(&k.key)))
            .domain(&k.domain)
            .selector(&k.selector)
            .headers(names)
            .sign_chained([out.head, rest])
            .map_err(|e| format!("DKIM signing for {} failed: {e}", k.domain))?;
        Ok(Some(signature.to_header()))
    }
}

/// Whether `head` has a field named `name`.
fn has_field(head: &[u8], name: &str) -> bool {
    head.split(|b| *b == b'\n').any(|l| {
        l.len() > name.len()
            && l[..name.len()].eq_ignore_ascii_case(name.as_bytes())
            && matches!(l[name.len()], b':' | b' ' | b'\t')
    })
}

/// A shared key, so each message's signer borrows it.
struct KeyRef(Arc<DkimKey>);

impl mail_auth::crypto::SigningKey for KeyRef {
    type Hasher = mail_auth::crypto::Sha256;

    fn sign(&self, input: impl mail_auth::headers::Writable) -> mail_auth::Result<Vec<u8>> {
        self.0.sign(input)
    }

    fn algorithm(&self) -> mail_auth::crypto::Algorithm {
        self.0.algorithm()
    }
}

impl Check for Signer {
    fn name(&self) -> &'static str {
        "dkim-sign"
    }

    fn stamp<'a>(
        &'a self,
        conn: &'a Connection,
        _env: &'a Envelope,
        _verdict: &'a Verdict,
        out: &'a Outgoing<'a>,
    ) -> Option<StampFuture<'a>> {
        // Only the province's own senders: an outsider on the outbound listener (who may
        // still write to internal recipients) must not get a forged From signed.
        if conn.direction() != Direction::Outbound || !conn.is_internal_sender() {
            return None;
        }
        Some(Box::pin(async move {
            // RSA-2048 signing with ring takes well under a millisecond: no blocking thread.
            match self.sign(out) {
                Ok(Some(h)) => {
                    metrics().dkim_signed.with_label_values(&["signed"]).inc();
                    h.into_bytes()
                }
                Ok(None) => Vec::new(),
                Err(e) => {
                    // Unsigned mail still goes: the receiver's DMARC decides, as for any
                    // domain that does not sign.
                    metrics().dkim_signed.with_label_values(&["error"]).inc();
                    tracing::warn!(conn = conn.id, error = %e, "DKIM signing failed");
                    Vec::new()
                }
            }
        }))
    }
}
