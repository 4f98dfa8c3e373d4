//! The verification check: SPF at MAIL FROM, then DKIM, ARC and DMARC at the end of DATA over
//! the raw message, for mail from outside only (an internal sender is neither SPF-checked nor
//! judged by DMARC: it is the province's own mail, signed on its way out). The results become
//! scoring symbols, the DMARC policy's action, rule `forged-internal`, and one
//! `Authentication-Results` header (RFC 8601) added at delivery.

mod results;

use results::{count, lowered, timed_out};

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use mail_auth::dmarc::verify::DmarcParameters;
use mail_auth::dmarc::Policy;
use mail_auth::spf::verify::SpfParameters;
use mail_auth::{
    ArcOutput, AuthenticatedMessage, AuthenticationResults, DkimOutput, DkimResult, DmarcOutput,
    DmarcResult, Parameters, SpfOutput, SpfResult,
};

use super::align::Evidence;
use super::Authenticator;
use crate::config::spam_auth::AuthConfig;
use crate::engine::{
    domain_of, Bilingual, Check, CheckFuture, Connection, Direction, Envelope, Finding, Outgoing,
    Pending, StampFuture, Verdict,
};
use crate::spool::Spool;

/// The SPF verdict of a transaction, kept from MAIL FROM to the end of DATA.
struct SpfState {
    output: SpfOutput,
    ip: IpAddr,
    helo: String,
    sender: String,
}

/// The Authentication-Results line of a transaction, kept for [`Check::stamp`].
struct Stamp(String);

/// SPF, DKIM, DMARC and ARC verification.
pub struct Verify {
    auth: Arc<Authenticator>,
    cfg: AuthConfig,
    /// Our authserv-id (RFC 8601 §2.5), and SPF's `r` macro.
    hostname: String,
    internal: Vec<String>,
}

impl Verify {
    pub fn new(
        auth: Arc<Authenticator>,
        cfg: &AuthConfig,
        hostname: &str,
        internal: &[String],
    ) -> Verify {
        Verify {
            auth,
            cfg: cfg.clone(),
            hostname: hostname.to_string(),
            internal: internal.to_vec(),
        }
    }

    fn applies(conn: &Connection) -> bool {
        conn.direction() == Direction::Inbound
    }

    fn symbol(&self, name: &'static str, vi: String, en: String) -> Finding {
        Finding::symbol(name, self.cfg.score(name), Bilingual::new(vi, en))
    }

    /// Everything after the SPF check, over the raw message.
    async fn judge(&self, conn: &Connection, env: &Envelope, raw: &[u8]) -> Vec<Finding> {
        let started = Instant::now();
        let spf = env.state.get::<SpfState>();
        let caches = &self.auth.caches;
        let r = &self.auth.resolver;
        let mut out = Vec::new();
        if let Some(s) = &spf {
            out.push(self.spf_symbol(&s.output));
            count("spf", &s.output.result().to_string());
        }
        let Some(mut message) = AuthenticatedMessage::parse(raw) else {
            // No header block at all: nothing to verify but SPF.
            return out;
        };
        let mut seen = 0;
        let max = self.cfg.max_signatures;
        message.retain_dkim_signatures(|_| {
            seen += 1;
            if seen > max {
                Err(mail_auth::dkim::DkimError::UnsupportedVersion)
            } else {
                Ok(())
            }
        });
        let message = message;
        let deadline = self.cfg.deadline.get();
        let mut dkim_timed_out = false;
        let dkim: Vec<DkimOutput> = if self.cfg.dkim {
            let run = r.verify_dkim(Parameters::new(&message).with_cache(caches));
            match tokio::time::timeout(deadline, run).await {
                Ok(o) => o,
                Err(_) => {
                    dkim_timed_out = true;
                    Vec::new()
                }
            }
        } else {
            Vec::new()
        };
        let arc: Option<ArcOutput> = if self.cfg.arc {
            let run = r.verify_arc(Parameters::new(&message).with_cache(caches));
            Some(
                tokio::time::timeout(deadline, run)
                    .await
                    .unwrap_or_else(|_| ArcOutput::from(DkimResult::TempError(timed_out()))),
            )
        } else {
            None
        };
        let spf_output = spf.as_ref().map(|s| s.output.clone());
        let mail_from_domain = spf.as_ref().map(|s| {
            if s.sender.is_empty() {
                s.helo.clone()
            } else {
                domain_of(&s.sender)
            }
        });
        // Without SPF (off, or no client address) DMARC still has DKIM to go on.
        let no_spf = SpfOutput::new(String::new());
        let (so, mfd) = match (&spf_output, &mail_from_domain) {
            (Some(so), Some(mfd)) => (so, mfd.as_str()),
            _ => (&no_spf, ""),
        };
        let mut dmarc_timed_out = false;
        let dmarc: Option<DmarcOutput> = if self.cfg.dmarc {
            let run = r.verify_dmarc(
                Parameters::new(DmarcParameters::new(&message, &dkim, mfd, so)).with_cache(caches),
            );
            match tokio::time::timeout(deadline, run).await {
                Ok(d) => Some(d),
                Err(_) => {
                    dmarc_timed_out = true;
                    None
                }
            }
        } else {
            None
        };
        if dmarc_timed_out {
            count("dmarc", "temperror");
            out.push(self.symbol(
                "DMARC_TEMPERROR",
                "Kiểm DMARC quá thời gian".into(),
                "DMARC check timed out".into(),
            ));
        }

        out.extend(self.dkim_symbols(&dkim));
        if let Some(arc) = &arc {
            out.push(self.arc_symbol(arc));
        }
        if let Some(d) = &dmarc {
            let mut policy = d.policy();
            if matches!(d.result(), DmarcResult::Fail(_))
                && matches!(policy, Policy::Reject | Policy::Quarantine)
                && !self.sampled(d.domain()).await
            {
                policy = lowered(policy);
            }
            out.extend(self.dmarc_findings(d, policy));
        }

        // forged-internal: the From domains and the envelope sender's.
        let mut claims: Vec<String> = message
            .from_addresses()
            .iter()
            .map(|a| domain_of(a))
            .collect();
        claims.push(domain_of(&env.mail_from));
        let evidence = Evidence {
            spf_pass: spf.as_ref().and_then(|s| {
                (s.output.result() == SpfResult::Pass).then(|| s.output.domain().to_string())
            }),
            spf_temperror: spf
                .as_ref()
                .is_some_and(|s| s.output.result() == SpfResult::TempError),
            dkim_pass: dkim
                .iter()
                .filter(|o| o.result() == &DkimResult::Pass)
                .filter_map(|o| o.signature().map(|s| s.d.clone()))
                .collect(),
            dkim_temperror: dkim_timed_out
                || dkim
                    .iter()
                    .any(|o| matches!(o.result(), DkimResult::TempError(_))),
        };
        out.extend(self.forged(&claims, &evidence));

        // RFC 8601: one header with every method's result.
        let mut ar = AuthenticationResults::new(&self.hostname);
        if let Some(s) = &spf {
            let params = spf_params(s, &self.hostname);
            ar.set_spf_result(&s.output, &params);
        }
        if self.cfg.dkim {
            ar.set_dkim_results(&dkim, message.first_from_address());
        }
        if let Some(arc) = &arc {
            ar.set_arc_result(arc, conn.client.addr.ip());
        }
        if let Some(d) = &dmarc {
            ar.set_dmarc_result(d);
        }
        use mail_auth::headers::HeaderWriter;
        env.state.insert(Stamp(one_header(&ar.to_header())));
        tracing::debug!(
            conn = conn.id,
            micros = started.elapsed().as_micros() as u64,
            "authentication verified"
        );
        out
    }
}

