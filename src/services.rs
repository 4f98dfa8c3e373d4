//! What outlives a config reload: the state store and the clamd pools, opened once and handed
//! to each config generation (`Runtime::build`). A reload swaps the config and the checks;
//! it does not reopen the store (a redb file takes one process, a Redis connection has its
//! reconnect state) nor drop the clamd pools' health tracking, unless their settings changed.
//! The DNS resolver is kept the same way, so its cache survives a reload, and so are the
//! blocklists' answer caches.

use std::path::Path;
use std::sync::{Arc, Mutex};

use crate::checks::antivirus::{self, Antivirus, AntivirusConfig};
use crate::checks::dnsbl::AnswerCache;
use crate::config;
use crate::dns;
use crate::state;

/// The long-lived services of the process.
#[derive(Default)]
pub struct Services {
    /// Opened on first use by a check, with the settings it was opened with.
    state: Mutex<Option<(config::State, state::Store)>>,
    /// The scanner of the current antivirus settings (their TOML as the key).
    clamd: Mutex<Option<(String, Arc<Antivirus>)>>,
    /// The DNS resolver of the current `[dns]` settings.
    dns: Mutex<Option<(config::Dns, dns::Resolver)>>,
    /// The blocklists' answer caches (`checks::dnsbl`), per list kind, with their size and TTL.
    blocklists: Mutex<Vec<(&'static str, u64, std::time::Duration, AnswerCache)>>,
    /// SPF/DKIM/DMARC's resolver and caches, for the `[dns]` settings and cache size.
    auth: Mutex<Option<(config::Dns, usize, Arc<crate::auth::Authenticator>)>>,
}

impl Services {
    pub fn new() -> Arc<Services> {
        Arc::new(Services::default())
    }

    /// The state store, opened the first time a check asks for it. Settings changed by a
    /// reload take effect at the next restart (a warning says so): the store in use keeps
    /// its data and connections.
    pub fn state(
        &self,
        cfg: &config::State,
        base: &Path,
        warnings: &mut Vec<String>,
    ) -> Result<state::Store, String> {
        let mut slot = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((opened, store)) = &*slot {
            if !same(opened, cfg) {
                warnings
                    .push("[state] changed: the store in use is kept until locthu restarts".into());
            }
            return Ok(store.clone());
        }
        let store = state::Store::open_in(cfg, base).map_err(|e| format!("[state] {e}"))?;
        *slot = Some((cfg.clone(), store.clone()));
        Ok(store)
    }

    /// The clamd scanner for `cfg`: the same one (pools, endpoint health) as long as the
    /// antivirus settings do not change across reloads.
    pub fn clamd(&self, cfg: &AntivirusConfig) -> Result<Arc<Antivirus>, String> {
        let key = toml::to_string(cfg).unwrap_or_default();
        let mut slot = self.clamd.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((k, scanner)) = &*slot {
            if *k == key {
                return Ok(Arc::clone(scanner));
            }
        }
        let scanner = antivirus::scanner(cfg)?;
        *slot = Some((key, Arc::clone(&scanner)));
        Ok(scanner)
    }

