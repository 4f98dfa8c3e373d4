//! Regression tests for the attacks found by probing the running gateway (issue 8): SMTP
//! smuggling, relaying through routed local parts, XCLIENT with an unknown address, and the
//! protocol slips. Each runs `locthu serve` in front of a real smtp-sink, from raw sockets
//! where a client library would refuse to send the bytes.

mod common;

use std::io::Read;
use std::time::Duration;

use common::{dumped_content, Dialog, Gateway, Sink};

const BASE: &str = r#"
[server]
hostname = "gw.test"
trusted_networks = ["127.0.0.1/32"]
proxy_peers = ["127.0.0.1/32"]
internal_domains = ["laichau.gov.vn"]
spool_dir = "{dir}"
reload_poll = "0s"
shutdown_grace = "1s"
bare_lf = "@BARE_LF@"

[[listener]]
name = "inbound"
address = "{listen}"
role = "inbound"

[listener.upstream]
address = "{upstream}"
tls = "off"
command_timeout = "3s"
data_timeout = "3s"

[limits]
message_size = "1MB"
command_timeout = "5s"
data_timeout = "5s"

[admin]
listen = "{admin}"
"#;

fn gateway(sink: &Sink, bare_lf: &str) -> Gateway {
    Gateway::start(&BASE.replace("@BARE_LF@", bare_lf), sink.addr)
}

/// What follows the smuggling terminator: a whole second transaction, then QUIT.
const SMUGGLED: &str = "MAIL FROM:<giamdoc@laichau.gov.vn>\r\nRCPT TO:<ketoan@laichau.gov.vn>\r\nDATA\r\nSubject: SMUGGLED\r\n\r\nplease pay\r\n.\r\nQUIT\r\n";

/// Every end-of-data look-alike an MTA somewhere has taken for the real one.
const FAKE_ENDS: &[&[u8]] = &[
    b"\n.\n",
    b"\r\n.\n",
    b"\n.\r\n",
    b"\r.\r\n",
    b"\r\n.\r",
    b"\n.\r\r\n",
    b"\n.\x00\r\n",
    b"\r\n.\x00\r\n",
    b"\n. \r\n",
    b"\r\n. \r\n",
    b"\n\x00.\r\n",
];

/// Reads everything the gateway says until it closes (the read timeout bounds the wait).
fn read_to_close(d: &mut Dialog) -> String {
    d.stream
        .set_read_timeout(Some(Duration::from_secs(8)))
        .unwrap();
    let mut all = Vec::new();
    let _ = d.stream.read_to_end(&mut all);
    String::from_utf8_lossy(&all).into_owned()
}

/// Checks that the smtp-sink holds at most one message and that none begins as the hidden one.
fn assert_not_smuggled(sink: &Sink, replies: &str, what: &str) {
    std::thread::sleep(Duration::from_millis(300));
    let got = sink.messages();
    assert!(got.len() <= 1, "{what}: {} messages: {got:?}", got.len());
    for m in &got {
        let content = dumped_content(m);
        assert!(
            !content.starts_with("Subject: SMUGGLED"),
            "{what}: the hidden message was delivered on its own: {content:?}"
        );
        assert!(content.contains("hello"), "{what}: {content:?}");
    }
    let accepted = replies
        .lines()
        .filter(|l| l.starts_with("250 2.0.0"))
        .count();
    assert!(
        accepted <= 1,
        "{what}: {accepted} messages accepted: {replies}"
    );
}

#[test]
fn no_fake_end_of_data_smuggles_a_second_message_through_data() {
    for bare_lf in ["normalize", "reject"] {
        let sink = Sink::start(&[]);
        let gw = gateway(&sink, bare_lf);
        for (i, end) in FAKE_ENDS.iter().enumerate() {
            let mut d = Dialog::open_from(gw.addr, Some("127.0.0.2"));
            d.cmd("EHLO attacker.example", "250");
            d.cmd("MAIL FROM:<a@example.com>", "250");
            d.cmd("RCPT TO:<vanthu@laichau.gov.vn>", "250");
            d.cmd("DATA", "354");
            let mut wire = b"Subject: harmless\r\n\r\nhello".to_vec();
            wire.extend_from_slice(end);
            wire.extend_from_slice(SMUGGLED.as_bytes());
            d.send(&wire);
            let replies = read_to_close(&mut d);
            let what = format!(
                "bare_lf={bare_lf}, end {i} {:?}",
                String::from_utf8_lossy(end)
            );
            assert_not_smuggled(&sink, &replies, &what);
            // Each case starts from an empty sink.
            for e in std::fs::read_dir(sink.dir.path()).unwrap() {
                let _ = std::fs::remove_file(e.unwrap().path());
            }
        }
    }
}

