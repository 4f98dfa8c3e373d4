//! Properties of the SMTP codecs on arbitrary input (the stable-CI twin of fuzz/ targets).

use locthu::smtp::command;
use locthu::smtp::data::{DataDecoder, DataLimits, DotStuffer};
use proptest::prelude::*;

const LIMITS: DataLimits = DataLimits {
    max_size: 1 << 20,
    max_line: 1000,
    max_header: 1 << 16,
};

fn decode(input: &[u8], splits: &[usize]) -> (Vec<u8>, Option<usize>) {
    let mut d = DataDecoder::new(LIMITS);
    let mut out = Vec::new();
    let mut buf = Vec::new();
    let mut used = 0;
    let mut at = 0;
    let mut cuts: Vec<usize> = splits.iter().map(|s| s % (input.len() + 1)).collect();
    cuts.push(input.len());
    cuts.sort();
    for cut in cuts {
        if cut < at {
            continue;
        }
        buf.extend_from_slice(&input[at..cut]);
        at = cut;
        let fed = d
            .feed(&buf, &mut |b: &[u8]| -> Result<(), ()> {
                out.extend_from_slice(b);
                Ok(())
            })
            .unwrap();
        used += fed.consumed;
        buf.drain(..fed.consumed);
        if fed.done {
            return (out, Some(used));
        }
    }
    (out, None)
}

proptest! {
    #[test]
    fn command_parser_never_panics(line in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = command::parse(&line);
    }

    #[test]
    fn data_decoding_does_not_depend_on_how_the_input_is_split(
        input in proptest::collection::vec(prop_oneof![Just(b'.'), Just(b'\r'), Just(b'\n'), Just(b'a')], 0..200),
        splits in proptest::collection::vec(any::<usize>(), 0..8),
    ) {
        prop_assert_eq!(decode(&input, &[]), decode(&input, &splits));
    }

    #[test]
    fn stuffing_then_decoding_gives_the_message_back(
        lines in proptest::collection::vec("[.a-z ]{0,20}", 0..20),
    ) {
        let message: Vec<u8> = lines.iter().flat_map(|l| format!("{l}\r\n").into_bytes()).collect();
        let mut wire = Vec::new();
        let mut s = DotStuffer::default();
        s.stuff(&message, &mut wire);
        s.finish(&mut wire);
        let (out, used) = decode(&wire, &[3, 17]);
        prop_assert_eq!(used, Some(wire.len()));
        prop_assert_eq!(out, message);
    }
}
