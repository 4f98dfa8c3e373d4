//! Sizes on decoded bytes, hostile structure (deep nesting, many parts, truncation), and the
//! check as the engine drives it (off the runtime, never panicking).

mod support;

use std::time::{Duration, Instant};

use locthu::checks::inspect::{build, InspectConfig};
use locthu::config::ByteSize;
use locthu::engine::{rule, Action, Client, Connection, Envelope, Role};
use locthu::spool::Spool;
use support::*;

fn cap(per: u64, total: u64) -> InspectConfig {
    let mut cfg = InspectConfig::default();
    cfg.attachment_size.per_attachment = ByteSize(per);
    cfg.attachment_size.total = ByteSize(total);
    cfg
}

#[test]
fn base64_growth_does_not_count() {
    // 10 MB decoded is 13.7 MB on the wire; a 10 MB cap must let it through.
    let data = vec![0xa5u8; 10_000_000];
    let msg = with_attachment("du-lieu.bin", &data);
    assert!(msg.len() > 13_000_000);
    let i = inspector_with(cap(10_000_000, 10_000_000));
    assert_clean(&i.inspect(&msg));
}

#[test]
fn one_byte_over_the_cap_is_rejected_with_552() {
    let data = vec![0xa5u8; 10_000_001];
    let i = inspector_with(cap(10_000_000, 0));
    let f = i.inspect(&with_attachment("du-lieu.bin", &data));
    assert_finding(
        &f,
        rule::ATTACHMENT_SIZE,
        Action::Reject,
        Some("du-lieu.bin"),
    );
    let r = f[0].reply().one_line();
    assert!(
        r.starts_with("552 5.3.4 Tệp đính kèm vượt quá 10 MB / Attachment exceeds 10 MB"),
        "{r}"
    );
}

#[test]
fn total_of_attachments_per_message() {
    // An Giang Đ9.3b: 10 MB per message; two 6 MB files pass one by one, not together.
    let six = vec![1u8; 6_000_000];
    let msg = message(
        "hai tệp",
        vec![
            text("x\n"),
            attachment("a.bin", &six),
            attachment("b.bin", &six),
        ],
    );
    let f = inspector_with(cap(0, 10_000_000)).inspect(&msg);
    assert_eq!(f.len(), 1, "{}", describe(&f));
    assert_eq!(f[0].rule, rule::ATTACHMENT_SIZE);
    assert_eq!(f[0].part, None);
    assert!(f[0].text.vi.contains("Tổng dung lượng") && f[0].text.en.contains("together"));
    assert_eq!(f[0].reply().code, 552);
}

#[test]
fn body_text_is_not_an_attachment() {
    let body = "Nội dung dài. ".repeat(2000);
    let f = inspector_with(cap(1000, 1000)).inspect(&message("dài", vec![text(&body)]));
    assert_clean(&f);
}

#[test]
fn thousand_level_nesting_is_bounded() {
    let mut m = String::from("From: a@b\r\nSubject: deep\r\nMIME-Version: 1.0\r\n");
    for i in 0..1000 {
        m.push_str(&format!(
            "Content-Type: multipart/mixed; boundary=\"b{i}\"\r\n\r\n--b{i}\r\n"
        ));
    }
    m.push_str("Content-Type: application/octet-stream; name=\"x.exe\"\r\n\r\nMZ\r\n");
    for i in (0..1000).rev() {
        m.push_str(&format!("--b{i}--\r\n"));
    }
    let t = Instant::now();
    let f = inspector().inspect(m.as_bytes());
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "took {:?}",
        t.elapsed()
    );
    assert!(
        f.iter()
            .any(|x| x.rule == rule::UNSCANNABLE && x.action == Action::Quarantine),
        "{}",
        describe(&f)
    );
}

#[test]
fn thousand_parts_are_bounded_and_all_seen() {
    let mut parts = vec![text("nhiều phần\n")];
    for i in 0..999 {
        parts.push(attachment(&format!("tep-{i}.txt"), b"noi dung"));
    }
    parts.push(attachment("cuoi-cung.exe", b"x"));
    let msg = message("1000 parts", parts);
    let t = Instant::now();
    let f = inspector().inspect(&msg);
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "took {:?}",
        t.elapsed()
    );
    assert_finding(&f, rule::EXECUTABLE, Action::Reject, Some("cuoi-cung.exe"));
}

