//! The configuration's shape. Every table rejects unknown keys; every key has a default, so a
//! file only says what it changes.

use std::net::SocketAddr;
use std::path::PathBuf;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::{ByteSize, Span};
use crate::engine::Role;

/// The whole configuration of one locthu instance.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Another config file this one extends (a province profile); relative to this file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extends: Option<String>,
    /// Lists to add to those of the file this one extends, instead of replacing them:
    /// `[extend.server]` / `internal_domains = ["so.angiang.gov.vn"]`. Applied while the
    /// files are merged (`config::load`); only in a file with `extends`.
    #[serde(skip_serializing_if = "toml::Table::is_empty")]
    pub extend: toml::Table,
    pub server: Server,
    #[serde(rename = "listener")]
    pub listeners: Vec<Listener>,
    pub limits: Limits,
    pub admin: Admin,
    pub log: Log,
    pub quarantine: Quarantine,
    pub antivirus: super::antivirus::AntivirusConfig,
    pub inspect: super::inspect::InspectConfig,
    pub spam: super::spam::SpamConfig,
    pub dkim: super::dkim::DkimConfig,
    pub state: State,
    pub dns: Dns,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            extends: None,
            extend: toml::Table::new(),
            server: Server::default(),
            listeners: vec![Listener::default()],
            limits: Limits::default(),
            admin: Admin::default(),
            log: Log::default(),
            quarantine: Quarantine::default(),
            antivirus: Default::default(),
            inspect: Default::default(),
            spam: Default::default(),
            dkim: Default::default(),
            state: State::default(),
            dns: Dns::default(),
        }
    }
}

/// Whether connections from `ip` escape `limits.max_connections_per_ip`: the listed
/// exceptions, else the trusted networks and proxy peers.
pub fn per_ip_exempt(server: &Server, limits: &Limits, ip: std::net::IpAddr) -> bool {
    match &limits.per_ip_exceptions {
        Some(nets) => nets.iter().any(|n| n.contains(&ip)),
        None => server
            .trusted_networks
            .iter()
            .chain(&server.proxy_peers)
            .any(|n| n.contains(&ip)),
    }
}

impl Config {
    /// Whether connections from `ip` escape `limits.max_connections_per_ip`.
    pub fn per_ip_exempt(&self, ip: std::net::IpAddr) -> bool {
        per_ip_exempt(&self.server, &self.limits, ip)
    }
}

/// Identity, trust and storage.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Server {
    /// Name in the greeting and EHLO reply.
    pub hostname: String,
    /// Clients that are internal senders (may send anywhere). Like Postfix's
    /// `mynetworks_style = host`, only loopback by default.
    pub trusted_networks: Vec<IpNet>,
    /// Recipient domains any client may send to. An entry `.example.gov.vn` also matches every
    /// subdomain. Everything else is relay and needs an internal sender.
    pub internal_domains: Vec<String>,
    /// Look up each client's verified reverse name (as Postfix's smtpd would) and pass it on
    /// with XCLIENT, so the upstream's `reject_unknown_client_hostname` and Received headers
    /// see the real name.
    pub reverse_dns: bool,
    /// How long the lookup may take before the name is `[TEMPUNAVAIL]`.
    pub reverse_dns_timeout: Span,
    /// Peers allowed to name the real client with XCLIENT or XFORWARD (Postfix's
    /// `smtpd_proxy_filter` in front of locthu). Empty by default: nobody may.
    pub proxy_peers: Vec<IpNet>,
    /// Where message bodies above `spool_memory` are spooled (unlinked temporary files).
    pub spool_dir: PathBuf,
    /// How much of a body is kept in memory before it spills to `spool_dir`.
    pub spool_memory: ByteSize,
    /// Threads that run sessions; 0 means one per CPU.
    pub workers: usize,
    /// On SIGTERM, how long sessions in a transaction may take to finish before they get 421.
    pub shutdown_grace: Span,
    /// How often the config file is checked for changes (in addition to SIGHUP); "0s" disables.
    pub reload_poll: Span,
    /// What to do with lines that end in a bare LF inside DATA: `normalize` them to CRLF (as
    /// Postfix 3.9 does), or `reject` the message. A bare-LF line never ends DATA either way.
    pub bare_lf: BareLf,
}

impl Default for Server {
    fn default() -> Self {
        Server {
            hostname: default_hostname(),
            trusted_networks: vec![
                "127.0.0.0/8".parse().expect("literal"),
                "::1/128".parse().expect("literal"),
            ],
            internal_domains: Vec::new(),
            reverse_dns: true,
            reverse_dns_timeout: Span::secs(5),
            proxy_peers: Vec::new(),
            spool_dir: std::env::temp_dir(),
            spool_memory: ByteSize(256 * 1024),
            workers: 0,
            shutdown_grace: Span::secs(30),
            reload_poll: Span::secs(2),
            bare_lf: BareLf::Normalize,
        }
    }
}

