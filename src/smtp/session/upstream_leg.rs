//! The upstream session behind the client's: opening, naming the client, resetting.

use super::*;

impl Session {
    /// The upstream, connected and told who the client is; or the upstream's own refusal of
    /// the client, which is the client's answer.
    pub(super) async fn ready_upstream(
        &mut self,
    ) -> Result<Result<&mut Upstream, Reply>, UpstreamError> {
        // The session opened at connect (or kept from the last transaction) may have been
        // closed by the upstream since (its smtpd_timeout): then one new one is opened.
        for fresh in [false, true] {
            if let UpSlot::None = self.upstream {
                self.start_upstream();
            }
            if let UpSlot::Connecting(handle) = &mut self.upstream {
                let result = handle.await;
                self.upstream = UpSlot::None;
                let up = result
                    .map_err(|e| UpstreamError::Protocol(format!("upstream task failed: {e}")))??;
                self.upstream = UpSlot::Ready(Box::new(up), false);
            }
            if let UpSlot::Ready(up, _) = &mut self.upstream {
                if fresh || up.is_alive().await {
                    break;
                }
                debug!(
                    conn = self.conn.id,
                    "idle upstream session closed by the upstream; reconnecting"
                );
                self.upstream = UpSlot::None;
            }
        }
        self.settle_reverse_name().await;
        let identity = self.identity();
        let pass = self.listener().pass_client;
        let UpSlot::Ready(up, named) = &mut self.upstream else {
            return Err(UpstreamError::Protocol("no upstream session".into()));
        };
        if !*named && pass {
            if let Some(refusal) = up.pass_client(&identity).await? {
                return Ok(Err(refusal));
            }
        }
        *named = true;
        Ok(Ok(up))
    }

    /// At the end of DATA, makes sure an upstream session holds the transaction's envelope.
    ///
    /// The session that took MAIL and RCPT may have been closed while the client sent the
    /// body, which is spooled before anything goes upstream: Postfix's `smtpd_timeout` (300 s,
    /// 10 s under stress) runs meanwhile. Then a new session gets MAIL and every accepted RCPT
    /// again. The client already heard 250 for each recipient, so any other answer than the
    /// first time makes the whole message a 451: never a delivery to only some of them.
    pub(super) async fn restore_envelope(&mut self, tx: &Tx) -> Result<(), Reply> {
        if let UpSlot::Ready(up, _) = &mut self.upstream {
            if up.is_alive().await {
                return Ok(());
            }
        }
        info!(
            conn = self.conn.id,
            "upstream session closed during the message; replaying MAIL and RCPT on a new one"
        );
        self.drop_upstream();
        let result = self.replay(tx).await;
        if let Err(why) = &result {
            warn!(conn = self.conn.id, error = %why, "cannot restore the envelope upstream");
            self.drop_upstream();
        }
        result.map_err(|why| {
            Reply::new(
                451,
                "4.4.2",
                format!("Mất phiên với máy chủ phía sau, thử lại sau / Upstream session lost, try again later ({why})"),
            )
        })
    }

    async fn replay(&mut self, tx: &Tx) -> Result<(), String> {
        let up = match self.ready_upstream().await {
            Ok(Ok(up)) => up,
            Ok(Err(refusal)) => return Err(refusal.one_line()),
            Err(e) => {
                self.count_upstream_error(&e);
                return Err(e.to_string());
            }
        };
        match up.mail(&tx.mail_line).await {
            Ok(Some(r)) if !r.is_positive() => return Err(format!("MAIL: {}", r.one_line())),
            Ok(_) => {}
            Err(e) => return Err(e.to_string()),
        }
        for rcpt in tx.env.rcpt_addresses() {
            let reply = up.command(&format!("RCPT TO:<{rcpt}>"), "RCPT").await;
            if let Some(r) = up.take_mail_refusal() {
                return Err(format!("MAIL: {}", r.one_line()));
            }
            match reply {
                Ok(r) if r.is_positive() => {}
                Ok(r) => return Err(format!("RCPT <{rcpt}>: {}", r.one_line())),
                Err(e) => return Err(e.to_string()),
            }
        }
        Ok(())
    }

    /// Waits for the reverse lookup started at connect (it is bounded by its own timeout).
    pub(super) async fn settle_reverse_name(&mut self) {
        let Some(task) = self.name_lookup.take() else {
            return;
        };
        match task.await.unwrap_or(ReverseName::TempFail) {
            ReverseName::Verified(name) => self.conn.client.name = Some(name),
            ReverseName::Unknown => {}
            ReverseName::TempFail => self.name_tempfail = true,
        }
    }

    pub(super) fn identity(&self) -> ClientIdentity {
        ClientIdentity {
            addr: self.conn.client.addr,
            name: self.conn.client.name.clone(),
            helo: self.conn.client.helo.clone(),
            login: self.conn.client.login.clone(),
            esmtp: self.esmtp,
            tls: self.conn.tls,
            name_tempfail: self.name_tempfail,
            addr_unavailable: self.conn.client.addr_unavailable,
        }
    }

    /// Starts connecting to the upstream (its greeting, EHLO and STARTTLS) in a task.
    pub(super) fn start_upstream(&mut self) {
        let settings = self.listener().upstream.clone();
        self.upstream = UpSlot::Connecting(tokio::spawn(Upstream::connect(settings)));
    }

    pub(super) fn upstream_failed(&mut self, e: UpstreamError) {
        self.count_upstream_error(&e);
        warn!(conn = self.conn.id, client = %self.conn.client.addr, error = %e, "upstream failed");
        self.drop_upstream();
        self.tx = None;
        self.reply(e.client_reply());
    }

    pub(super) fn count_upstream_error(&self, e: &UpstreamError) {
        metrics()
            .upstream_errors
            .with_label_values(&[&self.conn.listener, e.kind()])
            .inc();
    }

    /// Forgets the upstream session (closing it, or cancelling its connection); the next
    /// MAIL FROM opens a new one.
    pub(super) fn drop_upstream(&mut self) {
        if let UpSlot::Connecting(h) = std::mem::replace(&mut self.upstream, UpSlot::None) {
            h.abort();
        }
    }

    /// Ends the transaction on both legs.
    pub(super) async fn abort_tx(&mut self) {
        self.bdat = None;
        if self.tx.take().is_some() {
            self.rset_upstream().await;
        }
        self.spool.clear();
    }

    pub(super) async fn rset_upstream(&mut self) {
        if let UpSlot::Ready(up, _) = &mut self.upstream {
            match up.command("RSET", "RSET").await {
                Ok(r) if r.is_positive() => {}
                Ok(_) | Err(_) => self.drop_upstream(),
            }
        }
    }
}
