//! An SMTP reply as a value (RFC 5321 4.2, RFC 3463 enhanced codes): what the engine
//! decides and every transport (the proxy, `scan`, the coming milter) sends or prints.

use std::fmt::Write as _;

/// An SMTP reply: a code, an RFC 3463 enhanced status, and one or more lines of text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    /// Enhanced status code (`5.7.1`), empty when none applies (greeting, EHLO).
    pub enhanced: String,
    pub lines: Vec<String>,
}

impl Reply {
    pub fn new(code: u16, enhanced: &str, text: impl Into<String>) -> Self {
        Reply {
            code,
            enhanced: enhanced.to_string(),
            lines: vec![text.into()],
        }
    }

    /// A reply whose lines carry no enhanced status (greeting, EHLO keywords).
    pub fn plain(code: u16, lines: Vec<String>) -> Self {
        Reply {
            code,
            enhanced: String::new(),
            lines,
        }
    }

    pub fn is_positive(&self) -> bool {
        self.code < 400
    }

    pub fn is_transient(&self) -> bool {
        (400..500).contains(&self.code)
    }

    /// The reply on the wire, CRLF-terminated, multi-line with `-` continuations.
    ///
    /// Line breaks inside a text become separate reply lines, so a text can never inject a
    /// reply of its own.
    pub fn to_wire(&self) -> String {
        let mut out = String::new();
        let lines: Vec<&str> = self
            .lines
            .iter()
            .flat_map(|l| l.split(['\r', '\n']).filter(|s| !s.is_empty()))
            .collect();
        let lines = if lines.is_empty() { vec![""] } else { lines };
        for (i, line) in lines.iter().enumerate() {
            let sep = if i + 1 == lines.len() { ' ' } else { '-' };
            let _ = write!(out, "{}{}", self.code, sep);
            if !self.enhanced.is_empty() {
                let _ = write!(out, "{} ", self.enhanced);
            }
            let _ = write!(out, "{line}\r\n");
        }
        out
    }

    /// The reply as one log-friendly line.
    pub fn one_line(&self) -> String {
        let text = self.lines.join(" ");
        if self.enhanced.is_empty() {
            format!("{} {}", self.code, text)
        } else {
            format!("{} {} {}", self.code, self.enhanced, text)
        }
    }
}

impl std::fmt::Display for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.one_line())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_line_replies_use_dash_continuations() {
        let r = Reply::plain(
            250,
            vec!["mx".into(), "PIPELINING".into(), "SIZE 10".into()],
        );
        assert_eq!(r.to_wire(), "250-mx\r\n250-PIPELINING\r\n250 SIZE 10\r\n");
    }

    #[test]
    fn embedded_newlines_cannot_forge_a_reply() {
        let r = Reply::new(550, "5.7.1", "bad\r\n250 ok");
        assert_eq!(r.to_wire(), "550-5.7.1 bad\r\n550 5.7.1 250 ok\r\n");
    }
}
