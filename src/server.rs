//! The gateway's life: listeners, connection limits, config reloads and graceful shutdown.
//! `main.rs` binds the sockets and wires the signals; everything here takes them injected.

use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tracing::{error, info, warn};

use crate::config::{self, ConfigErrors, Loaded};
use crate::conns::{ConnTracker, Refusal};
use crate::metrics::metrics;
use crate::runtime::Runtime;
use crate::services::Services;
use crate::smtp::session::{self, Phase};

/// Command-line overrides applied on top of every config generation (`--listen`, `--upstream`).
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub listen: Option<std::net::SocketAddr>,
    pub upstream: Option<String>,
}

impl Overrides {
    fn apply(&self, loaded: &mut Loaded) {
        if let Some(first) = loaded.config.listeners.first_mut() {
            if let Some(a) = self.listen {
                first.address = a;
            }
            if let Some(u) = &self.upstream {
                first.upstream.address = u.clone();
            }
        }
    }
}

/// Loads a config (file or embedded), applies the overrides and builds a runtime from it.
pub fn load_runtime(
    path: Option<&std::path::Path>,
    overrides: &Overrides,
    services: &Services,
) -> Result<Runtime, ConfigErrors> {
    let mut loaded = config::load(path)?;
    overrides.apply(&mut loaded);
    Runtime::build(loaded, services)
}

/// Session threads, each with its own single-threaded tokio runtime.
///
/// A proxy's sessions spend their time waking on small reads; on tokio's work-stealing
/// runtime every wake-up may cross threads (futex calls), which we measured at four times the
/// CPU per message of a single-threaded runtime. So each worker runs a current-thread runtime
/// and the acceptor hands each new connection to the next worker, as pingora and linkerd2-proxy
/// keep a connection on one thread.
pub struct Workers {
    handles: Vec<tokio::runtime::Handle>,
    next: AtomicUsize,
}

impl Workers {
    /// Starts `n` worker threads (`0`: one per CPU, at most [`crate::config::MAX_WORKERS`]).
    ///
    /// Each runtime is built inside its own thread and only its handle comes back: a runtime
    /// dropped on the caller's side (say, when the OS refuses the 100th thread) would panic with
    /// "Cannot drop a runtime in a context where blocking is not allowed", since the caller
    /// runs inside the acceptor's runtime. Failures are errors, never panics.
    pub fn start(n: usize) -> std::io::Result<Workers> {
        let max = crate::config::MAX_WORKERS;
        let n = if n == 0 {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
                .min(max)
        } else {
            n
        };
        if n > max {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("server.workers = {n} is above the limit of {max}"),
            ));
        }
        let mut handles = Vec::with_capacity(n);
        for i in 0..n {
            let (tx, rx) = std::sync::mpsc::sync_channel(1);
            std::thread::Builder::new()
                .name(format!("locthu-worker-{i}"))
                .spawn(move || {
                    match tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                    {
                        Ok(rt) => {
                            let _ = tx.send(Ok(rt.handle().clone()));
                            rt.block_on(std::future::pending::<()>())
                        }
                        Err(e) => {
                            let _ = tx.send(Err(e));
                        }
                    }
                })?;
            let handle = rx.recv().map_err(|_| {
                std::io::Error::other(format!("worker thread {i} ended before its runtime ran"))
            })??;
            handles.push(handle);
        }
        Ok(Workers {
            handles,
            next: AtomicUsize::new(0),
        })
    }

    fn pick(&self) -> &tokio::runtime::Handle {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.handles.len();
        &self.handles[i]
    }
}

/// The running gateway's shared state.
pub struct Gateway {
    pub runtime: ArcSwap<Runtime>,
    workers: Workers,
    phase: watch::Sender<Phase>,
    conns: ConnTracker,
    config_path: Option<PathBuf>,
    overrides: Overrides,
    /// The state store and clamd pools, kept across reloads.
    services: Arc<Services>,
}

