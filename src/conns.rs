//! Connection slots: the total and per-IP limits, and who gives up a slot when they are full.
//!
//! A slowloris attack holds every slot with clients that never finish a command. Per-record
//! deadlines (see `smtp::session::io`) bound how long one wait lasts; this module decides who
//! goes when the limit is reached: the session that has waited longest for a command line
//! (Postfix frees slots under stress by shortening `smtpd_timeout`; we do that too, and also
//! make room for a newcomer at once). A session sending a message is never evicted.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::Notify;

/// Why a new connection was refused, as the metric label and the reply chosen by the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `limits.max_connections`, with no idle session to make room.
    Total,
    /// `limits.max_connections_per_ip`.
    PerIp,
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::Total => "total",
            Refusal::PerIp => "per_ip",
        }
    }
}

/// Counts connections in total and per client IP, across listeners and config generations.
#[derive(Default, Clone)]
pub struct ConnTracker {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    total: AtomicUsize,
    /// The `max_connections` of the latest admission, for the stress test of running sessions.
    max_total: AtomicUsize,
    state: Mutex<State>,
    /// Connection ids for the logs, from 1.
    next: AtomicU64,
}

#[derive(Default)]
struct State {
    per_ip: HashMap<IpAddr, usize>,
    slots: HashMap<u64, Arc<Shared>>,
    /// Slots told to go that have not closed yet: they no longer count against new arrivals.
    evicting: usize,
}

/// What a session and the tracker both see of one slot.
struct Shared {
    /// When the session began waiting for a command line, or `None` while it works.
    waiting_since: Mutex<Option<Instant>>,
    evicted: AtomicBool,
    evict: Notify,
}

impl ConnTracker {
    /// Connections open now.
    pub fn total(&self) -> usize {
        self.inner.total.load(Ordering::Relaxed)
    }

    /// A slot for a new connection from `ip`; `exempt` addresses are not counted per IP
    /// (`limits.per_ip_exceptions`). At the total limit, the session idle longest is told to
    /// close and the newcomer takes its place.
    pub fn admit(
        &self,
        ip: IpAddr,
        exempt: bool,
        max_total: usize,
        max_per_ip: usize,
    ) -> Result<Slot, Refusal> {
        let inner = &self.inner;
        inner.max_total.store(max_total, Ordering::Relaxed);
        let mut st = inner.state.lock().unwrap_or_else(|p| p.into_inner());
        if !exempt && st.per_ip.get(&ip).copied().unwrap_or(0) >= max_per_ip {
            return Err(Refusal::PerIp);
        }
        if inner.total.load(Ordering::Relaxed) - st.evicting >= max_total {
            // A client in the middle of a normal dialogue began its wait a moment ago, after
            // our last reply; a dribbling or silent one began it when it connected.
            let victim = st
                .slots
                .values()
                .filter(|s| !s.evicted.load(Ordering::Relaxed))
                .filter_map(|s| {
                    let since = (*s.waiting_since.lock().unwrap_or_else(|p| p.into_inner()))?;
                    Some((since, s))
                })
                .min_by_key(|(since, _)| *since)
                .map(|(_, s)| s.clone());
            let Some(victim) = victim else {
                return Err(Refusal::Total);
            };
            victim.evicted.store(true, Ordering::Relaxed);
            // notify_one keeps a permit if the session is between two waits.
            victim.evict.notify_one();
            st.evicting += 1;
        }
        if !exempt {
            *st.per_ip.entry(ip).or_insert(0) += 1;
        }
        let id = inner.next.fetch_add(1, Ordering::Relaxed) + 1;
        let shared = Arc::new(Shared {
            waiting_since: Mutex::new(None),
            evicted: AtomicBool::new(false),
            evict: Notify::new(),
        });
        st.slots.insert(id, shared.clone());
        inner.total.fetch_add(1, Ordering::Relaxed);
        Ok(Slot {
            id,
            counted: (!exempt).then_some(ip),
            shared,
            tracker: self.clone(),
        })
    }
}

/// One connection's place in the limits, released when the session ends.
pub struct Slot {
    id: u64,
    /// The address this slot is counted under, `None` when exempt.
    counted: Option<IpAddr>,
    shared: Arc<Shared>,
    tracker: ConnTracker,
}

impl Slot {
    /// The connection's id in the logs.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The session waits for a command line from now on: it may be evicted.
    pub fn waiting(&self) {
        *self.lock_since() = Some(Instant::now());
    }

