//! The gateway's life as an operator sees it: config checks, reloads under load, draining.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{stuff, Dialog, Gateway, Sink};

const CONFIG: &str = r#"
[server]
hostname = "gw.test"
trusted_networks = ["127.0.0.1/32"]
internal_domains = ["angiang.gov.vn"]
spool_dir = "{dir}"
reload_poll = "0s"
shutdown_grace = "3s"

[[listener]]
name = "inbound"
address = "{listen}"
role = "inbound"

[listener.upstream]
address = "{upstream}"
tls = "off"

[admin]
listen = "{admin}"
"#;

fn check_config(text: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("site.toml");
    std::fs::write(&path, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_locthu"))
        .args(["check-config", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn check_config_names_file_and_line() {
    let (ok, out) =
        check_config("[server]\nhostname = \"x\"\n\n[limits]\nmesage_size = \"10MB\"\n");
    assert!(!ok);
    assert!(
        out.contains("site.toml:5:") && out.contains("mesage_size"),
        "{out}"
    );

    let (ok, out) = check_config("[limits]\nmessage_size = \"10 parsecs\"\n");
    assert!(
        !ok && out.contains("site.toml:2:") && out.contains("parsecs"),
        "{out}"
    );

    // Semantic errors are all reported at once.
    let (ok, out) = check_config(
        "[limits]\ncommand_line_length = 100\ndata_line_length = 10\n[admin]\nlisten = \"nowhere\"\n",
    );
    assert!(!ok);
    assert!(
        out.contains("command_line_length")
            && out.contains("data_line_length")
            && out.contains("admin.listen"),
        "{out}"
    );

    let (ok, out) = check_config("[server]\ninternal_domains = [\"angiang.gov.vn\"]\n");
    assert!(ok, "{out}");
}

#[test]
fn the_embedded_default_and_the_shipped_config_are_valid() {
    let out = Command::new(env!("CARGO_BIN_EXE_locthu"))
        .arg("check-config")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(env!("CARGO_BIN_EXE_locthu"))
        .args([
            "check-config",
            "--config",
            concat!(env!("CARGO_MANIFEST_DIR"), "/config/locthu.toml"),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn reload_under_load_drops_no_session_and_keeps_a_good_config_on_error() {
    let sink = Sink::start(&[]);
    let gw = Gateway::start(CONFIG, sink.addr);
    let good = std::fs::read_to_string(&gw.config).unwrap();
    let addr = gw.addr;
    const CLIENTS: usize = 4;
    const EACH: usize = 15;
    let senders: Vec<_> = (0..CLIENTS)
        .map(|c| {
            std::thread::spawn(move || {
                let mut replies = Vec::new();
                for i in 0..EACH {
                    let mut d = Dialog::open(addr);
                    let msg = format!("Subject: load {c}-{i}\r\n\r\nbody\r\n");
                    replies.push(d.send_mail("a@angiang.gov.vn", &["b@angiang.gov.vn"], &msg));
                    d.cmd("QUIT", "221");
                    std::thread::sleep(Duration::from_millis(10));
                }
                replies
            })
        })
        .collect();
    // Meanwhile: good reloads that change a rule, and one broken file.
    for round in 0..6 {
        let text = if round == 3 {
            good.replace("[admin]", "[admin]\nbogus_key = 1")
        } else {
            good.replace(
                "[\"angiang.gov.vn\"]",
                &format!("[\"angiang.gov.vn\", \"round{round}.gov.vn\"]"),
            )
        };
        std::fs::write(&gw.config, text).unwrap();
        gw.signal("-HUP");
        std::thread::sleep(Duration::from_millis(60));
    }
    for s in senders {
        for r in s.join().unwrap() {
            assert!(
                r.starts_with("250"),
                "a message was not accepted during reloads: {r}"
            );
        }
    }
    assert_eq!(sink.wait_messages(CLIENTS * EACH).len(), CLIENTS * EACH);
    let log = gw.log();
    assert!(log.contains("config reloaded"), "{log}");
    assert!(
        log.contains("config reload failed") && log.contains("bogus_key"),
        "{log}"
    );
    // The last good generation (round 5) is in force: its domain is now internal.
    let mut d = Dialog::open_from(gw.addr, Some("127.0.0.2"));
    d.cmd("EHLO outside.example", "250");
    d.cmd("MAIL FROM:<x@example.com>", "250");
    d.cmd("RCPT TO:<a@round5.gov.vn>", "250");
    d.cmd("RCPT TO:<a@round2.gov.vn>", "554 5.7.1");
}

#[test]
fn sigterm_drains_transactions_in_flight_then_closes_the_rest() {
    let sink = Sink::start(&[]);
    let mut gw = Gateway::start(CONFIG, sink.addr);
    let mut busy = Dialog::open(gw.addr);
    busy.cmd("EHLO busy.example", "250");
    busy.cmd("MAIL FROM:<a@angiang.gov.vn>", "250");
    busy.cmd("RCPT TO:<b@angiang.gov.vn>", "250");
    busy.cmd("DATA", "354");
    busy.send(b"Subject: in flight\r\n\r\nfirst half\r\n");
    let mut idle = Dialog::open(gw.addr);
    idle.cmd("EHLO idle.example", "250");

    gw.signal("-TERM");
    // The idle session is closed at once with 421.
    idle.expect("421 4.3.2");
    // New connections are no longer accepted.
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        std::net::TcpStream::connect(gw.addr).is_err(),
        "still accepting after SIGTERM"
    );
    // The transaction in flight finishes and is delivered; then the session gets 421.
    busy.send(b"second half\r\n.\r\n");
    busy.expect("250");
    busy.send(b"MAIL FROM:<a@angiang.gov.vn>\r\n");
    busy.expect("421");
    assert!(
        gw.wait_exit(Duration::from_secs(5)),
        "locthu did not exit after draining"
    );
    let got = sink.wait_messages(1);
    assert_eq!(got.len(), 1);
    assert!(got[0].contains("second half"));
}

#[test]
fn sigterm_grace_period_ends_a_stalled_transaction_without_delivering_it() {
    let sink = Sink::start(&[]);
    let mut gw = Gateway::start(CONFIG, sink.addr);
    let mut stalled = Dialog::open(gw.addr);
    stalled.cmd("EHLO slow.example", "250");
    stalled.cmd("MAIL FROM:<a@angiang.gov.vn>", "250");
    stalled.cmd("RCPT TO:<b@angiang.gov.vn>", "250");
    stalled.cmd("DATA", "354");
    stalled.send(b"Subject: never finished\r\n\r\n");
    let start = Instant::now();
    gw.signal("-TERM");
    stalled.expect("421");
    assert!(
        start.elapsed() >= Duration::from_secs(2),
        "closed before the grace period"
    );
    assert!(gw.wait_exit(Duration::from_secs(8)));
    // Too late now: the rest of the message must not be taken.
    let _ = std::io::Write::write_all(&mut stalled.stream, &stuff("rest\r\n"));
    std::thread::sleep(Duration::from_millis(200));
    assert!(sink.messages().is_empty());
}

#[test]
fn serve_runs_on_the_embedded_default_with_flag_overrides() {
    // The README's first command, with --listen and --upstream so the test owns its ports.
    let sink = Sink::start(&[]);
    let port = common::free_port();
    let log_dir = tempfile::tempdir().unwrap();
    let log = std::fs::File::create(log_dir.path().join("log")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_locthu"))
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--upstream",
            &sink.addr.to_string(),
        ])
        .stderr(log)
        .spawn()
        .unwrap();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    common::wait_listening(addr);
    let mut d = Dialog::open(addr);
    let r = d.send_mail(
        "a@example.com",
        &["b@example.com"],
        "Subject: default\r\n\r\nx\r\n",
    );
    let _ = child.kill();
    let _ = child.wait();
    assert!(r.starts_with("250"), "{r}");
    assert_eq!(sink.wait_messages(1).len(), 1);
    let said = std::fs::read_to_string(log_dir.path().join("log")).unwrap();
    assert!(said.contains("embedded default"), "{said}");
}
