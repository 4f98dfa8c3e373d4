//! Issue 10: SPF, DKIM, DMARC and ARC through `locthu serve`, against keys and records this test
//! publishes on a private `nsd` (loopback port, zones written here), and outbound DKIM signing
//! verified by mail-auth against the same server. Clients connect from chosen loopback
//! addresses (127.0.0.1 is the trusted internal network; 127.0.0.2 and .3 are outside), so SPF
//! sees a real client address. No query leaves the machine.

mod common;

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{dumped_content, Dialog, Gateway, Sink};
use mail_auth::crypto::{RsaKey, Sha256};
use mail_auth::dkim::DkimSigner;
use mail_auth::headers::HeaderWriter;
use mail_auth::{AuthenticatedMessage, DkimResult, MessageAuthenticator};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::PrivateKeyDer;

/// A private nsd serving `zones` (name, zone text) from a temp dir; stopped on drop.
struct Nsd {
    port: u16,
    child: Child,
    dir: tempfile::TempDir,
}

impl Nsd {
    fn start(zones: &[(&str, String)]) -> Nsd {
        let bin = common::require("nsd");
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let port = common::free_port();
        let mut zone_conf = String::new();
        for (name, text) in zones {
            std::fs::write(d.join(format!("{name}.zone")), text).unwrap();
            zone_conf.push_str(&format!(
                "zone:\n    name: {name}\n    zonefile: {name}.zone\n"
            ));
        }
        let conf = format!(
            "server:\n    port: {port}\n    ip-address: 127.0.0.1\n    do-ip6: no\n    server-count: 1\n    username: \"\"\n    chroot: \"\"\n    zonesdir: \"{d}\"\n    pidfile: \"{d}/nsd.pid\"\n    database: \"\"\n    zonelistfile: \"{d}/zone.list\"\n    xfrdfile: \"{d}/xfrd.state\"\n    xfrdir: \"{d}\"\n    logfile: \"{d}/nsd.log\"\n    verbosity: 1\nremote-control:\n    control-enable: no\n{zone_conf}",
            d = d.display()
        );
        std::fs::write(d.join("nsd.conf"), conf).unwrap();
        let child = Command::new(bin)
            .arg("-c")
            .arg(d.join("nsd.conf"))
            .arg("-d")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nsd");
        let nsd = Nsd { port, child, dir };
        nsd.wait_answering();
        nsd
    }

