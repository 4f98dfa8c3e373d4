//! The Redis backend, for several nodes sharing one store: the `redis` crate's connection
//! manager (one multiplexed connection, reconnected after a failure), a deadline on every call,
//! `redis.prefix` before every key, a TTL on every key.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Cmd, FromRedisValue, Pipeline, RedisError};

use super::{counter_key, now_ms, StateError, Window};
use crate::config;

pub(super) const NAME: &str = "redis";

/// A handle to one Redis; the connection is made on the first call.
#[derive(Clone)]
pub(super) struct Redis {
    inner: Arc<Inner>,
}

struct Inner {
    client: redis::Client,
    config: ConnectionManagerConfig,
    /// Made on the first call, inside the runtime that makes it (the manager spawns its
    /// connection's driver task there); then shared.
    manager: Mutex<Option<ConnectionManager>>,
    prefix: String,
    response_timeout: Duration,
    /// A whole call, retry included: a (re)connection and then the reply.
    deadline: Duration,
    closed: AtomicBool,
}

/// One query, a command or a MULTI/EXEC pipeline.
#[derive(Clone, Copy)]
enum Query<'a> {
    Cmd(&'a Cmd),
    Pipe(&'a Pipeline),
}

impl Redis {
    pub(super) fn new(cfg: &config::StateRedis) -> Result<Self, StateError> {
        let client = redis::Client::open(cfg.url.as_str())
            .map_err(|e| StateError::Config(format!("redis.url: {e}")))?;
        let connect = cfg.connect_timeout.get();
        let response = cfg.response_timeout.get();
        // One connection attempt per (re)connection, no backoff: during an outage each call
        // fails fast (or at its deadline) and the next call tries again, so nothing waits on a
        // long retry schedule and the first call after Redis is back succeeds.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(connect))
            .set_response_timeout(Some(response))
            .set_number_of_retries(0);
        Ok(Redis {
            inner: Arc::new(Inner {
                client,
                config,
                manager: Mutex::new(None),
                prefix: cfg.prefix.clone(),
                response_timeout: response,
                deadline: connect + response,
                closed: AtomicBool::new(false),
            }),
        })
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.inner.prefix)
    }

    fn manager(&self) -> Result<ConnectionManager, StateError> {
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(StateError::Closed);
        }
        let mut slot = self
            .inner
            .manager
            .lock()
            .map_err(|_| backend("internal: connection lock poisoned".into()))?;
        if let Some(m) = slot.as_ref() {
            return Ok(m.clone());
        }
        let m = ConnectionManager::new_lazy_with_config(
            self.inner.client.clone(),
            self.inner.config.clone(),
        )
        .map_err(|e| map_error(e, self.inner.response_timeout))?;
        *slot = Some(m.clone());
        Ok(m)
    }

    /// Runs `q` within the deadline. A query that cannot have reached Redis (connection
    /// refused) is tried once more on a fresh connection; an idempotent one after any
    /// connection failure too. `SET NX` and `INCR` are not retried after a dropped connection:
    /// Redis may have run them, and a second run would count twice or see its own write.
    async fn query<T: FromRedisValue>(
        &self,
        q: Query<'_>,
        idempotent: bool,
    ) -> Result<T, StateError> {
        let attempt = || async {
            let mut con = self.manager().map_err(|e| (false, e))?;
            let r = match q {
                Query::Cmd(c) => c.query_async::<T>(&mut con).await,
                Query::Pipe(p) => p.query_async::<T>(&mut con).await,
            };
            r.map_err(|e| (retryable(&e, idempotent), e))
                .map_err(|(retry, e)| (retry, map_error(e, self.inner.response_timeout)))
        };
        let run = async {
            match attempt().await {
                Ok(v) => Ok(v),
                Err((true, _)) => attempt().await.map_err(|(_, e)| e),
                Err((false, e)) => Err(e),
            }
        };
        match tokio::time::timeout(self.inner.deadline, run).await {
            Ok(r) => r,
            Err(_) => Err(StateError::Timeout {
                backend: NAME,
                after: self.inner.deadline,
            }),
        }
    }

    pub(super) async fn set(&self, key: &str, value: &[u8], ttl_ms: u64) -> Result<(), StateError> {
        let mut c = redis::cmd("SET");
        c.arg(self.key(key)).arg(value).arg("PX").arg(ttl_ms);
        self.query::<()>(Query::Cmd(&c), true).await
    }

    pub(super) async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StateError> {
        let mut c = redis::cmd("GET");
        c.arg(self.key(key));
        self.query(Query::Cmd(&c), true).await
    }

    pub(super) async fn delete(&self, key: &str) -> Result<bool, StateError> {
        let mut c = redis::cmd("DEL");
        c.arg(self.key(key));
        Ok(self.query::<u64>(Query::Cmd(&c), true).await? > 0)
    }

    /// `SET k 1 NX PX ttl`: OK when this call added it, nil when it was there.
    pub(super) async fn seen(&self, key: &str, ttl_ms: u64) -> Result<bool, StateError> {
        let mut c = redis::cmd("SET");
        c.arg(self.key(key)).arg(1).arg("NX").arg("PX").arg(ttl_ms);
        let added: Option<String> = self.query(Query::Cmd(&c), false).await?;
        Ok(added.is_none())
    }

    /// `MULTI INCR k PEXPIRE k <rest of the window> EXEC`: the TTL is relative, so a clock
    /// difference between this node and Redis cannot make a counter live forever.
    pub(super) async fn incr(&self, key: &str, window_ms: u64) -> Result<u64, StateError> {
        let now = now_ms();
        let window = Window::at(now, window_ms);
        let key = self.key(&counter_key(key, window));
        let mut p = redis::pipe();
        p.atomic()
            .cmd("INCR")
            .arg(&key)
            .cmd("PEXPIRE")
            .arg(&key)
            .arg(window.remaining_ms(now))
            .ignore();
        let (count,): (u64,) = self.query(Query::Pipe(&p), false).await?;
        Ok(count)
    }

    /// `MGET`: one round trip for the whole batch; idempotent, so retried after a dropped
    /// connection.
    pub(super) async fn tallies(&self, keys: &[String]) -> Result<Vec<i64>, StateError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut c = redis::cmd("MGET");
        for k in keys {
            c.arg(self.key(k));
        }
        let values: Vec<Option<i64>> = self.query(Query::Cmd(&c), true).await?;
        if values.len() != keys.len() {
            return Err(backend(format!(
                "MGET of {} keys answered {} values",
                keys.len(),
                values.len()
            )));
        }
        Ok(values.into_iter().map(|v| v.unwrap_or(0)).collect())
    }

    /// One pipeline of `INCRBY k d` + `PEXPIRE k ttl` per tally. Not MULTI: a batch of a
    /// hundred thousand keys would hold every other client for its whole run; each key's pair
    /// is consistent on its own, and that is all a tally needs. Not retried (INCRBY twice would
    /// count twice).
    pub(super) async fn add_tallies(
        &self,
        deltas: &[(String, i64)],
        ttl_ms: u64,
    ) -> Result<(), StateError> {
        let mut p = redis::pipe();
        for (k, d) in deltas {
            let key = self.key(k);
            p.cmd("INCRBY")
                .arg(&key)
                .arg(*d)
                .ignore()
                .cmd("PEXPIRE")
                .arg(&key)
                .arg(ttl_ms)
                .ignore();
        }
        self.query::<()>(Query::Pipe(&p), false).await
    }

    pub(super) async fn ping(&self) -> Result<(), StateError> {
        let c = redis::cmd("PING");
        self.query::<()>(Query::Cmd(&c), true).await
    }

    pub(super) fn close(&self) {
        self.inner.closed.store(true, Ordering::Release);
        if let Ok(mut slot) = self.inner.manager.lock() {
            slot.take();
        }
    }
}

fn retryable(e: &RedisError, idempotent: bool) -> bool {
    e.is_connection_refusal()
        || (idempotent && (e.is_io_error() || e.is_connection_dropped() || e.is_timeout()))
}

fn backend(reason: String) -> StateError {
    StateError::Backend {
        backend: NAME,
        reason,
    }
}

fn map_error(e: RedisError, response_timeout: Duration) -> StateError {
    if e.is_timeout() {
        StateError::Timeout {
            backend: NAME,
            after: response_timeout,
        }
    } else if e.is_io_error() || e.is_connection_dropped() || e.is_connection_refusal() {
        StateError::Unavailable {
            backend: NAME,
            reason: e.to_string(),
        }
    } else {
        backend(e.to_string())
    }
}
