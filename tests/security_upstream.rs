//! Issue 8: the upstream's replies must be read in step with our commands.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Dialog, Gateway};

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
command_timeout = "2s"
data_timeout = "2s"

[limits]
command_timeout = "3s"
data_timeout = "3s"

[admin]
listen = "{admin}"
probe_interval = "200ms"
"#;

/// A deliberately broken upstream: after each RCPT reply it sends one stray "250 ok" line,
/// and it answers DATA with 250 instead of 354.
///
/// This is the ONLY fake upstream in the tests, and only because the fault cannot be made
/// with real parts: neither Postfix nor smtp-sink can be told to send a reply out of step.
/// It records every line it receives so the test can check no message text ever reached it.
fn stray_line_upstream() -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        // Bounded: the gateway's probes and the test's session need far fewer.
        for conn in listener.incoming().take(500) {
            let Ok(conn) = conn else { continue };
            let log = log.clone();
            std::thread::spawn(move || serve(conn, log));
        }
    });
    (addr, seen)
}

fn serve(mut conn: TcpStream, log: Arc<Mutex<Vec<String>>>) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(30)));
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let _ = conn.write_all(b"220 fake.test ESMTP\r\n");
    for _ in 0..1000 {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        log.lock().unwrap().push(line.clone());
        let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
        let answer: &[u8] = match verb.as_str() {
            "EHLO" => b"250-fake.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n",
            // The fault: one reply too many.
            "RCPT" => b"250 2.1.5 Ok\r\n250 ok\r\n",
            // The second fault: DATA "accepted" without 354, so no text is ever read.
            "DATA" => b"250 2.0.0 Ok: queued as FAKE\r\n",
            "QUIT" => {
                let _ = conn.write_all(b"221 bye\r\n");
                return;
            }
            _ => b"250 2.0.0 Ok\r\n",
        };
        if conn.write_all(answer).is_err() {
            return;
        }
    }
}

#[test]
fn a_stray_upstream_line_never_becomes_the_clients_250() {
    let (upstream, seen) = stray_line_upstream();
    let gw = Gateway::start(CONFIG, upstream);
    let mut c = Dialog::open(gw.addr);
    c.cmd("EHLO client.example", "250");
    c.cmd("MAIL FROM:<a@example.org>", "250");
    c.cmd("RCPT TO:<b@angiang.gov.vn>", "250");
    c.cmd("DATA", "354");
    c.send(b"Subject: stray\r\n\r\nbody-marker-7731\r\n.\r\n");
    let reply = c.reply();
    // RFC 5321 section 4.2.5: only the reply to the end of the text says the message is
    // taken. The upstream never asked for the text, so the client must keep it and retry.
    assert!(reply.starts_with("451 4.4."), "{reply:?}\n{}", gw.log());
    assert!(reply.contains(" / "), "bilingual reply expected: {reply:?}");
    let lines = seen.lock().unwrap().clone();
    assert!(
        !lines.iter().any(|l| l.contains("body-marker-7731")),
        "message text reached the upstream: {lines:?}"
    );
    // The session is still usable towards the client, and a new transaction is not carried
    // by the out-of-step upstream session: it fails the same way rather than being answered
    // with a leftover line.
    c.cmd("MAIL FROM:<a@example.org>", "250");
    c.cmd("RCPT TO:<b@angiang.gov.vn>", "250");
    c.cmd("DATA", "354");
    c.send(b"Subject: again\r\n\r\nsecond\r\n.\r\n");
    let reply = c.reply();
    assert!(reply.starts_with("451 4.4."), "{reply:?}");
    c.cmd("QUIT", "221");
}
