//! The DATA stream (RFC 5321 4.5.2): removing dot-stuffing on the way in, adding it back on the
//! way out, so that what the upstream receives is byte for byte what the client sent.
//!
//! Written by hand rather than with smtp-proto because we need the limits (size, line length,
//! header block) counted in the same pass, and a stricter end-of-data rule: only CRLF.CRLF ends
//! the message, and a bare-LF line is re-stuffed, never relayed raw (no SMTP smuggling).

use memchr::memchr;

/// Limits the decoder counts as it goes; crossing one never stops the decoding (the stream must
/// stay in step with the client), it only records the fact and stops storing.
#[derive(Debug, Clone, Copy)]
pub struct DataLimits {
    pub max_size: u64,
    pub max_line: usize,
    pub max_header: u64,
}

/// What went wrong in a message, known at its end.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DataFaults {
    /// More than `max_size` bytes; content past the limit was discarded.
    pub too_big: bool,
    pub line_too_long: bool,
    pub header_too_big: bool,
    pub bare_lf: bool,
}

/// Incremental decoder from the client's DATA bytes to the message.
#[derive(Debug)]
pub struct DataDecoder {
    limits: DataLimits,
    /// BDAT chunks (RFC 3030): no dot-stuffing and no terminator, the length says where
    /// the chunk ends.
    raw: bool,
    /// At the first byte of a line.
    line_start: bool,
    /// The previous line ended in CRLF (DATA's own line counts), so `.CRLF` would end the data.
    after_crlf: bool,
    /// The last byte of the previous chunk was a CR (a CRLF may be split across reads).
    pending_cr: bool,
    line_len: usize,
    in_header: bool,
    header_len: u64,
    size: u64,
    faults: DataFaults,
}

/// The outcome of one [`DataDecoder::feed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fed {
    /// Bytes of input used; the rest (after the end of data) belongs to the next command.
    pub consumed: usize,
    /// The terminating `.CRLF` was seen.
    pub done: bool,
}

/// Longest run the decoder holds back waiting for a line end; beyond it, it emits a partial line.
const MAX_HOLD: usize = 3;

impl DataDecoder {
    pub fn new(limits: DataLimits) -> Self {
        Self::with_mode(limits, false)
    }

    /// A decoder for BDAT chunks: the same limits and line-end normalisation, no dots.
    pub fn new_raw(limits: DataLimits) -> Self {
        Self::with_mode(limits, true)
    }

    fn with_mode(limits: DataLimits, raw: bool) -> Self {
        DataDecoder {
            limits,
            raw,
            line_start: true,
            after_crlf: true,
            pending_cr: false,
            line_len: 0,
            in_header: true,
            header_len: 0,
            size: 0,
            faults: DataFaults::default(),
        }
    }

    /// Bytes of message seen so far (after unstuffing), including any past the size limit.
    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn faults(&self) -> DataFaults {
        self.faults
    }