#[test]
fn a_bdat_chunk_holding_a_fake_end_of_data_is_one_message() {
    // BDAT is length-delimited, but the upstream may get the message as DATA: every fake end
    // inside the chunk must reach it stuffed, never as a terminator.
    let sink = Sink::start(&[]);
    let gw = gateway(&sink, "normalize");
    for (i, end) in FAKE_ENDS.iter().enumerate() {
        let mut chunk = b"Subject: harmless\r\n\r\nhello".to_vec();
        chunk.extend_from_slice(end);
        chunk.extend_from_slice(
            b"MAIL FROM:<giamdoc@laichau.gov.vn>\r\nRCPT TO:<ketoan@laichau.gov.vn>\r\nDATA\r\nSubject: SMUGGLED\r\n\r\nplease pay\r\n",
        );
        let mut d = Dialog::open_from(gw.addr, Some("127.0.0.2"));
        d.cmd("EHLO attacker.example", "250");
        d.cmd("MAIL FROM:<a@example.com>", "250");
        d.cmd("RCPT TO:<vanthu@laichau.gov.vn>", "250");
        d.send(format!("BDAT {} LAST\r\n", chunk.len()).as_bytes());
        d.send(&chunk);
        let r = d.reply();
        assert!(r.starts_with("250"), "end {i}: {r}");
        d.cmd("QUIT", "221");
        let got = sink.wait_messages(1);
        let what = format!("BDAT end {i} {:?}", String::from_utf8_lossy(end));
        assert_not_smuggled(&sink, &r, &what);
        assert_eq!(got.len(), 1, "{what}");
        // smtp-sink read the whole chunk as the one message: the hidden lines are its body.
        assert!(dumped_content(&got[0]).contains("SMUGGLED"), "{what}");
        for e in std::fs::read_dir(sink.dir.path()).unwrap() {
            let _ = std::fs::remove_file(e.unwrap().path());
        }
    }
}

const ROUTED: &[&str] = &[
    "user%gmail.com@laichau.gov.vn",
    "\"user@gmail.com\"@laichau.gov.vn",
    "user@gmail.com@laichau.gov.vn",
    "gmail.com!user@laichau.gov.vn",
    "user@gmail.com\\@laichau.gov.vn",
    "\"user%gmail.com\"@laichau.gov.vn",
    "@laichau.gov.vn:user%gmail.com@laichau.gov.vn",
];

#[test]
fn routed_recipients_are_relay_denied_for_strangers_and_allowed_inside() {
    let sink = Sink::start(&[]);
    let gw = gateway(&sink, "normalize");
    let mut d = Dialog::open_from(gw.addr, Some("127.0.0.2"));
    d.cmd("EHLO attacker.example", "250");
    d.cmd("MAIL FROM:<a@example.com>", "250");
    for r in ROUTED {
        let reply = d.cmd(&format!("RCPT TO:<{r}>"), "554 5.7.1");
        assert!(reply.contains("rule relay-denied"), "{r}: {reply}");
    }
    // A plain internal recipient still passes.
    d.cmd("RCPT TO:<vanthu@laichau.gov.vn>", "250");
    d.cmd("QUIT", "221");

    // A trusted client may relay anyway, so routing gives it nothing more: the upstream decides.
    let mut d = Dialog::open(gw.addr);
    d.cmd("EHLO mail.laichau.gov.vn", "250");
    d.cmd("MAIL FROM:<a@laichau.gov.vn>", "250");
    d.cmd("RCPT TO:<user%gmail.com@laichau.gov.vn>", "250");
    d.cmd("QUIT", "221");
}

