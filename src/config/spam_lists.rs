//! `[spam.dnsbl]` and `[spam.uribl]`: DNS blocklists for the client address (RFC 5782) and URI
//! blocklists for the domains a message links to (`crate::checks::dnsbl`). Both are off, with
//! no zone, by default: locthu never queries a list on the Internet unless an admin names it
//! (public lists have terms of use, and most refuse queries through big public resolvers).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use ipnet::{IpNet, Ipv4Net};
use serde::{Deserialize, Serialize};

use super::Span;

/// `[spam.dnsbl]`: the client's address (or, behind a relay, the first untrusted `Received`
/// hop) in each zone.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DnsblConfig {
    pub enabled: bool,
    /// `[[spam.dnsbl.zones]]`.
    pub zones: Vec<ZoneConfig>,
    /// Longest wait for one zone's answer, unless the zone sets its own.
    pub timeout: Span,
    /// Longest a message waits for all its lookups together.
    pub message_timeout: Span,
    /// Answers kept (per list kind), each for `cache_ttl`; 0: no cache.
    pub cache_size: u64,
    pub cache_ttl: Span,
    /// Relays in front of locthu whose mail is judged by the first `Received` hop they did not
    /// write themselves (a secondary MX, a forwarding service). Clients in
    /// `server.trusted_networks` are judged that way too.
    pub forwarders: Vec<IpNet>,
    /// Look up loopback and private addresses too. For tests only (RFC 5782 §5: lists answer
    /// 127.0.0.2 as listed); a real list knows nothing of private addresses.
    pub lookup_private: bool,
}

/// `[spam.uribl]`: the registrable domains (public suffix list) of the message's links.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct UriblConfig {
    pub enabled: bool,
    /// `[[spam.uribl.zones]]`.
    pub zones: Vec<ZoneConfig>,
    pub timeout: Span,
    pub message_timeout: Span,
    pub cache_size: u64,
    pub cache_ttl: Span,
    /// Distinct domains (and IP literals) looked up per message, in order of appearance.
    pub max_lookups: usize,
    /// Domains never looked up (with their subdomains), besides `server.internal_domains`.
    pub allowlist: Vec<String>,
    /// Also domains written without a scheme in the text ("truy cập lua-dao.com.vn"), after
    /// the links, within the same `max_lookups`.
    pub bare_domains: bool,
    /// As in `[spam.dnsbl]`: IP-literal links to private addresses are looked up too (tests).
    pub lookup_private: bool,
}

/// One list zone and what its answers mean.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneConfig {
    /// The zone queried, e.g. `"zen.spamhaus.org"`.
    pub zone: String,
    /// `score` (default): the meanings add their scores. `reject`: a listing refuses the mail
    /// at the earliest stage (MAIL FROM for the client address) with 554 5.7.1 naming the zone,
    /// as Postfix's `reject_rbl_client` does; for high-confidence lists only.
    #[serde(default)]
    pub action: ZoneAction,
    /// This zone's own answer timeout.
    #[serde(default)]
    pub timeout: Option<Span>,
    /// Exact answers: `"127.0.0.2" = { symbol = "SPAMHAUS_SBL", score = 4.0 }`.
    #[serde(default)]
    pub codes: BTreeMap<String, Meaning>,
    /// Bitmask lists (SURBL, URIBL `multi`): the bit of the answer's last octet:
    /// `"8" = { symbol = "SURBL_PH", score = 5.0 }`.
    #[serde(default)]
    pub bits: BTreeMap<String, Meaning>,
    /// Any other answer in 127.0.0.0/8 that is not an error code.
    #[serde(default)]
    pub listed: Option<Meaning>,
    /// Answers that mean "query refused" or "error", never a listing: addresses or CIDR
    /// ranges (Spamhaus `"127.255.255.0/24"`, URIBL `"127.0.0.1"`). They count as a zone error.
    #[serde(default)]
    pub errors: Vec<String>,
}

/// What a listing adds to the message's score.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Meaning {
    pub symbol: String,
    pub score: f64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ZoneAction {
    #[default]
    Score,
    Reject,
}

impl Default for DnsblConfig {
    fn default() -> Self {
        DnsblConfig {
            enabled: false,
            zones: Vec::new(),
            timeout: Span::secs(2),
            message_timeout: Span::secs(5),
            cache_size: 10_000,
            cache_ttl: Span::secs(300),
            forwarders: Vec::new(),
            lookup_private: false,
        }
    }
}

impl Default for UriblConfig {
    fn default() -> Self {
        UriblConfig {
            enabled: false,
            zones: Vec::new(),
            timeout: Span::secs(2),
            message_timeout: Span::secs(5),
            cache_size: 10_000,
            cache_ttl: Span::secs(300),
            max_lookups: 20,
            allowlist: Vec::new(),
            bare_domains: true,
            lookup_private: false,
        }
    }
}

/// A zone's answers, parsed and checked.
#[derive(Debug, Clone)]
pub struct ZoneMeanings {
    pub codes: Vec<(Ipv4Addr, Meaning)>,
    pub bits: Vec<(u8, Meaning)>,
    pub listed: Option<Meaning>,
    pub errors: Vec<Ipv4Net>,
}

