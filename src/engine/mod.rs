//! The filter engine: stages, findings, checks, and the verdict that turns findings into one
//! action. Transports (SMTP proxy, milter, `scan`) only translate to and from it.

mod action;
mod check;
mod context;
mod finding;
mod verdict;

use std::sync::Arc;
use std::time::Instant;

pub use action::Action;
pub use check::{Check, CheckFuture};
pub use context::{domain_of, Client, Connection, Direction, Envelope, Role};
pub use finding::{rule, Bilingual, Finding};
pub use verdict::Verdict;

use crate::metrics::metrics;
use crate::spool::Spool;

/// The SMTP stage a check runs at; a check runs at the earliest stage that can decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Connect,
    Mail,
    Rcpt,
    Data,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Connect => "connect",
            Stage::Mail => "mail",
            Stage::Rcpt => "rcpt",
            Stage::Data => "data",
        }
    }
}

/// The checks of one config generation, run in order at each stage.
#[derive(Clone, Default)]
pub struct Engine {
    checks: Vec<Arc<dyn Check>>,
}

impl Engine {
    pub fn new(checks: Vec<Arc<dyn Check>>) -> Self {
        Engine { checks }
    }

    /// Names of the enabled checks, for the startup log.
    pub fn check_names(&self) -> Vec<&'static str> {
        self.checks.iter().map(|c| c.name()).collect()
    }

    pub fn connect(&self, conn: &Connection) -> Verdict {
        self.sync_stage(Stage::Connect, |c, out| c.connect(conn, out))
    }

    pub fn mail(&self, conn: &Connection, env: &Envelope) -> Verdict {
        self.sync_stage(Stage::Mail, |c, out| c.mail(conn, env, out))
    }

    pub fn rcpt(&self, conn: &Connection, env: &Envelope, rcpt: &str) -> Verdict {
        self.sync_stage(Stage::Rcpt, |c, out| c.rcpt(conn, env, rcpt, out))
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
        let runs = self.checks.iter().map(|c| c.data(conn, env, msg));
        let mut verdict = early;
        for findings in futures_util::future::join_all(runs).await {
            verdict.findings.extend(findings);
        }
        observe(Stage::Data, started);
        verdict
    }

    fn sync_stage(
        &self,
        stage: Stage,
        mut run: impl FnMut(&dyn Check, &mut Vec<Finding>),
    ) -> Verdict {
        let started = Instant::now();
        let mut findings = Vec::new();
        for check in &self.checks {
            run(check.as_ref(), &mut findings);
        }
        observe(stage, started);
        Verdict::new(findings)
    }
}

fn observe(stage: Stage, started: Instant) {
    metrics()
        .stage_seconds
        .with_label_values(&[stage.as_str()])
        .observe(started.elapsed().as_secs_f64());
}
