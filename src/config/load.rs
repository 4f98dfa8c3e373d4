//! Reading config files: `extends` chains, file:line errors, semantic validation that reports
//! every problem at once.

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};

use super::Config;

/// The annotated default config, compiled in so `locthu serve` runs with no file at all.
pub const EMBEDDED_DEFAULT: &str = include_str!("../../config/locthu.toml");

/// Where a config came from, for messages and for resolving relative paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Embedded,
    File(PathBuf),
}

impl Source {
    /// Directory that relative paths in the config are resolved against.
    pub fn base_dir(&self) -> PathBuf {
        match self {
            Source::Embedded => std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
            Source::File(p) => p
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from(".")),
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Embedded => f.write_str("<embedded default>"),
            Source::File(p) => write!(f, "{}", p.display()),
        }
    }
}

/// One problem in a config, located as precisely as we can.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: String,
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}: {}", self.file, line, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

/// All the problems found in one load.
#[derive(Debug, Clone)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// A validated config and where it came from.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    pub source: Source,
}

/// Loads the file at `path`, or the embedded default when `path` is `None`.
pub fn load(path: Option<&Path>) -> Result<Loaded, ConfigErrors> {
    let (config, source) = match path {
        None => (
            parse_str(EMBEDDED_DEFAULT, "<embedded default>").map_err(|e| ConfigErrors(vec![e]))?,
            Source::Embedded,
        ),
        Some(p) => (load_chain(p, 0)?, Source::File(p.to_path_buf())),
    };
    let text = match &source {
        Source::Embedded => Some(EMBEDDED_DEFAULT.to_string()),
        Source::File(p) => std::fs::read_to_string(p).ok(),
    };
    let errors = validate(&config, &source, text.as_deref());
    if errors.is_empty() {
        Ok(Loaded { config, source })
    } else {
        Err(ConfigErrors(errors))
    }
}

/// Parses one TOML document into a config, with file:line on error.
pub fn parse_str(text: &str, file: &str) -> Result<Config, ConfigError> {
    toml::from_str::<Config>(text).map_err(|e| toml_error(&e, text, file))
}

/// Like [`parse_str`], but a document that is valid TOML with wrong values in several
/// sections gets one error per section, not only the first: serde stops at the first error,
/// so each top-level section is also parsed alone, the other lines blanked so that line
/// numbers stay true. (A TOML syntax error stops the parser itself: it is reported alone.)
fn parse_all(text: &str, file: &str) -> Result<Config, ConfigErrors> {
    let first = match toml::from_str::<Config>(text) {
        Ok(c) => return Ok(c),
        Err(e) => toml_error(&e, text, file),
    };
    if toml::from_str::<toml::Table>(text).is_err() {
        return Err(ConfigErrors(vec![first]));
    }
    let lines: Vec<&str> = text.split('\n').collect();
    let mut group_of = Vec::with_capacity(lines.len());
    let mut current = String::new();
    for l in &lines {
        if let Some(name) = table_header(l) {
            current = name;
        }
        group_of.push(current.clone());
    }
    let mut groups: Vec<&String> = group_of.iter().collect();
    groups.dedup();
    let mut seen = HashSet::new();
    let mut errors = Vec::new();
    for g in groups {
        if !seen.insert(g) {
            continue;
        }
        let masked: Vec<&str> = lines
            .iter()
            .zip(&group_of)
            .map(|(l, lg)| if lg == g { *l } else { "" })
            .collect();
        let masked = masked.join("\n");
        if let Err(e) = toml::from_str::<Config>(&masked) {
            errors.push(toml_error(&e, &masked, file));
        }
    }
    if errors.is_empty() {
        errors.push(first);
    }
    Err(ConfigErrors(errors))
}

