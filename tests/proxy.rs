//! The gateway in front of a real upstream (Postfix's smtp-sink), driven by real clients.

mod common;

use std::time::Duration;

use common::{dumped_content, stuff, Dialog, Gateway, Sink};

const BASE: &str = r#"
[server]
hostname = "gw.test"
trusted_networks = ["127.0.0.1/32"]
internal_domains = ["angiang.gov.vn"]
spool_dir = "{dir}"
spool_memory = "64KiB"
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
message_size = "1MB"
command_timeout = "3s"
data_timeout = "3s"

[admin]
listen = "{admin}"
probe_interval = "200ms"

# Spam scoring stays on, but only a tagged message carries X-Spam headers: these tests check
# that what is not tagged passes byte for byte (test messages lack a Message-ID, which a
# starter rule scores).
[spam]
headers = "spam"

[state.embedded]
path = "{dir}/state.redb"
"#;

fn start(sink: &Sink) -> Gateway {
    Gateway::start(BASE, sink.addr)
}

#[test]
fn delivers_byte_exact_with_dot_stuffed_lines() {
    let sink = Sink::start(&[]);
    let gw = start(&sink);
    let message = "From: a@angiang.gov.vn\r\nTo: b@angiang.gov.vn\r\nSubject: dots\r\n\r\n.leading dot\r\n..two dots\r\n.\r\nend\r\n";
    let mut d = Dialog::open(gw.addr);
    let r = d.send_mail("a@angiang.gov.vn", &["b@angiang.gov.vn"], message);
    assert!(r.starts_with("250"), "{r}");
    d.cmd("QUIT", "221");
    let got = sink.wait_messages(1);
    assert_eq!(got.len(), 1);
    assert_eq!(dumped_content(&got[0]), message.replace("\r\n", "\n"));
}

#[test]
fn pipelined_commands_get_replies_in_order() {
    let sink = Sink::start(&[]);
    let gw = start(&sink);
    let mut d = Dialog::open(gw.addr);
    d.cmd("EHLO client.example", "250");
    // One write with the whole transaction, as a PIPELINING client sends it (RFC 2920).
    let mut batch = b"MAIL FROM:<a@angiang.gov.vn>\r\nRCPT TO:<b@angiang.gov.vn>\r\nRCPT TO:<c@angiang.gov.vn>\r\nDATA\r\n".to_vec();
    d.send(&batch);
    d.expect("250");
    d.expect("250");
    d.expect("250");
    d.expect("354");
    batch = stuff("Subject: p\r\n\r\nbody\r\n");
    batch.extend_from_slice(b"NOOP\r\nQUIT\r\n");
    d.send(&batch);
    d.expect("250");
    d.expect("250");
    d.expect("221");
    let got = sink.wait_messages(1);
    assert!(
        got[0].contains("X-Rcpt-Args: <b@angiang.gov.vn>")
            && got[0].contains("X-Rcpt-Args: <c@angiang.gov.vn>")
    );
}

#[test]
fn size_declared_over_the_limit_is_refused_at_mail_from() {
    let sink = Sink::start(&[]);
    let gw = start(&sink);
    let mut d = Dialog::open(gw.addr);
    let ehlo = d.cmd("EHLO client.example", "250");
    assert!(ehlo.contains("SIZE 1000000"), "{ehlo}");
    let r = d.cmd("MAIL FROM:<a@angiang.gov.vn> SIZE=2000000", "552 5.3.4");
    assert!(r.contains("message-size"), "{r}");
    // The transaction never opened: RCPT needs MAIL first, and nothing reached the sink.
    d.cmd("RCPT TO:<b@angiang.gov.vn>", "503");
    d.cmd("QUIT", "221");
    assert!(sink.messages().is_empty());
}

