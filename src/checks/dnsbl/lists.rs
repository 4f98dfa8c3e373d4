//! The zones of one list kind (DNSBL or URIBL), their answers' meanings, and the lookups through
//! the shared resolver with a cache of our own.
//!
//! Why a cache of our own and not only hickory's: the resolver's cache is shared with SPF and
//! DKIM and sized for them, tests run it at size 0, and — the reason that matters — a moka
//! cache joins concurrent lookups of one name into one query (`try_get_with`): the client-IP
//! lookups started at CONNECT (not awaited there) are the ones MAIL and DATA later wait on,
//! with no per-connection state. Entries live `cache_ttl` (lists publish TTLs of minutes to
//! an hour; a fixed bound is simpler than carrying each answer's TTL through `crate::dns`).
//! Errors are never cached: the next message asks again.

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ipnet::Ipv4Net;

use crate::config::spam_lists::{Meaning, ZoneAction, ZoneConfig};
use crate::dns::{DnsError, Resolver};
use crate::metrics::metrics;

/// A zone error (timeout, refusal code) is logged at most once per zone per this interval;
/// the failure metric counts every one.
const LOG_INTERVAL: u64 = 60;

/// 127.0.0.0/8: RFC 5782 §2.3, listings answer there; anything else is a broken or hijacked
/// zone (a parked domain, an NXDOMAIN-rewriting resolver), never a listing.
const LOOPBACK: Ipv4Net = match Ipv4Net::new(Ipv4Addr::new(127, 0, 0, 0), 8) {
    Ok(n) => n,
    Err(_) => panic!("127.0.0.0/8"),
};

/// Raw answers by query name (empty: not listed); shared across reloads by `Services`.
pub type AnswerCache = moka::future::Cache<String, Arc<Vec<Ipv4Addr>>>;

/// A cache of `size` answers, each kept `ttl`.
pub fn answer_cache(size: u64, ttl: Duration) -> AnswerCache {
    moka::future::Cache::builder()
        .max_capacity(size)
        .time_to_live(ttl)
        .build()
}

/// One configured zone.
pub struct Zone {
    pub name: String,
    pub action: ZoneAction,
    pub timeout: Duration,
    codes: Vec<(Ipv4Addr, Meaning)>,
    bits: Vec<(u8, Meaning)>,
    listed: Option<Meaning>,
    errors: Vec<Ipv4Net>,
    /// Unix seconds of the last warning logged for this zone.
    last_logged: AtomicU64,
}

/// Why a zone decided nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    Timeout,
    ServFail,
    Refused,
    Error,
    /// The zone answered one of its documented error codes.
    ErrorCode,
    /// An answer outside 127.0.0.0/8.
    Bogus,
}

impl Failure {
    fn as_str(self) -> &'static str {
        match self {
            Failure::Timeout => "timeout",
            Failure::ServFail => "servfail",
            Failure::Refused => "refused",
            Failure::Error => "error",
            Failure::ErrorCode => "error_code",
            Failure::Bogus => "bogus",
        }
    }
}

/// What one zone said about one name.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Clean,
    /// Listed: the answers, and what they mean (empty when no configured meaning matched:
    /// an undocumented code, logged but not scored).
    Listed {
        codes: Vec<Ipv4Addr>,
        meanings: Vec<Meaning>,
    },
    Failed(Failure),
}

/// The zones of one list kind, the resolver and the cache.
pub struct Lists {
    /// `dnsbl` or `uribl`: the metric label.
    pub kind: &'static str,
    resolver: Resolver,
    pub zones: Vec<Zone>,
    cache: Option<AnswerCache>,
    pub message_timeout: Duration,
}

/// The settings [`Lists::new`] reads, common to `[spam.dnsbl]` and `[spam.uribl]`.
pub struct Settings<'a> {
    pub key: &'static str,
    pub zones: &'a [ZoneConfig],
    pub timeout: Duration,
    pub message_timeout: Duration,
}

impl Lists {
    /// Checks the zones' settings without building anything.
    pub fn validate(s: &Settings<'_>) -> Result<(), String> {
        Self::zones(s).map(|_| ())
    }

