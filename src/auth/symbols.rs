//! The scoring symbols of the authentication results and their default weights, close to
//! rspamd's (`R_SPF_*`, `R_DKIM_*`, `DMARC_POLICY_*`, `ARC_*`): an authenticated message gets
//! a little credit, a failure a little weight; the decisions (DMARC policy, forged-internal)
//! are findings of their own, not scores.

/// Every symbol with its default score.
const SYMBOLS: &[(&str, f64)] = &[
    ("SPF_PASS", -0.2),
    ("SPF_FAIL", 1.0),
    ("SPF_SOFTFAIL", 0.5),
    ("SPF_NEUTRAL", 0.0),
    ("SPF_NONE", 0.0),
    ("SPF_TEMPERROR", 0.0),
    ("SPF_PERMERROR", 0.2),
    ("DKIM_VALID", -0.2),
    ("DKIM_INVALID", 1.0),
    ("DKIM_TEMPERROR", 0.0),
    ("DKIM_PERMERROR", 0.2),
    ("DKIM_NONE", 0.0),
    ("DMARC_PASS", -0.5),
    ("DMARC_FAIL_REJECT", 3.0),
    ("DMARC_FAIL_QUARANTINE", 2.0),
    ("DMARC_FAIL_NONE", 0.5),
    ("DMARC_TEMPERROR", 0.0),
    ("DMARC_PERMERROR", 0.0),
    ("DMARC_NONE", 0.0),
    ("ARC_PASS", -0.5),
    ("ARC_FAIL", 1.0),
    ("ARC_TEMPERROR", 0.0),
    ("ARC_NONE", 0.0),
];

/// Whether `name` is one of our symbols.
pub fn known(name: &str) -> bool {
    SYMBOLS.iter().any(|(n, _)| *n == name)
}

/// All symbol names, for error messages and docs.
pub fn names() -> Vec<&'static str> {
    SYMBOLS.iter().map(|(n, _)| *n).collect()
}

/// The default score of `name` (0 for an unknown name).
pub fn default_score(name: &str) -> f64 {
    SYMBOLS
        .iter()
        .find(|(n, _)| *n == name)
        .map_or(0.0, |(_, s)| *s)
}
