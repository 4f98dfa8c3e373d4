//! The checks, one rule family per file, and the one place that builds them.
//!
//! Adding a check: its module (with its config section in `config::model`), and one line in
//! [`REGISTRY`]. Registration order decides nothing: the decisive finding is chosen by rule
//! priority (`engine::rule::priority`), and the checks of a stage run together.

use std::path::Path;
use std::sync::Arc;

use crate::config::Config;
use crate::engine::Check;
use crate::services::Services;

pub mod antivirus;
pub mod bayes;
pub mod delegate;
pub mod dnsbl;
pub mod gtube;
pub mod inspect;
pub mod outbound_spam;
pub mod relay;
pub mod size;
pub mod spam_rules;

/// What a constructor gets: the validated config of the new generation, the directory its
/// relative paths are resolved against, and the services that outlive a reload (the state
/// store: `cx.services.state(&cx.config.state, cx.base, cx.warnings)`; clamd; the DNS resolver:
/// `cx.services.resolver(&cx.config.dns)`).
pub struct BuildContext<'a> {
    pub config: &'a Config,
    pub base: &'a Path,
    pub services: &'a Services,
    /// Valid but questionable settings, for the start-up log and `check-config`.
    pub warnings: &'a mut Vec<String>,
    /// The clamd scanner of the generation, built on first use ([`BuildContext::antivirus`]).
    antivirus: Option<Arc<antivirus::Antivirus>>,
    /// The bounds of the one content parse, set by the check that owns them (inspection).
    pub content_limits: Option<crate::inspect::Limits>,
}

impl BuildContext<'_> {
    /// The generation's clamd scanner (enabled or not), built once and shared: the antivirus
    /// check scans the message with it, the inspection check the members a password opened.
    pub fn antivirus(&mut self) -> Result<Arc<antivirus::Antivirus>, String> {
        if let Some(a) = &self.antivirus {
            return Ok(Arc::clone(a));
        }
        let a = self.services.clamd(&self.config.antivirus)?;
        self.antivirus = Some(Arc::clone(&a));
        Ok(a)
    }
}

