//! Tokens of a message for the Bayesian classifier (issue 10), from the content model.
//!
//! Vietnamese is written in syllables separated by spaces (`vay tiền nhanh`), so a syllable is
//! a token, as a word is in English; the classifier's bigrams then see the words (`vay tiền`).
//! Each syllable is given twice when it has diacritics: as written (`tiền`) and folded
//! (`~tien`), since spam is sent both ways and the two carry different evidence (official
//! mail always has its diacritics). Header fields that spam varies give tokens of their own,
//! prefixed by the field (`subject:…`, `from:…`), and every link gives its host and its
//! registrable part (`url:…`). Text is normalised first (`super::normalize`).

use super::normalize::{normalize, strip_marks};
use crate::inspect::Content;

/// Longest token kept (longer ones are base64 debris or hashes, not words).
const MAX_TOKEN: usize = 40;
/// Tokens taken from one message: the classifier reads the start of long mail.
const MAX_TOKENS: usize = 10_000;
/// Header fields whose words are tokens, with the prefix they get.
const HEADERS: &[(&str, &str)] = &[
    ("subject", "subject"),
    ("from", "from"),
    ("reply-to", "reply-to"),
    ("x-mailer", "mailer"),
    ("user-agent", "mailer"),
];

/// The tokens of a message, in order (the order matters for bigrams).
pub fn tokens(content: &Content) -> Vec<String> {
    let mut out = Vec::new();
    for (field, prefix) in HEADERS {
        if let Some(v) = content.header(field) {
            words(&normalize(v), Some(prefix), &mut out);
        }
    }
    for url in &content.urls {
        url_tokens(url, &mut out);
    }
    for t in &content.texts {
        if out.len() >= MAX_TOKENS {
            break;
        }
        words(&normalize(&t.text), None, &mut out);
    }
    out.truncate(MAX_TOKENS);
    out
}

/// The words of normalised `text`: as written, plus the folded form when it differs.
pub fn words(text: &str, prefix: Option<&str>, out: &mut Vec<String>) {
    for w in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty() && w.len() <= MAX_TOKEN)
    {
        if out.len() >= MAX_TOKENS {
            return;
        }
        // A lone digit or letter says nothing.
        if w.chars().count() < 2 && w.is_ascii() {
            continue;
        }
        let folded = strip_marks(w);
        match prefix {
            Some(p) => {
                out.push(format!("{p}:{w}"));
                if folded != w {
                    out.push(format!("{p}:~{folded}"));
                }
            }
            None => {
                out.push(w.to_string());
                if folded != w {
                    out.push(format!("~{folded}"));
                }
            }
        }
    }
}

/// A link's host and its last two labels (`url:dichvucong.gov.vn`, `url:*.gov.vn`): a
/// lookalike domain changes the host but seldom the tail it imitates.
fn url_tokens(url: &str, out: &mut Vec<String>) {
    let rest = url
        .split_once("://")
        .map(|(_, r)| r)
        .unwrap_or(url)
        .to_ascii_lowercase();
    let host = rest
        .split(['/', '?', '#'])
        .next()
        .unwrap_or_default()
        .rsplit('@')
        .next()
        .unwrap_or_default()
        .split(':')
        .next()
        .unwrap_or_default()
        .trim_start_matches("www.")
        .to_string();
    if host.is_empty() {
        return;
    }
    let labels: Vec<&str> = host.split('.').collect();
    if labels.len() > 2 {
        out.push(format!("url:*.{}", labels[labels.len() - 2..].join(".")));
    }
    out.push(format!("url:{host}"));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inspect::content::{Header, Text, TextSource};

    fn content(subject: &str, body: &str, urls: &[&str]) -> Content {
        Content {
            headers: vec![Header {
                name: "Subject".into(),
                value: subject.into(),
            }],
            texts: vec![Text {
                path: "part 1".into(),
                attachment: false,
                source: TextSource::Plain,
                text: body.into(),
            }],
            urls: urls.iter().map(|u| u.to_string()).collect(),
            ..Content::default()
        }
    }

    #[test]
    fn syllables_with_and_without_diacritics_headers_and_links() {
        let t = tokens(&content(
            "Vay TIỀN nhanh",
            "Nhận 5 triệu trong 1 giờ, vay tien ngay",
            &["https://vaynhanh.example.com/dang-ky?id=1"],
        ));
        for want in [
            "subject:vay",
            "subject:tiền",
            "subject:~tien",
            "url:*.example.com",
            "url:vaynhanh.example.com",
            "nhận",
            "~nhan",
            "triệu",
            "~trieu",
            "tien",
        ] {
            assert!(t.contains(&want.to_string()), "{want} missing from {t:?}");
        }
        // Lone digits are dropped; a folded copy is only added when it differs.
        assert!(!t.contains(&"5".to_string()));
        assert_eq!(t.iter().filter(|x| *x == "~tien").count(), 0);
    }

    #[test]
    fn hidden_words_tokenize_like_plain_ones() {
        let plain = tokens(&content("", "nhà cái uy tín", &[]));
        let hidden = tokens(&content("", "nhà\u{200B} cái ｕｙ tín", &[]));
        assert_eq!(plain, hidden);
    }
}
