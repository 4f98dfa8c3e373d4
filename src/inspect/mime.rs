//! The only module that talks to mail-parser: it turns a message into the leaves a person could
//! open, with every name they were given, and the text that may carry archive passwords.

use std::borrow::Cow;

use mail_parser::{Message, MessageParser, MessagePart, PartFlags, PartKind};

use super::names;

/// Chars of each text part searched for password candidates.
const TEXT_PREFIX: usize = 64 * 1024;

/// Structural limits for the parse (STYLE.md habit 4).
#[derive(Debug, Clone, Copy)]
pub struct MimeLimits {
    pub max_depth: usize,
    pub max_parts: usize,
    pub max_encoded_nesting: usize,
}

/// One leaf part.
pub struct Leaf<'m> {
    /// Where it is: enclosing attached messages' names, then its own name or `part N`.
    pub path: String,
    /// Every name it was given (`filename=`, `name=`, duplicates included), NFC, in order.
    pub names: Vec<String>,
    /// Lowercase `type/subtype` (empty when absent).
    pub content_type: String,
    /// A text part of the message body (not offered as an attachment).
    pub is_body_text: bool,
    part: MessagePart<'m>,
}

impl<'m> Leaf<'m> {
    /// Exact transfer-decoded length (scans a base64 body, without keeping it).
    pub fn decoded_len(&self) -> u64 {
        self.part.decoded_len() as u64
    }

    /// A bound the decoded length never exceeds, from the raw length alone: base64 yields at
    /// most 3 bytes per 4 input bytes, quoted-printable and identity at most 1 per byte.
    pub fn decoded_len_bound(&self) -> u64 {
        let raw = self.part.raw_body().len() as u64;
        match self.part.encoding() {
            mail_parser::Encoding::Base64 => raw / 4 * 3 + 3,
            _ => raw,
        }
    }

    /// The whole transfer-decoded body.
    pub fn decoded(&self) -> Cow<'m, [u8]> {
        self.part.decoded()
    }

    /// About the first `n` decoded bytes (cheap on large base64 bodies).
    pub fn decoded_prefix(&self, n: usize) -> Cow<'m, [u8]> {
        let raw = self.part.raw_body();
        // Base64 takes 78 bytes (76 and CRLF) for 57; quoted-printable up to 3 for 1.
        let take = match self.part.encoding() {
            mail_parser::Encoding::Base64 => (n / 57 + 2).saturating_mul(78),
            mail_parser::Encoding::QuotedPrintable => n.saturating_mul(3).saturating_add(64),
            mail_parser::Encoding::None => n,
        }
        .min(raw.len());
        match self.part.encoding().decode(&raw[..take]) {
            Cow::Borrowed(b) => Cow::Borrowed(&b[..b.len().min(n)]),
            Cow::Owned(mut v) => {
                v.truncate(n);
                Cow::Owned(v)
            }
        }
    }

    /// The start of the body as text (charset decoded, HTML reduced to text).
    pub fn text_prefix(&self, chars: usize) -> Option<Cow<'m, str>> {
        let t = self.part.text_prefix(chars)?;
        if self.part.is_content_type("text", "html") {
            return Some(Cow::Owned(mail_parser::html_to_text(&t)));
        }
        Some(t)
    }
}

