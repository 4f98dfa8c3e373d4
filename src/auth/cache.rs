//! The DNS caches mail-auth asks before each query (it ships none): one bounded map per
//! record type, each answer kept until the expiry its TTL gives (negative answers for their
//! SOA's negative TTL, capped at an hour by mail-auth). The TXT map holds parsed records, so
//! DMARC's walk to the organisational domain (up to 8 TXT lookups, RFC 9989 §4.10.1) and
//! repeated SPF includes cost one query per name per TTL.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Mutex;
use std::time::Instant;

use mail_auth::{DnsCache, Mx, Negative, RecordSet, ResolverCache, TxtRecord};

/// A map of answers with their expiry, at most `cap` entries.
pub struct TtlMap<K, V> {
    cap: usize,
    map: Mutex<HashMap<K, (V, Instant)>>,
}

impl<K: Hash + Eq, V: Clone> TtlMap<K, V> {
    pub fn new(cap: usize) -> Self {
        TtlMap {
            cap,
            map: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, (V, Instant)>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Entries held now (expired ones included until they are swept).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<K: Hash + Eq + Clone, V: Clone> ResolverCache<K, V> for TtlMap<K, V> {
    fn get<Q>(&self, name: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let map = self.lock();
        let (value, expires) = map.get(name)?;
        (*expires > Instant::now()).then(|| value.clone())
    }

    fn remove<Q>(&self, name: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.lock().remove(name).map(|(v, _)| v)
    }

    fn insert(&self, key: K, value: V, valid_until: Instant) {
        if self.cap == 0 {
            return;
        }
        let mut map = self.lock();
        if map.len() >= self.cap && !map.contains_key(&key) {
            // Full: sweep what expired; if that frees nothing, drop one entry (any: the map
            // is a cache, and a bound matters more than which answer goes).
            let now = Instant::now();
            map.retain(|_, (_, e)| *e > now);
            if map.len() >= self.cap {
                if let Some(k) = map.keys().next().cloned() {
                    map.remove(&k);
                }
            }
        }
        map.insert(key, (value, valid_until));
    }
}

type Answer<T> = Result<RecordSet<T>, Negative>;

/// One cache per record type, shared by every message (see the module doc).
pub struct Caches {
    pub txt: TtlMap<Box<str>, TxtRecord>,
    pub mx: TtlMap<Box<str>, Answer<Mx>>,
    pub ipv4: TtlMap<Box<str>, Answer<Ipv4Addr>>,
    pub ipv6: TtlMap<Box<str>, Answer<Ipv6Addr>>,
    pub ptr: TtlMap<IpAddr, Answer<Box<str>>>,
}

impl Caches {
    /// Caches of at most `cap` entries each.
    pub fn new(cap: usize) -> Caches {
        Caches {
            txt: TtlMap::new(cap),
            mx: TtlMap::new(cap),
            ipv4: TtlMap::new(cap),
            ipv6: TtlMap::new(cap),
            ptr: TtlMap::new(cap),
        }
    }
}

impl DnsCache for Caches {
    type Txt = TtlMap<Box<str>, TxtRecord>;
    type Mx = TtlMap<Box<str>, Answer<Mx>>;
    type Ipv4 = TtlMap<Box<str>, Answer<Ipv4Addr>>;
    type Ipv6 = TtlMap<Box<str>, Answer<Ipv6Addr>>;
    type Ptr = TtlMap<IpAddr, Answer<Box<str>>>;

    fn txt(&self) -> Option<&Self::Txt> {
        Some(&self.txt)
    }
    fn mx(&self) -> Option<&Self::Mx> {
        Some(&self.mx)
    }
    fn ipv4(&self) -> Option<&Self::Ipv4> {
        Some(&self.ipv4)
    }
    fn ipv6(&self) -> Option<&Self::Ipv6> {
        Some(&self.ipv6)
    }
    fn ptr(&self) -> Option<&Self::Ptr> {
        Some(&self.ptr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn entries_expire_and_the_map_stays_bounded() {
        let m: TtlMap<Box<str>, u32> = TtlMap::new(2);
        let later = Instant::now() + Duration::from_secs(60);
        m.insert("a.vn.".into(), 1, later);
        m.insert("b.vn.".into(), 2, Instant::now());
        assert_eq!(m.get("a.vn."), Some(1));
        assert_eq!(m.get("b.vn."), None, "expired");
        // Full: the expired entry is swept to make room.
        m.insert("c.vn.".into(), 3, later);
        assert_eq!((m.get("a.vn."), m.get("c.vn.")), (Some(1), Some(3)));
        m.insert("d.vn.".into(), 4, later);
        assert_eq!(m.len(), 2);
        assert_eq!(m.get("d.vn."), Some(4));
        let off: TtlMap<Box<str>, u32> = TtlMap::new(0);
        off.insert("a.vn.".into(), 1, later);
        assert!(off.is_empty());
    }
}