#[test]
fn too_many_parts_is_unscannable() {
    let cfg = InspectConfig {
        max_mime_parts: 50,
        ..InspectConfig::default()
    };
    let parts = (0..100)
        .map(|i| attachment(&format!("t{i}.txt"), b"x"))
        .collect();
    let f = inspector_with(cfg).inspect(&message("many", parts));
    assert!(
        f.iter().any(|x| x.rule == rule::UNSCANNABLE),
        "{}",
        describe(&f)
    );
}

#[test]
fn truncated_and_garbled_messages_never_panic() {
    let tnef = locthu::inspect::tnef::build(&[("a.exe", &pe())]);
    let msg = message(
        "hỏng",
        vec![
            text(&format!(
                "x\n{}",
                locthu::inspect::uu::encode("u.exe", &pe())
            )),
            attachment("winmail.dat", &tnef),
            attachment("d.doc", &doc_with_macros()),
            attachment("m.docm", &docm()),
        ],
    );
    let i = inspector();
    let t = Instant::now();
    for cut in (0..msg.len()).step_by(97) {
        let _ = i.inspect(&msg[..cut]);
    }
    // Flip bytes too.
    let mut m = msg.clone();
    for k in (0..m.len()).step_by(53) {
        m[k] ^= 0x5a;
        let _ = i.inspect(&m);
    }
    assert!(t.elapsed() < Duration::from_secs(60));
}

#[test]
fn garbage_payloads_never_panic() {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let heads: [&[u8]; 6] = [
        locthu::inspect::sniff::TNEF_MAGIC.as_slice(),
        &[0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1],
        b"PK\x03\x04",
        b"MZ",
        &[0xca, 0xfe, 0xba, 0xbe],
        b"begin 644 x\n",
    ];
    for round in 0..300 {
        let mut data = heads[round % heads.len()].to_vec();
        let n = (next() % 4096) as usize;
        data.extend((0..n).map(|_| next() as u8));
        let _ = locthu::inspect::walk(
            &with_attachment("x.bin", &data),
            &locthu::inspect::Limits::default(),
        );
        let _ = locthu::inspect::sniff::sniff(&data);
        let _ = locthu::inspect::tnef::read(&data, 16);
    }
}

fn conn() -> Connection {
    Connection {
        id: 1,
        listener: "inbound".into(),
        role: Role::Inbound,
        client: Client {
            addr: "203.0.113.9:2525".parse().unwrap(),
            name: None,
            helo: Some("mx.example.com".into()),
            login: None,
            trusted: false,
            addr_unavailable: false,
        },
        tls: false,
    }
}

#[tokio::test]
async fn check_runs_through_the_engine_interface() {
    let check = build(
        &InspectConfig::default(),
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")),
    )
    .expect("defaults are valid");
    // The engine parses the message once and hands the content model to the check.
    let engine = locthu::engine::Engine::new(vec![check], Default::default())
        .with_content_limits(inspector().limits().clone());
    let judged = |spool: Spool| {
        let engine = &engine;
        async move {
            engine
                .data(&conn(), &Envelope::default(), &spool)
                .await
                .findings
        }
    };
    let spool = Spool::from_bytes(with_attachment("bao-cao.pdf.exe", &pe()));
    let f = judged(spool).await;
    assert_finding(
        &f,
        rule::EXECUTABLE,
        Action::Reject,
        Some("bao-cao.pdf.exe"),
    );
    let spool = Spool::from_bytes(with_attachment("bao-cao.pdf", &pdf()));
    assert_clean(&judged(spool).await);
}

