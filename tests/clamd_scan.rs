//! The antivirus check against a real clamd (issue 5). Each test starts its own clamd with a
//! tiny EICAR database; see `clamd_harness`.

mod clamd_harness;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clamd_harness::*;
use locthu::checks::antivirus::{OnError, UNSCANNED};
use locthu::config::{ByteSize, Span};
use locthu::engine::{Action, Finding};
use locthu::metrics::metrics;

fn assert_virus(findings: &[Finding], case: &str) {
    assert_eq!(findings.len(), 1, "{case}: {findings:?}");
    let f = &findings[0];
    assert_eq!(f.rule, "virus", "{case}");
    assert_eq!(f.action, Action::Reject, "{case}");
    let reply = f.reply().one_line();
    assert!(
        reply.starts_with("550 5.7.1 Phát hiện vi-rút Eicar-")
            && reply.contains(" / Virus found: Eicar-")
            && reply.ends_with("(rule virus)"),
        "{case}: {reply}"
    );
}

fn assert_tempfail(findings: &[Finding], case: &str) {
    assert_eq!(findings.len(), 1, "{case}: {findings:?}");
    assert_eq!(findings[0].rule, UNSCANNED, "{case}");
    assert_eq!(findings[0].action, Action::Tempfail, "{case}");
    assert!(
        findings[0].reply().one_line().starts_with("451 4.7.1 "),
        "{case}: {}",
        findings[0].reply()
    );
}

fn scans(result: &str) -> u64 {
    metrics().clamd_scans.with_label_values(&[result]).get()
}

#[tokio::test]
async fn eicar_is_found_wherever_clamd_decodes_it_and_clean_mail_passes() {
    // Only the whole-file hash signature: a hit proves clamd decoded the base64 part of the
    // message we streamed, and extracted the member of the (stored, so otherwise raw) zip.
    let clamd = Clamd::start_with("1M", &[], false);
    let tcp = antivirus(&[&clamd.tcp], |_| {});
    let unix = antivirus(&[&clamd.unix], |_| {});
    let zip = zip_of("eicar.com", EICAR);
    let zip_in_zip = zip_of("inner.zip", &zip);
    let attached = mail_with_attachment("eicar.com", EICAR);
    let viruses_before = metrics().viruses.get();
    let cases: [(&str, Vec<u8>); 3] = [
        ("base64 attachment", attached.clone()),
        ("in a zip", mail_with_attachment("hoso.zip", &zip)),
        (
            "in a zip in a zip",
            mail_with_attachment("hoso.zip", &zip_in_zip),
        ),
    ];
    for (case, msg) in &cases {
        let found = scan(&tcp, msg).await;
        assert_virus(&found, case);
        assert!(
            found[0]
                .text
                .en
                .ends_with("Eicar-Test-Signature.UNOFFICIAL"),
            "{case}: {found:?}"
        );
    }
    assert_virus(&scan_spilled(&tcp, &attached).await, "from a spool on disk");
    assert_virus(&scan(&unix, &attached).await, "over the unix socket");
    assert!(metrics().viruses.get() >= viruses_before + 5);

    let clean = [
        text_mail("Kính gửi các đơn vị, xin xem lịch họp."),
        mail_with_attachment("baocao.pdf", &noise(50_000, 7)),
        mail_with_attachment("hoso.zip", &zip_of("baocao.txt", b"khong co gi")),
    ];
    for msg in &clean {
        assert!(scan(&tcp, msg).await.is_empty());
        assert!(scan(&unix, msg).await.is_empty());
        assert!(scan_spilled(&tcp, msg).await.is_empty());
    }

    // EICAR inside a longer text body is no longer the exact file: the body signature finds it.
    let body_clamd = Clamd::start("1M", &[]);
    let check = antivirus(&[&body_clamd.tcp], |_| {});
    let body = text_mail(&format!(
        "Kính gửi,\r\n{}\r\nTrân trọng.",
        std::str::from_utf8(EICAR).unwrap()
    ));
    let found = scan(&check, &body).await;
    assert_virus(&found, "in the body");
    assert!(
        found[0].text.en.contains("Eicar-Body-Signature"),
        "{found:?}"
    );
}

