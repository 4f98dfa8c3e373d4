//! The clamd protocol without IO: command bytes, INSTREAM chunk framing, and reply parsing.
//!
//! clamd's protocol (clamd(8), "COMMANDS"): a command prefixed with `z` is NUL-terminated and so
//! is its reply. INSTREAM then takes chunks, each a 4-byte big-endian length and that many
//! bytes, ended by a zero length; clamd answers one line: `stream: OK`, `stream: NAME FOUND`,
//! `INSTREAM size limit exceeded. ERROR` (more than its `StreamMaxLength`), or `... ERROR`.

/// `zPING\0`: clamd answers `PONG`.
pub const PING: &[u8] = b"zPING\0";
/// `zVERSION\0`: clamd answers e.g. `ClamAV 1.4.6/27500/Tue Nov 25 09:00:00 2026`.
pub const VERSION: &[u8] = b"zVERSION\0";
/// `zINSTREAM\0`: starts a stream of chunks.
pub const INSTREAM: &[u8] = b"zINSTREAM\0";
/// The zero-length chunk that ends a stream.
pub const END_OF_STREAM: [u8; 4] = [0, 0, 0, 0];

/// Longest reply accepted; clamd's lines are short, so more is a broken or hostile peer.
pub const MAX_REPLY: usize = 1024;
/// Longest virus name kept; longer names are cut (names end up in SMTP replies and logs).
pub const MAX_NAME: usize = 100;

/// The 4-byte header of one INSTREAM chunk of `len` bytes (a zero `len` ends the stream).
pub fn chunk_header(len: u32) -> [u8; 4] {
    len.to_be_bytes()
}

/// Progress of reading one NUL-terminated reply (STYLE.md habit 3).
#[derive(Debug, PartialEq, Eq)]
pub enum Progress {
    /// The reply, without its terminator.
    Complete(String),
    /// No terminator yet.
    NeedMore,
    /// Longer than [`MAX_REPLY`], or the peer closed mid-reply.
    Invalid(&'static str),
}

/// Accumulates bytes until the NUL that ends a `z` command's reply.
#[derive(Debug, Default)]
pub struct ReplyReader {
    buf: Vec<u8>,
}

impl ReplyReader {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds bytes read from clamd; `eof` when the peer closed the connection.
    ///
    /// Bytes after the NUL are ignored: clamd sends one reply per connection here.
    pub fn push(&mut self, bytes: &[u8], eof: bool) -> Progress {
        let room = MAX_REPLY + 1 - self.buf.len().min(MAX_REPLY + 1);
        let take = bytes.len().min(room);
        let bytes = &bytes[..take];
        if let Some(nul) = memchr::memchr(0, bytes) {
            self.buf.extend_from_slice(&bytes[..nul]);
            return Progress::Complete(self.text());
        }
        self.buf.extend_from_slice(bytes);
        if self.buf.len() > MAX_REPLY {
            return Progress::Invalid("reply longer than 1024 bytes");
        }
        if eof {
            // Older clamd builds end some replies with a newline and a close instead of NUL;
            // a complete line is still a reply, an empty or cut one is not.
            if self.buf.last() == Some(&b'\n') {
                return Progress::Complete(self.text());
            }
            return Progress::Invalid(if self.buf.is_empty() {
                "connection closed without a reply"
            } else {
                "connection closed in the middle of a reply"
            });
        }
        Progress::NeedMore
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.buf)
            .trim_end_matches(['\n', '\r'])
            .to_string()
    }
}

/// What clamd said about a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanReply {
    /// `stream: OK`.
    Clean,
    /// `stream: NAME FOUND`, with NAME sanitised by [`sanitize_name`].
    Found(String),
    /// `INSTREAM size limit exceeded. ERROR`: the stream passed clamd's `StreamMaxLength`.
    SizeLimit,
    /// Any other `... ERROR` (out of memory, temp dir full, ...), sanitised.
    Error(String),
    /// Not a reply clamd documents, sanitised.
    Unexpected(String),
}

/// Parses a scan reply by its exact shape, never by substring: a virus named `OK` or a path
/// containing `FOUND` must not change the verdict.
pub fn parse_scan_reply(reply: &str) -> ScanReply {
    let reply = reply.trim_end_matches(['\0', '\n', '\r']);
    if reply == "INSTREAM size limit exceeded. ERROR" {
        return ScanReply::SizeLimit;
    }
    if let Some(rest) = reply.strip_prefix("stream: ") {
        if rest == "OK" {
            return ScanReply::Clean;
        }
        if let Some(name) = rest.strip_suffix(" FOUND") {
            if !name.is_empty() {
                return ScanReply::Found(sanitize_name(name));
            }
        }
    }
    if reply.ends_with(" ERROR") {
        return ScanReply::Error(sanitize_name(reply));
    }
    ScanReply::Unexpected(sanitize_name(reply))
}

