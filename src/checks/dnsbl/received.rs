//! The client address a `Received` field records (RFC 5321 §4.4: `from DOMAIN (TCP-info)`), as
//! the common MTAs write it, and the walk down the fields to the first hop we do not trust.
//!
//! Written by hand: no maintained crate parses the free-form `Received` comments, and only
//! the client address is wanted. The forms:
//!
//! - Postfix, Sendmail: `from HELO (rdns [203.0.113.5])`, `from HELO (unknown [IPv6:2001:db8::5])`
//!   — the HELO (outside the comment) is the client's claim; the bracket inside is the truth.
//! - Exim: `from rdns ([203.0.113.5] helo=HELO)`, `from [203.0.113.5] (helo=HELO)`, with
//!   `:port` sometimes after the bracket.
//! - Exchange, qmail: `from HOST (203.0.113.5)`, `from unknown (HELO x) (203.0.113.5)`.

use std::net::IpAddr;

/// The client address of one `Received` field's `from` clause, when it names one.
pub fn client_ip(received: &str) -> Option<IpAddr> {
    let from = from_clause(received)?;
    // (inside a comment, bracketed), (outside, bracketed), (inside, bare): best first.
    let mut best: [Option<IpAddr>; 3] = [None; 3];
    let mut depth = 0usize;
    let mut after_helo = false;
    for raw in tokens(from) {
        match raw {
            "(" => {
                depth += 1;
                after_helo = false;
                continue;
            }
            ")" => {
                depth = depth.saturating_sub(1);
                after_helo = false;
                continue;
            }
            _ => {}
        }
        let claimed = after_helo || raw.len() >= 5 && raw[..5].eq_ignore_ascii_case("helo=");
        after_helo = raw.eq_ignore_ascii_case("helo") || raw.eq_ignore_ascii_case("ehlo");
        if claimed {
            continue;
        }
        let (ip, bracketed) = match literal(raw) {
            Some(ip) => (ip, true),
            None => match raw.parse::<IpAddr>() {
                Ok(ip) => (ip, false),
                Err(_) => continue,
            },
        };
        let rank = match (depth > 0, bracketed) {
            (true, true) => 0,
            (false, true) => 1,
            (true, false) => 2,
            // A bare address as the HELO of Postfix's form: the client's claim.
            (false, false) => continue,
        };
        best[rank].get_or_insert(ip);
    }
    best.into_iter()
        .flatten()
        .next()
        .map(|ip| ip.to_canonical())
}

/// Whether the field records an authenticated submission (RFC 3848: `with ESMTPA`,
/// `ESMTPSA`, `LMTPSA`…): the hop before it is a user's own device, not a relay to judge.
pub fn authenticated(received: &str) -> bool {
    let lower = received.to_ascii_lowercase();
    let Some(at) = lower.find(" with ") else {
        return false;
    };
    let proto = lower[at + 6..]
        .split(|c: char| c.is_whitespace() || c == ';' || c == '(')
        .find(|s| !s.is_empty())
        .unwrap_or_default();
    matches!(
        proto,
        "esmtpa" | "esmtpsa" | "lmtpa" | "lmtpsa" | "utf8smtpa" | "utf8smtpsa" | "utf8lmtpa"
    )
}

/// The text between `from` and ` by ` (or the end).
fn from_clause(received: &str) -> Option<&str> {
    let t = received.trim_start();
    if t.len() < 5 || !t[..5].eq_ignore_ascii_case("from ") {
        return None;
    }
    let rest = &t[5..];
    let lower = rest.to_ascii_lowercase();
    // ` by ` at comment depth 0 ends the clause; one inside a comment does not.
    let mut depth = 0i32;
    for (i, c) in lower.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            _ if depth <= 0 && lower[i..].starts_with(" by ") => return Some(&rest[..i]),
            _ => {}
        }
    }
    Some(rest)
}

/// Words, with `(` and `)` as tokens of their own.
fn tokens(s: &str) -> impl Iterator<Item = &str> {
    s.split_inclusive(|c: char| c.is_whitespace() || c == '(' || c == ')')
        .flat_map(|piece| {
            let (word, sep) = match piece.char_indices().last() {
                Some((i, c)) if c.is_whitespace() || c == '(' || c == ')' => {
                    (&piece[..i], &piece[i..])
                }
                _ => (piece, ""),
            };
            [word, sep.trim()]
        })
        .filter(|t| !t.is_empty())
}

/// `[203.0.113.5]`, `[203.0.113.5]:25`, `[IPv6:2001:db8::5]`.
fn literal(token: &str) -> Option<IpAddr> {
    let inner = token.strip_prefix('[')?;
    let inner = &inner[..inner.find(']')?];
    let inner = match inner.get(..5) {
        Some(p) if p.eq_ignore_ascii_case("ipv6:") => &inner[5..],
        _ => inner,
    };
    inner.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn the_forms_of_the_common_mtas() {
        let cases = [
            // Postfix, with a forged bracketed HELO.
            (
                "from [198.51.100.7] (mail.example.org [203.0.113.5])\r\n\tby mx.angiang.gov.vn (Postfix) with ESMTPS id 4F; Tue, 1 Dec 2026 10:00:00 +0700",
                ip("203.0.113.5"),
            ),
            (
                "from client.example (unknown [IPv6:2001:db8::5]) by mx (Postfix) with ESMTP id X",
                ip("2001:db8::5"),
            ),
            // Sendmail.
            (
                "from mail.example.org (mail.example.org [203.0.113.6] (may be forged)) by mx.example (8.15.2/8.15.2) with ESMTP id x",
                ip("203.0.113.6"),
            ),
            // Exim, three ways.
            (
                "from mail.example.org ([203.0.113.7] helo=[10.0.0.1]) by mx with esmtp (Exim 4.96)",
                ip("203.0.113.7"),
            ),
            (
                "from [203.0.113.8] (helo=friend) by mx with esmtp (Exim 4.96) (envelope-from <a@b>)",
                ip("203.0.113.8"),
            ),
            (
                "from host.example ([203.0.113.9]:41234 helo=host.example) by mx with esmtps",
                ip("203.0.113.9"),
            ),
            // Exchange.
            (
                "from EX01.corp.example (203.0.113.10) by EX02.corp.example (10.1.1.6) with Microsoft SMTP Server (version=TLS1_2) id 15.1.2507.39",
                ip("203.0.113.10"),
            ),
            // qmail, the HELO an address.
            (
                "from unknown (HELO 192.0.2.250) (203.0.113.11) by mail.example with SMTP; 1 Dec 2026",
                ip("203.0.113.11"),
            ),
            // An IPv4-mapped IPv6 address is the IPv4 one.
            (
                "from x (x [IPv6:::ffff:203.0.113.12]) by mx",
                ip("203.0.113.12"),
            ),
            ("by mx.example with LMTP id 5; 1 Dec 2026", None),
            ("from localhost by mx with local", None),
            ("from 203.0.113.13 by mx with SMTP", None),
        ];
        for (received, want) in cases {
            assert_eq!(client_ip(received), want, "{received}");
        }
    }

    #[test]
    fn authenticated_submissions_are_recognised() {
        assert!(authenticated(
            "from [192.168.1.5] (adsl.example [203.0.113.5]) by mail.angiang.gov.vn (Postfix) with ESMTPSA id 1"
        ));
        assert!(!authenticated(
            "from a (a [203.0.113.5]) by mx (Postfix) with ESMTPS id 1"
        ));
        assert!(!authenticated("from a (a [203.0.113.5]) by mx"));
    }
}