#[test]
fn a_body_over_the_limit_is_refused_and_not_delivered() {
    let sink = Sink::start(&[]);
    let gw = start(&sink);
    let mut d = Dialog::open(gw.addr);
    let big = format!(
        "Subject: big\r\n\r\n{}",
        "x".repeat(998)
            .repeat(1100)
            .as_str()
            .chars()
            .collect::<Vec<_>>()
            .chunks(998)
            .map(|c| c.iter().collect::<String>() + "\r\n")
            .collect::<String>()
    );
    let r = d.send_mail("a@angiang.gov.vn", &["b@angiang.gov.vn"], &big);
    assert!(
        r.starts_with("552 5.3.4") && r.contains("message-size"),
        "{r}"
    );
    // The session stays usable.
    let r = d.send_mail(
        "a@angiang.gov.vn",
        &["b@angiang.gov.vn"],
        "Subject: small\r\n\r\nok\r\n",
    );
    assert!(r.starts_with("250"), "{r}");
    assert_eq!(sink.wait_messages(1).len(), 1);
}

#[test]
fn untrusted_client_cannot_relay() {
    let sink = Sink::start(&[]);
    let gw = start(&sink);
    // 127.0.0.2 is outside trusted_networks (127.0.0.1/32) in this config.
    let mut d = Dialog::open_from(gw.addr, Some("127.0.0.2"));
    d.cmd("EHLO outside.example", "250");
    d.cmd("MAIL FROM:<spammer@example.com>", "250");
    let r = d.cmd("RCPT TO:<victim@gmail.com>", "554 5.7.1");
    assert!(r.contains("relay-denied"), "{r}");
    d.cmd("RCPT TO:<so@angiang.gov.vn>", "250");
    d.cmd("RCPT TO:<x@sub.angiang.gov.vn>", "554 5.7.1");
    d.cmd("DATA", "354");
    d.send(&stuff("Subject: hi\r\n\r\nhello\r\n"));
    d.expect("250");
    let got = sink.wait_messages(1);
    assert!(got[0].contains("X-Rcpt-Args: <so@angiang.gov.vn>"));
    assert!(!got[0].contains("gmail.com"));
    // The trusted client may send anywhere.
    let mut d = Dialog::open(gw.addr);
    d.cmd("EHLO inside.example", "250");
    d.cmd("MAIL FROM:<a@angiang.gov.vn>", "250");
    d.cmd("RCPT TO:<friend@gmail.com>", "250");
}

#[test]
fn upstream_down_gives_451_at_mail_from() {
    let mut sink = Sink::start(&[]);
    let gw = start(&sink);
    sink.kill();
    let mut d = Dialog::open(gw.addr);
    d.cmd("EHLO client.example", "250");
    let r = d.cmd("MAIL FROM:<a@angiang.gov.vn>", "451 4.4.1");
    assert!(r.contains("Upstream"), "{r}");
    d.cmd("QUIT", "221");
    assert_eq!(
        gw.metric("locthu_upstream_errors_total{kind=\"connect\",listener=\"inbound\"}"),
        1.0
    );
}

/// The final reply to one small message sent through locthu to an smtp-sink run with `flags`.
fn final_reply_with_upstream(flags: &[&str]) -> String {
    let sink = Sink::start(flags);
    let gw = start(&sink);
    let mut d = Dialog::open(gw.addr);
    d.send_mail(
        "a@angiang.gov.vn",
        &["b@angiang.gov.vn"],
        "Subject: x\r\n\r\nbody\r\n",
    )
}

#[test]
fn upstream_hanging_up_at_end_of_data_gives_451_never_250() {
    // smtp-sink -q . : disconnect without replying after the end of DATA.
    let r = final_reply_with_upstream(&["-q", "."]);
    assert!(r.starts_with("451 4.4.2"), "{r}");
}

#[test]
fn upstream_too_slow_gives_451() {
    // smtp-sink -w 5: waits 5 s before answering DATA; our upstream timeout is 2 s.
    let r = final_reply_with_upstream(&["-w", "5"]);
    assert!(r.starts_with("451 4.4.2"), "{r}");
}

