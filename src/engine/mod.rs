//! The filter engine: stages, findings, checks, and the verdict that turns findings into one
//! action. Transports (SMTP proxy, milter, `scan`) only translate to and from it.

mod action;
mod check;
mod context;
mod finding;
mod message;
mod outgoing;
mod score;
mod verdict;

use std::sync::Arc;
use std::time::{Duration, Instant};

pub use action::Action;
pub use check::{Check, CheckFuture, Pending, StampFuture};
pub use context::{
    domain_of, Client, Connection, Direction, Envelope, Extensions, Recipient, Role,
};
pub use finding::{rule, Bilingual, Finding};
pub use message::{count, Disposition, Done, Faults, Judged, MessagePolicy};
pub use outgoing::Outgoing;
pub use score::{ScorePolicy, Scored, Thresholds};
pub use verdict::Verdict;

use crate::metrics::metrics;
use crate::spool::Spool;

/// The SMTP stage a check runs at; a check runs at the earliest stage that can decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Connect,
    Helo,
    Mail,
    Rcpt,
    Data,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Connect => "connect",
            Stage::Helo => "helo",
            Stage::Mail => "mail",
            Stage::Rcpt => "rcpt",
            Stage::Data => "data",
        }
    }
}

/// How long the checks of one envelope stage (connect, helo, mail, rcpt) may wait, and what
/// the stage's answer is when they do not finish: `tempfail` (the default: the client tries
/// again, nothing is decided on missing facts) or `accept` (the missing checks count as
/// having found nothing). The data stage has its own deadline, `limits.end_of_data_timeout`.
#[derive(Debug, Clone, Copy)]
pub struct StageLimits {
    pub timeout: Duration,
    pub on_timeout: Action,
}

impl Default for StageLimits {
    fn default() -> Self {
        StageLimits {
            timeout: Duration::from_secs(15),
            on_timeout: Action::Tempfail,
        }
    }
}

/// The checks of one config generation, run at each stage.
#[derive(Clone, Default)]
pub struct Engine {
    checks: Vec<Arc<dyn Check>>,
    limits: StageLimits,
    policy: MessagePolicy,
    /// The bounds of the one content parse, when some check reads content.
    content: Option<crate::inspect::Limits>,
    /// Scores to actions, when anti-spam is on.
    scoring: Option<Arc<ScorePolicy>>,
}

impl Engine {
    pub fn new(checks: Vec<Arc<dyn Check>>, limits: StageLimits) -> Self {
        Engine {
            checks,
            limits,
            policy: MessagePolicy::default(),
            content: None,
            scoring: None,
        }
    }

    /// Turns the sum of each message's scoring symbols into the `spam` finding.
    pub fn with_scoring(mut self, scoring: ScorePolicy) -> Self {
        self.scoring = Some(Arc::new(scoring));
        self
    }

    /// The scoring policy, when anti-spam is on.
    pub fn scoring(&self) -> Option<&ScorePolicy> {
        self.scoring.as_deref()
    }

    /// The bounds of the content parse (`inspect.*` limits); it runs only if a check reads
    /// content.
    pub fn with_content_limits(mut self, limits: crate::inspect::Limits) -> Self {
        self.content = self
            .checks
            .iter()
            .any(|c| c.reads_content())
            .then_some(limits);
        self
    }

    /// The per-message settings (deadline, quarantine, kept copies, tag headers).
    pub fn with_policy(mut self, policy: MessagePolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Names of the enabled checks, for the startup log.
    pub fn check_names(&self) -> Vec<&'static str> {
        self.checks.iter().map(|c| c.name()).collect()
    }

    pub async fn connect(&self, conn: &Connection) -> Verdict {
        let pending = self.gather(|c, out| c.connect(conn, out));
        self.settle(Stage::Connect, pending).await
    }

    pub async fn helo(&self, conn: &Connection) -> Verdict {
        let pending = self.gather(|c, out| c.helo(conn, out));
        self.settle(Stage::Helo, pending).await
    }

