//! The rule file format (documented in `filters/README.md`): blocks that start with
//! `rule NAME` and hold one match line (`body /regex/`, `header X-Mailer /regex/`, …) or one
//! `meta EXPR`, a `score`, and the description in Vietnamese (`vi`) and English (`en`).
//! Lines starting with `#` are comments. Every problem is reported with its file and line.

use super::meta::Expr;

/// What part of the message a rule reads.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    /// Every header field of that name (lowercase), decoded, joined by newlines.
    Header(String),
    /// The plain text parts.
    Body,
    /// The text of the HTML parts.
    Html,
    /// Both the plain and the HTML text.
    Text,
    /// Each link of the message, lowercased, matched one at a time.
    Uri,
    /// The host name of each link (no scheme, user, port or path), one at a time.
    Host,
    /// The raw message as received (header and body, undecoded), up to `max_text`.
    Raw,
}

/// How a rule matches.
#[derive(Debug, Clone)]
pub enum Test {
    /// `negate` (`!/…/`, links and hosts only): some link or host does not match.
    Regex {
        field: Field,
        pattern: String,
        negate: bool,
    },
    Meta(Expr),
}

/// One rule as written, with where it was written.
#[derive(Debug, Clone)]
pub struct RuleDef {
    pub name: String,
    pub test: Test,
    pub score: f64,
    pub vi: String,
    pub en: String,
    /// `file:line` of its `rule` line.
    pub at: String,
    /// `file:line` of its match or meta line, for errors in the pattern.
    pub test_at: String,
}

impl RuleDef {
    /// A helper (`__NAME`): matched for metas only, never reported or scored.
    pub fn helper(&self) -> bool {
        self.name.starts_with("__")
    }
}

/// `UPPER_SNAKE`, optionally with the `__` of a helper.
pub fn valid_name(name: &str) -> bool {
    let rest = name.strip_prefix("__").unwrap_or(name);
    let mut chars = rest.chars();
    chars.next().is_some_and(|c| c.is_ascii_uppercase())
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// A rule being read.
struct Draft {
    name: String,
    line: usize,
    test: Option<(Test, usize)>,
    score: Option<f64>,
    vi: Option<String>,
    en: Option<String>,
    /// A line of it was already reported: no second error for what is then missing.
    broken: bool,
}

/// Reads the rules of one file; `file` names it in errors (`file:line: …`).
pub fn parse(file: &str, text: &str) -> (Vec<RuleDef>, Vec<String>) {
    let mut rules = Vec::new();
    let mut errors = Vec::new();
    let mut draft: Option<Draft> = None;
    let finish = |d: Draft, rules: &mut Vec<RuleDef>, errors: &mut Vec<String>| {
        let at = format!("{file}:{}", d.line);
        if d.broken {
            return;
        }
        let Some((test, test_line)) = d.test else {
            errors.push(format!(
                "{at}: rule {} has no match line and no meta",
                d.name
            ));
            return;
        };
        let helper = d.name.starts_with("__");
        let score = match (d.score, helper) {
            (Some(s), false) => s,
            (None, true) => 0.0,
            (Some(_), true) => {
                errors.push(format!(
                    "{at}: rule {} is a helper (`__`): it has no score",
                    d.name
                ));
                return;
            }
            (None, false) => {
                errors.push(format!("{at}: rule {} has no score", d.name));
                return;
            }
        };
        let (vi, en) = match (d.vi, d.en) {
            (Some(vi), Some(en)) => (vi, en),
            (vi, en) if helper => (vi.unwrap_or_default(), en.unwrap_or_default()),
            _ => {
                errors.push(format!(
                    "{at}: rule {} needs both descriptions, `vi` and `en`, for X-Spam-Report",
                    d.name
                ));
                return;
            }
        };
        rules.push(RuleDef {
            name: d.name,
            test,
            score,
            vi,
            en,
            at,
            test_at: format!("{file}:{test_line}"),
        });
    };
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, rest) = match line.split_once([' ', '\t']) {
            Some((k, r)) => (k, r.trim()),
            None => (line, ""),
        };
        let at = format!("{file}:{n}");
        if key == "rule" {
            if let Some(d) = draft.take() {
                finish(d, &mut rules, &mut errors);
            }
            if !valid_name(rest) {
                errors.push(format!(
                    "{at}: `{rest}` is not a rule name: UPPER_SNAKE letters, digits and `_`"
                ));
            }
            draft = Some(Draft {
                name: rest.to_string(),
                line: n,
                test: None,
                score: None,
                vi: None,
                en: None,
                broken: false,
            });
            continue;
        }
        let Some(d) = draft.as_mut() else {
            errors.push(format!(
                "{at}: `{key}` outside a rule: start one with `rule NAME`"
            ));
            continue;
        };
        let before = errors.len();
        let set_test = |d: &mut Draft, t: Test, errors: &mut Vec<String>| {
            if d.test.is_some() {
                errors.push(format!(
                    "{at}: rule {} already has a test: one match line or meta per rule",
                    d.name
                ));
            } else {
                d.test = Some((t, n));
            }
        };
        'line: {
            match key {
                "score" => match rest.parse::<f64>() {
                    Ok(s) if s.is_finite() => d.score = Some(s),
                    _ => errors.push(format!(
                        "{at}: `{rest}` is not a score: use a number such as 2.5 or -1"
                    )),
                },
                "vi" | "en" if rest.is_empty() => {
                    errors.push(format!("{at}: empty `{key}` description"))
                }
                "vi" => d.vi = Some(rest.to_string()),
                "en" => d.en = Some(rest.to_string()),
                "meta" => match Expr::parse(rest) {
                    Ok(e) => set_test(d, Test::Meta(e), &mut errors),
                    Err(e) => errors.push(format!("{at}: {e}")),
                },
                _ => {
                    let field = match key {
                        "subject" | "from" | "to" | "cc" | "reply-to" => {
                            Some((Field::Header(key.to_string()), rest))
                        }
                        "header" => rest
                            .split_once([' ', '\t'])
                            .map(|(h, r)| (Field::Header(h.to_ascii_lowercase()), r.trim())),
                        "body" => Some((Field::Body, rest)),
                        "html" => Some((Field::Html, rest)),
                        "text" => Some((Field::Text, rest)),
                        "uri" => Some((Field::Uri, rest)),
                        "host" => Some((Field::Host, rest)),
                        "raw" => Some((Field::Raw, rest)),
                        _ => {
                            errors.push(format!(
                                "{at}: unknown field or directive `{key}` (fields: subject, from, to, cc, reply-to, header NAME, body, html, text, uri, host, raw, and the directives meta, score, vi, en)"
                            ));
                            break 'line;
                        }
                    };
                    let Some((field, pat)) = field else {
                        errors.push(format!("{at}: `header` needs a field name and a /regex/"));
                        break 'line;
                    };
                    if let Field::Header(h) = &field {
                        if h.is_empty() || !h.bytes().all(|b| b.is_ascii_graphic() && b != b':') {
                            errors.push(format!("{at}: `{h}` is not a header field name"));
                            break 'line;
                        }
                    }
                    let (negate, pat) = match pat.strip_prefix('!') {
                        Some(p) => (true, p),
                        None => (false, pat),
                    };
                    if negate && !matches!(field, Field::Uri | Field::Host) {
                        errors.push(format!(
                            "{at}: `!/…/` is for uri and host only (some link that does not match): elsewhere use a meta with `!`"
                        ));
                        break 'line;
                    }
                    match delimited(pat) {
                        Some(p) => set_test(
                            d,
                            Test::Regex {
                                field,
                                pattern: p.to_string(),
                                negate,
                            },
                            &mut errors,
                        ),
                        None => errors.push(format!(
                            "{at}: the pattern must be written between slashes: /…/"
                        )),
                    }
                }
            }
        }
        if errors.len() > before {
            d.broken = true;
        }
    }
    if let Some(d) = draft.take() {
        finish(d, &mut rules, &mut errors);
    }
    (rules, errors)
}

