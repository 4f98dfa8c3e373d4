//! SMTP: the client-facing session, the upstream client, and their shared codecs.

pub mod command;
pub mod data;
pub mod rdns;
pub mod session;
pub mod stream;
pub mod tls;
pub mod upstream;

/// Replies are values the engine produces too; they live outside the transport.
pub use crate::reply::Reply;