    pub async fn mail(&self, conn: &Connection, env: &Envelope) -> Verdict {
        let pending = self.gather(|c, out| c.mail(conn, env, out));
        self.settle(Stage::Mail, pending).await
    }

    /// The verdict on one recipient: every finding names it.
    pub async fn rcpt(&self, conn: &Connection, env: &Envelope, rcpt: &str) -> Verdict {
        let pending = self.gather(|c, out| c.rcpt(conn, env, rcpt, out));
        let mut verdict = self.settle(Stage::Rcpt, pending).await;
        for f in &mut verdict.findings {
            f.recipient.get_or_insert_with(|| rcpt.to_string());
        }
        verdict
    }

    /// Tells every check how the message ended (see [`Check::finished`]).
    pub fn finished(&self, conn: &Connection, env: &Envelope, verdict: &Verdict, delivered: bool) {
        for c in &self.checks {
            c.finished(conn, env, verdict, delivered);
        }
    }

    /// Runs every check's hook: what they decide at once, and what they still wait for.
    fn gather<'a>(
        &'a self,
        mut hook: impl FnMut(&'a dyn Check, &mut Vec<Finding>) -> Pending<'a>,
    ) -> (Vec<Finding>, Vec<(&'static str, CheckFuture<'a>)>, Instant) {
        let started = Instant::now();
        let mut findings = Vec::new();
        let mut waiting = Vec::new();
        for check in &self.checks {
            if let Some(f) = hook(check.as_ref(), &mut findings) {
                waiting.push((check.name(), f));
            }
        }
        (findings, waiting, started)
    }

    /// Awaits the checks still waiting, together, within the stage deadline.
    async fn settle<'a>(
        &self,
        stage: Stage,
        (mut findings, waiting, started): (
            Vec<Finding>,
            Vec<(&'static str, CheckFuture<'a>)>,
            Instant,
        ),
    ) -> Verdict {
        // A reject decided at once is final: nothing a slower check finds could change it.
        let rejected = findings.iter().any(|f| f.action == Action::Reject);
        if !waiting.is_empty() && !rejected {
            let names: Vec<&str> = waiting.iter().map(|(n, _)| *n).collect();
            let all = futures_util::future::join_all(waiting.into_iter().map(|(_, f)| f));
            match tokio::time::timeout(self.limits.timeout, all).await {
                Ok(results) => findings.extend(results.into_iter().flatten()),
                Err(_) => {
                    tracing::warn!(stage = stage.as_str(), checks = ?names, "checks did not finish within the stage deadline");
                    if self.limits.on_timeout != Action::Accept {
                        findings.push(Finding::new(
                            rule::CHECK_TIMEOUT,
                            self.limits.on_timeout,
                            Bilingual::new("Kiểm tra quá thời gian", "Checks took too long"),
                        ));
                    }
                }
            }
        }
        observe(stage, started);
        Verdict::new(findings)
    }

    /// Runs the cheap end-of-data checks, then, unless they already refused the message, every
    /// content check concurrently over the spooled message.
    pub async fn data(&self, conn: &Connection, env: &Envelope, msg: &Spool) -> Verdict {
        let started = Instant::now();
        let mut early = Vec::new();
        for check in &self.checks {
            check.end_of_data(conn, env, &mut early);
        }
        let early = Verdict::new(early);
        if early.refusal().is_some() {
            observe(Stage::Data, started);
            return early;
        }
        // The parse (CPU, on a blocking thread) and the checks that stream the raw message
        // (clamd) run at the same time.
        let runs =
            futures_util::future::join_all(self.checks.iter().map(|c| c.data(conn, env, msg)));
        let (raw_findings, content) = futures_util::future::join(runs, self.parse(msg)).await;
        let mut verdict = early;
        verdict.findings.extend(raw_findings.into_iter().flatten());
        if let Some(content) = &content {
            let mut findings = Vec::new();
            let mut waiting = Vec::new();
            for check in &self.checks {
                if let Some(f) = check.headers(conn, env, &content.headers, &mut findings) {
                    waiting.push(f);
                }
            }
            for check in &self.checks {
                if let Some(f) = check.content(conn, env, content, &mut findings) {
                    waiting.push(f);
                }
            }
            findings.extend(
                futures_util::future::join_all(waiting)
                    .await
                    .into_iter()
                    .flatten(),
            );
            verdict.findings.extend(findings);
        }
        // A message already refused for what it is (a virus, an executable) is not scored:
        // its answer names that rule, and spam counters do not count it.
        if let Some(scoring) = &self.scoring {
            if verdict.refusal().is_none() {
                scoring.judge(conn.direction(), &mut verdict);
            }
        }
        observe(Stage::Data, started);
        verdict
    }

    /// The one parse of a message into the content model, when a check reads content.
    ///
    /// The parse needs the whole message in memory (mail-parser does not stream), so at most
    /// one runs per CPU (`inspect::walk_slots`): more buys no throughput, and 100 spooled 25 MB
    /// messages read at once would need gigabytes. Waiting counts against the end-of-data
    /// deadline, so an overload defers mail (451), never drops it. A message that cannot be
    /// read or parsed is unscannable to the rules, never clean.
    async fn parse(&self, msg: &Spool) -> Option<Arc<crate::inspect::Content>> {
        use crate::inspect::Content;
        let limits = self.content.clone()?;
        let Ok(_slot) = crate::inspect::walk_slots().acquire().await else {
            return Some(Arc::new(Content::unreadable()));
        };
        let bytes = match msg.bytes() {
            Ok(b) => b.into_owned(),
            Err(e) => {
                tracing::warn!(error = %e, "spool unreadable for the content parse");
                return Some(Arc::new(Content::unreadable()));
            }
        };
        let parsed =
            tokio::task::spawn_blocking(move || crate::inspect::analyse(&bytes, &limits)).await;
        Some(Arc::new(parsed.unwrap_or_else(|_| Content::unreadable())))
    }
}

