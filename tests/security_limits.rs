//! Issue 8, items 5 and 7: slow clients cannot hold sessions (each command line, DATA record
//! and reply write has a deadline that dribbling does not move; idle sessions go first at the
//! connection limit), and the per-IP limit counts the real client, not Postfix or a trusted
//! network. Through `locthu serve` in front of a real smtp-sink, from raw sockets.

mod common;

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::{Dialog, Gateway, Sink};

const BASE: &str = r#"
[server]
hostname = "gw.test"
trusted_networks = ["127.0.0.1/32"]
proxy_peers = ["127.0.0.1/32"]
internal_domains = ["laichau.gov.vn"]
spool_dir = "{dir}"
reload_poll = "0s"
shutdown_grace = "1s"
reverse_dns = false

[[listener]]
name = "inbound"
address = "{listen}"
role = "inbound"

[listener.upstream]
address = "{upstream}"
tls = "off"

[limits]
@LIMITS@

[admin]
listen = "{admin}"
"#;

fn gateway(sink: &Sink, limits: &str) -> Gateway {
    Gateway::start(&BASE.replace("@LIMITS@", limits), sink.addr)
}

/// A plain TCP connection from a chosen loopback address, with no reply read yet.
fn connect_from(src: &str, addr: SocketAddr) -> TcpStream {
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    let src: SocketAddr = format!("{src}:0").parse().unwrap();
    sock.bind(&src.into()).unwrap();
    sock.connect(&addr.into()).unwrap();
    let s: TcpStream = sock.into();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s
}

fn first_line(s: &TcpStream) -> String {
    let mut line = String::new();
    let _ = BufReader::new(s).read_line(&mut line);
    line
}

#[test]
fn a_command_dribbled_byte_by_byte_ends_at_its_deadline() {
    let sink = Sink::start(&[]);
    let gw = gateway(&sink, "command_timeout = \"2s\"");
    let mut s = connect_from("127.0.0.2", gw.addr);
    assert!(first_line(&s).starts_with("220"));
    // 24 bytes at one per 400 ms: 9.6 s for a line whose deadline is 2 s. Before the fix every
    // byte restarted the timer and the line ended in 250.
    let line = b"EHLO slow.client.example\r\n";
    // Read in another thread from the start: once we close, the bytes still dribbling in
    // draw a reset, which could hide an unread reply.
    let mut r = s.try_clone().unwrap();
    let reader = std::thread::spawn(move || {
        let mut rest = Vec::new();
        let _ = r.read_to_end(&mut rest);
        String::from_utf8_lossy(&rest).into_owned()
    });
    let started = Instant::now();
    for b in line {
        if s.write_all(&[*b]).is_err() || reader.is_finished() {
            break;
        }
        std::thread::sleep(Duration::from_millis(400));
        if started.elapsed() > Duration::from_secs(15) {
            break;
        }
    }
    let rest = reader.join().unwrap();
    assert!(rest.starts_with("421 4.4.2"), "{rest:?}");
    assert!(!rest.contains("250"), "{rest:?}");
    assert_eq!(
        gw.metric("locthu_connections_cut_total{listener=\"inbound\",reason=\"timeout\"}"),
        1.0
    );
}

#[test]
fn a_client_that_never_reads_its_replies_loses_the_session() {
    let sink = Sink::start(&[]);
    let gw = gateway(&sink, "command_timeout = \"2s\"");
    let mut d = Dialog::open_from(gw.addr, Some("127.0.0.2"));
    assert!(d.cmd("EHLO c.example", "250").contains("PIPELINING"));
    // Pipelined NOOPs, never reading a reply: the replies fill both socket buffers, our write
    // blocks, and only a write deadline frees the session.
    let block = b"NOOP\r\n".repeat(10_000);
    d.stream
        .set_write_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let started = Instant::now();
    let closed = loop {
        if started.elapsed() > Duration::from_secs(40) {
            break false;
        }
        match d.stream.write(&block) {
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => break true,
        }
    };
    assert!(
        closed,
        "the session is still open after 40 s of unread replies"
    );
    assert_eq!(
        gw.metric("locthu_connections_cut_total{listener=\"inbound\",reason=\"write_timeout\"}"),
        1.0
    );
}