/// What the parse found besides leaves.
#[derive(Debug, Default)]
pub struct Summary {
    /// Paths of parts where a limit stopped the parse (depth, part count, encoded nesting).
    pub limited: Vec<(String, &'static str)>,
    /// Number of MIME parts.
    pub parts: usize,
    /// The message's own header fields, decoded (at most `MAX_HEADERS`).
    pub headers: Vec<(String, String)>,
    /// The text and HTML parts, decoded to Unicode (at most `MAX_TEXT` chars in all).
    pub texts: Vec<BodyText>,
}

/// A text or HTML part of the message, decoded to Unicode.
#[derive(Debug, Clone)]
pub struct BodyText {
    pub path: String,
    /// Offered as an attachment (a `.txt` attached), not part of the body.
    pub attachment: bool,
    /// The text; for HTML, the text derived from it.
    pub text: String,
    /// The HTML source, for an HTML part (its links are not in the derived text).
    pub html: Option<String>,
}

/// Header fields kept in the content model, and the chars of each value.
const MAX_HEADERS: usize = 256;
const MAX_HEADER_VALUE: usize = 8 * 1024;
/// Chars of body text kept in the content model, all parts together.
const MAX_TEXT: usize = 1024 * 1024;

/// A header value as text: decoded words, addresses as `Name <addr>`, dates in RFC 3339, other
/// structured values as they were written (unfolded).
fn header_text(h: &mail_parser::Header<'_>) -> String {
    use mail_parser::HeaderValue;
    let mut v = match h.value() {
        HeaderValue::Text(t) => t.to_string(),
        HeaderValue::TextList(l) => l.iter().collect::<Vec<_>>().join(", "),
        HeaderValue::Address(a) => a
            .mailboxes()
            .map(|m| match (m.name(), m.address()) {
                (Some(n), Some(a)) => format!("{n} <{a}>"),
                (None, Some(a)) => a.to_string(),
                (Some(n), None) => n.to_string(),
                (None, None) => String::new(),
            })
            .collect::<Vec<_>>()
            .join(", "),
        HeaderValue::DateTime(d) => d.to_rfc3339(),
        _ => String::from_utf8_lossy(h.raw_value())
            .split(['\r', '\n'])
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join(" "),
    };
    if v.len() > MAX_HEADER_VALUE {
        let mut end = MAX_HEADER_VALUE;
        while !v.is_char_boundary(end) {
            end -= 1;
        }
        v.truncate(end);
    }
    v
}

/// What [`walk`] reports each leaf to.
pub trait Visitor {
    /// A leaf part, in document order; `texts` gives the message's texts on demand (only an
    /// encrypted archive needs them). False stops the walk.
    fn leaf(&mut self, leaf: Leaf<'_>, texts: &Texts<'_>) -> bool;
}

/// The subjects and text parts of a parsed message, read only when asked for.
pub struct Texts<'a> {
    msg: &'a Message<'a>,
}

impl Texts<'_> {
    /// Calls `f` with every subject (of the message and attached messages), then the start of
    /// every text part.
    pub fn each(&self, f: &mut dyn FnMut(&str)) {
        for m in self.msg.messages() {
            if let Some(s) = m.subject() {
                f(s);
            }
        }
        for part in self.msg.parts() {
            if matches!(part.kind(), PartKind::Text | PartKind::Html) {
                if let Some(t) = leaf_of(part).text_prefix(TEXT_PREFIX) {
                    f(&t);
                }
            }
        }
    }
}

/// Parses `raw` and reports its leaves in document order to `v`.
pub fn walk(raw: &[u8], limits: MimeLimits, v: &mut impl Visitor) -> Summary {
    let parser = MessageParser::new()
        .max_depth(limits.max_depth)
        .max_parts(limits.max_parts)
        .max_encoded_nesting(limits.max_encoded_nesting);
    let mut summary = Summary::default();
    let Some(msg) = parser.parse(raw) else {
        return summary;
    };
    summary.parts = msg.parts().len();
    summary.headers = msg
        .headers()
        .iter()
        .take(MAX_HEADERS)
        .map(|h| (h.raw_name().to_string(), header_text(&h)))
        .collect();
    let mut budget = MAX_TEXT;
    for part in msg.parts() {
        if budget == 0 {
            break;
        }
        let html = match part.kind() {
            PartKind::Text => false,
            PartKind::Html => true,
            _ => continue,
        };
        let leaf = leaf_of(part);
        let Some(source) = leaf.part.text_prefix(budget) else {
            continue;
        };
        let (text, html) = if html {
            (
                mail_parser::html_to_text(&source),
                Some(source.into_owned()),
            )
        } else {
            (source.into_owned(), None)
        };
        budget = budget.saturating_sub(text.chars().count().max(1));
        summary.texts.push(BodyText {
            attachment: !leaf.is_body_text,
            path: leaf.path,
            text,
            html,
        });
    }
    let texts = Texts { msg: &msg };
    for part in msg.parts() {
        let flags = part.flags();
        let kind = part.kind();
        if flags.contains(PartFlags::LIMIT_REACHED) {
            summary
                .limited
                .push((path_of(&part), "MIME depth or part limit"));
        }
        if flags.contains(PartFlags::NESTING_LIMIT) {
            summary
                .limited
                .push((path_of(&part), "nested encoded messages too deep"));
        }
        match kind {
            PartKind::Multipart | PartKind::Message(_) => continue,
            PartKind::Text | PartKind::Html | PartKind::Binary | PartKind::InlineBinary => {}
        }
        if !v.leaf(leaf_of(part), &texts) {
            break;
        }
    }
    summary
}

