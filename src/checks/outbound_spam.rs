//! Outbound spam counted per sender: every message an internal mailbox sends that scores as
//! spam (tagged or worse) adds one to that sender's count for the current window, in the state
//! store, so that all nodes sharing a Redis store agree. A mailbox that suddenly sends spam is
//! most often a stolen password (An Giang Đ10.1g: spam sent from the system is blocked too);
//! the policy checks read the same counter (key [`key`], `Store::incr` windows) to hold such a sender, and the log names it at once.

use std::time::Duration;

use tracing::{info, warn};

use crate::engine::{Check, Connection, Direction, Envelope, Verdict};
use crate::state::Store;

/// The sender an outbound message is counted against: the SASL login when there is one (the
/// mailbox whose password was used), else the envelope sender, lowercased.
pub fn sender_of(conn: &Connection, env: &Envelope) -> Option<String> {
    let who = conn.client.login.as_deref().unwrap_or(&env.mail_from);
    (!who.is_empty()).then(|| who.to_ascii_lowercase())
}

/// The state-store counter of one sender's outbound spam.
pub fn key(sender: &str) -> String {
    format!("spam-out:{sender}")
}

/// The `finished` hook that counts.
pub struct OutboundSpam {
    store: Store,
    window: Duration,
}

impl OutboundSpam {
    pub fn new(store: Store, window: Duration) -> Self {
        OutboundSpam { store, window }
    }
}

impl Check for OutboundSpam {
    fn name(&self) -> &'static str {
        "outbound-spam"
    }

    fn finished(&self, conn: &Connection, env: &Envelope, verdict: &Verdict, _delivered: bool) {
        let Some(scored) = &verdict.scored else {
            return;
        };
        if scored.direction != Direction::Outbound || !scored.is_spam() {
            return;
        }
        let Some(sender) = sender_of(conn, env) else {
            return;
        };
        let (store, window, score, id) = (self.store.clone(), self.window, scored.score, conn.id);
        // Bookkeeping must not hold the session: the count is written in the background.
        tokio::spawn(async move {
            match store.incr(&key(&sender), window).await {
                Ok(n) => {
                    info!(conn = id, sender = %sender, score, count = n, window_s = window.as_secs(), "outbound spam from an internal sender");
                }
                Err(e) => {
                    warn!(conn = id, sender = %sender, error = %e, "cannot count outbound spam")
                }
            }
        });
    }
}
