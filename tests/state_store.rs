//! The state store: one behaviour suite run against both backends (a redb file in a temp dir,
//! a real `redis-server` on a free loopback port), then what only one backend has: the embedded
//! file surviving a reopen, Redis restarted or frozen mid-run.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use locthu::config::{Span, State, StateBackend};
use locthu::state::{StateError, Store};
use serde::{Deserialize, Serialize};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A private redis-server: no persistence, its own directory, killed on drop.
struct RedisServer {
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl RedisServer {
    fn start() -> RedisServer {
        let mut r = RedisServer {
            port: common::free_port(),
            dir: tempfile::tempdir().unwrap(),
            child: None,
        };
        r.restart();
        r
    }

    /// Starts (again) on the same port.
    fn restart(&mut self) {
        let bin = common::require("redis-server");
        let child = Command::new(bin)
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        self.child = Some(child);
        common::wait_listening(format!("127.0.0.1:{}", self.port).parse().unwrap());
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn signal(&self, sig: &str) {
        let pid = self.child.as_ref().expect("running").id().to_string();
        let ok = Command::new("kill")
            .args([sig, &pid])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {sig} {pid}");
    }

    fn config(&self, prefix: &str) -> State {
        let mut cfg = State {
            backend: StateBackend::Redis,
            ..State::default()
        };
        cfg.redis.url = format!("redis://127.0.0.1:{}/0", self.port);
        cfg.redis.prefix = prefix.into();
        cfg.redis.connect_timeout = Span(ms(500));
        cfg.redis.response_timeout = Span(ms(300));
        cfg
    }

    /// A plain synchronous client, to look at what the store wrote.
    fn raw(&self) -> redis::Connection {
        redis::Client::open(format!("redis://127.0.0.1:{}/0", self.port))
            .unwrap()
            .get_connection()
            .unwrap()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn embedded_config(path: &Path) -> State {
    let mut cfg = State::default();
    cfg.embedded.path = path.to_path_buf();
    cfg.embedded.sweep_interval = Span(ms(100));
    cfg
}

/// What keeps a backend alive for one test.
#[allow(dead_code)]
enum Guard {
    Dir(tempfile::TempDir),
    Redis(RedisServer),
}

fn embedded() -> (Store, Guard) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&embedded_config(&dir.path().join("state.redb"))).unwrap();
    (store, Guard::Dir(dir))
}

fn redis_backend() -> (Store, Guard) {
    let server = RedisServer::start();
    let store = Store::open(&server.config("locthu-test:")).unwrap();
    (store, Guard::Redis(server))
}

/// Polls `f` until it is true, at most `limit`.
async fn eventually<F, Fut>(limit: Duration, what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !f().await {
        assert!(start.elapsed() < limit, "{what}: not after {limit:?}");
        tokio::time::sleep(ms(25)).await;
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// A key no earlier run can have used.
fn unique(name: &str) -> String {
    format!("{name}-{}-{}", std::process::id(), now_ms())
}

// ---- The behaviour suite, the same for both backends ----

async fn ttl_expiry(store: &Store) {
    store.set("short", b"1", ms(700)).await.unwrap();
    store
        .set("long", b"2", Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(
        store.get("short").await.unwrap().as_deref(),
        Some(&b"1"[..])
    );
    eventually(Duration::from_secs(5), "short key expires", || async {
        store.get("short").await.unwrap().is_none()
    })
    .await;
    assert_eq!(store.get("long").await.unwrap().as_deref(), Some(&b"2"[..]));
    // A set replaces the value and the TTL.
    store.set("long", b"3", ms(500)).await.unwrap();
    assert_eq!(store.get("long").await.unwrap().as_deref(), Some(&b"3"[..]));
    eventually(Duration::from_secs(5), "replaced TTL applies", || async {
        store.get("long").await.unwrap().is_none()
    })
    .await;
    // Delete says whether there was a live value.
    store.set("d", b"x", Duration::from_secs(60)).await.unwrap();
    assert!(store.delete("d").await.unwrap());
    assert!(!store.delete("d").await.unwrap());
    assert_eq!(store.get("d").await.unwrap(), None);
    assert_eq!(store.get("never-set").await.unwrap(), None);
}

async fn seen_before_is_atomic(store: &Store) {
    let member = unique("<msg@example.gov.vn>");
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let store = store.clone();
            let member = member.clone();
            tokio::spawn(async move {
                store
                    .seen("msgid", &member, Duration::from_secs(60))
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut first = 0;
    for t in tasks {
        if !t.await.unwrap() {
            first += 1;
        }
    }
    assert_eq!(first, 1, "exactly one caller must see the member as new");
    assert!(store
        .seen("msgid", &member, Duration::from_secs(60))
        .await
        .unwrap());
    // Another set, another member: independent.
    assert!(!store
        .seen("greylist", &member, Duration::from_secs(60))
        .await
        .unwrap());
    assert!(!store
        .seen("msgid", "other", Duration::from_secs(60))
        .await
        .unwrap());
    // A member forgotten after its TTL is new again; seeing it does not extend the TTL.
    assert!(!store.seen("short", "m", ms(700)).await.unwrap());
    assert!(store.seen("short", "m", ms(700)).await.unwrap());
    eventually(Duration::from_secs(5), "seen member expires", || async {
        !store.seen("short", "m", ms(700)).await.unwrap()
    })
    .await;
}

async fn window_counters_reset(store: &Store) {
    // Start just after a 1 s window begins, so three calls fit in one window.
    let window = Duration::from_secs(1);
    let key = unique("rcpt");
    loop {
        let into = now_ms() % 1000;
        if into < 100 {
            break;
        }
        tokio::time::sleep(ms(1000 - into)).await;
    }
    let start = now_ms() / 1000;
    let counts = [
        store.incr(&key, window).await.unwrap(),
        store.incr(&key, window).await.unwrap(),
        store.incr(&key, window).await.unwrap(),
    ];
    if now_ms() / 1000 == start {
        assert_eq!(counts, [1, 2, 3]);
    }
    // The same key with another window length is another counter.
    assert_eq!(
        store.incr(&key, Duration::from_secs(3600)).await.unwrap(),
        1
    );
    // The next window starts from 1.
    tokio::time::sleep(ms(1000 - now_ms() % 1000 + 20)).await;
    assert_eq!(store.incr(&key, window).await.unwrap(), 1);
    // Concurrent increments are all counted, each sees a distinct count.
    let key = unique("burst");
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let store = store.clone();
            let key = key.clone();
            tokio::spawn(async move { store.incr(&key, Duration::from_secs(86400)).await })
        })
        .collect();
    let mut seen = Vec::new();
    for t in tasks {
        seen.push(t.await.unwrap().unwrap());
    }
    seen.sort_unstable();
    assert_eq!(seen, (1..=20).collect::<Vec<u64>>());
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct SenderRecord {
    sender: String,
    hits: u32,
    clients: Vec<String>,
}

async fn records_round_trip(store: &Store) {
    let rec = SenderRecord {
        sender: "văn.thư@sở-nội-vụ.angiang.gov.vn".into(),
        hits: 7,
        clients: vec!["203.0.113.7".into(), "2001:db8::1".into()],
    };
    store
        .put_record("sender:1", &rec, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(
        store.get_record::<SenderRecord>("sender:1").await.unwrap(),
        Some(rec)
    );
    assert_eq!(
        store
            .get_record::<SenderRecord>("sender:none")
            .await
            .unwrap(),
        None
    );
    // Bytes that are not the record are an error, not "absent".
    store
        .set("sender:bad", b"\xff not json", Duration::from_secs(60))
        .await
        .unwrap();
    assert!(matches!(
        store.get_record::<SenderRecord>("sender:bad").await,
        Err(StateError::Record { .. })
    ));
    // Raw bytes round-trip exactly, NULs and all.
    let raw: Vec<u8> = (0..=255).collect();
    store
        .set("raw", &raw, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(store.get("raw").await.unwrap(), Some(raw));
    // Wrong calls are refused before reaching the store.
    let big = vec![0u8; locthu::state::MAX_VALUE + 1];
    for r in [
        store.set("big", &big, Duration::from_secs(60)).await,
        store.set("zero", b"x", Duration::ZERO).await,
        store.set("", b"x", Duration::from_secs(60)).await,
    ] {
        assert!(matches!(r, Err(StateError::Invalid(_))), "{r:?}");
    }
    assert!(matches!(
        store.seen("bad:set", "m", Duration::from_secs(1)).await,
        Err(StateError::Invalid(_))
    ));
}

macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod embedded_backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let (store, _guard) = super::embedded();
                    super::$name(&store).await;
                }
            )*
        }
        mod redis_backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let (store, _guard) = super::redis_backend();
                    super::$name(&store).await;
                }
            )*
        }
    };
}

