//! Password-protected archives through `locthu serve` with a real clamd and a real smtp-sink
//! (issue 8, items 8 and 9): what a password from the message opens goes to clamd member by
//! member; only Lai Châu's regulation restricts encrypted archives, the other profiles pass one
//! that opens and is clean and tag one that cannot be opened.

mod clamd_harness;
mod common;
mod support;

use std::path::PathBuf;
use std::sync::Arc;

use clamd_harness::{Clamd, EICAR};
use common::{Dialog, Gateway, Sink};
use locthu::checks::antivirus::AntivirusConfig;
use locthu::checks::inspect::InspectConfig;
use locthu::config::Span;
use locthu::engine::{rule, Action, Envelope};
use locthu::spool::Spool;
use support::{attachment, message, pdf, text, zip_aes};

/// The four profiles whose regulation does not restrict encrypted archives, with a recipient.
const FREE: &[(&str, &str)] = &[
    ("angiang", "soxaydung@angiang.gov.vn"),
    ("daknong", "vanthu.stttt@daknong.gov.vn"),
    ("kiengiang", "sttt@kiengiang.gov.vn"),
    ("soctrang", "sotttt@soctrang.gov.vn"),
];
const LAICHAU: (&str, &str) = ("laichau", "ubnd@laichau.gov.vn");

const PASSWORD: &str = "Bc@2026";

fn profile(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("config/profiles/{name}.toml"))
}

/// A site config extending `name`'s profile, on `clamd`, with `extra` TOML appended.
fn config(name: &str, clamd: &str, extra: &str) -> String {
    format!(
        r#"
extends = "{profile}"

[server]
trusted_networks = ["127.0.0.1/32"]
spool_dir = "{{dir}}"
reload_poll = "0s"

[[listener]]
name = "inbound"
address = "{{listen}}"

[listener.upstream]
address = "{{upstream}}"
tls = "off"

[quarantine]
dir = "{{dir}}/quarantine"

[admin]
listen = "{{admin}}"

[antivirus]
endpoints = ["{clamd}"]
connect_timeout = "1s"
scan_timeout = "10s"
stream_max = "1MiB"
verify_stream_max = false
{extra}
"#,
        profile = profile(name).display()
    )
}

fn send(gw: &Gateway, rcpt: &str, msg: &[u8]) -> String {
    let mut d = Dialog::open(gw.addr);
    let text = String::from_utf8(msg.to_vec()).unwrap();
    let r = d.send_mail("nguoigui@example.com", &[rcpt], &text);
    d.cmd("QUIT", "221");
    r
}

/// The metadata files of the quarantine (one per held or kept message).
fn quarantined(gw: &Gateway) -> Vec<String> {
    let Ok(dir) = std::fs::read_dir(gw.dir.path().join("quarantine")) else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect()
}

/// `data` as `bao-cao.zip`, AES-256 with [`PASSWORD`], the password written in the body or not.
fn locked_mail(member: &str, data: &[u8], password_in_body: bool) -> Vec<u8> {
    let body = if password_in_body {
        format!("Kính gửi anh/chị báo cáo tháng.\nMật khẩu giải nén: {PASSWORD}\nTrân trọng.\n")
    } else {
        "Kính gửi anh/chị báo cáo tháng. Mật khẩu em gửi qua Zalo.\n".to_string()
    };
    message(
        "Báo cáo tháng 10",
        vec![
            text(&body),
            attachment("bao-cao.zip", &zip_aes(&[(member, data)], PASSWORD)),
        ],
    )
}

#[test]
fn eicar_in_an_aes_zip_opened_with_the_body_password_is_refused_as_a_virus() {
    // Only the whole-file hash signature: a hit proves clamd got the decrypted 68-byte member,
    // which it cannot get from the AES zip itself.
    let clamd = Clamd::start_with("1M", &[], false);
    let msg = locked_mail("bao-cao.txt", EICAR, true);
    for (name, rcpt) in [FREE[0], LAICHAU] {
        let sink = Sink::start(&[]);
        let gw = Gateway::start(&config(name, &clamd.tcp, ""), sink.addr);
        let r = send(&gw, rcpt, &msg);
        assert!(
            r.starts_with("550 5.7.1")
                && r.contains("rule virus")
                && r.contains("bao-cao.zip/bao-cao.txt: Eicar-Test-Signature"),
            "{name}: {r}"
        );
        assert!(sink.wait_messages(1).is_empty(), "{name}: delivered");
        assert!(quarantined(&gw).is_empty(), "{name}: held instead");
        assert_eq!(
            gw.metric(
                "locthu_transactions_total{action=\"reject\",listener=\"inbound\",rule=\"virus\"}"
            ),
            1.0,
            "{name}"
        );
    }
}

