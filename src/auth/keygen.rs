//! `locthu dkim keygen DOMAIN SELECTOR`: a new signing key in a PEM file, and the DNS record
//! that publishes its public half.

use std::io::Write;
use std::path::Path;

use base64::Engine as _;

use super::key::DkimKey;

/// Which kind of key to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// RSA: what every receiver verifies (Gmail and Microsoft do not verify Ed25519 yet).
    Rsa { bits: usize },
    /// Ed25519 (RFC 8463): short, fast; publish it beside an RSA key, not instead of one.
    Ed25519,
}

/// A new private key, PEM-encoded.
pub fn generate(kind: KeyKind) -> Result<String, String> {
    match kind {
        KeyKind::Rsa { bits } => {
            if !(2048..=4096).contains(&bits) {
                return Err(format!(
                    "--bits {bits}: 2048 to 4096 (RFC 8301 §3.2 wants at least 1024 and recommends 2048; ring signs from 2048)"
                ));
            }
            use rsa::pkcs1::EncodeRsaPrivateKey;
            // Key generation runs once, offline: the rsa crate's timing (RUSTSEC-2023-0071)
            // concerns private-key operations an attacker can time, which signing does with
            // ring (see `key`).
            let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, bits)
                .map_err(|e| format!("RSA key generation failed: {e}"))?;
            let der = key
                .to_pkcs1_der()
                .map_err(|e| format!("RSA key encoding failed: {e}"))?;
            Ok(pem("RSA PRIVATE KEY", der.as_bytes()))
        }
        KeyKind::Ed25519 => {
            let doc =
                ring::signature::Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new())
                    .map_err(|_| "Ed25519 key generation failed".to_string())?;
            Ok(pem("PRIVATE KEY", doc.as_ref()))
        }
    }
}

/// PEM (RFC 7468 §2): base64 in lines of 64.
fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// The zone-file line publishing `key` at `selector._domainkey.domain` (RFC 6376 §3.6.1),
/// its TXT data cut into strings of at most 255 bytes (RFC 1035 §3.3.14; a DKIM key record is
/// their concatenation, RFC 6376 §3.6.2.2).
pub fn dns_record(domain: &str, selector: &str, key: &DkimKey) -> String {
    let p = base64::engine::general_purpose::STANDARD.encode(key.public_key_record());
    let text = format!("v=DKIM1; k={}; p={p}", key.kind());
    let strings: Vec<String> = text
        .as_bytes()
        .chunks(255)
        .map(|c| format!("\"{}\"", String::from_utf8_lossy(c)))
        .collect();
    let name = format!("{selector}._domainkey.{}.", domain.trim_end_matches('.'));
    if strings.len() == 1 {
        format!("{name} IN TXT {}", strings[0])
    } else {
        format!("{name} IN TXT ( {} )", strings.join(" "))
    }
}

/// Makes a key, writes it to `out` (created with mode 0600, never over an existing file), and
/// returns the DNS record to publish.
pub fn keygen(domain: &str, selector: &str, kind: KeyKind, out: &Path) -> Result<String, String> {
    crate::config::valid_smtp_domain(domain).map_err(|e| format!("domain `{domain}` {e}"))?;
    if selector.is_empty()
        || !selector
            .split('.')
            .all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
    {
        return Err(format!(
            "selector `{selector}`: letters, digits, '-' and dots only (RFC 6376 §3.1)"
        ));
    }
    let pem = generate(kind)?;
    let key = DkimKey::from_pem(pem.as_bytes())?;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts
        .open(out)
        .map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    f.write_all(pem.as_bytes())
        .and_then(|_| f.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", out.display()))?;
    Ok(dns_record(domain, selector, &key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ed25519_key_round_trips_and_its_record_is_one_string() {
        let pem = generate(KeyKind::Ed25519).unwrap();
        let key = DkimKey::from_pem(pem.as_bytes()).unwrap();
        let rec = dns_record("angiang.gov.vn", "s1", &key);
        assert!(
            rec.starts_with("s1._domainkey.angiang.gov.vn. IN TXT \"v=DKIM1; k=ed25519; p="),
            "{rec}"
        );
        assert!(generate(KeyKind::Rsa { bits: 1024 }).is_err());
    }

    #[test]
    fn bad_key_files_say_why() {
        assert!(DkimKey::from_pem(b"hello")
            .unwrap_err()
            .contains("no PEM private key"));
    }
}
