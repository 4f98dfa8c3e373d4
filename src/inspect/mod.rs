//! Content inspection: MIME walk, sniffing and archives.
pub mod archive;
