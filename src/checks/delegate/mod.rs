//! Delegation: for sites that already run rspamd or SpamAssassin's spamd, the message is sent
//! to it as well and its score joins ours as one symbol (`RSPAMD` or `SPAMD`), so an admin's
//! tuned rules keep working while locthu's own take over. Their verdict never decides alone:
//! a filter that is down, slow or answers nonsense adds nothing, and the message is judged on
//! our own symbols (logged, so the outage is seen).

mod rspamd;
mod spamd;

use std::time::Duration;

use tracing::warn;

use crate::config::spam_delegate::{DelegateConfig, DelegateKind};
use crate::engine::{Bilingual, Check, CheckFuture, Connection, Envelope, Finding};
use crate::spool::Spool;

/// What the other filter said.
#[derive(Debug, Clone, PartialEq)]
pub struct Opinion {
    pub score: f64,
    /// Its own threshold, for the report.
    pub required: f64,
    /// Its symbols that weigh most, names only.
    pub symbols: Vec<String>,
}

/// The delegating check.
pub struct Delegate {
    kind: DelegateKind,
    address: String,
    timeout: Duration,
    max_size: u64,
    weight: f64,
}

impl Delegate {
    pub fn new(cfg: &DelegateConfig) -> Self {
        Delegate {
            kind: cfg.kind,
            address: cfg.address.clone(),
            timeout: cfg.timeout.get(),
            max_size: cfg.max_size.0,
            weight: cfg.weight,
        }
    }

    fn symbol_name(&self) -> &'static str {
        match self.kind {
            DelegateKind::Rspamd => "RSPAMD",
            DelegateKind::Spamd => "SPAMD",
        }
    }

    async fn ask(&self, conn: &Connection, env: &Envelope, msg: &[u8]) -> Result<Opinion, String> {
        match self.kind {
            DelegateKind::Rspamd => rspamd::check(&self.address, conn, env, msg).await,
            DelegateKind::Spamd => spamd::check(&self.address, msg).await,
        }
    }
}

impl Check for Delegate {
    fn name(&self) -> &'static str {
        "delegate"
    }

    fn data<'a>(
        &'a self,
        conn: &'a Connection,
        env: &'a Envelope,
        msg: &'a Spool,
    ) -> CheckFuture<'a> {
        Box::pin(async move {
            if msg.len() > self.max_size {
                return Vec::new();
            }
            let bytes = match msg.bytes() {
                Ok(b) => b,
                Err(e) => {
                    warn!(conn = conn.id, error = %e, "spool unreadable for delegation");
                    return Vec::new();
                }
            };
            let asked = tokio::time::timeout(self.timeout, self.ask(conn, env, &bytes)).await;
            let opinion = match asked {
                Ok(Ok(o)) => o,
                Ok(Err(e)) => {
                    warn!(conn = conn.id, filter = self.symbol_name(), address = %self.address, error = %e, "delegated filter failed; scoring without it");
                    return Vec::new();
                }
                Err(_) => {
                    warn!(conn = conn.id, filter = self.symbol_name(), address = %self.address, timeout_s = self.timeout.as_secs_f64(), "delegated filter timed out; scoring without it");
                    return Vec::new();
                }
            };
            let who = self.symbol_name().to_ascii_lowercase();
            let top = opinion.symbols.join(", ");
            vec![Finding::symbol(
                self.symbol_name(),
                opinion.score * self.weight,
                Bilingual::new(
                    format!(
                        "{who}: điểm {:.1}/{:.1} ({top})",
                        opinion.score, opinion.required
                    ),
                    format!(
                        "{who}: score {:.1}/{:.1} ({top})",
                        opinion.score, opinion.required
                    ),
                ),
            )]
        })
    }
}
