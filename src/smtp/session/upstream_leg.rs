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

    /// Connects to the upstream in the background while the client says EHLO, so the first
    /// MAIL FROM does not pay for the upstream's greeting and EHLO.
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
