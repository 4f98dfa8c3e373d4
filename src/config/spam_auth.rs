//! `[spam.auth]`: SPF, DKIM, DMARC and ARC verification of mail from outside
//! (`crate::auth::verify`), the scores of their symbols, what a failed DMARC policy does, and
//! rule `forged-internal`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::Span;
use crate::engine::Action;

/// Verification settings. Off by default: it queries DNS for every inbound message, so it is
/// turned on where `[dns]` names the resolver to use.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    pub enabled: bool,
    /// Check SPF at MAIL FROM (the HELO identity for the null sender), RFC 7208.
    pub spf: bool,
    /// Verify DKIM signatures, RFC 6376.
    pub dkim: bool,
    /// Verify the ARC chain, RFC 8617 (historic, scored only).
    pub arc: bool,
    /// Evaluate DMARC (RFC 9989) from the SPF and DKIM results.
    pub dmarc: bool,
    /// What a DMARC failure does when the domain asks `p=reject`: `reject` (550 5.7.1, rule
    /// `dmarc`), `quarantine`, `tag`, or `accept` (its symbol's score only).
    pub dmarc_reject: Action,
    /// The same for `p=quarantine`.
    pub dmarc_quarantine: Action,
    /// When DMARC cannot be evaluated for a DNS failure (temperror): `accept` (score only) or
    /// `tempfail` (451, the sender retries). Never `reject`: an outage is no proof of forgery.
    pub dmarc_temperror: Action,
    /// Mail from outside claiming an internal From or envelope domain without an aligned SPF
    /// or DKIM pass (An Giang Đ5.4, Đ5.5): `reject` by default, whatever the score.
    pub forged_internal: Action,
    /// The same when the missing pass may be a DNS failure: `tempfail` or `accept`.
    pub forged_internal_temperror: Action,
    /// Longest SPF may take at MAIL FROM, and DKIM, ARC and DMARC each at the end of DATA;
    /// past it the method's result is `temperror` (a hostile record of ten dead includes
    /// must not hold the session until the stage deadline).
    pub deadline: Span,
    /// DKIM signatures verified per message, the topmost first (each may cost a DNS lookup);
    /// the others are ignored, as OpenDKIM's MaximumSignaturesToVerify.
    pub max_signatures: usize,
    /// DNS answers kept per record type (TXT, A, AAAA, MX, PTR), each for its TTL.
    pub cache_entries: usize,
    /// Scores of the symbols (`SPF_FAIL = 2.0`); the others keep their defaults.
    pub scores: BTreeMap<String, f64>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            enabled: false,
            spf: true,
            dkim: true,
            arc: true,
            dmarc: true,
            dmarc_reject: Action::Reject,
            dmarc_quarantine: Action::Quarantine,
            dmarc_temperror: Action::Accept,
            forged_internal: Action::Reject,
            forged_internal_temperror: Action::Tempfail,
            deadline: Span::secs(8),
            max_signatures: 5,
            cache_entries: 10_000,
            scores: BTreeMap::new(),
        }
    }
}

impl AuthConfig {
    /// Problems, each naming its key.
    pub fn validate(&self) -> Vec<String> {
        let mut errors = Vec::new();
        for (key, action) in [
            ("dmarc_temperror", self.dmarc_temperror),
            ("forged_internal_temperror", self.forged_internal_temperror),
        ] {
            if !matches!(action, Action::Accept | Action::Tempfail) {
                errors.push(format!(
                    "spam.auth.{key} = \"{action}\": a DNS failure is no proof of forgery; use \"tempfail\" or \"accept\""
                ));
            }
        }
        for (name, score) in &self.scores {
            if !crate::auth::symbols::known(name) {
                errors.push(format!(
                    "spam.auth.scores.{name}: no such symbol (known: {})",
                    crate::auth::symbols::names().join(", ")
                ));
            } else if !score.is_finite() {
                errors.push(format!("spam.auth.scores.{name} must be a number"));
            }
        }
        if self.deadline.get().is_zero() {
            errors.push("spam.auth.deadline must be above zero".into());
        }
        if !(1..=50).contains(&self.max_signatures) {
            errors.push("spam.auth.max_signatures: 1 to 50".into());
        }
        if self.cache_entries > 1_000_000 {
            errors.push("spam.auth.cache_entries: at most 1000000".into());
        }
        errors
    }

    /// The score of `symbol`: the configured one, else its default.
    pub fn score(&self, symbol: &str) -> f64 {
        self.scores
            .get(symbol)
            .copied()
            .unwrap_or_else(|| crate::auth::symbols::default_score(symbol))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dns_failure_may_not_reject_and_symbols_must_exist() {
        let c: AuthConfig = toml::from_str(
            "enabled = true\ndmarc_temperror = \"reject\"\n[scores]\nSPF_FAIL = 2.5\nSPF_FAILED = 1\n",
        )
        .unwrap();
        let errors = c.validate();
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[0].starts_with("spam.auth.dmarc_temperror"));
        assert!(errors[1].starts_with("spam.auth.scores.SPF_FAILED: no such symbol"));
        assert_eq!(c.score("SPF_FAIL"), 2.5);
        assert!(AuthConfig::default().validate().is_empty());
    }
}
