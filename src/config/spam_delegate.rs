//! `[spam.delegate]`: ask a filter the site already runs (rspamd or SpamAssassin's spamd) and
//! fold its score into ours (`crate::checks::delegate`). Off by default.

use serde::{Deserialize, Serialize};

use crate::config::{ByteSize, Span};

/// Which filter answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DelegateKind {
    /// rspamd's normal worker, HTTP `POST /checkv2` (default port 11333).
    Rspamd,
    /// SpamAssassin's spamd, the SPAMC/1.5 protocol (default port 783).
    Spamd,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DelegateConfig {
    pub enabled: bool,
    pub kind: DelegateKind,
    /// `host:port` of the filter.
    pub address: String,
    /// For the whole exchange; past it the message is scored without the filter's opinion.
    pub timeout: Span,
    /// Larger messages are not sent (spamc's default is 500 KB: spam is small, scanning
    /// large mail costs the filter much and tells little).
    pub max_size: ByteSize,
    /// Their score is multiplied by this before it joins ours (1.0: taken as is).
    pub weight: f64,
}

impl Default for DelegateConfig {
    fn default() -> Self {
        DelegateConfig {
            enabled: false,
            kind: DelegateKind::Rspamd,
            address: "127.0.0.1:11333".into(),
            timeout: Span(std::time::Duration::from_secs(10)),
            max_size: ByteSize(2 * 1024 * 1024),
            weight: 1.0,
        }
    }
}

impl DelegateConfig {
    /// Problems, each naming its key.
    pub fn validate(&self) -> Vec<String> {
        let mut errors = Vec::new();
        if !self.weight.is_finite() {
            errors.push("spam.delegate.weight must be a number".into());
        }
        if self.enabled
            && self
                .address
                .rsplit_once(':')
                .is_none_or(|(_, p)| p.parse::<u16>().is_err())
        {
            errors.push(format!(
                "spam.delegate.address `{}` is not host:port",
                self.address
            ));
        }
        errors
    }
}
