//! `relay-denied`: a client that is not an internal sender may only send to the province's own
//! domains. This holds even if the upstream Postfix is misconfigured as an open relay.

use crate::engine::{domain_of, rule, Action, Bilingual, Check, Connection, Envelope, Finding};

/// Refuses recipients outside `internal_domains` from clients outside `trusted_networks`.
pub struct Relay {
    /// Lowercased; a leading dot matches subdomains too.
    pub internal_domains: Vec<String>,
}

impl Relay {
    pub fn new(domains: &[String]) -> Self {
        Relay {
            internal_domains: domains
                .iter()
                .map(|d| d.trim_end_matches('.').to_ascii_lowercase())
                .collect(),
        }
    }

    /// True when mail to `rcpt` stays inside the province.
    pub fn is_internal(&self, rcpt: &str) -> bool {
        // RFC 5321 4.5.1: <postmaster> with no domain is this server's postmaster.
        if !rcpt.contains('@') {
            return true;
        }
        let domain = domain_of(rcpt);
        self.internal_domains
            .iter()
            .any(|d| match d.strip_prefix('.') {
                Some(parent) => domain == parent || domain.ends_with(d.as_str()),
                None => domain == *d,
            })
    }
}

impl Check for Relay {
    fn name(&self) -> &'static str {
        "relay"
    }

    fn rcpt(&self, conn: &Connection, _env: &Envelope, rcpt: &str, out: &mut Vec<Finding>) {
        if !conn.is_internal_sender() && !self.is_internal(rcpt) {
            out.push(
                Finding::new(
                    rule::RELAY_DENIED,
                    Action::Reject,
                    Bilingual::new("Không cho phép chuyển tiếp thư", "Relay access denied"),
                )
                .with_code(554, "5.7.1"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_domains_match_exactly_or_by_dotted_parent() {
        let r = Relay::new(&["angiang.gov.vn".into(), ".daknong.gov.vn".into()]);
        assert!(r.is_internal("a@AnGiang.gov.vn"));
        assert!(!r.is_internal("a@sub.angiang.gov.vn"));
        assert!(!r.is_internal("a@evilangiang.gov.vn"));
        assert!(r.is_internal("a@daknong.gov.vn") && r.is_internal("a@so.daknong.gov.vn"));
        assert!(!r.is_internal("a@xdaknong.gov.vn"));
        assert!(r.is_internal("postmaster"));
        assert!(!r.is_internal("a@gmail.com"));
    }
}