#[tokio::test]
async fn stopped_clamd_tempfails_or_tags_as_configured() {
    let mut clamd = Clamd::start("1M", &[]);
    let endpoint = clamd.tcp.clone();
    clamd.kill();
    let msg = mail_with_attachment("eicar.com", EICAR);

    let tempfail = antivirus(&[&endpoint], |_| {});
    assert_tempfail(
        &scan(&tempfail, &msg).await,
        "clamd stopped, on_error tempfail",
    );

    let before = scans("unscanned");
    let accept = antivirus(&[&endpoint], |c| c.on_error = OnError::Accept);
    let found = scan(&accept, &msg).await;
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].rule, UNSCANNED);
    assert_eq!(found[0].action, Action::Tag);
    assert!(found[0]
        .text
        .en
        .contains("X-Locthu-Virus-Scan: not scanned"));
    assert_eq!(scans("unscanned"), before + 1);
    let errors = metrics().render();
    assert!(
        errors.contains(&format!(
            "locthu_clamd_errors_total{{endpoint=\"{endpoint}\",kind=\"connect\"}}"
        )),
        "{errors}"
    );
}

#[tokio::test]
async fn stalled_clamd_hits_the_scan_timeout() {
    // A fake: a real clamd cannot be made to accept a connection and then never answer. This
    // listener accepts and holds the connections without reading or replying.
    let stalled = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let stalled_addr = stalled.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = stalled.accept().await {
            held.push(s);
        }
    });
    let msg = mail_with_attachment("eicar.com", EICAR);
    let timeout = Duration::from_millis(500);

    let only_stalled = antivirus(&[&stalled_addr], |c| {
        c.scan_timeout = Span(timeout);
        c.health_interval = Span::secs(3600);
    });
    let t = Instant::now();
    assert_tempfail(&scan(&only_stalled, &msg).await, "stalled clamd");
    let took = t.elapsed();
    assert!(took >= timeout && took < timeout * 4, "took {took:?}");

    // With a real clamd beside it, the scan is retried there after the timeout, and the
    // stalled endpoint is then skipped.
    let clamd = Clamd::start("1M", &[]);
    let both = antivirus(&[&stalled_addr, &clamd.tcp], |c| {
        c.scan_timeout = Span(timeout);
        c.health_interval = Span::secs(3600);
    });
    let t = Instant::now();
    assert_virus(&scan(&both, &msg).await, "retried after the stall");
    assert!(t.elapsed() >= timeout);
    let t = Instant::now();
    for _ in 0..3 {
        assert_virus(&scan(&both, &msg).await, "stalled endpoint skipped");
    }
    assert!(
        t.elapsed() < timeout,
        "stalled endpoint was not skipped: {:?}",
        t.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_one_of_two_clamds_mid_run_loses_no_message() {
    let mut a = Clamd::start("1M", &[]);
    let b = Clamd::start("1M", &[]);
    let check = antivirus(&[&a.tcp, &b.unix], |_| {});
    let infected = Arc::new(mail_with_attachment("eicar.com", EICAR));
    let clean = Arc::new(mail_with_attachment("baocao.pdf", &noise(500_000, 3)));

    // 20 sessions scan 5 messages each; clamd A is killed once a fifth of them have their
    // verdict, so scans are in flight on it (their connections break) and more are to come
    // (their connects are refused, then A is skipped).
    let done = Arc::new(AtomicUsize::new(0));
    let mut sessions = Vec::new();
    for s in 0..20usize {
        let (check, infected, clean, done) =
            (check.clone(), infected.clone(), clean.clone(), done.clone());
        sessions.push(tokio::spawn(async move {
            let mut verdicts = Vec::new();
            for j in 0..5 {
                let bad = (s + j) % 2 == 0;
                let found = scan(&check, if bad { &infected } else { &clean }).await;
                done.fetch_add(1, Ordering::Relaxed);
                verdicts.push((format!("session {s} message {j}"), bad, found));
            }
            verdicts
        }));
    }
    while done.load(Ordering::Relaxed) < 20 {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    a.kill();
    let mut verdicts = 0;
    for s in sessions {
        for (case, bad, found) in s.await.unwrap() {
            if bad {
                assert_virus(&found, &case);
            } else {
                assert!(found.is_empty(), "{case}: {found:?}");
            }
            verdicts += 1;
        }
    }
    assert_eq!(verdicts, 100);
    // The failover path was taken: scans failed on the killed endpoint (mid-stream, or at
    // connect, depending on timing) and were retried on the other.
    let failed: u64 = [
        "io",
        "protocol",
        "connect",
        "connect_timeout",
        "timeout",
        "clamd",
    ]
    .iter()
    .map(|kind| {
        metrics()
            .clamd_errors
            .with_label_values(&[a.tcp.as_str(), kind])
            .get()
    })
    .sum();
    assert!(failed > 0, "no scan failed over from the killed clamd");
    // The health check has marked the killed endpoint down.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let up = metrics()
        .clamd_endpoint_up
        .with_label_values(&[a.tcp.as_str()])
        .get();
    assert_eq!(up, 0, "killed clamd still marked up");
}

#[tokio::test]
async fn a_failed_endpoint_is_skipped_until_it_answers_again() {
    let mut a = Clamd::start("1M", &[]);
    let b = Clamd::start("1M", &[]);
    let check = antivirus(&[&a.tcp, &b.tcp], |_| {});
    let up = |ep: &str| metrics().clamd_endpoint_up.with_label_values(&[ep]).get();
    let refused = |ep: &str| {
        metrics()
            .clamd_errors
            .with_label_values(&[ep, "connect"])
            .get()
    };
    let msg = mail_with_attachment("eicar.com", EICAR);
    let found_in_log = |c: &Clamd| {
        c.log()
            .lines()
            .filter(|l| l.contains("instream(") && l.ends_with(" FOUND"))
            .count()
    };

    a.kill();
    // The first scan that meets the dead endpoint marks it down and is retried on b.
    for _ in 0..2 {
        assert_virus(&scan(&check, &msg).await, "a down, b up");
    }
    assert_eq!(up(&a.tcp), 0);
    let refused_while_down = refused(&a.tcp);
    for _ in 0..6 {
        assert_virus(&scan(&check, &msg).await, "a skipped");
    }
    // Skipped: no scan tried it, only the health checks (one every 200 ms) did.
    assert!(refused(&a.tcp) <= refused_while_down + 3);

    a.restart();
    let deadline = Instant::now() + Duration::from_secs(5);
    while up(&a.tcp) == 0 {
        assert!(Instant::now() < deadline, "restarted clamd not marked up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let before = found_in_log(&a);
    for _ in 0..4 {
        assert_virus(&scan(&check, &msg).await, "a back");
    }
    assert!(
        found_in_log(&a) > before,
        "restarted clamd got no scans:\n{}",
        a.log()
    );
}

#[tokio::test]
async fn unix_socket_outage_tempfails() {
    let mut clamd = Clamd::start("1M", &[]);
    let endpoint = clamd.unix.clone();
    clamd.kill();
    let check = antivirus(&[&endpoint], |_| {});
    let msg = text_mail("hi");
    assert_tempfail(&scan(&check, &msg).await, "unix socket of a dead clamd");
    std::fs::remove_file(clamd.socket_path()).ok();
    assert_tempfail(&scan(&check, &msg).await, "unix socket gone");
}

#[tokio::test]
async fn message_over_the_stream_limit_is_never_passed_unscanned() {
    // clamd takes at most 1 MiB per stream here; so does stream_max.
    let clamd = Clamd::start("1M", &[]);
    let check = antivirus(&[&clamd.tcp], |_| {});

    // Just under the limit: scanned whole, the virus after 900 kB of other parts is found.
    let near = {
        let mut m =
            b"From: a@example.com\r\nTo: b@ubnd.gov.vn\r\nSubject: big\r\nMIME-Version: 1.0\r\n\
                      Content-Type: multipart/mixed; boundary=\"b2\"\r\n\r\n--b2\r\n\
                      Content-Type: text/plain\r\n\r\n"
                .to_vec();
        m.extend(std::iter::repeat_n(b"tai lieu hop le\r\n".as_slice(), 52_000).flatten());
        m.extend_from_slice(b"--b2\r\nContent-Type: application/octet-stream; name=\"e.com\"\r\n");
        m.extend_from_slice(b"Content-Transfer-Encoding: base64\r\n\r\n");
        m.extend_from_slice(&base64_lines(EICAR));
        m.extend_from_slice(b"--b2--\r\n");
        m
    };
    assert!(
        near.len() > 880_000 && near.len() < 1 << 20,
        "{}",
        near.len()
    );
    assert_virus(&scan_spilled(&check, &near).await, "just under stream_max");

    // Over stream_max: not sent, a permanent `unscannable` refusal naming the sizes.
    let over = mail_with_attachment("hoso.pdf", &noise(1_200_000, 5));
    let before = scans("unscannable");
    let found = scan_spilled(&check, &over).await;
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].rule, "unscannable");
    assert_eq!(found[0].action, Action::Reject);
    let reply = found[0].reply().one_line();
    assert!(
        reply.starts_with("552 5.3.4 Thư quá lớn để quét vi-rút") && reply.contains("1 MiB"),
        "{reply}"
    );
    assert_eq!(scans("unscannable"), before + 1);

    // stream_max set above clamd's StreamMaxLength (a misconfiguration the start-up probe
    // logs): clamd refuses the stream and on_error decides; the message still never passes
    // silently.
    let wrong = antivirus(&[&clamd.tcp], |c| c.stream_max = ByteSize(2 << 20));
    assert_tempfail(&scan(&wrong, &over).await, "clamd refuses the stream");
    let wrong_accept = antivirus(&[&clamd.tcp], |c| {
        c.stream_max = ByteSize(2 << 20);
        c.on_error = OnError::Accept;
    });
    let found = scan(&wrong_accept, &over).await;
    assert_eq!(found[0].action, Action::Tag, "{found:?}");
    let size_limit = metrics()
        .clamd_errors
        .with_label_values(&[clamd.tcp.as_str(), "size_limit"])
        .get();
    assert!(size_limit >= 2, "size_limit errors: {size_limit}");
}

#[tokio::test]
async fn members_clamd_cannot_scan_fully_are_unscannable() {
    // With AlertExceedsMax (set by the harness) clamd reports a member past MaxFileSize as
    // Heuristics.Limits.Exceeded.MaxFileSize instead of calling the message clean.
    let clamd = Clamd::start("4M", &["MaxFileSize 200K"]);
    let check = antivirus(&[&clamd.tcp], |c| c.stream_max = ByteSize(4 << 20));
    let zip = zip_of("big.bin", &noise(400_000, 9));
    let found = scan(&check, &mail_with_attachment("hoso.zip", &zip)).await;
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].rule, "unscannable", "{found:?}");
    assert!(
        found[0].text.en.contains("Heuristics.Limits.Exceeded"),
        "{found:?}"
    );
}