/// The first segment of a `[table]` or `[[array]]` header line (our tables have bare names).
fn table_header(line: &str) -> Option<String> {
    let l = line.trim();
    let l = l.split_once('#').map_or(l, |(h, _)| h).trim_end();
    let inner = l
        .strip_prefix("[[")
        .and_then(|r| r.strip_suffix("]]"))
        .or_else(|| l.strip_prefix('[').and_then(|r| r.strip_suffix(']')))?;
    let name = inner.split('.').next()?.trim();
    (!name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'))
    .then(|| name.to_string())
}

const MAX_EXTENDS: usize = 8;

/// Reads `path` and the profiles it extends, merging tables so the extending file wins key by
/// key (arrays and values are replaced whole).
///
/// Each file is checked on its own first, so a mistake is reported against the file and line
/// that holds it; only the merged table is then turned into the final config.
fn load_chain(path: &Path, depth: usize) -> Result<Config, ConfigErrors> {
    let (table, parent, own) = chain_table(path, depth)?;
    // A single file: its own parse is the config.
    let Some(parent) = parent else {
        return Ok(own);
    };
    toml::Value::Table(table).try_into::<Config>().map_err(|e| {
        ConfigErrors(vec![ConfigError {
            file: path.display().to_string(),
            line: None,
            message: format!("after merging with `{parent}`: {}", e.message()),
        }])
    })
}

/// The table of `path` with its whole `extends` chain merged in, the name it extends, and
/// the file's own config.
fn chain_table(
    path: &Path,
    depth: usize,
) -> Result<(toml::Table, Option<String>, Config), ConfigErrors> {
    let file = path.display().to_string();
    if depth > MAX_EXTENDS {
        return Err(ConfigErrors(vec![ConfigError {
            file,
            line: None,
            message: format!("`extends` nests deeper than {MAX_EXTENDS} files (a loop?)"),
        }]));
    }
    let text = read(path)?;
    let own = parse_all(&text, &file)?;
    let mut table: toml::Table =
        toml::from_str(&text).map_err(|e| ConfigErrors(vec![toml_error(&e, &text, &file)]))?;
    let extend = table.remove("extend");
    let Some(toml::Value::String(parent)) = table.remove("extends") else {
        if extend.is_some() {
            return Err(ConfigErrors(vec![ConfigError {
                file: file.clone(),
                line: locate(&text, "extend"),
                message: "[extend] adds to the lists of the file named by `extends`, and this file extends none".into(),
            }]));
        }
        return Ok((table, None, own));
    };
    let parent_path = path.parent().unwrap_or(Path::new(".")).join(&parent);
    let (mut base, _, _) = chain_table(&parent_path, depth + 1)?;
    merge(&mut base, table);
    if let Some(toml::Value::Table(extend)) = extend {
        let mut errors = Vec::new();
        append(
            &mut base,
            extend,
            "extend",
            &mut |key: &str, message: String| {
                errors.push(ConfigError {
                    file: file.clone(),
                    line: locate(&text, key),
                    message,
                })
            },
        );
        if !errors.is_empty() {
            return Err(ConfigErrors(errors));
        }
    }
    Ok((base, Some(parent), own))
}

/// Appends each array of `extend` to the array at the same path in `base` (created when the
/// base has none), skipping values it already holds.
fn append(
    base: &mut toml::Table,
    extend: toml::Table,
    at: &str,
    err: &mut dyn FnMut(&str, String),
) {
    for (key, value) in extend {
        let path = format!("{at}.{key}");
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(e)) => append(b, e, &path, err),
            (None, toml::Value::Table(e)) => {
                let mut b = toml::Table::new();
                append(&mut b, e, &path, err);
                base.insert(key, toml::Value::Table(b));
            }
            (Some(toml::Value::Array(b)), toml::Value::Array(e)) => {
                for v in e {
                    if !b.contains(&v) {
                        b.push(v);
                    }
                }
            }
            (None, toml::Value::Array(e)) => {
                base.insert(key, toml::Value::Array(e));
            }
            (_, _) => err(
                &path,
                format!("{path}: only lists can be extended; set other values directly"),
            ),
        }
    }
}

fn read(path: &Path) -> Result<String, ConfigErrors> {
    std::fs::read_to_string(path).map_err(|e| {
        ConfigErrors(vec![ConfigError {
            file: path.display().to_string(),
            line: None,
            message: format!("cannot read: {e}"),
        }])
    })
}

fn merge(base: &mut toml::Table, overlay: toml::Table) {
    for (key, value) in overlay {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(key, v);
            }
        }
    }
}

fn toml_error(e: &toml::de::Error, text: &str, file: &str) -> ConfigError {
    let line = e
        .span()
        .map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1);
    ConfigError {
        file: file.to_string(),
        line,
        message: e.message().trim().to_string(),
    }
}

