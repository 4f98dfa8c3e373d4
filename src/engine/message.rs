//! The end of one message, owned by the engine so that every transport (the SMTP proxy, the
//! coming milter, `scan`) treats it the same: the protocol limits the transport counted, the
//! checks within the end-of-data deadline, what becomes of the message (refused, held in
//! quarantine, a copy kept, delivered with headers), and, once the transport has the final
//! answer, the counters, the transaction log line and the `finished` hooks.

use std::time::{Duration, Instant};

use tracing::{info, warn};

use super::{rule, Action, Bilingual, Connection, Engine, Envelope, Finding, Verdict};
use crate::metrics::metrics;
use crate::quarantine::Store;
use crate::reply::Reply;
use crate::spool::Spool;

/// The per-message settings of a config generation.
#[derive(Debug, Clone)]
pub struct MessagePolicy {
    /// From the end of DATA to the answer (`limits.end_of_data_timeout`).
    pub deadline: Duration,
    /// Rules whose rejected messages are kept in quarantine too (`quarantine.keep_rejected`).
    pub keep_rejected: Vec<String>,
    /// Our name, in the tag headers.
    pub hostname: String,
    pub quarantine: Store,
    /// For the texts of the protocol findings.
    pub data_line_length: usize,
    pub header_size: crate::config::ByteSize,
}

impl Default for MessagePolicy {
    fn default() -> Self {
        MessagePolicy {
            deadline: Duration::from_secs(90),
            keep_rejected: Vec::new(),
            hostname: "locthu".into(),
            quarantine: Store::new(std::env::temp_dir().join("locthu-quarantine")),
            data_line_length: 65_536,
            header_size: crate::config::ByteSize(256 * 1024),
        }
    }
}

/// Limits the transport counted while reading the message (they decide before any check).
#[derive(Debug, Clone, Copy, Default)]
pub struct Faults {
    pub line_too_long: bool,
    pub header_too_big: bool,
    /// Bare LF line ends, when `server.bare_lf = "reject"`.
    pub bare_lf: bool,
}

/// What the transport must do with a judged message.
#[derive(Debug)]
pub enum Disposition {
    /// Answer the client with this; nothing goes upstream (refused, or held in quarantine).
    Answer(Reply),
    /// Send it upstream: `headers` in place of the spool's first `skip` bytes (0: before the
    /// whole message; otherwise they hold the edited header block too). The upstream's reply
    /// is the answer.
    Deliver { headers: Vec<u8>, skip: u64 },
}

/// A judged message: the verdict, and what to do.
#[derive(Debug)]
pub struct Judged {
    pub verdict: Verdict,
    pub disposition: Disposition,
}

impl Engine {
    /// Judges a received message and disposes of it: protocol faults first, then the checks
    /// within the deadline (missed: `check-timeout`, a tempfail), then quarantine or a kept
    /// copy, whose files are written and fsynced on a blocking thread, never on the session's
    /// worker. The spool is lent to that thread and given back.
    pub async fn end_of_data(
        &self,
        conn: &Connection,
        env: &Envelope,
        spool: Spool,
        faults: Faults,
    ) -> (Judged, Spool) {
        let policy = &self.policy;
        let verdict = match self.protocol_findings(faults) {
            Some(v) => v,
            None => {
                let checks = self.data(conn, env, &spool);
                match tokio::time::timeout(policy.deadline, checks).await {
                    Ok(v) => v,
                    Err(_) => Verdict::new(vec![Finding::new(
                        rule::CHECK_TIMEOUT,
                        Action::Tempfail,
                        Bilingual::new("Kiểm tra thư quá thời gian", "Checks took too long"),
                    )]),
                }
            }
        };
        let keep = verdict.action() == Action::Reject
            && verdict
                .rules()
                .iter()
                .any(|r| policy.keep_rejected.iter().any(|k| k == r));
        let (disposition, spool) = match verdict.action() {
            Action::Reject => {
                let spool = if keep {
                    let (stored, spool) = self.store(conn, env, &verdict, spool).await;
                    match stored {
                        Ok(id) => {
                            info!(conn = conn.id, id = %id, "rejected message kept in quarantine")
                        }
                        Err(e) => {
                            warn!(conn = conn.id, error = %e, "cannot keep a copy of the rejected message")
                        }
                    }
                    spool
                } else {
                    spool
                };
                (refusal(&verdict), spool)
            }
            Action::Tempfail => (refusal(&verdict), spool),
            Action::Quarantine => {
                let (stored, spool) = self.store(conn, env, &verdict, spool).await;
                let reply = match stored {
                    Ok(id) => {
                        info!(conn = conn.id, id = %id, "quarantined");
                        Reply::new(250, "2.0.0", format!("Ok: held for review as {id}"))
                    }
                    Err(e) => {
                        warn!(conn = conn.id, error = %e, dir = %policy.quarantine.dir().display(), "cannot quarantine");
                        Reply::new(
                            451,
                            "4.3.0",
                            "Không lưu được vào khu cách ly, thử lại sau / Cannot quarantine, try again later",
                        )
                    }
                };
                (Disposition::Answer(reply), spool)
            }
            Action::Accept | Action::Tag => {
                let (headers, skip) = self.outgoing(conn, env, &verdict, &spool).await;
                (Disposition::Deliver { headers, skip }, spool)
            }
        };
        (
            Judged {
                verdict,
                disposition,
            },
            spool,
        )
    }

