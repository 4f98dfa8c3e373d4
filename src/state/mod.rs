//! The state store: small data the anti-spam and policy checks keep between messages and, with
//! Redis, share between nodes. Five shapes: values with a TTL, "seen before" sets, counters over
//! fixed time windows, serde records (values encoded as JSON), and tallies: signed integers read
//! and added to in batches of many keys, one round trip per batch (the Bayesian classifier's
//! token counts). Every entry has a TTL (at most [`MAX_TTL`]), so nothing grows without bound.
//!
//! The gateway opens it once at start ([`Store::open_in`]) and hands the same [`Store`] to each
//! config generation: a reload never reopens it.
//!
//! **Failures are errors, never defaults.** A store that is down, slow or refusing returns a
//! [`StateError`] within its configured timeout; it never answers "not seen", zero or "absent"
//! in its place. The check that called it applies its own fail mode (by default tempfail: 451
//! 4.4.3, the client retries), so a store outage never becomes a silent pass.

mod embedded;
mod redis;

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::config;

/// Longest key (or set member) accepted, in bytes.
pub const MAX_KEY: usize = 512;
/// Longest set name: letters, digits, `_`, `-`, `.`.
pub const MAX_SET_NAME: usize = 64;
/// Largest value or record accepted, in bytes: the store is for small data.
pub const MAX_VALUE: usize = 64 * 1024;
/// Most tallies read or added in one call.
pub const MAX_BATCH: usize = 1_000_000;
/// Longest TTL (and counter window) accepted.
pub const MAX_TTL: Duration = Duration::from_secs(366 * 24 * 3600);

/// Why a state store call failed. The caller applies its fail mode; see the module docs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    /// No answer within the configured timeout (the call may still complete on the store).
    #[error("state store ({backend}) did not answer within {after:?}")]
    Timeout {
        backend: &'static str,
        after: Duration,
    },
    /// Cannot reach or open the store: Redis down or refusing, the file not openable, the
    /// queue of waiting calls full.
    #[error("state store ({backend}) unavailable: {reason}")]
    Unavailable {
        backend: &'static str,
        reason: String,
    },
    /// The store answered with an error (a Redis error reply, a redb storage error).
    #[error("state store ({backend}) failed: {reason}")]
    Backend {
        backend: &'static str,
        reason: String,
    },
    /// The call itself is wrong: empty or oversized key, zero or oversized TTL, value too large.
    #[error("state store: {0}")]
    Invalid(String),
    /// A record could not be encoded, or what is stored under its key is not that record.
    #[error("state store record `{key}`: {reason}")]
    Record { key: String, reason: String },
    /// The `[state]` config cannot be used (a malformed Redis URL).
    #[error("state store config: {0}")]
    Config(String),
    /// The store was closed ([`Store::close`]).
    #[error("state store is closed")]
    Closed,
}

/// The state store handle: cheap to clone, shared by every check and config generation.
///
/// Every call either succeeds or returns a [`StateError`] within the backend's timeout
/// (`state.embedded.timeout`; Redis: `connect_timeout + response_timeout`). Callers must treat
/// an error as "unknown" and apply their fail mode (default tempfail), never as a default value.
#[derive(Clone)]
pub struct Store {
    backend: Backend,
}

#[derive(Clone)]
enum Backend {
    Embedded(embedded::Embedded),
    Redis(redis::Redis),
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend_name())
            .finish()
    }
}

impl Store {
    /// Opens the store `[state]` describes, a relative embedded path taken from the working
    /// directory. See [`Store::open_in`].
    pub fn open(cfg: &config::State) -> Result<Store, StateError> {
        Store::open_in(cfg, Path::new(""))
    }

