use std::future::Future;
use std::pin::Pin;

use super::{Connection, Envelope, Finding};
use crate::spool::Spool;

/// The future a data-stage check returns.
pub type CheckFuture<'a> = Pin<Box<dyn Future<Output = Vec<Finding>> + Send + 'a>>;

/// One filter, called at each SMTP stage it cares about (STYLE.md habit 9).
///
/// The SMTP proxy, the milter and `scan` all drive the same checks, so a check never talks to a
/// socket of the transaction itself. Each method pushes findings; the policy decides. A check that
/// cannot decide (its scanner is down) returns a finding with the configured fail action rather
/// than an error, so fail-open or fail-closed stays its own config's business.
pub trait Check: Send + Sync {
    /// A short stable name for logs and metrics.
    fn name(&self) -> &'static str;

    /// After the TCP connection (and XCLIENT, when a trusted proxy names the real client).
    fn connect(&self, _conn: &Connection, _out: &mut Vec<Finding>) {}

    /// After MAIL FROM; `env.rcpts` is empty.
    fn mail(&self, _conn: &Connection, _env: &Envelope, _out: &mut Vec<Finding>) {}

    /// For each RCPT TO, before it is passed upstream; findings here concern this recipient.
    fn rcpt(&self, _conn: &Connection, _env: &Envelope, _rcpt: &str, _out: &mut Vec<Finding>) {}

    /// At the end of DATA, before any content check: cheap decisions from the envelope and
    /// `env.size` alone. A reject or tempfail here skips the content checks.
    fn end_of_data(&self, _conn: &Connection, _env: &Envelope, _out: &mut Vec<Finding>) {}

    /// After the end of DATA, with the whole message spooled.
    ///
    /// CPU-heavy work belongs on `tokio::task::spawn_blocking` so one large message cannot stall
    /// other sessions.
    fn data<'a>(
        &'a self,
        _conn: &'a Connection,
        _env: &'a Envelope,
        _msg: &'a Spool,
    ) -> CheckFuture<'a> {
        Box::pin(async { Vec::new() })
    }
}
