use serde::{Deserialize, Serialize};

/// What happens to a message (or one recipient) once the checks have spoken.
///
/// Ordered by severity so that the verdict of several findings is their maximum: a definite
/// `reject` beats a `tempfail` (retrying cannot change it), and a `tempfail` beats `quarantine`
/// (a message we could not fully judge is not kept as if we had).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Deliver unchanged.
    Accept,
    /// Deliver with headers (and optionally a subject prefix) that say what was found.
    Tag,
    /// Keep on disk, do not deliver; an admin may release it.
    Quarantine,
    /// Answer 4xx: the client keeps the message and retries.
    Tempfail,
    /// Answer 5xx: the client returns the message to its sender.
    Reject,
}

impl Action {
    /// The lowercase name used in config files, logs, metrics and `scan` output.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Accept => "accept",
            Action::Tag => "tag",
            Action::Quarantine => "quarantine",
            Action::Tempfail => "tempfail",
            Action::Reject => "reject",
        }
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
