//! The spam rules as a check: every rule of the generation's rule set that a message matches
//! becomes a scoring symbol (`Finding::symbol`, named after the rule, with its description),
//! and the engine's score policy adds them up. See `crate::spam::rules`.
//!
//! Matching is CPU work on the async worker, kept small: each text field is cut at
//! `spam.rules.max_text` before it is normalised and matched, and each field's regexes run
//! as one `RegexSet` (a single pass over the text).

use std::io::Read;
use std::sync::Arc;

use crate::engine::{Bilingual, Check, CheckFuture, Connection, Envelope, Finding, Pending};
use crate::inspect::Content;
use crate::spam::rules::RuleSet;
use crate::spool::Spool;

/// The check of one config generation.
pub struct SpamRules {
    set: Arc<RuleSet>,
}

/// The head of the raw message, read at the data stage when a rule reads `raw`.
struct RawHead(Vec<u8>);

impl SpamRules {
    pub fn new(set: Arc<RuleSet>) -> Self {
        SpamRules { set }
    }

    /// The findings for `content` (and the raw head, when the set has raw rules).
    pub fn findings(&self, content: &Content, raw: Option<&[u8]>) -> Vec<Finding> {
        self.set
            .matches(content, raw)
            .into_iter()
            .map(|r| Finding::symbol(r.name.clone(), r.score, Bilingual::new(&r.vi, &r.en)))
            .collect()
    }
}

impl Check for SpamRules {
    fn name(&self) -> &'static str {
        "spam-rules"
    }

    fn reads_content(&self) -> bool {
        true
    }

    fn data<'a>(
        &'a self,
        _conn: &'a Connection,
        env: &'a Envelope,
        msg: &'a Spool,
    ) -> CheckFuture<'a> {
        Box::pin(async move {
            if self.set.reads_raw() {
                let mut head = Vec::new();
                if let Ok(r) = msg.reader() {
                    // A read error leaves the raw rules unmatched; the other fields still are.
                    let _ = r.take(self.set.max_text() as u64).read_to_end(&mut head);
                }
                env.state.insert(RawHead(head));
            }
            Vec::new()
        })
    }

    fn content<'a>(
        &'a self,
        _conn: &'a Connection,
        env: &'a Envelope,
        content: &'a Content,
        out: &mut Vec<Finding>,
    ) -> Pending<'a> {
        let raw = env.state.get::<RawHead>();
        out.extend(self.findings(content, raw.as_deref().map(|r| r.0.as_slice())));
        None
    }
}