impl ZoneConfig {
    /// The parsed meanings, or the problems, each naming `key` (`spam.dnsbl.zones[0]…`).
    pub fn meanings(&self, key: &str) -> Result<ZoneMeanings, Vec<String>> {
        let mut errs = Vec::new();
        let zone = self.zone.trim_end_matches('.');
        if zone.is_empty()
            || zone.len() > 200
            || zone
                .split('.')
                .any(|l| l.is_empty() || l.len() > 63 || !l.bytes().all(label_byte))
        {
            errs.push(format!(
                "{key}.zone: `{}` is not a DNS zone name",
                self.zone
            ));
        }
        if self.timeout.is_some_and(|t| t.get().is_zero()) {
            errs.push(format!("{key}.timeout must be above zero"));
        }
        let check_meaning = |errs: &mut Vec<String>, what: String, m: &Meaning| {
            if m.symbol.is_empty() || !m.symbol.bytes().all(|b| b.is_ascii_graphic()) {
                errs.push(format!("{what}.symbol: `{}` must be one word", m.symbol));
            }
            if !m.score.is_finite() {
                errs.push(format!("{what}.score must be a number"));
            }
        };
        let mut codes = Vec::new();
        for (code, m) in &self.codes {
            check_meaning(&mut errs, format!("{key}.codes.\"{code}\""), m);
            match code.parse::<Ipv4Addr>() {
                Ok(ip) => codes.push((ip, m.clone())),
                Err(_) => errs.push(format!(
                    "{key}.codes: `{code}` is not an IPv4 answer such as \"127.0.0.2\""
                )),
            }
        }
        let mut bits = Vec::new();
        for (bit, m) in &self.bits {
            check_meaning(&mut errs, format!("{key}.bits.\"{bit}\""), m);
            match bit.parse::<u8>() {
                Ok(b) if b.is_power_of_two() => bits.push((b, m.clone())),
                _ => errs.push(format!(
                    "{key}.bits: `{bit}` must be one bit of the last octet: 2, 4, 8, … 128"
                )),
            }
        }
        if let Some(m) = &self.listed {
            check_meaning(&mut errs, format!("{key}.listed"), m);
        }
        let mut errors = Vec::new();
        for e in &self.errors {
            let net = e
                .parse::<Ipv4Net>()
                .or_else(|_| e.parse::<Ipv4Addr>().map(Ipv4Net::from));
            match net {
                Ok(n) => errors.push(n),
                Err(_) => errs.push(format!(
                    "{key}.errors: `{e}` is not an IPv4 address or range (\"127.255.255.0/24\")"
                )),
            }
        }
        if self.codes.is_empty() && self.bits.is_empty() && self.listed.is_none() {
            errs.push(format!(
                "{key}: give `codes`, `bits` or `listed`: what a listing in {zone} means"
            ));
        }
        if errs.is_empty() {
            Ok(ZoneMeanings {
                codes,
                bits,
                listed: self.listed.clone(),
                errors,
            })
        } else {
            Err(errs)
        }
    }
}

fn label_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// Common checks of the two tables' timeouts and sizes.
pub fn validate_common(
    key: &str,
    timeout: Span,
    message_timeout: Span,
    cache_ttl: Span,
    stage_timeout: Span,
) -> Vec<String> {
    let mut errs = Vec::new();
    if timeout.get().is_zero() {
        errs.push(format!("{key}.timeout must be above zero"));
    }
    if message_timeout.get().is_zero() {
        errs.push(format!("{key}.message_timeout must be above zero"));
    }
    if cache_ttl.get().is_zero() {
        errs.push(format!(
            "{key}.cache_ttl must be above zero (cache_size = 0 turns the cache off)"
        ));
    }
    // A lookup still running at the stage deadline would answer the whole stage with
    // `limits.on_stage_timeout` (451 by default) instead of deciding nothing.
    if message_timeout.get() >= stage_timeout.get() {
        errs.push(format!(
            "{key}.message_timeout must be below limits.stage_timeout ({:?})",
            stage_timeout.get()
        ));
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zones_read_codes_bits_and_error_ranges() {
        let c: DnsblConfig = toml::from_str(
            r#"
enabled = true
[[zones]]
zone = "zen.spamhaus.org"
action = "reject"
errors = ["127.255.255.0/24", "127.0.0.1"]
codes."127.0.0.2" = { symbol = "SPAMHAUS_SBL", score = 4.0 }
[[zones]]
zone = "multi.surbl.test"
bits."8" = { symbol = "SURBL_PH", score = 5 }
"#,
        )
        .unwrap();
        let m = c.zones[0].meanings("spam.dnsbl.zones[0]").unwrap();
        assert_eq!(c.zones[0].action, ZoneAction::Reject);
        assert_eq!(m.codes[0].0, Ipv4Addr::new(127, 0, 0, 2));
        assert_eq!(m.errors.len(), 2);
        let m = c.zones[1].meanings("z").unwrap();
        assert_eq!(m.bits[0].0, 8);
        assert_eq!(m.bits[0].1.score, 5.0);
    }

    #[test]
    fn bad_zones_name_their_keys() {
        let c: DnsblConfig = toml::from_str(
            r#"
[[zones]]
zone = "bad zone"
errors = ["127.255.255"]
codes."127.0.0" = { symbol = "", score = 1 }
bits."3" = { symbol = "X", score = 1 }
"#,
        )
        .unwrap();
        let errs = c.zones[0].meanings("spam.dnsbl.zones[0]").unwrap_err();
        assert_eq!(errs.len(), 5, "{errs:?}");
        assert!(errs.iter().all(|e| e.starts_with("spam.dnsbl.zones[0]")));
        let empty: DnsblConfig = toml::from_str("[[zones]]\nzone = \"a.test\"\n").unwrap();
        assert!(empty.zones[0].meanings("k").unwrap_err()[0].contains("what a listing"));
    }
}
