//! The Bayesian classifier (issue 10): token counts learnt from spam and ham, combined into
//! the probability that a new message is spam, reported as one `BAYES_*` symbol.
//!
//! **Features** ([`features`]): the unigrams of `spam::tokenize` (Vietnamese syllables as
//! written and, when they carry diacritics, folded; header and URL tokens) plus OSB-style
//! pairs (rspamd's "orthogonal sparse bigrams": a token with each of the next tokens in a
//! window, the distance part of the pair). Vietnamese words are mostly two syllables or more
//! (`vay tiền`, `nhà cái`, `hóa đơn điện tử`), so a syllable alone says little and the pairs
//! are what recover the words and their order. rspamd's window is five; measured here, a
//! window of two (adjacent pairs) classifies as well as three with half the keys
//! (`features::WINDOW`). Each feature is a 64-bit XXH3 hash: small keys, the same on every
//! node and every build.
//!
//! **Combining** ([`classify`]): SpamAssassin's, not rspamd's. Each feature's spam
//! probability is Gary Robinson's f(w) = (s·x + n·p(w)) / (s + n), with p(w) from the
//! per-class frequencies, s = 1 and x = 0.5, so a feature seen once barely moves a message;
//! then the features with |f(w) − 0.5| ≥ 0.1, the 150 strongest, are combined with Fisher's
//! chi-square method (Robinson's H and S, I = (1 + H − S) / 2). Chi-square combining is the
//! one SpamAssassin and SpamBayes settled on after years of corpus tests: unlike a naive
//! Bayes product it says "unsure" (near 0.5) when the evidence conflicts instead of jumping
//! to 0 or 1, which is what keeps the false positives low. rspamd's OSB features plus its
//! own inverse chi-square combining gives similar results; taking both its features and the
//! well-studied combining is the choice here.
//!
//! **Counts and aging** ([`db`]): one tally per feature in the state store holding both
//! class counts, read for a message in one multi-get, written for a batch of learnt
//! messages in one batched update. Each learn refreshes the TTL of the features it touches
//! (`spam.bayes.token_ttl`, 180 days by default): a feature unseen in learning for that long
//! expires. That is rspamd's scheme (its Redis tokens expire), chosen over SpamAssassin's
//! periodic expiry by access time because it needs no scan of the whole store (Redis shared
//! by several nodes has no cheap way to scan), costs nothing at classification time, and
//! forgets the vocabulary of last year's campaigns while the words of everyday official mail,
//! learnt again and again, stay.

pub mod classify;
pub mod db;
pub mod features;
pub mod learn;
pub mod mailbox;

pub use classify::{band, probability, Band, BANDS};
pub use db::{Class, Db, Totals};
pub use features::features;
