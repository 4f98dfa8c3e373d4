//! Issue 10: the cost of the spam rules per message. The starter rule set (as shipped in
//! `filters/`) matched against messages already parsed into the content model, so the figure
//! is the rules' own share: normalising each field, one `RegexSet` pass per field, the metas.
//!
//! `cargo bench --bench spam_rules`

use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use locthu::config::spam_rules::SpamRulesConfig;
use locthu::inspect::{analyse, Limits};

fn bench(c: &mut Criterion) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let cfg = SpamRulesConfig {
        dir: root.join("filters").display().to_string(),
        ..SpamRulesConfig::default()
    };
    let (set, _) = locthu::spam::rules::load(&cfg, root).expect("the shipped rules compile");
    let mut g = c.benchmark_group("spam_rules");
    let mut messages: Vec<(String, Vec<u8>)> = [
        "spam-lode-utf8.eml",
        "ham-congvan-vay-b64.eml",
        "spam-hoadon-b64.eml",
    ]
    .iter()
    .map(|f| {
        (
            f.to_string(),
            std::fs::read(root.join("tests/spam").join(f)).unwrap(),
        )
    })
    .collect();
    // A long newsletter: 200 KB of ordinary HTML text with links, close to `max_text`.
    let mut big = String::from(
        "From: <news@example.org>\r\nTo: <a@angiang.gov.vn>\r\nSubject: Bản tin tuần\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><body>",
    );
    while big.len() < 200_000 {
        big.push_str("<p>Kính gửi quý bạn đọc, bản tin tuần này điểm lại các hoạt động của tỉnh, <a href=\"https://angiang.gov.vn/tin\">xem thêm</a>.</p>\r\n");
    }
    big.push_str("</body></html>\r\n");
    messages.push(("newsletter-200k.eml".into(), big.into_bytes()));
    for (name, raw) in &messages {
        let content = analyse(raw, &Limits::default());
        g.throughput(Throughput::Bytes(raw.len() as u64));
        g.bench_function(name.as_str(), |b| {
            b.iter(|| std::hint::black_box(set.matches(&content, Some(raw))).len())
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
