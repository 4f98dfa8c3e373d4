//! locthu with a real Postfix on both sides of it, configured with the snippets in
//! `config/postfix/`: what the client hears, what Postfix logs and what it delivers.
//!
//! Each test runs its own private Postfix instance (tests/common/postfix.rs) as root.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;

use common::postfix::{free_addr, header, queue_id, received, received_all, snippet, Postfix};
use common::{require, stuff, Dialog, Gateway, Sink};

/// locthu's config for these tests. `@…@` are filled in by [`Locthu`]; `{…}` by the harness.
const LOCTHU: &str = r#"
[server]
hostname = "gw.test"
# 127.0.0.3 is an internal sender for locthu, but not for Postfix (mynetworks = 127.0.0.1/32):
# whatever Postfix refuses for it shows that Postfix judged the real client.
trusted_networks = ["127.0.0.1/32", "127.0.0.3/32"]
internal_domains = ["angiang.gov.vn"]
proxy_peers = [@PROXY_PEERS@]
spool_dir = "{dir}"
reload_poll = "0s"
shutdown_grace = "1s"

[[listener]]
name = "inbound"
address = "{listen}"
role = "inbound"
@LISTENER_TLS@

[listener.upstream]
address = "{upstream}"
tls = "@UPSTREAM_TLS@"
command_timeout = "10s"
data_timeout = "20s"
@OUTBOUND@

[limits]
message_size = "@MESSAGE_SIZE@"
command_timeout = "20s"
data_timeout = "20s"

[admin]
listen = "{admin}"
"#;

/// The knobs the tests turn in [`LOCTHU`].
struct Locthu<'a> {
    proxy_peers: &'a str,
    listener_tls: String,
    upstream_tls: &'a str,
    message_size: &'a str,
    /// An outbound listener on the first address, relaying to the second.
    outbound: Option<(SocketAddr, SocketAddr)>,
}

impl Default for Locthu<'_> {
    fn default() -> Self {
        Locthu {
            proxy_peers: "",
            listener_tls: String::new(),
            upstream_tls: "off",
            message_size: "10MB",
            outbound: None,
        }
    }
}

/// A running locthu that shows its log when the test fails.
struct Gw(Gateway);

impl std::ops::Deref for Gw {
    type Target = Gateway;
    fn deref(&self) -> &Gateway {
        &self.0
    }
}

impl Drop for Gw {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- locthu's log ---\n{}", plain(&self.0.log()));
        }
    }
}

impl Locthu<'_> {
    fn start(&self, upstream: SocketAddr) -> Gw {
        let outbound = match self.outbound {
            None => String::new(),
            Some((listen, upstream)) => format!(
                "\n[[listener]]\nname = \"outbound\"\naddress = \"{listen}\"\nrole = \"outbound\"\n\n\
                 [listener.upstream]\naddress = \"{upstream}\"\ntls = \"off\"\n"
            ),
        };
        let config = LOCTHU
            .replace("@PROXY_PEERS@", self.proxy_peers)
            .replace("@LISTENER_TLS@", &self.listener_tls)
            .replace("@UPSTREAM_TLS@", self.upstream_tls)
            .replace("@MESSAGE_SIZE@", self.message_size)
            .replace("@OUTBOUND@", &outbound);
        let mut gw = Gateway::start(&config, upstream);
        // Gateway::start saw *something* accept on the port; make sure it is this locthu (on a
        // machine shared with other test runs the free port may have been taken meanwhile).
        let mut ours = vec![gw.addr];
        ours.extend(self.outbound.map(|(listen, _)| listen));
        let start = std::time::Instant::now();
        loop {
            let log = plain(&gw.log());
            let listening = |a: &SocketAddr| {
                log.lines()
                    .any(|l| l.contains("listening") && l.contains(&format!("address={a} ")))
            };
            if ours.iter().all(listening) {
                break;
            }
            assert!(
                !gw.wait_exit(std::time::Duration::from_millis(20))
                    && start.elapsed() < std::time::Duration::from_secs(10),
                "locthu is not listening on {ours:?}:\n{log}"
            );
        }
        Gw(gw)
    }
}

/// Postfix as in config/postfix/mx-gateway.*: its smtpd for locthu on `smtpd` (the docs'
/// 127.0.0.1:10025), the outbound return leg on `back` (10026), mail for the Internet to
/// `outbound` (locthu's outbound listener, 10027). `main` adds the test's own settings.
fn mx_gateway(smtpd: SocketAddr, back: SocketAddr, outbound: SocketAddr, main: &str) -> Postfix {
    mx_gateway_edited(smtpd, back, outbound, main, &[])
}

/// [`mx_gateway`], with `edits` made to its master.cf too.
fn mx_gateway_edited(
    smtpd: SocketAddr,
    back: SocketAddr,
    outbound: SocketAddr,
    main: &str,
    edits: &[(&str, String)],
) -> Postfix {
    let main = format!(
        "{}\n# The province's domains (site-specific in the docs).\nrelay_domains = angiang.gov.vn\n{main}",
        snippet(
            "mx-gateway.main.cf",
            &[("[127.0.0.1]:10027", format!("[127.0.0.1]:{}", outbound.port()))]
        ),
    );
    let mut replace = vec![
        ("127.0.0.1:10025", smtpd.to_string()),
        ("127.0.0.1:10026", back.to_string()),
    ];
    replace.extend(edits.iter().cloned());
    let master = snippet("mx-gateway.master.cf", &replace);
    Postfix::start(&main, &master, &[smtpd, back])
}

