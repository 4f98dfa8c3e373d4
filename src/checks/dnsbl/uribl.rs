//! URI blocklists: the domains the message links to (`content.urls`, from the plain and the
//! HTML parts after their transfer encoding is undone), each reduced to its registrable
//! domain with the public suffix list (`mail.hanoi.gov.vn` → `hanoi.gov.vn`; private
//! suffixes such as `blogspot.com` count, so each blog is its own domain), looked up as
//! `DOMAIN.ZONE`. Links to an IPv4 literal are looked up as reversed octets, as the lists
//! that take addresses (SURBL, URIBL) expect. The province's own domains, the allowlist, and
//! names under no known suffix are never looked up; at most `max_lookups` per message.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use url::{Host, Url};

use super::lists::{self, AnswerCache, Lists, Outcome};
use crate::config::spam_lists::{validate_common, UriblConfig, ZoneAction};
use crate::config::Config;
use crate::dns::Resolver;
use crate::engine::{Action, Bilingual, Check, Connection, Envelope, Finding, Pending};
use crate::inspect::Content;

/// The rule of a refusal by a `reject` URI zone.
pub const RULE: &str = "uribl";

/// What a link is looked up as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A registrable domain, ASCII (IDNs in punycode).
    Domain(String),
    Ip(IpAddr),
}

pub struct Uribl {
    lists: Arc<Lists>,
    /// Internal domains and the allowlist, lowercased, without a leading dot: they and their
    /// subdomains are never looked up.
    skip: Vec<String>,
    max: usize,
    lookup_private: bool,
    bare_domains: bool,
}

/// Text read for bare domains per message: the first part of a long text is where a link
/// that wants to be followed sits; the bound keeps the scan cheap on large mail.
const BARE_SCAN_BYTES: usize = 256 * 1024;

impl Uribl {
    /// The check for `config`, or `None` when `[spam.uribl]` is off or lists no zone.
    pub fn build(
        config: &Config,
        services: impl FnOnce() -> Result<(Resolver, Option<AnswerCache>), String>,
    ) -> Result<Option<Uribl>, String> {
        let cfg: &UriblConfig = &config.spam.uribl;
        let mut errs = validate_common(
            "spam.uribl",
            cfg.timeout,
            cfg.message_timeout,
            cfg.cache_ttl,
            config.limits.stage_timeout,
        );
        if cfg.max_lookups == 0 {
            errs.push("spam.uribl.max_lookups must be above zero".into());
        }
        let settings = lists::Settings {
            key: "spam.uribl",
            zones: &cfg.zones,
            timeout: cfg.timeout.get(),
            message_timeout: cfg.message_timeout.get(),
        };
        if let Err(e) = Lists::validate(&settings) {
            errs.push(e);
        }
        if !errs.is_empty() {
            return Err(errs.join("; "));
        }
        if !cfg.enabled || cfg.zones.is_empty() || !config.spam.enabled {
            return Ok(None);
        }
        let skip = config
            .server
            .internal_domains
            .iter()
            .chain(&cfg.allowlist)
            .map(|d| {
                d.trim_start_matches('.')
                    .trim_end_matches('.')
                    .to_ascii_lowercase()
            })
            .filter(|d| !d.is_empty())
            .collect();
        let (resolver, cache) = services()?;
        Ok(Some(Uribl {
            lists: Arc::new(Lists::new("uribl", settings, resolver, cache)?),
            skip,
            max: cfg.max_lookups,
            lookup_private: cfg.lookup_private,
            bare_domains: cfg.bare_domains,
        }))
    }

    /// The distinct targets of `urls`, in order, at most `max`.
    pub fn targets(&self, urls: &[String]) -> Vec<Target> {
        let mut out = Vec::new();
        for u in urls {
            if out.len() >= self.max {
                break;
            }
            let Some(t) = target(u) else { continue };
            let keep = match &t {
                Target::Domain(d) => !self.skipped(d),
                Target::Ip(ip) => {
                    ip.is_ipv4() && (self.lookup_private || super::addr::is_public(*ip))
                }
            };
            if keep && !out.contains(&t) {
                out.push(t);
            }
        }
        out
    }

