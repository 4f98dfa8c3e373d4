//! The Bayesian classifier as a check (`crate::spam::bayes`): one `BAYES_*` symbol per
//! message, from one state-store read of its features' counts.
//!
//! The classifier is one opinion among the scores: when the store is down or slow, the
//! message gets no BAYES symbol and the log a warning (with the store's error), never a
//! tempfail of all mail for want of a statistic. No symbol rather than a zero-score marker:
//! the message is then scored exactly as with the classifier off, which is what it is.

use std::sync::Arc;

use tracing::warn;

use crate::config::spam_bayes::BayesConfig;
use crate::engine::{Bilingual, Check, Connection, Envelope, Finding, Pending, Verdict};
use crate::inspect::Content;
use crate::spam::bayes::{self, learn, Class, Db, BANDS};
use crate::state::Store;

pub struct Bayes {
    db: Db,
    cfg: BayesConfig,
}

/// A message's sample, kept from `content` to `finished` for autolearning.
#[derive(Clone)]
struct Kept(bayes::db::Sample);

impl Bayes {
    pub fn new(store: Store, cfg: &BayesConfig) -> Bayes {
        Bayes {
            db: Db::new(store, cfg.token_ttl.get()),
            cfg: cfg.clone(),
        }
    }

    /// The symbol for a message with these features, or none while too little is learnt or
    /// no feature is known.
    pub async fn classify(&self, features: &[u64]) -> Option<Finding> {
        let (totals, counts) = match self.db.lookup(features).await {
            Ok(r) => r,
            Err(e) => {
                warn!(error = %e, "bayes: token lookup failed; message not classified");
                return None;
            }
        };
        if totals.spam < self.cfg.min_spam || totals.ham < self.cfg.min_ham {
            return None;
        }
        let p = bayes::probability(&counts, totals.spam, totals.ham, self.cfg.max_tokens)?;
        let i = bayes::band(p);
        let score = self.cfg.scores.in_order()[i];
        Some(Finding::symbol(
            BANDS[i].symbol,
            score,
            Bilingual::new(
                format!("Xác suất thư rác theo Bayes: {:.1}%", p * 100.0),
                format!("Bayes spam probability {:.1}%", p * 100.0),
            ),
        ))
    }
}

impl Check for Bayes {
    fn name(&self) -> &'static str {
        "bayes"
    }

    fn reads_content(&self) -> bool {
        true
    }

    fn content<'a>(
        &'a self,
        _conn: &'a Connection,
        env: &'a Envelope,
        content: &'a Content,
        _out: &mut Vec<Finding>,
    ) -> Pending<'a> {
        // Tokenising is a few tens of microseconds for ordinary mail, bounded by max_features.
        let sample = learn::sample_of(content, Class::Ham, self.cfg.max_features);
        let features = sample.features.clone();
        if self.cfg.autolearn.enabled {
            env.state.insert(Kept(sample));
        }
        Some(Box::pin(async move {
            self.classify(&features).await.into_iter().collect()
        }))
    }

    fn finished(&self, _conn: &Connection, env: &Envelope, verdict: &Verdict, _delivered: bool) {
        let a = &self.cfg.autolearn;
        if !a.enabled || verdict.scored.is_none() {
            return;
        }
        let Some(kept) = env.state.get::<Kept>() else {
            return;
        };
        // Judged without Bayes' own symbol, or it would confirm itself.
        let own: f64 = verdict
            .symbols()
            .filter(|f| f.rule.starts_with("BAYES_"))
            .filter_map(|f| f.score)
            .sum();
        let score = verdict.score() - own;
        let class = if score >= a.spam_score {
            Class::Spam
        } else if score <= a.ham_score {
            Class::Ham
        } else {
            return;
        };
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let db = self.db.clone();
        let mut sample = Arc::unwrap_or_clone(kept).0;
        sample.class = class;
        rt.spawn(async move {
            if let Err(e) = db.learn(&[sample]).await {
                warn!(error = %e, class = class.as_str(), "bayes: autolearn failed");
            }
        });
    }
}