both_backends!(
    ttl_expiry,
    seen_before_is_atomic,
    window_counters_reset,
    records_round_trip,
    tallies_batch
);

// ---- Embedded only ----

#[tokio::test]
async fn embedded_survives_reopen_and_expired_data_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub/dir/state.redb");
    let cfg = embedded_config(&path);
    let hour = Duration::from_secs(3600);
    let store = Store::open(&cfg).unwrap();
    store.set("keep", b"kept", hour).await.unwrap();
    store.set("gone", b"x", ms(300)).await.unwrap();
    store
        .put_record("rec", &vec!["a".to_string()], hour)
        .await
        .unwrap();
    assert!(!store.seen("msgid", "m1", hour).await.unwrap());
    let key = unique("c");
    let before = store.incr(&key, Duration::from_secs(86400)).await.unwrap();
    store.close().await;
    assert!(matches!(store.get("keep").await, Err(StateError::Closed)));
    tokio::time::sleep(ms(400)).await;

    let store = Store::open(&cfg).unwrap();
    assert_eq!(
        store.get("keep").await.unwrap().as_deref(),
        Some(&b"kept"[..])
    );
    assert_eq!(store.get("gone").await.unwrap(), None);
    assert_eq!(
        store.get_record::<Vec<String>>("rec").await.unwrap(),
        Some(vec!["a".to_string()])
    );
    assert!(store.seen("msgid", "m1", hour).await.unwrap());
    assert_eq!(
        store.incr(&key, Duration::from_secs(86400)).await.unwrap(),
        before + 1
    );
    // The periodic sweep (every 100 ms here) removes the expired entry from the file itself.
    tokio::time::sleep(ms(400)).await;
    store.close().await;
    let db = redb::Database::open(&path).unwrap();
    let txn = redb::ReadableDatabase::begin_read(&db).unwrap();
    let values: redb::TableDefinition<&str, (u64, &[u8])> = redb::TableDefinition::new("values");
    let table = txn.open_table(values).unwrap();
    assert!(table.get("v:keep").unwrap().is_some());
    assert!(
        table.get("v:gone").unwrap().is_none(),
        "expired entry still on disk"
    );
}

