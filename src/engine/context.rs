use std::net::SocketAddr;
use std::sync::Arc;

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

/// The envelope of one transaction.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Envelope {
    /// Reverse path without angle brackets; empty for the null sender `<>`.
    pub mail_from: String,
    /// Recipients accepted so far (by locthu and by the upstream).
    pub rcpts: Vec<String>,
    /// The client's `SIZE=` declaration.
    pub size_hint: Option<u64>,
    pub smtputf8: bool,
    pub eight_bit: bool,
    /// Bytes of message received in DATA (counted even past the size limit).
    pub size: u64,
}

/// The domain of an address (after the last `@`), lowercased; empty if there is none.
pub fn domain_of(addr: &str) -> String {
    addr.rsplit_once('@')
        .map(|(_, d)| d.trim_end_matches('.').to_ascii_lowercase())
        .unwrap_or_default()
}
