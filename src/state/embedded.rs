//! The embedded backend: one redb file (ACID, crash-safe, one writer), for a single node.
//!
//! redb has no TTL, so each entry stores its expiry time and an index table orders entries by
//! expiry: reads treat an expired entry as absent, every write transaction removes a few expired
//! entries, and a periodic sweep removes up to `sweep_batch` per transaction.
//!
//! redb calls block (a commit fsyncs), so none runs on an async worker: one thread owns the
//! database and serves calls from a bounded queue. It takes every call waiting and runs them in
//! one write transaction with one fsync (group commit): redb allows a single writer anyway, so
//! calls on `spawn_blocking` threads would only queue on its lock and fsync one by one.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender, TryRecvError, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use redb::{Database, ReadableTable, Table, TableDefinition};
use tokio::sync::oneshot;
use tracing::{debug, warn};

use super::{counter_key, now_ms, StateError, Window};
use crate::config;

pub(super) const NAME: &str = "embedded";

/// Key → (expires at, ms since the epoch; value).
const VALUES: TableDefinition<&str, (u64, &[u8])> = TableDefinition::new("values");
/// (expires at, key) → (): the expiry index, in the order entries expire.
const EXPIRY: TableDefinition<(u64, &str), ()> = TableDefinition::new("expiry");

/// Calls that may wait for the database thread; past it a call is refused at once.
const QUEUE: usize = 1024;
/// Calls run in one transaction at most.
const BATCH: usize = 256;
/// Tally expiry granularity (see `Op::AddTallies`).
const HOUR_MS: u64 = 3_600_000;
/// Expired entries each write transaction removes on the way.
const ACCESS_SWEEP: usize = 16;

/// A handle to the database thread.
#[derive(Clone)]
pub(super) struct Embedded {
    inner: Arc<Inner>,
}

struct Inner {
    tx: SyncSender<Request>,
    timeout: Duration,
}

enum Op {
    Set {
        key: String,
        value: Vec<u8>,
        ttl_ms: u64,
    },
    Get {
        key: String,
    },
    Delete {
        key: String,
    },
    Seen {
        key: String,
        ttl_ms: u64,
    },
    Incr {
        key: String,
        window_ms: u64,
    },
    Tallies {
        keys: Vec<String>,
    },
    AddTallies {
        deltas: Vec<(String, i64)>,
        ttl_ms: u64,
    },
    Ping,
    Close,
}

impl Op {
    /// Whether the call only reads: a batch of such calls runs in a read transaction.
    fn reads_only(&self) -> bool {
        matches!(self, Op::Get { .. } | Op::Tallies { .. } | Op::Ping)
    }
}

enum Reply {
    Unit,
    Value(Option<Vec<u8>>),
    Bool(bool),
    Count(u64),
    Tallies(Vec<i64>),
}

struct Request {
    op: Op,
    reply: oneshot::Sender<Result<Reply, StateError>>,
}

impl Embedded {
    /// Starts the database thread; the file is opened (created) on the first call.
    pub(super) fn start(path: PathBuf, cfg: &config::StateEmbedded) -> Result<Self, StateError> {
        let (tx, rx) = mpsc::sync_channel(QUEUE);
        let sweep = Sweep {
            interval: cfg.sweep_interval.get(),
            batch: cfg.sweep_batch.max(1),
        };
        std::thread::Builder::new()
            .name("locthu-state".into())
            .spawn(move || run(path, rx, sweep))
            .map_err(|e| unavailable(format!("cannot start the database thread: {e}")))?;
        Ok(Embedded {
            inner: Arc::new(Inner {
                tx,
                timeout: cfg.timeout.get(),
            }),
        })
    }

