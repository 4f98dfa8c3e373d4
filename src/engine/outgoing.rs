//! The message as it leaves: the header block the engine edits (what outsiders may not claim,
//! the subject prefix of tagged spam), the lines it adds (what was found, the spam score), and
//! the stamps checks add over the final header block (Authentication-Results, a DKIM
//! signature). The body is never touched: a signature made upstream of us stays valid.

use std::io::Read;

use super::{rule, Action, Connection, Engine, Envelope, Scored, Verdict};
use crate::spool::Spool;

/// The message about to be delivered, as a stamping check sees it.
pub struct Outgoing<'a> {
    /// The header fields as they will be delivered (after the engine's edits, before the
    /// lines the engine and the checks prepend), each ending in its line end; no blank line.
    pub head: &'a [u8],
    /// The spooled message as received.
    pub spool: &'a Spool,
    /// Where the body starts in the spool: after the blank line that ends the header fields
    /// (the spool's length when there is none).
    pub body_offset: u64,
}

/// The header fields of a message that outsiders may not set, since readers and later filters
/// trust them as ours: a spam verdict (`X-Spam-*`, SpamAssassin's and ours alike), and an
/// `Authentication-Results` that names our authserv-id (RFC 8601 section 5: remove or rename
/// them "before delivering" when they claim to be from us).
fn forged(name: &[u8], value: &[u8], hostname: &str) -> bool {
    let name = String::from_utf8_lossy(name).trim().to_ascii_lowercase();
    if name.starts_with("x-spam-") {
        return true;
    }
    if name == "authentication-results" {
        let id = String::from_utf8_lossy(value);
        let id = id
            .trim_start()
            .split([';', ' ', '\t', '\r', '\n'])
            .next()
            .unwrap_or("");
        return id.eq_ignore_ascii_case(hostname);
    }
    false
}

/// The spool's header fields: their bytes, and where the body starts.
fn read_head(spool: &Spool, limit: usize) -> (Vec<u8>, u64) {
    let mut head = Vec::new();
    if let Ok(r) = spool.reader() {
        let _ = r.take(limit as u64 + 4).read_to_end(&mut head);
    }
    // The header block ends at the first empty line (RFC 5322 section 2.1); a message without
    // one is all header.
    let mut at = 0;
    while at < head.len() {
        let end = memchr::memchr(b'\n', &head[at..]).map_or(head.len(), |i| at + i + 1);
        let line = &head[at..end];
        if line == b"\r\n" || line == b"\n" {
            head.truncate(at);
            return (head, end as u64);
        }
        at = end;
    }
    let len = head.len() as u64;
    (head, len)
}

/// Splits a header block into fields (a line and its continuation lines).
fn fields(head: &[u8]) -> Vec<&[u8]> {
    let mut out: Vec<&[u8]> = Vec::new();
    let mut start = 0;
    let mut at = 0;
    while at < head.len() {
        let end = memchr::memchr(b'\n', &head[at..]).map_or(head.len(), |i| at + i + 1);
        if at > start && !matches!(head[at], b' ' | b'\t') {
            out.push(&head[start..at]);
            start = at;
        }
        at = end;
    }
    if start < head.len() {
        out.push(&head[start..]);
    }
    out
}

/// The head without forged fields, and with the subject prefix when asked for.
fn edit_head(head: &[u8], hostname: &str, subject_prefix: Option<&str>) -> Vec<u8> {
    let mut out = Vec::with_capacity(head.len() + 16);
    let mut subject_seen = false;
    for field in fields(head) {
        let colon = memchr::memchr(b':', field).unwrap_or(field.len());
        let (name, value) = (&field[..colon], &field[(colon + 1).min(field.len())..]);
        if forged(name, value, hostname) {
            continue;
        }
        match subject_prefix {
            Some(prefix) if !subject_seen && name.eq_ignore_ascii_case(b"subject") => {
                subject_seen = true;
                out.extend_from_slice(b"Subject: ");
                out.extend_from_slice(prefix.as_bytes());
                let value = value.strip_prefix(b" ").unwrap_or(value);
                if value.strip_prefix(prefix.trim_end().as_bytes()).is_some() {
                    // Already prefixed (by us, upstream): once is enough.
                    out.truncate(out.len() - prefix.len());
                }
                out.extend_from_slice(value);
            }
            _ => out.extend_from_slice(field),
        }
    }
    if let (Some(prefix), false) = (subject_prefix, subject_seen) {
        out.extend_from_slice(format!("Subject: {}\r\n", prefix.trim_end()).as_bytes());
    }
    out
}

/// The X-Spam-* lines of a scored message (SpamAssassin's names, which mail clients and
/// Sieve scripts already filter on).
fn spam_headers(scored: &Scored, verdict: &Verdict, host: &str) -> String {
    let yes = if scored.is_spam() { "Yes" } else { "No" };
    let t = |v: Option<f64>| v.map_or("off".to_string(), |v| format!("{v:.1}"));
    let mut symbols: Vec<_> = verdict.symbols().collect();
    symbols.sort_by(|a, b| {
        b.score
            .partial_cmp(&a.score)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| a.rule.cmp(&b.rule))
    });
    let names: Vec<String> = symbols
        .iter()
        .map(|f| format!("{}={:.2}", f.rule, f.score.unwrap_or(0.0) + 0.0))
        .collect();
    let mut h = String::new();
    if scored.is_spam() {
        h.push_str("X-Spam-Flag: YES\r\n");
    }
    h.push_str(&format!("X-Spam-Score: {:.2}\r\n", scored.score));
    h.push_str(&format!(
        "X-Spam-Status: {yes}, score={:.2} tag={} reject={} direction={} host={host}\r\n",
        scored.score,
        t(scored.thresholds.tag),
        t(scored.thresholds.reject),
        match scored.direction {
            super::Direction::Inbound => "inbound",
            super::Direction::Outbound => "outbound",
        },
    ));
    if !names.is_empty() {
        h.push_str(&fold("X-Spam-Symbols", &names));
        let report: Vec<String> = symbols
            .iter()
            .map(|f| {
                format!(
                    "{:.1} {} {}",
                    f.score.unwrap_or(0.0) + 0.0,
                    f.rule,
                    f.text.en
                )
            })
            .collect();
        h.push_str("X-Spam-Report:");
        for line in report {
            // One symbol per folded line, as SpamAssassin's report; no CR or LF from a text.
            let line: String = line.chars().filter(|c| !c.is_control()).collect();
            h.push_str("\r\n\t* ");
            h.push_str(&line);
        }
        h.push_str("\r\n");
    }
    h
}