    /// Decodes as much of `input` as can be decided, passing message bytes to `out`.
    ///
    /// Returns how much was consumed: a line start that cannot be decided yet (`.` or `.CR` at
    /// the end of the input) is left for the next call with more bytes.
    pub fn feed<E>(
        &mut self,
        input: &[u8],
        out: &mut impl FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<Fed, E> {
        // Unchanged bytes are passed on in runs as long as possible: one call per chunk rather
        // than per line keeps a 25 MB message from costing a spool write per line.
        let mut run = 0;
        let mut pos = 0;
        while pos < input.len() {
            if self.line_start && !self.raw {
                let rest = &input[pos..];
                if rest[0] == b'.' {
                    if self.after_crlf {
                        // Up to three bytes decide between the end (".CRLF") and a stuffed line.
                        let probe = &b".\r\n"[..rest.len().min(MAX_HOLD)];
                        if rest.len() < MAX_HOLD && rest.starts_with(probe) {
                            self.emit(&input[run..pos], out)?;
                            return Ok(Fed {
                                consumed: pos,
                                done: false,
                            });
                        }
                        if rest.starts_with(b".\r\n") {
                            self.emit(&input[run..pos], out)?;
                            return Ok(Fed {
                                consumed: pos + 3,
                                done: true,
                            });
                        }
                    }
                    // RFC 5321 4.5.2: drop the first dot of a line.
                    self.emit(&input[run..pos], out)?;
                    pos += 1;
                    run = pos;
                }
                self.line_start = false;
                continue;
            }
            let rest = &input[pos..];
            match memchr(b'\n', rest) {
                Some(i) => {
                    let crlf = if i == 0 {
                        self.pending_cr
                    } else {
                        rest[i - 1] == b'\r'
                    };
                    self.line_len += i + 1;
                    self.end_line_checks();
                    if !crlf {
                        // Bare LF: normalise to CRLF so the upstream cannot read it differently.
                        self.faults.bare_lf = true;
                        self.emit(&input[run..pos + i], out)?;
                        self.emit(b"\r\n", out)?;
                        run = pos + i + 1;
                    }
                    // Only a line that really ended in CRLF lets the next `.CRLF` end the data:
                    // `<LF>.<CR><LF>` is the SMTP smuggling shape (CVE-2023-51766 and kin), and
                    // Postfix, Exim and Sendmail read it differently from one another.
                    self.after_crlf = crlf;
                    self.line_start = true;
                    self.pending_cr = false;
                    self.line_len = 0;
                    pos += i + 1;
                }
                None => {
                    self.line_len += rest.len();
                    if self.line_len > self.limits.max_line {
                        self.faults.line_too_long = true;
                    }
                    self.pending_cr = rest.last() == Some(&b'\r');
                    pos = input.len();
                }
            }
        }
        self.emit(&input[run..pos], out)?;
        Ok(Fed {
            consumed: pos,
            done: false,
        })
    }

    fn end_line_checks(&mut self) {
        if self.line_len > self.limits.max_line {
            self.faults.line_too_long = true;
        }
        if self.in_header {
            self.header_len += self.line_len as u64;
            if self.line_len <= 2 {
                // The empty line that ends the header block.
                self.in_header = false;
            } else if self.header_len > self.limits.max_header {
                self.faults.header_too_big = true;
            }
        }
    }

    fn emit<E>(
        &mut self,
        bytes: &[u8],
        out: &mut impl FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        let before = self.size;
        self.size += bytes.len() as u64;
        if self.size <= self.limits.max_size {
            out(bytes)
        } else {
            self.faults.too_big = true;
            let room = self.limits.max_size.saturating_sub(before) as usize;
            if room > 0 {
                out(&bytes[..room])?;
            }
            Ok(())
        }
    }
}

/// Incremental dot-stuffer for sending a message (CRLF lines) as DATA.
#[derive(Debug)]
pub struct DotStuffer {
    line_start: bool,
}

impl Default for DotStuffer {
    fn default() -> Self {
        DotStuffer { line_start: true }
    }
}

impl DotStuffer {
    /// Appends `chunk` to `out`, doubling every dot that starts a line.
    pub fn stuff(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        let mut pos = 0;
        while pos < chunk.len() {
            if self.line_start && chunk[pos] == b'.' {
                out.push(b'.');
            }
            match memchr(b'\n', &chunk[pos..]) {
                Some(i) => {
                    out.extend_from_slice(&chunk[pos..=pos + i]);
                    pos += i + 1;
                    self.line_start = true;
                }
                None => {
                    out.extend_from_slice(&chunk[pos..]);
                    self.line_start = false;
                    return;
                }
            }
        }
    }

