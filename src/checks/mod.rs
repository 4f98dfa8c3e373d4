//! The checks, one rule family per file.

pub mod relay;
pub mod size;