impl Gateway {
    pub fn new(
        runtime: Runtime,
        workers: Workers,
        config_path: Option<PathBuf>,
        overrides: Overrides,
        services: Arc<Services>,
    ) -> Arc<Self> {
        Arc::new(Gateway {
            services,
            workers,
            runtime: ArcSwap::from_pointee(runtime),
            phase: watch::channel(Phase::Running).0,
            conns: ConnTracker::default(),
            config_path,
            overrides,
        })
    }

    pub fn phase(&self) -> Phase {
        *self.phase.borrow()
    }

    /// Connections open now, all listeners together.
    pub fn active_connections(&self) -> usize {
        self.conns.total()
    }

    /// Reads the config again and swaps it in if it is valid; otherwise keeps the running one.
    pub fn reload(&self) -> Result<(), String> {
        let result = load_runtime(self.config_path.as_deref(), &self.overrides, &self.services)
            .map_err(|e| e.to_string())
            .and_then(|rt| {
                let old = self.runtime.load();
                let key = |r: &Runtime| {
                    let mut v: Vec<_> = r
                        .config
                        .listeners
                        .iter()
                        .map(|l| (l.name.clone(), l.address))
                        .collect();
                    v.sort();
                    v
                };
                if key(&rt) != key(&old) {
                    return Err(
                        "listener names or addresses changed: that needs a restart".to_string()
                    );
                }
                Ok(rt)
            });
        match result {
            Ok(rt) => {
                self.runtime.store(Arc::new(rt));
                metrics().config_reloads.with_label_values(&["ok"]).inc();
                info!(source = %self.runtime.load().source, "config reloaded");
                Ok(())
            }
            Err(e) => {
                metrics().config_reloads.with_label_values(&["error"]).inc();
                error!(error = %e, "config reload failed; keeping the running config");
                Err(e)
            }
        }
    }

    /// Serves on the bound listeners until `shutdown` resolves, then drains: no new
    /// connections, transactions in flight finish within the grace period, then 421.
    pub async fn run(
        self: Arc<Self>,
        listeners: Vec<(String, TcpListener)>,
        shutdown: impl Future<Output = ()>,
    ) {
        let mut tasks = Vec::new();
        for (name, listener) in listeners {
            tasks.push(tokio::spawn(
                self.clone().accept_loop(Arc::from(name), listener),
            ));
        }
        tokio::spawn(self.clone().purge_quarantine());
        if let Some(path) = self.config_path.clone() {
            let poll = self.runtime.load().config.server.reload_poll.get();
            if !poll.is_zero() {
                tokio::spawn(self.clone().watch_file(path, poll));
            }
        }
        shutdown.await;
        let grace = self.runtime.load().config.server.shutdown_grace.get();
        info!(active = self.active_connections(), grace = ?grace, "shutting down: draining sessions");
        let _ = self.phase.send(Phase::Draining);
        for t in &tasks {
            t.abort();
        }
        if !self.wait_idle(grace).await {
            warn!(
                active = self.active_connections(),
                "grace period over: closing remaining sessions with 421"
            );
            let _ = self.phase.send(Phase::Stop);
            self.wait_idle(Duration::from_secs(5)).await;
        }
        info!("stopped");
    }