    /// Opens the store `[state]` describes, a relative embedded path taken from `base` (the
    /// config file's directory). Called once at start; needs no runtime and does no IO that can
    /// fail for an unreachable store: the redb file is created on first use (like the
    /// quarantine directory, so the default config starts as non-root) and Redis is connected
    /// on first use, then reconnected after every outage. Only an unusable config is an error.
    pub fn open_in(cfg: &config::State, base: &Path) -> Result<Store, StateError> {
        let problems = validate(cfg);
        if !problems.is_empty() {
            return Err(StateError::Config(problems.join("; ")));
        }
        let backend = match cfg.backend {
            config::StateBackend::Embedded => Backend::Embedded(embedded::Embedded::start(
                base.join(&cfg.embedded.path),
                &cfg.embedded,
            )?),
            config::StateBackend::Redis => Backend::Redis(redis::Redis::new(&cfg.redis)?),
        };
        Ok(Store { backend })
    }

    /// `embedded` or `redis`, for logs.
    pub fn backend_name(&self) -> &'static str {
        match &self.backend {
            Backend::Embedded(_) => embedded::NAME,
            Backend::Redis(_) => redis::NAME,
        }
    }

    /// Stores `value` under `key` for `ttl`, replacing any earlier value and TTL.
    pub async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), StateError> {
        check_key(key)?;
        check_value(value)?;
        let ttl = ttl_ms(ttl)?;
        let key = value_key(key);
        match &self.backend {
            Backend::Embedded(b) => b.set(key, value.to_vec(), ttl).await,
            Backend::Redis(b) => b.set(&key, value, ttl).await,
        }
    }

    /// The value under `key`, or `None` if there is none or it expired.
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StateError> {
        check_key(key)?;
        let key = value_key(key);
        match &self.backend {
            Backend::Embedded(b) => b.get(key).await,
            Backend::Redis(b) => b.get(&key).await,
        }
    }

    /// Removes `key`; true if it held a live value.
    pub async fn delete(&self, key: &str) -> Result<bool, StateError> {
        check_key(key)?;
        let key = value_key(key);
        match &self.backend {
            Backend::Embedded(b) => b.delete(key).await,
            Backend::Redis(b) => b.delete(&key).await,
        }
    }

    /// Adds `member` to the "seen before" set `set` for `ttl`, atomically: true if it was
    /// already there (then its first TTL stands), false if this call added it. Of concurrent
    /// calls for one member, exactly one gets false.
    pub async fn seen(&self, set: &str, member: &str, ttl: Duration) -> Result<bool, StateError> {
        check_set(set)?;
        check_key(member)?;
        let ttl = ttl_ms(ttl)?;
        let key = seen_key(set, member);
        match &self.backend {
            Backend::Embedded(b) => b.seen(key, ttl).await,
            Backend::Redis(b) => b.seen(&key, ttl).await,
        }
    }

    /// Counts one event for `key` in the current fixed `window` and returns the count so far
    /// in that window (1 for the first). Windows are aligned to the Unix epoch (an hour window
    /// runs from :00 to :00, UTC), so every node and every restart agrees on them; the counter
    /// expires when its window ends.
    pub async fn incr(&self, key: &str, window: Duration) -> Result<u64, StateError> {
        check_key(key)?;
        let len = ttl_ms(window)?;
        match &self.backend {
            Backend::Embedded(b) => b.incr(key.to_string(), len).await,
            Backend::Redis(b) => b.incr(key, len).await,
        }
    }

    /// The tallies under `keys`, in order, in one round trip (embedded: one read transaction;
    /// Redis: one `MGET`). A tally never written, or expired, is 0: for a tally that is its
    /// value, not a default standing in for an unknown.
    pub async fn tallies(&self, keys: &[String]) -> Result<Vec<i64>, StateError> {
        check_batch(keys.len())?;
        let keys = keys
            .iter()
            .map(|k| check_key(k).map(|_| tally_key(k)))
            .collect::<Result<Vec<_>, _>>()?;
        match &self.backend {
            Backend::Embedded(b) => b.tallies(keys).await,
            Backend::Redis(b) => b.tallies(&keys).await,
        }
    }

    /// Adds each delta to its tally and gives every tally touched a fresh `ttl`, in one round
    /// trip (embedded: one write transaction, all or nothing; Redis: one pipeline of
    /// `INCRBY` + `PEXPIRE`, not atomic as a whole and never retried, since Redis may have run
    /// part of it). A key may appear more than once; its deltas add up.
    pub async fn add_tallies(
        &self,
        deltas: &[(String, i64)],
        ttl: Duration,
    ) -> Result<(), StateError> {
        check_batch(deltas.len())?;
        let ttl = ttl_ms(ttl)?;
        let deltas = deltas
            .iter()
            .map(|(k, d)| check_key(k).map(|_| (tally_key(k), *d)))
            .collect::<Result<Vec<_>, _>>()?;
        if deltas.is_empty() {
            return Ok(());
        }
        match &self.backend {
            Backend::Embedded(b) => b.add_tallies(deltas, ttl).await,
            Backend::Redis(b) => b.add_tallies(&deltas, ttl).await,
        }
    }

    /// Stores a serde record (as JSON) under `key` for `ttl`; see [`Store::set`].
    pub async fn put_record<T: Serialize + ?Sized>(
        &self,
        key: &str,
        record: &T,
        ttl: Duration,
    ) -> Result<(), StateError> {
        let bytes = serde_json::to_vec(record).map_err(|e| StateError::Record {
            key: key.to_string(),
            reason: e.to_string(),
        })?;
        self.set(key, &bytes, ttl).await
    }

    /// The record under `key`; a stored value that is not a `T` is an error, not `None`.
    pub async fn get_record<T: DeserializeOwned>(
        &self,
        key: &str,
    ) -> Result<Option<T>, StateError> {
        match self.get(key).await? {
            None => Ok(None),
            Some(bytes) => {
                serde_json::from_slice(&bytes)
                    .map(Some)
                    .map_err(|e| StateError::Record {
                        key: key.to_string(),
                        reason: e.to_string(),
                    })
            }
        }
    }

    /// Checks the store answers (for readiness): opens the file, or PINGs Redis.
    pub async fn ping(&self) -> Result<(), StateError> {
        match &self.backend {
            Backend::Embedded(b) => b.ping().await,
            Backend::Redis(b) => b.ping().await,
        }
    }

    /// Closes the store for every clone: the embedded file is released (another process, or
    /// a new `open`, may then use it) once this returns. Later calls get [`StateError::Closed`].
    pub async fn close(&self) {
        match &self.backend {
            Backend::Embedded(b) => b.close().await,
            Backend::Redis(b) => b.close(),
        }
    }
}