/// Postfix behind locthu, with nothing going out: the common case of these tests.
fn postfix_behind(main: &str) -> Postfix {
    mx_gateway(free_addr(), free_addr(), free_addr(), main)
}

const MESSAGE: &str =
    "From: <a@angiang.gov.vn>\r\nTo: <b@angiang.gov.vn>\r\nSubject: test\r\n\r\nbody\r\n";

/// One transaction in a session already greeted; returns the end-of-DATA reply.
fn transaction(d: &mut Dialog, from: &str, rcpts: &[&str], message: &str) -> String {
    d.cmd(&format!("MAIL FROM:<{from}>"), "250");
    for r in rcpts {
        d.cmd(&format!("RCPT TO:<{r}>"), "250");
    }
    d.cmd("DATA", "354");
    d.send(&stuff(message));
    d.reply()
}

#[test]
fn xclient_shows_postfix_the_real_client_and_its_helo() {
    let pf = postfix_behind("smtpd_client_port_logging = yes\n");
    let gw = Locthu::default().start(pf.addr());
    let mut d = Dialog::open_from(gw.addr, Some("127.0.0.3"));
    let port = d.stream.local_addr().unwrap().port();
    d.cmd("EHLO client.example", "250");
    let r = transaction(&mut d, "a@example.com", &["b@angiang.gov.vn"], MESSAGE);
    assert!(r.starts_with("250 2.0.0 Ok: "), "{r}");
    d.cmd("QUIT", "221");
    let id = queue_id(&r);
    let got = pf.wait_delivered(&id);
    assert_eq!(got.len(), 1, "{got:?}");
    // Postfix's Received: header names the real client and the HELO it gave locthu.
    let rcvd = received(&got[0]);
    assert!(
        rcvd.starts_with("Received: from client.example (unknown [127.0.0.3])"),
        "{rcvd}"
    );
    assert!(rcvd.contains(&format!("by postfix.test (Postfix) with ESMTP id {id}")));
    // Its log says so too, down to the client's port.
    let line = pf.wait_log(&[&format!("{id}: client=")]);
    assert!(
        line.ends_with(&format!("{id}: client=unknown[127.0.0.3]:{port}")),
        "{line}"
    );
    assert!(!pf
        .log()
        .contains(&format!("{id}: client=localhost[127.0.0.1]")));
}

#[test]
fn postfix_relay_restrictions_judge_the_real_client() {
    // Postfix trusts only 127.0.0.1 (mynetworks in mx-gateway.main.cf). locthu trusts 127.0.0.3,
    // so only Postfix can refuse the relay below, and only if it sees 127.0.0.3.
    let pf = postfix_behind("");
    let gw = Locthu::default().start(pf.addr());
    let mut d = Dialog::open_from(gw.addr, Some("127.0.0.3"));
    d.cmd("EHLO client.example", "250");
    d.cmd("MAIL FROM:<a@example.com>", "250");
    let r = d.cmd("RCPT TO:<friend@gmail.com>", "554");
    assert_eq!(
        r, "554 5.7.1 <friend@gmail.com>: Relay access denied\r\n",
        "Postfix's reply, passed through as it is"
    );
    d.cmd("RCPT TO:<b@angiang.gov.vn>", "250");
    d.cmd("DATA", "354");
    d.send(&stuff(MESSAGE));
    let r = d.expect("250");
    d.cmd("QUIT", "221");
    let got = pf.wait_delivered(&queue_id(&r));
    assert_eq!(got.len(), 1);
    assert_eq!(
        header(&got[0], "Delivered-To").as_deref(),
        Some("b@angiang.gov.vn")
    );
    pf.wait_log(&[
        "reject: RCPT from unknown[127.0.0.3]",
        "<friend@gmail.com>: Relay access denied",
    ]);

    // The same client from 127.0.0.1, which Postfix trusts, may relay.
    let mut d = Dialog::open(gw.addr);
    d.cmd("EHLO inside.example", "250");
    d.cmd("MAIL FROM:<a@angiang.gov.vn>", "250");
    d.cmd("RCPT TO:<friend@gmail.com>", "250");
}

#[test]
fn xforward_names_the_client_when_xclient_is_not_authorized() {
    // The docs' smtpd for locthu, with XFORWARD authorized instead of XCLIENT.
    let pf = mx_gateway_edited(
        free_addr(),
        free_addr(),
        free_addr(),
        "",
        &[(
            "-o smtpd_authorized_xclient_hosts=127.0.0.1",
            "-o smtpd_authorized_xforward_hosts=127.0.0.1".into(),
        )],
    );
    let gw = Locthu::default().start(pf.addr());
    let mut d = Dialog::open_from(gw.addr, Some("127.0.0.3"));
    d.cmd("EHLO client.example", "250");
    let r = transaction(&mut d, "a@example.com", &["b@angiang.gov.vn"], MESSAGE);
    assert!(r.starts_with("250 2.0.0 Ok: "), "{r}");
    d.cmd("QUIT", "221");
    let id = queue_id(&r);
    let got = pf.wait_delivered(&id);
    // Postfix 3.7 uses XFORWARD for its log: the queue id's client= line names the real
    // client as orig_client. The Received: header and the restrictions keep the connection's
    // own address (locthu on 127.0.0.1): that is why XCLIENT comes first.
    let line = pf.wait_log(&[&format!("{id}: client=")]);
    assert!(
        line.ends_with(&format!(
            "{id}: client=localhost[127.0.0.1], orig_client=unknown[127.0.0.3]"
        )),
        "{line}"
    );
    assert!(
        received(&got[0]).starts_with("Received: from gw.test (localhost [127.0.0.1])"),
        "{}",
        received(&got[0])
    );
}