/// Builds one check for a config generation: `Ok(None)` when its config disables it. A
/// disabled check's config is still validated, so a mistake is reported before it is enabled.
pub type Constructor = fn(&mut BuildContext<'_>) -> Result<Option<Arc<dyn Check>>, String>;

/// Every check locthu has.
pub const REGISTRY: &[Constructor] = &[
    |cx| {
        Ok(Some(Arc::new(size::MessageSize {
            max: cx.config.limits.message_size,
        })))
    },
    |cx| {
        Ok(Some(Arc::new(relay::Relay::new(
            &cx.config.server.internal_domains,
        ))))
    },
    |cx| {
        let check = cx.antivirus()?;
        let av = &cx.config.antivirus;
        if !av.enabled {
            return Ok(None);
        }
        cx.warnings
            .extend(av.size_gap(cx.config.limits.message_size));
        Ok(Some(check as Arc<dyn Check>))
    },
    |cx| {
        // A broken [antivirus] is reported by its own constructor.
        let scanner = cx.antivirus().ok().filter(|s| s.enabled());
        let inspector = inspect::Inspector::new(&cx.config.inspect, cx.base)?;
        // Members a password opened are kept for clamd, which cannot open them itself.
        cx.content_limits = Some(crate::inspect::Limits {
            keep_opened: scanner.is_some(),
            ..inspector.limits().clone()
        });
        let check = inspect::build_from(inspector, scanner);
        Ok(cx.config.inspect.enabled.then_some(check))
    },
    |cx| {
        let on = cx.config.spam.gtube_action != crate::engine::Action::Accept;
        Ok(on.then(|| Arc::new(gtube::Gtube::new(&cx.config.spam)) as Arc<dyn Check>))
    },
    |cx| {
        let spam = &cx.config.spam;
        if !spam.enabled {
            return Ok(None);
        }
        let store = cx.services.state(&cx.config.state, cx.base, cx.warnings)?;
        let window = spam.outbound_count_window.get();
        Ok(Some(Arc::new(outbound_spam::OutboundSpam::new(
            store, window,
        ))))
    },
    |cx| {
        let d = &cx.config.spam.delegate;
        let on = cx.config.spam.enabled && d.enabled;
        Ok(on.then(|| Arc::new(delegate::Delegate::new(d)) as Arc<dyn Check>))
    },
    |cx| {
        let (config, services) = (cx.config, cx.services);
        let c = &config.spam.dnsbl;
        let check = dnsbl::Dnsbl::build(config, || {
            let cache = services.blocklist_cache("dnsbl", c.cache_size, c.cache_ttl.get());
            Ok((services.resolver(&config.dns)?, cache))
        })?;
        Ok(check.map(|c| Arc::new(c) as Arc<dyn Check>))
    },
    |cx| {
        let (config, services) = (cx.config, cx.services);
        let c = &config.spam.uribl;
        let check = dnsbl::Uribl::build(config, || {
            let cache = services.blocklist_cache("uribl", c.cache_size, c.cache_ttl.get());
            Ok((services.resolver(&config.dns)?, cache))
        })?;
        Ok(check.map(|c| Arc::new(c) as Arc<dyn Check>))
    },
    |cx| {
        let auth = &cx.config.spam.auth;
        if !auth.enabled {
            return Ok(None);
        }
        let a = cx
            .services
            .authenticator(&cx.config.dns, auth.cache_entries)?;
        let server = &cx.config.server;
        Ok(Some(Arc::new(crate::auth::verify::Verify::new(
            a,
            auth,
            &server.hostname,
            &server.internal_domains,
        ))))
    },
    |cx| {
        let dkim = &cx.config.dkim;
        // Keys are loaded (and their errors reported) even with signing off.
        let signer = crate::auth::sign::Signer::new(dkim, cx.base)?;
        Ok((dkim.sign && !dkim.keys.is_empty()).then(|| Arc::new(signer) as Arc<dyn Check>))
    },
    |cx| {
        // Rules are read and compiled even when off, so a broken file is reported first.
        let cfg = &cx.config.spam.rules;
        let (set, origin) = crate::spam::rules::load(cfg, cx.base)?;
        if !(cfg.enabled && cx.config.spam.enabled) {
            return Ok(None);
        }
        tracing::info!(rules = set.rules().len(), origin = ?origin, "spam rules loaded");
        Ok(Some(
            Arc::new(spam_rules::SpamRules::new(set)) as Arc<dyn Check>
        ))
    },
    |cx| {
        let spam = &cx.config.spam;
        if !spam.enabled || !spam.bayes.enabled {
            return Ok(None);
        }
        let store = cx.services.state(&cx.config.state, cx.base, cx.warnings)?;
        Ok(Some(Arc::new(bayes::Bayes::new(store, &spam.bayes))))
    },
];

/// The enabled checks of a generation, and the warnings their construction gave.
pub struct Built {
    pub checks: Vec<Arc<dyn Check>>,
    pub warnings: Vec<String>,
    /// The bounds of the content parse (see `Engine::with_content_limits`).
    pub content_limits: Option<crate::inspect::Limits>,
}

/// Builds every enabled check; all construction errors are returned, not only the first.
pub fn build_all(config: &Config, base: &Path, services: &Services) -> Result<Built, Vec<String>> {
    let mut warnings = Vec::new();
    let mut cx = BuildContext {
        config,
        base,
        services,
        warnings: &mut warnings,
        antivirus: None,
        content_limits: None,
    };
    let mut checks = Vec::new();
    let mut errors = Vec::new();
    for build in REGISTRY {
        match build(&mut cx) {
            Ok(Some(c)) => checks.push(c),
            Ok(None) => {}
            Err(e) => errors.push(e),
        }
    }
    let content_limits = cx.content_limits.take();
    if errors.is_empty() {
        Ok(Built {
            checks,
            warnings,
            content_limits,
        })
    } else {
        Err(errors)
    }
}