    /// The terminator, preceded by a CRLF if the message did not end with one.
    pub fn finish(&self, out: &mut Vec<u8>) {
        if !self.line_start {
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b".\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: DataLimits = DataLimits {
        max_size: 1 << 20,
        max_line: 1000,
        max_header: 10_000,
    };

    /// Feeds `input` split at every `step` bytes, as a slow client would send it.
    fn decode_in_steps(
        input: &[u8],
        step: usize,
        limits: DataLimits,
    ) -> (Vec<u8>, Fed, DataFaults, usize) {
        let mut d = DataDecoder::new(limits);
        let mut out = Vec::new();
        let mut buf = Vec::new();
        let mut total = 0;
        for chunk in input.chunks(step) {
            buf.extend_from_slice(chunk);
            let fed = d
                .feed(&buf, &mut |b: &[u8]| -> Result<(), ()> {
                    out.extend_from_slice(b);
                    Ok(())
                })
                .unwrap();
            total += fed.consumed;
            buf.drain(..fed.consumed);
            if fed.done {
                return (out, fed, d.faults(), total);
            }
        }
        (
            out,
            Fed {
                consumed: total,
                done: false,
            },
            d.faults(),
            total,
        )
    }

    #[test]
    fn unstuffs_and_stops_at_crlf_dot_crlf_at_every_split() {
        let wire = b"Subject: x\r\n\r\n..leading dot\r\n.\r\nQUIT\r\n";
        for step in 1..wire.len() {
            let (msg, fed, faults, used) = decode_in_steps(wire, step, LIMITS);
            assert!(fed.done, "step {step}");
            assert_eq!(msg, b"Subject: x\r\n\r\n.leading dot\r\n", "step {step}");
            assert_eq!(used, wire.len() - b"QUIT\r\n".len(), "step {step}");
            assert_eq!(faults, DataFaults::default());
        }
    }

    #[test]
    fn restuffing_gives_back_the_clients_bytes() {
        // Every line that starts with a dot is stuffed, as RFC 5321 4.5.2 requires of clients.
        let wire: &[u8] = b"a\r\n..b\r\n...\r\n..c.\r\n\r\n";
        let (msg, _, _, _) = decode_in_steps(&[wire, b".\r\n"].concat(), 7, LIMITS);
        let mut out = Vec::new();
        let mut s = DotStuffer::default();
        for c in msg.chunks(2) {
            s.stuff(c, &mut out);
        }
        s.finish(&mut out);
        assert_eq!(out, [wire, b".\r\n"].concat());
    }

    #[test]
    fn bare_lf_dot_never_ends_data_and_is_normalised() {
        // "\n.\n" and "\r\n.\n" are the SMTP smuggling shapes: neither ends DATA.
        let wire = b"a\n.\nb\r\n.\n\r\n.\r\n";
        let (msg, fed, faults, _) = decode_in_steps(wire, 1, LIMITS);
        assert!(fed.done);
        assert!(faults.bare_lf);
        assert_eq!(msg, b"a\r\n\r\nb\r\n\r\n\r\n");
        let mut out = Vec::new();
        let mut s = DotStuffer::default();
        s.stuff(&msg, &mut out);
        s.finish(&mut out);
        assert_eq!(out.windows(5).filter(|w| w == b"\r\n.\r\n").count(), 1);
    }

    #[test]
    fn limits_are_recorded_without_losing_step() {
        let limits = DataLimits {
            max_size: 20,
            max_line: 1000,
            max_header: 10_000,
        };
        let wire = b"0123456789\r\n0123456789\r\n0123456789\r\n.\r\n";
        let (msg, fed, faults, _) = decode_in_steps(wire, 5, limits);
        assert!(fed.done && faults.too_big);
        assert_eq!(msg.len(), 20);

        let long = [vec![b'x'; 1200], b"\r\n.\r\n".to_vec()].concat();
        let (_, fed, faults, _) = decode_in_steps(&long, 64, LIMITS);
        assert!(fed.done && faults.line_too_long);

        let header = [b"X: ".to_vec(), vec![b'y'; 900], b"\r\n".to_vec()]
            .concat()
            .repeat(20);
        let (_, _, faults, _) = decode_in_steps(
            &[header, b"\r\nbody\r\n.\r\n".to_vec()].concat(),
            100,
            LIMITS,
        );
        assert!(faults.header_too_big);
    }

    #[test]
    fn raw_chunks_keep_dots_and_normalise_line_ends() {
        let mut d = DataDecoder::new_raw(LIMITS);
        let mut out = Vec::new();
        let mut sink = |b: &[u8]| -> Result<(), ()> {
            out.extend_from_slice(b);
            Ok(())
        };
        let fed = d.feed(b"a\r\n.\r\n..b\nc", &mut sink).unwrap();
        assert_eq!(
            fed,
            Fed {
                consumed: 11,
                done: false
            }
        );
        assert_eq!(out, b"a\r\n.\r\n..b\r\nc");
        assert!(d.faults().bare_lf);
    }

    #[test]
    fn empty_message() {
        let (msg, fed, _, used) = decode_in_steps(b".\r\n", 1, LIMITS);
        assert!(fed.done && msg.is_empty() && used == 3);
    }
}
