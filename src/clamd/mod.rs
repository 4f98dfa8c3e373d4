//! Our own clamd client: INSTREAM over TCP or a Unix socket, PING and VERSION for health checks.
//!
//! Why not the `clamav-client` crate (2.3.0): its scan over an `AsyncRead` is private (we must
//! stream the spool, not a path or one in-memory buffer), it has no connect or scan timeouts
//! (a stalled clamd would hold a session forever), and it decides verdicts by substring (a
//! reply containing `OK` or `FOUND` anywhere). The protocol is small: a sans-IO codec
//! ([`codec`]) plus a thin tokio driver ([`client`]) and an endpoint pool ([`pool`]).

pub mod client;
pub mod codec;
pub mod pool;

pub use client::{ClamdError, Client, Endpoint, Verdict};
pub use pool::{Pool, ScanFailure};
