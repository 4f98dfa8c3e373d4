//! `[spam]`: anti-spam settings. GTUBE (`crate::checks::gtube`), and the thresholds that turn a
//! message's score (the sum of its scoring symbols) into an action, per direction
//! (`crate::engine::ScorePolicy`). The symbol sources (rules, Bayes, blocklists,
//! authentication, delegation) have their own sub-tables.

use serde::{Deserialize, Serialize};

use crate::engine::{Action, ScorePolicy, Thresholds};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpamConfig {
    /// Score messages at all; off, no symbol counts and no X-Spam headers are added.
    pub enabled: bool,
    /// The action for a message carrying the GTUBE test pattern, in any text part and any
    /// transfer encoding: the standard way to check that spam is refused end to end.
    pub gtube_action: Action,
    /// Which delivered messages carry the X-Spam headers.
    pub headers: SpamHeaders,
    /// Put before the Subject of a message tagged as spam (e.g. `"[SPAM] "`); empty: none.
    pub subject_prefix: String,
    /// Mail from the Internet to the province.
    pub inbound: SpamThresholds,
    /// Mail the province sends (internal senders, outbound and submission listeners):
    /// stricter, since the province's reputation at Gmail and Yahoo is at stake
    /// (An Giang Đ10.1g: spam sent from the system is blocked too).
    pub outbound: SpamThresholds,
    /// The window in which outbound spam is counted per internal sender (in the state store).
    pub outbound_count_window: crate::config::Span,
    /// Ask rspamd or spamd too, and add their score (off by default).
    pub delegate: super::spam_delegate::DelegateConfig,
    /// DNS blocklists for the client address (`[spam.dnsbl]`).
    pub dnsbl: super::spam_lists::DnsblConfig,
    /// URI blocklists for the domains the message links to (`[spam.uribl]`).
    pub uribl: super::spam_lists::UriblConfig,
    /// SPF, DKIM, DMARC and ARC (`[spam.auth]`).
    pub auth: super::spam_auth::AuthConfig,
    /// `[spam.rules]`: the rule engine and its files.
    pub rules: super::spam_rules::SpamRulesConfig,
    /// The Bayesian classifier (`[spam.bayes]`).
    pub bayes: super::spam_bayes::BayesConfig,
}

/// Which delivered messages carry X-Spam-Score, X-Spam-Status, X-Spam-Symbols, X-Spam-Report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SpamHeaders {
    /// Every scored message (SpamAssassin's habit).
    Always,
    /// Messages some symbol matched: one nothing matched passes byte for byte.
    Scored,
    /// Only messages tagged as spam.
    Spam,
}

/// Scores at which a message is tagged, held in quarantine or refused; leave one out (or set
/// it to `"off"`) to skip that step.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SpamThresholds {
    #[serde(with = "optional_score")]
    pub tag: Option<f64>,
    #[serde(with = "optional_score")]
    pub quarantine: Option<f64>,
    #[serde(with = "optional_score")]
    pub reject: Option<f64>,
}

impl Default for SpamThresholds {
    fn default() -> Self {
        SpamThresholds {
            tag: Some(5.0),
            quarantine: None,
            reject: Some(10.0),
        }
    }
}

impl Default for SpamConfig {
    fn default() -> Self {
        SpamConfig {
            enabled: true,
            gtube_action: Action::Reject,
            headers: SpamHeaders::Scored,
            subject_prefix: String::new(),
            inbound: SpamThresholds::default(),
            outbound: SpamThresholds {
                tag: Some(4.0),
                quarantine: None,
                reject: Some(8.0),
            },
            outbound_count_window: crate::config::Span(std::time::Duration::from_secs(3600)),
            delegate: Default::default(),
            dnsbl: Default::default(),
            uribl: Default::default(),
            auth: Default::default(),
            rules: Default::default(),
            bayes: Default::default(),
        }
    }
}

impl SpamConfig {
    /// The engine's scoring policy, when scoring is on.
    pub fn score_policy(&self) -> Option<ScorePolicy> {
        let t = |s: &SpamThresholds| Thresholds {
            tag: s.tag,
            quarantine: s.quarantine,
            reject: s.reject,
        };
        self.enabled.then(|| ScorePolicy {
            inbound: t(&self.inbound),
            outbound: t(&self.outbound),
            subject_prefix: self.subject_prefix.clone(),
            headers: self.headers,
        })
    }

    /// Problems, each naming its key: thresholds must be finite and ascending.
    pub fn validate(&self) -> Vec<String> {
        let mut errors = Vec::new();
        for (dir, t) in [("inbound", &self.inbound), ("outbound", &self.outbound)] {
            let steps = [
                ("tag", t.tag),
                ("quarantine", t.quarantine),
                ("reject", t.reject),
            ];
            let mut last: Option<(&str, f64)> = None;
            for (name, v) in steps {
                let Some(v) = v else { continue };
                if !v.is_finite() {
                    errors.push(format!("spam.{dir}.{name} must be a number"));
                    continue;
                }
                if let Some((prev, p)) = last {
                    if v < p {
                        errors.push(format!(
                            "spam.{dir}.{name} = {v} is below spam.{dir}.{prev} = {p}: thresholds go tag ≤ quarantine ≤ reject"
                        ));
                    }
                }
                last = Some((name, v));
            }
        }
        errors.extend(self.delegate.validate());
        errors.extend(self.bayes.validate());
        if self.subject_prefix.contains(['\r', '\n']) {
            errors.push("spam.subject_prefix must be one line".into());
        }
        errors.extend(self.auth.validate());
        errors
    }
}

/// A score, or `"off"` for none (TOML has no null).
mod optional_score {
    use serde::{Deserialize, Deserializer, Serializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Number(f64),
        Int(i64),
        Word(String),
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
        match Raw::deserialize(d)? {
            Raw::Number(n) => Ok(Some(n)),
            Raw::Int(n) => Ok(Some(n as f64)),
            Raw::Word(w) if w == "off" => Ok(None),
            Raw::Word(w) => Err(serde::de::Error::custom(format!(
                "`{w}` is not a score: use a number such as 6.5, or \"off\""
            ))),
        }
    }

    pub fn serialize<S: Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(n) => s.serialize_f64(*n),
            None => s.serialize_str("off"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_read_off_and_must_ascend() {
        let c: SpamConfig = toml::from_str(
            "[inbound]\ntag = 6\nreject = \"off\"\n[outbound]\ntag = 9\nreject = 3.5\n",
        )
        .unwrap();
        assert_eq!(c.inbound.tag, Some(6.0));
        assert_eq!(c.inbound.reject, None);
        let errors = c.validate();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].starts_with("spam.outbound.reject = 3.5 is below spam.outbound.tag"));
        let bad = toml::from_str::<SpamConfig>("[inbound]\ntag = \"high\"\n").unwrap_err();
        assert!(bad.to_string().contains("not a score"), "{bad}");
    }
}
