//! `message-size`: the whole message against `limits.message_size`, refused at MAIL FROM when
//! the client declares SIZE= (RFC 1870), so an oversized body is never even sent.

use crate::config::ByteSize;
use crate::engine::{rule, Action, Bilingual, Check, Connection, Envelope, Finding};

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

    fn mail(&self, _conn: &Connection, env: &Envelope, out: &mut Vec<Finding>) {
        if env.size_hint.is_some_and(|s| s > self.max.bytes()) {
            out.push(self.finding());
        }
    }

    fn end_of_data(&self, _conn: &Connection, env: &Envelope, out: &mut Vec<Finding>) {
        if env.size > self.max.bytes() {
            out.push(self.finding());
        }
    }
}
