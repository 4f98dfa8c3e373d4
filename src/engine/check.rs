use std::future::Future;
use std::pin::Pin;

use super::{Connection, Envelope, Finding, Outgoing, Verdict};
use crate::inspect::content::Header;
use crate::inspect::Content;
use crate::spool::Spool;

/// Findings a check has to wait for (DNS, the state store, a directory, a scanner).
pub type CheckFuture<'a> = Pin<Box<dyn Future<Output = Vec<Finding>> + Send + 'a>>;

/// Header lines a check adds to a message about to be delivered (see [`Check::stamp`]).
pub type StampFuture<'a> = Pin<Box<dyn Future<Output = Vec<u8>> + Send + 'a>>;

/// What an envelope hook returns: `None` when it decided at once (its findings are already
/// pushed), or the future of what it still waits for. Synchronous checks so cost nothing
/// more than a function call; the engine awaits the others together, within the stage's
/// deadline (`limits.stage_timeout`).
pub type Pending<'a> = Option<CheckFuture<'a>>;

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
    fn connect<'a>(&'a self, _conn: &'a Connection, _out: &mut Vec<Finding>) -> Pending<'a> {
        None
    }

    /// After HELO or EHLO; `conn.client.helo` holds the name.
    fn helo<'a>(&'a self, _conn: &'a Connection, _out: &mut Vec<Finding>) -> Pending<'a> {
        None
    }

    /// After MAIL FROM; `env.rcpts` is empty.
    fn mail<'a>(
        &'a self,
        _conn: &'a Connection,
        _env: &'a Envelope,
        _out: &mut Vec<Finding>,
    ) -> Pending<'a> {
        None
    }

    /// For each RCPT TO, before it is passed upstream. Findings here concern this recipient
    /// only: the engine names it in each, and a refusal refuses only this RCPT.
    fn rcpt<'a>(
        &'a self,
        _conn: &'a Connection,
        _env: &'a Envelope,
        _rcpt: &'a str,
        _out: &mut Vec<Finding>,
    ) -> Pending<'a> {
        None
    }

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

    /// Whether this check reads the content model or its headers: the engine then parses
    /// each message once (bounded, off the async workers) and calls [`Check::headers`] and
    /// [`Check::content`] with the result.
    fn reads_content(&self) -> bool {
        false
    }

    /// The message's header fields, decoded, before any `content` hook: for checks that judge
    /// the headers alone (a forged internal From, a classification marking in the Subject).
    /// A milter calls it at end-of-headers, before the body has arrived.
    fn headers<'a>(
        &'a self,
        _conn: &'a Connection,
        _env: &'a Envelope,
        _headers: &'a [Header],
        _out: &mut Vec<Finding>,
    ) -> Pending<'a> {
        None
    }

    /// After the end of DATA, with the message parsed once into the shared content model:
    /// headers, texts, links, every part and archive member. Every check that reads content
    /// reads this one; none parses the message again.
    fn content<'a>(
        &'a self,
        _conn: &'a Connection,
        _env: &'a Envelope,
        _content: &'a Content,
        _out: &mut Vec<Finding>,
    ) -> Pending<'a> {
        None
    }

    /// Header lines to add to a message that is about to be delivered (accepted or tagged),
    /// over its final header block: `Authentication-Results`, a DKIM signature (which must
    /// sign the header fields as they leave). Each line ends in CRLF; they go before the
    /// message's own fields. Stamps run together, after the engine's own edits.
    fn stamp<'a>(
        &'a self,
        _conn: &'a Connection,
        _env: &'a Envelope,
        _verdict: &'a Verdict,
        _out: &'a Outgoing<'a>,
    ) -> Option<StampFuture<'a>> {
        None
    }

    /// After the message's fate is known: `verdict` is the data stage's decision, `delivered`
    /// whether the upstream (or the quarantine) took it. For learning and bookkeeping (Bayes,
    /// seen Message-IDs, a sender's hit counts); it cannot change the answer, and must not
    /// block: spawn what takes time.
    fn finished(&self, _conn: &Connection, _env: &Envelope, _verdict: &Verdict, _delivered: bool) {}
}