    /// The session is working (a command, a message): it keeps its slot.
    pub fn working(&self) {
        *self.lock_since() = None;
    }

    fn lock_since(&self) -> std::sync::MutexGuard<'_, Option<Instant>> {
        self.shared
            .waiting_since
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Resolves when the tracker needs this slot for a newcomer.
    pub async fn evicted(&self) {
        if self.shared.evicted.load(Ordering::Relaxed) {
            return;
        }
        self.shared.evict.notified().await
    }

    /// Whether connections are at or above `percent` of `max_connections`.
    pub fn stressed(&self, percent: u8) -> bool {
        let inner = &self.tracker.inner;
        let max = inner.max_total.load(Ordering::Relaxed);
        let total = inner.total.load(Ordering::Relaxed);
        max > 0 && total * 100 >= max * usize::from(percent)
    }

    /// Counts this slot under the real client named by XCLIENT instead of the proxy's address.
    /// Refused (and left as it was) when that client is already at its limit.
    pub fn rekey(&mut self, ip: IpAddr, exempt: bool, max_per_ip: usize) -> Result<(), Refusal> {
        let new = (!exempt).then_some(ip);
        if new == self.counted {
            return Ok(());
        }
        let mut st = self.tracker.lock();
        if let Some(ip) = new {
            if st.per_ip.get(&ip).copied().unwrap_or(0) >= max_per_ip {
                return Err(Refusal::PerIp);
            }
            *st.per_ip.entry(ip).or_insert(0) += 1;
        }
        if let Some(old) = self.counted {
            release(&mut st.per_ip, old);
        }
        self.counted = new;
        Ok(())
    }
}

impl ConnTracker {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn release(per_ip: &mut HashMap<IpAddr, usize>, ip: IpAddr) {
    if let Some(n) = per_ip.get_mut(&ip) {
        *n -= 1;
        if *n == 0 {
            per_ip.remove(&ip);
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut st = self.tracker.lock();
        if let Some(ip) = self.counted {
            release(&mut st.per_ip, ip);
        }
        st.slots.remove(&self.id);
        if self.shared.evicted.load(Ordering::Relaxed) {
            st.evicting -= 1;
        }
        self.tracker.inner.total.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, last])
    }

    #[test]
    fn per_ip_limit_spares_exempt_addresses_and_follows_xclient() {
        let t = ConnTracker::default();
        let a = t.admit(ip(2), false, 10, 1).unwrap();
        assert_eq!(t.admit(ip(2), false, 10, 1).err(), Some(Refusal::PerIp));
        let exempt: Vec<_> = (0..5)
            .map(|_| t.admit(ip(1), true, 10, 1).unwrap())
            .collect();
        let mut proxied = t.admit(ip(1), true, 10, 1).unwrap();
        assert_eq!(proxied.rekey(ip(2), false, 1), Err(Refusal::PerIp));
        drop(a);
        proxied.rekey(ip(2), false, 1).unwrap();
        assert_eq!(t.admit(ip(2), false, 10, 1).err(), Some(Refusal::PerIp));
        drop(proxied);
        assert!(t.admit(ip(2), false, 10, 1).is_ok());
        assert_eq!(t.total(), 5);
        drop(exempt);
        assert_eq!(t.total(), 0);
    }

    #[test]
    fn at_the_limit_the_longest_idle_session_makes_room() {
        let t = ConnTracker::default();
        let busy = t.admit(ip(3), false, 2, 5).unwrap();
        let idle = t.admit(ip(4), false, 2, 5).unwrap();
        // Nobody waiting for a command: refused.
        assert_eq!(t.admit(ip(5), false, 2, 5).err(), Some(Refusal::Total));
        // Both waiting: the one waiting longer goes.
        idle.waiting();
        *idle.lock_since() = Some(Instant::now() - Duration::from_secs(30));
        busy.waiting();
        let newcomer = t.admit(ip(5), false, 2, 5).unwrap();
        assert!(idle.shared.evicted.load(Ordering::Relaxed));
        assert!(!busy.shared.evicted.load(Ordering::Relaxed));
        busy.working();
        // The evicted slot is on its way out: it is not evicted twice, and there is no room.
        assert_eq!(t.admit(ip(6), false, 2, 5).err(), Some(Refusal::Total));
        drop(idle);
        assert_eq!(t.total(), 2);
        drop((busy, newcomer));
    }
}
