//! The DNS resolver the checks query (DNSBL, URIBL, SPF, DKIM): hickory-resolver behind a
//! small typed interface. "No such name" and "no such record" are answers (`Ok(None)`, empty);
//! a timeout, a server failure or anything else is an error, so the caller applies its fail
//! mode instead of reading "not listed" into an outage.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hickory_resolver::config::{NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError as HickoryDnsError, NetError};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::{Name, RData, RecordType};
use hickory_resolver::system_conf::read_system_conf;
use hickory_resolver::TokioResolver;

use crate::config;

/// Added to timeout × attempts for the guard around every call: scheduling, the TCP retry of a
/// truncated answer.
const MARGIN: Duration = Duration::from_millis(250);

/// Why a lookup has no answer. NXDOMAIN and NoData are not errors (see the module doc).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DnsError {
    /// No answer within the configured timeout × attempts.
    #[error("DNS lookup of {name} timed out")]
    Timeout { name: String },
    /// The server answered SERVFAIL (it could not resolve the name: lame zone, DNSSEC, outage).
    #[error("DNS lookup of {name}: server failure (SERVFAIL)")]
    ServFail { name: String },
    /// Another error code: REFUSED, FORMERR, NOTIMP…
    #[error("DNS lookup of {name}: server answered {code}")]
    Response { name: String, code: String },
    /// The name cannot be put in a query (bad label, too long).
    #[error("not a DNS name: {name}: {reason}")]
    InvalidName { name: String, reason: String },
    /// Network or protocol errors, no server reachable.
    #[error("DNS lookup of {name} failed: {reason}")]
    Other { name: String, reason: String },
}

/// A resolver with its cache; cheap to clone (clones share the cache and the connections).
#[derive(Clone)]
pub struct Resolver {
    inner: Arc<Inner>,
}

struct Inner {
    resolver: TokioResolver,
    /// The guard around each call: timeout × attempts + [`MARGIN`].
    bound: Duration,
}

impl std::fmt::Debug for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolver")
            .field("bound", &self.inner.bound)
            .finish()
    }
}

/// The `[dns]` settings' problems, each starting with its key (`dns.nameservers: …`).
pub fn validate(cfg: &config::Dns) -> Vec<String> {
    let mut errs = Vec::new();
    for ns in &cfg.nameservers {
        if ns.parse::<SocketAddr>().is_err() {
            errs.push(format!(
                "dns.nameservers: `{ns}` must be ip:port (e.g. \"127.0.0.1:53\")"
            ));
        }
    }
    if cfg.timeout.get().is_zero() {
        errs.push("dns.timeout must be above zero".into());
    }
    if !(1..=5).contains(&cfg.attempts) {
        errs.push("dns.attempts: 1 to 5 tries per query".into());
    }
    errs
}

/// The hickory settings of `[dns]`: its nameservers (UDP, then TCP for truncated answers) or
/// the system's /etc/resolv.conf when the list is empty, its timeout, attempts and cache, and
/// never the hosts file. Shared by [`Resolver`] and by the resolver that SPF, DKIM and DMARC
/// verification build (`crate::auth`), so both ask the same servers the same way.
pub fn hickory_settings(cfg: &config::Dns) -> Result<(ResolverConfig, ResolverOpts), String> {
    let problems = validate(cfg);
    if !problems.is_empty() {
        return Err(problems.join("; "));
    }
    let (servers, mut opts) = if cfg.nameservers.is_empty() {
        read_system_conf()
            .map_err(|e| format!("[dns] cannot read the system's resolver settings: {e}"))?
    } else {
        let servers = cfg
            .nameservers
            .iter()
            .filter_map(|s| s.parse::<SocketAddr>().ok())
            .map(|addr| {
                let mut ns = NameServerConfig::udp_and_tcp(addr.ip());
                for c in &mut ns.connections {
                    c.port = addr.port();
                }
                ns
            })
            .collect();
        (
            ResolverConfig::from_name_servers(servers),
            ResolverOpts::default(),
        )
    };
    opts.timeout = cfg.timeout.get();
    opts.attempts = cfg.attempts as usize;
    opts.cache_size = cfg.cache_size;
    opts.use_hosts_file = ResolveHosts::Never;
    Ok((servers, opts))
}

impl Resolver {
    /// A resolver for `cfg`: its nameservers (UDP, then TCP for truncated answers), or the
    /// system's /etc/resolv.conf when the list is empty. The hosts file is never read.
    pub fn new(cfg: &config::Dns) -> Result<Resolver, String> {
        let (servers, opts) = hickory_settings(cfg)?;
        let resolver = TokioResolver::builder_with_config(servers, TokioRuntimeProvider::default())
            .with_options(opts)
            .build()
            .map_err(|e| format!("[dns] cannot build the resolver: {e}"))?;
        let bound = cfg.timeout.get() * cfg.attempts + MARGIN;
        Ok(Resolver {
            inner: Arc::new(Inner { resolver, bound }),
        })
    }

    /// Whether two handles are the same resolver (same cache).
    pub fn ptr_eq(a: &Resolver, b: &Resolver) -> bool {
        Arc::ptr_eq(&a.inner, &b.inner)
    }

    /// The longest any call may take.
    pub fn bound(&self) -> Duration {
        self.inner.bound
    }

