//! SMTP: the client-facing session, the upstream client, and their shared codecs.

pub mod command;
pub mod data;
mod reply;

pub use reply::Reply;
