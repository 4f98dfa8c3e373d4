//! Issue 10: DNS blocklists for the client address and URI blocklists for linked domains,
//! through `locthu serve` in front of a real smtp-sink, against a private `nsd` on a loopback
//! port serving zones written here. No query leaves the machine: the gateway's resolver
//! points only at that nsd (or at a socket that never answers).

mod common;

use std::net::UdpSocket;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Dialog, Gateway, Sink};

/// One `test.` zone holds every list: `bl.test` and `reject.test` (client addresses),
/// `uribl.test` (domains, SURBL-style bitmask answers).
const ZONE: &str = r#"$ORIGIN test.
$TTL 300
@       IN SOA ns.test. hostmaster.test. 1 3600 600 86400 60
@       IN NS  ns.test.
ns      IN A   127.0.0.1
; RFC 5782 §5 test entry, for a client connecting from 127.0.0.2 itself.
2.0.0.127.bl           IN A 127.0.0.2
; 192.0.2.99: listed twice (two meanings).
99.2.0.192.bl          IN A 127.0.0.2
99.2.0.192.bl          IN A 127.0.0.4
; 192.0.2.98: the list refuses the query (Spamhaus's "open resolver" code).
98.2.0.192.bl          IN A 127.255.255.254
; 203.0.113.66: a spam source seen in a Received hop behind our relay.
66.113.0.203.bl        IN A 127.0.0.2
; 2001:db8::2, reversed nibbles (RFC 5782 §2.4).
2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.bl IN A 127.0.0.2
; 192.0.2.77: on the high-confidence list that rejects.
77.2.0.192.reject      IN A 127.0.0.2
; URI lists: registrable domains, and one IPv4 literal.
lua-dao.com.vn.uribl   IN A 127.0.0.8
refused.com.vn.uribl   IN A 127.0.0.1
5.113.0.203.uribl      IN A 127.0.0.10
"#;

/// A private nsd (config, zone, pid file, log in a temp dir), stopped on drop.
struct Nsd {
    port: u16,
    child: Child,
    dir: tempfile::TempDir,
}

impl Nsd {
    fn start() -> Nsd {
        let bin = common::require("nsd");
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let port = common::free_port();
        std::fs::write(d.join("test.zone"), ZONE).unwrap();
        let conf = format!(
            r#"server:
    port: {port}
    ip-address: 127.0.0.1
    do-ip6: no
    server-count: 1
    username: ""
    chroot: ""
    zonesdir: "{d}"
    pidfile: "{d}/nsd.pid"
    database: ""
    zonelistfile: "{d}/zone.list"
    xfrdfile: "{d}/xfrd.state"
    xfrdir: "{d}"
    logfile: "{d}/nsd.log"
    verbosity: 1
remote-control:
    control-enable: no
zone:
    name: test
    zonefile: test.zone
"#,
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

    fn stop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
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

impl Drop for Nsd {
    fn drop(&mut self) {
        self.stop();
    }
}

const CONFIG: &str = r#"
[server]
hostname = "gw.test"
trusted_networks = ["127.0.0.1/32"]
proxy_peers = ["127.0.0.1/32"]
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

[admin]
listen = "{admin}"

[dns]
nameservers = ["{ns}"]
timeout = "400ms"
attempts = 1
cache_size = 0

[spam.inbound]
tag = 5
reject = 50

[spam.outbound]
tag = 5
reject = 50

[spam.dnsbl]
enabled = true
# The client connecting from 127.0.0.2 is looked up (RFC 5782 §5 test address).
lookup_private = true
timeout = "{zone_timeout}"
message_timeout = "2s"
cache_size = {cache}

[[spam.dnsbl.zones]]
zone = "bl.test"
errors = ["127.255.255.0/24"]
codes."127.0.0.2" = { symbol = "TEST_BL", score = 3.0 }
codes."127.0.0.4" = { symbol = "TEST_BL_XBL", score = 2.5 }

[[spam.dnsbl.zones]]
zone = "reject.test"
action = "reject"
listed = { symbol = "TEST_REJECT", score = 0 }

[spam.uribl]
enabled = true
timeout = "{zone_timeout}"
message_timeout = "2s"
cache_size = {cache}

[[spam.uribl.zones]]
zone = "uribl.test"
errors = ["127.0.0.1"]
bits."2" = { symbol = "TEST_URI_BLACK", score = 2.0 }
bits."8" = { symbol = "TEST_URI_PH", score = 4.0 }
"#;

fn gateway(ns: &str, sink: &Sink, cache: u64, zone_timeout: &str) -> Gateway {
    let text = CONFIG
        .replace("{ns}", ns)
        .replace("{cache}", &cache.to_string())
        .replace("{zone_timeout}", zone_timeout);
    Gateway::start(&text, sink.addr)
}

fn b64(s: &str) -> String {
    const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in s.as_bytes().chunks(3) {
        let n = c
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (*b as u32) << (16 - 8 * i));
        for i in 0..4 {
            out.push(if i <= c.len() {
                T[(n >> (18 - 6 * i) & 63) as usize] as char
            } else {
                '='
            });
        }
    }
    out
}

/// A plain message with `subject` (each test's own marker) and `extra` header lines on top.
fn plain(subject: &str, extra: &str) -> String {
    format!(
        "{extra}From: <a@example.org>\r\nTo: <b@angiang.gov.vn>\r\nSubject: {subject}\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nKính gửi quý cơ quan.\r\n"
    )
}

fn plain_body(subject: &str, body: &str) -> String {
    plain(subject, "").replace("Kính gửi quý cơ quan.", body)
}

/// A message whose only link is in a base64 HTML part.
fn html(subject: &str, body: &str) -> String {
    format!(
        "From: <a@example.org>\r\nTo: <b@angiang.gov.vn>\r\nSubject: {subject}\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/alternative; boundary=\"b\"\r\n\r\n--b\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\nXem thư dạng HTML.\r\n--b\r\n\
         Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--b--\r\n",
        b64(body)
    )
}

/// Sends `message` from `client` (named with XCLIENT from the trusted proxy 127.0.0.1, or
/// `None` to stay 127.0.0.1) and returns the final reply.
fn send(gw: &Gateway, client: Option<&str>, message: &str) -> String {
    let mut d = Dialog::open_from(gw.addr, Some("127.0.0.1"));
    if let Some(addr) = client {
        d.cmd("EHLO proxy.test", "250");
        d.cmd(&format!("XCLIENT ADDR={addr}"), "220");
    }
    d.send_mail("a@example.org", &["b@angiang.gov.vn"], message)
}

/// The X-Spam-Symbols field of the delivered message with `subject`.
fn symbols(sink: &Sink, subject: &str) -> String {
    let start = Instant::now();
    loop {
        for m in sink.messages() {
            if m.contains(&format!("Subject: {subject}\n")) {
                let mut out = String::new();
                let mut lines = m.lines();
                while let Some(l) = lines.next() {
                    if let Some(v) = l.strip_prefix("X-Spam-Symbols:") {
                        out.push_str(v);
                        for cont in lines.by_ref() {
                            if !cont.starts_with('\t') {
                                break;
                            }
                            out.push_str(cont);
                        }
                        return out;
                    }
                }
                return out;
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "no delivered message with Subject {subject}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn seconds(gw: &Gateway, list: &str, zone: &str) -> (f64, f64) {
    let labels = format!("{{list=\"{list}\",zone=\"{zone}\"}}");
    (
        gw.metric(&format!("locthu_dnsbl_lookup_seconds_sum{labels}")),
        gw.metric(&format!("locthu_dnsbl_lookup_seconds_count{labels}")),
    )
}

#[test]
fn listed_clients_score_their_symbols_and_refusal_codes_count_as_errors() {
    let nsd = Nsd::start();
    let sink = Sink::start(&[]);
    let gw = gateway(&nsd.addr(), &sink, 0, "1s");

    // Listed twice: both meanings, 5.5 in all, tagged (tag = 5).
    let r = send(&gw, Some("192.0.2.99"), &plain("m-listed", ""));
    assert!(r.starts_with("250"), "{r}");
    let s = symbols(&sink, "m-listed");
    assert!(
        s.contains("TEST_BL=3.00") && s.contains("TEST_BL_XBL=2.50"),
        "{s}"
    );

    // IPv6 client: reversed nibbles.
    let r = send(&gw, Some("IPV6:2001:db8::2"), &plain("m-ipv6", ""));
    assert!(r.starts_with("250"), "{r}");
    assert!(symbols(&sink, "m-ipv6").contains("TEST_BL=3.00"));

    // The list refuses the query (127.255.255.254): no symbol, a zone error counted.
    let before = gw
        .metric("locthu_dnsbl_failures_total{kind=\"error_code\",list=\"dnsbl\",zone=\"bl.test\"}");
    let r = send(&gw, Some("192.0.2.98"), &plain("m-refused", ""));
    assert!(r.starts_with("250"), "{r}");
    assert!(!symbols(&sink, "m-refused").contains("TEST_BL"));
    let after = gw
        .metric("locthu_dnsbl_failures_total{kind=\"error_code\",list=\"dnsbl\",zone=\"bl.test\"}");
    assert_eq!(after, before + 1.0);

    // An unlisted client: nothing.
    let r = send(&gw, Some("192.0.2.1"), &plain("m-clean", ""));
    assert!(r.starts_with("250"), "{r}");
    assert!(!symbols(&sink, "m-clean").contains("TEST_"));

    // A client connecting from the RFC 5782 test address itself (lookup_private = true).
    let mut d = Dialog::open_from(gw.addr, Some("127.0.0.2"));
    let r = d.send_mail(
        "a@example.org",
        &["b@angiang.gov.vn"],
        &plain("m-loopback", ""),
    );
    assert!(r.starts_with("250"), "{r}");
    assert!(symbols(&sink, "m-loopback").contains("TEST_BL=3.00"));

    let (sum, count) = seconds(&gw, "dnsbl", "bl.test");
    assert!(count >= 5.0, "{count}");
    eprintln!(
        "dnsbl lookups through nsd: {count} queries, mean {:.3} ms",
        sum / count * 1000.0
    );
}

#[test]
fn behind_our_relay_the_first_untrusted_received_hop_is_judged() {
    let nsd = Nsd::start();
    let sink = Sink::start(&[]);
    let gw = gateway(&nsd.addr(), &sink, 0, "1s");
    // From the trusted relay 127.0.0.1 itself: its own hop (from a private address) is ours,
    // the one before it is the spam source.
    let received = "Received: from relay.angiang.gov.vn (relay.angiang.gov.vn [10.1.1.2])\r\n\
                    \tby mx.angiang.gov.vn (Postfix) with ESMTP id 1; Wed, 2 Dec 2026 10:00:00 +0700\r\n\
                    Received: from [198.51.100.1] (spam.example [203.0.113.66])\r\n\
                    \tby relay.angiang.gov.vn (Postfix) with ESMTP id 2; Wed, 2 Dec 2026 09:59:59 +0700\r\n";
    let r = send(&gw, None, &plain("m-hop", received));
    assert!(r.starts_with("250"), "{r}");
    assert!(symbols(&sink, "m-hop").contains("TEST_BL=3.00"));
    // The same path after an authenticated submission: our own user, not looked up.
    let submitted = "Received: from [192.168.1.5] (adsl.example [203.0.113.66])\r\n\
                     \tby mail.angiang.gov.vn (Postfix) with ESMTPSA id 3; Wed, 2 Dec 2026 10:00:00 +0700\r\n";
    let r = send(&gw, None, &plain("m-submitted", submitted));
    assert!(r.starts_with("250"), "{r}");
    assert!(!symbols(&sink, "m-submitted").contains("TEST_BL"));
}

#[test]
fn a_reject_zone_refuses_at_mail_from_naming_the_zone() {
    let nsd = Nsd::start();
    let sink = Sink::start(&[]);
    let gw = gateway(&nsd.addr(), &sink, 0, "1s");
    let mut d = Dialog::open_from(gw.addr, Some("127.0.0.1"));
    d.cmd("EHLO proxy.test", "250");
    d.cmd("XCLIENT ADDR=192.0.2.77", "220");
    d.cmd("EHLO client.example", "250");
    let r = d.cmd("MAIL FROM:<a@example.org>", "554");
    assert!(
        r.starts_with("554 5.7.1") && r.contains("reject.test") && r.contains("192.0.2.77"),
        "{r}"
    );
    // A client the zone does not list gets through.
    let r = send(&gw, Some("192.0.2.1"), &plain("m-pass", ""));
    assert!(r.starts_with("250"), "{r}");
}

#[test]
fn linked_domains_are_reduced_and_looked_up() {
    let nsd = Nsd::start();
    let sink = Sink::start(&[]);
    let gw = gateway(&nsd.addr(), &sink, 0, "1s");
    // A subdomain of the listed domain, in a base64 HTML part: reduced with the public
    // suffix list (khuyen-mai.lua-dao.com.vn -> lua-dao.com.vn), answered 127.0.0.8.
    let r = send(
        &gw,
        Some("192.0.2.1"),
        &html(
            "m-uri",
            "<p>Nhận thưởng <a href=\"https://khuyen-mai.lua-dao.com.vn/nhan?id=1\">tại đây</a></p>",
        ),
    );
    assert!(r.starts_with("250"), "{r}");
    let s = symbols(&sink, "m-uri");
    assert!(
        s.contains("TEST_URI_PH=4.00") && !s.contains("TEST_URI_BLACK"),
        "{s}"
    );

    // An IP-literal link, reversed octets: 127.0.0.10 sets bits 2 and 8.
    let r = send(
        &gw,
        Some("192.0.2.1"),
        &html(
            "m-uri-ip",
            "<a href=\"http://203.0.113.5/dang-nhap\">Đăng nhập</a>",
        ),
    );
    assert!(r.starts_with("250"), "{r}");
    let s = symbols(&sink, "m-uri-ip");
    assert!(
        s.contains("TEST_URI_PH") && s.contains("TEST_URI_BLACK"),
        "{s}"
    );

    // A domain written bare in a plain-text body.
    let r = send(
        &gw,
        Some("192.0.2.1"),
        &plain_body(
            "m-uri-bare",
            "Truy cập ngay Lua-Dao.com.vn để nhận thưởng 5.000.000đ.",
        ),
    );
    assert!(r.starts_with("250"), "{r}");
    assert!(symbols(&sink, "m-uri-bare").contains("TEST_URI_PH=4.00"));

    // The list's "refused" code, and the province's own domain (never looked up).
    let before = gw.metric("locthu_dnsbl_failures_total{kind=\"error_code\",list=\"uribl\"");
    let r = send(
        &gw,
        Some("192.0.2.1"),
        &html(
            "m-uri-refused",
            "<a href=\"https://www.refused.com.vn/\">x</a> <a href=\"https://so-tc.angiang.gov.vn/\">y</a>",
        ),
    );
    assert!(r.starts_with("250"), "{r}");
    assert!(!symbols(&sink, "m-uri-refused").contains("TEST_URI"));
    let after = gw.metric("locthu_dnsbl_failures_total{kind=\"error_code\",list=\"uribl\"");
    assert_eq!(after, before + 1.0);
}

#[test]
fn a_dead_resolver_decides_nothing_and_the_mail_flows() {
    // Bound and never read: every query vanishes.
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let sink = Sink::start(&[]);
    let gw = gateway(&silent.local_addr().unwrap().to_string(), &sink, 0, "300ms");
    let started = Instant::now();
    let r = send(
        &gw,
        Some("192.0.2.99"),
        &html("m-dead", "<a href=\"https://lua-dao.com.vn/\">x</a>"),
    );
    let took = started.elapsed();
    assert!(r.starts_with("250"), "{r}");
    assert!(!symbols(&sink, "m-dead").contains("TEST_"));
    // Each zone waits its 300 ms; the message waits for them together, not in turn.
    assert!(took < Duration::from_secs(2), "{took:?}");
    for (list, zone) in [("dnsbl", "bl.test"), ("uribl", "uribl.test")] {
        let n = gw.metric(&format!(
            "locthu_dnsbl_failures_total{{kind=\"timeout\",list=\"{list}\",zone=\"{zone}\"}}"
        ));
        assert!(n >= 1.0, "{list} {zone}: {n}");
    }
    drop(silent);
}

#[test]
fn answers_are_cached_and_lookups_started_at_connect_are_joined() {
    let mut nsd = Nsd::start();
    let sink = Sink::start(&[]);
    let gw = gateway(&nsd.addr(), &sink, 1000, "1s");
    let r = send(&gw, Some("192.0.2.99"), &plain("m-first", ""));
    assert!(r.starts_with("250"), "{r}");
    assert!(symbols(&sink, "m-first").contains("TEST_BL=3.00"));
    // Two zones, one query each: the end of DATA waited on the lookups CONNECT started.
    let (_, queries) = seconds(&gw, "dnsbl", "bl.test");
    assert_eq!(queries, 1.0);
    // nsd gone, the same client is still known listed, from the cache.
    nsd.stop();
    let r = send(&gw, Some("192.0.2.99"), &plain("m-cached", ""));
    assert!(r.starts_with("250"), "{r}");
    assert!(symbols(&sink, "m-cached").contains("TEST_BL=3.00"));
    let (_, queries) = seconds(&gw, "dnsbl", "bl.test");
    assert_eq!(queries, 1.0);
    // A reload keeps the answers; the zone's changed meaning applies at once.
    let text = std::fs::read_to_string(&gw.config).unwrap();
    std::fs::write(
        &gw.config,
        text.replace(
            "symbol = \"TEST_BL\", score = 3.0",
            "symbol = \"TEST_BL\", score = 3.5",
        ),
    )
    .unwrap();
    gw.signal("-HUP");
    let start = Instant::now();
    while !gw.log().contains("config reloaded") {
        assert!(start.elapsed() < Duration::from_secs(10), "{}", gw.log());
        std::thread::sleep(Duration::from_millis(20));
    }
    let r = send(&gw, Some("192.0.2.99"), &plain("m-reloaded", ""));
    assert!(r.starts_with("250"), "{r}");
    assert!(symbols(&sink, "m-reloaded").contains("TEST_BL=3.50"));
    let hits = gw.metric("locthu_dnsbl_cache_total{list=\"dnsbl\",result=\"hit\"}");
    let misses = gw.metric("locthu_dnsbl_cache_total{list=\"dnsbl\",result=\"miss\"}");
    eprintln!("dnsbl cache: {hits} hits, {misses} misses over three messages");
    assert!(hits >= 2.0, "{hits}");
}

#[test]
fn bad_zone_settings_are_refused_with_their_keys() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("locthu.toml");
    std::fs::write(
        &path,
        "[spam.dnsbl]\nenabled = true\nmessage_timeout = \"20s\"\n\n\
         [[spam.dnsbl.zones]]\nzone = \"zen.spamhaus.org\"\nerrors = [\"127.255.255\"]\n\
         codes.\"127.0.0.2\" = { symbol = \"SBL\", score = 4 }\n\n\
         [spam.uribl]\n[[spam.uribl.zones]]\nzone = \"multi.uribl.test\"\nbits.\"3\" = { symbol = \"X\", score = 1 }\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_locthu"))
        .args(["check-config", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    for want in [
        "locthu.toml:3: spam.dnsbl.message_timeout must be below limits.stage_timeout",
        "spam.dnsbl.zones[0].errors: `127.255.255` is not an IPv4 address or range",
        // Checked even while the URI lists are off.
        "spam.uribl.zones[0].bits: `3` must be one bit",
    ] {
        assert!(text.contains(want), "{want}\n{text}");
    }
}
