//! GTUBE, the Generic Test for Unsolicited Bulk Email (SpamAssassin's test pattern): a message
//! carrying it is spam, always, whatever else is in it, so an admin can check end to end that
//! spam is refused. Searched in every text part of the content model, after its transfer
//! encoding (base64, quoted-printable with soft line breaks) and charset are undone.

use crate::config::spam::SpamConfig;
use crate::engine::{rule, Action, Bilingual, Check, Connection, Envelope, Finding, Pending};
use crate::inspect::Content;

/// The pattern, as published with SpamAssassin.
pub const GTUBE: &str = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X";

pub struct Gtube {
    action: Action,
}

impl Gtube {
    pub fn new(cfg: &SpamConfig) -> Self {
        Gtube {
            action: cfg.gtube_action,
        }
    }
}

impl Check for Gtube {
    fn name(&self) -> &'static str {
        "gtube"
    }

    fn reads_content(&self) -> bool {
        self.action != Action::Accept
    }

    fn content<'a>(
        &'a self,
        _conn: &'a Connection,
        _env: &'a Envelope,
        content: &'a Content,
        out: &mut Vec<Finding>,
    ) -> Pending<'a> {
        if self.action == Action::Accept {
            return None;
        }
        if let Some(t) = content.texts.iter().find(|t| t.text.contains(GTUBE)) {
            out.push(
                Finding::new(
                    rule::SPAM,
                    self.action,
                    Bilingual::new("Thư rác (mẫu thử GTUBE)", "Spam (the GTUBE test pattern)"),
                )
                .with_part(&t.path)
                .with_code(550, "5.7.1"),
            );
        }
        None
    }
}
