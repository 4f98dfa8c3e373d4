//! A compiled rule set: the rules of every file checked together (names unique, metas
//! resolved and ordered, no cycles), the regexes of each field in one `RegexSet`, built once
//! per config generation and shared by every message.

use std::collections::{BTreeMap, HashMap};

use regex::{bytes, RegexSet, RegexSetBuilder};

use super::meta::Resolved;
use super::parse::{Field, RuleDef, Test};
use crate::inspect::content::TextSource;
use crate::inspect::Content;
use crate::spam::normalize;

/// Room for the compiled automata of a large rule set (the default of 10 MB is for one regex).
const SET_SIZE_LIMIT: usize = 64 << 20;

/// One rule, ready to report.
#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    pub score: f64,
    pub vi: String,
    pub en: String,
    /// Matched for metas only: a helper, or a score of 0.
    pub silent: bool,
}

/// The regexes of one field, and the rule each belongs to.
struct Set<S> {
    set: S,
    rules: Vec<usize>,
}

/// The rules, compiled.
pub struct RuleSet {
    rules: Vec<Rule>,
    headers: Vec<(String, Set<RegexSet>)>,
    body: Option<Set<RegexSet>>,
    html: Option<Set<RegexSet>>,
    uri: Option<Set<RegexSet>>,
    host: Option<Set<RegexSet>>,
    /// `!/…/` rules: some link (or host) that does not match.
    negated: Vec<(Field, regex::Regex, usize)>,
    raw: Option<Set<bytes::RegexSet>>,
    /// Meta rules in an order where each comes after the metas it refers to.
    metas: Vec<(usize, Resolved)>,
    max_text: usize,
}

impl std::fmt::Debug for RuleSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuleSet")
            .field("rules", &self.rules.len())
            .finish()
    }
}

/// A regex error on one line: the crate's message spans several lines with a caret.
fn one_line(e: &regex::Error) -> String {
    let s = e.to_string();
    let last = s.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("");
    match e {
        regex::Error::Syntax(_) => last.trim().trim_start_matches("error: ").to_string(),
        _ => s.replace('\n', " "),
    }
    .replace("; ", ", ")
}