fn default_hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        // A machine name that is not a valid SMTP domain must not make the default unusable.
        .filter(|s| super::valid_smtp_domain(s).is_ok())
        .unwrap_or_else(|| "locthu.localdomain".to_string())
}

/// See [`Server::bare_lf`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BareLf {
    Normalize,
    Reject,
}

/// One address locthu accepts SMTP on, with its role and its upstream.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Listener {
    /// A short name for logs and metrics.
    pub name: String,
    pub address: SocketAddr,
    pub role: Role,
    /// Offer STARTTLS with this certificate and key (PEM). Reloaded on SIGHUP.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<ServerTls>,
    pub upstream: Upstream,
}

impl Default for Listener {
    fn default() -> Self {
        Listener {
            name: "inbound".into(),
            address: "127.0.0.1:2525".parse().expect("literal"),
            role: Role::Inbound,
            tls: None,
            upstream: Upstream::default(),
        }
    }
}

/// Certificate chain and private key files, PEM.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServerTls {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// The MTA that receives what locthu accepts.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Upstream {
    /// `host:port` of the MTA.
    pub address: String,
    /// STARTTLS towards the upstream: `off`, `opportunistic` (when offered) or `required`.
    pub tls: UpstreamTls,
    /// CA bundle (PEM) to verify the upstream's certificate; without it the channel is
    /// encrypted but not authenticated, like Postfix's `smtp_tls_security_level = encrypt`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_ca: Option<PathBuf>,
    /// Name the real client with XCLIENT (or XFORWARD when only that is offered), so the upstream
    /// applies its own restrictions to the real client.
    pub pass_client: bool,
    pub connect_timeout: Span,
    /// Time allowed for each upstream reply to a command.
    pub command_timeout: Span,
    /// Time allowed for the upstream to answer the end of DATA. Behind Postfix's
    /// `smtpd_proxy_filter`, the whole answer must fit in `smtpd_proxy_timeout` (100 s).
    pub data_timeout: Span,
}

impl Default for Upstream {
    fn default() -> Self {
        Upstream {
            address: "127.0.0.1:25".into(),
            tls: UpstreamTls::Opportunistic,
            tls_ca: None,
            pass_client: true,
            connect_timeout: Span::secs(10),
            command_timeout: Span::secs(60),
            data_timeout: Span::secs(80),
        }
    }
}

/// See [`Upstream::tls`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UpstreamTls {
    Off,
    Opportunistic,
    Required,
}

/// Protocol limits. Each has the field's usual default.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest message accepted, advertised as EHLO SIZE and enforced at MAIL FROM and in DATA.
    pub message_size: ByteSize,
    /// Recipients per message (Postfix's `smtpd_recipient_limit`).
    pub max_recipients: usize,
    /// Longest command line, CRLF included (RFC 5321 4.5.3.1.4 sets 512 as the minimum).
    pub command_line_length: usize,
    /// Longest line inside DATA, CRLF included.
    pub data_line_length: usize,
    /// Largest header block.
    pub header_size: ByteSize,
    /// How long to wait for the next command (RFC 5321 4.5.3.2.7: at least 5 minutes).
    pub command_timeout: Span,
    /// How long to wait for more DATA bytes (RFC 5321 4.5.3.2.6).
    pub data_timeout: Span,
    /// From the end of DATA to our answer: checks and the upstream's reply together. Keep it
    /// under Postfix's `smtpd_proxy_timeout` (100 s) when locthu is its proxy filter.
    pub end_of_data_timeout: Span,
    /// Simultaneous client connections, all listeners together.
    pub max_connections: usize,
    /// Simultaneous client connections from one IP address.
    pub max_connections_per_ip: usize,
    /// Clients not counted per IP. Unset: `trusted_networks` and `proxy_peers`, as Postfix
    /// exempts `$mynetworks` (`smtpd_client_event_limit_exceptions`): behind
    /// `smtpd_proxy_filter` every session comes from Postfix's own address. A proxy peer's
    /// sessions are counted under the real client it names with XCLIENT or XFORWARD.
    pub per_ip_exceptions: Option<Vec<IpNet>>,
    /// With connections at `stress_at` percent of `max_connections` or more, each command
    /// line and each DATA record must arrive within `stress_timeout` (Postfix's
    /// `smtpd_timeout = ${stress?10}{300}`), so idle clients free their slots first.
    pub stress_timeout: Span,
    /// See `stress_timeout`; 1 to 100.
    pub stress_at: u8,
    /// How long the checks of the connect, HELO, MAIL and RCPT stages may wait (DNS, the
    /// state store, a directory) before the stage is answered with `on_stage_timeout`.
    pub stage_timeout: Span,
    /// `tempfail` (4xx, the client retries) or `accept` (as if the late checks found nothing).
    pub on_stage_timeout: crate::engine::Action,
    /// Errors (bad or out-of-order commands) before the session is closed with 421.
    pub max_bad_commands: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            message_size: ByteSize(40_000_000),
            max_recipients: 1000,
            command_line_length: 2048,
            data_line_length: 65_536,
            header_size: ByteSize(256 * 1024),
            command_timeout: Span::secs(300),
            data_timeout: Span::secs(300),
            end_of_data_timeout: Span::secs(90),
            max_connections: 500,
            max_connections_per_ip: 50,
            per_ip_exceptions: None,
            stress_timeout: Span::secs(10),
            stress_at: 80,
            stage_timeout: Span::secs(15),
            on_stage_timeout: crate::engine::Action::Tempfail,
            max_bad_commands: 20,
        }
    }
}

