//! Any DATA stream, fed in two pieces: the decoder never panics and the split never matters.
#![no_main]
use libfuzzer_sys::fuzz_target;
use locthu::smtp::data::{DataDecoder, DataLimits};

const LIMITS: DataLimits = DataLimits {
    max_size: 1 << 20,
    max_line: 1000,
    max_header: 1 << 16,
};

fn decode(parts: &[&[u8]]) -> (Vec<u8>, bool) {
    let mut d = DataDecoder::new(LIMITS);
    let mut out = Vec::new();
    let mut buf = Vec::new();
    for part in parts {
        buf.extend_from_slice(part);
        let fed = d
            .feed(&buf, &mut |b: &[u8]| -> Result<(), ()> {
                out.extend_from_slice(b);
                Ok(())
            })
            .unwrap_or(locthu::smtp::data::Fed { consumed: 0, done: false });
        buf.drain(..fed.consumed);
        if fed.done {
            return (out, true);
        }
    }
    (out, false)
}

fuzz_target!(|input: &[u8]| {
    let cut = input.first().map(|b| *b as usize % (input.len() + 1)).unwrap_or(0);
    assert_eq!(decode(&[input]), decode(&[&input[..cut], &input[cut..]]));
});
