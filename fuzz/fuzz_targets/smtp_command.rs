//! Any command line: a command or a precise error, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|line: &[u8]| {
    let _ = locthu::smtp::command::parse(line);
});