    /// The zones, or every problem, each naming its key (`spam.dnsbl.zones[1].codes: …`).
    fn zones(s: &Settings<'_>) -> Result<Vec<Zone>, String> {
        let mut errs = Vec::new();
        let mut zones = Vec::new();
        for (i, z) in s.zones.iter().enumerate() {
            let key = format!("{}.zones[{i}]", s.key);
            match z.meanings(&key) {
                Ok(m) => zones.push(Zone {
                    name: z.zone.trim_end_matches('.').to_ascii_lowercase(),
                    action: z.action,
                    timeout: z.timeout.map(|t| t.get()).unwrap_or(s.timeout),
                    codes: m.codes,
                    bits: m.bits,
                    listed: m.listed,
                    errors: m.errors,
                    last_logged: AtomicU64::new(0),
                }),
                Err(e) => errs.extend(e),
            }
        }
        if errs.is_empty() {
            Ok(zones)
        } else {
            Err(errs.join("; "))
        }
    }

    /// The lists of `s`, querying through `resolver`.
    pub fn new(
        kind: &'static str,
        s: Settings<'_>,
        resolver: Resolver,
        cache: Option<AnswerCache>,
    ) -> Result<Lists, String> {
        let zones = Self::zones(&s)?;
        Ok(Lists {
            kind,
            resolver,
            zones,
            cache,
            message_timeout: s.message_timeout,
        })
    }

    /// Whether a zone has `action = "reject"`.
    pub fn has_reject(&self) -> bool {
        self.zones.iter().any(|z| z.action == ZoneAction::Reject)
    }

    /// Starts the lookups of `names` (zone index, query name) in the background, so a later
    /// [`Lists::check`] finds them answered or in flight. Without a cache or a runtime there
    /// is nothing to join later: nothing is started.
    pub fn prefetch(self: &Arc<Self>, names: Vec<(usize, String)>) {
        if self.cache.is_none() || names.is_empty() {
            return;
        }
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let lists = Arc::clone(self);
        rt.spawn(async move {
            let all = names.into_iter().map(|(z, n)| {
                let lists = &lists;
                async move {
                    let _ = lists.answer(z, n).await;
                }
            });
            futures_util::future::join_all(all).await;
        });
    }

    /// What zone `z` says about `qname`, waiting at most until `deadline` (the message's cap).
    pub async fn check(&self, z: usize, qname: String, deadline: Instant) -> Outcome {
        let zone = &self.zones[z];
        let answer = tokio::time::timeout_at(deadline.into(), self.answer(z, qname.clone())).await;
        let addrs = match answer {
            Err(_) => return self.failed(zone, Failure::Timeout, &qname),
            Ok(Err(f)) => return self.failed(zone, f, &qname),
            Ok(Ok(a)) => a,
        };
        if addrs.is_empty() {
            return Outcome::Clean;
        }
        // One error code in the answer voids it all: the list did not judge the name.
        if addrs
            .iter()
            .any(|a| zone.errors.iter().any(|n| n.contains(a)))
        {
            return self.failed(zone, Failure::ErrorCode, &qname);
        }
        if addrs.iter().any(|a| !LOOPBACK.contains(a)) {
            return self.failed(zone, Failure::Bogus, &qname);
        }
        let mut meanings: Vec<Meaning> = Vec::new();
        let mut add = |m: &Meaning| {
            if !meanings.iter().any(|x| x.symbol == m.symbol) {
                meanings.push(m.clone());
            }
        };
        for a in addrs.iter() {
            let mut matched = false;
            for (code, m) in &zone.codes {
                if code == a {
                    add(m);
                    matched = true;
                }
            }
            let last = a.octets()[3];
            for (bit, m) in &zone.bits {
                if last & bit != 0 {
                    add(m);
                    matched = true;
                }
            }
            if !matched {
                match &zone.listed {
                    Some(m) => add(m),
                    None => {
                        tracing::debug!(zone = %zone.name, code = %a, "blocklist answer with no configured meaning")
                    }
                }
            }
        }
        Outcome::Listed {
            codes: addrs.to_vec(),
            meanings,
        }
    }

    /// The zone's answer for `qname` from the cache, or from the resolver within the zone's
    /// timeout (joined with a lookup of the same name already in flight).
    async fn answer(&self, z: usize, qname: String) -> Result<Arc<Vec<Ipv4Addr>>, Failure> {
        let Some(cache) = &self.cache else {
            self.count_cache("miss");
            return self.query(z, &qname).await;
        };
        if let Some(hit) = cache.get(&qname).await {
            self.count_cache("hit");
            return Ok(hit);
        }
        self.count_cache("miss");
        let q = qname.clone();
        cache
            .try_get_with(qname, async move { self.query(z, &q).await })
            .await
            .map_err(|e| *e)
    }

