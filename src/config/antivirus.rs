//! `[antivirus]`: the settings of virus scanning with clamd (`crate::checks::antivirus`).
//! Config types live with the config, so the config does not depend on the checks.

use serde::{Deserialize, Serialize};

use super::{ByteSize, Span};
use crate::engine::Action;

/// What to do when no clamd endpoint gives a verdict.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum OnError {
    /// `451 4.7.1`: the client keeps the message and retries (nothing is lost).
    #[default]
    Tempfail,
    /// Pass the message, tagged as not scanned, and count it.
    Accept,
}

/// The `[antivirus]` table.
#[derive(Deserialize, Serialize, Clone, Debug)]
#[serde(deny_unknown_fields, default)]
pub struct AntivirusConfig {
    pub enabled: bool,
    /// `host:port` or `unix:/path`; used in turn, a failed one skipped until it answers again.
    pub endpoints: Vec<String>,
    pub connect_timeout: Span,
    /// Bounds one attempt from the first byte sent to clamd's reply. A scan tries each endpoint
    /// at most once, so it ends within endpoints × (connect_timeout + scan_timeout); keep that
    /// under the client's patience (Postfix's smtpd_proxy_timeout is 100s).
    pub scan_timeout: Span,
    /// How often each endpoint is sent PING.
    pub health_interval: Span,
    pub on_error: OnError,
    /// The action for a virus.
    pub action: Action,
    /// The largest message sent to clamd: at most clamd's `StreamMaxLength`.
    pub stream_max: ByteSize,
    /// The action for a message over `stream_max`, or one clamd could not scan fully.
    pub unscannable_action: Action,
    /// Send each endpoint a `stream_max` probe stream when it comes up.
    pub verify_stream_max: bool,
}

impl Default for AntivirusConfig {
    fn default() -> Self {
        AntivirusConfig {
            enabled: false,
            endpoints: vec!["127.0.0.1:3310".into()],
            connect_timeout: Span::secs(2),
            scan_timeout: Span::secs(60),
            health_interval: Span::secs(5),
            on_error: OnError::Tempfail,
            action: Action::Reject,
            // clamd's default StreamMaxLength, "25M", which clamd reads as 25 × 2^20 bytes.
            stream_max: ByteSize(25 << 20),
            unscannable_action: Action::Reject,
            verify_stream_max: true,
        }
    }
}

impl AntivirusConfig {
    /// Every problem at once, as `key: why` lines.
    pub fn validate(&self) -> Vec<String> {
        let mut errs = Vec::new();
        if self.endpoints.is_empty() {
            errs.push("endpoints: at least one clamd endpoint is needed".into());
        }
        for e in &self.endpoints {
            if let Err(why) = crate::clamd::Endpoint::parse(e) {
                errs.push(format!("endpoints: {why}"));
            }
        }
        for (key, span) in [
            ("connect_timeout", self.connect_timeout),
            ("scan_timeout", self.scan_timeout),
            ("health_interval", self.health_interval),
        ] {
            if span.get().is_zero() {
                errs.push(format!("{key}: must be more than zero"));
            }
        }
        if self.stream_max.bytes() == 0 || self.stream_max.bytes() > u32::MAX as u64 {
            errs.push("stream_max: must be between 1 byte and 4 GiB (clamd's own bound)".into());
        }
        for (key, action) in [
            ("action", self.action),
            ("unscannable_action", self.unscannable_action),
        ] {
            if action == Action::Accept {
                errs.push(format!(
                    "{key}: `accept` would pass it silently; use tag, quarantine, reject or tempfail"
                ));
            }
        }
        errs
    }

    /// A warning when legal messages (up to the gateway's `message_size`) could exceed
    /// `stream_max` and so be refused as `unscannable`; for the start-up log and
    /// `check-config`.
    pub fn size_gap(&self, message_size: ByteSize) -> Option<String> {
        (self.enabled && self.stream_max < message_size).then(|| {
            format!(
                "[antivirus] stream_max ({}) is below limits.message_size ({message_size}): \
                 messages in between are refused as unscannable. Raise clamd's StreamMaxLength \
                 (and MaxScanSize, MaxFileSize) to at least {message_size}, then stream_max",
                self.stream_max
            )
        })
    }
}