    async fn wait_idle(&self, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        while self.active_connections() > 0 {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        true
    }

    async fn accept_loop(self: Arc<Self>, name: Arc<str>, listener: TcpListener) {
        loop {
            let (tcp, peer) = match listener.accept().await {
                Ok(x) => x,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    warn!(listener = %name, error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let rt = self.runtime.load_full();
            let limits = &rt.config.limits;
            let slot = match self.conns.admit(
                peer.ip(),
                rt.config.per_ip_exempt(peer.ip()),
                limits.max_connections,
                limits.max_connections_per_ip,
            ) {
                Ok(s) => s,
                Err(reason) => {
                    metrics()
                        .connections_refused
                        .with_label_values(&[&name, reason.as_str()])
                        .inc();
                    tokio::spawn(refuse(tcp, reason));
                    continue;
                }
            };
            let Some(role) = rt.session.listeners.get(&*name).map(|l| l.role) else {
                continue;
            };
            metrics()
                .connections_total
                .with_label_values(&[&name])
                .inc();
            let active = metrics().connections_active.with_label_values(&[&name]);
            active.inc();
            let phase = self.phase.subscribe();
            let name = name.clone();
            let tcp = match tcp.into_std() {
                Ok(t) => t,
                Err(e) => {
                    warn!(error = %e, "cannot hand the connection to a worker");
                    continue;
                }
            };
            self.workers.pick().spawn(async move {
                // The socket moves to this worker's reactor; it is already non-blocking.
                if let Ok(tcp) = TcpStream::from_std(tcp) {
                    let gen = (Arc::clone(&rt.session), Arc::clone(&rt.engine));
                    session::run(tcp, peer, name, role, gen, phase, slot).await;
                }
                active.dec();
            });
        }
    }

    /// Deletes quarantine entries past `quarantine.retention_days`, at start and then daily.
    async fn purge_quarantine(self: Arc<Self>) {
        loop {
            let rt = self.runtime.load_full();
            let age = Duration::from_secs(u64::from(rt.config.quarantine.retention_days) * 86_400);
            let store = rt.quarantine.clone();
            match tokio::task::spawn_blocking(move || store.purge(age)).await {
                Ok(Ok(0)) => {}
                Ok(Ok(n)) => info!(deleted = n, "quarantine retention applied"),
                Ok(Err(e)) => warn!(error = %e, "quarantine retention failed"),
                Err(e) => warn!(error = %e, "quarantine retention task failed"),
            }
            tokio::time::sleep(Duration::from_secs(86_400)).await;
        }
    }

    /// Reloads when the config file's modification time changes (editors that save by rename
    /// included), or a file the config names does: the spam rule directory. Cheaper and more
    /// portable than inotify for a few files.
    async fn watch_file(self: Arc<Self>, path: PathBuf, every: Duration) {
        let stamp = |s: &Self| {
            let mut paths = vec![path.clone()];
            paths.extend(s.runtime.load().watched());
            fingerprint(&paths)
        };
        let mut last = stamp(&self);
        loop {
            tokio::time::sleep(every).await;
            let now = stamp(&self);
            if now != last && std::fs::metadata(&path).is_ok() {
                info!(path = %path.display(), "config or rule files changed");
                // A file changed while the reload ran differs from `now`: noticed next time.
                // A failed reload keeps the running config and waits for the next edit.
                let _ = self.reload();
                last = now;
            }
        }
    }
}

/// The modification times and sizes of `paths` and, for a directory, of the files in it.
#[derive(PartialEq, Eq)]
struct Fingerprint(Vec<(PathBuf, Option<SystemTime>, u64)>);

fn fingerprint(paths: &[PathBuf]) -> Fingerprint {
    let mut out = Vec::new();
    let mut add = |p: &std::path::Path| {
        let m = std::fs::metadata(p).ok();
        out.push((
            p.to_path_buf(),
            m.as_ref().and_then(|m| m.modified().ok()),
            m.map_or(0, |m| m.len()),
        ));
    };
    for p in paths {
        add(p);
        if let Ok(entries) = std::fs::read_dir(p) {
            let mut files: Vec<PathBuf> =
                entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
            files.sort();
            // Bounded: a directory of rules, not of mail.
            files.iter().take(1000).for_each(|f| add(f));
        }
    }
    Fingerprint(out)
}

async fn refuse(mut tcp: TcpStream, reason: Refusal) {
    let text = match reason {
        Refusal::PerIp => "421 4.7.0 Quá nhiều kết nối từ địa chỉ của bạn / Too many connections from your address\r\n",
        Refusal::Total => "421 4.3.2 Máy chủ quá tải, thử lại sau / Too many connections, try again later\r\n",
    };
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        let _ = tcp.write_all(text.as_bytes()).await;
        let _ = tcp.shutdown().await;
    })
    .await;
}