/// The most worker threads `server.workers` may ask for. Each is a thread with its own
/// runtime; far more than the CPUs only adds scheduling, and a value like 100000 exhausts the
/// process's thread limit at start.
pub const MAX_WORKERS: usize = 256;

/// The line of the key at `path` (`server.workers`, `listener.0.upstream.address`) in `text`,
/// from the toml parser's own spans. `None` when the key is not in this file (a default, or a
/// value from an `extends` profile).
fn locate(text: &str, path: &str) -> Option<usize> {
    use toml::de::{DeTable, DeValue};
    let doc = DeTable::parse(text).ok()?;
    let mut table: &DeTable = doc.get_ref();
    let mut span = None;
    let mut segs = path.split('.').peekable();
    while let Some(seg) = segs.next() {
        let (key, value) = table.get_key_value(seg)?;
        span = Some(key.span());
        let mut value = value;
        // An array of tables: the next segment is the index.
        if let DeValue::Array(items) = value.get_ref() {
            if let Some(i) = segs.peek().and_then(|s| s.parse::<usize>().ok()) {
                segs.next();
                value = items.get(i)?;
                span = Some(value.span());
            }
        }
        match value.get_ref() {
            DeValue::Table(t) => table = t,
            _ => break,
        }
    }
    let start = span?.start.min(text.len());
    Some(text[..start].matches('\n').count() + 1)
}

/// A config error found after loading (building the checks, TLS contexts), in the same
/// `file:line: message` form as every other: the line is that of the key the message starts
/// with (`inspect.deadline …`, `[antivirus] endpoints: …`), when the key is in the file.
pub fn error_at_key(source: &Source, message: String) -> ConfigError {
    let key = match message.strip_prefix('[') {
        Some(rest) => match rest.split_once("] ") {
            Some((section, tail)) => format!(
                "{section}.{}",
                tail.split([':', ' ']).next().unwrap_or_default()
            ),
            None => String::new(),
        },
        None => message
            .split([':', ' '])
            .next()
            .unwrap_or_default()
            .to_string(),
    };
    let line = match source {
        Source::File(p) if key.contains('.') => std::fs::read_to_string(p).ok().and_then(|t| {
            // The key itself, or failing that its section.
            locate(&t, &key).or_else(|| locate(&t, key.split('.').next().unwrap_or_default()))
        }),
        _ => None,
    };
    ConfigError {
        file: source.to_string(),
        line,
        message,
    }
}

fn locate_ok(text: Option<&str>, key: &str) -> bool {
    text.and_then(|t| locate(t, key)).is_some()
}

/// RFC 5321 4.1.2 `Domain` (`sub-domain *("." sub-domain)`, each `Let-dig [Ldh-str]`) or
/// `address-literal` (`[192.0.2.1]`, `[IPv6:2001:db8::1]`), at most 255 octets (RFC 5321
/// 4.5.3.1.2). Anything else — a CR/LF above all — would be sent verbatim in the greeting and
/// in EHLO, where it could end the line and inject SMTP commands or replies.
pub fn valid_smtp_domain(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("is empty".into());
    }
    if s.len() > 255 {
        return Err(format!(
            "is {} octets long; at most 255 are allowed (RFC 5321 4.5.3.1.2)",
            s.len()
        ));
    }
    if s.chars().any(|c| c.is_control()) {
        return Err("contains a control character such as CR or LF".into());
    }
    if let Some(inner) = s.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        let ok = match inner.get(..5) {
            Some(p) if p.eq_ignore_ascii_case("IPv6:") => {
                inner[5..].parse::<std::net::Ipv6Addr>().is_ok()
            }
            _ => inner.parse::<std::net::Ipv4Addr>().is_ok(),
        };
        return if ok {
            Ok(())
        } else {
            Err("is not an address literal such as [192.0.2.1] or [IPv6:2001:db8::1] (RFC 5321 4.1.3)".into())
        };
    }
    for label in s.split('.') {
        let b = label.as_bytes();
        let ldh = b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-');
        if b.is_empty()
            || b.len() > 63
            || !ldh
            || !b[0].is_ascii_alphanumeric()
            || !b[b.len() - 1].is_ascii_alphanumeric()
        {
            return Err(format!(
                "is not a domain: label `{label}` must be 1 to 63 letters, digits or inner `-` (RFC 5321 4.1.2)"
            ));
        }
    }
    Ok(())
}

