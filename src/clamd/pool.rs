//! Several clamd endpoints: used in turn, health-checked by a background PING, a failed one
//! skipped until it answers again, and a failed scan retried on the next endpoint.

use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use super::client::{ClamdError, Client, Endpoint, Verdict};
use crate::metrics::metrics;

/// One endpoint and what we last learnt about it.
struct Member {
    client: Client,
    /// The endpoint as configured: the metrics label (a bounded, admin-written set).
    label: String,
    healthy: AtomicBool,
    /// Whether the stream-size probe passed since the endpoint last came up.
    probed: AtomicBool,
}

/// Why every endpoint failed: the last error, and the errors per endpoint for the log.
#[derive(Debug)]
pub struct ScanFailure {
    pub last: ClamdError,
    pub attempts: Vec<(String, String)>,
}

impl std::fmt::Display for ScanFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, (ep, err)) in self.attempts.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "clamd {ep}: {err}")?;
        }
        if self.attempts.is_empty() {
            write!(f, "{}", self.last)?;
        }
        Ok(())
    }
}

/// The endpoints of one `[antivirus]` config.
pub struct Pool {
    members: Vec<Member>,
    next: AtomicUsize,
    /// Size of the probe stream sent when an endpoint comes up, if any.
    probe_bytes: Option<u64>,
}

impl Pool {
    /// A pool over `endpoints`, all presumed healthy until a check says otherwise.
    pub fn new(
        endpoints: &[String],
        connect_timeout: Duration,
        scan_timeout: Duration,
        probe_bytes: Option<u64>,
    ) -> Result<Self, String> {
        if endpoints.is_empty() {
            return Err("at least one clamd endpoint is needed".into());
        }
        let mut members = Vec::new();
        for e in endpoints {
            let ep = Endpoint::parse(e)?;
            let label = ep.to_string();
            metrics()
                .clamd_endpoint_up
                .with_label_values(&[&label])
                .set(1);
            members.push(Member {
                client: Client::new(ep, connect_timeout, scan_timeout),
                label,
                healthy: AtomicBool::new(true),
                probed: AtomicBool::new(false),
            });
        }
        Ok(Pool {
            members,
            next: AtomicUsize::new(0),
            probe_bytes,
        })
    }

