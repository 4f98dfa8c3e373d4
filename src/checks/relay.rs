//! `relay-denied`: a client that is not an internal sender may only send to the province's own
//! domains. This holds even if the upstream Postfix is misconfigured as an open relay.

use crate::engine::{
    domain_of, rule, Action, Bilingual, Check, Connection, Envelope, Finding, Pending,
};

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

    /// True when the local part routes the mail onwards: `user%host@`, `host!user@`,
    /// `user@host@` or a quoted `"user@host"@` (RFC 5321 3.6.1 and 4.5.1 keep source routing
    /// out of SMTP; Postfix's `allow_untrusted_routing = no`). A Postfix that rewrites the
    /// percent hack or bang paths (`allow_percent_hack`, `swap_bangpath`, Debian's defaults)
    /// would otherwise relay `user%gmail.com@province` to gmail.com after our domain check.
    pub fn is_routed(rcpt: &str) -> bool {
        match rcpt.rsplit_once('@') {
            Some((local, _)) => local.contains(['%', '!', '@']),
            None => false,
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

    fn rcpt<'a>(
        &'a self,
        conn: &'a Connection,
        _env: &'a Envelope,
        rcpt: &'a str,
        out: &mut Vec<Finding>,
    ) -> Pending<'a> {
        if conn.is_internal_sender() {
            return None;
        }
        if Self::is_routed(rcpt) {
            out.push(
                Finding::new(
                    rule::RELAY_DENIED,
                    Action::Reject,
                    Bilingual::new(
                        "Không cho phép định tuyến qua địa chỉ người nhận",
                        "Relay access denied: routed recipient addresses are not accepted",
                    ),
                )
                .with_code(554, "5.7.1"),
            );
        } else if !self.is_internal(rcpt) {
            out.push(
                Finding::new(
                    rule::RELAY_DENIED,
                    Action::Reject,
                    Bilingual::new("Không cho phép chuyển tiếp thư", "Relay access denied"),
                )
                .with_code(554, "5.7.1"),
            );
        }
        None
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

    #[test]
    fn routed_local_parts_are_seen_in_every_spelling() {
        for routed in [
            "user%gmail.com@laichau.gov.vn",
            "\"user@gmail.com\"@laichau.gov.vn",
            "user@gmail.com@laichau.gov.vn",
            "gmail.com!user@laichau.gov.vn",
            "user@gmail.com\\@laichau.gov.vn",
            "\"user%gmail.com\"@laichau.gov.vn",
        ] {
            assert!(Relay::is_routed(routed), "{routed}");
        }
        for plain in [
            "a.b-c+d@laichau.gov.vn",
            "postmaster",
            "\"a b\"@laichau.gov.vn",
        ] {
            assert!(!Relay::is_routed(plain), "{plain}");
        }
    }
}
