//! `[spam]`: anti-spam settings (`crate::checks::gtube` so far; scoring, Bayes and blocklists
//! join here).

use serde::{Deserialize, Serialize};

use crate::engine::Action;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpamConfig {
    /// The action for a message carrying the GTUBE test pattern, in any text part and any
    /// transfer encoding: the standard way to check that spam is refused end to end.
    pub gtube_action: Action,
}

impl Default for SpamConfig {
    fn default() -> Self {
        SpamConfig {
            gtube_action: Action::Reject,
        }
    }
}
