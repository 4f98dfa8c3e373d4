//! SMTP: the client-facing session, the upstream client, and their shared codecs.

pub mod command;
pub mod data;
pub mod rdns;
mod reply;
pub mod session;
pub mod stream;
pub mod tls;
pub mod upstream;

pub use reply::Reply;
