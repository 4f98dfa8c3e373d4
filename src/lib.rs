//! locthu ("lọc thư": filtering mail): an inline SMTP filtering gateway for official mail.
#![forbid(unsafe_code)]

pub mod checks;
pub mod config;
pub mod engine;
pub mod inspect;
pub mod metrics;
pub mod smtp;
pub mod spool;