    async fn call(&self, op: Op) -> Result<Reply, StateError> {
        let (reply, rx) = oneshot::channel();
        match self.inner.tx.try_send(Request { op, reply }) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                return Err(unavailable(format!("{QUEUE} calls already waiting")))
            }
            Err(TrySendError::Disconnected(_)) => return Err(StateError::Closed),
        }
        match tokio::time::timeout(self.inner.timeout, rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(StateError::Closed),
            Err(_) => Err(StateError::Timeout {
                backend: NAME,
                after: self.inner.timeout,
            }),
        }
    }

    pub(super) async fn set(
        &self,
        key: String,
        value: Vec<u8>,
        ttl_ms: u64,
    ) -> Result<(), StateError> {
        self.call(Op::Set { key, value, ttl_ms }).await.map(|_| ())
    }

    pub(super) async fn get(&self, key: String) -> Result<Option<Vec<u8>>, StateError> {
        match self.call(Op::Get { key }).await? {
            Reply::Value(v) => Ok(v),
            _ => Err(mismatch()),
        }
    }

    pub(super) async fn delete(&self, key: String) -> Result<bool, StateError> {
        match self.call(Op::Delete { key }).await? {
            Reply::Bool(b) => Ok(b),
            _ => Err(mismatch()),
        }
    }

    pub(super) async fn seen(&self, key: String, ttl_ms: u64) -> Result<bool, StateError> {
        match self.call(Op::Seen { key, ttl_ms }).await? {
            Reply::Bool(b) => Ok(b),
            _ => Err(mismatch()),
        }
    }

    pub(super) async fn incr(&self, key: String, window_ms: u64) -> Result<u64, StateError> {
        match self.call(Op::Incr { key, window_ms }).await? {
            Reply::Count(n) => Ok(n),
            _ => Err(mismatch()),
        }
    }

    pub(super) async fn tallies(&self, keys: Vec<String>) -> Result<Vec<i64>, StateError> {
        match self.call(Op::Tallies { keys }).await? {
            Reply::Tallies(v) => Ok(v),
            _ => Err(mismatch()),
        }
    }

    pub(super) async fn add_tallies(
        &self,
        deltas: Vec<(String, i64)>,
        ttl_ms: u64,
    ) -> Result<(), StateError> {
        self.call(Op::AddTallies { deltas, ttl_ms })
            .await
            .map(|_| ())
    }

    pub(super) async fn ping(&self) -> Result<(), StateError> {
        self.call(Op::Ping).await.map(|_| ())
    }

    /// Asks the thread to finish the calls before this one, release the file and stop; waits
    /// for that (at most the timeout).
    pub(super) async fn close(&self) {
        let _ = self.call(Op::Close).await;
    }
}

fn unavailable(reason: String) -> StateError {
    StateError::Unavailable {
        backend: NAME,
        reason,
    }
}

fn mismatch() -> StateError {
    StateError::Backend {
        backend: NAME,
        reason: "internal: reply of the wrong kind".into(),
    }
}

fn storage(e: impl Into<redb::Error>) -> StateError {
    StateError::Backend {
        backend: NAME,
        reason: e.into().to_string(),
    }
}

#[derive(Clone, Copy)]
struct Sweep {
    interval: Duration,
    batch: usize,
}

/// The database thread: serves batches of calls, sweeps between them, ends when every handle
/// is gone or on `Close`.
fn run(path: PathBuf, rx: mpsc::Receiver<Request>, sweep: Sweep) {
    let mut db: Option<Database> = None;
    let mut open_failing = false;
    let mut next_sweep = Instant::now() + sweep.interval;
    loop {
        let first = match rx.recv_timeout(next_sweep.saturating_duration_since(Instant::now())) {
            Ok(r) => Some(r),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => break,
        };
        if let Some(first) = first {
            let mut batch = vec![first];
            while batch.len() < BATCH {
                match rx.try_recv() {
                    Ok(r) => batch.push(r),
                    Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
                }
            }
            let close = batch.iter().position(|r| matches!(r.op, Op::Close));
            let closing = close.map(|i| batch.split_off(i));
            if !batch.is_empty() {
                serve(&mut db, &path, &mut open_failing, batch);
            }
            if let Some(closing) = closing {
                // Release the file before answering, so a new open right after succeeds.
                drop(db.take());
                let mut closing = closing.into_iter();
                if let Some(r) = closing.next() {
                    let _ = r.reply.send(Ok(Reply::Unit));
                }
                for r in closing {
                    let _ = r.reply.send(Err(StateError::Closed));
                }
                return;
            }
        }
        if Instant::now() >= next_sweep {
            next_sweep = Instant::now() + sweep.interval;
            if let Some(db) = &db {
                match sweep_once(db, now_ms(), sweep.batch) {
                    // A full batch: more may be expired; continue after the waiting calls.
                    Ok(n) if n == sweep.batch => next_sweep = Instant::now(),
                    Ok(n) => debug!(removed = n, "state store swept"),
                    Err(e) => warn!(error = %e, "state store sweep failed"),
                }
            }
        }
    }
}