    /// Writes the message to the quarantine on a blocking thread.
    async fn store(
        &self,
        conn: &Connection,
        env: &Envelope,
        verdict: &Verdict,
        spool: Spool,
    ) -> (std::io::Result<String>, Spool) {
        let store = self.policy.quarantine.clone();
        let (conn, env, verdict) = (conn.clone(), env.clone(), verdict.clone());
        let task = tokio::task::spawn_blocking(move || {
            let stored = store.put(&conn, &env, &verdict, &spool);
            (stored, spool)
        });
        match task.await {
            Ok(done) => done,
            // The task cannot be cancelled, only panic; the spool is then gone with it, and
            // the message is not held: the client hears 451 and sends it again.
            Err(e) => (
                Err(std::io::Error::other(format!(
                    "quarantine task failed: {e}"
                ))),
                Spool::from_bytes(Vec::new()),
            ),
        }
    }

    /// The message's end, once the transport has the final answer: the counters, the
    /// transaction log line (one per message, the audit trail admins grep) and the checks'
    /// `finished` hooks.
    pub fn message_done(&self, done: &Done<'_>) {
        let verdict = &done.judged.verdict;
        count(&done.conn.listener, verdict);
        crate::spam::metrics::spam_metrics().observe(verdict);
        metrics()
            .transaction_seconds
            .with_label_values(&[&done.conn.listener])
            .observe(done.started.elapsed().as_secs_f64());
        let conn = done.conn;
        let env = done.env;
        info!(
            conn = conn.id,
            listener = %conn.listener,
            client = %conn.client.addr,
            helo = conn.client.helo.as_deref().unwrap_or(""),
            from = %env.mail_from,
            rcpts = ?env.rcpt_addresses(),
            size = env.size,
            action = %verdict.action(),
            rules = ?verdict.rules(),
            reply = %done.reply,
            upstream = done.upstream.unwrap_or("-"),
            ms = done.started.elapsed().as_millis() as u64,
            "transaction"
        );
        self.finished(conn, env, verdict, done.reply.is_positive());
    }

    /// Limits the transport counted, as findings.
    fn protocol_findings(&self, f: Faults) -> Option<Verdict> {
        let p = &self.policy;
        let mut findings = Vec::new();
        if f.line_too_long {
            findings.push(
                Finding::new(
                    rule::LINE_LENGTH,
                    Action::Reject,
                    Bilingual::new(
                        format!("Dòng dài quá {} byte", p.data_line_length),
                        format!("Line longer than {} bytes", p.data_line_length),
                    ),
                )
                .with_code(550, "5.6.0"),
            );
        }
        if f.header_too_big {
            findings.push(
                Finding::new(
                    rule::HEADER_SIZE,
                    Action::Reject,
                    Bilingual::new(
                        format!("Phần tiêu đề lớn quá {}", p.header_size),
                        format!("Header block larger than {}", p.header_size),
                    ),
                )
                .with_code(552, "5.3.4"),
            );
        }
        if f.bare_lf {
            findings.push(
                Finding::new(
                    rule::BARE_LF,
                    Action::Reject,
                    Bilingual::new(
                        "Thư có ký tự xuống dòng LF đơn lẻ",
                        "Message contains bare LF line endings (RFC 5321 2.3.8)",
                    ),
                )
                .with_code(550, "5.6.0"),
            );
        }
        (!findings.is_empty()).then(|| Verdict::new(findings))
    }
}

/// What [`Engine::message_done`] reports on.
pub struct Done<'a> {
    pub conn: &'a Connection,
    pub env: &'a Envelope,
    pub judged: &'a Judged,
    /// The answer the client heard.
    pub reply: &'a Reply,
    /// The upstream's own answer, when the message went there.
    pub upstream: Option<&'a str>,
    pub started: Instant,
}

/// Counts a decision: `locthu_transactions_total{listener, action, rule}`.
pub fn count(listener: &str, verdict: &Verdict) {
    let rule = verdict
        .decisive()
        .map(|f| f.rule.as_ref())
        .unwrap_or("none");
    metrics()
        .transactions
        .with_label_values(&[listener, verdict.action().as_str(), rule])
        .inc();
}

fn refusal(verdict: &Verdict) -> Disposition {
    Disposition::Answer(
        verdict
            .refusal()
            .unwrap_or_else(|| Reply::new(451, "4.3.0", "Temporary failure")),
    )
}
