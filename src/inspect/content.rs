//! The content model: one bounded parse of a message, shared by every check that reads it
//! (issue 9, "parse once"). The inspection rules judge its `report`; spam, classified
//! markings and legacy-charset checks read its headers and texts, link checks its URLs.

use serde::Serialize;

use super::{mime, Limits, Reason, Report, Unscannable};

/// URLs kept from one message.
const MAX_URLS: usize = 1000;
/// Longest URL kept.
const MAX_URL: usize = 2048;

/// Everything a check may want to know about a message's content, parsed once.
#[derive(Debug, Default, Serialize)]
pub struct Content {
    /// Every part a person could open (archive members included), with names, sizes and
    /// sniffed types; the archives that are encrypted; what could not be inspected.
    pub report: Report,
    /// The message's own header fields, in order, decoded (RFC 2047 words, addresses).
    pub headers: Vec<Header>,
    /// The text and HTML parts in Unicode (the body's, then attached ones, in order), HTML
    /// reduced to text. Text extracted from attachments (PDF, Office) will join here with its
    /// own `source`.
    pub texts: Vec<Text>,
    /// Distinct `http(s)://` and `www.` links of the texts and the HTML sources, in order.
    pub urls: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Header {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Text {
    /// The part it came from, as in [`super::Part::path`].
    pub path: String,
    /// An attached text part, not the body.
    pub attachment: bool,
    pub source: TextSource,
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TextSource {
    Plain,
    Html,
}

impl Content {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    }

    /// A content model for a message that could not be read at all: the inspection rules
    /// then see it as unscannable (their configured action), never as clean.
    pub fn unreadable() -> Self {
        Content {
            report: Report {
                unscannable: vec![Unscannable {
                    path: String::new(),
                    reason: Reason::Internal,
                }],
                ..Report::default()
            },
            ..Content::default()
        }
    }
}

/// Parses `raw` once, within `limits`. Never panics (see [`super::walk`]).
pub fn analyse(raw: &[u8], limits: &Limits) -> Content {
    let (report, summary) = super::walk_with_summary(raw, limits);
    let headers = summary
        .headers
        .into_iter()
        .map(|(name, value)| Header { name, value })
        .collect();
    let mut urls = Vec::new();
    let mut texts = Vec::with_capacity(summary.texts.len());
    for t in summary.texts {
        let mime::BodyText {
            path,
            attachment,
            text,
            html,
        } = t;
        if let Some(html) = &html {
            urls_in(html, &mut urls);
        }
        urls_in(&text, &mut urls);
        let source = if html.is_some() {
            TextSource::Html
        } else {
            TextSource::Plain
        };
        texts.push(Text {
            path,
            attachment,
            source,
            text,
        });
    }
    Content {
        report,
        headers,
        texts,
        urls,
    }
}

/// Appends the links in `text` not seen yet: `http://`, `https://` and `www.`, up to the
/// first space, quote or bracket, without trailing punctuation.
fn urls_in(text: &str, out: &mut Vec<String>) {
    let bytes = text.as_bytes();
    let at = |i: usize, p: &[u8]| {
        bytes
            .get(i..i + p.len())
            .is_some_and(|b| b.eq_ignore_ascii_case(p))
    };
    let mut i = 0;
    while i < bytes.len() && out.len() < MAX_URLS {
        let starts = at(i, b"http://")
            || at(i, b"https://")
            || (at(i, b"www.")
                && (i == 0 || !bytes[i - 1].is_ascii_alphanumeric() && bytes[i - 1] != b'/'));
        if !starts {
            i += 1;
            continue;
        }
        // `i` is at an ASCII byte, so a char boundary.
        let len = text[i..]
            .find(|c: char| c.is_whitespace() || c.is_control() || "\"'<>()[]{}`".contains(c))
            .unwrap_or(text.len() - i);
        let url = text[i..i + len].trim_end_matches(['.', ',', ';', ':', '!', '?']);
        if url.len() > "http://".len() && url.len() <= MAX_URL && !out.iter().any(|u| u == url) {
            out.push(url.to_string());
        }
        i += len.max(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_found_in_text_and_html() {
        let mut out = Vec::new();
        urls_in(
            "Xem https://dichvucong.gov.vn/p/a?x=1, hoặc (www.angiang.gov.vn). Không: ftp://x",
            &mut out,
        );
        urls_in(
            "<a href=\"HTTP://evil.example/login\">ngân hàng</a>",
            &mut out,
        );
        urls_in("again https://dichvucong.gov.vn/p/a?x=1", &mut out);
        assert_eq!(
            out,
            vec![
                "https://dichvucong.gov.vn/p/a?x=1",
                "www.angiang.gov.vn",
                "HTTP://evil.example/login"
            ]
        );
    }

    #[test]
    fn one_parse_gives_headers_texts_links_and_parts() {
        let raw = "From: =?utf-8?B?VsSDbiB0aMaw?= <vanthu@angiang.gov.vn>\r\n\
            Subject: =?utf-8?Q?B=C3=A1o_c=C3=A1o?=\r\nMIME-Version: 1.0\r\n\
            Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\
            Content-Type: text/html; charset=utf-8\r\n\r\n<p>Kính gửi <a href=\"https://x.example/a\">đây</a></p>\r\n\
            --b\r\nContent-Type: application/pdf; name=a.pdf\r\n\r\n%PDF-1.4\r\n--b--\r\n";
        let c = analyse(raw.as_bytes(), &Limits::default());
        assert_eq!(c.header("subject"), Some("Báo cáo"));
        assert_eq!(c.header("From"), Some("Văn thư <vanthu@angiang.gov.vn>"));
        assert_eq!(c.texts.len(), 1);
        assert_eq!(c.texts[0].source, TextSource::Html);
        assert!(c.texts[0].text.contains("Kính gửi"), "{:?}", c.texts);
        assert!(!c.texts[0].text.contains("<p>"));
        assert_eq!(c.urls, vec!["https://x.example/a"]);
        assert!(c.report.parts.iter().any(|p| p.names == ["a.pdf"]));
    }
}
