//! Reading commands and writing replies: buffering, pipelining rules, timeouts, shutdown.

use super::*;

impl Session {
    /// The next command line, flushing pending replies before waiting (RFC 2920 3.2).
    pub(super) async fn next_line(&mut self) -> Result<Input, End> {
        let max = self.rt.config.limits.command_line_length;
        let mut discarding = false;
        // Whether the line came in after our last reply went out, or was already waiting.
        let mut read_since_reply = false;
        loop {
            if let Some(i) = memchr(b'\n', &self.rbuf) {
                let mut line = self.rbuf.split_to(i + 1).to_vec();
                if discarding || line.len() > max {
                    return Ok(Input::TooLong);
                }
                line.truncate(i);
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                // RFC 2920 3.1: only a client that saw PIPELINING in our EHLO reply may send a
                // command before the previous reply; EHLO itself ends a group. Anything else
                // is a bot or a desynchronised stream (Postfix: smtpd_forbid_unauth_pipelining).
                // QUIT right behind the end of DATA is common and harmless.
                if !read_since_reply && !self.pipelining_ok && !line.eq_ignore_ascii_case(b"QUIT") {
                    return Err(self.desync());
                }
                return Ok(Input::Line(line));
            }
            if self.rbuf.len() > max {
                // Swallow the oversized line so the stream stays in step with the client.
                discarding = true;
                self.rbuf.clear();
            }
            match self.phase() {
                Phase::Stop => return Err(self.shutdown_reply()),
                Phase::Draining if self.tx.is_none() => return Err(self.shutdown_reply()),
                _ => {}
            }
            self.read_more(self.rt.config.limits.command_timeout.get())
                .await?;
            read_since_reply = true;
        }
    }

    pub(super) fn desync(&mut self) -> End {
        self.reply(Reply::new(
            554,
            "5.5.0",
            "Lỗi đồng bộ giao thức SMTP / SMTP protocol synchronization error (improper command pipelining)",
        ));
        End::Desync
    }

    pub(super) fn shutdown_reply(&mut self) -> End {
        self.reply(Reply::new(
            421,
            "4.3.2",
            "Máy chủ đang dừng / Service shutting down",
        ));
        End::Shutdown
    }

    /// Flushes replies, then reads more client bytes, watching the clock and the shutdown.
    pub(super) async fn read_more(&mut self, wait: Duration) -> Result<(), End> {
        self.flush().await.map_err(End::Io)?;
        // Room for a large read: message bodies arrive in big segments, and a nearly full
        // buffer would otherwise be refilled a few bytes at a time.
        self.rbuf.reserve(READ_CHUNK);
        // One timer per session, moved forward on every wait: moving it later is free, where a
        // new timer per read woke the runtime's driver (a system call, a spurious wake-up).
        self.idle.as_mut().reset(tokio::time::Instant::now() + wait);
        loop {
            let mut phase = self.phase.clone();
            tokio::select! {
                r = self.io.read_buf(&mut self.rbuf) => {
                    // Bytes read after our EHLO reply went out may pipeline (RFC 2920).
                    self.pipelining_ok = self.esmtp;
                    return match r {
                        Ok(0) => Err(End::ClientGone),
                        Ok(_) => Ok(()),
                        Err(e) => Err(End::Io(e)),
                    };
                }
                _ = self.idle.as_mut() => {
                    self.reply(Reply::new(421, "4.4.2", "Hết thời gian chờ / Timeout, closing connection"));
                    return Err(End::Timeout);
                }
                changed = phase.changed() => {
                    let now = *phase.borrow();
                    if changed.is_err() || now == Phase::Stop || (now == Phase::Draining && self.tx.is_none()) {
                        return Err(self.shutdown_reply());
                    }
                    // Draining with a transaction open: keep reading; watch for Stop only.
                    self.phase = phase;
                }
            }
        }
    }

    pub(super) fn reply(&mut self, reply: Reply) {
        self.wbuf.extend_from_slice(reply.to_wire().as_bytes());
    }

    /// A reply to a command the client got wrong; counts towards `max_bad_commands`.
    pub(super) fn error(&mut self, reply: Reply) {
        self.bad += 1;
        self.reply(reply);
    }

    /// Passes an upstream reply to the client unchanged, except that a 421 (the upstream is
    /// closing) becomes a 451 for this command: the client's session with us goes on.
    pub(super) fn relay(&mut self, reply: Reply) {
        if reply.code == 421 {
            self.drop_upstream();
            self.tx = None;
            return self.reply(Reply::new(451, "4.4.2", reply.lines.join(" ")));
        }
        self.reply(reply);
    }

    pub(super) async fn flush(&mut self) -> std::io::Result<()> {
        if self.wbuf.is_empty() {
            return Ok(());
        }
        self.io.write_all(&self.wbuf).await?;
        self.io.flush().await?;
        self.wbuf.clear();
        Ok(())
    }
}
