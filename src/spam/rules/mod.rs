//! The spam rule engine (issue 10): regex rules over the header fields, the plain and HTML
//! text, the links and the raw message, and meta rules that combine them, each with a name, a
//! score and a description in Vietnamese and English that `X-Spam-Report` shows. The files
//! are the admin's (`filters/*.rules`, format in `filters/README.md`); they are read and
//! compiled once per config generation, so a reload (or an edit the server notices) swaps in
//! a new set, and a set with a mistake never replaces the running one.
//!
//! Where there are no rule files, as with the embedded default config, locthu uses the
//! starter set compiled into the binary: the same `filters/*.rules` it ships, so the gateway
//! filters spam out of the box and a rule directory on disk always wins over the built-in one.

pub mod meta;
pub mod parse;
pub mod set;

use std::path::Path;
use std::sync::{Arc, Mutex};

pub use set::{Rule, RuleSet};

use crate::config::spam_rules::SpamRulesConfig;

/// The starter rule set, as shipped in `filters/`.
pub const BUILTIN: &[(&str, &str)] = &[
    (
        "en-spam.rules",
        include_str!("../../../filters/en-spam.rules"),
    ),
    ("ham.rules", include_str!("../../../filters/ham.rules")),
    (
        "vi-gambling.rules",
        include_str!("../../../filters/vi-gambling.rules"),
    ),
    (
        "vi-loans.rules",
        include_str!("../../../filters/vi-loans.rules"),
    ),
    (
        "vi-phishing.rules",
        include_str!("../../../filters/vi-phishing.rules"),
    ),
    (
        "vi-scams.rules",
        include_str!("../../../filters/vi-scams.rules"),
    ),
    (
        "vi-summons.rules",
        include_str!("../../../filters/vi-summons.rules"),
    ),
    (
        "vi-tax-invoice.rules",
        include_str!("../../../filters/vi-tax-invoice.rules"),
    ),
];

/// Where a rule set came from, for the start-up log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The `*.rules` files of this directory.
    Dir(std::path::PathBuf),
    /// The starter set compiled into locthu.
    Builtin,
}

/// The `*.rules` files of `dir`, sorted by name, with their text; `None` when there are none
/// (or no such directory).
fn read_dir(dir: &Path) -> Result<Option<Vec<(String, String)>>, String> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => return Ok(None),
        Err(e) => return Err(format!("spam.rules.dir: {}: {e}", dir.display())),
    };
    let mut paths: Vec<_> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "rules") && p.is_file())
        .collect();
    if paths.is_empty() {
        return Ok(None);
    }
    paths.sort();
    paths
        .into_iter()
        .map(|p| match std::fs::read_to_string(&p) {
            Ok(t) => Ok((p.display().to_string(), t)),
            Err(e) => Err(format!("spam.rules.dir: {}: {e}", p.display())),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// Reads and compiles the rules `cfg` names, relative to `base`: the directory's `*.rules`
/// files, or the built-in set when it has none. Every mistake is in the error, one a line,
/// each `spam.rules.dir: FILE:LINE: …` (or `spam.rules.scores.NAME: …`).
///
/// The set compiled last is kept: a reload that leaves the rule files and their settings as
/// they were (most reloads change something else) reuses it instead of compiling a few
/// hundred regexes again.
pub fn load(cfg: &SpamRulesConfig, base: &Path) -> Result<(Arc<RuleSet>, Origin), String> {
    let dir = base.join(&cfg.dir);
    let (files, origin) = match read_dir(&dir)? {
        Some(f) => (f, Origin::Dir(dir)),
        None => (
            BUILTIN
                .iter()
                .map(|(n, t)| (format!("<built-in>/{n}"), t.to_string()))
                .collect(),
            Origin::Builtin,
        ),
    };
    let key = (files, cfg.scores.clone(), cfg.max_text.0);
    static LAST: Mutex<Option<(RulesKey, Arc<RuleSet>)>> = Mutex::new(None);
    if let Some((k, set)) = LAST.lock().ok().as_deref().and_then(Option::as_ref) {
        if *k == key {
            return Ok((Arc::clone(set), origin));
        }
    }
    let files = &key.0;
    let mut defs = Vec::new();
    let mut errors = Vec::new();
    for (name, text) in files {
        let (d, e) = parse::parse(name, text);
        defs.extend(d);
        errors.extend(e);
    }
    let max_text = usize::try_from(cfg.max_text.0).unwrap_or(usize::MAX).max(1);
    let set = match RuleSet::build(defs, &cfg.scores, max_text) {
        Ok(set) if errors.is_empty() => set,
        Ok(_) => return Err(prefixed(errors)),
        Err(e) => {
            errors.extend(e);
            return Err(prefixed(errors));
        }
    };
    let set = Arc::new(set);
    if let Ok(mut last) = LAST.lock() {
        *last = Some((key, Arc::clone(&set)));
    }
    Ok((set, origin))
}

/// What a compiled set depends on: the files (name and text), the score overrides, the cap.
type RulesKey = (
    Vec<(String, String)>,
    std::collections::BTreeMap<String, f64>,
    u64,
);

/// One error a line, each naming the config key it concerns (for the runtime's file:line).
fn prefixed(errors: Vec<String>) -> String {
    errors
        .into_iter()
        .map(|e| {
            if e.starts_with("spam.rules") {
                e
            } else {
                format!("spam.rules.dir: {e}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}
