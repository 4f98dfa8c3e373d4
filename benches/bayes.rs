//! The Bayesian classifier's cost per message (issue 10), on the embedded store after learning
//! 400 spam and 400 ham synthetic messages of ~300 words each: tokens and features from the
//! content model (parsed once by the engine, not counted here), then the one state-store read
//! and the chi-square combining.
//!
//! `cargo bench --bench bayes` (add `-- --quick` for a short run).

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use locthu::config::State;
use locthu::inspect::{self, Content, Limits};
use locthu::spam::bayes::{self, learn, Class, Db};
use locthu::state::Store;

const MAX_FEATURES: usize = 3000;

/// Deterministic words: Vietnamese-looking syllables, some with diacritics.
fn vocabulary(n: usize) -> Vec<String> {
    let onsets = [
        "b", "c", "d", "đ", "g", "h", "kh", "l", "m", "n", "ng", "nh", "ph", "qu", "s", "t", "th",
        "tr", "v", "x",
    ];
    let vowels = [
        "a", "á", "à", "ả", "ã", "ạ", "ă", "â", "e", "ê", "ế", "i", "o", "ô", "ơ", "ớ", "u", "ư",
        "ữ", "y",
    ];
    let codas = ["", "c", "ch", "m", "n", "ng", "nh", "p", "t", "i", "o", "u"];
    (0..n)
        .map(|i| {
            format!(
                "{}{}{}",
                onsets[i % onsets.len()],
                vowels[(i / onsets.len()) % vowels.len()],
                codas[(i / (onsets.len() * vowels.len())) % codas.len()]
            )
        })
        .collect()
}

fn xorshift(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

/// A message of ~300 words: most from the class's own third of the vocabulary.
fn message(vocab: &[String], spam: bool, i: usize) -> Vec<u8> {
    let mut seed = 0x9e37_79b9_7f4a_7c15 ^ (i as u64 * 2 + spam as u64 + 1);
    let third = vocab.len() / 3;
    let own = if spam { 0 } else { third };
    let mut body = String::new();
    for w in 0..300 {
        let r = xorshift(&mut seed) as usize;
        let word = if r % 10 < 7 {
            &vocab[own + r / 10 % third]
        } else {
            &vocab[2 * third + r / 10 % third]
        };
        body.push_str(word);
        body.push(if w % 12 == 11 { '\n' } else { ' ' });
    }
    format!(
        "From: <a{i}@example.org>\r\nSubject: {} {} {}\r\nMessage-ID: <{i}.{spam}@bench>\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n",
        vocab[own + i % third],
        vocab[own + (i * 7) % third],
        vocab[2 * third + i % third]
    )
    .into_bytes()
}

fn bench(c: &mut Criterion) {
    let vocab = vocabulary(3000);
    let limits = Limits::default();
    let dir = tempfile::tempdir().unwrap();
    let mut state = State::default();
    state.embedded.path = dir.path().join("bayes.redb");
    state.embedded.timeout = locthu::config::Span(Duration::from_secs(60));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let db = Db::new(
        Store::open(&state).unwrap(),
        Duration::from_secs(86400 * 30),
    );
    let samples: Vec<_> = (0..800)
        .map(|i| {
            let spam = i % 2 == 0;
            let class = if spam { Class::Spam } else { Class::Ham };
            learn::sample(&message(&vocab, spam, i), class, &limits, MAX_FEATURES)
        })
        .collect();
    for batch in samples.chunks(64) {
        rt.block_on(db.learn(batch)).unwrap();
    }
    let fresh: Vec<Content> = (10_000..10_016)
        .map(|i| inspect::analyse(&message(&vocab, i % 2 == 0, i), &limits))
        .collect();
    let mut n = 0;
    let mut g = c.benchmark_group("bayes");
    g.bench_function("features", |b| {
        b.iter(|| {
            n = (n + 1) % fresh.len();
            black_box(bayes::features(&fresh[n], MAX_FEATURES))
        })
    });
    let features: Vec<Vec<u64>> = fresh
        .iter()
        .map(|c| bayes::features(c, MAX_FEATURES))
        .collect();
    g.bench_function("lookup_and_combine", |b| {
        b.iter(|| {
            n = (n + 1) % features.len();
            let (t, counts) = rt.block_on(db.lookup(&features[n])).unwrap();
            black_box(bayes::probability(&counts, t.spam, t.ham, 150))
        })
    });
    g.bench_function("classify", |b| {
        b.iter(|| {
            n = (n + 1) % fresh.len();
            let f = bayes::features(&fresh[n], MAX_FEATURES);
            let (t, counts) = rt.block_on(db.lookup(&f)).unwrap();
            black_box(bayes::probability(&counts, t.spam, t.ham, 150))
        })
    });
    g.finish();
    // The classifier must tell the two classes apart, or the figures measure nothing.
    for (i, f) in features.iter().enumerate() {
        let (t, counts) = rt.block_on(db.lookup(f)).unwrap();
        let p = bayes::probability(&counts, t.spam, t.ham, 150).unwrap();
        assert_eq!(p > 0.5, i % 2 == 0, "message {i}: p = {p}");
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
