use std::borrow::Cow;

use serde::Serialize;

use super::Action;
use crate::reply::Reply;

/// Stable rule names: admins grep logs and write config for them, so they never change.
pub mod rule {
    pub const MESSAGE_SIZE: &str = "message-size";
    pub const ATTACHMENT_SIZE: &str = "attachment-size";
    pub const EXECUTABLE: &str = "executable";
    pub const MACRO_DOCUMENT: &str = "macro-document";
    pub const ENCRYPTED_ARCHIVE: &str = "encrypted-archive";
    pub const UNSCANNABLE: &str = "unscannable";
    pub const VIRUS: &str = "virus";
    pub const SPAM: &str = "spam";
    pub const RELAY_DENIED: &str = "relay-denied";
    pub const LINE_LENGTH: &str = "line-length";
    pub const HEADER_SIZE: &str = "header-size";
    pub const BARE_LF: &str = "bare-lf";
    pub const TOO_MANY_RECIPIENTS: &str = "too-many-recipients";
    /// The content checks did not finish within `limits.end_of_data_timeout`.
    pub const CHECK_TIMEOUT: &str = "check-timeout";
    /// No scanner could judge the message (a transient cause, unlike `unscannable`).
    pub const UNSCANNED: &str = "unscanned";
    /// Mail from outside claiming an internal domain without an aligned SPF or DKIM pass
    /// (An Giang Đ5.4, Đ5.5).
    pub const FORGED_INTERNAL: &str = "forged-internal";
    /// The sender's domain publishes a DMARC policy the message fails (RFC 9989).
    pub const DMARC: &str = "dmarc";

    /// Which rule names the decision when several findings take the same action: the most
    /// specific and the most serious for the sender to hear first (a virus before the size
    /// of the archive that holds it; a definite finding before "could not check"). Never the
    /// order the checks happen to be registered in. Rules not listed come after, by name.
    const PRIORITY: &[&str] = &[
        VIRUS,
        FORGED_INTERNAL,
        DMARC,
        EXECUTABLE,
        MACRO_DOCUMENT,
        ENCRYPTED_ARCHIVE,
        RELAY_DENIED,
        MESSAGE_SIZE,
        ATTACHMENT_SIZE,
        TOO_MANY_RECIPIENTS,
        LINE_LENGTH,
        HEADER_SIZE,
        BARE_LF,
        SPAM,
        UNSCANNABLE,
        UNSCANNED,
        CHECK_TIMEOUT,
    ];

    /// The rank of `rule` among findings of equal action: lower decides.
    pub fn priority(rule: &str) -> usize {
        PRIORITY
            .iter()
            .position(|r| *r == rule)
            .unwrap_or(PRIORITY.len())
    }
}

/// A text in Vietnamese and English; every reply and report carries both.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Bilingual {
    pub vi: String,
    pub en: String,
}

impl Bilingual {
    pub fn new(vi: impl Into<String>, en: impl Into<String>) -> Self {
        Bilingual {
            vi: vi.into(),
            en: en.into(),
        }
    }
}

/// One thing a check found, with the action its rule is configured to take.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// Stable rule name, see [`rule`].
    pub rule: Cow<'static, str>,
    /// The action configured for this rule.
    pub action: Action,
    /// What was found, for people.
    pub text: Bilingual,
    /// Where it was found: a MIME part or archive member path (`a.zip/b.zip/x.exe`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub part: Option<String>,
    /// The recipient the finding concerns, for findings of the RCPT stage (set by the engine).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recipient: Option<String>,
    /// SMTP code and enhanced status to use instead of the action's default.
    #[serde(skip)]
    pub code: Option<(u16, &'static str)>,
    /// The weight of a scoring symbol (a spam rule, Bayes, a blocklist, SPF/DKIM results): it
    /// decides nothing alone; the engine sums the scores of a message and the thresholds of
    /// its direction turn the sum into the `spam` finding (rspamd's symbols, SpamAssassin's
    /// rule hits). `None` for a finding that decides by its own action.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
}

impl Finding {
    /// A finding for `rule` that takes `action`.
    pub fn new(rule: impl Into<Cow<'static, str>>, action: Action, text: Bilingual) -> Self {
        Finding {
            rule: rule.into(),
            action,
            text,
            part: None,
            recipient: None,
            code: None,
            score: None,
        }
    }

    /// A scoring symbol: `rule` matched and adds `score` (negative for signs of ham) to the
    /// message's spam score. Its own action is `accept`; see [`Finding::score`].
    pub fn symbol(rule: impl Into<Cow<'static, str>>, score: f64, text: Bilingual) -> Self {
        Finding {
            score: Some(score),
            ..Finding::new(rule, Action::Accept, text)
        }
    }

    /// Whether this is a scoring symbol rather than a finding that decides by its action.
    pub fn is_symbol(&self) -> bool {
        self.score.is_some() && self.action == Action::Accept
    }

    /// Names the MIME part or archive member the finding is about.
    pub fn with_part(mut self, part: impl Into<String>) -> Self {
        self.part = Some(part.into());
        self
    }

    /// Overrides the SMTP reply code, e.g. `552 5.3.4` for sizes (RFC 3463).
    pub fn with_code(mut self, code: u16, enhanced: &'static str) -> Self {
        self.code = Some((code, enhanced));
        self
    }

    /// The SMTP reply this finding gives when its action is `reject` or `tempfail`.
    ///
    /// The text is bilingual and names the rule, e.g.
    /// `550 5.7.1 Tệp đính kèm vượt quá 15 MB / Attachment exceeds 15 MB (rule attachment-size)`.
    pub fn reply(&self) -> Reply {
        let (code, enhanced) = match (self.code, self.action) {
            (_, Action::Tempfail) => (451, "4.7.1"),
            (Some(c), _) => c,
            _ => (550, "5.7.1"),
        };
        let mut text = format!("{} / {}", self.text.vi, self.text.en);
        if let Some(part) = &self.part {
            text.push_str(&format!(" [{part}]"));
        }
        text.push_str(&format!(" (rule {})", self.rule));
        Reply::new(code, enhanced, text)
    }
}
