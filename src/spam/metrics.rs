//! Anti-spam metrics, registered into the process registry on first use (so the families of
//! the spam checks live beside them, not in one growing struct).
//!
//! Symbol names come from rule files an admin edits, so the `symbol` label is bounded here:
//! the first [`MAX_SYMBOLS`] distinct names get their own series, later ones count as `other`
//! (a rule set of thousands must not make thousands of series per node).

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts};

use crate::engine::{Direction, Verdict};
use crate::metrics::metrics;

/// Distinct symbol names with a series of their own.
pub const MAX_SYMBOLS: usize = 500;

pub struct SpamMetrics {
    /// Messages scored, by direction and the action the score led to.
    pub scored: IntCounterVec,
    /// The scores, by direction.
    pub score: HistogramVec,
    /// Symbol hits, by symbol (bounded, see [`MAX_SYMBOLS`]).
    pub symbols: IntCounterVec,
    named: Mutex<HashSet<String>>,
}

/// From clearly ham to far past any reject threshold.
const SCORE_BUCKETS: &[f64] = &[
    -10.0, -5.0, -2.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 12.0, 15.0, 20.0, 30.0,
];

impl SpamMetrics {
    fn new() -> Self {
        let m = SpamMetrics {
            scored: IntCounterVec::new(
                Opts::new(
                    "locthu_spam_scored_total",
                    "Messages scored, by direction and the action the score led to",
                ),
                &["direction", "action"],
            )
            .expect("metric"),
            score: HistogramVec::new(
                HistogramOpts::new("locthu_spam_score", "Spam scores of messages")
                    .buckets(SCORE_BUCKETS.to_vec()),
                &["direction"],
            )
            .expect("metric"),
            symbols: IntCounterVec::new(
                Opts::new(
                    "locthu_spam_symbol_hits_total",
                    "Scoring symbols that matched (the first 500 names; later ones are `other`)",
                ),
                &["symbol"],
            )
            .expect("metric"),
            named: Mutex::new(HashSet::new()),
        };
        let registry = &metrics().registry;
        for c in [
            Box::new(m.scored.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(m.score.clone()),
            Box::new(m.symbols.clone()),
        ] {
            registry.register(c).expect("unique metric names");
        }
        m
    }

    /// The label for a symbol: its name while the bound allows, else `other`.
    fn label<'a>(&self, symbol: &'a str) -> &'a str {
        let mut named = self.named.lock().unwrap_or_else(|p| p.into_inner());
        if named.contains(symbol) {
            return symbol;
        }
        if named.len() < MAX_SYMBOLS {
            named.insert(symbol.to_string());
            return symbol;
        }
        "other"
    }

    /// Counts a scored message.
    pub fn observe(&self, verdict: &Verdict) {
        let Some(scored) = &verdict.scored else {
            return;
        };
        let direction = match scored.direction {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
        };
        self.scored
            .with_label_values(&[direction, scored.action.as_str()])
            .inc();
        self.score
            .with_label_values(&[direction])
            .observe(scored.score);
        for s in verdict.symbols() {
            self.symbols.with_label_values(&[self.label(&s.rule)]).inc();
        }
    }
}

/// The process-wide anti-spam metrics.
pub fn spam_metrics() -> &'static SpamMetrics {
    static METRICS: OnceLock<SpamMetrics> = OnceLock::new();
    METRICS.get_or_init(SpamMetrics::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbol_labels_are_bounded() {
        let m = spam_metrics();
        let mut others = 0;
        for i in 0..MAX_SYMBOLS + 10 {
            let name = format!("RULE_{i}");
            let label = m.label(&name).to_string();
            assert!(label == name || label == "other", "{label}");
            others += usize::from(label == "other");
        }
        assert!(others >= 10);
        assert_eq!(m.label("NEVER_SEEN_BEFORE_X"), "other");
    }
}
