//! One generation of the running configuration: the validated config plus everything built
//! from it (checks, TLS contexts, upstream settings). A reload builds a new one and swaps it in
//! atomically; sessions keep the generation they started with.

use std::collections::HashMap;
use std::sync::Arc;

use crate::checks;
use crate::config::{error_at_key, ConfigErrors, Loaded, Source};
use crate::engine::{Engine, MessagePolicy, StageLimits};
use crate::services::Services;
use crate::smtp::tls;
use crate::smtp::upstream::UpstreamSettings;

/// Everything built from one config generation.
pub struct Runtime {
    pub config: crate::config::Config,
    pub source: Source,
    pub engine: Arc<Engine>,
    /// What SMTP sessions read: the transport's settings, not the checks' config.
    pub session: Arc<SessionSettings>,
    pub quarantine: crate::quarantine::Store,
    /// Valid but questionable settings, for the start-up log and `check-config`.
    pub warnings: Vec<String>,
}

/// The part of a generation an SMTP session reads besides the engine: `[server]`,
/// `[limits]` and the listeners. The checks' sections stay with the checks, so a transport
/// (the proxy, the milter) cannot come to depend on them.
pub struct SessionSettings {
    pub server: crate::config::Server,
    pub limits: crate::config::Limits,
    pub listeners: HashMap<String, ListenerRuntime>,
}

impl SessionSettings {
    /// Whether connections from `ip` escape `limits.max_connections_per_ip`.
    pub fn per_ip_exempt(&self, ip: std::net::IpAddr) -> bool {
        crate::config::per_ip_exempt(&self.server, &self.limits, ip)
    }
}

/// Per-listener parts built from the config.
pub struct ListenerRuntime {
    pub role: crate::engine::Role,
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    pub upstream: UpstreamSettings,
    /// Name the real client to the upstream (XCLIENT/XFORWARD).
    pub pass_client: bool,
}

impl Runtime {
    /// Files and directories besides the config file whose change makes the server reload
    /// (`server.reload_poll`): the spam rule directory.
    pub fn watched(&self) -> Vec<std::path::PathBuf> {
        vec![self.source.base_dir().join(&self.config.spam.rules.dir)]
    }

    /// Builds the checks and TLS contexts; `check-config` runs exactly this.
    pub fn build(loaded: Loaded, services: &Services) -> Result<Runtime, ConfigErrors> {
        let Loaded { config, source } = loaded;
        let base = source.base_dir();
        let mut errors = Vec::new();
        // Constructors may report several problems in one message, a line or `; ` apart.
        let mut err = |message: String| {
            for m in message.split('\n').flat_map(|l| l.split("; ")) {
                if !m.trim().is_empty() {
                    errors.push(error_at_key(&source, m.trim().to_string()));
                }
            }
        };
        let mut listeners = HashMap::new();
        for l in &config.listeners {
            let tls = match &l.tls {
                None => None,
                Some(t) => match tls::server_config(&base.join(&t.cert), &base.join(&t.key)) {
                    Ok(c) => Some(tokio_rustls::TlsAcceptor::from(c)),
                    Err(e) => {
                        err(format!("listener `{}` tls: {e}", l.name));
                        None
                    }
                },
            };
            let ca = l.upstream.tls_ca.as_ref().map(|p| base.join(p));
            let tls_config = match tls::client_config(ca.as_deref()) {
                Ok(c) => c,
                Err(e) => {
                    err(format!("listener `{}` upstream.tls_ca: {e}", l.name));
                    continue;
                }
            };
            let upstream = UpstreamSettings {
                address: l.upstream.address.clone(),
                tls: l.upstream.tls,
                tls_config,
                ehlo_name: config.server.hostname.clone(),
                connect_timeout: l.upstream.connect_timeout.get(),
                command_timeout: l.upstream.command_timeout.get(),
                data_timeout: l.upstream.data_timeout.get(),
            };
            listeners.insert(
                l.name.clone(),
                ListenerRuntime {
                    role: l.role,
                    tls,
                    upstream,
                    pass_client: l.upstream.pass_client,
                },
            );
        }
        let checks::Built {
            checks,
            warnings,
            content_limits,
        } = match checks::build_all(&config, &base, services) {
            Ok(built) => built,
            Err(errs) => {
                errs.into_iter().for_each(&mut err);
                checks::Built {
                    checks: Vec::new(),
                    warnings: Vec::new(),
                    content_limits: None,
                }
            }
        };
        for e in config.spam.validate() {
            err(e);
        }
        if !errors.is_empty() {
            return Err(ConfigErrors(errors));
        }
        let quarantine = crate::quarantine::Store::new(base.join(&config.quarantine.dir));
        let policy = MessagePolicy {
            deadline: config.limits.end_of_data_timeout.get(),
            keep_rejected: config.quarantine.keep_rejected.clone(),
            hostname: config.server.hostname.clone(),
            quarantine: quarantine.clone(),
            data_line_length: config.limits.data_line_length,
            header_size: config.limits.header_size,
        };
        let mut engine = Engine::new(
            checks,
            StageLimits {
                timeout: config.limits.stage_timeout.get(),
                on_timeout: config.limits.on_stage_timeout,
            },
        )
        .with_policy(policy)
        .with_content_limits(content_limits.unwrap_or_default());
        if let Some(scoring) = config.spam.score_policy() {
            engine = engine.with_scoring(scoring);
        }
        Ok(Runtime {
            quarantine,
            warnings,
            engine: Arc::new(engine),
            session: Arc::new(SessionSettings {
                server: config.server.clone(),
                limits: config.limits.clone(),
                listeners,
            }),
            config,
            source,
        })
    }
}
