//! The classifier's data in the state store: one tally per feature, the class totals, and a
//! marker per learnt message.
//!
//! Key layout (under the store's `t:` tally namespace and, with Redis, `redis.prefix`):
//!   `b{hash:016x}`   a feature: the spam and the ham messages that held it
//!   `bn`             the totals: spam and ham messages learnt
//!   `bm{id:032x}`    a learnt message (see [`message_id`]): which class it was learnt as
//!
//! Both counts of a key live in one signed 64-bit tally, spam × 2³² + ham, so a feature is
//! one key (half the keys, memory and MGET of a pair of keys) and learning one message is an
//! atomic `INCRBY` per feature. Counts stay below 2³¹ (a province learns thousands of
//! messages, not billions); they are only ever decreased by the amount learnt, checked
//! against the stored counts first, so the ham half never borrows from the spam half.

use std::collections::HashMap;
use std::time::Duration;

use xxhash_rust::xxh3::Xxh3;

use crate::state::{StateError, Store};

const TOTALS: &str = "bn";
/// The largest count a half of the totals holds.
const HALF_MAX: u64 = (1 << 31) - 1;

/// Spam or ham.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    Spam,
    Ham,
}

impl Class {
    /// What one message of this class adds to a tally.
    fn unit(self) -> i64 {
        match self {
            Class::Spam => 1 << 32,
            Class::Ham => 1,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Class::Spam => "spam",
            Class::Ham => "ham",
        }
    }
}

/// Messages learnt per class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub spam: u64,
    pub ham: u64,
}

/// What learning one message did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Counted for the first time.
    Learnt,
    /// Already learnt as this class: nothing counted again.
    Already,
    /// Learnt before as the other class: moved to this one.
    Relearnt,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Learnt => "learnt",
            Outcome::Already => "learnt before",
            Outcome::Relearnt => "moved from the other class",
        }
    }
}

/// One message to learn: its class, identity and features.
#[derive(Debug, Clone)]
pub struct Sample {
    pub class: Class,
    pub id: u128,
    pub features: Vec<u64>,
}

/// The classifier's view of the state store.
#[derive(Clone, Debug)]
pub struct Db {
    store: Store,
    ttl: Duration,
}

fn unpack(v: i64) -> (u64, u64) {
    if v <= 0 {
        return (0, 0);
    }
    let v = v as u64;
    (v >> 32, v & 0xffff_ffff)
}

fn feature_key(h: u64) -> String {
    format!("b{h:016x}")
}

fn marker_key(id: u128) -> String {
    format!("bm{id:032x}")
}

/// A message's identity for "learnt already": its Message-ID and its features, so the same
/// message learnt from two mailboxes (with other Received and X-Spam fields) is one message,
/// and two spams that reuse a Message-ID are two.
pub fn message_id(message_id_header: Option<&str>, features: &[u64]) -> u128 {
    let mut h = Xxh3::new();
    h.update(message_id_header.unwrap_or("").trim().as_bytes());
    h.update(&[0]);
    let mut sorted = features.to_vec();
    sorted.sort_unstable();
    for f in sorted {
        h.update(&f.to_le_bytes());
    }
    h.digest128()
}

impl Db {
    /// The store, and how long a feature lives after it was last learnt.
    pub fn new(store: Store, ttl: Duration) -> Db {
        Db { store, ttl }
    }

    /// The totals and each feature's `(spam, ham)` counts, in one round trip.
    pub async fn lookup(&self, features: &[u64]) -> Result<(Totals, Vec<(u64, u64)>), StateError> {
        let mut keys = Vec::with_capacity(features.len() + 1);
        keys.push(TOTALS.to_string());
        keys.extend(features.iter().map(|&h| feature_key(h)));
        let tallies = self.store.tallies(&keys).await?;
        let (spam, ham) = unpack(tallies.first().copied().unwrap_or(0));
        let counts = tallies.iter().skip(1).map(|&v| unpack(v)).collect();
        Ok((Totals { spam, ham }, counts))
    }

    /// Releases the store (the embedded file, for another process); see `Store::close`.
    pub async fn close(&self) {
        self.store.close().await
    }

    /// The totals alone.
    pub async fn totals(&self) -> Result<Totals, StateError> {
        Ok(self.lookup(&[]).await?.0)
    }