#[test]
fn per_recipient_replies_from_postfix_pass_back_exactly() {
    let pf = postfix_behind(
        "smtpd_recipient_restrictions = check_recipient_access inline:{ \
         { nobody@angiang.gov.vn = REJECT No such user here }, \
         { busy@angiang.gov.vn = 450 4.2.1 Mailbox busy, try later } }, \
         permit_mynetworks, reject\n",
    );
    let gw = Locthu::default().start(pf.addr());
    let mut d = Dialog::open(gw.addr);
    d.cmd("EHLO client.example", "250");
    d.cmd("MAIL FROM:<a@angiang.gov.vn>", "250");
    d.cmd("RCPT TO:<b@angiang.gov.vn>", "250 2.1.5 Ok");
    assert_eq!(
        d.cmd("RCPT TO:<nobody@angiang.gov.vn>", "554"),
        "554 5.7.1 <nobody@angiang.gov.vn>: Recipient address rejected: No such user here\r\n"
    );
    assert_eq!(
        d.cmd("RCPT TO:<busy@angiang.gov.vn>", "450"),
        "450 4.2.1 <busy@angiang.gov.vn>: Recipient address rejected: Mailbox busy, try later\r\n"
    );
    d.cmd("RCPT TO:<c@angiang.gov.vn>", "250 2.1.5 Ok");
    d.cmd("DATA", "354");
    d.send(&stuff(MESSAGE));
    let r = d.expect("250 2.0.0 Ok: ");
    d.cmd("QUIT", "221");
    // Delivered to the two accepted recipients, and to nobody else.
    let got = pf.wait_delivered(&queue_id(&r));
    let mut to: Vec<_> = got
        .iter()
        .map(|m| header(m, "Delivered-To").unwrap())
        .collect();
    to.sort();
    assert_eq!(to, ["b@angiang.gov.vn", "c@angiang.gov.vn"]);
}

/// A self-signed certificate and key for `name`, as PEM files in `dir`.
fn certificate(dir: &Path, name: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let ck = rcgen::generate_simple_self_signed(vec![name.to_string()]).unwrap();
    let cert = dir.join(format!("{name}.crt"));
    let key = dir.join(format!("{name}.key"));
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
    (cert, key)
}

#[test]
fn starttls_on_both_legs() {
    let certs = tempfile::tempdir().unwrap();
    let (pf_cert, pf_key) = certificate(certs.path(), "postfix.test");
    let (gw_cert, gw_key) = certificate(certs.path(), "gw.test");
    let pf = postfix_behind(&format!(
        "smtpd_tls_cert_file = {}\nsmtpd_tls_key_file = {}\nsmtpd_tls_security_level = may\nsmtpd_tls_received_header = yes\nsmtpd_tls_loglevel = 1\n",
        pf_cert.display(),
        pf_key.display()
    ));
    let gw = Locthu {
        listener_tls: format!(
            "tls = {{ cert = \"{}\", key = \"{}\" }}",
            gw_cert.display(),
            gw_key.display()
        ),
        upstream_tls: "required",
        ..Locthu::default()
    }
    .start(pf.addr());
    // A real client (swaks) speaks STARTTLS to locthu.
    let out = Command::new(require("swaks"))
        .args(["--server", &gw.addr.to_string(), "--tls", "--timeout", "20"])
        .args(["--ehlo", "client.example", "--from", "a@angiang.gov.vn"])
        .args(["--to", "b@angiang.gov.vn", "--body", "over TLS both ways"])
        .output()
        .unwrap();
    let transcript = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "swaks failed:\n{transcript}");
    assert!(
        transcript.contains("<-  220 2.0.0 Ready to start TLS"),
        "{transcript}"
    );
    let queued = transcript
        .lines()
        .find(|l| l.starts_with("<~  250 2.0.0 Ok: "))
        .unwrap_or_else(|| panic!("no 250 for the message inside TLS:\n{transcript}"));
    let got = pf.wait_delivered(&queue_id(queued));
    // Postfix says the leg from locthu was encrypted.
    let rcvd = received(&got[0]);
    assert!(rcvd.contains("(using TLSv1.3 with cipher "), "{rcvd}");
    assert!(rcvd.contains("with ESMTPS id "), "{rcvd}");
    assert!(got[0].contains("over TLS both ways"));
    pf.wait_log(&["Anonymous TLS connection established from localhost[127.0.0.1]"]);
}

#[test]
fn required_upstream_tls_that_postfix_does_not_offer_gives_451_at_mail_from() {
    let pf = postfix_behind("");
    let gw = Locthu {
        upstream_tls: "required",
        ..Locthu::default()
    }
    .start(pf.addr());
    let mut d = Dialog::open(gw.addr);
    d.cmd("EHLO client.example", "250");
    let r = d.cmd("MAIL FROM:<a@angiang.gov.vn>", "451 4.4.1");
    assert!(r.contains("Upstream mail server unavailable"), "{r}");
    // Nor later: the transaction never opened.
    d.cmd("RCPT TO:<b@angiang.gov.vn>", "503");
    d.cmd("QUIT", "221");
    assert!(gw
        .log()
        .contains("STARTTLS required by config but not offered"));
    assert!(pf.delivered().is_empty());
}

