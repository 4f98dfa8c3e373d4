//! The DNS resolver (`Services::resolver`, `locthu::dns`) against a real authoritative server: a
//! private `nsd` on a free loopback port serving a `test.` zone written here. Every resolver in
//! this file points only at loopback; no query leaves the machine.

mod common;

use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use locthu::config::{Dns, Span};
use locthu::dns::{DnsError, Resolver};
use locthu::services::Services;

const ZONE: &str = r#"$ORIGIN test.
$TTL 300
@       IN SOA ns.test. hostmaster.test. 1 3600 600 86400 60
@       IN NS  ns.test.
ns      IN A   127.0.0.1
mail    IN A   192.0.2.10
mail    IN A   192.0.2.11
@       IN TXT "v=spf1 ip4:192.0.2.0/24 " "a:mail.test -all"
@       IN TXT "other=record"
; DNSBL listings (RFC 5782 §2): 127.0.0.2 and 2001:db8::2
2.0.0.127.bl IN A 127.0.0.2
2.0.0.127.bl IN TXT "listed for testing"
2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.bl IN A 127.0.0.4
"#;

/// A private nsd: its config, zone, pid file and log in a temp dir; stopped on drop.
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
        // id 0x1234, RD off, one question: test. SOA IN.
        let query = [
            0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 4, b't', b'e', b's', b't', 0, 0, 6, 0, 1,
        ];
        let start = Instant::now();
        let mut buf = [0u8; 512];
        loop {
            sock.send_to(&query, ("127.0.0.1", self.port)).unwrap();
            if let Ok(n) = sock.recv(&mut buf) {
                // An answer (QR set), NOERROR, at least one answer record.
                if n > 12 && buf[0..2] == [0x12, 0x34] && buf[3] & 0x0f == 0 && buf[7] > 0 {
                    return;
                }
            }
            if start.elapsed() > Duration::from_secs(10) {
                let log =
                    std::fs::read_to_string(self.dir.path().join("nsd.log")).unwrap_or_default();
                panic!(
                    "nsd on port {} not answering after 10 s; log:\n{log}",
                    self.port
                );
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
        // SIGTERM: nsd's main process stops its server and xfrd children too.
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

fn settings(nameserver: &str) -> Dns {
    Dns {
        nameservers: vec![nameserver.to_string()],
        timeout: Span(Duration::from_millis(500)),
        attempts: 2,
        cache_size: 64,
    }
}

fn resolver(nsd: &Nsd) -> Resolver {
    Services::new().resolver(&settings(&nsd.addr())).unwrap()
}

fn v4(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

#[tokio::test]
async fn a_records_come_back_and_missing_ones_are_empty() {
    let nsd = Nsd::start();
    let r = resolver(&nsd);
    let mut got = r.ipv4("mail.test").await.unwrap();
    got.sort();
    assert_eq!(got, vec![v4("192.0.2.10"), v4("192.0.2.11")]);
    // Absolute or not, the same name.
    assert_eq!(r.ipv4("ns.test.").await.unwrap(), vec![v4("127.0.0.1")]);
    // NXDOMAIN and NoData are answers, not errors.
    assert_eq!(
        r.ipv4("nothing.test").await.unwrap(),
        Vec::<Ipv4Addr>::new()
    );
    assert_eq!(r.txt("mail.test").await.unwrap(), Vec::<String>::new());
}

#[tokio::test]
async fn txt_records_join_their_strings_per_record() {
    let nsd = Nsd::start();
    let r = resolver(&nsd);
    let mut got = r.txt("test").await.unwrap();
    got.sort();
    assert_eq!(
        got,
        vec![
            "other=record".to_string(),
            "v=spf1 ip4:192.0.2.0/24 a:mail.test -all".to_string(),
        ]
    );
}

#[tokio::test]
async fn a_dnsbl_listing_is_found_and_an_unlisted_ip_is_none() {
    let nsd = Nsd::start();
    let r = resolver(&nsd);
    let listed: IpAddr = "127.0.0.2".parse().unwrap();
    assert_eq!(
        r.lookup_dnsbl(listed, "bl.test").await.unwrap(),
        Some(vec![v4("127.0.0.2")])
    );
    let unlisted: IpAddr = "192.0.2.1".parse().unwrap();
    assert_eq!(r.lookup_dnsbl(unlisted, "bl.test.").await.unwrap(), None);
    // IPv6: reversed nibbles (RFC 5782 §2.4).
    let listed6: IpAddr = "2001:db8::2".parse().unwrap();
    assert_eq!(
        r.lookup_dnsbl(listed6, "bl.test").await.unwrap(),
        Some(vec![v4("127.0.0.4")])
    );
    let unlisted6: IpAddr = "2001:db8::3".parse().unwrap();
    assert_eq!(r.lookup_dnsbl(unlisted6, "bl.test").await.unwrap(), None);
}

#[tokio::test]
async fn a_refusal_is_an_error_not_a_missing_name() {
    let nsd = Nsd::start();
    let r = resolver(&nsd);
    // nsd is not authoritative for `elsewhere.`: REFUSED, which must not read as "not listed".
    let ip: IpAddr = "127.0.0.2".parse().unwrap();
    let err = r.lookup_dnsbl(ip, "bl.elsewhere").await.unwrap_err();
    assert!(matches!(err, DnsError::Response { .. }), "{err:?}");
}

#[tokio::test]
async fn a_server_that_never_answers_times_out_within_the_bound() {
    // Bound by the test and never read: queries vanish.
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap().to_string();
    let mut cfg = settings(&addr);
    cfg.timeout = Span(Duration::from_millis(300));
    let r = Services::new().resolver(&cfg).unwrap();
    let bound = r.bound();
    assert!(bound <= Duration::from_millis(300 * 2 + 250), "{bound:?}");
    let start = Instant::now();
    let err = r.ipv4("mail.test").await.unwrap_err();
    let took = start.elapsed();
    assert!(matches!(err, DnsError::Timeout { .. }), "{err:?}");
    assert!(
        took <= bound + Duration::from_millis(200),
        "took {took:?}, bound {bound:?}"
    );
    let start = Instant::now();
    let ip: IpAddr = "127.0.0.2".parse().unwrap();
    let err = r.lookup_dnsbl(ip, "bl.test").await.unwrap_err();
    assert!(matches!(err, DnsError::Timeout { .. }), "{err:?}");
    assert!(start.elapsed() <= bound + Duration::from_millis(200));
    drop(silent);
}

#[tokio::test]
async fn the_same_settings_share_one_resolver_and_its_cache() {
    let mut nsd = Nsd::start();
    let services = Services::new();
    let cfg = settings(&nsd.addr());
    let first = services.resolver(&cfg).unwrap();
    let again = services.resolver(&cfg).unwrap();
    assert!(Resolver::ptr_eq(&first, &again));
    let mut got = first.ipv4("mail.test").await.unwrap();
    got.sort();
    // The server gone, the second handle still answers from the shared cache.
    nsd.stop();
    let mut cached = again.ipv4("mail.test").await.unwrap();
    cached.sort();
    assert_eq!(cached, got);
    // Changed settings: a new resolver, with an empty cache, so the lookup now fails.
    let mut changed = cfg.clone();
    changed.attempts = 1;
    let fresh = services.resolver(&changed).unwrap();
    assert!(!Resolver::ptr_eq(&first, &fresh));
    assert!(fresh.ipv4("mail.test").await.is_err());
}

#[test]
fn bad_dns_settings_are_reported_with_their_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("locthu.toml");
    let text = "[dns]\nnameservers = [\"127.0.0.1:53\", \"dns.example\"]\ntimeout = \"0s\"\nattempts = 9\n";
    std::fs::write(&path, text).unwrap();
    let errs = locthu::config::load(Some(&path)).unwrap_err().0;
    let lines: Vec<(Option<usize>, &str)> =
        errs.iter().map(|e| (e.line, e.message.as_str())).collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert_eq!(lines[0].0, Some(2), "{lines:?}");
    assert!(lines[0].1.starts_with("dns.nameservers: `dns.example`"));
    assert_eq!(lines[1].0, Some(3), "{lines:?}");
    assert!(lines[1].1.starts_with("dns.timeout"));
    assert_eq!(lines[2].0, Some(4), "{lines:?}");
    assert!(lines[2].1.starts_with("dns.attempts"));
    // And the defaults are valid.
    std::fs::write(&path, "[dns]\n").unwrap();
    assert!(locthu::config::load(Some(&path)).is_ok());
}