    /// Learns a batch of messages, one outcome each, in order: one read of their markers,
    /// one batched update (and, only for messages learnt before as the other class, one
    /// read of their features' counts first, so unlearning never goes below zero). The same
    /// message twice in a batch is learnt once.
    pub async fn learn(&self, batch: &[Sample]) -> Result<Vec<Outcome>, StateError> {
        let mut keys = vec![TOTALS.to_string()];
        keys.extend(batch.iter().map(|s| marker_key(s.id)));
        let read = self.store.tallies(&keys).await?;
        let (before_totals, before) = read.split_first().unwrap_or((&0, &[]));
        let (cur_spam, cur_ham) = unpack(*before_totals);
        let mut outcomes = Vec::with_capacity(batch.len());
        let mut taken: HashMap<u128, Class> = HashMap::new();
        let mut plan: Vec<(&Sample, Option<Class>)> = Vec::new();
        for (s, &marker) in batch.iter().zip(before) {
            let was = match unpack(marker) {
                (0, 0) => None,
                (spam, _) if spam > 0 => Some(Class::Spam),
                _ => Some(Class::Ham),
            };
            let was = taken.get(&s.id).copied().or(was);
            if was == Some(s.class) {
                outcomes.push(Outcome::Already);
                continue;
            }
            taken.insert(s.id, s.class);
            outcomes.push(if was.is_some() {
                Outcome::Relearnt
            } else {
                Outcome::Learnt
            });
            plan.push((s, was));
        }
        // Current counts of the features of messages to unlearn.
        let unlearn: Vec<u64> = plan
            .iter()
            .filter(|(_, was)| was.is_some())
            .flat_map(|(s, _)| s.features.iter().copied())
            .collect();
        let mut current: HashMap<u64, (u64, u64)> = HashMap::new();
        if !unlearn.is_empty() {
            let keys: Vec<String> = unlearn.iter().map(|&h| feature_key(h)).collect();
            for (h, v) in unlearn.iter().zip(self.store.tallies(&keys).await?) {
                current.insert(*h, unpack(v));
            }
        }
        let mut deltas: HashMap<String, i64> = HashMap::new();
        let (mut spam, mut ham) = (cur_spam as i64, cur_ham as i64);
        for (s, was) in &plan {
            for &h in &s.features {
                let mut d = s.class.unit();
                if let Some(old) = was {
                    let c = current.entry(h).or_default();
                    let have = match old {
                        Class::Spam => &mut c.0,
                        Class::Ham => &mut c.1,
                    };
                    if *have > 0 {
                        *have -= 1;
                        d -= old.unit();
                    }
                }
                *deltas.entry(feature_key(h)).or_default() += d;
            }
            for (class, step) in [(Some(s.class), 1), (*was, -1)] {
                match class {
                    Some(Class::Spam) => spam += step,
                    Some(Class::Ham) => ham += step,
                    None => {}
                }
            }
            *deltas.entry(marker_key(s.id)).or_default() +=
                s.class.unit() - was.map_or(0, Class::unit);
        }
        if plan.is_empty() {
            return Ok(outcomes);
        }
        // A total goes below zero only if it aged out while a message's marker did not; it
        // then restarts from what is learnt now, never borrowing from the other half.
        let new = Totals {
            spam: spam.max(0) as u64,
            ham: ham.max(0) as u64,
        };
        let old = Totals {
            spam: cur_spam,
            ham: cur_ham,
        };
        deltas.insert(TOTALS.to_string(), pack(new) - pack(old));
        let mut deltas: Vec<(String, i64)> = deltas.into_iter().filter(|(_, d)| *d != 0).collect();
        // In key order, so the embedded store's B-tree updates walk neighbouring pages.
        deltas.sort_unstable();
        self.store.add_tallies(&deltas, self.ttl).await?;
        Ok(outcomes)
    }
}

fn pack(t: Totals) -> i64 {
    ((t.spam.min(HALF_MAX) << 32) | t.ham.min(HALF_MAX)) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_counts_share_one_tally() {
        let v = 3 * Class::Spam.unit() + 7 * Class::Ham.unit();
        assert_eq!(unpack(v), (3, 7));
        assert_eq!(unpack(v - Class::Ham.unit() * 7), (3, 0));
        assert_eq!(unpack(-5), (0, 0));
        assert_eq!(pack(Totals { spam: 3, ham: 7 }), v);
    }

    #[test]
    fn identity_ignores_feature_order_but_not_the_message_id() {
        let a = message_id(Some("<a@x>"), &[1, 2, 3]);
        assert_eq!(a, message_id(Some(" <a@x> "), &[3, 2, 1]));
        assert_ne!(a, message_id(Some("<b@x>"), &[1, 2, 3]));
        assert_ne!(a, message_id(Some("<a@x>"), &[1, 2]));
    }
}
