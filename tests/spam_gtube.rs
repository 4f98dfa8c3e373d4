//! Issue 10: GTUBE is refused always, in any text part and transfer encoding, through
//! `locthu serve` in front of a real smtp-sink; mail without it passes.

mod common;

use common::{Dialog, Gateway, Sink};

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

[admin]
listen = "{admin}"
"#;

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

fn message(ctype: &str, encoding: &str, body: &str) -> String {
    format!(
        "From: <a@example.org>\r\nTo: <b@angiang.gov.vn>\r\nSubject: test\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
         Kính gửi,\r\n--b\r\nContent-Type: {ctype}\r\nContent-Transfer-Encoding: {encoding}\r\n\r\n{body}\r\n--b--\r\n"
    )
}

#[test]
fn gtube_is_refused_in_any_text_part_and_encoding() {
    let sink = Sink::start(&[]);
    let gw = Gateway::start(CONFIG, sink.addr);
    // Quoted-printable with a soft line break inside the pattern.
    let (head, tail) = GTUBE.split_at(30);
    let cases = [
        (
            "text/plain; charset=utf-8",
            "7bit",
            format!("hello {GTUBE}"),
        ),
        (
            "text/plain; charset=utf-8",
            "base64",
            b64(&format!("xin chào\n{GTUBE}\n")),
        ),
        (
            "text/plain; charset=utf-8",
            "quoted-printable",
            format!("{head}=\r\n{tail}"),
        ),
        (
            "text/html; charset=utf-8",
            "base64",
            b64(&format!("<p>{GTUBE}</p>")),
        ),
        (
            "text/plain; charset=utf-8; name=\"ghi-chu.txt\"",
            "base64",
            b64(GTUBE),
        ),
    ];
    for (ctype, encoding, body) in &cases {
        let mut d = Dialog::open_from(gw.addr, Some("127.0.0.2"));
        let r = d.send_mail(
            "a@example.org",
            &["b@angiang.gov.vn"],
            &message(ctype, encoding, body),
        );
        assert!(
            r.starts_with("550 5.7.1") && r.contains("(rule spam)") && r.contains("GTUBE"),
            "{ctype} {encoding}: {r}"
        );
    }
    // The same messages without the pattern are delivered.
    let mut d = Dialog::open_from(gw.addr, Some("127.0.0.2"));
    let r = d.send_mail(
        "a@example.org",
        &["b@angiang.gov.vn"],
        &message("text/plain", "base64", &b64("XJS*C4JDBQADN1 only half")),
    );
    assert!(r.starts_with("250"), "{r}");
    assert_eq!(sink.wait_messages(1).len(), 1);
}

#[test]
fn with_inspection_off_gtube_is_still_found_in_the_raw_message() {
    // No check then has the message parsed; the raw stream is searched (7bit, 8bit, QP
    // without a soft break in the pattern).
    let sink = Sink::start(&[]);
    let gw = Gateway::start(
        &CONFIG.replace("[admin]", "[inspect]\nenabled = false\n\n[admin]"),
        sink.addr,
    );
    let mut d = Dialog::open_from(gw.addr, Some("127.0.0.2"));
    let r = d.send_mail(
        "a@example.org",
        &["b@angiang.gov.vn"],
        &message(
            "text/plain",
            "quoted-printable",
            &format!("ch=C3=A0o {GTUBE}"),
        ),
    );
    assert!(
        r.starts_with("550 5.7.1") && r.contains("(rule spam)"),
        "{r}"
    );
    assert!(sink.messages().is_empty());
}