#[tokio::test]
async fn embedded_file_is_one_process_s_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = embedded_config(&dir.path().join("state.redb"));
    let a = Store::open(&cfg).unwrap();
    a.ping().await.unwrap();
    let b = Store::open(&cfg).unwrap();
    assert!(matches!(
        b.ping().await,
        Err(StateError::Unavailable { .. })
    ));
    a.close().await;
    b.ping().await.unwrap();
}

#[tokio::test]
async fn an_unreachable_store_opens_and_then_fails_each_call() {
    // What the default config does as non-root: open succeeds (the gateway starts), and each
    // call says why it cannot work, quickly.
    let cfg = embedded_config(Path::new("/proc/locthu-no-such-dir/state.redb"));
    let store = Store::open(&cfg).unwrap();
    let start = Instant::now();
    for _ in 0..3 {
        let r = store.set("k", b"v", Duration::from_secs(1)).await;
        assert!(matches!(r, Err(StateError::Unavailable { .. })), "{r:?}");
    }
    assert!(start.elapsed() < Duration::from_secs(2));

    let mut cfg = RedisServer::config_for_port(common::free_port());
    cfg.redis.connect_timeout = Span(ms(300));
    let store = Store::open(&cfg).unwrap();
    let start = Instant::now();
    let r = store.get("k").await;
    assert!(matches!(r, Err(StateError::Unavailable { .. })), "{r:?}");
    assert!(start.elapsed() < Duration::from_secs(2));
}

impl RedisServer {
    fn config_for_port(port: u16) -> State {
        let mut cfg = State {
            backend: StateBackend::Redis,
            ..State::default()
        };
        cfg.redis.url = format!("redis://127.0.0.1:{port}/0");
        cfg
    }
}