#[test]
fn xclient_with_an_unavailable_address_is_nobody_trusted() {
    let sink = Sink::start(&[]);
    let gw = gateway(&sink, "normalize");
    for unknown in ["[UNAVAILABLE]", "[TEMPUNAVAIL]"] {
        let mut d = Dialog::open(gw.addr);
        d.cmd("EHLO proxy.laichau.gov.vn", "250");
        d.cmd(&format!("XCLIENT ADDR={unknown} NAME=[UNAVAILABLE]"), "220");
        d.cmd("EHLO client.example", "250");
        d.cmd("MAIL FROM:<a@example.com>", "250");
        let r = d.cmd("RCPT TO:<u@gmail.com>", "554 5.7.1");
        assert!(r.contains("relay-denied"), "{r}");
        d.cmd("RCPT TO:<vanthu@laichau.gov.vn>", "250");
        d.cmd("QUIT", "221");
    }
}

#[test]
fn xclient_with_a_malformed_address_gets_501_and_changes_nothing() {
    let sink = Sink::start(&[]);
    let gw = gateway(&sink, "normalize");
    let mut d = Dialog::open(gw.addr);
    d.cmd("EHLO proxy.laichau.gov.vn", "250");
    // First name a stranger, then try to go back to trusted with a bad ADDR next to a good one.
    d.cmd("XCLIENT ADDR=203.0.113.9", "220");
    d.cmd("EHLO client.example", "250");
    for bad in [
        "XCLIENT ADDR=not-an-ip",
        "XCLIENT ADDR=127.0.0.1.5",
        "XCLIENT ADDR=IPV6:zz::1",
        "XCLIENT ADDR=203.0.113.9 PORT=99999",
        "XFORWARD ADDR=300.1.1.1",
    ] {
        let r = d.cmd(bad, "501 5.5.4");
        assert!(r.contains("ADDR") || r.contains("PORT"), "{bad}: {r}");
    }
    d.cmd("MAIL FROM:<a@example.com>", "250");
    d.cmd("RCPT TO:<u@gmail.com>", "554 5.7.1");
    d.cmd("QUIT", "221");
}

#[test]
fn data_before_rcpt_and_signed_bdat_sizes_are_refused() {
    let sink = Sink::start(&[]);
    let gw = gateway(&sink, "normalize");
    let mut d = Dialog::open(gw.addr);
    d.cmd("EHLO client.example", "250");
    d.cmd("MAIL FROM:<a@laichau.gov.vn>", "250");
    // No RCPT tried at all: out of sequence, not "no valid recipients".
    d.cmd("DATA", "503 5.5.1");
    d.cmd("RCPT TO:<vanthu@laichau.gov.vn>", "250");
    d.cmd("BDAT +5 LAST", "501 5.5.4");
    d.cmd("RSET", "250");

    // The refusals left the session usable: the next transaction delivers once.
    d.cmd("MAIL FROM:<a@laichau.gov.vn>", "250");
    d.cmd("RCPT TO:<vanthu@laichau.gov.vn>", "250");
    d.cmd("DATA", "354");
    d.send(b"Subject: once\r\n\r\nbody\r\n.\r\n");
    d.expect("250");
    d.cmd("QUIT", "221");
    assert_eq!(sink.wait_messages(1).len(), 1);
}

#[test]
fn starttls_inside_a_transaction_gets_503_and_the_next_transaction_works() {
    let dir = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["gw.test".into()]).unwrap();
    let cert_path = dir.path().join("cert.pem");
    let key_path = dir.path().join("key.pem");
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
    let sink = Sink::start(&[]);
    let config = BASE.replace("@BARE_LF@", "normalize").replace(
        "role = \"inbound\"\n",
        &format!(
            "role = \"inbound\"\ntls = {{ cert = \"{}\", key = \"{}\" }}\n",
            cert_path.display(),
            key_path.display()
        ),
    );
    let gw = Gateway::start(&config, sink.addr);
    let mut d = Dialog::open(gw.addr);
    let ehlo = d.cmd("EHLO client.example", "250");
    assert!(ehlo.contains("STARTTLS"), "{ehlo}");
    d.cmd("MAIL FROM:<a@laichau.gov.vn>", "250");
    d.cmd("STARTTLS", "503 5.5.1");
    d.cmd("RCPT TO:<vanthu@laichau.gov.vn>", "250");
    d.cmd("DATA", "354");
    d.send(b"Subject: once\r\n\r\nbody\r\n.\r\n");
    d.expect("250");
    // The next transaction meets no "nested MAIL" upstream.
    d.cmd("MAIL FROM:<a@laichau.gov.vn>", "250");
    d.cmd("RCPT TO:<vanthu@laichau.gov.vn>", "250");
    d.cmd("QUIT", "221");
    assert_eq!(sink.wait_messages(1).len(), 1);
}
