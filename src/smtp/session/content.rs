//! The message itself: DATA and BDAT, the checks at the end of it, and delivery.

use super::io::DataClock;
use super::*;

impl Session {
    /// Why message content (DATA or BDAT) cannot start now, if it cannot.
    pub(super) fn no_content_yet(&self) -> Option<Reply> {
        match &self.tx {
            None => Some(Reply::new(
                503,
                "5.5.1",
                "Cần lệnh MAIL trước / Need MAIL command",
            )),
            Some(tx) if !tx.rcpt_tried => Some(Reply::new(
                503,
                "5.5.1",
                "Cần lệnh RCPT trước / Need RCPT command",
            )),
            // RFC 2920 3.1: with pipelining, DATA after only refused recipients gets 554.
            Some(tx) if tx.env.rcpts.is_empty() => Some(Reply::new(
                554,
                "5.5.1",
                "Không có người nhận hợp lệ / No valid recipients",
            )),
            Some(_) => None,
        }
    }

    pub(super) async fn data(&mut self) -> Option<End> {
        let refusal = self.no_content_yet().or_else(|| {
            self.bdat
                .is_some()
                .then(|| Reply::new(503, "5.5.1", "Đang nhận BDAT / DATA after BDAT"))
        });
        if let Some(reply) = refusal {
            self.error(reply);
            // Content already sent behind a refused DATA (RFC 2920 3.1 says to wait for the
            // 354) would otherwise be read as commands, line after line.
            if !self.rbuf.is_empty() {
                return Some(self.desync());
            }
            return None;
        }
        self.reply(Reply::plain(
            354,
            vec!["End data with <CR><LF>.<CR><LF>".into()],
        ));
        let limits = self.data_limits();
        let received = match self.receive_data(DataDecoder::new(limits)).await {
            Ok(r) => r,
            Err(end) => {
                // The client vanished or timed out mid-DATA: nothing was sent upstream, so
                // nothing is delivered. The upstream transaction is abandoned with RSET.
                self.abort_tx().await;
                return Some(end);
            }
        };
        self.finish_message(received).await;
        None
    }

    /// One BDAT chunk: exactly `size` octets are read whatever happens, so the stream stays in
    /// step with the client; the last chunk ends the message like the end of DATA.
    pub(super) async fn bdat(&mut self, size: u64, last: bool) -> Option<End> {
        let refusal = self.no_content_yet();
        if refusal.is_none() && self.bdat.is_none() {
            self.spool.clear();
            self.bdat = Some(DataDecoder::new_raw(self.data_limits()));
        }
        let mut left = size;
        let mut spool_error = None;
        let mut clock = DataClock::start();
        loop {
            let n = left.min(self.rbuf.len() as u64) as usize;
            let chunk = self.rbuf.split_to(n);
            left -= n as u64;
            if let (None, Some(decoder)) = (&refusal, &mut self.bdat) {
                let spool = &mut self.spool;
                let _ = decoder.feed(&chunk, &mut |b: &[u8]| -> Result<(), ()> {
                    if spool_error.is_none() {
                        if let Err(e) = spool.write(b) {
                            spool_error = Some(e);
                        }
                    }
                    Ok(())
                });
            }
            if left == 0 {
                break;
            }
            if let Err(end) = self.read_data(&mut clock).await {
                self.abort_tx().await;
                return Some(end);
            }
        }
        if let Some(reply) = refusal {
            self.error(reply);
            return None;
        }
        if let Some(e) = &spool_error {
            warn!(conn = self.conn.id, error = %e, "cannot spool message");
        }
        if !last {
            if spool_error.is_some() {
                self.abort_tx().await;
                self.reply(Reply::new(
                    451,
                    "4.3.0",
                    "Không lưu được thư, thử lại sau / Cannot store message, try again later",
                ));
            } else {
                self.reply(Reply::new(250, "2.0.0", format!("{size} octets received")));
            }
            return None;
        }
        let decoder = self.bdat.take()?;
        let received = Received {
            size: decoder.size(),
            faults: decoder.faults(),
            spool_failed: spool_error.is_some(),
        };
        self.finish_message(received).await;
        None
    }

    pub(super) fn data_limits(&self) -> DataLimits {
        let limits = &self.cfg.limits;
        DataLimits {
            // One byte more than allowed, so the size check sees that the limit was crossed.
            max_size: limits.message_size.bytes() + 1,
            max_line: limits.data_line_length,
            max_header: limits.header_size.bytes(),
        }
    }

