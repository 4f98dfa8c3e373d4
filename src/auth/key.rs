//! DKIM signing keys, signed with `ring` (already in the build for rustls).
//!
//! Why not mail-auth's own `rust-crypto` keys for signing: they sign RSA with the `rsa` crate,
//! whose private-key operations are not constant-time (RUSTSEC-2023-0071, the Marvin timing
//! side channel), and an outbound gateway signs messages that any internal mailbox (or a
//! compromised one) chooses, with reply times it can measure. ring's RSA is constant-time and
//! blinded, builds from the same vendored code rustls already uses (no new C toolchain, unlike
//! aws-lc-rs), and signs Ed25519 too. mail-auth still canonicalises and builds the header;
//! verification (public keys only, no secret to leak) stays on its rust-crypto backend.

use std::path::Path;

use mail_auth::crypto::{Algorithm, Sha256, SigningKey};
use mail_auth::headers::Writable;
use ring::rand::SystemRandom;
use ring::signature::{Ed25519KeyPair, KeyPair, RsaKeyPair, RSA_PKCS1_SHA256};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::PrivateKeyDer;

/// A private key that signs DKIM-Signature headers.
pub enum DkimKey {
    /// `rsa-sha256` (RFC 6376 §3.3.2).
    Rsa(RsaKeyPair),
    /// `ed25519-sha256` (RFC 8463).
    Ed25519(Ed25519KeyPair),
}

impl std::fmt::Debug for DkimKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DkimKey::Rsa(k) => write!(f, "DkimKey::Rsa({} bits)", k.public().modulus_len() * 8),
            DkimKey::Ed25519(_) => f.write_str("DkimKey::Ed25519"),
        }
    }
}

impl DkimKey {
    /// Reads a PEM key file; the error says what is wrong with it, without its contents.
    pub fn from_file(path: &Path) -> Result<DkimKey, String> {
        let pem =
            std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        DkimKey::from_pem(&pem).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Parses a PEM private key: RSA (PKCS#1 or PKCS#8, 2048 to 8192 bits) or Ed25519 (PKCS#8).
    pub fn from_pem(pem: &[u8]) -> Result<DkimKey, String> {
        let der = PrivateKeyDer::from_pem_slice(pem)
            .map_err(|e| format!("no PEM private key found ({e})"))?;
        match der {
            PrivateKeyDer::Pkcs1(der) => RsaKeyPair::from_der(der.secret_pkcs1_der())
                .map(DkimKey::Rsa)
                .map_err(|e| format!("not a usable RSA key: {e} (2048 to 8192 bits)")),
            PrivateKeyDer::Pkcs8(der) => {
                let der = der.secret_pkcs8_der();
                match RsaKeyPair::from_pkcs8(der) {
                    Ok(k) => Ok(DkimKey::Rsa(k)),
                    Err(rsa) => Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
                        .map(DkimKey::Ed25519)
                        .map_err(|_| {
                            format!("not a usable RSA (2048 to 8192 bits) or Ed25519 key: {rsa}")
                        }),
                }
            }
            _ => Err("an EC (SEC1) key: DKIM signs with RSA or Ed25519".into()),
        }
    }

    /// The public key as the `p=` of the DNS record wants it: the SubjectPublicKeyInfo of an
    /// RSA key (as OpenDKIM and the big providers publish), the raw 32 bytes of an Ed25519 key
    /// (RFC 8463 §4.2).
    pub fn public_key_record(&self) -> Vec<u8> {
        match self {
            DkimKey::Rsa(k) => spki_rsa(k.public().as_ref()),
            DkimKey::Ed25519(k) => k.public_key().as_ref().to_vec(),
        }
    }

    /// `rsa` or `ed25519`, for the `k=` tag.
    pub fn kind(&self) -> &'static str {
        match self {
            DkimKey::Rsa(_) => "rsa",
            DkimKey::Ed25519(_) => "ed25519",
        }
    }
}

/// An RSAPublicKey (PKCS#1 DER) wrapped as a SubjectPublicKeyInfo (RFC 5280 §4.1, algorithm
/// rsaEncryption with NULL parameters, RFC 3279 §2.3.1).
fn spki_rsa(pkcs1: &[u8]) -> Vec<u8> {
    use rsa::pkcs1::DecodeRsaPublicKey;
    use rsa::pkcs8::EncodePublicKey;
    rsa::RsaPublicKey::from_pkcs1_der(pkcs1)
        .ok()
        .and_then(|k| k.to_public_key_der().ok())
        .map(|d| d.as_bytes().to_vec())
        .unwrap_or_default()
}

impl SigningKey for DkimKey {
    type Hasher = Sha256;

    fn sign(&self, input: impl Writable) -> mail_auth::Result<Vec<u8>> {
        let mut data = Vec::with_capacity(1024);
        input.write(&mut data);
        let failed = |what: &str| {
            mail_auth::Error::Crypto(mail_auth::crypto::CryptoError::Library(what.to_string()))
        };
        match self {
            DkimKey::Rsa(k) => {
                let mut sig = vec![0u8; k.public().modulus_len()];
                k.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), &data, &mut sig)
                    .map_err(|_| failed("RSA signing failed"))?;
                Ok(sig)
            }
            // RFC 8463 §3: Ed25519 signs the SHA-256 hash of the data, not the data.
            DkimKey::Ed25519(k) => {
                let hash = ring::digest::digest(&ring::digest::SHA256, &data);
                Ok(k.sign(hash.as_ref()).as_ref().to_vec())
            }
        }
    }

    fn algorithm(&self) -> Algorithm {
        match self {
            DkimKey::Rsa(_) => Algorithm::RsaSha256,
            DkimKey::Ed25519(_) => Algorithm::Ed25519Sha256,
        }
    }
}
