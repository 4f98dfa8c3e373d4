//! locthu ("lọc thư": filtering mail): an inline SMTP filtering gateway for official mail.
#![forbid(unsafe_code)]

pub mod admin;
pub mod auth;
pub mod checks;
pub mod clamd;
pub mod config;
pub mod conns;
pub mod dns;
pub mod engine;
pub mod inspect;
pub mod metrics;
pub mod quarantine;
pub mod reply;
pub mod runtime;
pub mod scan;
pub mod server;
pub mod services;
pub mod smtp;
pub mod spam;
pub mod spool;
pub mod state;