    /// Adds the registrable domains written bare in `texts` (no scheme, no `www.`) to `out`,
    /// up to `max` in all, reading at most [`BARE_SCAN_BYTES`].
    pub fn add_bare(&self, texts: &[&str], out: &mut Vec<Target>) {
        let mut budget = BARE_SCAN_BYTES;
        for text in texts {
            let text = &text[..floor_char_boundary(text, budget.min(text.len()))];
            budget -= text.len();
            for word in bare_words(text) {
                if out.len() >= self.max {
                    return;
                }
                let Some(d) = registrable(word) else { continue };
                let t = Target::Domain(d);
                if !out.contains(&t) && !matches!(&t, Target::Domain(d) if self.skipped(d)) {
                    out.push(t);
                }
            }
            if budget == 0 {
                return;
            }
        }
    }

    fn skipped(&self, domain: &str) -> bool {
        self.skip.iter().any(|s| {
            domain == s
                || domain.ends_with(s.as_str())
                    && domain.as_bytes().get(domain.len() - s.len() - 1) == Some(&b'.')
                // An internal subdomain reduced to a registrable domain above the entry
                // (`so-tc.angiang.gov.vn` listed, `angiang.gov.vn` linked) stays ours too.
                || s.ends_with(domain)
                    && s.as_bytes().get(s.len() - domain.len() - 1) == Some(&b'.')
        })
    }

    async fn judge(&self, targets: Vec<Target>) -> Vec<Finding> {
        let deadline = Instant::now() + self.lists.message_timeout;
        let mut asks = Vec::new();
        for t in &targets {
            for (z, zone) in self.lists.zones.iter().enumerate() {
                let name = match t {
                    Target::Domain(d) => format!("{d}.{}", zone.name),
                    Target::Ip(ip) => crate::dns::dnsbl_name(*ip, &zone.name),
                };
                asks.push(async move { (t, z, self.lists.check(z, name, deadline).await) });
            }
        }
        let answers = futures_util::future::join_all(asks).await;
        let mut out = Vec::new();
        for (t, z, outcome) in answers {
            let Outcome::Listed { codes, meanings } = outcome else {
                continue;
            };
            let zone = &self.lists.zones[z];
            let what = match t {
                Target::Domain(d) => d.clone(),
                Target::Ip(ip) => ip.to_string(),
            };
            let code = codes.first().map(|c| c.to_string()).unwrap_or_default();
            if zone.action == ZoneAction::Reject {
                out.push(
                    Finding::new(
                        RULE,
                        Action::Reject,
                        Bilingual::new(
                            format!(
                                "Thư có liên kết tới {what}, bị chặn theo danh sách {}",
                                zone.name
                            ),
                            format!("Message links to {what}, blocked using {}", zone.name),
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
                            "Liên kết tới {what} có trong danh sách {} ({code})",
                            zone.name
                        ),
                        format!("Links to {what}, listed in {} ({code})", zone.name),
                    ),
                ));
            }
        }
        out
    }
}

/// Words that look like host names: ASCII labels joined by dots, the last one letters (a
/// TLD), e.g. `lua-dao.com.vn`; not `1.5`, `v2.0.1` or `…`.
fn bare_words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '-'))
        .map(|w| w.trim_matches(|c| c == '.' || c == '-'))
        .filter(|w| {
            w.len() <= 253
                && w.contains('.')
                && w.split('.').all(|l| !l.is_empty() && l.len() <= 63)
                && w.rsplit('.').next().is_some_and(|tld| {
                    tld.len() >= 2 && tld.bytes().all(|b| b.is_ascii_alphabetic())
                })
        })
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// What `url` is looked up as: its host's registrable domain, or its IP literal. The `url`
/// crate applies the WHATWG host rules: IDNs to punycode (UTS #46), `%`-escapes undone,
/// `http://0x7f.1/`-style addresses read as the IPv4 address they are, userinfo
/// (`http://bank.vn@evil.example/`) not taken for the host.
pub fn target(url: &str) -> Option<Target> {
    let parsed = if url.len() >= 4 && url[..4].eq_ignore_ascii_case("www.") {
        Url::parse(&format!("http://{url}"))
    } else {
        Url::parse(url)
    }
    .ok()?;
    match parsed.host()? {
        Host::Ipv4(v4) => Some(Target::Ip(IpAddr::V4(v4))),
        Host::Ipv6(v6) => Some(Target::Ip(IpAddr::V6(v6))),
        Host::Domain(d) => registrable(d).map(Target::Domain),
    }
}