/// Every problem of a `[state]` section, as `key: why` lines (empty when it is usable).
pub fn validate(cfg: &config::State) -> Vec<String> {
    let mut errs = Vec::new();
    match cfg.backend {
        config::StateBackend::Embedded => {
            let e = &cfg.embedded;
            if e.path.as_os_str().is_empty() {
                errs.push("embedded.path: must name a file".into());
            }
            for (key, span) in [("timeout", e.timeout), ("sweep_interval", e.sweep_interval)] {
                if span.get().is_zero() {
                    errs.push(format!("embedded.{key} must be above zero"));
                }
            }
            if e.sweep_batch == 0 || e.sweep_batch > 100_000 {
                errs.push("embedded.sweep_batch: 1 to 100000 entries per transaction".into());
            }
        }
        config::StateBackend::Redis => {
            let r = &cfg.redis;
            if let Err(e) = ::redis::Client::open(r.url.as_str()) {
                // The URL may hold a password: name the problem, not the URL.
                errs.push(format!("redis.url is not usable: {e}"));
            }
            if r.prefix.len() > 64 {
                errs.push("redis.prefix: at most 64 bytes".into());
            }
            for (key, span) in [
                ("connect_timeout", r.connect_timeout),
                ("response_timeout", r.response_timeout),
            ] {
                if span.get().is_zero() {
                    errs.push(format!("redis.{key} must be above zero"));
                }
            }
        }
    }
    errs
}

