//! Virus scanning as a client of the gateway sees it: a real clamd behind locthu, a real
//! smtp-sink as the upstream.

mod clamd_harness;
mod common;

use clamd_harness::{mail_with_attachment, zip_of, Clamd, EICAR};
use common::{Dialog, Gateway, Sink};

fn config(clamd: &str, on_error: &str) -> String {
    format!(
        r#"
[server]
trusted_networks = ["127.0.0.1/32"]
internal_domains = ["laichau.gov.vn"]
spool_dir = "{{dir}}"
reload_poll = "0s"

[[listener]]
name = "inbound"
address = "{{listen}}"

[listener.upstream]
address = "{{upstream}}"
tls = "off"

[limits]
message_size = "1MB"

[admin]
listen = "{{admin}}"

[quarantine]
dir = "{{dir}}/quarantine"
keep_rejected = ["virus"]

[antivirus]
enabled = true
endpoints = ["{clamd}"]
connect_timeout = "1s"
scan_timeout = "5s"
on_error = "{on_error}"
stream_max = "1MiB"
"#
    )
}

fn send(gw: &Gateway, message: &[u8]) -> String {
    let mut d = Dialog::open(gw.addr);
    d.cmd("EHLO client.example", "250");
    d.cmd("MAIL FROM:<a@laichau.gov.vn>", "250");
    d.cmd("RCPT TO:<b@laichau.gov.vn>", "250");
    d.cmd("DATA", "354");
    let text = String::from_utf8(message.to_vec()).unwrap();
    d.send(&common::stuff(&text));
    d.reply()
}

#[test]
fn a_virus_is_refused_naming_it_and_nothing_reaches_the_upstream() {
    let clamd = Clamd::start("1M", &[]);
    let sink = Sink::start(&[]);
    let gw = Gateway::start(&config(&clamd.tcp, "tempfail"), sink.addr);
    let r = send(
        &gw,
        &mail_with_attachment("report.zip", &zip_of("eicar.com", EICAR)),
    );
    assert!(
        r.starts_with("550 5.7.1") && r.contains("Eicar") && r.contains("rule virus"),
        "{r}"
    );
    let r = send(
        &gw,
        &mail_with_attachment("bao-cao.txt", b"Kinh gui cac don vi.\r\n"),
    );
    assert!(r.starts_with("250"), "{r}");
    let got = sink.wait_messages(1);
    assert_eq!(got.len(), 1);
    assert!(!got[0].contains("eicar.com"));
    assert_eq!(
        gw.metric(
            "locthu_transactions_total{action=\"reject\",listener=\"inbound\",rule=\"virus\"}"
        ),
        1.0
    );
    // The config keeps a copy of rejected viruses for the admin.
    let kept: Vec<_> = std::fs::read_dir(gw.dir.path().join("quarantine"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .collect();
    assert_eq!(kept.len(), 1);
    assert!(std::fs::read_to_string(kept[0].path())
        .unwrap()
        .contains("\"virus\""));
}

#[test]
fn clamd_down_defers_with_tempfail_and_tags_with_accept() {
    let mut clamd = Clamd::start("1M", &[]);
    let endpoint = clamd.tcp.clone();
    clamd.kill();
    let sink = Sink::start(&[]);
    let gw = Gateway::start(&config(&endpoint, "tempfail"), sink.addr);
    let r = send(&gw, &mail_with_attachment("a.txt", b"hello\r\n"));
    assert!(r.starts_with("451 4.7.1") && r.contains("unscanned"), "{r}");
    assert!(sink.messages().is_empty());
    drop(gw);

    let gw = Gateway::start(&config(&endpoint, "accept"), sink.addr);
    let r = send(&gw, &mail_with_attachment("a.txt", b"hello\r\n"));
    assert!(r.starts_with("250"), "{r}");
    let got = sink.wait_messages(1);
    assert!(
        got[0].contains("X-Locthu-Virus-Scan: not scanned (clamd unavailable)"),
        "{}",
        got[0]
    );
    assert!(got[0].contains("X-Locthu-Rules: unscanned"), "{}", got[0]);
}
