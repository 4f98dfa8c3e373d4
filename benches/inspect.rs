//! Inspection throughput on a mixed corpus of mail without archives, next to mail-parser's bare
//! parse of the same bytes. Absolute MB/s on shared machines are noise; the ratio is the figure
//! (target: inspection ≥ 0.5 × bare parse).
//!
//! Then the same corpus through the engine (issue 9, "parse once"): with the inspection check
//! alone, with a second check that reads the content model too, and with a second check that
//! parses the message itself. The second reader must cost about nothing (ratio near 1.0); the
//! second parse shows what it would cost otherwise.
//!
//! `cargo bench --bench inspect` (add `-- --quick` for a short run).

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

#[path = "../tests/support/mod.rs"]
mod support;

use support::*;

/// Deterministic pseudo-random bytes (xorshift), so the corpus is the same on every run.
fn noise(n: usize, mut seed: u64) -> Vec<u8> {
    let mut v = Vec::with_capacity(n + 8);
    while v.len() < n {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        v.extend_from_slice(&seed.to_le_bytes());
    }
    v.truncate(n);
    v
}

fn corpus() -> Vec<Vec<u8>> {
    let para = "Kính gửi các phòng ban, Sở Thông tin và Truyền thông đề nghị báo cáo tình hình \
        ứng dụng công nghệ thông tin quý III trước ngày 15/10. Trân trọng.\n";
    let mut big_pdf = pdf();
    big_pdf.extend_from_slice(&noise(2_000_000, 1));
    let mut photo = jpeg();
    photo.truncate(photo.len() - 2);
    photo.extend_from_slice(&noise(800_000, 2));
    let html = format!(
        "From: a@soctrang.gov.vn\r\nTo: b@soctrang.gov.vn\r\nSubject: Thong bao\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/alternative; boundary=alt\r\n\r\n--alt\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{}\r\n\
--alt\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><body>{}</body></html>\r\n--alt--\r\n",
        para.repeat(60),
        format!("<p>{para}</p>").repeat(60)
    );
    let forwarded_inner = message(
        "Báo cáo gốc",
        vec![
            text(&para.repeat(5)),
            attachment("so-lieu.pdf", &noise(200_000, 3)),
        ],
    );
    let mut many = vec![text(para)];
    for i in 0..40 {
        many.push(attachment(
            &format!("phu-luc-{i}.pdf"),
            &noise(10_000, 10 + i),
        ));
    }
    vec![
        message("Thông báo", vec![text(&para.repeat(20))]),
        html.into_bytes(),
        message(
            "Tài liệu",
            vec![text(para), attachment("Báo cáo quý 3.pdf", &big_pdf)],
        ),
        message("Ảnh", vec![text(para), attachment("hoi-nghi.jpg", &photo)]),
        message(
            "Fwd: Báo cáo gốc",
            vec![
                text("Chuyển tiếp.\n"),
                rfc822(Some("goc.eml"), &forwarded_inner),
            ],
        ),
        message("Phụ lục", many),
    ]
}

fn bare_parse(corpus: &[Vec<u8>]) -> usize {
    let parser = mail_parser::MessageParser::new();
    let mut n = 0;
    for m in corpus {
        if let Some(msg) = parser.parse(m) {
            n += msg.parts().len();
        }
    }
    n
}

/// Parse, then transfer-decode every leaf body: what mail-parser 0.11's `parse` did eagerly,
/// and the least any content filter does.
fn parse_and_decode(corpus: &[Vec<u8>]) -> usize {
    let parser = mail_parser::MessageParser::new();
    let mut n = 0;
    for m in corpus {
        if let Some(msg) = parser.parse(m) {
            for p in msg.parts() {
                if !p.is_multipart() && !p.is_message() {
                    n += p.decoded().len();
                }
            }
        }
    }
    n
}

fn inspect_all(i: &locthu::checks::inspect::Inspector, corpus: &[Vec<u8>]) -> usize {
    corpus.iter().map(|m| i.inspect(m).len()).sum()
}

/// A second check that reads the shared content model (as a spam or link check would).
struct SecondReader;

impl locthu::engine::Check for SecondReader {
    fn name(&self) -> &'static str {
        "second-reader"
    }
    fn reads_content(&self) -> bool {
        true
    }
    fn content<'a>(
        &'a self,
        _conn: &'a locthu::engine::Connection,
        _env: &'a locthu::engine::Envelope,
        content: &'a locthu::inspect::Content,
        _out: &mut Vec<locthu::engine::Finding>,
    ) -> locthu::engine::Pending<'a> {
        let chars: usize = content.texts.iter().map(|t| t.text.len()).sum();
        black_box((chars, content.urls.len(), content.report.parts.len()));
        None
    }
}

/// A second check that parses the message on its own: what "parse once" saves.
struct SecondParser(locthu::inspect::Limits);

impl locthu::engine::Check for SecondParser {
    fn name(&self) -> &'static str {
        "second-parser"
    }
    fn data<'a>(
        &'a self,
        _conn: &'a locthu::engine::Connection,
        _env: &'a locthu::engine::Envelope,
        msg: &'a locthu::spool::Spool,
    ) -> locthu::engine::CheckFuture<'a> {
        Box::pin(async move {
            let bytes = msg.bytes().unwrap();
            black_box(locthu::inspect::analyse(&bytes, &self.0).texts.len());
            Vec::new()
        })
    }
}