/// Slow clients from several addresses hold every slot, dribbling a byte a second into a
/// command that never ends; a client with mail to send must still get through.
#[test]
fn at_the_connection_limit_an_idle_slow_client_makes_room_for_mail() {
    let sink = Sink::start(&[]);
    // Stress deadlines as long as the normal ones: only eviction can free a slot here.
    let gw = gateway(
        &sink,
        "max_connections = 40\nmax_connections_per_ip = 8\ncommand_timeout = \"60s\"\nstress_timeout = \"60s\"",
    );
    let mut slow: Vec<TcpStream> = (0..40)
        .map(|i| {
            let s = connect_from(&format!("127.0.0.{}", 10 + i % 5), gw.addr);
            assert!(first_line(&s).starts_with("220"));
            s
        })
        .collect();
    for _ in 0..2 {
        for s in &mut slow {
            let _ = s.write_all(b"H");
        }
        std::thread::sleep(Duration::from_millis(800));
    }
    // Before the fix: 421 4.3.2 Too many connections.
    let mut d = Dialog::open_from(gw.addr, Some("127.0.0.3"));
    let r = d.send_mail(
        "a@example.org",
        &["b@laichau.gov.vn"],
        "Subject: through\r\n\r\nhello\r\n",
    );
    assert!(r.starts_with("250"), "{r}");
    d.cmd("QUIT", "221");
    assert_eq!(sink.wait_messages(1).len(), 1);
    // The one that made room was told why.
    let mut told = 0;
    for s in &mut slow {
        s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        let mut buf = [0u8; 256];
        if let Ok(n) = s.read(&mut buf) {
            if String::from_utf8_lossy(&buf[..n]).contains("421 4.7.0") {
                told += 1;
            }
        }
    }
    assert_eq!(told, 1);
    assert_eq!(
        gw.metric("locthu_connections_cut_total{listener=\"inbound\",reason=\"evicted\"}"),
        1.0
    );
}

#[test]
fn under_stress_idle_clients_get_the_short_deadline_until_the_stress_is_over() {
    let sink = Sink::start(&[]);
    let gw = gateway(
        &sink,
        "max_connections = 10\ncommand_timeout = \"60s\"\nstress_at = 50\nstress_timeout = \"2s\"",
    );
    // Six idle sessions of ten: stressed. Spaced out so their deadlines come one by one.
    let mut idle: Vec<TcpStream> = (0..6)
        .map(|_| {
            let s = connect_from("127.0.0.2", gw.addr);
            assert!(first_line(&s).starts_with("220"));
            std::thread::sleep(Duration::from_millis(150));
            s
        })
        .collect();
    std::thread::sleep(Duration::from_secs(4));
    let mut cut = 0;
    for s in &mut idle {
        s.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let mut buf = [0u8; 256];
        match s.read(&mut buf) {
            Ok(n) => {
                let got = String::from_utf8_lossy(&buf[..n]);
                assert!(got.starts_with("421 4.4.2"), "{got:?}");
                cut += 1;
            }
            Err(e) => assert!(matches!(
                e.kind(),
                ErrorKind::WouldBlock | ErrorKind::TimedOut
            )),
        }
    }
    // The two oldest went after 2 s instead of 60; at four of ten the stress is over and the
    // others keep the normal deadline.
    assert_eq!(cut, 2);
}

#[test]
fn trusted_networks_are_not_capped_per_ip_and_others_are() {
    let sink = Sink::start(&[]);
    let gw = gateway(&sink, "max_connections_per_ip = 5");
    // Behind smtpd_proxy_filter every session is Postfix's, from 127.0.0.1 (trusted).
    let trusted: Vec<TcpStream> = (0..12)
        .map(|_| connect_from("127.0.0.1", gw.addr))
        .collect();
    for s in &trusted {
        let l = first_line(s);
        assert!(l.starts_with("220"), "{l:?}");
    }
    let others: Vec<TcpStream> = (0..6).map(|_| connect_from("127.0.0.2", gw.addr)).collect();
    let lines: Vec<String> = others.iter().map(first_line).collect();
    assert!(lines[..5].iter().all(|l| l.starts_with("220")), "{lines:?}");
    assert!(lines[5].starts_with("421 4.7.0"), "{lines:?}");

    // An explicit empty list exempts nobody.
    let gw = gateway(&sink, "max_connections_per_ip = 5\nper_ip_exceptions = []");
    let mine: Vec<TcpStream> = (0..6).map(|_| connect_from("127.0.0.1", gw.addr)).collect();
    let lines: Vec<String> = mine.iter().map(first_line).collect();
    assert!(lines[5].starts_with("421 4.7.0"), "{lines:?}");
}

#[test]
fn a_proxy_peers_sessions_count_under_the_client_it_names() {
    let sink = Sink::start(&[]);
    let gw = gateway(&sink, "max_connections_per_ip = 2");
    let mut named = Vec::new();
    for _ in 0..2 {
        let mut d = Dialog::open(gw.addr);
        d.cmd("EHLO postfix.local", "250");
        d.cmd("XCLIENT ADDR=192.0.2.7 NAME=mail.example", "220");
        named.push(d);
    }
    // A third session of the same real client is over its limit, though the peer is exempt.
    let mut d = Dialog::open(gw.addr);
    d.cmd("EHLO postfix.local", "250");
    d.cmd("XCLIENT ADDR=192.0.2.7 NAME=mail.example", "421 4.7.0");
    // Another client through the same proxy is not.
    let mut other = Dialog::open(gw.addr);
    other.cmd("EHLO postfix.local", "250");
    other.cmd("XFORWARD ADDR=192.0.2.8", "250");
    // When a session of the first client ends, its count goes with it.
    named.pop().unwrap().cmd("QUIT", "221");
    std::thread::sleep(Duration::from_millis(200));
    let mut d = Dialog::open(gw.addr);
    d.cmd("EHLO postfix.local", "250");
    d.cmd("XCLIENT ADDR=192.0.2.7 NAME=mail.example", "220");
}
