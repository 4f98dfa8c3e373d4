//! Reading commands and writing replies: buffering, pipelining rules, deadlines, shutdown.
//!
//! Every wait has a deadline that does not move while the client dribbles: a command line
//! must be complete within `command_timeout` of the start of its wait, each DATA record (a
//! line, or `DATA_RECORD` bytes) within `data_timeout`, each batch of replies must be read by
//! the client within `command_timeout` (Postfix's `smtpd_per_record_deadline`). Under stress
//! the deadlines shrink to `stress_timeout`; see `crate::conns` for who goes at the limit.

use super::*;
use tokio::time::Instant as Deadline;

/// What the client is being waited for, and since when: its deadline follows from it.
#[derive(Clone, Copy)]
pub(super) enum Wait {
    /// A command line, since the wait for it began.
    Command { since: Deadline },
    /// The next DATA record, since the last one.
    Data { since: Deadline },
}

/// DATA progress that earns a new deadline: one line, or this many bytes of a long one.
const DATA_RECORD: usize = 1024;

/// The deadline of message content: restarted by each record the client completes.
pub(super) struct DataClock {
    since: Deadline,
    seen: usize,
}

impl DataClock {
    pub(super) fn start() -> Self {
        DataClock {
            since: Deadline::now(),
            seen: 0,
        }
    }
}

impl Session {
    /// The next command line, flushing pending replies before waiting (RFC 2920 3.2).
    pub(super) async fn next_line(&mut self) -> Result<Input, End> {
        let max = self.cfg.limits.command_line_length;
        let mut discarding = false;
        // Whether the line came in after our last reply went out, or was already waiting.
        let mut read_since_reply = false;
        let started = Deadline::now();
        self.slot.waiting();
        let line = self
            .next_line_until(started, max, &mut discarding, &mut read_since_reply)
            .await;
        self.slot.working();
        line
    }

    async fn next_line_until(
        &mut self,
        started: Deadline,
        max: usize,
        discarding: &mut bool,
        read_since_reply: &mut bool,
    ) -> Result<Input, End> {
        loop {
            if let Some(i) = memchr(b'\n', &self.rbuf) {
                let mut line = self.rbuf.split_to(i + 1).to_vec();
                if *discarding || line.len() > max {
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
                if !*read_since_reply && !self.pipelining_ok && !line.eq_ignore_ascii_case(b"QUIT")
                {
                    return Err(self.desync());
                }
                return Ok(Input::Line(line));
            }
            if self.rbuf.len() > max {
                // Swallow the oversized line so the stream stays in step with the client.
                *discarding = true;
                self.rbuf.clear();
            }
            match self.phase() {
                Phase::Stop => return Err(self.shutdown_reply()),
                Phase::Draining if self.tx.is_none() => return Err(self.shutdown_reply()),
                _ => {}
            }
            self.read_more(Wait::Command { since: started }).await?;
            *read_since_reply = true;
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

    /// How long a command line (or a write of replies) may take now.
    fn command_wait(&self) -> Duration {
        let l = &self.cfg.limits;
        self.stressed(l.command_timeout.get())
    }

    /// How long one DATA record may take now.
    fn data_wait(&self) -> Duration {
        let l = &self.cfg.limits;
        self.stressed(l.data_timeout.get())
    }

    fn stressed(&self, normal: Duration) -> Duration {
        let l = &self.cfg.limits;
        if self.slot.stressed(l.stress_at) {
            normal.min(l.stress_timeout.get())
        } else {
            normal
        }
    }

    /// Reads more message content, within the deadline of the record in progress.
    pub(super) async fn read_data(&mut self, clock: &mut DataClock) -> Result<(), End> {
        let before = self.rbuf.len();
        self.read_more(Wait::Data { since: clock.since }).await?;
        let new = &self.rbuf[before..];
        clock.seen += new.len();
        if clock.seen >= DATA_RECORD || memchr(b'\n', new).is_some() {
            *clock = DataClock::start();
        }
        Ok(())
    }

    fn deadline(&self, wait: Wait) -> Deadline {
        match wait {
            Wait::Command { since } => since + self.command_wait(),
            Wait::Data { since } => since + self.data_wait(),
        }
    }

    /// Flushes replies, then reads more client bytes within the wait's deadline, watching
    /// the shutdown and, between commands, the connection limit.
    pub(super) async fn read_more(&mut self, wait: Wait) -> Result<(), End> {
        self.flush().await?;
        // Room for a large read: message bodies arrive in big segments, and a nearly full
        // buffer would otherwise be refilled a few bytes at a time.
        self.rbuf.reserve(READ_CHUNK);
        let evictable = matches!(wait, Wait::Command { .. });
        let recheck = self.cfg.limits.stress_timeout.get();
        loop {
            // Stress that begins during a long wait must shorten it too: wake at least every
            // stress_timeout to look again. One timer per session, moved to each wake-up:
            // moving it is free, where a new timer per read woke the runtime's driver.
            let deadline = self.deadline(wait);
            self.idle
                .as_mut()
                .reset(deadline.min(Deadline::now() + recheck));
            let mut phase = self.phase.clone();
            let slot = &self.slot;
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
                    if Deadline::now() < self.deadline(wait) {
                        continue;
                    }
                    self.reply(Reply::new(421, "4.4.2", "Hết thời gian chờ / Timeout, closing connection"));
                    return Err(End::Timeout);
                }
                _ = slot.evicted(), if evictable => {
                    self.reply(Reply::new(
                        421,
                        "4.7.0",
                        "Máy chủ bận, đóng kết nối rỗi / Server busy, closing idle connection",
                    ));
                    return Err(End::Evicted);
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

    /// Writes the pending replies; a client that does not read them within the command
    /// deadline loses its session (a pipelining client that never reads would hold it).
    pub(super) async fn flush(&mut self) -> Result<(), End> {
        if self.wbuf.is_empty() {
            return Ok(());
        }
        let wait = self.command_wait();
        let io = &mut self.io;
        let wbuf = &self.wbuf;
        let written = timeout(wait, async {
            io.write_all(wbuf).await?;
            io.flush().await
        })
        .await;
        match written {
            Ok(Ok(())) => {
                self.wbuf.clear();
                Ok(())
            }
            Ok(Err(e)) => Err(End::Io(e)),
            Err(_) => Err(End::WriteTimeout),
        }
    }
}