// Key layout, the same in both backends (Redis puts `redis.prefix` in front):
//   v:{key}                       a value or record
//   s:{set}:{member}              a "seen before" member (set names hold no `:`)
//   c:{key}:{window_ms}:{index}   a counter; the last two fields are always numbers, so
//                                 distinct (key, window) pairs never share a name.
//   t:{key}                       a tally (embedded: 8 bytes, little-endian i64; Redis: the
//                                 decimal integer INCRBY keeps)

fn value_key(key: &str) -> String {
    format!("v:{key}")
}

fn seen_key(set: &str, member: &str) -> String {
    format!("s:{set}:{member}")
}

fn tally_key(key: &str) -> String {
    format!("t:{key}")
}

fn counter_key(key: &str, window: Window) -> String {
    format!("c:{key}:{}:{}", window.len_ms, window.index)
}

/// One fixed window: the `index`-th span of `len_ms` milliseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Window {
    len_ms: u64,
    index: u64,
}

impl Window {
    /// The window of length `len_ms` (at least 1) that holds `now_ms`.
    fn at(now_ms: u64, len_ms: u64) -> Window {
        let len_ms = len_ms.max(1);
        Window {
            len_ms,
            index: now_ms / len_ms,
        }
    }

    /// When the window ends (exclusive), in ms since the epoch.
    fn end_ms(self) -> u64 {
        self.index.saturating_add(1).saturating_mul(self.len_ms)
    }

    /// Time left in the window at `now_ms`, at least 1 ms: the counter's TTL.
    fn remaining_ms(self, now_ms: u64) -> u64 {
        self.end_ms().saturating_sub(now_ms).max(1)
    }
}

/// Wall-clock milliseconds since the epoch: expiry times must survive a restart.
fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A TTL or window in whole milliseconds, 1 ms to [`MAX_TTL`].
fn ttl_ms(ttl: Duration) -> Result<u64, StateError> {
    if ttl > MAX_TTL {
        return Err(StateError::Invalid(format!(
            "TTL {ttl:?} is longer than {} days",
            MAX_TTL.as_secs() / 86400
        )));
    }
    let ms = ttl.as_millis() as u64;
    if ms == 0 {
        return Err(StateError::Invalid(
            "TTL must be at least 1 ms (every entry expires)".into(),
        ));
    }
    Ok(ms)
}

fn check_key(key: &str) -> Result<(), StateError> {
    if key.is_empty() {
        return Err(StateError::Invalid("empty key".into()));
    }
    if key.len() > MAX_KEY {
        return Err(StateError::Invalid(format!(
            "key of {} bytes (at most {MAX_KEY})",
            key.len()
        )));
    }
    Ok(())
}

fn check_batch(n: usize) -> Result<(), StateError> {
    if n > MAX_BATCH {
        return Err(StateError::Invalid(format!(
            "{n} tallies in one call (at most {MAX_BATCH})"
        )));
    }
    Ok(())
}

fn check_set(set: &str) -> Result<(), StateError> {
    let ok = !set.is_empty()
        && set.len() <= MAX_SET_NAME
        && set
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(StateError::Invalid(format!(
            "set name `{}`: 1 to {MAX_SET_NAME} letters, digits, `_`, `-`, `.`",
            set.escape_debug()
        )))
    }
}