#[test]
fn client_vanishing_mid_data_delivers_nothing() {
    let sink = Sink::start(&[]);
    let gw = start(&sink);
    let mut d = Dialog::open(gw.addr);
    d.cmd("EHLO client.example", "250");
    d.cmd("MAIL FROM:<a@angiang.gov.vn>", "250");
    d.cmd("RCPT TO:<b@angiang.gov.vn>", "250");
    d.cmd("DATA", "354");
    d.send(b"Subject: half\r\n\r\nthe first half of a message\r\n");
    drop(d);
    std::thread::sleep(Duration::from_millis(500));
    // A later, complete message is the only one delivered.
    let mut d = Dialog::open(gw.addr);
    assert!(d
        .send_mail(
            "a@angiang.gov.vn",
            &["b@angiang.gov.vn"],
            "Subject: whole\r\n\r\nx\r\n"
        )
        .starts_with("250"));
    let got = sink.wait_messages(1);
    std::thread::sleep(Duration::from_millis(300));
    let got_after = sink.messages();
    assert_eq!(got_after.len(), 1, "{got:?}");
    assert!(got_after[0].contains("Subject: whole"));
}

#[test]
fn idle_client_times_out_with_421() {
    let sink = Sink::start(&[]);
    let gw = start(&sink);
    let mut d = Dialog::open(gw.addr);
    d.cmd("EHLO client.example", "250");
    let start = std::time::Instant::now();
    d.expect("421 4.4.2");
    assert!(start.elapsed() >= Duration::from_secs(2));
}

#[test]
fn eight_bit_body_passes_unchanged() {
    let sink = Sink::start(&[]);
    let gw = start(&sink);
    let message = "Subject: =?UTF-8?B?VGjGsCBjw7RuZyB24bulIA==?=\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nKính gửi các đơn vị: Ủy ban nhân dân tỉnh An Giang.\r\n";
    let mut d = Dialog::open(gw.addr);
    d.cmd("EHLO client.example", "250");
    d.cmd("MAIL FROM:<a@angiang.gov.vn> BODY=8BITMIME", "250");
    d.cmd("RCPT TO:<b@angiang.gov.vn>", "250");
    d.cmd("DATA", "354");
    d.send(&stuff(message));
    d.expect("250");
    let got = sink.wait_messages(1);
    assert!(
        got[0].contains("X-Mail-Args: <a@angiang.gov.vn> BODY=8BITMIME"),
        "{}",
        got[0]
    );
    assert_eq!(dumped_content(&got[0]), message.replace("\r\n", "\n"));
}

#[test]
fn smtputf8_address_is_refused_when_the_next_hop_cannot_take_it() {
    // smtp-sink does not offer SMTPUTF8: locthu must not downgrade (RFC 6531 3.7.5).
    let sink = Sink::start(&[]);
    let gw = start(&sink);
    let mut d = Dialog::open(gw.addr);
    d.cmd("EHLO client.example", "250");
    d.cmd("MAIL FROM:<nguyễn@angiang.gov.vn>", "553 5.6.7");
    d.cmd("MAIL FROM:<nguyễn@angiang.gov.vn> SMTPUTF8", "550 5.6.7");
}

#[test]
fn protocol_errors_get_precise_replies_and_too_many_close_the_session() {
    let sink = Sink::start(&[]);
    let gw = start(&sink);
    let mut d = Dialog::open(gw.addr);
    d.cmd("MAIL FROM:<a@angiang.gov.vn>", "503 5.5.1");
    d.cmd("EHLO client.example", "250");
    d.cmd("RCPT TO:<b@angiang.gov.vn>", "503 5.5.1");
    d.cmd("DATA", "503 5.5.1");
    d.cmd("MAIL FROM:a@angiang.gov.vn", "501 5.5.4");
    d.cmd("MAIL FROM:<a@angiang.gov.vn> RET=HDRS", "555 5.5.4");
    d.cmd("VRFY root", "252");
    d.cmd("BOGUS", "500 5.5.2");
    d.cmd("NOOP", "250");
    d.cmd("RSET", "250");
    for _ in 0..20 {
        d.send(b"BOGUS\r\n");
    }
    let mut last = String::new();
    for _ in 0..21 {
        last = d.reply();
        if last.starts_with("421") {
            break;
        }
    }
    assert!(last.starts_with("421 4.7.0"), "{last}");
}