    /// The DNS resolver for `cfg`, built the first time a check asks for it and kept (with its
    /// cache) across reloads while `[dns]` stays the same. Unlike the state store, changed DNS
    /// settings take effect at the reload: a new resolver is cheap, and lookups in flight keep
    /// the old one until they end.
    pub fn resolver(&self, cfg: &config::Dns) -> Result<dns::Resolver, String> {
        let mut slot = self.dns.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((built, resolver)) = &*slot {
            if built == cfg {
                return Ok(resolver.clone());
            }
        }
        let resolver = dns::Resolver::new(cfg)?;
        *slot = Some((cfg.clone(), resolver.clone()));
        Ok(resolver)
    }
}

impl Services {
    /// The answer cache of the blocklists of `kind` (`dnsbl`, `uribl`), kept across reloads
    /// while its size and TTL stay: a reload does not send every listed client's lookups to
    /// the lists again. Answers are keyed by the full query name and judged after the cache,
    /// so changed zone meanings apply at once. `None` for size 0.
    pub fn blocklist_cache(
        &self,
        kind: &'static str,
        size: u64,
        ttl: std::time::Duration,
    ) -> Option<AnswerCache> {
        if size == 0 {
            return None;
        }
        let mut slot = self.blocklists.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, s, t, cache)) = slot.iter().find(|(k, ..)| *k == kind) {
            if *s == size && *t == ttl {
                return Some(cache.clone());
            }
        }
        slot.retain(|(k, ..)| *k != kind);
        let cache = crate::checks::dnsbl::answer_cache(size, ttl);
        slot.push((kind, size, ttl, cache.clone()));
        Some(cache)
    }

    /// The authentication resolver and its caches, kept (caches warm) across reloads while
    /// `[dns]` and the cache size stay the same.
    pub fn authenticator(
        &self,
        cfg: &config::Dns,
        entries: usize,
    ) -> Result<Arc<crate::auth::Authenticator>, String> {
        let mut slot = self.auth.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((built, n, a)) = &*slot {
            if built == cfg && *n == entries {
                return Ok(Arc::clone(a));
            }
        }
        let a = Arc::new(crate::auth::Authenticator::new(cfg, entries)?);
        *slot = Some((cfg.clone(), entries, Arc::clone(&a)));
        Ok(a)
    }
}

fn same(a: &config::State, b: &config::State) -> bool {
    toml::to_string(a).ok() == toml::to_string(b).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_clamd_scanner_is_kept_while_its_settings_stay() {
        let s = Services::default();
        let mut cfg = AntivirusConfig {
            enabled: true,
            endpoints: vec!["127.0.0.1:1".into()],
            ..AntivirusConfig::default()
        };
        let a = s.clamd(&cfg).unwrap();
        assert!(Arc::ptr_eq(&a, &s.clamd(&cfg).unwrap()));
        cfg.scan_timeout = crate::config::Span::secs(7);
        assert!(!Arc::ptr_eq(&a, &s.clamd(&cfg).unwrap()));
    }

    /// Built outside a runtime: `serve` and `check-config` build the checks before one starts.
    #[test]
    fn the_resolver_is_kept_while_its_settings_stay() {
        let s = Services::default();
        let mut cfg = config::Dns {
            nameservers: vec!["127.0.0.1:9".into()],
            ..config::Dns::default()
        };
        let a = s.resolver(&cfg).unwrap();
        assert!(dns::Resolver::ptr_eq(&a, &s.resolver(&cfg).unwrap()));
        cfg.attempts = 1;
        let b = s.resolver(&cfg).unwrap();
        assert!(!dns::Resolver::ptr_eq(&a, &b));
        assert!(dns::Resolver::ptr_eq(&b, &s.resolver(&cfg).unwrap()));
        cfg.attempts = 0;
        assert!(s.resolver(&cfg).unwrap_err().starts_with("dns.attempts"));
    }

    #[tokio::test]
    async fn the_state_store_is_opened_once_and_survives_a_changed_config() {
        let dir = tempfile::tempdir().unwrap();
        let s = Services::default();
        let mut cfg = config::State::default();
        cfg.embedded.path = dir.path().join("state.redb");
        let mut warnings = Vec::new();
        let first = s.state(&cfg, dir.path(), &mut warnings).unwrap();
        first.set("k", b"v", Duration::from_secs(60)).await.unwrap();
        cfg.embedded.path = dir.path().join("other.redb");
        let second = s.state(&cfg, dir.path(), &mut warnings).unwrap();
        assert_eq!(second.get("k").await.unwrap().as_deref(), Some(&b"v"[..]));
        assert_eq!(warnings.len(), 1, "{warnings:?}");
    }
}