#[test]
fn smtputf8_mail_reaches_postfix_unchanged() {
    let pf = postfix_behind("");
    let gw = Locthu::default().start(pf.addr());
    // Date: and Message-ID: included, or Postfix adds them for a local client.
    let message = "From: Nguyễn Văn A <nguyễn@angiang.gov.vn>\r\nTo: <trần@angiang.gov.vn>\r\nSubject: Thư công vụ\r\nDate: Thu, 26 Nov 2026 09:00:00 +0700\r\nMessage-ID: <công-văn-1@angiang.gov.vn>\r\n\r\nKính gửi: Ủy ban nhân dân tỉnh An Giang.\r\n";
    let mut d = Dialog::open(gw.addr);
    let ehlo = d.cmd("EHLO client.example", "250");
    assert!(ehlo.contains("SMTPUTF8"), "{ehlo}");
    d.cmd("MAIL FROM:<nguyễn@angiang.gov.vn> SMTPUTF8", "250");
    d.cmd("RCPT TO:<trần@angiang.gov.vn>", "250");
    d.cmd("DATA", "354");
    d.send(&stuff(message));
    let r = d.expect("250 2.0.0 Ok: ");
    d.cmd("QUIT", "221");
    let got = pf.wait_delivered(&queue_id(&r));
    assert_eq!(got.len(), 1);
    assert_eq!(
        header(&got[0], "Return-Path").as_deref(),
        Some("<nguyễn@angiang.gov.vn>")
    );
    assert_eq!(
        header(&got[0], "Delivered-To").as_deref(),
        Some("trần@angiang.gov.vn")
    );
    // Received (Postfix's) then the client's message, byte for byte (pipe writes LF ends).
    let content = got[0].split_once("(UTC)\n").unwrap().1;
    assert_eq!(content, message.replace("\r\n", "\n"));
    assert!(
        received(&got[0]).contains("with UTF8SMTP id "),
        "{}",
        received(&got[0])
    );
}

/// Postfix as in config/postfix/proxy-filter.*: the public smtpd on `public` (the docs' :25)
/// proxies to locthu at `locthu` (10024); the after-filter smtpd is on `after` (10025).
fn proxy_filter(public: SocketAddr, locthu: SocketAddr, after: SocketAddr, main: &str) -> Postfix {
    let main = format!(
        "{}\nrelay_domains = angiang.gov.vn\n{main}",
        snippet("proxy-filter.main.cf", &[])
    );
    let master = snippet(
        "proxy-filter.master.cf",
        &[
            ("smtp      inet", format!("{public} inet")),
            ("127.0.0.1:10024", locthu.to_string()),
            ("127.0.0.1:10025", after.to_string()),
        ],
    );
    Postfix::start(&main, &master, &[public, after])
}

/// Postfix :25 → locthu → Postfix :10025, with locthu's listener on a port chosen first.
fn proxy_topology(message_size: &str, main: &str) -> (Postfix, Gw) {
    let (public, after) = (free_addr(), free_addr());
    // locthu must listen where Postfix proxies to: start it first and point Postfix at it.
    let gw = Locthu {
        proxy_peers: "\"127.0.0.1/32\"",
        message_size,
        ..Locthu::default()
    }
    .start(after);
    let pf = proxy_filter(public, gw.addr, after, main);
    (pf, gw)
}

#[test]
fn behind_smtpd_proxy_filter_locthu_sees_the_real_client() {
    let (pf, gw) = proxy_topology("10MB", "");
    let mut d = Dialog::open_from(pf.addr(), Some("127.0.0.3"));
    d.cmd("EHLO client.example", "250");
    let r = transaction(&mut d, "a@example.com", &["b@angiang.gov.vn"], MESSAGE);
    assert!(r.starts_with("250 2.0.0 Ok: "), "{r}");
    d.cmd("QUIT", "221");
    let got = pf.wait_delivered(&queue_id(&r));
    assert_eq!(got.len(), 1);
    // locthu's transaction line names the client Postfix forwarded, not Postfix itself.
    let log = plain(&gw.log());
    let line = log
        .lines()
        .find(|l| l.contains("transaction"))
        .unwrap_or_else(|| panic!("no transaction line:\n{log}"));
    assert!(line.contains("client=127.0.0.3:"), "{line}");
    assert!(line.contains("helo=\"client.example\""), "{line}");
    // The public smtpd wrote the client's Received: line into what it proxied to locthu; the
    // after-filter smtpd, told by locthu with XFORWARD, logs the real client as orig_client.
    let id = queue_id(&r);
    let rcvd = received_all(&got[0]);
    assert_eq!(rcvd.len(), 2, "{rcvd:?}");
    assert!(
        rcvd[0].starts_with("Received: from gw.test (localhost [127.0.0.1])")
            && rcvd[0].contains(&format!("with ESMTP id {id}")),
        "{}",
        rcvd[0]
    );
    assert!(
        rcvd[1].starts_with("Received: from client.example (unknown [127.0.0.3])"),
        "{}",
        rcvd[1]
    );
    let line = pf.wait_log(&[&format!("{id}: client=")]);
    assert!(
        line.ends_with("client=localhost[127.0.0.1], orig_client=unknown[127.0.0.3]"),
        "{line}"
    );
    // Postfix B got the message with BDAT (it offers CHUNKING), so its reply, passed back
    // through locthu and Postfix A, reads "Ok: N bytes queued as ID".
    pf.wait_log(&[
        "proxy-accept: END-OF-MESSAGE: 250 2.0.0 Ok: ",
        &format!("queued as {id};"),
    ]);
}

