//! Issue 10: delegation to a filter the site already runs. A real spamd and a real rspamd
//! (Debian's, on loopback ports, no network tests) judge the message too; their score joins
//! ours, thresholds decide, a tagged message is delivered with its X-Spam headers (the
//! forged ones a sender put there removed), and a dead filter loses no mail.

mod common;

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{free_port, is_root, require, Dialog, Gateway, Sink};

const GTUBE: &str = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X";

const CONFIG: &str = r#"
[server]
hostname = "gw.test"
trusted_networks = ["127.0.0.1/32"]
internal_domains = ["angiang.gov.vn"]
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

[quarantine]
dir = "{dir}/quarantine"

[state.embedded]
path = "{dir}/state.redb"

[admin]
listen = "{admin}"

[spam]
# Our own GTUBE check is off: only the delegated filter's score can refuse the message.
gtube_action = "accept"
subject_prefix = "[SPAM] "

[spam.inbound]
tag = {tag}
reject = 10

[spam.delegate]
enabled = true
kind = "{kind}"
address = "{filter}"
timeout = "20s"
"#;

/// A filter process, killed with the test.
struct Filter {
    child: Child,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Drop for Filter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits (at most `limit`) until the filter judges a GTUBE message, i.e. is really ready.
fn wait_ready(addr: SocketAddr, limit: Duration, probe: impl Fn(SocketAddr) -> bool) {
    let start = Instant::now();
    while !probe(addr) {
        assert!(
            start.elapsed() < limit,
            "filter on {addr} not ready in {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn spamd() -> Filter {
    let bin = require("spamd");
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path().join("site");
    std::fs::create_dir_all(&site).unwrap();
    // The plugin loaders (v320.pre loads the Check plugin spamd cannot scan without); no Bayes,
    // no user state: the test judges the delegation, not SpamAssassin's learning.
    for e in std::fs::read_dir("/etc/spamassassin").unwrap().flatten() {
        if e.path().extension().is_some_and(|x| x == "pre") {
            std::fs::copy(e.path(), site.join(e.file_name())).unwrap();
        }
    }
    std::fs::write(site.join("local.cf"), "use_bayes 0\nbayes_auto_learn 0\n").unwrap();
    let port = free_port();
    let mut cmd = Command::new(bin);
    cmd.args(["-L", "-x", "--max-children=1", "--syslog=stderr"])
        .arg(format!("--listen=127.0.0.1:{port}"))
        .arg(format!("--siteconfigpath={}", site.display()))
        .arg(format!("--pidfile={}", dir.path().join("pid").display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if is_root() {
        cmd.args(["-u", "nobody"]);
    }
    let child = cmd.spawn().unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let f = Filter {
        child,
        addr,
        _dir: dir,
    };
    wait_ready(addr, Duration::from_secs(60), |a| {
        let out = Command::new(require("spamc"))
            .args(["-d", "127.0.0.1", "-p", &a.port().to_string(), "-y"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .and_then(|mut c| {
                use std::io::Write;
                c.stdin
                    .take()
                    .unwrap()
                    .write_all(format!("Subject: t\r\n\r\n{GTUBE}\r\n").as_bytes())?;
                c.wait_with_output()
            });
        out.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("GTUBE"))
    });
    f
}

fn rspamd() -> Filter {
    let bin = require("rspamd");
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("local.d");
    for d in ["local.d", "db", "run", "log"] {
        std::fs::create_dir_all(dir.path().join(d)).unwrap();
    }
    let (normal, controller, proxy) = (free_port(), free_port(), free_port());
    let files = [
        (
            "worker-normal.inc",
            format!("bind_socket = \"127.0.0.1:{normal}\";\ncount = 1;\n"),
        ),
        (
            "worker-controller.inc",
            format!("bind_socket = \"127.0.0.1:{controller}\";\ncount = 1;\n"),
        ),
        (
            "worker-proxy.inc",
            format!("bind_socket = \"127.0.0.1:{proxy}\";\ncount = 1;\n"),
        ),
        // Its DNS goes to a closed loopback port: no query leaves the machine.
        (
            "options.inc",
            "dns { nameserver = [\"127.0.0.1:9\"]; timeout = 0.2s; retransmits = 1; }\n".into(),
        ),
        (
            "logging.inc",
            "type = \"console\";\nlevel = \"error\";\n".into(),
        ),
    ];
    for (name, text) in files {
        std::fs::write(local.join(name), text).unwrap();
    }
    let var = |k: &str, v: &str| format!("--var={k}={}", dir.path().join(v).display());
    let child = Command::new(bin)
        .args([
            "-f",
            "-u",
            "root",
            "-g",
            "root",
            "-c",
            "/etc/rspamd/rspamd.conf",
        ])
        .arg(format!("--var=LOCAL_CONFDIR={}", dir.path().display()))
        .arg(var("DBDIR", "db"))
        .arg(var("RUNDIR", "run"))
        .arg(var("LOGDIR", "log"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{normal}").parse().unwrap();
    let f = Filter {
        child,
        addr,
        _dir: dir,
    };
    // rspamd loads its rules for some 20 s here before its worker answers.
    wait_ready(addr, Duration::from_secs(90), |a| {
        std::net::TcpStream::connect_timeout(&a, Duration::from_millis(200)).is_ok()
    });
    f
}

fn gateway(kind: &str, filter: SocketAddr, tag: &str, sink: &Sink) -> Gateway {
    Gateway::start(
        &CONFIG
            .replace("{kind}", kind)
            .replace("{filter}", &filter.to_string())
            .replace("{tag}", tag),
        sink.addr,
    )
}

/// A message; without Date and Message-ID it is a little suspect to both filters' header
/// rules (MISSING_DATE, MISSING_MID), enough to be tagged from a score of 1.
fn message(subject: &str, body: &str, well_formed: bool) -> String {
    let ids = if well_formed {
        "Date: Wed, 02 Dec 2026 10:00:00 +0700\r\nMessage-ID: <t1@example.org>\r\n"
    } else {
        ""
    };
    format!(
        "From: Nguyen Van A <a@example.org>\r\nTo: <b@angiang.gov.vn>\r\nSubject: {subject}\r\n{ids}\
         X-Spam-Status: No, score=-100 (forged by the sender)\r\nX-Spam-Flag: NO\r\n\r\n{body}\r\n"
    )
}

fn refuses_spam_and_tags_the_rest(kind: &str, filter: &Filter, symbol: &str) {
    let sink = Sink::start(&[]);
    let gw = gateway(kind, filter.addr, "1", &sink);
    let mut d = Dialog::open_from(gw.addr, Some("127.0.0.2"));
    let r = d.send_mail(
        "a@example.org",
        &["b@angiang.gov.vn"],
        &message("test", &format!("hello {GTUBE}"), true),
    );
    assert!(
        r.starts_with("550 5.7.1") && r.contains("(rule spam)") && r.contains(symbol),
        "{kind}: {r}\n{}",
        gw.log()
    );
    let mut d = Dialog::open_from(gw.addr, Some("127.0.0.2"));
    let r = d.send_mail(
        "a@example.org",
        &["b@angiang.gov.vn"],
        &message(
            "Giay moi hop",
            "Kinh gui, moi anh chi du hop luc 8h.",
            false,
        ),
    );
    assert!(r.starts_with("250"), "{kind}: {r}\n{}", gw.log());
    let got = sink.wait_messages(1);
    assert_eq!(got.len(), 1, "{kind}");
    let m = &got[0];
    assert!(m.contains("Subject: [SPAM] Giay moi hop"), "{kind}: {m}");
    assert!(m.contains("X-Spam-Flag: YES"), "{kind}: {m}");
    assert!(m.contains("X-Spam-Status: Yes, score="), "{kind}: {m}");
    assert!(m.contains(&format!("{symbol}=")), "{kind}: {m}");
    assert!(
        !m.contains("forged by the sender") && !m.contains("X-Spam-Flag: NO"),
        "{kind}: {m}"
    );
}

#[test]
fn spamd_scores_join_ours() {
    let filter = spamd();
    refuses_spam_and_tags_the_rest("spamd", &filter, "SPAMD");
}

#[test]
fn rspamd_scores_join_ours() {
    let filter = rspamd();
    refuses_spam_and_tags_the_rest("rspamd", &filter, "RSPAMD");
}

#[test]
fn a_dead_filter_loses_no_mail() {
    let sink = Sink::start(&[]);
    let closed: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let gw = gateway("spamd", closed, "5", &sink);
    let mut d = Dialog::open_from(gw.addr, Some("127.0.0.2"));
    let r = d.send_mail(
        "a@example.org",
        &["b@angiang.gov.vn"],
        &message("Giay moi hop", "Kinh gui.", true),
    );
    assert!(r.starts_with("250"), "{r}");
    let got = sink.wait_messages(1);
    // Nothing scored it: no X-Spam headers, and the sender's forged ones are gone all the same.
    assert!(!got[0].contains("X-Spam-"), "{}", got[0]);
    assert!(gw.log().contains("delegated filter failed"), "{}", gw.log());
}

#[test]
fn outbound_spam_is_counted_per_internal_sender() {
    let filter = spamd();
    let sink = Sink::start(&[]);
    let gw = gateway("spamd", filter.addr, "5", &sink);
    // From 127.0.0.1, a trusted network: an internal sender, so the outbound thresholds apply.
    for _ in 0..2 {
        let mut d = Dialog::open(gw.addr);
        let r = d.send_mail(
            "CanBo@angiang.gov.vn",
            &["x@example.org"],
            &message("test", &format!("hello {GTUBE}"), true),
        );
        assert!(
            r.starts_with("550 5.7.1") && r.contains("(rule spam)"),
            "{r}"
        );
    }
    let start = Instant::now();
    while !gw.log().contains("count=2") && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let log = gw.log();
    let counted: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("outbound spam from an internal sender"))
        .collect();
    assert_eq!(counted.len(), 2, "{log}");
    assert!(
        counted[1].contains("sender=canbo@angiang.gov.vn") && counted[1].contains("count=2"),
        "{log}"
    );
    assert!(sink.messages().is_empty());
}