/// Runs one batch of calls in one transaction and answers each.
fn serve(db: &mut Option<Database>, path: &Path, open_failing: &mut bool, batch: Vec<Request>) {
    if db.is_none() {
        match open(path) {
            Ok(opened) => {
                if *open_failing {
                    warn!(path = %path.display(), "state store opened");
                }
                *open_failing = false;
                *db = Some(opened);
            }
            Err(e) => {
                if !*open_failing {
                    warn!(error = %e, "state store cannot be opened; calls fail until it can");
                }
                *open_failing = true;
                for r in batch {
                    let _ = r.reply.send(Err(e.clone()));
                }
                return;
            }
        }
    }
    let Some(db) = db.as_ref() else { return };
    let (ops, replies): (Vec<Op>, Vec<_>) = batch.into_iter().map(|r| (r.op, r.reply)).unzip();
    match apply_batch(db, &ops, now_ms()) {
        Ok(results) => {
            for (reply, result) in replies.into_iter().zip(results) {
                let _ = reply.send(Ok(result));
            }
        }
        Err(e) => {
            for reply in replies {
                let _ = reply.send(Err(e.clone()));
            }
        }
    }
}

/// Creates the file (and its directory) if needed and its tables, so reads find them.
fn open(path: &Path) -> Result<Database, StateError> {
    let cannot = |e: String| unavailable(format!("cannot open {}: {e}", path.display()));
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| cannot(e.to_string()))?;
    }
    let db = Database::create(path).map_err(|e| cannot(e.to_string()))?;
    let txn = db.begin_write().map_err(|e| cannot(e.to_string()))?;
    txn.open_table(VALUES).map_err(|e| cannot(e.to_string()))?;
    txn.open_table(EXPIRY).map_err(|e| cannot(e.to_string()))?;
    txn.commit().map_err(|e| cannot(e.to_string()))?;
    Ok(db)
}

/// The calls in order, in one write transaction: committed (one fsync) if any call wrote.
/// A storage error fails the whole batch; nothing of it is committed. A batch that only reads
/// runs in a read transaction instead, which takes no writer lock and needs no abort.
fn apply_batch(db: &Database, ops: &[Op], now: u64) -> Result<Vec<Reply>, StateError> {
    if ops.iter().all(Op::reads_only) {
        return read_batch(db, ops, now);
    }
    let txn = db.begin_write().map_err(storage)?;
    let mut results = Vec::with_capacity(ops.len());
    let mut wrote = false;
    {
        let mut t = Tables {
            values: txn.open_table(VALUES).map_err(storage)?,
            expiry: txn.open_table(EXPIRY).map_err(storage)?,
        };
        for op in ops {
            let (reply, w) = t.apply(op, now).map_err(storage)?;
            wrote |= w;
            results.push(reply);
        }
        if wrote {
            t.sweep(now, ACCESS_SWEEP).map_err(storage)?;
        }
    }
    if wrote {
        txn.commit().map_err(storage)?;
    } else {
        txn.abort().map_err(storage)?;
    }
    Ok(results)
}

/// A batch of reads in one read transaction.
fn read_batch(db: &Database, ops: &[Op], now: u64) -> Result<Vec<Reply>, StateError> {
    use redb::ReadableDatabase;
    let txn = db.begin_read().map_err(storage)?;
    let values = txn.open_table(VALUES).map_err(storage)?;
    ops.iter()
        .map(|op| {
            Ok(match op {
                Op::Get { key } => Reply::Value(live(&values, key, now)?.map(|(_, v)| v)),
                Op::Tallies { keys } => {
                    // In key order: consecutive lookups then walk the same B-tree pages.
                    let mut order: Vec<usize> = (0..keys.len()).collect();
                    order.sort_unstable_by(|&a, &b| keys[a].cmp(&keys[b]));
                    let mut out = vec![0; keys.len()];
                    for i in order {
                        out[i] = tally(&values, &keys[i], now)?;
                    }
                    Reply::Tallies(out)
                }
                _ => Reply::Unit,
            })
        })
        .collect::<Result<Vec<_>, redb::StorageError>>()
        .map_err(storage)
}

