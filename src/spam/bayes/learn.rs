//! Learning: messages parsed into samples (in parallel, off the async workers) and written in
//! batches, one batched update per batch.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::db::{message_id, Class, Db, Outcome, Sample};
use super::{features, mailbox};
use crate::config::spam_bayes::BayesConfig;
use crate::config::Config;
use crate::inspect::{self, Limits};
use crate::state::{StateError, Store};

/// Features (summed over messages) per batched update. Big: redb copies every page a write
/// transaction touches, and hashed keys spread over the whole table, so each commit rewrites
/// most of it; a learning run of 2,400 messages in batches of 64 spent 85% of its time there.
/// Within [`crate::state::MAX_BATCH`] and the store's (raised) call timeout.
const BATCH_FEATURES: usize = 400_000;
/// Messages parsed in parallel at a time.
const PARSE_CHUNK: usize = 128;
/// The shortest call timeout of a learning run (see [`open`]).
const OFFLINE_TIMEOUT: Duration = Duration::from_secs(60);

/// The classifier's data in the store `[state]` names, relative paths taken from `base`.
/// The embedded store takes one process at a time: learning while `locthu serve` holds it
/// fails with the store's "cannot open" error (use the Redis backend to learn live).
/// A learning batch writes tens of thousands of tallies, so the store's call timeouts (set
/// for the gateway's per-message calls) are raised to [`OFFLINE_TIMEOUT`] here.
pub fn open(cfg: &Config, base: &Path) -> Result<Db, String> {
    let mut state = cfg.state.clone();
    for t in [
        &mut state.embedded.timeout,
        &mut state.redis.response_timeout,
    ] {
        t.0 = t.0.max(OFFLINE_TIMEOUT);
    }
    let store = Store::open_in(&state, base).map_err(|e| format!("[state] {e}"))?;
    Ok(Db::new(store, cfg.spam.bayes.token_ttl.get()))
}

/// The sample of one raw message.
pub fn sample(raw: &[u8], class: Class, limits: &Limits, max_features: usize) -> Sample {
    sample_of(&inspect::analyse(raw, limits), class, max_features)
}

/// The sample of an already parsed message (the check has the content model at hand).
pub fn sample_of(content: &inspect::Content, class: Class, max_features: usize) -> Sample {
    let features = features(content, max_features);
    Sample {
        class,
        id: message_id(content.header("message-id"), &features),
        features,
    }
}

/// What a learning run did.
#[derive(Debug, Default, Clone)]
pub struct Report {
    pub learnt_spam: usize,
    pub learnt_ham: usize,
    /// Learnt before as the same class: not counted again.
    pub already: usize,
    /// Learnt before as the other class: moved.
    pub relearnt: usize,
    /// Entries that could not be read, as `path: why`.
    pub skipped: Vec<String>,
    pub elapsed: Duration,
}

impl Report {
    fn add(&mut self, class: Class, outcome: Outcome) {
        match outcome {
            Outcome::Already => self.already += 1,
            Outcome::Relearnt => self.relearnt += 1,
            Outcome::Learnt => match class {
                Class::Spam => self.learnt_spam += 1,
                Class::Ham => self.learnt_ham += 1,
            },
        }
    }

    /// Messages read.
    pub fn messages(&self) -> usize {
        self.learnt_spam + self.learnt_ham + self.already + self.relearnt
    }
}

/// Learns every message under `spam` and `ham` (files, maildirs, mbox files, directories).
/// A path that does not exist is an error before anything is learnt; an unreadable entry is
/// skipped and reported.
pub async fn learn_paths(
    db: &Db,
    cfg: &BayesConfig,
    limits: &Limits,
    spam: &[PathBuf],
    ham: &[PathBuf],
) -> Result<Report, String> {
    let start = Instant::now();
    let mut report = Report::default();
    let mut work: Vec<(Class, mailbox::Message)> = Vec::new();
    for (class, paths) in [(Class::Spam, spam), (Class::Ham, ham)] {
        for p in paths {
            let msgs = mailbox::read(p, &mut report.skipped)?;
            work.extend(msgs.into_iter().map(|m| (class, m)));
        }
    }
    let mut pending: Vec<Sample> = Vec::new();
    let mut pending_features = 0;
    let chunks = work.chunks(PARSE_CHUNK);
    let last = chunks.len();
    for (i, chunk) in chunks.enumerate() {
        for s in parse_parallel(chunk, limits, cfg.max_features, &mut report.skipped) {
            pending_features += s.features.len();
            pending.push(s);
        }
        if pending_features >= BATCH_FEATURES || i + 1 == last {
            let outcomes = db
                .learn(&pending)
                .await
                .map_err(|e: StateError| format!("learning stopped: {e}"))?;
            for (s, o) in pending.iter().zip(outcomes) {
                report.add(s.class, o);
            }
            pending.clear();
            pending_features = 0;
        }
    }
    report.elapsed = start.elapsed();
    Ok(report)
}

/// Parses on every core: the parse, not the store, is most of a learning run's time.
fn parse_parallel(
    work: &[(Class, mailbox::Message)],
    limits: &Limits,
    max_features: usize,
    skipped: &mut Vec<String>,
) -> Vec<Sample> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 8);
    let per = work.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = work
            .chunks(per)
            .map(|part| {
                s.spawn(move || {
                    part.iter()
                        .map(|(c, m)| sample(&m.raw, *c, limits, max_features))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut out = Vec::with_capacity(work.len());
        for (h, part) in handles.into_iter().zip(work.chunks(per)) {
            match h.join() {
                Ok(samples) => out.extend(samples),
                // The parse never panics by contract; if it did, say which messages were lost.
                Err(_) => skipped.extend(
                    part.iter()
                        .map(|(_, m)| format!("{}: internal error while parsing", m.origin)),
                ),
            }
        }
        out
    })
}