fn engine_with(extra: Option<std::sync::Arc<dyn locthu::engine::Check>>) -> locthu::engine::Engine {
    let cfg = locthu::checks::inspect::InspectConfig::default();
    let base = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let inspector = locthu::checks::inspect::Inspector::new(&cfg, &base).unwrap();
    let limits = inspector.limits().clone();
    let mut checks = vec![locthu::checks::inspect::build_from(inspector, None)];
    checks.extend(extra);
    locthu::engine::Engine::new(checks, Default::default()).with_content_limits(limits)
}

fn engine_pass(
    rt: &tokio::runtime::Runtime,
    e: &locthu::engine::Engine,
    spools: &[locthu::spool::Spool],
) -> usize {
    let conn = locthu::engine::Connection {
        id: 0,
        listener: "bench".into(),
        role: locthu::engine::Role::Inbound,
        client: locthu::engine::Client {
            addr: "192.0.2.1:25".parse().unwrap(),
            name: None,
            helo: None,
            login: None,
            trusted: false,
            addr_unavailable: false,
        },
        tls: false,
    };
    let env = locthu::engine::Envelope::default();
    rt.block_on(async {
        let mut n = 0;
        for s in spools {
            n += e.data(&conn, &env, s).await.findings.len();
        }
        n
    })
}

fn bench(c: &mut Criterion) {
    let corpus = corpus();
    let bytes: usize = corpus.iter().map(Vec::len).sum();
    let insp = inspector();
    assert_eq!(inspect_all(&insp, &corpus), 0, "the corpus is clean");

    let mut g = c.benchmark_group("mixed-corpus");
    g.throughput(Throughput::Bytes(bytes as u64));
    g.bench_function("mail-parser bare parse", |b| {
        b.iter(|| bare_parse(black_box(&corpus)))
    });
    g.bench_function("mail-parser parse + decode", |b| {
        b.iter(|| parse_and_decode(black_box(&corpus)))
    });
    g.bench_function("locthu inspection", |b| {
        b.iter(|| inspect_all(&insp, black_box(&corpus)))
    });
    g.finish();

    // The ratio, measured side by side in one run.
    let time = |f: &dyn Fn() -> usize| {
        let start = Instant::now();
        let mut runs = 0u32;
        while start.elapsed() < Duration::from_secs(2) || runs < 5 {
            black_box(f());
            runs += 1;
        }
        start.elapsed() / runs
    };
    let parse = time(&|| bare_parse(&corpus));
    let decode = time(&|| parse_and_decode(&corpus));
    let inspect = time(&|| inspect_all(&insp, &corpus));
    let mbps = |d: Duration| bytes as f64 / 1e6 / d.as_secs_f64();
    println!(
        "\ncorpus {:.1} MB in {} messages: bare parse {:.0} MB/s, parse+decode {:.0} MB/s, \
         inspection {:.0} MB/s\nratio inspection/bare parse {:.2}, inspection/parse+decode {:.2}\n",
        bytes as f64 / 1e6,
        corpus.len(),
        mbps(parse),
        mbps(decode),
        mbps(inspect),
        parse.as_secs_f64() / inspect.as_secs_f64(),
        decode.as_secs_f64() / inspect.as_secs_f64()
    );
}

/// The engine with one and two readers of the content, timed side by side in one run.
fn engine_bench(_c: &mut Criterion) {
    let corpus = corpus();
    let spools: Vec<_> = corpus
        .iter()
        .map(|m| locthu::spool::Spool::from_bytes(m.clone()))
        .collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let limits = locthu::inspect::Limits::default();
    let one = engine_with(None);
    let two = engine_with(Some(std::sync::Arc::new(SecondReader)));
    let reparse = engine_with(Some(std::sync::Arc::new(SecondParser(limits))));
    // Under `cargo test` (no --bench) one pass each checks that it runs, nothing is timed.
    let timed = std::env::args().any(|a| a == "--bench");
    let span = if timed {
        Duration::from_secs(2)
    } else {
        Duration::ZERO
    };
    let time = |e: &locthu::engine::Engine| {
        let start = Instant::now();
        let mut runs = 0u32;
        while start.elapsed() < span || runs < if timed { 5 } else { 1 } {
            black_box(engine_pass(&rt, e, &spools));
            runs += 1;
        }
        start.elapsed() / runs
    };
    // Interleaved, so that machine noise hits all three alike.
    let (mut t1, mut t2, mut t3) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    for _ in 0..3 {
        t1 += time(&one);
        t2 += time(&two);
        t3 += time(&reparse);
    }
    println!(
        "engine over the corpus: one content reader {:?}, two readers {:?}, a reader that parses again {:?}\n\
         ratio two readers/one {:.2} (parse once), second parse/one {:.2}\n",
        t1 / 3,
        t2 / 3,
        t3 / 3,
        t2.as_secs_f64() / t1.as_secs_f64(),
        t3.as_secs_f64() / t1.as_secs_f64()
    );
}

criterion_group!(benches, bench, engine_bench);
criterion_main!(benches);
