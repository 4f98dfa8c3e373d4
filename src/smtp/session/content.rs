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
        let limits = &self.rt.config.limits;
        DataLimits {
            // One byte more than allowed, so the size check sees that the limit was crossed.
            max_size: limits.message_size.bytes() + 1,
            max_line: limits.data_line_length,
            max_header: limits.header_size.bytes(),
        }
    }

    /// After the whole message arrived (DATA or the last BDAT): judge it, deliver or refuse
    /// it, log the transaction, and answer.
    pub(super) async fn finish_message(&mut self, faults: Received) {
        let Some(mut tx) = self.tx.take() else {
            return;
        };
        // Everything after the end of DATA shares one deadline: a before-queue proxy in front of
        // us (Postfix's smtpd_proxy_timeout, 100 s) gives up on us after that.
        let deadline =
            tokio::time::Instant::now() + self.rt.config.limits.end_of_data_timeout.get();
        tx.env.size = faults.size;
        metrics()
            .bytes
            .with_label_values(&["in"])
            .inc_by(faults.size);
        if faults.spool_failed {
            self.rset_upstream().await;
            self.spool.clear();
            self.reply(Reply::new(
                451,
                "4.3.0",
                "Không lưu được thư, thử lại sau / Cannot store message, try again later",
            ));
            return;
        }
        let verdict = match self.protocol_findings(&faults) {
            Some(v) => v,
            None => {
                let checks = self.rt.engine.data(&self.conn, &tx.env, &self.spool);
                match tokio::time::timeout_at(deadline, checks).await {
                    Ok(v) => v,
                    Err(_) => Verdict::new(vec![Finding::new(
                        rule::CHECK_TIMEOUT,
                        Action::Tempfail,
                        Bilingual::new("Kiểm tra thư quá thời gian", "Checks took too long"),
                    )]),
                }
            }
        };
        let (reply, upstream_reply) = self.deliver(&tx, &verdict, deadline).await;
        self.count(&verdict);
        metrics()
            .transaction_seconds
            .with_label_values(&[&self.conn.listener])
            .observe(tx.started.elapsed().as_secs_f64());
        info!(
            conn = self.conn.id,
            listener = %self.conn.listener,
            client = %self.conn.client.addr,
            helo = self.conn.client.helo.as_deref().unwrap_or(""),
            from = %tx.env.mail_from,
            rcpts = ?tx.env.rcpts,
            size = tx.env.size,
            action = %verdict.action(),
            rules = ?verdict.rules(),
            reply = %reply,
            upstream = upstream_reply.as_deref().unwrap_or("-"),
            ms = tx.started.elapsed().as_millis() as u64,
            "transaction"
        );
        self.reply(reply);
        self.spool.clear();
    }

    /// Sends the judged message on, or refuses it; returns the client's reply and the
    /// upstream's, when there was one.
    pub(super) async fn deliver(
        &mut self,
        tx: &Tx,
        verdict: &Verdict,
        deadline: tokio::time::Instant,
    ) -> (Reply, Option<String>) {
        let refusal = match verdict.action() {
            Action::Reject => {
                self.keep_rejected(tx, verdict);
                verdict.refusal()
            }
            Action::Tempfail => verdict.refusal(),
            Action::Quarantine => Some(
                match self
                    .rt
                    .quarantine
                    .put(&self.conn, &tx.env, verdict, &self.spool)
                {
                    Ok(id) => {
                        info!(conn = self.conn.id, id = %id, "quarantined");
                        Reply::new(250, "2.0.0", format!("Ok: held for review as {id}"))
                    }
                    Err(e) => {
                        warn!(conn = self.conn.id, error = %e, dir = %self.rt.quarantine.dir().display(), "cannot quarantine");
                        Reply::new(
                        451,
                        "4.3.0",
                        "Không lưu được vào khu cách ly, thử lại sau / Cannot quarantine, try again later",
                    )
                    }
                },
            ),
            Action::Accept | Action::Tag => None,
        };
        if let Some(reply) = refusal {
            self.rset_upstream().await;
            return (reply, None);
        }
        let restored = tokio::time::timeout_at(deadline, self.restore_envelope(tx))
            .await
            .unwrap_or_else(|_| {
                self.drop_upstream();
                Err(UpstreamError::Timeout("the end-of-data deadline").client_reply())
            });
        if let Err(reply) = restored {
            return (reply, None);
        }
        let headers = tag_headers(verdict, &self.rt.config.server.hostname);
        let UpSlot::Ready(up, _) = &mut self.upstream else {
            return (
                UpstreamError::Protocol("no upstream session".into()).client_reply(),
                None,
            );
        };
        let sent = tokio::time::timeout_at(deadline, up.send_message(&headers, &self.spool))
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

    /// A copy of a rejected message for the admin, when its rule is in
    /// `quarantine.keep_rejected`. The client's answer does not depend on it.
    pub(super) fn keep_rejected(&self, tx: &Tx, verdict: &Verdict) {
        let keep = &self.rt.config.quarantine.keep_rejected;
        if !verdict.rules().iter().any(|r| keep.iter().any(|k| k == r)) {
            return;
        }
        match self
            .rt
            .quarantine
            .put(&self.conn, &tx.env, verdict, &self.spool)
        {
            Ok(id) => info!(conn = self.conn.id, id = %id, "rejected message kept in quarantine"),
            Err(e) => {
                warn!(conn = self.conn.id, error = %e, "cannot keep a copy of the rejected message")
            }
        }
    }

    /// Limits the DATA decoder counted, as findings: they decide before any check runs.
    pub(super) fn protocol_findings(&self, f: &Received) -> Option<Verdict> {
        let mut findings = Vec::new();
        if f.faults.line_too_long {
            findings.push(
                Finding::new(
                    rule::LINE_LENGTH,
                    Action::Reject,
                    Bilingual::new(
                        format!(
                            "Dòng dài quá {} byte",
                            self.rt.config.limits.data_line_length
                        ),
                        format!(
                            "Line longer than {} bytes",
                            self.rt.config.limits.data_line_length
                        ),
                    ),
                )
                .with_code(550, "5.6.0"),
            );
        }
        if f.faults.header_too_big {
            findings.push(
                Finding::new(
                    rule::HEADER_SIZE,
                    Action::Reject,
                    Bilingual::new(
                        format!("Phần tiêu đề lớn quá {}", self.rt.config.limits.header_size),
                        format!(
                            "Header block larger than {}",
                            self.rt.config.limits.header_size
                        ),
                    ),
                )
                .with_code(552, "5.3.4"),
            );
        }
        if f.faults.bare_lf && self.rt.config.server.bare_lf == BareLf::Reject {
            findings.push(
                Finding::new(
                    rule::BARE_LF,
                    Action::Reject,
                    Bilingual::new(
                        "Thư có ký tự xuống dòng LF đơn lẻ",
                        "Message contains bare LF line endings (RFC 5321 2.3.8)",
                    ),
                )
                .with_code(550, "5.6.0"),
            );
        }
        (!findings.is_empty()).then(|| Verdict::new(findings))
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

/// Headers added to a message: only for `tag`, naming what was found.
fn tag_headers(verdict: &Verdict, host: &str) -> Vec<u8> {
    if verdict.action() != Action::Tag {
        return Vec::new();
    }
    let rules = verdict.rules().join(", ");
    let mut h = format!("X-Locthu-Action: tag ({host})\r\nX-Locthu-Rules: {rules}\r\n");
    if verdict.rules().contains(&rule::UNSCANNED) {
        let (name, value) = crate::checks::antivirus::UNSCANNED_HEADER;
        h.push_str(&format!("{name}: {value}\r\n"));
    }
    h.into_bytes()
}