fn leaf_of(part: MessagePart<'_>) -> Leaf<'_> {
    let kind = part.kind();
    let names = all_names(&part);
    let content_type = part
        .content_type()
        .map(|ct| match ct.subtype() {
            Some(st) => format!("{}/{}", ct.ctype(), st).to_ascii_lowercase(),
            None => ct.ctype().to_ascii_lowercase(),
        })
        .unwrap_or_default();
    let texty = matches!(kind, PartKind::Text | PartKind::Html);
    let is_body_text = texty && names.is_empty() && (part.in_text_body() || part.in_html_body());
    Leaf {
        path: path_of(&part),
        names,
        content_type,
        is_body_text,
        part,
    }
}

/// `filename` and `name` parameters of Content-Disposition and Content-Type, all of them: a
/// sender may give a harmless `filename` and a dangerous `name`, and clients differ in which
/// they show.
fn all_names(part: &MessagePart<'_>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let params = part
        .content_disposition()
        .into_iter()
        .flat_map(|d| d.attributes())
        .filter(|(k, _)| k.eq_ignore_ascii_case("filename"))
        .chain(
            part.content_type()
                .into_iter()
                .flat_map(|c| c.attributes())
                .filter(|(k, _)| k.eq_ignore_ascii_case("name")),
        );
    for (_, v) in params {
        let v = names::display(v.trim());
        if !v.is_empty() && !out.contains(&v) {
            out.push(v);
        }
    }
    out
}

/// The path of a part: the names of the attached messages around it, then its own name.
fn path_of(part: &MessagePart<'_>) -> String {
    let own = all_names(part)
        .into_iter()
        .next()
        .unwrap_or_else(|| format!("part {}", part.id()));
    let mut segs = vec![own];
    let mut m = part.message();
    // Each enclosing message/rfc822 part (bounded by the parser's depth limit).
    for _ in 0..256 {
        let Some(container) = m.container() else {
            break;
        };
        if let Some(n) = all_names(&container).into_iter().next() {
            segs.push(n);
        }
        m = container.message();
    }
    segs.reverse();
    segs.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(raw: &str) -> Vec<(String, Vec<String>, u64)> {
        struct V(Vec<(String, Vec<String>, u64)>);
        impl Visitor for V {
            fn leaf(&mut self, l: Leaf<'_>, _: &Texts<'_>) -> bool {
                self.0
                    .push((l.path.clone(), l.names.clone(), l.decoded_len()));
                true
            }
        }
        let lim = MimeLimits {
            max_depth: 32,
            max_parts: 100,
            max_encoded_nesting: 4,
        };
        let mut v = V(Vec::new());
        walk(raw.as_bytes(), lim, &mut v);
        v.0
    }

    #[test]
    fn rfc2231_continuations_and_2047_words() {
        let raw = "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\
            Content-Type: application/octet-stream;\r\n name*0*=utf-8''b%C3%A1o%20c;\r\n name*1*=%C3%A1o.exe\r\n\r\nx\r\n\
            --b\r\nContent-Type: application/octet-stream\r\n\
            Content-Disposition: attachment; filename=\"=?utf-8?B?YsOhbyBjw6FvLmV4ZQ==?=\"\r\n\r\ny\r\n--b--\r\n";
        let l = leaves(raw);
        assert_eq!(l[0].1, vec!["báo cáo.exe".to_string()]);
        assert_eq!(l[1].1, vec!["báo cáo.exe".to_string()]);
    }

    #[test]
    fn boundary_mid_line_does_not_hide_the_rest() {
        // 0.11.9 ended the first part at the mid-line delimiter and dropped the second part.
        let raw = "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\
            Content-Type: text/plain\r\n\r\nhello --b world\r\n--b\r\n\
            Content-Type: application/octet-stream; name=x.exe\r\n\r\nMZ\r\n--b--\r\n";
        let l = leaves(raw);
        assert!(
            l.iter().any(|(_, n, _)| n.contains(&"x.exe".to_string())),
            "{l:?}"
        );
    }
}