impl RuleSet {
    /// Checks and compiles `defs`, with `scores` replacing rules' own scores; every problem
    /// is returned, each naming the rule's `file:line`.
    pub fn build(
        defs: Vec<RuleDef>,
        scores: &BTreeMap<String, f64>,
        max_text: usize,
    ) -> Result<RuleSet, Vec<String>> {
        let mut errors = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut kept = Vec::new();
        for d in defs {
            if let Some(&i) = index.get(&d.name) {
                let first: &RuleDef = &kept[i];
                errors.push(format!(
                    "{}: rule {} is already defined at {}",
                    d.at, d.name, first.at
                ));
                continue;
            }
            index.insert(d.name.clone(), kept.len());
            kept.push(d);
        }
        for (name, score) in scores {
            match index.get(name) {
                None => errors.push(format!("spam.rules.scores.{name}: no rule of that name")),
                Some(_) if !score.is_finite() => {
                    errors.push(format!("spam.rules.scores.{name}: must be a number"))
                }
                Some(&i) if kept[i].helper() => errors.push(format!(
                    "spam.rules.scores.{name}: a helper rule (`__`) has no score"
                )),
                Some(_) => {}
            }
        }
        let mut fields: BTreeMap<Field, (Vec<String>, Vec<usize>)> = BTreeMap::new();
        let mut metas = Vec::new();
        let mut negated = Vec::new();
        for (i, d) in kept.iter().enumerate() {
            match &d.test {
                Test::Regex {
                    field,
                    pattern,
                    negate,
                } => {
                    let p = format!("(?i){}", word_boundaries(pattern));
                    let checked = if *field == Field::Raw {
                        bytes::Regex::new(&p).map(drop)
                    } else {
                        regex::Regex::new(&p).map(|re| {
                            if *negate {
                                negated.push((field.clone(), re, i));
                            }
                        })
                    };
                    if let Err(e) = checked {
                        errors.push(format!(
                            "{}: rule {}: bad regex: {}",
                            d.test_at,
                            d.name,
                            one_line(&e)
                        ));
                        continue;
                    }
                    if *negate {
                        continue;
                    }
                    // `text` rules join both the plain and the HTML sets.
                    let into: &[Field] = match field {
                        Field::Text => &[Field::Body, Field::Html],
                        f => std::slice::from_ref(f),
                    };
                    for f in into {
                        let e = fields.entry(f.clone()).or_default();
                        e.0.push(p.clone());
                        e.1.push(i);
                    }
                }
                Test::Meta(expr) => match expr.resolve(&|n| index.get(n).copied()) {
                    Ok(r) => metas.push((i, r, expr)),
                    Err(e) => errors.push(format!("{}: rule {}: {e}", d.test_at, d.name)),
                },
            }
        }
        // Order the metas so each follows those it refers to; a cycle is an error.
        let is_meta: HashMap<usize, usize> = metas
            .iter()
            .enumerate()
            .map(|(k, (i, _, _))| (*i, k))
            .collect();
        let mut order = Vec::with_capacity(metas.len());
        let mut state = vec![0u8; metas.len()]; // 0 new, 1 visiting, 2 done
        fn visit(
            k: usize,
            metas: &[(usize, Resolved, &super::meta::Expr)],
            is_meta: &HashMap<usize, usize>,
            index: &HashMap<String, usize>,
            state: &mut [u8],
            order: &mut Vec<usize>,
        ) -> Result<(), usize> {
            match state[k] {
                2 => return Ok(()),
                1 => return Err(metas[k].0),
                _ => {}
            }
            state[k] = 1;
            let mut names = Vec::new();
            metas[k].2.names(&mut names);
            for n in names {
                if let Some(&j) = index.get(&n).and_then(|i| is_meta.get(i)) {
                    visit(j, metas, is_meta, index, state, order)?;
                }
            }
            state[k] = 2;
            order.push(k);
            Ok(())
        }
        for k in 0..metas.len() {
            if let Err(r) = visit(k, &metas, &is_meta, &index, &mut state, &mut order) {
                let d = &kept[r];
                errors.push(format!(
                    "{}: rule {}: its meta refers to itself, through other metas",
                    d.at, d.name
                ));
                break;
            }
        }
        let mut sets: BTreeMap<Field, Set<RegexSet>> = BTreeMap::new();
        let mut raw = None;
        if errors.is_empty() {
            for (field, (patterns, rules)) in fields {
                if field == Field::Raw {
                    match bytes::RegexSetBuilder::new(&patterns)
                        .size_limit(SET_SIZE_LIMIT)
                        .dfa_size_limit(SET_SIZE_LIMIT)
                        .build()
                    {
                        Ok(set) => raw = Some(Set { set, rules }),
                        Err(e) => errors.push(format!(
                            "spam.rules: the raw rules together: {}",
                            one_line(&e)
                        )),
                    }
                    continue;
                }
                match RegexSetBuilder::new(&patterns)
                    .size_limit(SET_SIZE_LIMIT)
                    .dfa_size_limit(SET_SIZE_LIMIT)
                    .build()
                {
                    Ok(set) => {
                        sets.insert(field, Set { set, rules });
                    }
                    Err(e) => errors.push(format!(
                        "spam.rules: the {field:?} rules together: {}",
                        one_line(&e)
                    )),
                }
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let metas_ordered = {
            let mut slots: Vec<Option<(usize, Resolved)>> =
                metas.into_iter().map(|(i, r, _)| Some((i, r))).collect();
            order.into_iter().filter_map(|k| slots[k].take()).collect()
        };
        let rules = kept
            .into_iter()
            .map(|d| {
                let score = scores.get(&d.name).copied().unwrap_or(d.score);
                Rule {
                    silent: d.helper() || score == 0.0,
                    name: d.name,
                    score,
                    vi: d.vi,
                    en: d.en,
                }
            })
            .collect();
        let mut headers = Vec::new();
        let (mut body, mut html, mut uri, mut host) = (None, None, None, None);
        for (field, set) in sets {
            match field {
                Field::Header(h) => headers.push((h, set)),
                Field::Body => body = Some(set),
                Field::Html => html = Some(set),
                Field::Uri => uri = Some(set),
                Field::Host => host = Some(set),
                Field::Text | Field::Raw => {}
            }
        }
        Ok(RuleSet {
            rules,
            headers,
            body,
            html,
            uri,
            host,
            negated,
            raw,
            metas: metas_ordered,
            max_text,
        })
    }

    /// Every rule, in file order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Whether any rule reads the raw message (which the check then reads from the spool).
    pub fn reads_raw(&self) -> bool {
        self.raw.is_some()
    }

    /// How much of the raw message the raw rules see.
    pub fn max_text(&self) -> usize {
        self.max_text
    }

    /// The rules `content` (and the head of the raw message, if given) matches, silent ones
    /// left out, in file order.
    pub fn matches(&self, content: &Content, raw: Option<&[u8]>) -> Vec<&Rule> {
        let mut hits = vec![false; self.rules.len()];
        for (name, set) in &self.headers {
            let mut value = String::new();
            for h in content
                .headers
                .iter()
                .filter(|h| h.name.eq_ignore_ascii_case(name))
            {
                if !value.is_empty() {
                    value.push('\n');
                }
                value.push_str(&h.value);
                if value.len() >= self.max_text {
                    break;
                }
            }
            text_hits(set, &value, self.max_text, &mut hits);
        }
        for (source, set) in [
            (TextSource::Plain, &self.body),
            (TextSource::Html, &self.html),
        ] {
            let Some(set) = set else { continue };
            let mut text = String::new();
            for t in content.texts.iter().filter(|t| t.source == source) {
                if text.len() >= self.max_text {
                    break;
                }
                text.push_str(&t.text);
                text.push('\n');
            }
            text_hits(set, &text, self.max_text, &mut hits);
        }
        if self.uri.is_some() || self.host.is_some() || !self.negated.is_empty() {
            let links: Vec<String> = content
                .urls
                .iter()
                .take(MAX_LINKS)
                .map(|u| u.to_lowercase())
                .collect();
            let hosts: Vec<&str> = links.iter().map(|u| host_of(u)).collect();
            if let Some(set) = &self.uri {
                links.iter().for_each(|u| set_hits(set, u, &mut hits));
            }
            if let Some(set) = &self.host {
                hosts.iter().for_each(|h| set_hits(set, h, &mut hits));
            }
            for (field, re, rule) in &self.negated {
                let some = match field {
                    Field::Host => hosts.iter().any(|h| !re.is_match(h)),
                    _ => links.iter().any(|u| !re.is_match(u)),
                };
                hits[*rule] |= some;
            }
        }
        if let (Some(set), Some(raw)) = (&self.raw, raw) {
            let raw = &raw[..raw.len().min(self.max_text)];
            for i in set.set.matches(raw).iter() {
                hits[set.rules[i]] = true;
            }
        }
        for (i, expr) in &self.metas {
            hits[*i] = expr.holds(&hits);
        }
        self.rules
            .iter()
            .zip(hits)
            .filter(|(r, hit)| *hit && !r.silent)
            .map(|(r, _)| r)
            .collect()
    }
}

/// `\b` rewritten as "a non-word character, or either end": the crate's fast automata (the
/// lazy DFA behind `RegexSet`) cannot do a Unicode `\b` on non-ASCII text and would fall back
/// to a matcher many times slower, and an ASCII `\b` would miss the end of `lô đề`. A set only
/// answers whether each rule matches, so consuming the neighbouring character changes nothing.
fn word_boundaries(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('b') => out.push_str("(?:\\W|^|$)"),
            Some(n) => {
                out.push('\\');
                out.push(n);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// Links matched per message (the content model keeps up to 1000).
const MAX_LINKS: usize = 200;

/// The host of a link the content model found (`http://`, `https://` or `www.`): no scheme,
/// user, port, path, query or trailing dot.
fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#', '\\']).next().unwrap_or("");
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.split(':').next().unwrap_or(""),
    };
    host.trim_end_matches('.')
}

/// At most `max` bytes of `s`, cut at a character boundary.
fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn set_hits(set: &Set<RegexSet>, text: &str, hits: &mut [bool]) {
    for i in set.set.matches(text).iter() {
        hits[set.rules[i]] = true;
    }
}

/// Matches the normalised text (diacritics kept) and its folded form (without them), so a
/// rule written with or without diacritics finds both spellings.
fn text_hits(set: &Set<RegexSet>, text: &str, max: usize, hits: &mut [bool]) {
    let normal = normalize::normalize(truncate(text, max));
    set_hits(set, &normal, hits);
    let folded = normalize::strip_marks(&normal);
    if folded != normal {
        set_hits(set, &folded, hits);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inspect::content::{Header, Text};

    fn build(text: &str, scores: &[(&str, f64)]) -> Result<RuleSet, Vec<String>> {
        let (defs, errors) = super::super::parse::parse("t.rules", text);
        assert!(errors.is_empty(), "{errors:?}");
        let scores = scores.iter().map(|(n, s)| (n.to_string(), *s)).collect();
        RuleSet::build(defs, &scores, 1 << 20)
    }

    fn message(subject: &str, body: &str, urls: &[&str]) -> Content {
        Content {
            headers: vec![Header {
                name: "Subject".into(),
                value: subject.into(),
            }],
            texts: vec![Text {
                path: "1".into(),
                attachment: false,
                source: TextSource::Plain,
                text: body.into(),
            }],
            urls: urls.iter().map(|u| u.to_string()).collect(),
            ..Content::default()
        }
    }

    fn names(set: &RuleSet, c: &Content) -> Vec<String> {
        set.matches(c, None)
            .iter()
            .map(|r| r.name.clone())
            .collect()
    }

    const RULES: &str = "rule FOLDED\n body /vay tien nhanh/\n score 1\n vi a\n en b\n\
        rule ACCENTED\n body /lô ?đề/\n score 1\n vi a\n en b\n\
        rule NO_MSGID\n header Message-ID /^$/\n score 0.5\n vi a\n en b\n\
        rule __OUTSIDE\n host !/(^|\\.)gov\\.vn$/\n\
        rule __TAX\n subject /thuế/\n\
        rule TAX_OUTSIDE\n meta __TAX && __OUTSIDE\n score 3\n vi a\n en b\n\
        rule TWO_OF\n meta (FOLDED + ACCENTED + TAX_OUTSIDE) >= 2\n score 2\n vi a\n en b\n";

    #[test]
    fn diacritics_folding_hidden_letters_and_fields() {
        let set = build(RULES, &[]).unwrap();
        // With diacritics, zero-width space and spaced-out letters: both rules see through.
        let c = message("Chào", "VAY TIỀN\u{200B} NHANH, l ô đ ề", &[]);
        assert_eq!(
            names(&set, &c),
            ["FOLDED", "ACCENTED", "NO_MSGID", "TWO_OF"]
        );
        // A pattern with diacritics does not match the folded text (`lo de` is also `lo để`).
        let c = message("Chào", "lo de", &[]);
        assert_eq!(names(&set, &c), ["NO_MSGID"]);
    }

    #[test]
    fn negated_host_and_metas_in_order() {
        let set = build(RULES, &[]).unwrap();
        let gov = message("Thông báo thuế", "x", &["https://thuedientu.gdt.gov.vn/a"]);
        assert!(!names(&set, &gov).contains(&"TAX_OUTSIDE".to_string()));
        let out = message(
            "Thông báo thuế",
            "vay tien nhanh",
            &[
                "https://thuedientu.gdt.gov.vn/a",
                "http://user@gdt-gov.top:8080/x",
            ],
        );
        // TWO_OF comes after the meta it counts, whatever the file order.
        assert_eq!(
            names(&set, &out),
            ["FOLDED", "NO_MSGID", "TAX_OUTSIDE", "TWO_OF"]
        );
        assert_eq!(host_of("http://user@gdt-gov.top:8080/x"), "gdt-gov.top");
        assert_eq!(
            word_boundaries(r"\blô ?đề\b|a\\b"),
            r"(?:\W|^|$)lô ?đề(?:\W|^|$)|a\\b"
        );
        assert_eq!(host_of("www.angiang.gov.vn."), "www.angiang.gov.vn");
        assert_eq!(host_of("https://[2001:db8::1]:443/"), "2001:db8::1");
    }

    #[test]
    fn overrides_duplicates_and_cycles() {
        let set = build(RULES, &[("FOLDED", 0.0), ("ACCENTED", -2.0)]).unwrap();
        let c = message("", "vay tien nhanh lô đề", &[]);
        // A score of 0 silences a rule but it still counts in metas.
        let hits = set.matches(&c, None);
        assert!(hits.iter().all(|r| r.name != "FOLDED"));
        assert!(hits.iter().any(|r| r.name == "ACCENTED" && r.score == -2.0));
        assert!(hits.iter().any(|r| r.name == "TWO_OF"));
        let e = build(RULES, &[("NOPE", 1.0)]).err().unwrap();
        assert_eq!(e, ["spam.rules.scores.NOPE: no rule of that name"]);
        let cyc = "rule A\n meta B\n score 1\n vi a\n en b\nrule B\n meta A || C\n score 1\n vi a\n en b\n\
                   rule C\n body /x/\n score 1\n vi a\n en b\nrule C\n body /y/\n score 1\n vi a\n en b\n";
        let e = build(cyc, &[]).err().unwrap();
        assert!(e.iter().any(|e| e.contains("refers to itself")), "{e:?}");
        assert!(
            e.iter()
                .any(|e| e == "t.rules:16: rule C is already defined at t.rules:11"),
            "{e:?}"
        );
    }
}