/// The live entry under `key`: (expires, value).
fn live<T>(values: &T, key: &str, now: u64) -> Result<Option<(u64, Vec<u8>)>, redb::StorageError>
where
    T: ReadableTable<&'static str, (u64, &'static [u8])>,
{
    Ok(values.get(key)?.and_then(|g| {
        let (exp, v) = g.value();
        (exp > now).then(|| (exp, v.to_vec()))
    }))
}

/// The live tally under `key`, 0 when absent or expired.
fn tally<T>(values: &T, key: &str, now: u64) -> Result<i64, redb::StorageError>
where
    T: ReadableTable<&'static str, (u64, &'static [u8])>,
{
    Ok(live(values, key, now)?
        .and_then(|(_, v)| v.get(..8).and_then(|b| b.try_into().ok()))
        .map(i64::from_le_bytes)
        .unwrap_or(0))
}

/// One periodic sweep transaction; returns how many entries it removed.
fn sweep_once(db: &Database, now: u64, batch: usize) -> Result<usize, StateError> {
    let txn = db.begin_write().map_err(storage)?;
    let n = {
        let mut t = Tables {
            values: txn.open_table(VALUES).map_err(storage)?,
            expiry: txn.open_table(EXPIRY).map_err(storage)?,
        };
        t.sweep(now, batch).map_err(storage)?
    };
    if n > 0 {
        txn.commit().map_err(storage)?;
    } else {
        txn.abort().map_err(storage)?;
    }
    Ok(n)
}

struct Tables<'t> {
    values: Table<'t, &'static str, (u64, &'static [u8])>,
    expiry: Table<'t, (u64, &'static str), ()>,
}

