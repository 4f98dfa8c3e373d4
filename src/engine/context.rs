use std::any::{Any, TypeId};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

/// What a listener is for; it decides which rules run (DESIGN.md, "Both directions").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Mail from the Internet to the province (the MX gateway).
    Inbound,
    /// Mail the province's own servers send towards the Internet.
    Outbound,
    /// Mail from authenticated users' clients.
    Submission,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Inbound => "inbound",
            Role::Outbound => "outbound",
            Role::Submission => "submission",
        }
    }
}

/// Which way a message travels, as the checks that care about direction see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Inbound,
    Outbound,
}

/// The client as locthu knows it: the peer itself, or the real client named by a trusted
/// proxy through XCLIENT/XFORWARD.
#[derive(Debug, Clone, Serialize)]
pub struct Client {
    pub addr: SocketAddr,
    /// Verified reverse DNS name, when known.
    pub name: Option<String>,
    pub helo: Option<String>,
    /// SASL login name, when the client authenticated (to us or to the proxy in front of us).
    pub login: Option<String>,
    /// True when `addr` is inside `trusted_networks` (never when the address is unavailable).
    pub trusted: bool,
    /// A proxy in front named the client `ADDR=[UNAVAILABLE]`: `addr` is the proxy's own and
    /// must match no network (Postfix XCLIENT_README: an unknown address is no address).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub addr_unavailable: bool,
}

/// What every check may read about the connection.
#[derive(Debug, Clone, Serialize)]
pub struct Connection {
    pub id: u64,
    pub listener: Arc<str>,
    pub role: Role,
    pub client: Client,
    pub tls: bool,
}

impl Connection {
    /// An internal sender is a trusted network or an authenticated user: only they may send
    /// to recipients outside `internal_domains`.
    pub fn is_internal_sender(&self) -> bool {
        self.client.trusted || self.client.login.is_some()
    }

    /// Outbound when the listener says so or the sender is internal; otherwise inbound.
    pub fn direction(&self) -> Direction {
        match self.role {
            Role::Outbound | Role::Submission => Direction::Outbound,
            Role::Inbound if self.is_internal_sender() => Direction::Outbound,
            Role::Inbound => Direction::Inbound,
        }
    }
}

/// One recipient of a transaction, with what checks learned about it (a directory's
/// attributes: the mailbox's agency, whether it may receive from outside, …).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Recipient {
    /// Forward path without angle brackets.
    pub address: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub attrs: BTreeMap<String, String>,
}

impl Recipient {
    pub fn new(address: impl Into<String>) -> Self {
        Recipient {
            address: address.into(),
            attrs: BTreeMap::new(),
        }
    }
}

impl From<&str> for Recipient {
    fn from(address: &str) -> Self {
        Recipient::new(address)
    }
}

/// What checks keep about one transaction between its stages, one value per type (as
/// `http::Extensions` does): each check keys by a type of its own, so none can read or
/// overwrite another's. For example a lookup made at RCPT and read again at DATA.
#[derive(Default)]
pub struct Extensions(Mutex<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>);

impl Extensions {
    pub fn insert<T: Any + Send + Sync>(&self, value: T) {
        self.lock().insert(TypeId::of::<T>(), Arc::new(value));
    }

    pub fn get<T: Any + Send + Sync>(&self) -> Option<Arc<T>> {
        self.lock()
            .get(&TypeId::of::<T>())
            .cloned()
            .and_then(|v| v.downcast::<T>().ok())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<TypeId, Arc<dyn Any + Send + Sync>>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Clone for Extensions {
    fn clone(&self) -> Self {
        Extensions(Mutex::new(self.lock().clone()))
    }
}

impl std::fmt::Debug for Extensions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Extensions({} values)", self.lock().len())
    }
}

/// The envelope of one transaction: the per-message object every stage's checks see.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Envelope {
    /// Reverse path without angle brackets; empty for the null sender `<>`.
    pub mail_from: String,
    /// Recipients accepted so far (by locthu and by the upstream).
    pub rcpts: Vec<Recipient>,
    /// The client's `SIZE=` declaration.
    pub size_hint: Option<u64>,
    pub smtputf8: bool,
    pub eight_bit: bool,
    /// Bytes of message received in DATA (counted even past the size limit).
    pub size: u64,
    /// The checks' own state for this transaction.
    #[serde(skip)]
    pub state: Extensions,
}

impl Envelope {
    /// The recipients' addresses, in order.
    pub fn rcpt_addresses(&self) -> Vec<&str> {
        self.rcpts.iter().map(|r| r.address.as_str()).collect()
    }
}

/// The domain of an address (after the last `@`), lowercased; empty if there is none.
pub fn domain_of(addr: &str) -> String {
    addr.rsplit_once('@')
        .map(|(_, d)| d.trim_end_matches('.').to_ascii_lowercase())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_check_keeps_its_own_state_in_the_envelope() {
        #[derive(Debug, PartialEq)]
        struct Lookup(&'static str);
        #[derive(Debug, PartialEq)]
        struct Score(u32);
        let env = Envelope::default();
        env.state.insert(Lookup("phong-tai-chinh"));
        env.state.insert(Score(7));
        assert_eq!(
            *env.state.get::<Lookup>().unwrap(),
            Lookup("phong-tai-chinh")
        );
        let copy = env.clone();
        copy.state.insert(Score(9));
        assert_eq!(*env.state.get::<Score>().unwrap(), Score(7));
        assert_eq!(*copy.state.get::<Score>().unwrap(), Score(9));
        assert!(Envelope::default().state.get::<Score>().is_none());
    }
}