/// A content check that rereads the whole spooled message while the scan streams it, as the
/// MIME walk does.
struct Rereader;

impl locthu::engine::Check for Rereader {
    fn name(&self) -> &'static str {
        "rereader"
    }

    fn data<'a>(
        &'a self,
        _conn: &'a locthu::engine::Connection,
        _env: &'a locthu::engine::Envelope,
        msg: &'a locthu::spool::Spool,
    ) -> locthu::engine::CheckFuture<'a> {
        Box::pin(async move {
            for _ in 0..200 {
                assert_eq!(msg.bytes().unwrap().len() as u64, msg.len());
                tokio::task::yield_now().await;
            }
            Vec::new()
        })
    }
}

#[tokio::test]
async fn the_tail_of_a_spilled_message_is_scanned_while_other_checks_read_it() {
    let clamd = Clamd::start_with("1M", &[], false);
    let engine = locthu::engine::Engine::new(
        vec![antivirus(&[&clamd.tcp], |_| {}), Arc::new(Rereader)],
        Default::default(),
    );
    // The virus is in the last part, after 700 kB of others.
    let mut msg =
        b"From: a@example.com\r\nTo: b@ubnd.gov.vn\r\nSubject: tail\r\nMIME-Version: 1.0\r\n\
                    Content-Type: multipart/mixed; boundary=\"b3\"\r\n\r\n--b3\r\n\
                    Content-Type: application/octet-stream; name=\"a.bin\"\r\n\
                    Content-Transfer-Encoding: base64\r\n\r\n"
            .to_vec();
    msg.extend_from_slice(&base64_lines(&noise(520_000, 11)));
    msg.extend_from_slice(b"--b3\r\nContent-Type: application/octet-stream; name=\"e.com\"\r\n");
    msg.extend_from_slice(b"Content-Transfer-Encoding: base64\r\n\r\n");
    msg.extend_from_slice(&base64_lines(EICAR));
    msg.extend_from_slice(b"--b3--\r\n");
    let dir = tempfile::tempdir().unwrap();
    let mut spool = locthu::spool::Spool::new(dir.path(), 4096);
    spool.write(&msg).unwrap();
    let verdict = engine
        .data(&conn(), &locthu::engine::Envelope::default(), &spool)
        .await;
    assert_eq!(verdict.rules(), vec!["virus"], "{:?}", verdict.findings);
}

#[tokio::test]
async fn ping_and_version_answer_over_tcp_and_unix() {
    use locthu::clamd::{Client, Endpoint};
    let clamd = Clamd::start("1M", &[]);
    for ep in [&clamd.tcp, &clamd.unix] {
        let client = Client::new(
            Endpoint::parse(ep).unwrap(),
            Duration::from_secs(2),
            Duration::from_secs(5),
        );
        client.ping().await.unwrap();
        let version = client.version().await.unwrap();
        assert!(version.starts_with("ClamAV 1."), "{version}");
        let mut eicar = EICAR;
        let verdict = client.scan(&mut eicar).await.unwrap();
        assert_eq!(
            verdict,
            locthu::clamd::Verdict::Found("Eicar-Body-Signature.UNOFFICIAL".into())
        );
    }
}