impl Tables<'_> {
    /// The live entry under `key`: (expires, value).
    fn live(&self, key: &str, now: u64) -> Result<Option<(u64, Vec<u8>)>, redb::StorageError> {
        live(&self.values, key, now)
    }

    /// Writes `key` with its expiry, keeping the index in step.
    fn put(&mut self, key: &str, expires: u64, value: &[u8]) -> Result<(), redb::StorageError> {
        let old = self
            .values
            .insert(key, (expires, value))?
            .map(|g| g.value().0);
        match old {
            Some(old) if old == expires => {}
            Some(old) => {
                self.expiry.remove((old, key))?;
                self.expiry.insert((expires, key), ())?;
            }
            None => {
                self.expiry.insert((expires, key), ())?;
            }
        }
        Ok(())
    }

    /// Runs one call; says whether it wrote.
    fn apply(&mut self, op: &Op, now: u64) -> Result<(Reply, bool), redb::StorageError> {
        Ok(match op {
            Op::Set { key, value, ttl_ms } => {
                self.put(key, now.saturating_add(*ttl_ms), value)?;
                (Reply::Unit, true)
            }
            Op::Get { key } => (Reply::Value(self.live(key, now)?.map(|(_, v)| v)), false),
            Op::Delete { key } => {
                let old = self.values.remove(key.as_str())?.map(|g| g.value().0);
                match old {
                    Some(exp) => {
                        self.expiry.remove((exp, key.as_str()))?;
                        (Reply::Bool(exp > now), true)
                    }
                    None => (Reply::Bool(false), false),
                }
            }
            Op::Seen { key, ttl_ms } => {
                if self.live(key, now)?.is_some() {
                    (Reply::Bool(true), false)
                } else {
                    self.put(key, now.saturating_add(*ttl_ms), &[])?;
                    (Reply::Bool(false), true)
                }
            }
            Op::Incr { key, window_ms } => {
                let window = Window::at(now, *window_ms);
                let key = counter_key(key, window);
                let count = match self.live(&key, now)? {
                    Some((_, v)) => v
                        .get(..8)
                        .and_then(|b| b.try_into().ok())
                        .map(u64::from_le_bytes)
                        .unwrap_or(0),
                    None => 0,
                }
                .saturating_add(1);
                self.put(&key, window.end_ms(), &count.to_le_bytes())?;
                (Reply::Count(count), true)
            }
            Op::Tallies { keys } => (
                Reply::Tallies(
                    keys.iter()
                        .map(|k| tally(&self.values, k, now))
                        .collect::<Result<_, _>>()?,
                ),
                false,
            ),
            Op::AddTallies { deltas, ttl_ms } => {
                // A TTL of days is rounded up to the hour: a tally learnt again within the
                // hour keeps its index entry, which saves two of the three B-tree writes of an
                // update (learning touches the same common words thousands of times).
                let mut expires = now.saturating_add(*ttl_ms);
                if *ttl_ms >= 24 * HOUR_MS {
                    expires = expires.div_ceil(HOUR_MS).saturating_mul(HOUR_MS);
                }
                for (key, delta) in deltas {
                    let n = tally(&self.values, key, now)?.saturating_add(*delta);
                    self.put(key, expires, &n.to_le_bytes())?;
                }
                (Reply::Unit, !deltas.is_empty())
            }
            Op::Ping => (Reply::Unit, false),
            // Handled by the thread before a batch runs.
            Op::Close => (Reply::Unit, false),
        })
    }

    /// Removes up to `max` entries expired at `now`, oldest first; returns how many.
    fn sweep(&mut self, now: u64, max: usize) -> Result<usize, redb::StorageError> {
        let mut doomed: Vec<(u64, String)> = Vec::new();
        for item in self.expiry.range(..(now.saturating_add(1), ""))? {
            let (k, _) = item?;
            let (exp, key) = k.value();
            doomed.push((exp, key.to_string()));
            if doomed.len() >= max {
                break;
            }
        }
        for (exp, key) in &doomed {
            self.expiry.remove((*exp, key.as_str()))?;
            let current = self.values.get(key.as_str())?.map(|g| g.value().0);
            if current == Some(*exp) {
                self.values.remove(key.as_str())?;
            }
        }
        Ok(doomed.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> (tempfile::TempDir, Database) {
        let dir = tempfile::tempdir().unwrap();
        let db = open(&dir.path().join("s.redb")).unwrap();
        (dir, db)
    }

    fn count(db: &Database) -> (u64, u64) {
        use redb::{ReadableDatabase, ReadableTableMetadata};
        let txn = db.begin_read().unwrap();
        let v = txn.open_table(VALUES).unwrap().len().unwrap();
        let e = txn.open_table(EXPIRY).unwrap().len().unwrap();
        (v, e)
    }

    #[test]
    fn the_index_follows_every_write_and_sweeps_are_bounded() {
        let (_dir, db) = db();
        let set = |key: &str, ttl_ms| Op::Set {
            key: key.into(),
            value: b"x".to_vec(),
            ttl_ms,
        };
        let ops: Vec<Op> = (0..40).map(|i| set(&format!("k{i}"), 10)).collect();
        apply_batch(&db, &ops, 1_000).unwrap();
        // Rewriting a key moves its index entry instead of adding one.
        apply_batch(&db, &[set("k0", 100_000)], 1_000).unwrap();
        assert_eq!(count(&db), (40, 40));
        // A later write removes ACCESS_SWEEP expired entries, no more.
        apply_batch(&db, &[set("new", 100_000)], 2_000).unwrap();
        assert_eq!(
            count(&db),
            (41 - ACCESS_SWEEP as u64, 41 - ACCESS_SWEEP as u64)
        );
        // Reads do not write: nothing swept.
        apply_batch(&db, &[Op::Get { key: "k5".into() }], 2_000).unwrap();
        assert_eq!(count(&db).0, 41 - ACCESS_SWEEP as u64);
        // The periodic sweep, in bounded batches, leaves only the live entries.
        while sweep_once(&db, 2_000, 5).unwrap() == 5 {}
        assert_eq!(count(&db), (2, 2));
    }

    #[test]
    fn a_batch_sees_its_own_writes_in_order() {
        let (_dir, db) = db();
        let seen = || Op::Seen {
            key: "s:m:x".into(),
            ttl_ms: 1000,
        };
        let incr = || Op::Incr {
            key: "c".into(),
            window_ms: 1000,
        };
        let r = apply_batch(&db, &[seen(), seen(), incr(), incr()], 5_000).unwrap();
        assert!(matches!(r[0], Reply::Bool(false)));
        assert!(matches!(r[1], Reply::Bool(true)));
        assert!(matches!(r[2], Reply::Count(1)));
        assert!(matches!(r[3], Reply::Count(2)));
        // Next window: a fresh counter; the seen member expired at 6000.
        let r = apply_batch(&db, &[seen(), incr()], 6_000).unwrap();
        assert!(matches!(r[0], Reply::Bool(false)));
        assert!(matches!(r[1], Reply::Count(1)));
    }
}