#[test]
fn metrics_count_transactions_by_action_and_rule() {
    let sink = Sink::start(&[]);
    let gw = start(&sink);
    let mut d = Dialog::open_from(gw.addr, Some("127.0.0.2"));
    d.cmd("EHLO client.example", "250");
    d.cmd("MAIL FROM:<a@example.com>", "250");
    d.cmd("RCPT TO:<x@gmail.com>", "554");
    d.cmd("RCPT TO:<b@angiang.gov.vn>", "250");
    d.cmd("DATA", "354");
    d.send(&stuff("Subject: m\r\n\r\nx\r\n"));
    d.expect("250");
    d.cmd("QUIT", "221");
    assert_eq!(
        gw.metric(
            "locthu_transactions_total{action=\"accept\",listener=\"inbound\",rule=\"none\"}"
        ),
        1.0
    );
    assert_eq!(gw.metric("locthu_transactions_total{action=\"reject\",listener=\"inbound\",rule=\"relay-denied\"}"), 1.0);
    assert!(gw.metric("locthu_bytes_total{direction=\"in\"}") > 0.0);
    assert_eq!(gw.admin_get("/healthz").0, 200);
    // /readyz follows the upstream.
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(gw.admin_get("/readyz").0, 200);
    drop(sink);
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(gw.admin_get("/readyz").0, 503);
}

#[test]
fn limits_on_recipients_connections_and_headers() {
    let sink = Sink::start(&[]);
    let config = BASE.replace(
        "[limits]",
        "[limits]\nmax_recipients = 3\nmax_connections_per_ip = 2\nheader_size = \"2KiB\"",
    );
    let gw = Gateway::start(&config, sink.addr);
    let mut d = Dialog::open(gw.addr);
    d.cmd("EHLO client.example", "250");
    d.cmd("MAIL FROM:<a@angiang.gov.vn>", "250");
    for i in 0..3 {
        d.cmd(&format!("RCPT TO:<r{i}@angiang.gov.vn>"), "250");
    }
    // RFC 5321 4.5.3.1.10: the client sends the rest in another transaction.
    d.cmd("RCPT TO:<r3@angiang.gov.vn>", "452 4.5.3");
    d.cmd("DATA", "354");
    let header = format!(
        "Subject: big header\r\nX-Filler: {}\r\n\r\nbody\r\n",
        "y".repeat(3000)
    );
    d.send(&stuff(&header));
    let r = d.reply();
    assert!(
        r.starts_with("552 5.3.4") && r.contains("header-size"),
        "{r}"
    );
    // From an untrusted address (trusted_networks are not counted per IP), a third
    // connection is refused with 421; the first two work.
    let _first = Dialog::open_from(gw.addr, Some("127.0.0.2"));
    let _second = Dialog::open_from(gw.addr, Some("127.0.0.2"));
    let mut third = {
        let sock =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        let src: std::net::SocketAddr = "127.0.0.2:0".parse().unwrap();
        sock.bind(&src.into()).unwrap();
        sock.connect(&gw.addr.into()).unwrap();
        std::net::TcpStream::from(sock)
    };
    third
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buf = String::new();
    std::io::Read::read_to_string(&mut third, &mut buf).unwrap();
    assert!(buf.starts_with("421 4.7.0"), "{buf}");
    assert!(sink.messages().is_empty());
}

