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
    let errors = validate(&config, &source);
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
    let own = parse_str(&text, &file).map_err(|e| ConfigErrors(vec![e]))?;
    let mut table: toml::Table =
        toml::from_str(&text).map_err(|e| ConfigErrors(vec![toml_error(&e, &text, &file)]))?;
    let Some(toml::Value::String(parent)) = table.remove("extends") else {
        return Ok((table, None, own));
    };
    let parent_path = path.parent().unwrap_or(Path::new(".")).join(&parent);
    let (mut base, _, _) = chain_table(&parent_path, depth + 1)?;
    merge(&mut base, table);
    Ok((base, Some(parent), own))
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

/// Checks that types alone cannot: every problem is reported, not just the first.
fn validate(config: &Config, source: &Source) -> Vec<ConfigError> {
    let file = source.to_string();
    let mut errors = Vec::new();
    let mut err = |message: String| {
        errors.push(ConfigError {
            file: file.clone(),
            line: None,
            message,
        })
    };
    if config.listeners.is_empty() {
        err("at least one [[listener]] is needed".into());
    }
    let mut names = HashSet::new();
    let mut addresses = HashSet::new();
    for (i, l) in config.listeners.iter().enumerate() {
        let at = format!("listener[{i}] `{}`", l.name);
        if l.name.is_empty()
            || !l
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            err(format!("{at}: name must be letters, digits, `-` or `_`"));
        }
        if !names.insert(l.name.clone()) {
            err(format!("{at}: duplicate listener name"));
        }
        if !addresses.insert(l.address) {
            err(format!("{at}: address {} is used twice", l.address));
        }
        if l.upstream
            .address
            .rsplit_once(':')
            .and_then(|(_, p)| p.parse::<u16>().ok())
            .is_none()
        {
            err(format!(
                "{at}: upstream.address `{}` must be host:port",
                l.upstream.address
            ));
        }
        if let Some(tls) = &l.tls {
            for (what, p) in [("cert", &tls.cert), ("key", &tls.key)] {
                let p = source.base_dir().join(p);
                if let Err(e) = std::fs::metadata(&p) {
                    err(format!("{at}: tls.{what} {}: {e}", p.display()));
                }
            }
        }
        if let Some(ca) = &l.upstream.tls_ca {
            let p = source.base_dir().join(ca);
            if let Err(e) = std::fs::metadata(&p) {
                err(format!("{at}: upstream.tls_ca {}: {e}", p.display()));
            }
        }
    }
    for d in &config.server.internal_domains {
        let bare = d.trim_start_matches('.');
        if bare.is_empty() || bare.contains(['@', ' ', '/']) {
            err(format!("server.internal_domains: `{d}` is not a domain"));
        }
    }
    let l = &config.limits;
    if l.command_line_length < 512 {
        err("limits.command_line_length must be at least 512 (RFC 5321 4.5.3.1.4)".into());
    }
    if l.data_line_length < 1000 {
        err("limits.data_line_length must be at least 1000 (RFC 5321 4.5.3.1.6)".into());
    }
    if l.message_size.bytes() == 0
        || l.max_recipients == 0
        || l.max_connections == 0
        || l.max_connections_per_ip == 0
    {
        err("limits: message_size, max_recipients, max_connections and max_connections_per_ip must be above zero".into());
    }
    if !config.admin.listen.is_empty()
        && config.admin.listen.parse::<std::net::SocketAddr>().is_err()
    {
        err(format!(
            "admin.listen `{}` must be ip:port (or \"\" to disable)",
            config.admin.listen
        ));
    }
    errors
}
