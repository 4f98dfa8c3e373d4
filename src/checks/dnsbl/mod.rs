//! DNS blocklists (RFC 5782) for the client address, and URI blocklists for the domains a
//! message links to ([`uribl`]). Zones and the meaning of their answers come from
//! `[spam.dnsbl]` / `[spam.uribl]`; a listing adds its symbol's score, or, for a zone with
//! `action = "reject"`, refuses the mail (554 5.7.1 naming the zone, as Postfix's
//! `reject_rbl_client`). A timeout, a server failure or a documented "refused" code decides
//! nothing: it is counted (`locthu_dnsbl_failures_total`) and the mail flows.
//!
//! When the lookups run: the client's address is known at CONNECT, so its lookups start
//! there in the background and nobody waits for them (the greeting is not delayed). They are
//! awaited where their answer is needed: at MAIL FROM only when a zone rejects (usually
//! answered by then: the EHLO round trip took longer than a local resolver), and at the end
//! of DATA for the scores, by when they are long done. Joining them needs no per-connection
//! state: the lists' cache joins a lookup in flight (see [`lists`]).
//!
//! Whose address: the connecting client's, on inbound listeners. A client in
//! `server.trusted_networks` or `spam.dnsbl.forwarders` is a relay of ours: the mail is judged
//! by the first `Received` hop it did not write about a trusted or private address
//! ([`received`]). Authenticated senders, and the outbound and submission listeners, are not
//! looked up: they are the province's own users, whose home addresses sit on policy lists.

pub mod addr;
mod lists;
pub mod received;
pub mod uribl;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use ipnet::IpNet;

use crate::config::spam_lists::{validate_common, DnsblConfig, ZoneAction};
use crate::config::Config;
use crate::dns::Resolver;
use crate::engine::{Action, Bilingual, Check, Connection, Envelope, Finding, Pending, Role};
use crate::inspect::content::Header;

pub use lists::{answer_cache, AnswerCache};
pub use uribl::Uribl;

/// The rule of a refusal by a `reject` zone.
pub const RULE: &str = "dnsbl";

/// `Received` fields read at most, from the top.
const MAX_HOPS: usize = 16;

/// The DNSBL check.
pub struct Dnsbl {
    lists: Arc<lists::Lists>,
    /// Relays whose own hops are not judged: `server.trusted_networks` and the forwarders.
    trusted: Vec<IpNet>,
    forwarders: Vec<IpNet>,
    lookup_private: bool,
}

/// Whose address a connection's mail is judged by.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Subject {
    Client(IpAddr),
    Received,
    Skip,
}

impl Dnsbl {
    /// The check for `config`, or `None` when `[spam.dnsbl]` is off or lists no zone.
    pub fn build(
        config: &Config,
        services: impl FnOnce() -> Result<(Resolver, Option<lists::AnswerCache>), String>,
    ) -> Result<Option<Dnsbl>, String> {
        let cfg: &DnsblConfig = &config.spam.dnsbl;
        let mut errs = validate_common(
            "spam.dnsbl",
            cfg.timeout,
            cfg.message_timeout,
            cfg.cache_ttl,
            config.limits.stage_timeout,
        );
        let settings = lists::Settings {
            key: "spam.dnsbl",
            zones: &cfg.zones,
            timeout: cfg.timeout.get(),
            message_timeout: cfg.message_timeout.get(),
        };
        // Zones are validated even when the check is off, so a mistake shows before it is on.
        if let Err(e) = lists::Lists::validate(&settings) {
            errs.push(e);
        }
        if !errs.is_empty() {
            return Err(errs.join("; "));
        }
        if !cfg.enabled || cfg.zones.is_empty() || !config.spam.enabled {
            return Ok(None);
        }
        let (resolver, cache) = services()?;
        let lists = lists::Lists::new("dnsbl", settings, resolver, cache)?;
        let mut trusted = config.server.trusted_networks.clone();
        trusted.extend(cfg.forwarders.iter().copied());
        Ok(Some(Dnsbl {
            lists: Arc::new(lists),
            trusted,
            forwarders: cfg.forwarders.clone(),
            lookup_private: cfg.lookup_private,
        }))
    }

    fn subject(&self, conn: &Connection) -> Subject {
        let c = &conn.client;
        if conn.role != Role::Inbound || c.login.is_some() || c.addr_unavailable {
            return Subject::Skip;
        }
        let ip = c.addr.ip().to_canonical();
        if c.trusted || self.forwarders.iter().any(|n| n.contains(&ip)) {
            Subject::Received
        } else if self.lookup_private || addr::is_public(ip) {
            Subject::Client(ip)
        } else {
            Subject::Skip
        }
    }

