//! Content inspection as a client of the gateway sees it: the hostile messages of the generator
//! through `locthu serve` get the right reply and never reach the upstream; clean ones arrive
//! unchanged; quarantined ones are kept and can be released. And `locthu scan` on a profile.

mod common;
mod support;

use std::process::Command;

use common::{dumped_content, Dialog, Gateway, Sink};
use support::*;

const CONFIG: &str = r#"
extends = "LAICHAU"

[server]
trusted_networks = ["127.0.0.1/32"]
spool_dir = "{dir}"
reload_poll = "0s"

[[listener]]
name = "inbound"
address = "{listen}"

[listener.upstream]
address = "{upstream}"
tls = "off"

[quarantine]
dir = "{dir}/quarantine"

[admin]
listen = "{admin}"

[antivirus]
enabled = false
"#;

fn start(sink: &Sink) -> Gateway {
    let profile = concat!(env!("CARGO_MANIFEST_DIR"), "/config/profiles/laichau.toml");
    Gateway::start(&CONFIG.replace("LAICHAU", profile), sink.addr)
}

fn send(gw: &Gateway, message: &[u8]) -> String {
    let mut d = Dialog::open(gw.addr);
    let text = String::from_utf8(message.to_vec()).unwrap();
    let r = d.send_mail("nguoigui@example.com", &["vanthu@laichau.gov.vn"], &text);
    d.cmd("QUIT", "221");
    r
}

fn locthu(gw: &Gateway, args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_locthu"))
        .args(args)
        .arg("--config")
        .arg(&gw.config)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn hostile_messages_are_refused_naming_rule_and_part_and_never_delivered() {
    let sink = Sink::start(&[]);
    let gw = start(&sink);
    let r = send(&gw, &with_attachment("bao-cao.pdf", &pe()));
    assert!(
        r.starts_with("550 5.7.1") && r.contains("rule executable") && r.contains("bao-cao.pdf"),
        "{r}"
    );
    let nested = zip(&[("inner.zip", &zip(&[("setup.exe", &pe())]))]);
    let r = send(&gw, &with_attachment("tai-lieu.zip", &nested));
    assert!(
        r.contains("rule executable") && r.contains("tai-lieu.zip/inner.zip/setup.exe"),
        "{r}"
    );
    // The password is in the body: the archive is opened and what is inside decides.
    let locked = zip_aes(&[("hoa-don.exe", &pe())], "vn2026");
    let msg = message(
        "Hóa đơn",
        vec![
            text("Mật khẩu giải nén: vn2026\n"),
            attachment("hoa-don.zip", &locked),
        ],
    );
    let r = send(&gw, &msg);
    assert!(r.starts_with("550") && r.contains("rule executable"), "{r}");
    assert!(
        sink.messages().is_empty(),
        "a refused message reached the upstream"
    );
}

#[test]
fn clean_documents_arrive_byte_for_byte() {
    let sink = Sink::start(&[]);
    let gw = start(&sink);
    let msg = message(
        "Công văn",
        vec![
            text("Kính gửi các đơn vị.\n"),
            attachment("cong-van.pdf", &pdf()),
            attachment("bao-cao.docx", &docx()),
            attachment("so-lieu.xlsx", &xlsx()),
            attachment("anh.jpg", &jpeg()),
        ],
    );
    let r = send(&gw, &msg);
    assert!(r.starts_with("250"), "{r}");
    let got = sink.wait_messages(1);
    assert_eq!(got.len(), 1);
    assert_eq!(
        dumped_content(&got[0]),
        String::from_utf8(msg).unwrap().replace("\r\n", "\n")
    );
}

#[test]
fn an_encrypted_archive_is_quarantined_then_released_with_its_envelope() {
    let sink = Sink::start(&[]);
    let gw = start(&sink);
    let locked = zip_zipcrypto(&[("ke-hoach.docx", &docx())], "khong-co-trong-thu");
    let r = send(&gw, &with_attachment("ke-hoach.zip", &locked));
    assert!(
        r.starts_with("250 2.0.0") && r.contains("held for review"),
        "{r}"
    );
    assert!(
        sink.messages().is_empty(),
        "a quarantined message was delivered"
    );
    let (ok, list) = locthu(&gw, &["quarantine", "list"]);
    assert!(
        ok && list.contains("encrypted-archive") && list.contains("vanthu@laichau.gov.vn"),
        "{list}"
    );
    let id = list.split('\t').next().unwrap().to_string();
    let (ok, out) = locthu(&gw, &["quarantine", "release", &id]);
    assert!(ok, "{out}");
    let got = sink.wait_messages(1);
    assert_eq!(got.len(), 1);
    assert!(
        got[0].contains("X-Mail-Args: <nguoigui@example.com>")
            && got[0].contains("X-Rcpt-Args: <vanthu@laichau.gov.vn>"),
        "{}",
        got[0]
    );
    let (_, list) = locthu(&gw, &["quarantine", "list"]);
    assert!(
        list.trim().is_empty(),
        "released message still listed: {list}"
    );
}

#[test]
fn scan_prints_one_json_line_per_file_with_the_profile_rules() {
    let dir = tempfile::tempdir().unwrap();
    // The Lai Châu profile as a site would use it, without a clamd on this machine.
    let site = dir.path().join("site.toml");
    let profile = concat!(env!("CARGO_MANIFEST_DIR"), "/config/profiles/laichau.toml");
    std::fs::write(
        &site,
        format!("extends = \"{profile}\"\n[antivirus]\nenabled = false\n"),
    )
    .unwrap();
    let exe = dir.path().join("exe.eml");
    let clean = dir.path().join("clean.eml");
    std::fs::write(&exe, with_attachment("bao-cao.pdf.exe", b"MZ")).unwrap();
    std::fs::write(&clean, with_attachment("cong-van.pdf", &pdf())).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_locthu"))
        .args(["scan", "--config"])
        .arg(&site)
        .args(["--mail-from", "a@example.com", "--rcpt", "b@laichau.gov.vn"])
        .arg(&exe)
        .arg(&clean)
        .output()
        .unwrap();
    assert!(out.status.success());
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["action"], "reject");
    assert_eq!(lines[0]["rules"][0], "executable");
    assert!(lines[0]["reply"].as_str().unwrap().starts_with("550 5.7.1"));
    assert_eq!(lines[0]["findings"][0]["part"], "bao-cao.pdf.exe");
    assert_eq!(lines[1]["action"], "accept");
    assert!(lines[1]["reply"].is_null());
}