    /// The order to try endpoints in for one scan: healthy ones in turn from the next start,
    /// then the ones marked down. Down ones come last rather than never: if every endpoint is
    /// marked down, trying them costs a refused connect, whereas skipping them would tempfail
    /// mail until the next health check even though clamd may already be back.
    fn order(&self) -> Vec<usize> {
        let n = self.members.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed) % n;
        let rotation = (0..n).map(|i| (start + i) % n);
        let (up, down): (Vec<usize>, Vec<usize>) =
            rotation.partition(|&i| self.members[i].healthy.load(Ordering::Relaxed));
        up.into_iter().chain(down).collect()
    }

    /// Scans the stream `open` yields (called once per attempt, so a retry starts from the
    /// first byte) on the endpoints in turn until one gives a verdict.
    pub async fn scan<'s, F>(&self, mut open: F) -> Result<Verdict, ScanFailure>
    where
        F: FnMut() -> io::Result<Box<dyn Read + Send + 's>>,
    {
        let mut attempts = Vec::new();
        let mut last = None;
        for i in self.order() {
            let m = &self.members[i];
            let mut src = open().map_err(|e| ScanFailure {
                last: ClamdError::Source(e),
                attempts: Vec::new(),
            })?;
            match m.client.scan(&mut *src).await {
                Ok(v) => {
                    if !m.healthy.swap(true, Ordering::Relaxed) {
                        self.mark(m, true);
                    }
                    return Ok(v);
                }
                Err(e @ ClamdError::Source(_)) => {
                    return Err(ScanFailure { last: e, attempts });
                }
                Err(e) => {
                    count_error(m, &e);
                    if let ClamdError::SizeLimit = e {
                        // Misconfiguration, not an outage: clamd is fine for smaller mail.
                        tracing::error!(
                            endpoint = %m.label,
                            "clamd refused a stream as larger than its StreamMaxLength: raise \
                             StreamMaxLength in clamd.conf to at least [antivirus] stream_max"
                        );
                    } else {
                        tracing::warn!(endpoint = %m.label, error = %e, "clamd scan failed, trying the next endpoint");
                        if m.healthy.swap(false, Ordering::Relaxed) {
                            self.mark(m, false);
                        }
                    }
                    attempts.push((m.label.clone(), e.to_string()));
                    last = Some(e);
                }
            }
        }
        Err(ScanFailure {
            // order() always yields at least one endpoint, so `last` is set here.
            last: last.unwrap_or(ClamdError::Protocol("no endpoint".into())),
            attempts,
        })
    }

    fn mark(&self, m: &Member, up: bool) {
        metrics()
            .clamd_endpoint_up
            .with_label_values(&[&m.label])
            .set(up as i64);
        if up {
            tracing::info!(endpoint = %m.label, "clamd answers again");
        } else {
            m.probed.store(false, Ordering::Relaxed);
            tracing::warn!(endpoint = %m.label, "clamd marked down");
        }
    }

    /// One round of health checks over every endpoint, concurrently.
    pub async fn check_health(&self) {
        let checks = self.members.iter().map(|m| self.check_member(m));
        futures_util::future::join_all(checks).await;
    }

    async fn check_member(&self, m: &Member) {
        match m.client.ping().await {
            Ok(()) => {
                if !m.healthy.swap(true, Ordering::Relaxed) {
                    self.mark(m, true);
                }
                if !m.probed.swap(true, Ordering::Relaxed) {
                    self.probe(m).await;
                }
            }
            Err(e) => {
                count_error(m, &e);
                if m.healthy.swap(false, Ordering::Relaxed) {
                    tracing::warn!(endpoint = %m.label, error = %e, "clamd PING failed");
                    self.mark(m, false);
                }
            }
        }
    }

    /// When an endpoint comes up: log its version, and check that it takes a stream as large
    /// as `stream_max`, so a too-small `StreamMaxLength` shows at start, not at the first big
    /// message.
    async fn probe(&self, m: &Member) {
        match m.client.version().await {
            Ok(v) => tracing::info!(endpoint = %m.label, version = %v, "clamd is up"),
            Err(e) => tracing::warn!(endpoint = %m.label, error = %e, "clamd VERSION failed"),
        }
        let Some(n) = self.probe_bytes else { return };
        let mut zeros = io::repeat(0).take(n);
        match m.client.scan(&mut zeros).await {
            Ok(_) => {
                tracing::debug!(endpoint = %m.label, bytes = n, "clamd takes streams of stream_max")
            }
            Err(ClamdError::SizeLimit) => {
                count_error(m, &ClamdError::SizeLimit);
                tracing::error!(
                    endpoint = %m.label,
                    stream_max = n,
                    "clamd's StreamMaxLength is smaller than [antivirus] stream_max: messages \
                     between the two will be refused by clamd and handled per on_error; raise \
                     StreamMaxLength (and MaxScanSize, MaxFileSize) in clamd.conf"
                );
            }
            Err(e) => {
                // Probe again at the next health check.
                m.probed.store(false, Ordering::Relaxed);
                tracing::warn!(endpoint = %m.label, error = %e, "clamd stream-size probe failed");
            }
        }
    }

    /// Runs [`Pool::check_health`] every `interval` until the pool is dropped (a config
    /// reload replaces it).
    pub fn spawn_health(self: &Arc<Self>, interval: Duration) {
        let weak: Weak<Pool> = Arc::downgrade(self);
        tokio::spawn(async move {
            while let Some(pool) = weak.upgrade() {
                pool.check_health().await;
                drop(pool);
                tokio::time::sleep(interval).await;
            }
        });
    }

    /// Whether each endpoint is currently considered up, in config order.
    pub fn health(&self) -> Vec<(String, bool)> {
        self.members
            .iter()
            .map(|m| (m.label.clone(), m.healthy.load(Ordering::Relaxed)))
            .collect()
    }
}

fn count_error(m: &Member, e: &ClamdError) {
    metrics()
        .clamd_errors
        .with_label_values(&[&m.label, e.kind()])
        .inc();
}
