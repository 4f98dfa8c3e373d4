//! MAIL FROM and RCPT TO: our checks first, then the upstream, whose answers pass back.

use super::*;

impl Session {
    pub(super) async fn mail(&mut self, m: MailFrom) {
        if !self.greeted {
            return self.error(Reply::new(
                503,
                "5.5.1",
                "Hãy gửi EHLO trước / Send HELO/EHLO first",
            ));
        }
        if self.tx.is_some() {
            return self.error(Reply::new(
                503,
                "5.5.1",
                "Lệnh MAIL lồng nhau / Nested MAIL command",
            ));
        }
        if self.phase() != Phase::Running {
            return self.reply(Reply::new(
                421,
                "4.3.2",
                "Máy chủ đang dừng / Service shutting down",
            ));
        }
        let env = Envelope {
            mail_from: m.from.clone(),
            size_hint: m.size,
            smtputf8: m.smtputf8,
            eight_bit: m.body == Some(Body::EightBitMime),
            ..Envelope::default()
        };
        let verdict = self.engine.mail(&self.conn, &env).await;
        if let Some(reply) = verdict.refusal() {
            self.count(&verdict);
            return self.reply(reply);
        }
        let up = match self.ready_upstream().await {
            Ok(Ok(up)) => up,
            Ok(Err(refusal)) => return self.relay(refusal),
            Err(e) => return self.upstream_failed(e),
        };
        if m.smtputf8 && !up.caps.smtputf8 {
            return self.reply(Reply::new(
                550,
                "5.6.7",
                "Máy chủ phía sau không hỗ trợ SMTPUTF8 / SMTPUTF8 not supported by the next hop",
            ));
        }
        let mut line = format!("MAIL FROM:<{}>", m.from);
        if let (Some(size), true) = (m.size, up.caps.size) {
            line.push_str(&format!(" SIZE={size}"));
        }
        if m.body == Some(Body::EightBitMime) && up.caps.eight_bit {
            line.push_str(" BODY=8BITMIME");
        }
        if m.smtputf8 {
            line.push_str(" SMTPUTF8");
        }
        match up.mail(&line).await {
            Ok(reply) => {
                let reply = reply.unwrap_or_else(|| Reply::new(250, "2.1.0", "Ok"));
                if reply.is_positive() {
                    self.tx = Some(Tx {
                        env,
                        started: Instant::now(),
                        mail_refused: None,
                        rcpt_tried: false,
                        mail_line: line,
                    });
                }
                self.relay(reply);
            }
            Err(e) => self.upstream_failed(e),
        }
    }

    pub(super) async fn rcpt(&mut self, to: String) {
        if let Some(tx) = &mut self.tx {
            tx.rcpt_tried = true;
        }
        let Some(tx) = &self.tx else {
            return self.error(Reply::new(
                503,
                "5.5.1",
                "Cần lệnh MAIL trước / Need MAIL command",
            ));
        };
        if tx.env.rcpts.len() >= self.cfg.limits.max_recipients {
            // RFC 5321 4.5.3.1.10: 452 asks the client to send the rest in another transaction.
            return self.reply(Reply::new(
                452,
                "4.5.3",
                "Quá nhiều người nhận / Too many recipients",
            ));
        }
        if !tx.env.smtputf8 && !to.is_ascii() {
            return self.error(Reply::new(
                553,
                "5.6.7",
                "Địa chỉ UTF-8 cần SMTPUTF8 / UTF-8 address needs SMTPUTF8",
            ));
        }
        if let Some(refusal) = &tx.mail_refused {
            return self.reply(refusal.clone());
        }
        let verdict = self.engine.rcpt(&self.conn, &tx.env, &to).await;
        if let Some(reply) = verdict.refusal() {
            self.count(&verdict);
            info!(conn = self.conn.id, client = %self.conn.client.addr, from = %tx.env.mail_from, rcpt = %to,
                  action = %verdict.action(), rules = ?verdict.rules(), reply = %reply, "recipient refused");
            return self.reply(reply);
        }
        let UpSlot::Ready(up, _) = &mut self.upstream else {
            return self.upstream_failed(UpstreamError::Protocol("no upstream session".into()));
        };
        let result = up.command(&format!("RCPT TO:<{to}>"), "RCPT").await;
        let mail_refused = up.take_mail_refusal();
        if let (Some(refusal), Some(tx)) = (mail_refused, &mut self.tx) {
            tx.mail_refused = Some(refusal.clone());
            return self.relay(refusal);
        }
        match result {
            Ok(reply) => {
                if reply.is_positive() {
                    if let Some(tx) = &mut self.tx {
                        tx.env.rcpts.push(crate::engine::Recipient::new(to));
                    }
                }
                self.relay(reply);
            }
            Err(e) => self.upstream_failed(e),
        }
    }
}