#[test]
fn behind_smtpd_proxy_filter_oversized_mail_gets_locthus_552() {
    let (pf, gw) = proxy_topology("100KB", "");
    let line = format!("{}\r\n", "x".repeat(76));
    let big = format!("Subject: big\r\n\r\n{}", line.repeat(2000));
    let mut d = Dialog::open_from(pf.addr(), Some("127.0.0.3"));
    d.cmd("EHLO client.example", "250");
    let r = transaction(&mut d, "a@example.com", &["b@angiang.gov.vn"], &big);
    // Exactly what locthu says to a client that connects to it directly.
    let mut direct = Dialog::open(gw.addr);
    direct.cmd("EHLO client.example", "250");
    let own = transaction(&mut direct, "a@example.com", &["b@angiang.gov.vn"], &big);
    assert!(
        own.starts_with("552 5.3.4 ") && own.ends_with("(rule message-size)\r\n"),
        "{own}"
    );
    assert_eq!(r, own, "Postfix passed locthu's reply on unchanged");
    // The session goes on; a small message passes, and only it is delivered.
    let r = transaction(&mut d, "a@example.com", &["b@angiang.gov.vn"], MESSAGE);
    assert!(r.starts_with("250 2.0.0 Ok: "), "{r}");
    d.cmd("QUIT", "221");
    let got = pf.wait_delivered(&queue_id(&r));
    assert_eq!(got.len(), 1);
    assert!(got[0].contains("Subject: test"));
    assert!(gw.log().contains("message-size"));
}

#[test]
fn outbound_mail_passes_locthus_outbound_listener_once_and_leaves() {
    // mx-gateway: Postfix sends mail for the Internet to locthu's outbound listener, which
    // gives it back to the smtpd on 10026; from there it must leave, not loop. Here "leaving"
    // goes to an smtp-sink standing in for gmail.com's MX.
    let internet = Sink::start(&[]);
    let (smtpd, back, outbound) = (free_addr(), free_addr(), free_addr());
    let pf = mx_gateway(
        smtpd,
        back,
        outbound,
        &format!(
            "default_filter_nexthop = [127.0.0.1]:{}\n",
            internet.addr.port()
        ),
    );
    let gw = Locthu {
        outbound: Some((outbound, back)),
        ..Locthu::default()
    }
    .start(smtpd);
    let mut d = Dialog::open(gw.addr);
    d.cmd("EHLO webmail.angiang.gov.vn", "250");
    let r = transaction(&mut d, "a@angiang.gov.vn", &["friend@gmail.com"], MESSAGE);
    assert!(r.starts_with("250 2.0.0 Ok: "), "{r}");
    d.cmd("QUIT", "221");
    let got = internet.wait_messages(1);
    assert_eq!(got.len(), 1, "nothing reached the Internet:\n{}", pf.log());
    // It went through locthu twice: in on "inbound", out on "outbound".
    let log = plain(&gw.log());
    let passes: Vec<_> = log.lines().filter(|l| l.contains("transaction")).collect();
    assert_eq!(passes.len(), 2, "{log}");
    assert!(passes[0].contains("listener=inbound"), "{}", passes[0]);
    assert!(passes[1].contains("listener=outbound"), "{}", passes[1]);
    assert!(
        got[0].contains("X-Rcpt-Args: <friend@gmail.com>"),
        "{}",
        got[0]
    );
}

/// locthu's log without the terminal colours tracing puts around field names.
fn plain(log: &str) -> String {
    let mut out = String::with_capacity(log.len());
    let mut rest = log;
    while let Some(i) = rest.find('\x1b') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        match rest.find('m') {
            Some(end) => rest = &rest[end + 1..],
            None => rest = "",
        }
    }
    out.push_str(rest);
    out
}

#[test]
fn postfix_sees_the_clients_hostname_through_locthu_as_it_would_directly() {
    // 127.0.0.1 has a name (localhost, from /etc/hosts) that Postfix finds and verifies when the
    // client talks to it directly. Through locthu it must see the same client, or its
    // hostname-based restrictions (reject_unknown_client_hostname, check_client_access with
    // names) and its Received: lines go wrong for every client.
    let pf = postfix_behind("smtpd_client_restrictions = reject_unknown_client_hostname\n");
    let gw = Locthu::default().start(pf.addr());
    let mut direct = Dialog::open(pf.addr());
    direct.cmd("EHLO client.example", "250");
    let r = transaction(
        &mut direct,
        "a@angiang.gov.vn",
        &["b@angiang.gov.vn"],
        MESSAGE,
    );
    let direct_rcvd = received(&pf.wait_delivered(&queue_id(&r))[0]);
    assert!(
        direct_rcvd.starts_with("Received: from client.example (localhost [127.0.0.1])"),
        "{direct_rcvd}"
    );

    let mut d = Dialog::open(gw.addr);
    d.cmd("EHLO client.example", "250");
    d.cmd("MAIL FROM:<a@angiang.gov.vn>", "250");
    let r = d.cmd("RCPT TO:<b@angiang.gov.vn>", "");
    assert!(
        r.starts_with("250"),
        "regression: XCLIENT always sends NAME=[UNAVAILABLE] (src/smtp/upstream.rs \
         client_attributes: locthu never looks the client's name up), so Postfix judges \
         every client as having no hostname and refuses what it accepts directly: {r}"
    );
    d.cmd("DATA", "354");
    d.send(&stuff(MESSAGE));
    let r = d.expect("250");
    let rcvd = received(&pf.wait_delivered(&queue_id(&r))[0]);
    let from = |h: &str| h.split(" by ").next().unwrap_or("").to_string();
    assert_eq!(from(&rcvd), from(&direct_rcvd));
}