// ---- Redis only ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_keys_carry_the_prefix_and_a_ttl() {
    let server = RedisServer::start();
    let store = Store::open(&server.config("site-a:")).unwrap();
    let other = Store::open(&server.config("site-b:")).unwrap();
    let hour = Duration::from_secs(3600);
    store.set("k", b"a", hour).await.unwrap();
    other.set("k", b"b", hour).await.unwrap();
    assert_eq!(store.get("k").await.unwrap().as_deref(), Some(&b"a"[..]));
    assert_eq!(other.get("k").await.unwrap().as_deref(), Some(&b"b"[..]));
    assert!(!store.seen("msgid", "m", hour).await.unwrap());
    assert!(!other.seen("msgid", "m", hour).await.unwrap());
    store.incr("rate", hour).await.unwrap();
    store.put_record("r", &1u32, hour).await.unwrap();

    let mut raw = server.raw();
    let keys: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut raw).unwrap();
    assert_eq!(keys.len(), 6, "{keys:?}");
    for k in &keys {
        assert!(
            k.starts_with("site-a:") || k.starts_with("site-b:"),
            "{k} has no prefix"
        );
        let ttl: i64 = redis::cmd("PTTL").arg(k).query(&mut raw).unwrap();
        assert!(ttl > 0 && ttl <= 3_600_000, "{k} has TTL {ttl}");
    }
    assert!(keys.contains(&"site-a:v:k".to_string()), "{keys:?}");
    assert!(keys.contains(&"site-a:s:msgid:m".to_string()), "{keys:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restart_and_freeze_mid_run() {
    let mut server = RedisServer::start();
    let cfg = server.config("restart:");
    // connect 500 ms + response 300 ms: no call may take longer (plus scheduling slack).
    let deadline = ms(800);
    let slack = ms(700);
    let store = Store::open(&cfg).unwrap();
    let hour = Duration::from_secs(3600);
    store.set("before", b"1", hour).await.unwrap();
    assert_eq!(store.incr("n", hour).await.unwrap(), 1);

    // Down: every kind of call fails with an error, within the deadline.
    server.stop();
    for i in 0..4 {
        let start = Instant::now();
        let results = [
            store.get("before").await.map(|_| ()),
            store.set("x", b"1", hour).await,
            store.seen("msgid", "m", hour).await.map(|_| ()),
            store.incr("n", hour).await.map(|_| ()),
        ];
        let took = start.elapsed();
        for r in &results {
            assert!(
                matches!(
                    r,
                    Err(StateError::Unavailable { .. } | StateError::Timeout { .. })
                ),
                "round {i}: {r:?}"
            );
        }
        assert!(
            took < 4 * (deadline + slack),
            "round {i}: 4 calls took {took:?}"
        );
    }

    // Back (empty: it keeps nothing on disk): calls succeed again, soon.
    server.restart();
    eventually(
        Duration::from_secs(5),
        "calls succeed after the restart",
        || async { store.ping().await.is_ok() },
    )
    .await;
    for _ in 0..10 {
        store.set("after", b"2", hour).await.unwrap();
    }
    assert_eq!(
        store.get("after").await.unwrap().as_deref(),
        Some(&b"2"[..])
    );
    assert!(!store.seen("msgid", "m", hour).await.unwrap());
    assert_eq!(store.incr("n", hour).await.unwrap(), 1);

    // Frozen (accepts nothing, answers nothing): the call times out, it does not hang.
    server.signal("-STOP");
    let start = Instant::now();
    let r = store.get("after").await;
    let took = start.elapsed();
    server.signal("-CONT");
    assert!(matches!(r, Err(StateError::Timeout { .. })), "{r:?}");
    assert!(took < deadline + slack, "frozen call took {took:?}");
    eventually(
        Duration::from_secs(5),
        "calls succeed after the freeze",
        || async { store.get("after").await.is_ok() },
    )
    .await;
    assert_eq!(
        store.get("after").await.unwrap().as_deref(),
        Some(&b"2"[..])
    );
}

// ---- Tallies: batched reads and adds, both backends ----

async fn tallies_batch(store: &Store) {
    let keys: Vec<String> = (0..1000).map(|i| unique(&format!("tally{i}"))).collect();
    assert_eq!(store.tallies(&keys).await.unwrap(), vec![0; 1000]);
    // One batch: duplicates add up, negative deltas subtract.
    let mut deltas: Vec<(String, i64)> = keys.iter().map(|k| (k.clone(), 3)).collect();
    deltas.push((keys[0].clone(), 4));
    deltas.push((keys[1].clone(), -5));
    store
        .add_tallies(&deltas, Duration::from_secs(60))
        .await
        .unwrap();
    let got = store.tallies(&keys).await.unwrap();
    assert_eq!(got[0], 7);
    assert_eq!(got[1], -2);
    assert!(got[2..].iter().all(|&v| v == 3));
    // Large values survive (the classifier packs two counts in one tally).
    let big = 5i64 << 32 | 9;
    store
        .add_tallies(&[(keys[2].clone(), big)], Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(store.tallies(&keys[2..3]).await.unwrap(), vec![big + 3]);
    // A short TTL ends them; a later add starts again from zero.
    store
        .add_tallies(&[(keys[3].clone(), 1)], ms(300))
        .await
        .unwrap();
    eventually(Duration::from_secs(5), "tally expiry", || async {
        store.tallies(&keys[3..4]).await.unwrap() == vec![0]
    })
    .await;
    // Bad calls are refused whole.
    let bad = vec![(String::new(), 1)];
    assert!(matches!(
        store.add_tallies(&bad, Duration::from_secs(1)).await,
        Err(StateError::Invalid(_))
    ));
    let too_many = vec![keys[0].clone(); locthu::state::MAX_BATCH + 1];
    assert!(matches!(
        store.tallies(&too_many).await,
        Err(StateError::Invalid(_))
    ));
    assert!(store.tallies(&[]).await.unwrap().is_empty());
}