/// Whether `ip` is an address of this machine: loopback, unspecified (which connects to the
/// local host), or one we can bind to.
fn is_local(ip: std::net::IpAddr) -> bool {
    ip.is_loopback()
        || ip.is_unspecified()
        || std::net::UdpSocket::bind(std::net::SocketAddr::new(ip, 0)).is_ok()
}

/// The addresses an upstream `host:port` names, without DNS: IP literals and `localhost`.
fn upstream_addrs(address: &str) -> Vec<std::net::SocketAddr> {
    if let Ok(a) = address.parse::<std::net::SocketAddr>() {
        return vec![a];
    }
    match address.rsplit_once(':') {
        Some((host, port)) if host.eq_ignore_ascii_case("localhost") => match port.parse() {
            Ok(port) => vec![
                std::net::SocketAddr::from(([127, 0, 0, 1], port)),
                std::net::SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, port)),
            ],
            Err(_) => Vec::new(),
        },
        _ => Vec::new(),
    }
}

/// Whether a connection to `up` would reach the listener bound at `listener`.
fn reaches(up: std::net::SocketAddr, listener: std::net::SocketAddr) -> bool {
    if up.port() != listener.port() {
        return false;
    }
    if up.ip() == listener.ip() {
        return true;
    }
    let (u, l) = (up.ip(), listener.ip());
    // A wildcard listener takes every local address of its family (and [::] usually IPv4 too);
    // an upstream of 0.0.0.0 or [::] connects to the local host.
    (l.is_unspecified() && is_local(u)) || (u.is_unspecified() && is_local(l))
}