#[test]
fn a_clean_archive_that_opens_passes_except_in_lai_chau() {
    let clamd = Clamd::start_with("1M", &[], false);
    let msg = locked_mail("bao-cao.pdf", &pdf(), true);
    for (name, rcpt) in FREE {
        let sink = Sink::start(&[]);
        let gw = Gateway::start(&config(name, &clamd.tcp, ""), sink.addr);
        let r = send(&gw, rcpt, &msg);
        assert!(r.starts_with("250"), "{name}: {r}");
        let got = sink.wait_messages(1);
        assert_eq!(got.len(), 1, "{name}: not delivered");
        assert!(!got[0].contains("X-Locthu-"), "{name}: tagged\n{}", got[0]);
        assert!(quarantined(&gw).is_empty(), "{name}");
    }
    // Lai Châu Đ2.8, Đ4.6: restricted, so held for review even when it opens and is clean.
    let (name, rcpt) = LAICHAU;
    let sink = Sink::start(&[]);
    let gw = Gateway::start(&config(name, &clamd.tcp, ""), sink.addr);
    let r = send(&gw, rcpt, &msg);
    assert!(r.starts_with("250"), "{r}");
    assert!(sink.wait_messages(1).is_empty(), "laichau delivered it");
    let held = quarantined(&gw);
    assert_eq!(held.len(), 1, "{held:?}");
    assert!(held[0].contains(rule::ENCRYPTED_ARCHIVE), "{}", held[0]);
}

#[test]
fn an_archive_that_cannot_be_opened_is_tagged_or_gets_the_configured_action() {
    let clamd = Clamd::start_with("1M", &[], false);
    let msg = locked_mail("bao-cao.pdf", &pdf(), false);
    for (name, rcpt) in FREE {
        let sink = Sink::start(&[]);
        let gw = Gateway::start(&config(name, &clamd.tcp, ""), sink.addr);
        let r = send(&gw, rcpt, &msg);
        assert!(r.starts_with("250"), "{name}: {r}");
        let got = sink.wait_messages(1);
        assert_eq!(got.len(), 1, "{name}: not delivered");
        assert!(
            got[0].contains("X-Locthu-Action: tag")
                && got[0].contains("X-Locthu-Rules: encrypted-archive"),
            "{name}: not tagged\n{}",
            got[0]
        );
    }
    // The admin's choice, in a site config over the profile.
    let (name, rcpt) = FREE[0];
    let sink = Sink::start(&[]);
    let extra = "[inspect.encrypted_archive]\naction = \"reject\"\n";
    let gw = Gateway::start(&config(name, &clamd.tcp, extra), sink.addr);
    let r = send(&gw, rcpt, &msg);
    assert!(
        r.starts_with("550 5.7.1") && r.contains("rule encrypted-archive"),
        "{r}"
    );
    // An archive that opens is still not held by that setting.
    let r = send(&gw, rcpt, &locked_mail("bao-cao.pdf", &pdf(), true));
    assert!(r.starts_with("250"), "{r}");
    assert_eq!(sink.wait_messages(1).len(), 1);
    // Lai Châu holds the one it cannot open as well.
    let (name, rcpt) = LAICHAU;
    let sink = Sink::start(&[]);
    let gw = Gateway::start(&config(name, &clamd.tcp, ""), sink.addr);
    let r = send(&gw, rcpt, &msg);
    assert!(r.starts_with("250"), "{r}");
    assert!(sink.wait_messages(1).is_empty());
    assert_eq!(quarantined(&gw).len(), 1);
}

