//! A message's features: unigram and OSB-pair hashes of its tokens (see the module docs of
//! `spam::bayes`).

use std::collections::HashSet;

use xxhash_rust::xxh3::{xxh3_64, xxh3_64_with_seed};

use crate::inspect::Content;
use crate::spam::tokenize;

/// Pairs are a token with each of the next `WINDOW - 1` tokens. Two (adjacent pairs only):
/// on the SpamAssassin corpus split of issue 10, a window of three gave the same F1 (0.980
/// vs 0.981 at BAYES_60) and false-positive rate with twice the keys (144 MB of redb for
/// 3,045 messages against 71 MB) and twice the classification time.
pub const WINDOW: usize = 2;

/// The distinct feature hashes of a message, headers first, at most `max`.
pub fn features(content: &Content, max: usize) -> Vec<u64> {
    of_tokens(&tokenize::tokens(content), max)
}

/// The distinct features of a token stream as `tokenize::tokens` gives it: a folded copy
/// (`~tien`, `subject:~tien`) follows the word it folds; `prefix:` tokens come from a header
/// field or a link. Pairs are made within a run of tokens of one prefix, over the words as
/// written and, where any word of the pair had diacritics, over the folded words too; links
/// give unigrams only (two hosts side by side are no phrase).
pub fn of_tokens(tokens: &[String], max: usize) -> Vec<u64> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    let mut push = |h: u64, out: &mut Vec<u64>| {
        if out.len() < max && seen.insert(h) {
            out.push(h);
        }
    };
    // The current run: its prefix, its words as written, and folded (None: same as written).
    let mut prefix: Option<&str> = None;
    let mut written: Vec<&str> = Vec::new();
    let mut folded: Vec<Option<&str>> = Vec::new();
    for t in tokens {
        if out.len() >= max {
            break;
        }
        push(xxh3_64(t.as_bytes()), &mut out);
        let (p, word) = match t.split_once(':') {
            Some((p, w)) => (Some(p), w),
            None => (None, t.as_str()),
        };
        if p == Some("url") {
            continue;
        }
        if p != prefix {
            pairs(&written, &folded, &mut out, &mut push);
            written.clear();
            folded.clear();
            prefix = p;
        }
        match word.strip_prefix('~') {
            Some(f) if !written.is_empty() => {
                if let Some(last) = folded.last_mut() {
                    *last = Some(f);
                }
            }
            _ => {
                written.push(word);
                folded.push(None);
            }
        }
    }
    pairs(&written, &folded, &mut out, &mut push);
    out
}

fn pairs(
    written: &[&str],
    folded: &[Option<&str>],
    out: &mut Vec<u64>,
    push: &mut impl FnMut(u64, &mut Vec<u64>),
) {
    for i in 0..written.len() {
        for d in 1..WINDOW {
            let Some(j) = i.checked_sub(d) else { break };
            push(pair(written[j], written[i], d, false), out);
            if folded[j].is_some() || folded[i].is_some() {
                let a = folded[j].unwrap_or(written[j]);
                let b = folded[i].unwrap_or(written[i]);
                push(pair(a, b, d, true), out);
            }
        }
    }
}

/// A pair's hash: the distance (and whether the words are folded) seeds it, so `a b`,
/// `a _ b` and the folded `a b` are three features, none equal to a unigram's hash.
fn pair(a: &str, b: &str, distance: usize, folded: bool) -> u64 {
    let mut bytes = Vec::with_capacity(a.len() + b.len() + 1);
    bytes.extend_from_slice(a.as_bytes());
    bytes.push(0);
    bytes.extend_from_slice(b.as_bytes());
    xxh3_64_with_seed(&bytes, (distance as u64) << 1 | u64::from(folded))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &[&str]) -> Vec<String> {
        s.iter().map(|t| t.to_string()).collect()
    }

    #[test]
    fn pairs_follow_the_words_and_their_folded_forms() {
        let f = of_tokens(&toks(&["vay", "tiền", "~tien", "nhanh"]), 100);
        // 3 unigrams and a folded one, 2 adjacent pairs as written, and folded pairs for the
        // two that include `tiền`.
        assert_eq!(f.len(), 4 + 2 + 2, "{f:?}");
        assert!(f.contains(&pair("vay", "tiền", 1, false)));
        assert!(f.contains(&pair("vay", "tien", 1, true)));
        assert!(f.contains(&pair("tiền", "nhanh", 1, false)));
        assert!(f.contains(&pair("tien", "nhanh", 1, true)));
        assert!(!f.contains(&pair("vay", "nhanh", 2, false)));
        // The folded pair is not the pair of words written without diacritics.
        assert_ne!(pair("vay", "tien", 1, true), pair("vay", "tien", 1, false));
    }

    #[test]
    fn runs_do_not_pair_across_fields_or_links_and_the_cap_holds() {
        let f = of_tokens(
            &toks(&["subject:vay", "url:a.example", "url:b.example", "nhanh"]),
            100,
        );
        assert_eq!(f.len(), 4, "no pairs: {f:?}");
        let many: Vec<String> = (0..500).map(|i| format!("w{i}")).collect();
        assert_eq!(of_tokens(&many, 300).len(), 300);
        // Repeated words give each feature once.
        assert_eq!(of_tokens(&toks(&["ab", "ab", "ab", "ab"]), 100).len(), 2);
    }
}