#[test]
fn a_helo_client_is_recorded_as_smtp_not_esmtp() {
    let pf = postfix_behind("");
    let gw = Locthu::default().start(pf.addr());
    let mut d = Dialog::open_from(gw.addr, Some("127.0.0.3"));
    d.cmd("HELO old.client.example", "250");
    let r = transaction(&mut d, "a@example.com", &["b@angiang.gov.vn"], MESSAGE);
    let rcvd = received(&pf.wait_delivered(&queue_id(&r))[0]);
    assert!(
        rcvd.starts_with("Received: from old.client.example (unknown [127.0.0.3])"),
        "{rcvd}"
    );
    assert!(
        rcvd.contains(" with SMTP id "),
        "regression: the client said HELO and locthu passed PROTO=SMTP with XCLIENT, but then \
         greeted Postfix with EHLO (Upstream::pass_client always calls ehlo), which makes \
         Postfix record ESMTP: {rcvd}"
    );
}

#[test]
fn a_client_postfix_refuses_outright_hears_postfixs_refusal() {
    // With smtpd_delay_reject = no Postfix refuses a blocked client at once: at connect, and
    // through locthu in its answer to XCLIENT (XCLIENT_README: "the server responds with 220
    // or with a suitable rejection code"). The client must hear that 5xx, not a 4xx that
    // makes it retry for days.
    let blocked = "smtpd_delay_reject = no\n\
                   smtpd_client_restrictions = check_client_access inline:{ { 127.0.0.3 = REJECT Blocked for abuse } }\n";
    let pf = postfix_behind(blocked);
    let gw = Locthu::default().start(pf.addr());
    let refusal = first_reply_from(pf.addr(), "127.0.0.3");
    assert_eq!(
        refusal,
        "554 5.7.1 <unknown[127.0.0.3]>: Client host rejected: Blocked for abuse\r\n"
    );
    let mut d = Dialog::open_from(gw.addr, Some("127.0.0.3"));
    d.cmd("EHLO client.example", "250");
    let r = d.cmd("MAIL FROM:<a@example.com>", "");
    pf.wait_log(&["reject: XCLIENT from unknown[127.0.0.3]: 554 5.7.1"]);
    assert_eq!(
        r, refusal,
        "regression: Postfix refused the client in its reply to XCLIENT; locthu \
         (Upstream::pass_client, src/smtp/upstream.rs) turns any non-2xx XCLIENT reply into \
         UpstreamError::Refused, which the client hears as 451 4.4.1 'upstream unavailable'"
    );
}

/// The first reply a client connecting from `source` gets: the greeting, or a refusal.
fn first_reply_from(addr: SocketAddr, source: &str) -> String {
    use std::io::BufRead;
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    let src: SocketAddr = format!("{source}:0").parse().unwrap();
    sock.bind(&src.into()).unwrap();
    sock.connect(&addr.into()).unwrap();
    let stream: std::net::TcpStream = sock.into();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(stream)
        .read_line(&mut line)
        .unwrap();
    line
}

#[test]
fn a_client_that_pauses_longer_than_postfixs_smtpd_timeout_still_gets_its_mail_through() {
    // Postfix closes an idle session after smtpd_timeout: 300s, but only 10s when it is under
    // stress (its default is ${stress?{10}:{300}}s). A client slower than that before MAIL
    // FROM, or between two messages, must not hear that "the upstream is unavailable" while
    // Postfix is fine.
    let pf = postfix_behind("smtpd_timeout = 1s\n");
    let gw = Locthu::default().start(pf.addr());
    let mut d = Dialog::open(gw.addr);
    d.cmd("EHLO client.example", "250");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let r = transaction(&mut d, "a@angiang.gov.vn", &["b@angiang.gov.vn"], MESSAGE);
    assert!(r.starts_with("250 2.0.0 Ok: "), "{r}");
    // The upstream session that carried it idles out at Postfix before the next message.
    pf.wait_log(&["timeout after END-OF-MESSAGE"]);
    let r = d.cmd("MAIL FROM:<a@angiang.gov.vn>", "");
    assert!(
        r.starts_with("250"),
        "regression: locthu answers with Postfix's dead session instead of opening a new one: {r}"
    );
    d.cmd("RCPT TO:<b@angiang.gov.vn>", "250");
    d.cmd("DATA", "354");
    d.send(&stuff(MESSAGE));
    d.expect("250 2.0.0 Ok: ");
}