    /// Until the SOA of `test.` comes back over UDP, at most 10 s.
    fn wait_answering(&self) {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let query = [
            0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 4, b't', b'e', b's', b't', 0, 0, 6, 0, 1,
        ];
        let start = Instant::now();
        let mut buf = [0u8; 512];
        loop {
            sock.send_to(&query, ("127.0.0.1", self.port)).unwrap();
            if let Ok(n) = sock.recv(&mut buf) {
                if n > 12 && buf[0..2] == [0x12, 0x34] && buf[3] & 0x0f == 0 && buf[7] > 0 {
                    return;
                }
            }
            if start.elapsed() > Duration::from_secs(10) {
                let log =
                    std::fs::read_to_string(self.dir.path().join("nsd.log")).unwrap_or_default();
                panic!("nsd on port {} not answering; log:\n{log}", self.port);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Nsd {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .stderr(Stdio::null())
            .status();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(5) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `locthu dkim keygen`: the key file and the zone line it printed.
fn keygen(dir: &Path, domain: &str, selector: &str, algorithm: &str) -> (PathBuf, String) {
    let out = dir.join(format!("{domain}.{selector}.pem"));
    let o = Command::new(env!("CARGO_BIN_EXE_locthu"))
        .args([
            "dkim",
            "keygen",
            domain,
            selector,
            "--algorithm",
            algorithm,
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let record = String::from_utf8(o.stdout).unwrap();
    assert!(
        record.starts_with(&format!("{selector}._domainkey.{domain}. IN TXT "))
            && record.contains(&format!("v=DKIM1; k={algorithm}; p=")),
        "{record}"
    );
    (out, record)
}

const SOA: &str = "@ IN SOA ns.test. hostmaster.test. 1 3600 600 86400 60\n@ IN NS ns.test.\n";

/// The published world: outside domains under `test.`, the province under `vn.`.
struct World {
    nsd: Nsd,
    keys: tempfile::TempDir,
    /// The outside sender's key (sender.test, selector s1), RSA.
    outside_key: PathBuf,
    /// The province's signing key (angiang.gov.vn, selector s1), RSA.
    internal_key: PathBuf,
    /// An Ed25519 key of one agency (stp.angiang.gov.vn, selector ed1).
    ed_key: PathBuf,
}

fn world() -> World {
    let keys = tempfile::tempdir().unwrap();
    let (outside_key, outside_rec) = keygen(keys.path(), "sender.test", "s1", "rsa");
    let (internal_key, internal_rec) = keygen(keys.path(), "angiang.gov.vn", "s1", "rsa");
    let (ed_key, ed_rec) = keygen(keys.path(), "stp.angiang.gov.vn", "ed1", "ed25519");
    let test_zone = format!(
        "$ORIGIN test.\n$TTL 300\n{SOA}ns IN A 127.0.0.1\n\
         sender IN TXT \"v=spf1 ip4:127.0.0.2 -all\"\n\
         _dmarc.sender IN TXT \"v=DMARC1; p=none\"\n\
         strict IN TXT \"v=spf1 ip4:127.0.0.2 -all\"\n\
         _dmarc.strict IN TXT \"v=DMARC1; p=reject\"\n\
         quar IN TXT \"v=spf1 ip4:127.0.0.2 -all\"\n\
         _dmarc.rollout IN TXT \"v=DMARC1; p=reject; pct=0\"\n\
         _dmarc.quar IN TXT \"v=DMARC1; p=quarantine\"\n\
         {outside_rec}"
    );
    // The province publishes SPF for its outbound gateway and its keys, no DMARC record yet:
    // forged-internal must not depend on one.
    let vn_zone = format!(
        "$ORIGIN vn.\n$TTL 300\n@ IN SOA ns.test. hostmaster.test. 1 3600 600 86400 60\n@ IN NS ns.test.\n\
         angiang.gov IN TXT \"v=spf1 ip4:127.0.0.1 -all\"\n{internal_rec}{ed_rec}"
    );
    let example_zone = format!("$ORIGIN example.\n$TTL 300\n{SOA}");
    let nsd = Nsd::start(&[
        ("test", test_zone),
        ("vn", vn_zone),
        ("example", example_zone),
    ]);
    World {
        nsd,
        keys,
        outside_key,
        internal_key,
        ed_key,
    }
}

fn config(nameserver: &str, internal_key: &Path) -> String {
    config_with(nameserver, internal_key, "")
}

/// [`config`] with more `[[dkim.keys]]` tables (or anything else) at the end.
fn config_with(nameserver: &str, internal_key: &Path, more: &str) -> String {
    format!(
        r#"
[server]
hostname = "gw.test"
trusted_networks = ["127.0.0.1/32"]
internal_domains = ["angiang.gov.vn"]
spool_dir = "{{dir}}"
reload_poll = "0s"
reverse_dns = false

[[listener]]
name = "inbound"
address = "{{listen}}"
role = "inbound"

[listener.upstream]
address = "{{upstream}}"
tls = "off"

[quarantine]
dir = "{{dir}}/quarantine"

[admin]
listen = "{{admin}}"

[dns]
nameservers = ["{nameserver}"]
timeout = "500ms"
attempts = 1
cache_size = 0

[spam.auth]
enabled = true

[dkim]
[[dkim.keys]]
domain = "angiang.gov.vn"
selector = "s1"
key = "{key}"
{more}
"#,
        key = internal_key.display()
    )
}

fn message(from: &str, to: &str, subject: &str, body: &str) -> String {
    format!(
        "From: <{from}>\r\nTo: <{to}>\r\nSubject: {subject}\r\nDate: Wed, 02 Dec 2026 10:00:00 +0700\r\n\
         Message-ID: <{subject}@x>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}"
    )
}

/// `msg` with a DKIM-Signature made by mail-auth's own signer (not locthu's) with `key`.
fn signed_by(key: &Path, domain: &str, msg: &str) -> String {
    let pem = std::fs::read(key).unwrap();
    let key = RsaKey::<Sha256>::from_key_der(PrivateKeyDer::from_pem_slice(&pem).unwrap()).unwrap();
    let sig = DkimSigner::from_key(key)
        .domain(domain)
        .selector("s1")
        .headers(["From", "To", "Subject", "Date", "Message-ID"])
        .sign(msg.as_bytes())
        .unwrap();
    format!("{}{msg}", sig.to_header())
}

/// A delivered message as it left locthu (CRLF again: smtp-sink dumps with LF).
fn delivered(dump: &str) -> String {
    dumped_content(dump).replace('\n', "\r\n")
}

fn header(msg: &str, name: &str) -> Option<String> {
    let mut lines = msg.split("\r\n");
    let prefix = format!("{}:", name.to_ascii_lowercase());
    while let Some(l) = lines.next() {
        if l.is_empty() {
            return None;
        }
        if l.to_ascii_lowercase().starts_with(&prefix) {
            let mut v = l.to_string();
            for c in lines.by_ref() {
                if c.starts_with([' ', '\t']) {
                    v.push_str(c);
                } else {
                    break;
                }
            }
            return Some(v);
        }
    }
    None
}

#[test]
fn inbound_signatures_spf_and_dmarc_are_verified_and_reported() {
    let w = world();
    let sink = Sink::start(&[]);
    let gw = Gateway::start(&config(&w.nsd.addr(), &w.internal_key), sink.addr);

    // A DKIM-signed message from a host SPF allows: delivered with its results.
    let good = signed_by(
        &w.outside_key,
        "sender.test",
        &message(
            "a@sender.test",
            "b@angiang.gov.vn",
            "good",
            "Kính gửi quý cơ quan.\r\n",
        ),
    );
    let mut d = Dialog::open_from(gw.addr, Some("127.0.0.2"));
    let r = d.send_mail("a@sender.test", &["b@angiang.gov.vn"], &good);
    assert!(r.starts_with("250"), "{r}");

    // The same, its body altered after signing: still delivered (SPF passes, aligned, for
    // DMARC), its signature reported broken.
    let broken = signed_by(
        &w.outside_key,
        "sender.test",
        &message(
            "a@sender.test",
            "b@angiang.gov.vn",
            "broken",
            "Số tiền: 1.000.000 đ\r\n",
        ),
    )
    .replace("1.000.000", "9.000.000");
    let mut d = Dialog::open_from(gw.addr, Some("127.0.0.2"));
    let r = d.send_mail("a@sender.test", &["b@angiang.gov.vn"], &broken);
    assert!(r.starts_with("250"), "{r}");

    // From a host sender.test's SPF does not list: SPF fail, scored, delivered (p=none).
    let mut d = Dialog::open_from(gw.addr, Some("127.0.0.3"));
    let r = d.send_mail(
        "a@sender.test",
        &["b@angiang.gov.vn"],
        &message("a@sender.test", "b@angiang.gov.vn", "spffail", "x\r\n"),
    );
    assert!(r.starts_with("250"), "{r}");

    let msgs: Vec<String> = sink.wait_messages(3).iter().map(|m| delivered(m)).collect();
    assert_eq!(msgs.len(), 3);
    let find = |subject: &str| {
        msgs.iter()
            .find(|m| m.contains(&format!("Subject: {subject}\r\n")))
            .unwrap_or_else(|| panic!("{subject} not delivered: {msgs:#?}"))
            .clone()
    };
    let good = find("good");
    let ar = header(&good, "Authentication-Results").expect("A-R on delivered mail");
    assert!(ar.starts_with("Authentication-Results: gw.test;"), "{ar}");
    for want in [
        "dkim=pass",
        "header.d=sender.test",
        "spf=pass",
        "dmarc=pass",
    ] {
        assert!(ar.contains(want), "{want} missing: {ar}");
    }
    let symbols = header(&good, "X-Spam-Symbols").unwrap_or_default();
    assert!(
        symbols.contains("DKIM_VALID")
            && symbols.contains("SPF_PASS")
            && symbols.contains("DMARC_PASS"),
        "{symbols}"
    );

    let broken = find("broken");
    let ar = header(&broken, "Authentication-Results").unwrap();
    assert!(ar.contains("spf=pass") && !ar.contains("dkim=pass"), "{ar}");
    assert!(
        ar.contains("dkim=neutral") || ar.contains("dkim=fail"),
        "{ar}"
    );
    assert!(header(&broken, "X-Spam-Symbols")
        .unwrap()
        .contains("DKIM_INVALID"));

    let spffail = find("spffail");
    let ar = header(&spffail, "Authentication-Results").unwrap();
    assert!(ar.contains("spf=fail") && ar.contains("dmarc=fail"), "{ar}");
    let symbols = header(&spffail, "X-Spam-Symbols").unwrap();
    assert!(
        symbols.contains("SPF_FAIL") && symbols.contains("DMARC_FAIL_NONE"),
        "{symbols}"
    );

    // Counted by method and result.
    assert!(gw.metric("locthu_auth_results_total{method=\"dkim\",result=\"pass\"}") >= 1.0);
    assert!(gw.metric("locthu_auth_results_total{method=\"spf\",result=\"fail\"}") >= 1.0);
}

#[test]
fn dmarc_reject_and_forged_internal_senders_are_refused() {
    let w = world();
    let sink = Sink::start(&[]);
    let gw = Gateway::start(&config(&w.nsd.addr(), &w.internal_key), sink.addr);

    // strict.test publishes p=reject; from a host its SPF does not list, unsigned.
    let mut d = Dialog::open_from(gw.addr, Some("127.0.0.3"));
    let r = d.send_mail(
        "a@strict.test",
        &["b@angiang.gov.vn"],
        &message("a@strict.test", "b@angiang.gov.vn", "dmarc", "x\r\n"),
    );
    assert!(
        r.starts_with("550 5.7.1") && r.contains("(rule dmarc)") && r.contains("p=reject"),
        "{r}"
    );

    // p=quarantine: held for review, not delivered.
    let mut d = Dialog::open_from(gw.addr, Some("127.0.0.3"));
    let r = d.send_mail(
        "a@quar.test",
        &["b@angiang.gov.vn"],
        &message("a@quar.test", "b@angiang.gov.vn", "quar", "x\r\n"),
    );
    assert!(r.starts_with("250") && r.contains("held for review"), "{r}");
    let o = Command::new(env!("CARGO_BIN_EXE_locthu"))
        .args(["quarantine", "--config"])
        .arg(&gw.config)
        .arg("list")
        .output()
        .unwrap();
    let list = String::from_utf8_lossy(&o.stdout);
    assert!(
        list.contains("dmarc") && list.contains("a@quar.test"),
        "{list}"
    );

    // p=reject; pct=0 (a domain rolling DMARC out): the milder policy, quarantine.
    let mut d = Dialog::open_from(gw.addr, Some("127.0.0.3"));
    let r = d.send_mail(
        "a@rollout.test",
        &["b@angiang.gov.vn"],
        &message("a@rollout.test", "b@angiang.gov.vn", "rollout", "x\r\n"),
    );
    assert!(r.starts_with("250") && r.contains("held for review"), "{r}");

    // An outsider (SPF passes for its own envelope domain) writes From the province's
    // director: no SPF or DKIM pass for angiang.gov.vn, refused whatever the score.
    let mut d = Dialog::open_from(gw.addr, Some("127.0.0.2"));
    let r = d.send_mail(
        "a@sender.test",
        &["b@angiang.gov.vn"],
        &message(
            "giamdoc@angiang.gov.vn",
            "b@angiang.gov.vn",
            "forged",
            "Chuyển khoản gấp.\r\n",
        ),
    );
    assert!(
        r.starts_with("550 5.7.1")
            && r.contains("(rule forged-internal)")
            && r.contains("mạo danh")
            && r.contains("angiang.gov.vn"),
        "{r}"
    );
    // The envelope alone claiming a subdomain of the province is refused too.
    let mut d = Dialog::open_from(gw.addr, Some("127.0.0.2"));
    let r = d.send_mail(
        "vanthu@so.angiang.gov.vn",
        &["b@angiang.gov.vn"],
        &message("a@sender.test", "b@angiang.gov.vn", "forged2", "x\r\n"),
    );
    assert!(r.contains("(rule forged-internal)"), "{r}");
    // A province message that really is signed by the province passes on the way back in
    // (e.g. through a forwarder outside): the DKIM pass aligns.
    let signed = signed_by(
        &w.internal_key,
        "angiang.gov.vn",
        &message(
            "vanthu@angiang.gov.vn",
            "b@angiang.gov.vn",
            "returned",
            "x\r\n",
        ),
    );
    let mut d = Dialog::open_from(gw.addr, Some("127.0.0.2"));
    let r = d.send_mail("fwd@sender.test", &["b@angiang.gov.vn"], &signed);
    assert!(r.starts_with("250"), "{r}");
    assert_eq!(sink.wait_messages(1).len(), 1);
}

#[test]
fn outbound_mail_is_signed_by_locthu_and_verifies() {
    let w = world();
    let sink = Sink::start(&[]);
    let ed = format!(
        "[[dkim.keys]]\ndomain = \"stp.angiang.gov.vn\"\nselector = \"ed1\"\nkey = \"{}\"\n",
        w.ed_key.display()
    );
    let gw = Gateway::start(&config_with(&w.nsd.addr(), &w.internal_key, &ed), sink.addr);
    // From the trusted network (the province's own server), to the outside.
    let body = "Kính gửi Sở Tài chính,\r\nCông văn số 123/UBND.\r\n\r\n\r\n";
    let mut d = Dialog::open_from(gw.addr, Some("127.0.0.1"));
    let r = d.send_mail(
        "vanthu@so.angiang.gov.vn",
        &["x@sender.test"],
        &message(
            "vanthu@so.angiang.gov.vn",
            "x@sender.test",
            "outbound",
            body,
        ),
    );
    assert!(r.starts_with("250"), "{r}");
    let dump = sink.wait_messages(1);
    assert_eq!(dump.len(), 1);
    let out = delivered(&dump[0]);
    let sig = header(&out, "DKIM-Signature").expect("signed");
    assert!(
        sig.contains("d=angiang.gov.vn") && sig.contains("s=s1"),
        "{sig}"
    );
    assert!(sig.contains("c=relaxed/relaxed"), "{sig}");
    // From oversigned: listed once more than it occurs.
    let h: String = sig
        .split(';')
        .find(|t| t.trim_start().starts_with("h="))
        .unwrap()
        .split_whitespace()
        .collect();
    assert!(h.to_ascii_lowercase().contains("from:from"), "{h}");
    // Outbound mail gets no Authentication-Results of ours: it was not verified.
    assert!(header(&out, "Authentication-Results").is_none(), "{out}");

    // Verified by mail-auth with the key published on nsd.
    let dns = locthu::config::Dns {
        nameservers: vec![w.nsd.addr()],
        timeout: locthu::config::Span(Duration::from_millis(500)),
        attempts: 2,
        cache_size: 0,
    };
    let (servers, opts) = locthu::dns::hickory_settings(&dns).unwrap();
    let verifier = MessageAuthenticator::new(servers, opts).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let parsed = AuthenticatedMessage::parse(out.as_bytes()).unwrap();
    let results = rt.block_on(verifier.verify_dkim(&parsed));
    assert_eq!(results.len(), 1);
    assert_eq!(results[0].result(), &DkimResult::Pass, "{out}");
    // And an altered copy does not.
    let altered = out.replace("123/UBND", "124/UBND");
    let parsed = AuthenticatedMessage::parse(altered.as_bytes()).unwrap();
    let results = rt.block_on(verifier.verify_dkim(&parsed));
    assert_ne!(results[0].result(), &DkimResult::Pass);

    // An agency with an Ed25519 key of its own (RFC 8463): its key, not the parent's.
    let mut d = Dialog::open_from(gw.addr, Some("127.0.0.1"));
    let r = d.send_mail(
        "ketoan@stp.angiang.gov.vn",
        &["x@sender.test"],
        &message("ketoan@stp.angiang.gov.vn", "x@sender.test", "ed", body),
    );
    assert!(r.starts_with("250"), "{r}");
    let dump = sink.wait_messages(2);
    let out = dump
        .iter()
        .map(|m| delivered(m))
        .find(|m| m.contains("Subject: ed\r\n"))
        .unwrap();
    let sig = header(&out, "DKIM-Signature").expect("signed");
    assert!(
        sig.contains("a=ed25519-sha256") && sig.contains("d=stp.angiang.gov.vn"),
        "{sig}"
    );
    let parsed = AuthenticatedMessage::parse(out.as_bytes()).unwrap();
    let results = rt.block_on(verifier.verify_dkim(&parsed));
    assert_eq!(results[0].result(), &DkimResult::Pass, "{out}");
    drop(w.keys);
}

#[test]
fn a_dns_server_that_does_not_answer_rejects_nothing() {
    let w = world();
    // A UDP socket that reads queries and never answers.
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let silent_addr = silent.local_addr().unwrap().to_string();
    let sink = Sink::start(&[]);
    // Each query would wait 3 s; spam.auth.deadline cuts every method at 300 ms.
    let cfg = config(&silent_addr, &w.internal_key)
        .replace("timeout = \"500ms\"", "timeout = \"3s\"")
        .replace("enabled = true\n", "enabled = true\ndeadline = \"300ms\"\n");
    assert!(cfg.contains("deadline = \"300ms\"") && cfg.contains("timeout = \"3s\""));
    let gw = Gateway::start(&cfg, sink.addr);

    // strict.test's p=reject cannot be read: delivered, not refused.
    let started = Instant::now();
    let mut d = Dialog::open_from(gw.addr, Some("127.0.0.3"));
    let r = d.send_mail(
        "a@strict.test",
        &["b@angiang.gov.vn"],
        &message("a@strict.test", "b@angiang.gov.vn", "dnsdown", "x\r\n"),
    );
    assert!(r.starts_with("250"), "{r}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let m = delivered(&sink.wait_messages(1)[0]);
    let ar = header(&m, "Authentication-Results").unwrap();
    assert!(ar.contains("spf=temperror"), "{ar}");

    // A claimed internal sender that cannot be checked is asked to retry, never refused.
    let mut d = Dialog::open_from(gw.addr, Some("127.0.0.2"));
    let r = d.send_mail(
        "a@sender.test",
        &["b@angiang.gov.vn"],
        &message(
            "giamdoc@angiang.gov.vn",
            "b@angiang.gov.vn",
            "unsure",
            "x\r\n",
        ),
    );
    assert!(
        r.starts_with("451") && r.contains("(rule forged-internal)"),
        "{r}"
    );
    drop(silent);
}

#[test]
fn a_broken_key_file_is_a_config_error_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("bad.pem");
    std::fs::write(
        &key,
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    let cfg = config("127.0.0.1:9", &key)
        .replace("{dir}", &dir.path().display().to_string())
        .replace("{listen}", "127.0.0.1:2525")
        .replace("{upstream}", "127.0.0.1:2526")
        .replace("{admin}", "127.0.0.1:2527");
    let path = dir.path().join("locthu.toml");
    std::fs::write(&path, &cfg).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_locthu"))
        .args(["check-config", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    let line = cfg.lines().position(|l| l.starts_with("key = ")).unwrap() + 1;
    assert!(!o.status.success());
    assert!(
        err.contains(&format!("locthu.toml:{line}: dkim.keys.0.key:")) && err.contains("bad.pem"),
        "line {line}: {err}"
    );
}

/// What verification costs per message, DNS answers cached (as for a sender seen before):
/// SPF, DKIM (RSA-2048) and DMARC over a 20 KB message; and what signing one costs. Run with
/// `cargo test --test auth verification_cost -- --ignored --nocapture`.
#[test]
#[ignore]
fn verification_cost() {
    use mail_auth::dmarc::verify::DmarcParameters;
    use mail_auth::spf::verify::SpfParameters;
    use mail_auth::Parameters;

    let w = world();
    let dns = locthu::config::Dns {
        nameservers: vec![w.nsd.addr()],
        timeout: locthu::config::Span(Duration::from_millis(500)),
        attempts: 2,
        cache_size: 0,
    };
    let auth = locthu::auth::Authenticator::new(&dns, 10_000).unwrap();
    let body = "Kính gửi các cơ quan, đơn vị trực thuộc tỉnh.\r\n".repeat(400);
    let msg = signed_by(
        &w.outside_key,
        "sender.test",
        &message("a@sender.test", "b@angiang.gov.vn", "cost", &body),
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    let ip = "127.0.0.2".parse().unwrap();
    let once = || {
        rt.block_on(async {
            let m = AuthenticatedMessage::parse(msg.as_bytes()).unwrap();
            let c = &auth.caches;
            let spf = auth
                .resolver
                .verify_spf(
                    Parameters::new(SpfParameters::mail_from(
                        ip,
                        "client.example",
                        "gw.test",
                        "a@sender.test",
                    ))
                    .with_cache(c),
                )
                .await;
            let dkim = auth
                .resolver
                .verify_dkim(Parameters::new(&m).with_cache(c))
                .await;
            let dmarc = auth
                .resolver
                .verify_dmarc(
                    Parameters::new(DmarcParameters::new(&m, &dkim, "sender.test", &spf))
                        .with_cache(c),
                )
                .await;
            assert_eq!(dkim[0].result(), &DkimResult::Pass);
            assert_eq!(dmarc.result(), mail_auth::DmarcResult::Pass);
        })
    };
    let cold = Instant::now();
    once();
    let cold = cold.elapsed();
    let n = 200;
    let start = Instant::now();
    for _ in 0..n {
        once();
    }
    let verify = start.elapsed() / n;

    // locthu's signer on the path a delivery takes: head from the spool, body after it.
    let cfg = locthu::config::dkim::DkimConfig {
        keys: vec![locthu::config::dkim::DkimKey {
            domain: "angiang.gov.vn".into(),
            selector: "s1".into(),
            key: w.internal_key.clone(),
        }],
        ..Default::default()
    };
    let signer = locthu::auth::sign::Signer::new(&cfg, Path::new("/")).unwrap();
    let outbound = message("vanthu@angiang.gov.vn", "x@sender.test", "cost", &body);
    let split = outbound.find("\r\n\r\n").unwrap() + 2;
    let spool = locthu::spool::Spool::from_bytes(outbound.clone().into_bytes());
    let out = locthu::engine::Outgoing {
        head: &outbound.as_bytes()[..split],
        spool: &spool,
        body_offset: split as u64 + 2,
    };
    let start = Instant::now();
    for _ in 0..n {
        let sig = signer.sign(&out).unwrap().unwrap();
        assert!(sig.starts_with("DKIM-Signature:"));
    }
    let sign = start.elapsed() / n;
    println!(
        "message {} bytes: first (DNS) {:?}, cached SPF+DKIM+DMARC {:?}/message, RSA-2048 signing (ring) {:?}/message",
        msg.len(),
        cold,
        verify,
        sign
    );
}

#[test]
fn an_arc_chain_sealed_by_a_forwarder_is_verified() {
    use mail_auth::arc::ArcSealer;
    use mail_auth::{ArcOutput, AuthenticationResults};
    let w = world();
    let sink = Sink::start(&[]);
    let gw = Gateway::start(&config(&w.nsd.addr(), &w.internal_key), sink.addr);
    // A list at sender.test forwards a message and seals what it saw (RFC 8617 §5.1).
    let original = message("a@example.org", "list@sender.test", "arc", "Thông báo.\r\n");
    let parsed = AuthenticatedMessage::parse(original.as_bytes()).unwrap();
    let seen = AuthenticationResults::new("mx.sender.test");
    let pem = std::fs::read(&w.outside_key).unwrap();
    let key = RsaKey::<Sha256>::from_key_der(PrivateKeyDer::from_pem_slice(&pem).unwrap()).unwrap();
    let set = ArcSealer::from_key(key)
        .domain("sender.test")
        .selector("s1")
        .headers(["From", "To", "Subject", "Date", "Message-ID"])
        .seal(&parsed, &seen, &ArcOutput::default())
        .unwrap();
    let sealed = format!("{}{original}", set.to_header());
    let mut d = Dialog::open_from(gw.addr, Some("127.0.0.2"));
    let r = d.send_mail("list@sender.test", &["b@angiang.gov.vn"], &sealed);
    assert!(r.starts_with("250"), "{r}");
    let m = delivered(&sink.wait_messages(1)[0]);
    let ar = header(&m, "Authentication-Results").unwrap();
    assert!(ar.contains("arc=pass"), "{ar}");
    assert!(header(&m, "X-Spam-Symbols").unwrap().contains("ARC_PASS"));
    // Altered on the way: the chain no longer validates.
    let broken = sealed.replace("Thông báo.", "Thông báo khác.");
    let mut d = Dialog::open_from(gw.addr, Some("127.0.0.2"));
    let r = d.send_mail("list@sender.test", &["b@angiang.gov.vn"], &broken);
    assert!(r.starts_with("250"), "{r}");
    let m = sink.wait_messages(2);
    let m = delivered(m.iter().find(|m| m.contains("khác")).unwrap());
    let ar = header(&m, "Authentication-Results").unwrap();
    assert!(!ar.contains("arc=pass") && ar.contains("arc="), "{ar}");
    assert!(header(&m, "X-Spam-Symbols").unwrap().contains("ARC_FAIL"));
}