/// A header field of comma-separated items, folded before 78 columns (RFC 5322 2.2.3).
fn fold(name: &str, items: &[String]) -> String {
    let mut h = format!("{name}:");
    let mut col = h.len();
    for (i, item) in items.iter().enumerate() {
        let sep = if i + 1 < items.len() { "," } else { "" };
        if col + item.len() + 2 > 78 && col > name.len() + 1 {
            h.push_str("\r\n\t");
            col = 1;
        } else {
            h.push(' ');
            col += 1;
        }
        h.push_str(item);
        h.push_str(sep);
        col += item.len() + sep.len();
    }
    h.push_str("\r\n");
    h
}

/// Lines naming what a tagging rule found (not for a message that is merely scored).
fn tag_headers(verdict: &Verdict, host: &str) -> String {
    if verdict.action() != Action::Tag {
        return String::new();
    }
    let rules = verdict.rules().join(", ");
    let mut h = format!("X-Locthu-Action: tag ({host})\r\nX-Locthu-Rules: {rules}\r\n");
    if verdict.rules().contains(&rule::UNSCANNED) {
        let (name, value) = crate::checks::antivirus::UNSCANNED_HEADER;
        h.push_str(&format!("{name}: {value}\r\n"));
    }
    h
}

impl Engine {
    /// What goes upstream for a message that is delivered: the header lines first, and how
    /// many bytes of the spool they replace (see `Disposition::Deliver`).
    pub(super) async fn outgoing(
        &self,
        conn: &Connection,
        env: &Envelope,
        verdict: &Verdict,
        spool: &Spool,
    ) -> (Vec<u8>, u64) {
        let host = &self.policy.hostname;
        let (head, body_offset) = read_head(spool, self.policy.header_size.0 as usize);
        let prefix = match (&verdict.scored, self.scoring()) {
            (Some(s), Some(p)) if s.action == Action::Tag && !p.subject_prefix.is_empty() => {
                Some(p.subject_prefix.as_str())
            }
            _ => None,
        };
        let edited = edit_head(&head, host, prefix);
        let mut lines = tag_headers(verdict, host);
        if let (Some(scored), Some(policy)) = (&verdict.scored, self.scoring()) {
            use crate::config::spam::SpamHeaders;
            let shown = match policy.headers {
                SpamHeaders::Always => true,
                SpamHeaders::Scored => verdict.symbols().next().is_some(),
                SpamHeaders::Spam => scored.is_spam(),
            };
            if shown {
                lines.push_str(&spam_headers(scored, verdict, host));
            }
        }
        let mut lines = lines.into_bytes();
        let out = Outgoing {
            head: &edited,
            spool,
            body_offset,
        };
        let stamps = self
            .checks
            .iter()
            .filter_map(|c| c.stamp(conn, env, verdict, &out));
        for stamp in futures_util::future::join_all(stamps).await {
            lines.extend_from_slice(&stamp);
        }
        if edited == head {
            (lines, 0)
        } else {
            lines.extend_from_slice(&edited);
            (lines, head.len() as u64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forged_verdicts_go_and_the_subject_is_prefixed_once() {
        let head = b"Received: from x\r\n\tby y\r\nX-Spam-Status: No, score=-5\r\nAuthentication-Results: mx.tinh.gov.vn; dkim=pass\r\nAuthentication-Results: mx.google.com; spf=pass\r\nSubject: Trung\r\n thuong\r\nFrom: a@b.vn\r\n";
        let out = edit_head(head, "mx.tinh.gov.vn", Some("[SPAM] "));
        let out = String::from_utf8(out).unwrap();
        assert_eq!(
            out,
            "Received: from x\r\n\tby y\r\nAuthentication-Results: mx.google.com; spf=pass\r\nSubject: [SPAM] Trung\r\n thuong\r\nFrom: a@b.vn\r\n"
        );
        let again = edit_head(out.as_bytes(), "mx.tinh.gov.vn", Some("[SPAM] "));
        assert_eq!(String::from_utf8(again).unwrap(), out);
        assert_eq!(
            edit_head(b"From: a@b.vn\r\n", "h", None),
            b"From: a@b.vn\r\n"
        );
    }

    #[test]
    fn the_head_ends_at_the_first_empty_line() {
        let spool = Spool::from_bytes(b"A: 1\r\nB: 2\r\n\r\nbody\r\n\r\nmore".to_vec());
        let (head, at) = read_head(&spool, 1000);
        assert_eq!((head.as_slice(), at), (&b"A: 1\r\nB: 2\r\n"[..], 14));
        let spool = Spool::from_bytes(b"A: 1\r\n".to_vec());
        assert_eq!(read_head(&spool, 1000).1, 6);
    }
}