/// Printable ASCII (space included) only, at most [`MAX_NAME`] characters: names go into SMTP replies, headers
/// and logs, and come from signatures anyone can write.
pub fn sanitize_name(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c == ' ' || c.is_ascii_graphic() {
                c
            } else {
                '_'
            }
        })
        .take(MAX_NAME)
        .collect();
    if name.chars().count() > MAX_NAME {
        out.push_str("...");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_framing_is_big_endian_with_zero_terminator() {
        assert_eq!(chunk_header(1), [0, 0, 0, 1]);
        assert_eq!(chunk_header(65536), [0, 1, 0, 0]);
        assert_eq!(chunk_header(0), END_OF_STREAM);
    }

    #[test]
    fn commands_use_the_nul_terminated_form() {
        assert_eq!(INSTREAM, b"zINSTREAM\0");
        assert_eq!(PING, b"zPING\0");
        assert_eq!(VERSION, b"zVERSION\0");
    }

    #[test]
    fn reply_is_complete_at_every_split_point() {
        let wire = b"stream: Eicar-Test-Signature FOUND\0";
        for split in 0..=wire.len() {
            let mut r = ReplyReader::new();
            let first = r.push(&wire[..split], false);
            let got = if let Progress::Complete(s) = first {
                s
            } else {
                assert_eq!(first, Progress::NeedMore, "split {split}");
                match r.push(&wire[split..], false) {
                    Progress::Complete(s) => s,
                    other => panic!("split {split}: {other:?}"),
                }
            };
            assert_eq!(got, "stream: Eicar-Test-Signature FOUND");
        }
    }

    #[test]
    fn reply_one_byte_at_a_time() {
        let mut r = ReplyReader::new();
        let mut out = None;
        for b in b"PONG\0" {
            if let Progress::Complete(s) = r.push(&[*b], false) {
                out = Some(s);
            }
        }
        assert_eq!(out.as_deref(), Some("PONG"));
    }

    #[test]
    fn eof_before_nul_is_invalid_unless_a_line_ended() {
        assert_eq!(
            ReplyReader::new().push(b"", true),
            Progress::Invalid("connection closed without a reply")
        );
        assert!(matches!(
            ReplyReader::new().push(b"stream: O", true),
            Progress::Invalid(_)
        ));
        assert_eq!(
            ReplyReader::new().push(b"stream: OK\n", true),
            Progress::Complete("stream: OK".into())
        );
    }

    #[test]
    fn endless_reply_is_invalid_not_buffered() {
        let mut r = ReplyReader::new();
        let junk = vec![b'A'; 600];
        assert_eq!(r.push(&junk, false), Progress::NeedMore);
        assert!(matches!(r.push(&junk, false), Progress::Invalid(_)));
        assert!(r.buf.len() <= MAX_REPLY + 1);
    }

    #[test]
    fn scan_replies_parse_by_shape() {
        assert_eq!(parse_scan_reply("stream: OK"), ScanReply::Clean);
        assert_eq!(
            parse_scan_reply("stream: Eicar-Test-Signature FOUND"),
            ScanReply::Found("Eicar-Test-Signature".into())
        );
        assert_eq!(
            parse_scan_reply("INSTREAM size limit exceeded. ERROR"),
            ScanReply::SizeLimit
        );
        assert_eq!(
            parse_scan_reply("Can't allocate memory ERROR"),
            ScanReply::Error("Can't allocate memory ERROR".into())
        );
        // Substring matching would call these clean or infected.
        assert_eq!(
            parse_scan_reply("stream: OK FOUND"),
            ScanReply::Found("OK".into())
        );
        assert!(matches!(
            parse_scan_reply("stream: FOUND"),
            ScanReply::Unexpected(_)
        ));
        assert!(matches!(
            parse_scan_reply("stream: OKAY"),
            ScanReply::Unexpected(_)
        ));
        assert!(matches!(parse_scan_reply("PONG"), ScanReply::Unexpected(_)));
    }

    #[test]
    fn names_are_printable_ascii_and_bounded() {
        assert_eq!(sanitize_name("Win.Trojan\r\n250 ok"), "Win.Trojan__250 ok");
        assert_eq!(sanitize_name("Vi-rút"), "Vi-r_t");
        let long = "A".repeat(500);
        let s = sanitize_name(&long);
        assert_eq!(s.len(), MAX_NAME + 3);
    }
}
