//! Any message: the MIME walk finishes within its limits and never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|message: &[u8]| {
    let _ = locthu::inspect::walk(message, &locthu::inspect::Limits::default());
});
