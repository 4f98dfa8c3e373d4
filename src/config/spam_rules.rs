//! `[spam.rules]`: the spam rule engine (`crate::spam::rules`): where the admin's rule files
//! are, how much of each text is matched, and per-rule score overrides.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::ByteSize;

/// The rule directory shipped with locthu, relative to the config file.
pub const DEFAULT_DIR: &str = "filters";

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpamRulesConfig {
    /// Match the rules at all.
    pub enabled: bool,
    /// The directory of `*.rules` files, relative to the config file. When it holds no
    /// `.rules` file (or does not exist) the starter set built into locthu is used.
    pub dir: String,
    /// How much of each text field (a header, the plain body, the HTML text) and of the raw
    /// message the regexes see: the cost of a rule stays bounded on a 25 MB message.
    pub max_text: ByteSize,
    /// Scores that replace a rule's own (`NAME = 2.5`); 0 silences a rule.
    pub scores: BTreeMap<String, f64>,
}

impl Default for SpamRulesConfig {
    fn default() -> Self {
        SpamRulesConfig {
            enabled: true,
            dir: DEFAULT_DIR.into(),
            max_text: ByteSize(256 * 1024),
            scores: BTreeMap::new(),
        }
    }
}
