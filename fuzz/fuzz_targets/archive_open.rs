//! Any archive bytes: listing stays within the budget and never panics.
#![no_main]
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use locthu::inspect::archive::{detect, open, Budget};

fuzz_target!(|bytes: &[u8]| {
    if let Some(kind) = detect(bytes) {
        let mut budget = Budget::new(100, 1 << 20, 100, Duration::from_millis(200));
        let _ = open(bytes, kind, &mut budget, &["password".to_string()]);
    }
});