/// Checks that types alone cannot: every problem is reported, not just the first, each with
/// the line of its key when the key is in the file.
fn validate(config: &Config, source: &Source, text: Option<&str>) -> Vec<ConfigError> {
    let file = source.to_string();
    let mut errors = Vec::new();
    let mut err = |path: &str, message: String| {
        errors.push(ConfigError {
            file: file.clone(),
            line: text.and_then(|t| locate(t, path)),
            message,
        })
    };
    if config.listeners.is_empty() {
        err("listener", "at least one [[listener]] is needed".into());
    }
    let s = &config.server;
    if s.workers > MAX_WORKERS {
        err(
            "server.workers",
            format!(
                "server.workers = {} is too many: use 1 to {MAX_WORKERS}, or 0 for one per CPU",
                s.workers
            ),
        );
    }
    if let Err(e) = valid_smtp_domain(&s.hostname) {
        let shown: String = s
            .hostname
            .chars()
            .take(64)
            .collect::<String>()
            .escape_debug()
            .to_string();
        err(
            "server.hostname",
            format!("server.hostname `{shown}` {e}; it goes into the greeting and EHLO"),
        );
    }
    let mut timeouts = vec![
        (
            "server.reverse_dns_timeout".to_string(),
            s.reverse_dns_timeout,
        ),
        (
            "limits.command_timeout".into(),
            config.limits.command_timeout,
        ),
        ("limits.data_timeout".into(), config.limits.data_timeout),
        (
            "limits.end_of_data_timeout".into(),
            config.limits.end_of_data_timeout,
        ),
        ("admin.probe_interval".into(), config.admin.probe_interval),
        ("limits.stress_timeout".into(), config.limits.stress_timeout),
        ("limits.stage_timeout".into(), config.limits.stage_timeout),
    ];
    for (i, l) in config.listeners.iter().enumerate() {
        for (k, v) in [
            ("connect_timeout", l.upstream.connect_timeout),
            ("command_timeout", l.upstream.command_timeout),
            ("data_timeout", l.upstream.data_timeout),
        ] {
            timeouts.push((format!("listener.{i}.upstream.{k}"), v));
        }
    }
    for (path, v) in timeouts {
        if v.get().is_zero() {
            let shown = path
                .split_once("upstream.")
                .map(|(_, k)| format!("upstream.{k}"))
                .unwrap_or_else(|| path.clone());
            err(
                &path,
                format!("{shown} must be above zero (a zero timeout fails every wait at once)"),
            );
        }
    }
    let mut names = HashSet::new();
    let mut addresses = HashSet::new();
    for (i, l) in config.listeners.iter().enumerate() {
        let at = format!("listener[{i}] `{}`", l.name);
        let key = |k: &str| format!("listener.{i}.{k}");
        if l.name.is_empty()
            || !l
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            err(
                &key("name"),
                format!("{at}: name must be letters, digits, `-` or `_`"),
            );
        }
        if !names.insert(l.name.clone()) {
            err(&key("name"), format!("{at}: duplicate listener name"));
        }
        if !addresses.insert(l.address) {
            err(
                &key("address"),
                format!("{at}: address {} is used twice", l.address),
            );
        }
        if l.upstream
            .address
            .rsplit_once(':')
            .and_then(|(_, p)| p.parse::<u16>().ok())
            .is_none()
        {
            err(
                &key("upstream.address"),
                format!(
                    "{at}: upstream.address `{}` must be host:port",
                    l.upstream.address
                ),
            );
        }
        // An upstream that is one of our own listeners makes every accepted mail (and every
        // readiness probe) loop back into locthu, opening sessions until the limits are hit.
        for up in upstream_addrs(&l.upstream.address) {
            if let Some(own) = config.listeners.iter().find(|o| reaches(up, o.address)) {
                err(
                    &key("upstream.address"),
                    format!(
                        "{at}: upstream.address `{}` is locthu's own listener `{}` ({}); mail would loop back into locthu",
                        l.upstream.address, own.name, own.address
                    ),
                );
                break;
            }
        }
        if let Some(tls) = &l.tls {
            for (what, p) in [("cert", &tls.cert), ("key", &tls.key)] {
                let p = source.base_dir().join(p);
                if let Err(e) = std::fs::metadata(&p) {
                    err(
                        &key(&format!("tls.{what}")),
                        format!("{at}: tls.{what} {}: {e}", p.display()),
                    );
                }
            }
        }
        if let Some(ca) = &l.upstream.tls_ca {
            let p = source.base_dir().join(ca);
            if let Err(e) = std::fs::metadata(&p) {
                err(
                    &key("upstream.tls_ca"),
                    format!("{at}: upstream.tls_ca {}: {e}", p.display()),
                );
            }
        }
    }
    for d in &config.server.internal_domains {
        let bare = d.trim_start_matches('.');
        if bare.is_empty() || bare.contains(['@', ' ', '/']) {
            err(
                "server.internal_domains",
                format!("server.internal_domains: `{d}` is not a domain"),
            );
        }
    }
    let l = &config.limits;
    if l.command_line_length < 512 {
        err(
            "limits.command_line_length",
            "limits.command_line_length must be at least 512 (RFC 5321 4.5.3.1.4)".into(),
        );
    }
    if l.data_line_length < 1000 {
        err(
            "limits.data_line_length",
            "limits.data_line_length must be at least 1000 (RFC 5321 4.5.3.1.6)".into(),
        );
    }
    if !matches!(
        l.on_stage_timeout,
        crate::engine::Action::Tempfail | crate::engine::Action::Accept
    ) {
        err(
            "limits.on_stage_timeout",
            format!(
                "limits.on_stage_timeout = \"{}\" must be \"tempfail\" or \"accept\"",
                l.on_stage_timeout.as_str()
            ),
        );
    }
    if !(1..=100).contains(&l.stress_at) {
        err(
            "limits.stress_at",
            format!(
                "limits.stress_at = {} must be a percentage of max_connections, 1 to 100",
                l.stress_at
            ),
        );
    }
    for (k, zero) in [
        ("message_size", l.message_size.bytes() == 0),
        ("max_recipients", l.max_recipients == 0),
        ("max_connections", l.max_connections == 0),
        ("max_connections_per_ip", l.max_connections_per_ip == 0),
    ] {
        if zero {
            err(
                &format!("limits.{k}"),
                format!("limits.{k} must be above zero"),
            );
        }
    }
    for problem in crate::state::validate(&config.state) {
        // Each starts with its key (`redis.url is not usable: …`); the line is that key's
        // when it is in the file, else the section's.
        let key = format!(
            "state.{}",
            problem.split([':', ' ']).next().unwrap_or_default()
        );
        let key = if locate_ok(text, &key) {
            key.as_str()
        } else {
            "state"
        };
        err(key, format!("[state] {problem}"));
    }
    for problem in crate::dns::validate(&config.dns) {
        // Each starts with its full key (`dns.attempts: …`); the line is that key's when it is
        // in the file, else the section's.
        let key = problem.split([':', ' ']).next().unwrap_or_default();
        let key = if locate_ok(text, key) { key } else { "dns" };
        err(key, problem.clone());
    }
    if !config.admin.listen.is_empty()
        && config.admin.listen.parse::<std::net::SocketAddr>().is_err()
    {
        err(
            "admin.listen",
            format!(
                "admin.listen `{}` must be ip:port (or \"\" to disable)",
                config.admin.listen
            ),
        );
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_domains() {
        for ok in [
            "mx.angiang.gov.vn",
            "localhost",
            "a-b.c9",
            "[192.0.2.1]",
            "[IPv6:2001:db8::1]",
        ] {
            assert!(valid_smtp_domain(ok).is_ok(), "{ok}");
        }
        let long = format!("{}.vn", "a.".repeat(200));
        for bad in [
            "",
            "mx\r\n250 ok",
            "-mx.vn",
            "mx-.vn",
            "mx..vn",
            "mx_1.vn",
            "[1.2.3]",
            "[::1]",
            long.as_str(),
        ] {
            assert!(valid_smtp_domain(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn locate_finds_keys_in_arrays_of_tables() {
        let t = "[server]\nworkers = 1\n\n[[listener]]\nname = \"a\"\n[[listener]]\nname = \"b\"\n[listener.upstream]\naddress = \"x\"\n";
        assert_eq!(locate(t, "server.workers"), Some(2));
        assert_eq!(locate(t, "listener.1.upstream.address"), Some(9));
        assert_eq!(locate(t, "listener.0.name"), Some(5));
        assert_eq!(locate(t, "limits.data_timeout"), None);
    }

    #[test]
    fn wrong_values_in_several_sections_are_all_reported() {
        let t = "[server]\nworkers = \"many\"\n\n[[listener]]\nname = \"a\"\n[listener.upstream]\nconnect_timeout = 5\n[limits]\nmax_recipients = -1\n";
        let errs = parse_all(t, "f.toml").unwrap_err().0;
        let lines: Vec<_> = errs.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![Some(2), Some(7), Some(9)], "{errs:?}");
        assert_eq!(table_header("[[listener]] # one"), Some("listener".into()));
        assert_eq!(table_header("  [\"a\", \"b\"],"), None);
    }

    #[test]
    fn a_profile_extension_adds_to_lists() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("base.toml"),
            "[server]\ninternal_domains = [\"a.vn\"]\n",
        )
        .unwrap();
        let site = dir.path().join("site.toml");
        std::fs::write(
            &site,
            "extends = \"base.toml\"\n[extend.server]\ninternal_domains = [\"b.vn\", \"a.vn\"]\n",
        )
        .unwrap();
        let c = load_chain(&site, 0).unwrap();
        assert_eq!(c.server.internal_domains, vec!["a.vn", "b.vn"]);
        std::fs::write(
            &site,
            "extends = \"base.toml\"\n[extend.server]\nhostname = \"x\"\n",
        )
        .unwrap();
        let e = load_chain(&site, 0).unwrap_err().0;
        assert!(e[0].message.contains("only lists"), "{e:?}");
        assert_eq!(e[0].line, Some(3));
        std::fs::write(&site, "[extend.server]\ninternal_domains = [\"b.vn\"]\n").unwrap();
        assert!(load_chain(&site, 0).is_err());
    }

    #[test]
    fn upstream_loops() {
        let l: std::net::SocketAddr = "0.0.0.0:2525".parse().unwrap();
        assert!(reaches("127.0.0.1:2525".parse().unwrap(), l));
        assert!(!reaches("127.0.0.1:25".parse().unwrap(), l));
        assert!(reaches(
            "0.0.0.0:2525".parse().unwrap(),
            "127.0.0.1:2525".parse().unwrap()
        ));
        assert!(!reaches("192.0.2.1:2525".parse().unwrap(), l));
    }
}