    /// The A records of `name` (empty: no such name, or no A record).
    pub async fn ipv4(&self, name: &str) -> Result<Vec<Ipv4Addr>, DnsError> {
        let Some(records) = self.query(name, RecordType::A).await? else {
            return Ok(Vec::new());
        };
        Ok(records
            .into_iter()
            .filter_map(|r| match r {
                RData::A(a) => Some(a.0),
                _ => None,
            })
            .collect())
    }

    /// The TXT records of `name`, each record's strings joined (RFC 7208 §3.3: an SPF record
    /// split into several strings is one record); invalid UTF-8 is replaced, not dropped.
    pub async fn txt(&self, name: &str) -> Result<Vec<String>, DnsError> {
        let Some(records) = self.query(name, RecordType::TXT).await? else {
            return Ok(Vec::new());
        };
        Ok(records
            .into_iter()
            .filter_map(|r| match r {
                RData::TXT(t) => {
                    let bytes: Vec<u8> =
                        t.txt_data.iter().flat_map(|s| s.iter().copied()).collect();
                    Some(String::from_utf8_lossy(&bytes).into_owned())
                }
                _ => None,
            })
            .collect())
    }

    /// Whether `ip` is listed in the DNSBL `zone` (RFC 5782 §2: reversed octets, or reversed
    /// nibbles for IPv6, under the zone). `Some` holds the answer's addresses as they are: a
    /// list's "error" codes (Spamhaus 127.255.255.x) are for the caller to tell apart.
    pub async fn lookup_dnsbl(
        &self,
        ip: IpAddr,
        zone: &str,
    ) -> Result<Option<Vec<Ipv4Addr>>, DnsError> {
        let name = dnsbl_name(ip, zone);
        let addrs = self.ipv4(&name).await?;
        Ok((!addrs.is_empty()).then_some(addrs))
    }

    /// One query, bounded; `None` for NXDOMAIN and NoData.
    async fn query(&self, name: &str, rtype: RecordType) -> Result<Option<Vec<RData>>, DnsError> {
        let mut qname = Name::from_utf8(name).map_err(|e| DnsError::InvalidName {
            name: name.to_string(),
            reason: e.to_string(),
        })?;
        // Absolute: no search domains appended, one query per lookup.
        qname.set_fqdn(true);
        let lookup = self.inner.resolver.lookup(qname, rtype);
        match tokio::time::timeout(self.inner.bound, lookup).await {
            Err(_) => Err(DnsError::Timeout {
                name: name.to_string(),
            }),
            Ok(Ok(found)) => Ok(Some(
                found
                    .answers()
                    .iter()
                    .filter(|r| r.record_type() == rtype)
                    .map(|r| r.data.clone())
                    .collect(),
            )),
            Ok(Err(e)) if e.is_no_records_found() => Ok(None),
            Ok(Err(e)) => Err(classify(name, e)),
        }
    }
}

fn classify(name: &str, e: NetError) -> DnsError {
    let name = name.to_string();
    match e {
        NetError::Timeout => DnsError::Timeout { name },
        NetError::Dns(HickoryDnsError::ResponseCode(ResponseCode::ServFail)) => {
            DnsError::ServFail { name }
        }
        NetError::Dns(HickoryDnsError::ResponseCode(code)) => DnsError::Response {
            name,
            code: code.to_string(),
        },
        other => DnsError::Other {
            name,
            reason: other.to_string(),
        },
    }
}

/// The DNSBL query name for `ip` under `zone` (RFC 5782 §2.1, §2.4).
pub fn dnsbl_name(ip: IpAddr, zone: &str) -> String {
    let zone = zone.trim_end_matches('.');
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, d] = v4.octets();
            format!("{d}.{c}.{b}.{a}.{zone}")
        }
        IpAddr::V6(v6) => format!("{}.{zone}", nibbles(v6)),
    }
}

fn nibbles(v6: Ipv6Addr) -> String {
    let mut out = String::with_capacity(64);
    for byte in v6.octets().iter().rev() {
        for n in [byte & 0x0f, byte >> 4] {
            if !out.is_empty() {
                out.push('.');
            }
            out.push(char::from_digit(u32::from(n), 16).unwrap_or('0'));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dnsbl_names_reverse_octets_and_nibbles() {
        let v4: IpAddr = "192.0.2.99".parse().unwrap();
        assert_eq!(dnsbl_name(v4, "bl.test."), "99.2.0.192.bl.test");
        let v6: IpAddr = "2001:db8:1:2::ab".parse().unwrap();
        assert_eq!(
            dnsbl_name(v6, "bl.test"),
            "b.a.0.0.0.0.0.0.0.0.0.0.0.0.0.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.bl.test"
        );
    }

    #[test]
    fn validation_names_each_key() {
        let cfg = config::Dns {
            nameservers: vec!["127.0.0.1:53".into(), "dns.example".into()],
            timeout: config::Span(Duration::ZERO),
            attempts: 6,
            cache_size: 0,
        };
        let errs = validate(&cfg);
        assert_eq!(errs.len(), 3, "{errs:?}");
        assert!(errs[0].starts_with("dns.nameservers:"));
        assert!(errs[1].starts_with("dns.timeout"));
        assert!(errs[2].starts_with("dns.attempts"));
        assert!(validate(&config::Dns::default()).is_empty());
    }
}