#[test]
fn starttls_is_offered_with_a_certificate_and_plaintext_after_it_is_discarded() {
    let sink = Sink::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["gw.test".to_string()]).unwrap();
    std::fs::write(dir.path().join("cert.pem"), cert.cert.pem()).unwrap();
    std::fs::write(dir.path().join("key.pem"), cert.signing_key.serialize_pem()).unwrap();
    let config = BASE.replace(
        "role = \"inbound\"",
        &format!(
            "role = \"inbound\"\ntls = {{ cert = \"{0}/cert.pem\", key = \"{0}/key.pem\" }}",
            dir.path().display()
        ),
    );
    let gw = Gateway::start(&config, sink.addr);
    // swaks is a real TLS-capable client.
    let out = std::process::Command::new(common::require("swaks"))
        .args([
            "--server",
            &gw.addr.to_string(),
            "--tls",
            "--from",
            "a@angiang.gov.vn",
            "--to",
            "b@angiang.gov.vn",
        ])
        .args(["--ehlo", "client.example", "--header", "Subject: over tls"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("STARTTLS") && text.contains("TLS started"),
        "{text}"
    );
    let got = sink.wait_messages(1);
    assert!(got[0].contains("Subject: over tls"));
    // A command injected after STARTTLS in the same packet must not be executed (CVE-2011-0411).
    let mut d = Dialog::open(gw.addr);
    d.cmd("EHLO client.example", "250-");
    d.send(b"STARTTLS\r\nRSET\r\n");
    d.expect("220 2.0.0");
    // The next bytes are TLS; if RSET had been queued, a plaintext "250" would arrive now.
    d.stream
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut buf = [0u8; 16];
    let n = std::io::Read::read(&mut d.stream, &mut buf).unwrap_or(0);
    assert!(
        !buf[..n].starts_with(b"250"),
        "plaintext after STARTTLS was executed"
    );
}

#[test]
fn chunking_bdat_delivers_the_same_message_and_stays_in_step() {
    let sink = Sink::start(&[]);
    let gw = start(&sink);
    let mut d = Dialog::open(gw.addr);
    let ehlo = d.cmd("EHLO client.example", "250");
    assert!(ehlo.contains("CHUNKING"), "{ehlo}");
    // Without recipients the chunk is still read whole, then refused: 503, since no RCPT
    // was even tried (RFC 5321 4.1.1.4; 554 is for "all recipients refused").
    d.cmd("MAIL FROM:<a@angiang.gov.vn>", "250");
    d.send(b"BDAT 9 LAST\r\nRSET\r\nxyz");
    d.expect("503 5.5.1");
    d.cmd("RSET", "250");
    let part1 = "Subject: chunks\r\n\r\n.a line with a dot\r\n";
    let part2 = "QUIT\r\nlast line\r\n";
    d.cmd("MAIL FROM:<a@angiang.gov.vn>", "250");
    d.cmd("RCPT TO:<b@angiang.gov.vn>", "250");
    // Pipelined: both chunks and a NOOP in one write; chunk bytes that look like commands are data.
    let mut batch = format!("BDAT {}\r\n{part1}", part1.len()).into_bytes();
    batch.extend_from_slice(format!("BDAT {} LAST\r\n{part2}NOOP\r\n", part2.len()).as_bytes());
    d.send(&batch);
    d.expect("250 2.0.0");
    d.expect("250");
    d.expect("250");
    d.cmd("QUIT", "221");
    let got = sink.wait_messages(1);
    assert_eq!(got.len(), 1);
    assert_eq!(
        dumped_content(&got[0]),
        format!("{part1}{part2}").replace("\r\n", "\n")
    );
}