fn observe(stage: Stage, started: Instant) {
    metrics()
        .stage_seconds
        .with_label_values(&[stage.as_str()])
        .observe(started.elapsed().as_secs_f64());
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A recipient check that has to wait: for `rcpt` in `slow`, longer than any deadline here.
    struct Lookup {
        slow: &'static str,
        /// Refuses `blocked…` recipients at once.
        blocks: bool,
    }

    impl Check for Lookup {
        fn name(&self) -> &'static str {
            "lookup"
        }

        fn rcpt<'a>(
            &'a self,
            _conn: &'a Connection,
            _env: &'a Envelope,
            rcpt: &'a str,
            out: &mut Vec<Finding>,
        ) -> Pending<'a> {
            if self.blocks && rcpt.starts_with("blocked") {
                out.push(Finding::new(
                    "blocked",
                    Action::Reject,
                    Bilingual::new("x", "x"),
                ));
                return None;
            }
            let slow = rcpt == self.slow;
            Some(Box::pin(async move {
                if slow {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                }
                vec![Finding::new(
                    "looked-up",
                    Action::Tag,
                    Bilingual::new("y", "y"),
                )]
            }))
        }
    }

    fn conn() -> Connection {
        Connection {
            id: 1,
            listener: Arc::from("in"),
            role: Role::Inbound,
            client: Client {
                addr: "192.0.2.1:25".parse().unwrap(),
                name: None,
                helo: None,
                login: None,
                trusted: false,
                addr_unavailable: false,
            },
            tls: false,
        }
    }

    fn engine(on_timeout: Action) -> Engine {
        Engine::new(
            vec![Arc::new(Lookup {
                slow: "slow@a.vn",
                blocks: true,
            })],
            StageLimits {
                timeout: Duration::from_millis(100),
                on_timeout,
            },
        )
    }

    #[tokio::test]
    async fn a_stage_waits_for_its_checks_and_names_the_recipient() {
        let v = engine(Action::Tempfail)
            .rcpt(&conn(), &Envelope::default(), "b@a.vn")
            .await;
        assert_eq!(v.action(), Action::Tag);
        assert_eq!(v.findings[0].recipient.as_deref(), Some("b@a.vn"));
        let v = engine(Action::Tempfail)
            .rcpt(&conn(), &Envelope::default(), "blocked@a.vn")
            .await;
        assert_eq!(v.rules(), vec!["blocked"]);
        assert!(v.refusal().unwrap().to_wire().starts_with("550"));
    }

    /// A content check that refuses a message for one recipient only (as a per-mailbox
    /// policy would), and reads the headers.
    struct PerRecipient;

    impl Check for PerRecipient {
        fn name(&self) -> &'static str {
            "per-recipient"
        }
        fn reads_content(&self) -> bool {
            true
        }
        fn headers<'a>(
            &'a self,
            _conn: &'a Connection,
            _env: &'a Envelope,
            headers: &'a [crate::inspect::content::Header],
            out: &mut Vec<Finding>,
        ) -> Pending<'a> {
            if headers.iter().any(|h| h.value.contains("MẬT")) {
                out.push(Finding::new(
                    "classified",
                    Action::Quarantine,
                    Bilingual::new("m", "m"),
                ));
            }
            None
        }
        fn content<'a>(
            &'a self,
            _conn: &'a Connection,
            env: &'a Envelope,
            _content: &'a crate::inspect::Content,
            out: &mut Vec<Finding>,
        ) -> Pending<'a> {
            for r in env.rcpts.iter().filter(|r| r.address.starts_with("closed")) {
                let mut f =
                    Finding::new("mailbox-closed", Action::Reject, Bilingual::new("c", "c"));
                f.recipient = Some(r.address.clone());
                out.push(f);
            }
            None
        }
    }

    #[tokio::test]
    async fn in_the_proxy_a_content_finding_for_one_recipient_decides_the_message() {
        // By the end of DATA every recipient was accepted upstream: the proxy cannot take one
        // back, so the strictest finding decides for the whole message (DESIGN.md).
        let e = Engine::new(vec![Arc::new(PerRecipient)], StageLimits::default())
            .with_content_limits(crate::inspect::Limits::default());
        let env = Envelope {
            rcpts: vec!["open@a.vn".into(), "closed@a.vn".into()],
            ..Envelope::default()
        };
        let msg = Spool::from_bytes(b"Subject: =?utf-8?Q?M=E1=BA=ACT?=\r\n\r\nhello\r\n".to_vec());
        let v = e.data(&conn(), &env, &msg).await;
        assert_eq!(v.action(), Action::Reject);
        assert_eq!(
            v.decisive().unwrap().recipient.as_deref(),
            Some("closed@a.vn")
        );
        assert!(v.rules().contains(&"classified"), "{:?}", v.rules());
        let env = Envelope {
            rcpts: vec!["open@a.vn".into()],
            ..Envelope::default()
        };
        assert_eq!(
            e.data(&conn(), &env, &msg).await.action(),
            Action::Quarantine
        );
    }

    #[tokio::test]
    async fn a_reject_decided_at_once_does_not_wait_for_slower_checks() {
        let e = Engine::new(
            vec![
                Arc::new(Lookup {
                    slow: "blocked-slow@a.vn",
                    blocks: false,
                }),
                Arc::new(Lookup {
                    slow: "none",
                    blocks: true,
                }),
            ],
            StageLimits {
                timeout: Duration::from_secs(20),
                on_timeout: Action::Tempfail,
            },
        );
        let started = Instant::now();
        let v = e
            .rcpt(&conn(), &Envelope::default(), "blocked-slow@a.vn")
            .await;
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(v.action(), Action::Reject);
    }

    #[tokio::test]
    async fn a_stage_past_its_deadline_takes_the_configured_fail_mode() {
        let started = Instant::now();
        let v = engine(Action::Tempfail)
            .rcpt(&conn(), &Envelope::default(), "slow@a.vn")
            .await;
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(v.rules(), vec![rule::CHECK_TIMEOUT]);
        assert!(v.refusal().unwrap().to_wire().starts_with("451"));
        let v = engine(Action::Accept)
            .rcpt(&conn(), &Envelope::default(), "slow@a.vn")
            .await;
        assert_eq!(v.action(), Action::Accept);
        assert!(v.refusal().is_none());
    }
}