/// Postfix's `disconnect from` lines of sessions that said EHLO (the readiness probe only
/// reads the greeting and quits).
fn postfix_sessions(pf: &Postfix) -> usize {
    pf.log()
        .lines()
        .filter(|l| l.contains("disconnect from") && l.contains("ehlo="))
        .count()
}

#[test]
fn a_connection_that_sends_no_mail_opens_no_postfix_session() {
    // Issue 8, item 6: as Postfix's own smtpd_proxy_filter, the upstream session opens at the
    // first MAIL FROM. Before, every TCP connect opened one.
    let pf = postfix_behind("");
    let gw = Locthu::default().start(pf.addr());
    for _ in 0..3 {
        let mut d = Dialog::open(gw.addr);
        d.cmd("EHLO client.example", "250");
        d.cmd("NOOP", "250");
        d.cmd("RSET", "250");
        d.cmd("QUIT", "221");
    }
    let mut d = Dialog::open(gw.addr);
    d.cmd("EHLO client.example", "250");
    let r = transaction(&mut d, "a@angiang.gov.vn", &["b@angiang.gov.vn"], MESSAGE);
    assert!(r.starts_with("250 2.0.0 Ok: "), "{r}");
    d.cmd("QUIT", "221");
    pf.wait_log(&["disconnect from", "mail=1"]);
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(postfix_sessions(&pf), 1, "{}", pf.log());
}

/// The client's body takes longer than Postfix's smtpd_timeout: one line every 700 ms.
fn slow_body(d: &mut Dialog, lines: usize) {
    d.send(b"From: <a@angiang.gov.vn>\r\nSubject: slow\r\n\r\n");
    for i in 0..lines {
        std::thread::sleep(std::time::Duration::from_millis(700));
        d.send(format!("line {i}\r\n").as_bytes());
    }
    d.send(b".\r\n");
}

#[test]
fn a_body_slower_than_postfixs_smtpd_timeout_is_delivered_through_a_new_session() {
    // Issue 8, item 6: MAIL and RCPT go upstream at once, the body is spooled first; Postfix
    // closes the waiting session after smtpd_timeout (10 s under stress). Before, that gave
    // 451 on every retry; now MAIL and RCPT are replayed on a new session.
    let pf = postfix_behind("smtpd_timeout = 2s\n");
    let gw = Locthu::default().start(pf.addr());
    let mut d = Dialog::open(gw.addr);
    d.cmd("EHLO client.example", "250");
    d.cmd("MAIL FROM:<a@angiang.gov.vn>", "250");
    d.cmd("RCPT TO:<b@angiang.gov.vn>", "250");
    d.cmd("RCPT TO:<c@angiang.gov.vn>", "250");
    d.cmd("DATA", "354");
    slow_body(&mut d, 6);
    let r = d.reply();
    assert!(r.starts_with("250 2.0.0 Ok: "), "{r}");
    pf.wait_log(&["timeout after RCPT"]);
    let delivered = pf.wait_delivered(&queue_id(&r));
    assert_eq!(delivered.len(), 2, "one copy per recipient");
    assert!(delivered.iter().all(|m| m.contains("line 5")));
}

#[test]
fn a_recipient_refused_when_the_envelope_is_replayed_makes_the_message_451() {
    // The client heard 250 for both recipients; if the new Postfix session refuses one of
    // them, delivering to the other alone would lose the message for that one. A recipient
    // table that changes meanwhile does it: max_use = 1 makes each session a fresh smtpd,
    // which reads the table anew.
    let dir = tempfile::tempdir().unwrap();
    let access = dir.path().join("access");
    std::fs::write(&access, "").unwrap();
    let pf = postfix_behind(&format!(
        "smtpd_timeout = 2s\nmax_use = 1\n\
         smtpd_recipient_restrictions = check_recipient_access texthash:{}\n",
        access.display()
    ));
    let gw = Locthu::default().start(pf.addr());
    let mut d = Dialog::open(gw.addr);
    d.cmd("EHLO client.example", "250");
    d.cmd("MAIL FROM:<a@angiang.gov.vn>", "250");
    d.cmd("RCPT TO:<b@angiang.gov.vn>", "250");
    d.cmd("RCPT TO:<c@angiang.gov.vn>", "250");
    d.cmd("DATA", "354");
    d.send(b"From: <a@angiang.gov.vn>\r\nSubject: slow\r\n\r\nfirst line\r\n");
    pf.wait_log(&["timeout after RCPT"]);
    std::fs::write(&access, "c@angiang.gov.vn REJECT moved away\n").unwrap();
    d.send(b"last line\r\n.\r\n");
    let r = d.reply();
    assert!(r.starts_with("451 4.4.2"), "{r}");
    assert!(r.contains("c@angiang.gov.vn"), "{r}");
    assert!(pf.delivered().is_empty());
    // The session goes on.
    d.cmd("RSET", "250");
    let r = transaction(&mut d, "a@angiang.gov.vn", &["b@angiang.gov.vn"], MESSAGE);
    assert!(r.starts_with("250 2.0.0 Ok: "), "{r}");
}

