//! Typed configuration: TOML files, an embedded annotated default, strict validation.

mod units;

pub use units::{ByteSize, Span};
