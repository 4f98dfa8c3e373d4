use super::{Action, Finding};
use crate::smtp::Reply;

/// The decision for one stage: the strongest finding wins.
#[derive(Debug, Clone, Default)]
pub struct Verdict {
    pub findings: Vec<Finding>,
}

impl Verdict {
    pub fn new(findings: Vec<Finding>) -> Self {
        Verdict { findings }
    }

    /// The most severe action among the findings, `accept` when there are none.
    pub fn action(&self) -> Action {
        self.findings
            .iter()
            .map(|f| f.action)
            .max()
            .unwrap_or(Action::Accept)
    }

    /// The finding that decided the action (the first of the most severe).
    pub fn decisive(&self) -> Option<&Finding> {
        let action = self.action();
        self.findings.iter().find(|f| f.action == action)
    }

    /// The rule names of all findings, deduplicated, in order.
    pub fn rules(&self) -> Vec<&str> {
        let mut rules: Vec<&str> = Vec::new();
        for f in &self.findings {
            if !rules.contains(&f.rule.as_ref()) {
                rules.push(&f.rule);
            }
        }
        rules
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
    }
}