fn check_value(value: &[u8]) -> Result<(), StateError> {
    if value.len() > MAX_VALUE {
        return Err(StateError::Invalid(format!(
            "value of {} bytes (at most {MAX_VALUE})",
            value.len()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_namespaced_and_never_collide() {
        assert_eq!(value_key("greylist:1.2.3.4"), "v:greylist:1.2.3.4");
        assert_eq!(seen_key("msgid", "<a@b>"), "s:msgid:<a@b>");
        let w = Window::at(7_200_500, 3_600_000);
        assert_eq!(counter_key("rcpt:a@b", w), "c:rcpt:a@b:3600000:2");
        // A key ending in digits and another window cannot produce the same name.
        let a = counter_key("x:10", Window::at(5, 1));
        let b = counter_key("x", Window::at(50, 10));
        assert_ne!(a, b);
        // Kinds never share a name.
        assert_ne!(value_key("s:msgid:m"), seen_key("msgid", "m"));
    }

    #[test]
    fn windows_are_aligned_to_the_epoch() {
        let w = Window::at(3_599_999, 3_600_000);
        assert_eq!(w.index, 0);
        assert_eq!(w.end_ms(), 3_600_000);
        assert_eq!(w.remaining_ms(3_599_999), 1);
        let next = Window::at(3_600_000, 3_600_000);
        assert_eq!(next.index, 1);
        assert_eq!(next.remaining_ms(3_600_000), 3_600_000);
        // At or past its end a window still expires after at least 1 ms, never "never".
        assert_eq!(w.remaining_ms(4_000_000), 1);
        assert_eq!(Window::at(u64::MAX, 1).end_ms(), u64::MAX);
    }

    #[test]
    fn ttls_are_bounded_both_ways() {
        assert_eq!(ttl_ms(Duration::from_millis(250)).unwrap(), 250);
        assert!(matches!(
            ttl_ms(Duration::ZERO),
            Err(StateError::Invalid(_))
        ));
        assert!(ttl_ms(Duration::from_micros(999)).is_err());
        assert!(ttl_ms(MAX_TTL).is_ok());
        assert!(ttl_ms(MAX_TTL + Duration::from_secs(1)).is_err());
    }

    #[test]
    fn names_are_checked() {
        assert!(check_key("").is_err());
        assert!(check_key(&"k".repeat(MAX_KEY)).is_ok());
        assert!(check_key(&"k".repeat(MAX_KEY + 1)).is_err());
        assert!(check_set("msg-id_v1.2").is_ok());
        assert!(check_set("a:b").is_err());
        assert!(check_set("").is_err());
        assert!(check_value(&[0; MAX_VALUE]).is_ok());
        assert!(check_value(&[0; MAX_VALUE + 1]).is_err());
    }

    #[test]
    fn the_section_parses_strictly() {
        let embedded = config::parse_str(config::EMBEDDED_DEFAULT, "default").unwrap();
        let d = config::State::default();
        assert_eq!(embedded.state.backend, d.backend);
        assert_eq!(embedded.state.embedded.path, d.embedded.path);
        assert_eq!(embedded.state.redis.url, d.redis.url);
        assert_eq!(
            embedded.state.redis.response_timeout,
            d.redis.response_timeout
        );
        let cfg = config::parse_str(
            "[state]\nbackend = \"redis\"\n[state.redis]\nprefix = \"hcm:\"\n",
            "t",
        )
        .unwrap();
        assert_eq!(cfg.state.backend, config::StateBackend::Redis);
        assert_eq!(cfg.state.redis.prefix, "hcm:");
        assert!(config::parse_str("[state]\nbackend = \"memory\"\n", "t").is_err());
        assert!(config::parse_str("[state.redis]\nurl2 = \"x\"\n", "t").is_err());
    }

    #[test]
    fn config_problems_are_all_reported() {
        let mut cfg = config::State::default();
        assert!(validate(&cfg).is_empty());
        cfg.embedded.sweep_batch = 0;
        cfg.embedded.timeout = config::Span(Duration::ZERO);
        assert_eq!(validate(&cfg).len(), 2);
        cfg.backend = config::StateBackend::Redis;
        assert!(validate(&cfg).is_empty());
        cfg.redis.url = "http://secret@example".into();
        cfg.redis.response_timeout = config::Span(Duration::ZERO);
        let errs = validate(&cfg);
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert!(!errs.join(" ").contains("secret"), "{errs:?}");
        assert!(matches!(Store::open(&cfg), Err(StateError::Config(_))));
    }
}