/// The admin HTTP listener.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Admin {
    /// Address of `/metrics`, `/healthz` and `/readyz`; empty string disables it.
    pub listen: String,
    /// How often `/readyz` checks that each upstream answers.
    pub probe_interval: Span,
}

impl Default for Admin {
    fn default() -> Self {
        Admin {
            listen: "127.0.0.1:9425".into(),
            probe_interval: Span::secs(10),
        }
    }
}

/// Logging.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Log {
    /// `text` for people, `json` for log shippers.
    pub format: LogFormat,
    /// A tracing filter such as `info` or `locthu=debug`; `RUST_LOG` overrides it.
    pub level: String,
}

impl Default for Log {
    fn default() -> Self {
        Log {
            format: LogFormat::Text,
            level: "info".into(),
        }
    }
}

/// See [`Log::format`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// Where quarantined messages are kept, and for how long.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Quarantine {
    /// Created on first use; must be on local disk (it is fsynced before the client hears 250).
    pub dir: PathBuf,
    /// Entries older than this many days are deleted (checked at start and daily).
    pub retention_days: u32,
    /// Rules whose rejected messages are also kept here for the admin (e.g. `["virus"]`).
    pub keep_rejected: Vec<String>,
}

impl Default for Quarantine {
    fn default() -> Self {
        Quarantine {
            dir: PathBuf::from("/var/lib/locthu/quarantine"),
            retention_days: 30,
            keep_rejected: Vec::new(),
        }
    }
}

/// The state store the anti-spam and policy checks keep their data in (`crate::state`). Opened
/// once at start; a reload does not reopen it.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct State {
    /// `embedded` (a redb file, one node) or `redis` (shared by several nodes).
    pub backend: StateBackend,
    pub embedded: StateEmbedded,
    pub redis: StateRedis,
}

impl Default for State {
    fn default() -> Self {
        State {
            backend: StateBackend::Embedded,
            embedded: StateEmbedded::default(),
            redis: StateRedis::default(),
        }
    }
}

/// The DNS resolver the DNSBL, URIBL, SPF and DKIM checks query (`crate::dns`). Built once and
/// kept across reloads while these settings stay; changed settings rebuild it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Dns {
    /// "ip:port" servers, queried over UDP and TCP; empty: the system's /etc/resolv.conf.
    pub nameservers: Vec<String>,
    /// Longest wait for one answer from one server.
    pub timeout: Span,
    /// Tries per query (1 to 5).
    pub attempts: u32,
    /// Answers kept in memory (0: no cache).
    pub cache_size: u64,
}

impl Default for Dns {
    fn default() -> Self {
        Dns {
            nameservers: Vec::new(),
            timeout: Span::secs(2),
            attempts: 2,
            cache_size: 4096,
        }
    }
}

/// See [`State::backend`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StateBackend {
    Embedded,
    Redis,
}

/// The embedded backend: one redb file on local disk.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct StateEmbedded {
    /// The database file, relative to the config file; it and its directory are created on
    /// first use, like the quarantine's. One process at a time may open it.
    pub path: PathBuf,
    /// Longest a call may take (queue, transaction and fsync); past it the call fails.
    pub timeout: Span,
    /// How often expired entries are swept, `sweep_batch` at most per transaction.
    pub sweep_interval: Span,
    pub sweep_batch: usize,
}

impl Default for StateEmbedded {
    fn default() -> Self {
        StateEmbedded {
            path: PathBuf::from("/var/lib/locthu/state.redb"),
            timeout: Span::secs(2),
            sweep_interval: Span::secs(30),
            sweep_batch: 1000,
        }
    }
}

/// The Redis backend.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct StateRedis {
    /// `redis://[user:password@]host:port/db` (or `unix:///path`).
    pub url: String,
    /// Put before every key, so several users of one Redis never collide.
    pub prefix: String,
    /// Longest wait for a (re)connection.
    pub connect_timeout: Span,
    /// Longest wait for each reply.
    pub response_timeout: Span,
}

impl Default for StateRedis {
    fn default() -> Self {
        StateRedis {
            url: "redis://127.0.0.1:6379/0".into(),
            prefix: "locthu:".into(),
            connect_timeout: Span::secs(1),
            response_timeout: Span(std::time::Duration::from_millis(500)),
        }
    }
}
