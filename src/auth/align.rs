//! Rule `forged-internal`: mail from outside that claims one of the province's own domains (in
//! From or in the envelope sender) must prove it with an SPF or DKIM pass aligned with that
//! domain; forging another's mail is forbidden (An Giang Đ5.4, Đ5.5).
//!
//! Alignment here is DMARC's relaxed alignment (RFC 9989 §4.4) with the internal domain as
//! the organisational domain: the claim and the authenticated identifier must both sit at or
//! under the same `server.internal_domains` entry. It needs no DMARC record, which a province
//! may not have published yet.

/// Whether `domain` is `parent` or one of its subdomains (both lowercase, no final dot).
pub fn under(domain: &str, parent: &str) -> bool {
    domain == parent
        || (domain.len() > parent.len()
            && domain.ends_with(parent)
            && domain.as_bytes()[domain.len() - parent.len() - 1] == b'.')
}

/// What authenticated the message, as far as alignment cares.
#[derive(Debug, Default, Clone)]
pub struct Evidence {
    /// The domain SPF passed for (the MAIL FROM domain, or HELO for the null sender).
    pub spf_pass: Option<String>,
    /// SPF could not be evaluated for a DNS failure.
    pub spf_temperror: bool,
    /// The `d=` of each DKIM signature that verified.
    pub dkim_pass: Vec<String>,
    /// A DKIM key lookup failed for a DNS failure.
    pub dkim_temperror: bool,
}

/// The verdict on an internal claim.
#[derive(Debug, PartialEq, Eq)]
pub enum Claim {
    /// No internal domain is claimed, or the claim is proven.
    Fine,
    /// `domain` is claimed and nothing aligned passed: forged.
    Forged { domain: String },
    /// `domain` is claimed, nothing aligned passed, and a DNS failure may be why.
    Unknown { domain: String },
}

/// Judges the claims (`From` domains and the envelope sender's domain) against `internal`.
pub fn judge(claims: &[String], internal: &[String], ev: &Evidence) -> Claim {
    let norm = |d: &str| d.trim_end_matches('.').to_ascii_lowercase();
    for claim in claims.iter().map(|c| norm(c)).filter(|c| !c.is_empty()) {
        let orgs: Vec<String> = internal
            .iter()
            .map(|i| norm(i))
            .filter(|i| under(&claim, i))
            .collect();
        if orgs.is_empty() {
            continue;
        }
        let aligned = |id: &str| orgs.iter().any(|o| under(&norm(id), o));
        let passed =
            ev.spf_pass.as_deref().is_some_and(aligned) || ev.dkim_pass.iter().any(|d| aligned(d));
        if passed {
            continue;
        }
        return if ev.spf_temperror || ev.dkim_temperror {
            Claim::Unknown { domain: claim }
        } else {
            Claim::Forged { domain: claim }
        };
    }
    Claim::Fine
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn an_internal_claim_needs_an_aligned_pass() {
        let internal = s(&["angiang.gov.vn"]);
        let none = Evidence::default();
        assert_eq!(judge(&s(&["gmail.com"]), &internal, &none), Claim::Fine);
        assert_eq!(
            judge(&s(&["So.AnGiang.gov.vn."]), &internal, &none),
            Claim::Forged {
                domain: "so.angiang.gov.vn".into()
            }
        );
        // Relaxed: a pass for another name under the same internal domain aligns.
        let spf = Evidence {
            spf_pass: Some("mail.angiang.gov.vn".into()),
            ..Evidence::default()
        };
        assert_eq!(
            judge(&s(&["so.angiang.gov.vn"]), &internal, &spf),
            Claim::Fine
        );
        // A pass for an outside domain does not.
        let dkim = Evidence {
            dkim_pass: vec!["notangiang.gov.vn".into()],
            ..Evidence::default()
        };
        assert!(matches!(
            judge(&s(&["angiang.gov.vn"]), &internal, &dkim),
            Claim::Forged { .. }
        ));
        let temp = Evidence {
            spf_temperror: true,
            ..Evidence::default()
        };
        assert!(matches!(
            judge(&s(&["angiang.gov.vn"]), &internal, &temp),
            Claim::Unknown { .. }
        ));
        assert!(!under("xangiang.gov.vn", "angiang.gov.vn"));
    }
}