#[tokio::test]
async fn a_dead_clamd_defers_the_opened_members_too() {
    // The inspection check alone (the whole-message scan is the antivirus check's, tested in
    // clamd_scan.rs): its members cannot be scanned, so the message is deferred, not passed.
    let mut clamd = Clamd::start_with("1M", &[], false);
    let endpoint = clamd.tcp.clone();
    clamd.kill();
    let av = AntivirusConfig {
        enabled: true,
        endpoints: vec![endpoint],
        connect_timeout: Span::secs(1),
        scan_timeout: Span::secs(5),
        verify_stream_max: false,
        ..Default::default()
    };
    let scanner = locthu::checks::antivirus::scanner(&av).unwrap();
    let mut cfg = InspectConfig::default();
    cfg.encrypted_archive.opened_action = Some(Action::Accept);
    let base = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let check =
        locthu::checks::inspect::build_with_scanner(&cfg, &base, Some(Arc::clone(&scanner)))
            .unwrap();
    // Through the engine, which parses the message once and keeps the opened members.
    let limits = locthu::inspect::Limits {
        keep_opened: true,
        ..locthu::checks::inspect::Inspector::new(&cfg, &base)
            .unwrap()
            .limits()
            .clone()
    };
    let engine =
        locthu::engine::Engine::new(vec![check], Default::default()).with_content_limits(limits);
    let spool = Spool::from_bytes(locked_mail("bao-cao.txt", EICAR, true));
    let found = engine
        .data(&clamd_harness::conn(), &Envelope::default(), &spool)
        .await
        .findings;
    assert!(
        found
            .iter()
            .any(|f| f.rule == rule::UNSCANNED && f.action == Action::Tempfail),
        "{found:?}"
    );
    // Without a password nothing was opened, so nothing waits for clamd.
    let spool = Spool::from_bytes(locked_mail("bao-cao.txt", EICAR, false));
    let found = engine
        .data(&clamd_harness::conn(), &Envelope::default(), &spool)
        .await
        .findings;
    assert!(found.iter().all(|f| f.rule != rule::UNSCANNED), "{found:?}");
}

#[test]
fn only_an_archive_opened_entirely_gets_the_opened_action() {
    use std::io::Write;
    let mut cfg = InspectConfig::default();
    cfg.encrypted_archive.action = Action::Tag;
    cfg.encrypted_archive.opened_action = Some(Action::Accept);
    let inspector = support::inspector_with(cfg);
    let judged = |msg: &[u8]| {
        let f = inspector.inspect(msg);
        f.iter()
            .find(|x| x.rule == rule::ENCRYPTED_ARCHIVE)
            .map(|x| (x.action, x.text.en.clone()))
    };
    let (action, en) = judged(&locked_mail("bao-cao.pdf", &pdf(), true)).unwrap();
    assert_eq!(action, Action::Accept, "{en}");
    let (action, en) = judged(&locked_mail("bao-cao.pdf", &pdf(), false)).unwrap();
    assert_eq!(action, Action::Tag, "{en}");
    assert!(en.contains("could not be opened"), "{en}");
    // Two members under two passwords, the message gives one: only partly opened.
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, pw) in [("a.pdf", PASSWORD), ("b.pdf", "khac-hoan-toan")] {
        let opts =
            zip::write::SimpleFileOptions::default().with_aes_encryption(zip::AesMode::Aes256, pw);
        w.start_file(name, opts).unwrap();
        w.write_all(&pdf()).unwrap();
    }
    let z = w.finish().unwrap().into_inner();
    let msg = message(
        "Hai tệp",
        vec![
            text(&format!("Mật khẩu: {PASSWORD}\n")),
            attachment("hai.zip", &z),
        ],
    );
    let (action, en) = judged(&msg).unwrap();
    assert_eq!(action, Action::Tag, "{en}");
    assert!(en.contains("partly"), "{en}");
    // Unset, opened_action follows action (configs written before it keep their meaning).
    let mut cfg = InspectConfig::default();
    cfg.encrypted_archive.action = Action::Quarantine;
    let f = support::inspector_with(cfg).inspect(&locked_mail("bao-cao.pdf", &pdf(), true));
    support::assert_finding(
        &f,
        rule::ENCRYPTED_ARCHIVE,
        Action::Quarantine,
        Some("bao-cao.zip"),
    );
}