#[test]
fn config_defaults_round_trip_and_unknown_keys_fail() {
    let cfg: InspectConfig = toml::from_str("").unwrap();
    assert_eq!(cfg.attachment_size.per_attachment, ByteSize(15_000_000));
    let text = toml::to_string(&InspectConfig::default()).unwrap();
    let back: InspectConfig = toml::from_str(&text).unwrap();
    assert_eq!(back.archives.max_depth, 4);
    let cfg: InspectConfig = toml::from_str(
        "[attachment_size]\nper_attachment = \"25MB\"\n[encrypted_archive]\naction = \"quarantine\"\n",
    )
    .unwrap();
    assert_eq!(cfg.attachment_size.per_attachment, ByteSize(25_000_000));
    assert_eq!(cfg.encrypted_archive.action, Action::Quarantine);
    assert!(toml::from_str::<InspectConfig>("[executable]\nextension = \"x\"\n").is_err());
    let mut bad = InspectConfig::default();
    bad.executable.list = "no/such/list.txt".into();
    let err = build(&bad, std::path::Path::new("/nonexistent"))
        .err()
        .unwrap();
    assert!(err.contains("inspect.executable.list"), "{err}");
}

#[test]
fn garbled_messages_do_not_panic_inside() {
    let tnef = locthu::inspect::tnef::build(&[("a.exe", &pe())]);
    let msg = message(
        "hỏng",
        vec![
            text(&format!(
                "x\n{}",
                locthu::inspect::uu::encode("u.exe", &pe())
            )),
            attachment("winmail.dat", &tnef),
            attachment("d.doc", &doc_with_macros()),
            attachment("m.docm", &docm()),
        ],
    );
    let lim = locthu::inspect::Limits::default();
    let mut m = msg.clone();
    for k in (0..m.len()).step_by(101) {
        m[k] ^= 0x5a;
        let r = locthu::inspect::walk(&m, &lim);
        assert!(
            !r.unscannable
                .iter()
                .any(|u| u.reason == locthu::inspect::Reason::Internal),
            "panic caught at flip {k}"
        );
    }
}

/// A message with every container the walk opens, built once for the property tests.
fn rich_message() -> &'static [u8] {
    static MSG: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    MSG.get_or_init(|| {
        let tnef = locthu::inspect::tnef::build(&[("a.exe", &pe())]);
        let inner = message("inner", vec![attachment("x.lnk", &lnk())]);
        message(
            "Mật khẩu: abc",
            vec![
                text(&format!(
                    "x\n{}",
                    locthu::inspect::uu::encode("u.exe", &pe())
                )),
                attachment("winmail.dat", &tnef),
                attachment("d.doc", &doc_with_macros()),
                attachment("m.docm", &docm()),
                attachment("z.zip", &zip(&[("a.txt", b"abc"), ("b.exe", &pe())])),
                rfc822(Some("fwd.eml"), &inner),
            ],
        )
    })
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(128))]

    /// Whatever bytes are cut or flipped, the walk finishes without panicking inside.
    #[test]
    fn walk_survives_mutations(
        cut in 0usize..100_000,
        flips in proptest::collection::vec((0usize..100_000, proptest::prelude::any::<u8>()), 0..24),
    ) {
        let base = rich_message();
        let mut m = base[..cut.min(base.len())].to_vec();
        for (at, x) in flips {
            if !m.is_empty() {
                let i = at % m.len();
                m[i] ^= x;
            }
        }
        let t = Instant::now();
        let r = locthu::inspect::walk(&m, &locthu::inspect::Limits::default());
        proptest::prop_assert!(t.elapsed() < Duration::from_secs(5));
        proptest::prop_assert!(
            !r.unscannable.iter().any(|u| u.reason == locthu::inspect::Reason::Internal)
        );
    }

    /// Arbitrary bytes as a whole message, or as an attachment's content.
    #[test]
    fn walk_survives_arbitrary_bytes(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..4096)) {
        let lim = locthu::inspect::Limits::default();
        let r = locthu::inspect::walk(&data, &lim);
        proptest::prop_assert!(!r.unscannable.iter().any(|u| u.reason == locthu::inspect::Reason::Internal));
        let r = locthu::inspect::walk(&with_attachment("x.bin", &data), &lim);
        proptest::prop_assert!(!r.unscannable.iter().any(|u| u.reason == locthu::inspect::Reason::Internal));
    }
}
