use super::{Action, Finding};
use crate::reply::Reply;

/// The decision for one stage: the strongest finding wins.
#[derive(Debug, Clone, Default)]
pub struct Verdict {
    pub findings: Vec<Finding>,
    /// The spam score and what it led to, when scoring ran (the data stage, `[spam]` on).
    pub scored: Option<super::Scored>,
}

impl Verdict {
    pub fn new(findings: Vec<Finding>) -> Self {
        Verdict {
            findings,
            scored: None,
        }
    }

    /// The most severe action among the findings, `accept` when there are none.
    pub fn action(&self) -> Action {
        self.findings
            .iter()
            .map(|f| f.action)
            .max()
            .unwrap_or(Action::Accept)
    }

    /// The finding that decided the action: of the most severe, the one whose rule has the
    /// highest [`rule::priority`](super::rule::priority), then by rule name and part, so the
    /// answer never depends on the order in which checks ran.
    /// A verdict of `accept` has none: its findings (scoring symbols) decided nothing.
    pub fn decisive(&self) -> Option<&Finding> {
        let action = self.action();
        if action == Action::Accept {
            return None;
        }
        self.findings
            .iter()
            .filter(|f| f.action == action)
            .min_by(|a, b| {
                let key = |f: &'_ Finding| (super::rule::priority(&f.rule), f.rule.clone());
                key(a).cmp(&key(b)).then_with(|| a.part.cmp(&b.part))
            })
    }

    /// The rule names of the findings that take an action (scoring symbols are in
    /// [`Verdict::symbols`]), deduplicated, in order.
    pub fn rules(&self) -> Vec<&str> {
        let mut rules: Vec<&str> = Vec::new();
        for f in self.findings.iter().filter(|f| !f.is_symbol()) {
            if !rules.contains(&f.rule.as_ref()) {
                rules.push(&f.rule);
            }
        }
        rules
    }

    /// The scoring symbols that matched, in order (one per rule: a rule scores once).
    pub fn symbols(&self) -> impl Iterator<Item = &Finding> {
        let mut seen: Vec<&str> = Vec::new();
        self.findings.iter().filter(move |f| {
            if !f.is_symbol() || seen.contains(&f.rule.as_ref()) {
                return false;
            }
            seen.push(&f.rule);
            true
        })
    }

    /// The message's spam score: the sum of its symbols' scores.
    pub fn score(&self) -> f64 {
        self.symbols().filter_map(|f| f.score).sum()
    }

    /// The reply that ends the stage early (reject, tempfail), if any.
    pub fn refusal(&self) -> Option<Reply> {
        match self.action() {
            Action::Reject | Action::Tempfail => self.decisive().map(Finding::reply),
            _ => None,
        }
    }

    pub fn extend(&mut self, other: Verdict) {
        self.findings.extend(other.findings);
        if other.scored.is_some() {
            self.scored = other.scored;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{rule, Bilingual};

    fn f(rule: &'static str, action: Action, part: &str) -> Finding {
        Finding::new(rule, action, Bilingual::new("x", "x")).with_part(part)
    }

    #[test]
    fn the_decisive_finding_does_not_depend_on_check_order() {
        let findings = vec![
            f(rule::ATTACHMENT_SIZE, Action::Reject, "a.zip"),
            f(rule::UNSCANNED, Action::Tempfail, "-"),
            f(rule::VIRUS, Action::Reject, "a.zip/x.txt"),
            f("zz-custom", Action::Reject, "b"),
            f(rule::VIRUS, Action::Reject, "a.zip/b.txt"),
        ];
        let mut reversed = findings.clone();
        reversed.reverse();
        for order in [findings, reversed] {
            let v = Verdict::new(order);
            assert_eq!(v.action(), Action::Reject);
            let d = v.decisive().unwrap();
            assert_eq!(
                (d.rule.as_ref(), d.part.as_deref()),
                (rule::VIRUS, Some("a.zip/b.txt"))
            );
        }
    }
}
