//! The checks, one rule family per file.

pub mod antivirus;
pub mod inspect;
pub mod relay;
pub mod size;
