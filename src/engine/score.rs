//! Scores to actions: the sum of a message's scoring symbols (see [`Finding::symbol`]) against
//! the thresholds of its direction becomes one `spam` finding. Every symbol source (rules,
//! Bayes, blocklists, SPF/DKIM/DMARC results, a delegated rspamd or spamd) only adds weight;
//! nothing but this decides on the sum, so a rule file can never refuse mail by itself.

use serde::Serialize;

use super::{rule, Action, Bilingual, Direction, Finding, Verdict};

/// The scores at which a message is tagged, held or refused; `None` turns a step off.
/// Ascending: `tag` ≤ `quarantine` ≤ `reject` (checked when the config loads).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Thresholds {
    pub tag: Option<f64>,
    pub quarantine: Option<f64>,
    pub reject: Option<f64>,
}

impl Thresholds {
    /// The action for `score`.
    pub fn action(&self, score: f64) -> Action {
        let at = |t: Option<f64>| t.is_some_and(|t| score >= t);
        if at(self.reject) {
            Action::Reject
        } else if at(self.quarantine) {
            Action::Quarantine
        } else if at(self.tag) {
            Action::Tag
        } else {
            Action::Accept
        }
    }
}

/// The per-direction thresholds of a config generation (`[spam.inbound]`, `[spam.outbound]`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScorePolicy {
    pub inbound: Thresholds,
    pub outbound: Thresholds,
    /// Put before the Subject of a tagged message (`[spam] subject_prefix`), when not empty.
    pub subject_prefix: String,
    /// Which delivered messages carry the X-Spam headers.
    pub headers: crate::config::spam::SpamHeaders,
}

/// What the scoring made of one message, for its headers, its log line and `scan`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scored {
    pub score: f64,
    pub direction: Direction,
    pub thresholds: Thresholds,
    pub action: Action,
}

impl Scored {
    /// Whether the message counts as spam (tagged or worse).
    pub fn is_spam(&self) -> bool {
        self.action != Action::Accept
    }
}

impl ScorePolicy {
    /// Sums the verdict's symbols and adds the `spam` finding when a threshold is reached.
    pub fn judge(&self, direction: Direction, verdict: &mut Verdict) {
        let thresholds = match direction {
            Direction::Inbound => self.inbound,
            Direction::Outbound => self.outbound,
        };
        // Rounded as shown in the headers, so that the header and the decision agree.
        let score = (verdict.score() * 100.0).round() / 100.0 + 0.0; // never "-0.0"
        let action = thresholds.action(score);
        if action != Action::Accept {
            let limit = match action {
                Action::Reject => thresholds.reject,
                Action::Quarantine => thresholds.quarantine,
                _ => thresholds.tag,
            }
            .unwrap_or_default();
            let top = top_symbols(verdict, 3);
            verdict.findings.push(
                Finding::new(
                    rule::SPAM,
                    action,
                    Bilingual::new(
                        format!("Thư rác: điểm {score:.1} ≥ {limit:.1} ({top})"),
                        format!("Spam: score {score:.1} >= {limit:.1} ({top})"),
                    ),
                )
                .with_code(550, "5.7.1"),
            );
        }
        verdict.scored = Some(Scored {
            score,
            direction,
            thresholds,
            action,
        });
    }
}

/// The names of the `n` symbols that weigh most, for a refusal a sender can act on.
fn top_symbols(verdict: &Verdict, n: usize) -> String {
    let mut symbols: Vec<&Finding> = verdict
        .symbols()
        .filter(|f| f.score.unwrap_or(0.0) > 0.0)
        .collect();
    symbols.sort_by(|a, b| {
        b.score
            .partial_cmp(&a.score)
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    symbols
        .iter()
        .take(n)
        .map(|f| f.rule.as_ref())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> ScorePolicy {
        ScorePolicy {
            inbound: Thresholds {
                tag: Some(5.0),
                quarantine: None,
                reject: Some(10.0),
            },
            outbound: Thresholds {
                tag: Some(4.0),
                quarantine: Some(6.0),
                reject: Some(8.0),
            },
            subject_prefix: String::new(),
            headers: crate::config::spam::SpamHeaders::Scored,
        }
    }

    fn sym(rule: &'static str, score: f64) -> Finding {
        Finding::symbol(rule, score, Bilingual::new("x", "x"))
    }

    #[test]
    fn the_sum_of_the_symbols_meets_the_thresholds_of_the_direction() {
        let findings = vec![
            sym("LOTTERY", 4.0),
            sym("BAYES_99", 3.5),
            sym("DKIM_PASS", -0.5),
        ];
        let mut v = Verdict::new(findings.clone());
        policy().judge(Direction::Inbound, &mut v);
        assert_eq!(v.scored.as_ref().unwrap().score, 7.0);
        assert_eq!(v.action(), Action::Tag);
        assert_eq!(v.rules(), vec![rule::SPAM]);
        let text = &v.decisive().unwrap().text.en;
        assert!(text.contains("LOTTERY, BAYES_99"), "{text}");
        let mut v = Verdict::new(findings);
        policy().judge(Direction::Outbound, &mut v);
        assert_eq!(v.action(), Action::Quarantine);
    }

    #[test]
    fn a_rule_scores_once_and_symbols_alone_decide_nothing() {
        let mut v = Verdict::new(vec![sym("LOTTERY", 4.0), sym("LOTTERY", 4.0)]);
        assert_eq!(v.action(), Action::Accept);
        assert!(v.decisive().is_none() && v.rules().is_empty());
        policy().judge(Direction::Inbound, &mut v);
        assert_eq!(v.scored.as_ref().unwrap().score, 4.0);
        assert_eq!(v.action(), Action::Accept);
    }
}