    /// After the whole message arrived (DATA or the last BDAT): the engine judges it and
    /// says what becomes of it; this only carries that out (upstream or not) and answers.
    pub(super) async fn finish_message(&mut self, received: Received) {
        let Some(mut tx) = self.tx.take() else {
            return;
        };
        // Everything after the end of DATA shares one deadline: a before-queue proxy in front of
        // us (Postfix's smtpd_proxy_timeout, 100 s) gives up on us after that.
        let deadline = tokio::time::Instant::now() + self.cfg.limits.end_of_data_timeout.get();
        tx.env.size = received.size;
        metrics()
            .bytes
            .with_label_values(&["in"])
            .inc_by(received.size);
        if received.spool_failed {
            self.rset_upstream().await;
            self.spool.clear();
            self.reply(Reply::new(
                451,
                "4.3.0",
                "Không lưu được thư, thử lại sau / Cannot store message, try again later",
            ));
            return;
        }
        let faults = Faults {
            line_too_long: received.faults.line_too_long,
            header_too_big: received.faults.header_too_big,
            bare_lf: received.faults.bare_lf && self.cfg.server.bare_lf == BareLf::Reject,
        };
        // Lent to the engine (its quarantine writes run on a blocking thread) and given back.
        let spool = std::mem::replace(&mut self.spool, Spool::from_bytes(Vec::new()));
        let engine = Arc::clone(&self.engine);
        let (judged, spool) = engine.end_of_data(&self.conn, &tx.env, spool, faults).await;
        self.spool = spool;
        let (reply, upstream_reply) = self.deliver(&tx, &judged.disposition, deadline).await;
        engine.message_done(&Done {
            conn: &self.conn,
            env: &tx.env,
            judged: &judged,
            reply: &reply,
            upstream: upstream_reply.as_deref(),
            started: tx.started,
        });
        self.reply(reply);
        self.spool.clear();
    }

    /// Carries out the engine's disposition; returns the client's reply and the upstream's,
    /// when the message went there.
    pub(super) async fn deliver(
        &mut self,
        tx: &Tx,
        disposition: &Disposition,
        deadline: tokio::time::Instant,
    ) -> (Reply, Option<String>) {
        let (headers, skip) = match disposition {
            Disposition::Answer(reply) => {
                self.rset_upstream().await;
                return (reply.clone(), None);
            }
            Disposition::Deliver { headers, skip } => (headers, *skip),
        };
        let restored = tokio::time::timeout_at(deadline, self.restore_envelope(tx))
            .await
            .unwrap_or_else(|_| {
                self.drop_upstream();
                Err(UpstreamError::Timeout("the end-of-data deadline").client_reply())
            });
        if let Err(reply) = restored {
            return (reply, None);
        }
        let UpSlot::Ready(up, _) = &mut self.upstream else {
            return (
                UpstreamError::Protocol("no upstream session".into()).client_reply(),
                None,
            );
        };
        let sent = tokio::time::timeout_at(deadline, up.send_message(headers, skip, &self.spool))
            .await
            .unwrap_or(Err(UpstreamError::Timeout("the end-of-data deadline")));
        match sent {
            Ok((reply, sent)) => {
                metrics().bytes.with_label_values(&["out"]).inc_by(sent);
                let shown = reply.one_line();
                if reply.code == 421 {
                    self.drop_upstream();
                    return (Reply::new(451, "4.4.2", reply.lines.join(" ")), Some(shown));
                }
                (reply, Some(shown))
            }
            Err(e) => {
                self.count_upstream_error(&e);
                warn!(conn = self.conn.id, error = %e, "upstream failed during DATA");
                self.drop_upstream();
                (e.client_reply(), Some(e.to_string()))
            }
        }
    }

    /// Reads DATA into the spool until CRLF.CRLF.
    pub(super) async fn receive_data(&mut self, mut decoder: DataDecoder) -> Result<Received, End> {
        let mut clock = DataClock::start();
        self.spool.clear();
        let mut spool_error = None;
        loop {
            let spool = &mut self.spool;
            let fed = decoder
                .feed(&self.rbuf, &mut |b: &[u8]| -> Result<(), ()> {
                    if spool_error.is_none() {
                        if let Err(e) = spool.write(b) {
                            spool_error = Some(e);
                        }
                    }
                    Ok(())
                })
                .unwrap_or(crate::smtp::data::Fed {
                    consumed: 0,
                    done: false,
                });
            let _ = self.rbuf.split_to(fed.consumed);
            if fed.done {
                break;
            }
            self.read_data(&mut clock).await?;
        }
        if let Some(e) = spool_error {
            warn!(conn = self.conn.id, error = %e, "cannot spool message");
            return Ok(Received {
                size: decoder.size(),
                faults: decoder.faults(),
                spool_failed: true,
            });
        }
        Ok(Received {
            size: decoder.size(),
            faults: decoder.faults(),
            spool_failed: false,
        })
    }
}

/// What DATA left us with.
pub(super) struct Received {
    size: u64,
    faults: crate::smtp::data::DataFaults,
    spool_failed: bool,
}
