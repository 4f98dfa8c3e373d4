//! Typed configuration: TOML files, an embedded annotated default, strict validation.

mod load;
mod model;
mod units;

pub use load::{load, parse_str, ConfigError, ConfigErrors, Loaded, Source, EMBEDDED_DEFAULT};
pub use model::*;
pub use units::{ByteSize, Span};