#[test]
fn each_listener_has_its_role_and_its_own_upstream() {
    let inbound_sink = Sink::start(&[]);
    let outbound_sink = Sink::start(&[]);
    let out_port = common::free_port();
    let config = format!(
        "{BASE}\n[[listener]]\nname = \"outbound\"\naddress = \"127.0.0.1:{out_port}\"\nrole = \"outbound\"\n\
         [listener.upstream]\naddress = \"{}\"\ntls = \"off\"\n",
        outbound_sink.addr
    );
    let gw = Gateway::start(&config, inbound_sink.addr);
    let out_addr: std::net::SocketAddr = format!("127.0.0.1:{out_port}").parse().unwrap();
    common::wait_listening(out_addr);
    // The mail system's own outgoing mail: from the trusted Postfix, to anywhere.
    let mut d = Dialog::open(out_addr);
    assert!(d
        .send_mail(
            "so@angiang.gov.vn",
            &["doitac@gmail.com"],
            "Subject: out\r\n\r\nx\r\n"
        )
        .starts_with("250"));
    // The outbound listener is no open relay either: an untrusted client gets relay-denied.
    let mut d = Dialog::open_from(out_addr, Some("127.0.0.2"));
    d.cmd("EHLO stranger.example", "250");
    d.cmd("MAIL FROM:<x@example.com>", "250");
    d.cmd("RCPT TO:<y@gmail.com>", "554 5.7.1");
    let mut d = Dialog::open(gw.addr);
    assert!(d
        .send_mail(
            "a@example.com",
            &["so@angiang.gov.vn"],
            "Subject: in\r\n\r\nx\r\n"
        )
        .starts_with("250"));
    let outs = outbound_sink.wait_messages(1);
    let ins = inbound_sink.wait_messages(1);
    assert!(
        outs.len() == 1 && outs[0].contains("Subject: out"),
        "{outs:?}"
    );
    assert!(ins.len() == 1 && ins[0].contains("Subject: in"), "{ins:?}");
    // Two sessions, plus the connection that waited for the listener to be up.
    assert_eq!(
        gw.metric("locthu_connections_total{listener=\"outbound\"}"),
        3.0
    );
}

#[test]
fn commands_sent_ahead_without_pipelining_are_a_synchronization_error() {
    let sink = Sink::start(&[]);
    let gw = start(&sink);
    // A HELO client has not been offered PIPELINING.
    let mut d = Dialog::open(gw.addr);
    d.cmd("HELO bot.example", "250");
    d.send(b"MAIL FROM:<a@angiang.gov.vn>\r\nRCPT TO:<b@angiang.gov.vn>\r\n");
    d.expect("250");
    d.expect("554 5.5.0");
    assert_eq!(d.reply(), "<closed>");
    // EHLO ends a group: commands behind it in the same packet came before the offer.
    let mut d = Dialog::open(gw.addr);
    d.send(b"EHLO bot.example\r\nMAIL FROM:<a@angiang.gov.vn>\r\n");
    d.expect("250");
    d.expect("554 5.5.0");
    // A PIPELINING client may; and QUIT right behind the end of DATA is tolerated from anyone.
    let mut d = Dialog::open(gw.addr);
    d.cmd("HELO old.example", "250");
    d.cmd("MAIL FROM:<a@angiang.gov.vn>", "250");
    d.cmd("RCPT TO:<b@angiang.gov.vn>", "250");
    d.cmd("DATA", "354");
    let mut wire = stuff("Subject: old client\r\n\r\nx\r\n");
    wire.extend_from_slice(b"QUIT\r\n");
    d.send(&wire);
    d.expect("250");
    d.expect("221");
    assert_eq!(sink.wait_messages(1).len(), 1);
}

#[test]
fn content_sent_behind_a_refused_data_is_never_read_as_commands() {
    let sink = Sink::start(&[]);
    let gw = start(&sink);
    let mut d = Dialog::open_from(gw.addr, Some("127.0.0.2"));
    d.cmd("EHLO client.example", "250");
    // Every recipient refused, and the client does not wait for the 354 (RFC 2920 3.1):
    // its message lines, one of them a RCPT, must not become commands.
    let mut batch = b"MAIL FROM:<a@example.com>\r\nRCPT TO:<x@gmail.com>\r\nDATA\r\n".to_vec();
    batch.extend_from_slice(b"RCPT TO:<y@gmail.com>\r\nSubject: smuggled\r\n\r\nbody\r\n.\r\n");
    d.send(&batch);
    d.expect("250");
    d.expect("554 5.7.1");
    d.expect("554 5.5.1");
    d.expect("554 5.5.0");
    assert_eq!(d.reply(), "<closed>");
    assert!(sink.messages().is_empty());
}

