//! Typed configuration: TOML files, an embedded annotated default, strict validation.

pub mod antivirus;
pub mod dkim;
pub mod inspect;
mod load;
mod model;
pub mod spam;
pub mod spam_auth;
pub mod spam_bayes;
pub mod spam_delegate;
pub mod spam_lists;
pub mod spam_rules;
mod units;

pub use load::{
    error_at_key, load, parse_str, valid_smtp_domain, ConfigError, ConfigErrors, Loaded, Source,
    EMBEDDED_DEFAULT, MAX_WORKERS,
};
pub use model::*;
pub use units::{ByteSize, Span};
