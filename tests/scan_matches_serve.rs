//! Issue 9: `scan` runs every stage as `serve` would. The same messages, client and
//! recipients go through `locthu serve` (to a real smtp-sink) and through `locthu scan`; what
//! the sender hears at each RCPT and at the end of DATA must be what scan reports.

mod common;

use std::process::Command;

use common::{stuff, Dialog, Gateway, Sink};

const CONFIG: &str = r#"
extends = "@PROFILE@"

[server]
hostname = "gw.test"
trusted_networks = ["127.0.0.1/32"]
spool_dir = "{dir}"
reload_poll = "0s"
reverse_dns = false

[[listener]]
name = "inbound"
address = "{listen}"
role = "inbound"

[listener.upstream]
address = "{upstream}"
tls = "off"

[antivirus]
enabled = false

[quarantine]
dir = "{dir}/quarantine"

[admin]
listen = "{admin}"
"#;

fn config() -> String {
    CONFIG.replace(
        "@PROFILE@",
        concat!(env!("CARGO_MANIFEST_DIR"), "/config/profiles/angiang.toml"),
    )
}

fn message(attachment: Option<(&str, &str)>) -> String {
    let mut m = String::from(
        "From: <a@example.org>\r\nTo: <b@angiang.gov.vn>\r\nSubject: hello\r\nMIME-Version: 1.0\r\n",
    );
    match attachment {
        None => m.push_str("Content-Type: text/plain\r\n\r\nhello\r\n"),
        Some((name, base64)) => m.push_str(&format!(
            "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n\
             --b\r\nContent-Type: application/octet-stream; name=\"{name}\"\r\n\
             Content-Disposition: attachment; filename=\"{name}\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{base64}\r\n--b--\r\n"
        )),
    }
    m
}

/// What the sender hears from serve: each RCPT's reply, then DATA's (or the final) reply.
fn through_serve(gw: &Gateway, client: &str, rcpts: &[&str], msg: &str) -> (Vec<String>, String) {
    let mut d = Dialog::open_from(gw.addr, Some(client));
    d.cmd("EHLO client.example", "250");
    d.cmd("MAIL FROM:<a@example.org>", "250");
    let rcpt_replies: Vec<String> = rcpts
        .iter()
        .map(|r| d.cmd(&format!("RCPT TO:<{r}>"), "").trim_end().to_string())
        .collect();
    let r = d.cmd("DATA", "");
    let last = if r.starts_with("354") {
        d.send(&stuff(msg));
        d.reply()
    } else {
        r
    };
    d.cmd("QUIT", "221");
    (rcpt_replies, last.trim_end().to_string())
}

fn through_scan(gw: &Gateway, client: &str, rcpts: &[&str], msg: &str) -> serde_json::Value {
    let file = gw.dir.path().join("m.eml");
    std::fs::write(&file, msg).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_locthu"));
    cmd.args(["scan", "--config"])
        .arg(&gw.config)
        .args(["--client-ip", client, "--helo", "client.example"])
        .args(["--mail-from", "a@example.org"]);
    for r in rcpts {
        cmd.args(["--rcpt", r]);
    }
    let out = cmd.arg(&file).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn scan_reports_what_serve_answers_at_each_rcpt_and_at_the_end_of_data() {
    let sink = Sink::start(&[]);
    let gw = Gateway::start(&config(), sink.addr);
    let exe = message(Some(("bao-cao.pdf.exe", "TVqQAAMAAAAEAAAA//8AALgAAAA=")));
    let clean = message(None);
    let cases: &[(&str, &[&str], &str)] = &[
        // An outside client: the gmail recipient is relay-denied, the message rejected.
        ("127.0.0.2", &["b@angiang.gov.vn", "x@gmail.com"], &exe),
        ("127.0.0.2", &["b@angiang.gov.vn", "x@gmail.com"], &clean),
        // Every recipient refused: DATA is answered 554.
        ("127.0.0.2", &["x@gmail.com"], &clean),
        // A trusted client may send anywhere.
        ("127.0.0.1", &["x@gmail.com"], &clean),
    ];
    for (client, rcpts, msg) in cases {
        let (rcpt_replies, last) = through_serve(&gw, client, rcpts, msg);
        let scan = through_scan(&gw, client, rcpts, msg);
        let seen = format!("serve: {rcpt_replies:?} {last:?}\nscan: {scan}");
        for (i, served) in rcpt_replies.iter().enumerate() {
            let scanned = &scan["recipients"][i];
            assert_eq!(scanned["address"], rcpts[i], "{seen}");
            match scanned["reply"].as_str() {
                None => assert!(served.starts_with("250"), "{seen}"),
                Some(reply) => assert_eq!(reply, served, "{seen}"),
            }
        }
        match scan["reply"].as_str() {
            // Accepted: serve gave the sink's 250.
            None => assert!(last.starts_with("250"), "{seen}"),
            // Refused at DATA for having no recipient: same code; serve's text is generic.
            Some(reply) if scan["stage"] == "rcpt" => {
                assert_eq!(&reply[..3], &last[..3], "{seen}")
            }
            Some(reply) => assert_eq!(reply, last, "{seen}"),
        }
    }
    // Accepted messages were delivered, the refused ones not.
    assert_eq!(sink.wait_messages(2).len(), 2);
}

#[test]
fn scan_shows_relay_denied_for_a_free_mail_recipient_of_an_outside_client() {
    let sink = Sink::start(&[]);
    let gw = Gateway::start(&config(), sink.addr);
    let scan = through_scan(&gw, "203.0.113.7", &["x@gmail.com"], &message(None));
    assert_eq!(scan["stage"], "rcpt", "{scan}");
    assert_eq!(scan["recipients"][0]["rules"][0], "relay-denied", "{scan}");
    assert!(scan["recipients"][0]["reply"]
        .as_str()
        .unwrap()
        .starts_with("554 5.7.1"));
}