#[test]
fn a_proxy_peer_names_the_real_client_and_the_checks_judge_that_client() {
    let sink = Sink::start(&[]);
    let config = BASE.replace(
        "internal_domains = [\"angiang.gov.vn\"]",
        "internal_domains = [\"angiang.gov.vn\"]\nproxy_peers = [\"127.0.0.1/32\"]",
    );
    let gw = Gateway::start(&config, sink.addr);
    // Postfix in front (a proxy peer) says the client is 192.0.2.7: an outsider, so no relay,
    // although the peer itself is trusted.
    let mut d = Dialog::open(gw.addr);
    let ehlo = d.cmd("EHLO postfix.example", "250");
    assert!(
        ehlo.contains("XCLIENT") && ehlo.contains("XFORWARD"),
        "{ehlo}"
    );
    d.cmd(
        "XCLIENT ADDR=192.0.2.7 NAME=mail.example HELO=mail.example",
        "220",
    );
    d.cmd("EHLO mail.example", "250");
    d.cmd("MAIL FROM:<x@example.com>", "250");
    d.cmd("RCPT TO:<someone@gmail.com>", "554 5.7.1");
    d.cmd("RCPT TO:<so@angiang.gov.vn>", "250");
    d.cmd("DATA", "354");
    d.send(&stuff("Subject: via proxy\r\n\r\nx\r\n"));
    d.expect("250");
    let log = gw.log();
    assert!(log.contains("client=192.0.2.7:"), "{log}");
    // Anyone else is not allowed to say who the client is.
    let mut d = Dialog::open_from(gw.addr, Some("127.0.0.2"));
    let ehlo = d.cmd("EHLO stranger.example", "250");
    assert!(!ehlo.contains("XCLIENT"), "{ehlo}");
    d.cmd("XCLIENT ADDR=127.0.0.1", "550 5.7.0");
    d.cmd("XFORWARD ADDR=127.0.0.1", "550 5.7.0");
}

/// The certificate a STARTTLS client is shown, as `openssl s_client` prints its subject.
fn served_certificate(addr: std::net::SocketAddr) -> String {
    let out = std::process::Command::new(common::require("openssl"))
        .args([
            "s_client",
            "-starttls",
            "smtp",
            "-connect",
            &addr.to_string(),
            "-brief",
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    text.lines()
        .find(|l| l.contains("Peer certificate:"))
        .unwrap_or_else(|| panic!("no certificate in:\n{text}"))
        .to_string()
}

#[test]
fn sighup_swaps_the_starttls_certificate_for_new_sessions() {
    let sink = Sink::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let write_cert = |name: &str| {
        let mut params = rcgen::CertificateParams::new(vec![name.to_string()]).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        std::fs::write(dir.path().join("cert.pem"), cert.pem()).unwrap();
        std::fs::write(dir.path().join("key.pem"), key.serialize_pem()).unwrap();
    };
    write_cert("old.gw.test");
    let config = BASE.replace(
        "role = \"inbound\"",
        &format!(
            "role = \"inbound\"\ntls = {{ cert = \"{0}/cert.pem\", key = \"{0}/key.pem\" }}",
            dir.path().display()
        ),
    );
    let gw = Gateway::start(&config, sink.addr);
    assert!(served_certificate(gw.addr).contains("old.gw.test"));
    // A renewed certificate (certbot's deploy hook) followed by SIGHUP.
    write_cert("new.gw.test");
    gw.signal("-HUP");
    let start = std::time::Instant::now();
    while !gw.log().contains("config reloaded") {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "no reload:\n{}",
            gw.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(served_certificate(gw.addr).contains("new.gw.test"));
}