/// The text between the first and the last `/` of `s`, when `s` is `/…/`.
fn delimited(s: &str) -> Option<&str> {
    let inner = s.strip_prefix('/')?.strip_suffix('/')?;
    (!inner.is_empty()).then_some(inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_read() {
        let (rules, errors) = parse(
            "a.rules",
            "# lô đề\nrule VI_LO_DE\n    body /lô ?đề/\n    score 3.5\n    vi Quảng cáo lô đề\n    en Lottery betting\n\n\
             rule __LINK\n  uri /bit\\.ly\\//\n\
             rule META\n  meta VI_LO_DE && __LINK\n  score -0.5\n  vi a\n  en b\n\
             rule MAILER\n header X-Mailer /^php/\n score 1\n vi c\n en d\n\
             rule __NOT_GOV\n host !/\\.gov\\.vn$/\n",
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(rules.len(), 5);
        assert!(
            matches!(&rules[4].test, Test::Regex { field: Field::Host, negate: true, pattern } if pattern == "\\.gov\\.vn$")
        );
        assert_eq!(rules[0].name, "VI_LO_DE");
        assert_eq!(rules[0].at, "a.rules:2");
        assert!(
            matches!(&rules[0].test, Test::Regex { field: Field::Body, pattern, .. } if pattern == "lô ?đề")
        );
        assert!(rules[1].helper());
        assert!(
            matches!(&rules[1].test, Test::Regex { field: Field::Uri, pattern, .. } if pattern == "bit\\.ly\\/")
        );
        assert_eq!(rules[2].score, -0.5);
        assert!(
            matches!(&rules[3].test, Test::Regex { field: Field::Header(h), .. } if h == "x-mailer")
        );
    }

    #[test]
    fn mistakes_name_file_and_line() {
        let (_, errors) = parse(
            "b.rules",
            "score 1\nrule lower\n body /x/\n score 1\n vi a\n en b\nrule NO_SCORE\n body /x/\n vi a\n en b\n\
             rule TWO\n body /x/\n uri /y/\n score 1\n vi a\n en b\nrule BAD\n bodyy /x/\n\
             rule NO_EN\n body /x/\n score 2\n vi a\nrule NOSLASH\n body x\n score 1\n vi a\n en b\n\
             rule BADMETA\n meta A &&\nrule NEG\n body !/x/\n",
        );
        let want = [
            "b.rules:1: `score` outside a rule",
            "b.rules:2: `lower` is not a rule name",
            "b.rules:7: rule NO_SCORE has no score",
            "b.rules:13: rule TWO already has a test",
            "b.rules:18: unknown field or directive `bodyy`",
            "b.rules:19: rule NO_EN needs both descriptions",
            "b.rules:24: the pattern must be written between slashes",
            "b.rules:29: the meta expression ends too early",
            "b.rules:31: `!/…/` is for uri and host only",
        ];
        for w in want {
            assert!(errors.iter().any(|e| e.starts_with(w)), "{w}: {errors:#?}");
        }
        assert_eq!(errors.len(), want.len(), "{errors:#?}");
    }
}