    /// The first `Received` hop that is neither ours nor private, read from the top; none
    /// when an authenticated submission comes first (the sender is one of our users).
    fn untrusted_hop(&self, headers: &[Header]) -> Option<IpAddr> {
        for h in headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case("Received"))
            .take(MAX_HOPS)
        {
            if received::authenticated(&h.value) {
                return None;
            }
            let Some(ip) = received::client_ip(&h.value) else {
                continue;
            };
            if addr::is_public(ip) && !self.trusted.iter().any(|n| n.contains(&ip)) {
                return Some(ip);
            }
        }
        None
    }

    fn names(&self, ip: IpAddr, only_reject: bool) -> Vec<(usize, String)> {
        self.lists
            .zones
            .iter()
            .enumerate()
            .filter(|(_, z)| !only_reject || z.action == ZoneAction::Reject)
            .map(|(i, z)| (i, crate::dns::dnsbl_name(ip, &z.name)))
            .collect()
    }

    /// The findings of `ip`'s listings; `hop`: the address came from a `Received` field.
    async fn judge(&self, ip: IpAddr, only_reject: bool, hop: bool) -> Vec<Finding> {
        let deadline = Instant::now() + self.lists.message_timeout;
        let names = self.names(ip, only_reject);
        let answers = futures_util::future::join_all(
            names
                .into_iter()
                .map(|(z, n)| async move { (z, self.lists.check(z, n, deadline).await) }),
        )
        .await;
        let mut out = Vec::new();
        for (z, outcome) in answers {
            let lists::Outcome::Listed { codes, meanings } = outcome else {
                continue;
            };
            let zone = &self.lists.zones[z];
            let code = codes.first().map(|c| c.to_string()).unwrap_or_default();
            let (vi_hop, en_hop) = if hop {
                (" (chặng trong Received)", " (Received hop)")
            } else {
                ("", "")
            };
            if zone.action == ZoneAction::Reject {
                out.push(
                    Finding::new(
                        RULE,
                        Action::Reject,
                        Bilingual::new(
                            format!(
                                "Máy gửi [{ip}]{vi_hop} bị chặn theo danh sách {}",
                                zone.name
                            ),
                            format!("Client host [{ip}]{en_hop} blocked using {}", zone.name),
                        ),
                    )
                    .with_code(554, "5.7.1"),
                );
                continue;
            }
            for m in meanings {
                out.push(Finding::symbol(
                    m.symbol,
                    m.score,
                    Bilingual::new(
                        format!(
                            "Địa chỉ {ip}{vi_hop} có trong danh sách {} ({code})",
                            zone.name
                        ),
                        format!("{ip}{en_hop} is listed in {} ({code})", zone.name),
                    ),
                ));
            }
        }
        out
    }
}

impl Check for Dnsbl {
    fn name(&self) -> &'static str {
        "dnsbl"
    }

    fn reads_content(&self) -> bool {
        true
    }

    fn connect<'a>(&'a self, conn: &'a Connection, _out: &mut Vec<Finding>) -> Pending<'a> {
        if let Subject::Client(ip) = self.subject(conn) {
            self.lists.prefetch(self.names(ip, false));
        }
        None
    }

    fn mail<'a>(
        &'a self,
        conn: &'a Connection,
        _env: &'a Envelope,
        _out: &mut Vec<Finding>,
    ) -> Pending<'a> {
        match self.subject(conn) {
            Subject::Client(ip) if self.lists.has_reject() => {
                Some(Box::pin(self.judge(ip, true, false)))
            }
            _ => None,
        }
    }

    fn headers<'a>(
        &'a self,
        conn: &'a Connection,
        _env: &'a Envelope,
        headers: &'a [Header],
        _out: &mut Vec<Finding>,
    ) -> Pending<'a> {
        let (ip, hop) = match self.subject(conn) {
            Subject::Client(ip) => (ip, false),
            Subject::Received => (self.untrusted_hop(headers)?, true),
            Subject::Skip => return None,
        };
        Some(Box::pin(self.judge(ip, false, hop)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(toml: &str) -> Dnsbl {
        let config = crate::config::parse_str(toml, "test.toml").unwrap();
        let dns = config.dns.clone();
        Dnsbl::build(&config, || Ok((Resolver::new(&dns)?, None)))
            .unwrap()
            .expect("enabled")
    }

    const ZONES: &str = r#"
[dns]
nameservers = ["127.0.0.1:9"]
[server]
trusted_networks = ["127.0.0.1/32", "10.0.0.0/8"]
[spam.dnsbl]
enabled = true
forwarders = ["198.51.100.0/24"]
[[spam.dnsbl.zones]]
zone = "bl.test"
listed = { symbol = "BL", score = 1 }
"#;

    fn hdr(v: &str) -> Header {
        Header {
            name: "Received".into(),
            value: v.into(),
        }
    }

    #[test]
    fn the_walk_skips_our_relays_and_private_hops() {
        let c = check(ZONES);
        let headers = [
            hdr("from fwd.example (fwd.example [198.51.100.9]) by relay (Postfix) with ESMTP"),
            hdr("from inner (inner [10.2.3.4]) by fwd.example with ESMTP"),
            hdr("from spam.example (spam.example [203.0.113.66]) by inner with ESMTP"),
            hdr("from older (older [203.0.113.1]) by spam.example"),
        ];
        assert_eq!(c.untrusted_hop(&headers), "203.0.113.66".parse().ok());
        // An authenticated submission first: our user's own device, not judged.
        let submitted = [
            hdr("from [192.168.1.2] (adsl [203.0.113.5]) by mail.angiang.gov.vn with ESMTPSA id 1"),
            hdr("from x (x [203.0.113.66]) by y"),
        ];
        assert_eq!(c.untrusted_hop(&submitted), None);
    }

    #[test]
    fn disabled_or_empty_builds_nothing_but_bad_zones_are_errors() {
        let config = crate::config::parse_str("[spam.dnsbl]\nenabled = true\n", "t").unwrap();
        assert!(Dnsbl::build(&config, || unreachable!()).unwrap().is_none());
        let config = crate::config::parse_str(
            "[spam.dnsbl]\nenabled = false\n[[spam.dnsbl.zones]]\nzone = \"bl.test\"\n",
            "t",
        )
        .unwrap();
        let err = Dnsbl::build(&config, || unreachable!()).err().unwrap();
        assert!(err.starts_with("spam.dnsbl.zones[0]"), "{err}");
    }
}
