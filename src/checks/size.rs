//! `message-size`: the whole message against `limits.message_size`, refused at MAIL FROM when
//! the client declares SIZE= (RFC 1870), so an oversized body is never even sent.

use crate::config::ByteSize;
use crate::engine::{rule, Action, Bilingual, Check, Connection, Envelope, Finding, Pending};

/// Refuses messages larger than the configured limit.
pub struct MessageSize {
    pub max: ByteSize,
}

impl MessageSize {
    fn finding(&self) -> Finding {
        Finding::new(
            rule::MESSAGE_SIZE,
            Action::Reject,
            Bilingual::new(
                format!("Thư vượt quá kích thước cho phép {}", self.max),
                format!("Message exceeds the size limit of {}", self.max),
            ),
        )
        .with_code(552, "5.3.4")
    }
}

impl Check for MessageSize {
    fn name(&self) -> &'static str {
        "message-size"
    }

    fn mail<'a>(
        &'a self,
        _conn: &'a Connection,
        env: &'a Envelope,
        out: &mut Vec<Finding>,
    ) -> Pending<'a> {
        if env.size_hint.is_some_and(|s| s > self.max.bytes()) {
            out.push(self.finding());
        }
        None
    }

    fn end_of_data(&self, _conn: &Connection, env: &Envelope, out: &mut Vec<Finding>) {
        if env.size > self.max.bytes() {
            out.push(self.finding());
        }
    }
}