#[test]
fn a_multi_line_refusal_from_postfix_passes_back_line_for_line() {
    // smtpd_reject_footer puts a second line under every refusal.
    let pf = postfix_behind(
        "smtpd_reject_footer = Help: postmaster@angiang.gov.vn\n\
         smtpd_recipient_restrictions = check_recipient_access inline:{ \
         { nobody@angiang.gov.vn = 550 5.1.1 No such user here } }, permit_mynetworks, reject\n",
    );
    let gw = Locthu::default().start(pf.addr());
    let mut d = Dialog::open(gw.addr);
    d.cmd("EHLO client.example", "250");
    d.cmd("MAIL FROM:<a@angiang.gov.vn>", "250");
    assert_eq!(
        d.cmd("RCPT TO:<nobody@angiang.gov.vn>", "550"),
        "550-5.1.1 <nobody@angiang.gov.vn>: Recipient address rejected: No such user here\r\n\
         550 5.1.1 Help: postmaster@angiang.gov.vn\r\n"
    );
}

#[test]
fn behind_an_open_relay_postfix_locthu_still_refuses_relay_for_the_real_client() {
    // A misconfigured public smtpd that relays for all of loopback (Postfix refuses to run
    // with no relay restriction at all). locthu judges the client Postfix names with XFORWARD
    // (127.0.0.2, outside trusted_networks), not Postfix's own 127.0.0.1.
    let (pf, gw) = proxy_topology("10MB", "mynetworks = 127.0.0.0/8\n");
    let mut d = Dialog::open_from(pf.addr(), Some("127.0.0.2"));
    d.cmd("EHLO spammer.example", "250");
    d.cmd("MAIL FROM:<x@example.com>", "250");
    let r = d.cmd("RCPT TO:<victim@gmail.com>", "554 5.7.1 ");
    assert!(r.contains("(rule relay-denied)"), "{r}");
    d.cmd("RCPT TO:<b@angiang.gov.vn>", "250");
    d.cmd("QUIT", "221");
    let log = plain(&gw.log());
    assert!(
        log.lines()
            .any(|l| l.contains("recipient refused") && l.contains("client=127.0.0.2:")),
        "{log}"
    );
}

#[test]
fn behind_smtpd_proxy_filter_a_chunking_client_is_delivered() {
    // Postfix offers CHUNKING to the Internet and gives locthu DATA; a BDAT client's message
    // must arrive the same.
    let (pf, _gw) = proxy_topology("10MB", "");
    let mut d = Dialog::open_from(pf.addr(), Some("127.0.0.3"));
    let ehlo = d.cmd("EHLO client.example", "250");
    assert!(ehlo.contains("CHUNKING"), "{ehlo}");
    d.cmd("MAIL FROM:<a@example.com>", "250");
    d.cmd("RCPT TO:<b@angiang.gov.vn>", "250");
    let body = MESSAGE.replace("body", ".a line with a leading dot");
    d.send(format!("BDAT {} LAST\r\n{body}", body.len()).as_bytes());
    let r = d.expect("250 2.0.0 Ok: ");
    let got = pf.wait_delivered(&queue_id(&r));
    // BDAT content is not dot-stuffed; Postfix stuffs it for locthu, locthu for Postfix again.
    assert!(
        got[0].ends_with("\n\n.a line with a leading dot\n"),
        "{}",
        got[0]
    );
}

/// Issue 8: a Postfix with Debian's permissive defaults (`mynetworks = 127.0.0.0/8`, the
/// percent hack and bang paths rewritten) would relay routed addresses and read a smuggled
/// second message; through locthu it gets neither.
#[test]
fn permissive_postfix_behind_locthu_gets_no_routed_relay_and_no_smuggled_message() {
    let pf = postfix_behind(
        "mynetworks = 127.0.0.0/8\nallow_percent_hack = yes\nswap_bangpath = yes\nallow_untrusted_routing = yes\n",
    );
    let gw = Locthu::default().start(pf.addr());
    let mut d = Dialog::open_from(gw.addr, Some("127.0.0.2"));
    d.cmd("EHLO attacker.example", "250");
    d.cmd("MAIL FROM:<a@example.com>", "250");
    for routed in [
        "user%gmail.com@angiang.gov.vn",
        "\"user@gmail.com\"@angiang.gov.vn",
        "user@gmail.com@angiang.gov.vn",
        "gmail.com!user@angiang.gov.vn",
        "user@gmail.com\\@angiang.gov.vn",
    ] {
        let r = d.cmd(&format!("RCPT TO:<{routed}>"), "554 5.7.1");
        assert!(r.contains("rule relay-denied"), "{routed}: {r}");
    }
    d.cmd("RCPT TO:<b@angiang.gov.vn>", "250");
    d.cmd("DATA", "354");
    d.send(
        b"Subject: harmless\r\n\r\nhello\n.\r\nMAIL FROM:<giamdoc@angiang.gov.vn>\r\n\
          RCPT TO:<ketoan@angiang.gov.vn>\r\nDATA\r\nSubject: SMUGGLED\r\n\r\nplease pay\r\n.\r\nQUIT\r\n",
    );
    let r = d.expect("250");
    d.expect("221");
    let got = pf.wait_delivered(&queue_id(&r));
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(
        header(&got[0], "Delivered-To").as_deref(),
        Some("b@angiang.gov.vn")
    );
    assert!(got[0].contains("SMUGGLED"), "the hidden lines are the body");
    // Postfix saw one transaction from locthu, never the hidden MAIL FROM.
    assert!(
        !pf.log().contains("from=<giamdoc@angiang.gov.vn>"),
        "{}",
        pf.log()
    );
}