fn spf_params<'a>(s: &'a SpfState, hostname: &'a str) -> SpfParameters<'a> {
    if s.sender.is_empty() {
        SpfParameters::helo(s.ip, &s.helo, hostname)
    } else {
        SpfParameters::mail_from(s.ip, &s.helo, hostname, &s.sender)
    }
}

/// The header as one field: CRLF only before folding whitespace, no other control bytes (a
/// From address or a DNS explanation must not add a field of its own).
fn one_header(h: &str) -> String {
    let body = h.strip_suffix("\r\n").unwrap_or(h);
    let mut out = String::with_capacity(h.len());
    let mut lines = body.split("\r\n");
    if let Some(first) = lines.next() {
        out.extend(first.chars().filter(|c| !c.is_control() || *c == '\t'));
    }
    for l in lines {
        let l: String = l
            .chars()
            .filter(|c| !c.is_control() || *c == '\t')
            .collect();
        if l.starts_with([' ', '\t']) {
            out.push_str("\r\n");
        } else {
            out.push(' ');
        }
        out.push_str(&l);
    }
    out.push_str("\r\n");
    out
}

impl Check for Verify {
    fn name(&self) -> &'static str {
        "auth"
    }

    /// SPF of the MAIL FROM identity, or of HELO for the null sender (RFC 7208 §2.4).
    fn mail<'a>(
        &'a self,
        conn: &'a Connection,
        env: &'a Envelope,
        _out: &mut Vec<Finding>,
    ) -> Pending<'a> {
        if !self.cfg.spf || !Self::applies(conn) || conn.client.addr_unavailable {
            return None;
        }
        Some(Box::pin(async move {
            let s = SpfState {
                output: SpfOutput::new(String::new()),
                ip: conn.client.addr.ip(),
                helo: conn.client.helo.clone().unwrap_or_default(),
                sender: env.mail_from.clone(),
            };
            let params = spf_params(&s, &self.hostname);
            let run = self
                .auth
                .resolver
                .verify_spf(Parameters::new(params).with_cache(&self.auth.caches));
            let output = tokio::time::timeout(self.cfg.deadline.get(), run)
                .await
                .unwrap_or_else(|_| {
                    let domain = if s.sender.is_empty() {
                        s.helo.clone()
                    } else {
                        domain_of(&s.sender)
                    };
                    SpfOutput::new(domain).with_result(SpfResult::TempError)
                });
            env.state.insert(SpfState { output, ..s });
            Vec::new()
        }))
    }

    fn data<'a>(
        &'a self,
        conn: &'a Connection,
        env: &'a Envelope,
        msg: &'a Spool,
    ) -> CheckFuture<'a> {
        Box::pin(async move {
            if !Self::applies(conn) {
                return Vec::new();
            }
            match msg.bytes() {
                Ok(raw) => self.judge(conn, env, &raw).await,
                Err(e) => {
                    tracing::warn!(error = %e, "spool unreadable for authentication");
                    Vec::new()
                }
            }
        })
    }

    fn stamp<'a>(
        &'a self,
        _conn: &'a Connection,
        env: &'a Envelope,
        _verdict: &'a Verdict,
        _out: &'a Outgoing<'a>,
    ) -> Option<StampFuture<'a>> {
        let stamp = env.state.get::<Stamp>()?;
        Some(Box::pin(async move { stamp.0.clone().into_bytes() }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_stays_one_field() {
        assert_eq!(
            one_header("Authentication-Results: h;\r\n\tdkim=pass\r\nX-Evil: 1\r\n"),
            "Authentication-Results: h;\r\n\tdkim=pass X-Evil: 1\r\n"
        );
    }
}
