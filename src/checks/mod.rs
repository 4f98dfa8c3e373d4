//! The checks that judge messages; each implements [`crate::engine::Check`].

pub mod inspect;