/// The registrable domain of an ASCII host name under a suffix the list knows (ICANN or
/// private); `None` for a bare suffix or a name under no known suffix (`localhost`,
/// `intranet.local`): no public list could know those.
pub fn registrable(host: &str) -> Option<String> {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let domain = psl::domain(host.as_bytes())?;
    domain.suffix().typ()?;
    std::str::from_utf8(domain.as_bytes())
        .ok()
        .map(str::to_string)
}

impl Check for Uribl {
    fn name(&self) -> &'static str {
        "uribl"
    }

    fn reads_content(&self) -> bool {
        true
    }

    fn content<'a>(
        &'a self,
        _conn: &'a Connection,
        _env: &'a Envelope,
        content: &'a Content,
        _out: &mut Vec<Finding>,
    ) -> Pending<'a> {
        let mut targets = self.targets(&content.urls);
        if self.bare_domains {
            let texts: Vec<&str> = content.texts.iter().map(|t| t.text.as_str()).collect();
            self.add_bare(&texts, &mut targets);
        }
        if targets.is_empty() {
            return None;
        }
        Some(Box::pin(self.judge(targets)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Option<Target> {
        Some(Target::Domain(s.into()))
    }

    #[test]
    fn bare_domains_are_found_in_text_but_not_numbers_or_file_names() {
        let got: Vec<&str> = bare_words(
            "Truy cập ngay Khuyen-Mai.lua-dao.com.vn. hoặc lienhe@nhacai.vn, phiên bản 2.0.1, \
             giá 1.500.000đ, tệp baocao.pdf, Đ10.1g…",
        )
        .collect();
        assert_eq!(
            got,
            ["Khuyen-Mai.lua-dao.com.vn", "nhacai.vn", "baocao.pdf"]
        );
        // `pdf` is no suffix: nothing to look up.
        assert_eq!(registrable("baocao.pdf"), None);
        assert_eq!(
            registrable("Khuyen-Mai.lua-dao.com.vn").as_deref(),
            Some("lua-dao.com.vn")
        );
    }

    #[test]
    fn hosts_reduce_to_their_registrable_domain() {
        assert_eq!(target("https://mail.hanoi.gov.vn/x"), d("hanoi.gov.vn"));
        assert_eq!(target("http://a.b.lua-dao.com.vn"), d("lua-dao.com.vn"));
        assert_eq!(target("www.Example.CO.uk/path"), d("example.co.uk"));
        // A private suffix counts: each blog is its own domain.
        assert_eq!(
            target("https://spam-1.blogspot.com/p"),
            d("spam-1.blogspot.com")
        );
        // IDNs in punycode; userinfo is not the host.
        assert!(
            matches!(target("https://www.nhà-cái.vn/"), Some(Target::Domain(x)) if x.starts_with("xn--") && x.ends_with(".vn"))
        );
        assert_eq!(
            target("http://vietcombank.com.vn@evil.example.com/"),
            d("example.com")
        );
        // IP literals, however written.
        assert_eq!(
            target("http://0xcb.0.113.5/login"),
            Some(Target::Ip("203.0.113.5".parse().unwrap()))
        );
        // Suffixes alone and unknown suffixes are nothing to look up.
        assert_eq!(target("http://gov.vn/"), None);
        assert_eq!(target("http://intranet.local/"), None);
        assert_eq!(target("http://localhost:8080/"), None);
    }
}
