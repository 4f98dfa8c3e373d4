//! GTUBE, the Generic Test for Unsolicited Bulk Email (SpamAssassin's test pattern): a message
//! carrying it is spam, always, whatever else is in it, so an admin can check end to end that
//! spam is refused.
//!
//! Searched in the raw message (7bit, 8bit, quoted-printable without a soft break in it),
//! streamed from the spool at no parse cost, and in every text part of the content model,
//! after base64 or quoted-printable and the charset are undone, whenever another check has
//! the message parsed (inspection is on in the default config and every profile). GTUBE alone
//! does not make the engine parse each message: that doubled the cost of large mail.

use std::io::Read;

use crate::config::spam::SpamConfig;
use crate::engine::{
    rule, Action, Bilingual, Check, CheckFuture, Connection, Envelope, Finding, Pending,
};
use crate::inspect::Content;
use crate::spool::Spool;

/// The pattern, as published with SpamAssassin.
pub const GTUBE: &str = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X";

pub struct Gtube {
    action: Action,
}

/// Left in the envelope when the raw message already showed the pattern.
struct FoundRaw;

impl Gtube {
    pub fn new(cfg: &SpamConfig) -> Self {
        Gtube {
            action: cfg.gtube_action,
        }
    }
}

impl Gtube {
    fn finding(&self, part: Option<&str>) -> Finding {
        let f = Finding::new(
            rule::SPAM,
            self.action,
            Bilingual::new("Thư rác (mẫu thử GTUBE)", "Spam (the GTUBE test pattern)"),
        )
        .with_code(550, "5.7.1");
        match part {
            Some(p) => f.with_part(p),
            None => f,
        }
    }
}

/// Whether the spooled bytes hold the pattern, read in pieces that overlap by its length.
/// It yields to the session's worker between pieces, so a large message does not hold up
/// the other sessions on that worker while it is searched.
async fn raw_contains(msg: &Spool) -> bool {
    let Ok(mut r) = msg.reader() else {
        return false;
    };
    let finder = memchr::memmem::Finder::new(GTUBE.as_bytes());
    let keep = GTUBE.len() - 1;
    let mut buf = vec![0u8; 64 * 1024 + keep];
    let mut held = 0;
    loop {
        let n = match r.read(&mut buf[held..]) {
            Ok(0) | Err(_) => return false,
            Ok(n) => n,
        };
        let end = held + n;
        if finder.find(&buf[..end]).is_some() {
            return true;
        }
        let tail = end.min(keep);
        buf.copy_within(end - tail..end, 0);
        held = tail;
        tokio::task::yield_now().await;
    }
}

impl Check for Gtube {
    fn name(&self) -> &'static str {
        "gtube"
    }

    fn data<'a>(
        &'a self,
        _conn: &'a Connection,
        env: &'a Envelope,
        msg: &'a Spool,
    ) -> CheckFuture<'a> {
        Box::pin(async move {
            if self.action == Action::Accept || !raw_contains(msg).await {
                return Vec::new();
            }
            env.state.insert(FoundRaw);
            vec![self.finding(None)]
        })
    }

    fn content<'a>(
        &'a self,
        _conn: &'a Connection,
        env: &'a Envelope,
        content: &'a Content,
        out: &mut Vec<Finding>,
    ) -> Pending<'a> {
        if self.action == Action::Accept || env.state.get::<FoundRaw>().is_some() {
            return None;
        }
        if let Some(t) = content.texts.iter().find(|t| t.text.contains(GTUBE)) {
            out.push(self.finding(Some(&t.path)));
        }
        None
    }
}