    async fn query(&self, z: usize, qname: &str) -> Result<Arc<Vec<Ipv4Addr>>, Failure> {
        let zone = &self.zones[z];
        let started = Instant::now();
        let got = tokio::time::timeout(zone.timeout, self.resolver.ipv4(qname)).await;
        metrics()
            .dnsbl_lookup_seconds
            .with_label_values(&[self.kind, &zone.name])
            .observe(started.elapsed().as_secs_f64());
        match got {
            Err(_) | Ok(Err(DnsError::Timeout { .. })) => Err(Failure::Timeout),
            Ok(Err(DnsError::ServFail { .. })) => Err(Failure::ServFail),
            Ok(Err(DnsError::Response { .. })) => Err(Failure::Refused),
            Ok(Err(_)) => Err(Failure::Error),
            Ok(Ok(addrs)) => Ok(Arc::new(addrs)),
        }
    }

    fn count_cache(&self, result: &str) {
        metrics()
            .dnsbl_cache
            .with_label_values(&[self.kind, result])
            .inc();
    }

    /// Counts the failure and logs it, once per zone per [`LOG_INTERVAL`].
    fn failed(&self, zone: &Zone, f: Failure, qname: &str) -> Outcome {
        metrics()
            .dnsbl_failures
            .with_label_values(&[self.kind, &zone.name, f.as_str()])
            .inc();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        let last = zone.last_logged.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= LOG_INTERVAL
            && zone
                .last_logged
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(list = self.kind, zone = %zone.name, failure = f.as_str(), query = qname,
                "blocklist lookup decided nothing (logged once a minute per zone; see locthu_dnsbl_failures_total)");
        }
        Outcome::Failed(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Dns, Span};

    fn lists(zone: &str) -> Lists {
        let z: ZoneConfig = toml::from_str(zone).unwrap();
        // Never queried: these tests only classify answers already in the cache.
        let resolver = Resolver::new(&Dns {
            nameservers: vec!["127.0.0.1:9".into()],
            timeout: Span(Duration::from_millis(50)),
            attempts: 1,
            cache_size: 0,
        })
        .unwrap();
        Lists::new(
            "dnsbl",
            Settings {
                key: "spam.dnsbl",
                zones: &[z],
                timeout: Duration::from_millis(50),
                message_timeout: Duration::from_secs(1),
            },
            resolver,
            Some(answer_cache(10, Duration::from_secs(60))),
        )
        .unwrap()
    }

    async fn classify(l: &Lists, answer: &[[u8; 4]]) -> Outcome {
        let addrs: Vec<Ipv4Addr> = answer.iter().map(|o| Ipv4Addr::from(*o)).collect();
        let name = format!("x{}.bl.test", answer.len());
        l.cache
            .as_ref()
            .unwrap()
            .insert(name.clone(), Arc::new(addrs))
            .await;
        l.check(0, name, Instant::now() + Duration::from_secs(1))
            .await
    }

    #[tokio::test]
    async fn codes_bits_and_error_codes_are_told_apart() {
        let l = lists(
            r#"
zone = "bl.test"
errors = ["127.255.255.0/24", "127.0.0.1"]
codes."127.0.0.2" = { symbol = "BL_SBL", score = 4 }
codes."127.0.0.4" = { symbol = "BL_XBL", score = 3 }
bits."64" = { symbol = "BL_BIT64", score = 1 }
"#,
        );
        let sym = |o: &Outcome| match o {
            Outcome::Listed { meanings, .. } => meanings
                .iter()
                .map(|m| m.symbol.clone())
                .collect::<Vec<_>>(),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            sym(&classify(&l, &[[127, 0, 0, 2], [127, 0, 0, 4]]).await),
            ["BL_SBL", "BL_XBL"]
        );
        assert_eq!(sym(&classify(&l, &[[127, 0, 0, 66]]).await), ["BL_BIT64"]);
        // An undocumented code: listed, scored by nothing.
        assert_eq!(
            sym(&classify(&l, &[[127, 0, 0, 9]]).await),
            Vec::<String>::new()
        );
        for refused in [[127, 255, 255, 254], [127, 0, 0, 1]] {
            assert_eq!(
                classify(&l, &[refused]).await,
                Outcome::Failed(Failure::ErrorCode)
            );
        }
        assert_eq!(
            classify(&l, &[[127, 0, 0, 2], [127, 255, 255, 255], [127, 0, 0, 4]]).await,
            Outcome::Failed(Failure::ErrorCode)
        );
        assert_eq!(
            classify(&l, &[[192, 0, 2, 1]]).await,
            Outcome::Failed(Failure::Bogus)
        );
        assert_eq!(classify(&l, &[]).await, Outcome::Clean);
    }
}
