//! Archive readers: detect a container by its magic bytes, then list (and, within a shared
//! [`Budget`], extract) its members one level deep. Recursion is the caller's job.
//!
//! Every reader takes the whole archive as a byte slice, never panics (crate calls are wrapped
//! in `catch_unwind`), charges every produced byte to the budget and stops at its deadline. A
//! limit reached is a [`Problem`] in the [`Listing`], not an error.
//!
//! The work is CPU-bound and synchronous: call it from `spawn_blocking`, not on the runtime.
//! Panic isolation needs `panic = "unwind"` (the default) in every profile.

mod budget;
mod iso;
mod rar;
mod sevenz;
mod stream;
mod tar;
mod zip;

use std::fmt;

pub use budget::{Budget, RATIO_FLOOR};

/// Password candidates tried per archive at most, whatever the caller passes.
pub const MAX_PASSWORD_TRIES: usize = 16;

/// A container format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// PKZIP, including zip64.
    Zip,
    /// RAR 1.5–4.x.
    Rar4,
    /// RAR 5.0.
    Rar5,
    /// 7-Zip.
    SevenZ,
    /// gzip (RFC 1952), one or more members.
    Gzip,
    /// bzip2.
    Bzip2,
    /// xz.
    Xz,
    /// POSIX ustar, GNU and pax tar.
    Tar,
    /// ISO 9660 image (UDF-only images are detected but not listed).
    Iso,
}

impl Kind {
    /// Short lowercase name for findings and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Zip => "zip",
            Kind::Rar4 | Kind::Rar5 => "rar",
            Kind::SevenZ => "7z",
            Kind::Gzip => "gzip",
            Kind::Bzip2 => "bzip2",
            Kind::Xz => "xz",
            Kind::Tar => "tar",
            Kind::Iso => "iso",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Magic-byte detection (never by name). Tar: "ustar" at offset 257. ISO: "CD001" in a volume
/// descriptor from 0x8001 on, or a UDF volume recognition sequence ("BEA01", "NSR02", "NSR03").
pub fn detect(bytes: &[u8]) -> Option<Kind> {
    let at =
        |off: usize, magic: &[u8]| bytes.get(off..).is_some_and(|rest| rest.starts_with(magic));
    if at(0, b"PK\x03\x04") || at(0, b"PK\x05\x06") || at(0, b"PK\x07\x08PK\x03\x04") {
        return Some(Kind::Zip);
    }
    if at(0, rar::RAR4_MAGIC) {
        return Some(Kind::Rar4);
    }
    if at(0, rar::RAR5_MAGIC) {
        return Some(Kind::Rar5);
    }
    if at(0, b"7z\xBC\xAF\x27\x1C") {
        return Some(Kind::SevenZ);
    }
    if at(0, b"\x1F\x8B\x08") {
        return Some(Kind::Gzip);
    }
    if at(0, b"BZh") && bytes.get(3).is_some_and(|b| (b'1'..=b'9').contains(b)) {
        return Some(Kind::Bzip2);
    }
    if at(0, b"\xFD7zXZ\x00") {
        return Some(Kind::Xz);
    }
    if at(257, b"ustar") {
        return Some(Kind::Tar);
    }
    if iso::detect(bytes) {
        return Some(Kind::Iso);
    }
    None
}

/// One entry of an archive.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Member {
    /// Path inside the archive, as UTF-8 (zip CP437/UTF-8 flag handled; best effort elsewhere).
    pub name: String,
    /// Declared uncompressed size (the produced size for single-stream compressors).
    pub size: u64,
    /// The headers say this member is encrypted.
    pub encrypted: bool,
    /// Index into `passwords` of the candidate that opened it.
    pub decrypted_with: Option<usize>,
    /// Extracted content when readable: `None` when encrypted and not opened, a directory,
    /// stored in a way we cannot decode (see `skipped`), or skipped for a limit.
    pub data: Option<Vec<u8>>,
    /// A directory entry.
    pub is_dir: bool,
    /// Why `data` is `None` for a file that is neither encrypted nor a directory.
    pub skipped: Option<String>,
}

/// Why a listing is incomplete. Any problem means the archive was not fully inspected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// More members than `Budget::members_left`.
    TooManyMembers,
    /// More expanded bytes than `Budget::bytes_left` (declared or produced).
    TooLarge,
    /// Expansion ratio above `Budget::max_ratio`: a compression bomb.
    Ratio,
    /// `Budget::deadline` passed.
    Deadline,
    /// The structure is broken, truncated or inconsistent.
    Malformed(String),
    /// A valid feature we cannot decode (compression method, UDF-only image…).
    Unsupported(String),
}

impl Problem {
    /// True for budget limits (as opposed to a broken or unsupported archive).
    pub fn is_limit(&self) -> bool {
        matches!(
            self,
            Problem::TooManyMembers | Problem::TooLarge | Problem::Ratio | Problem::Deadline
        )
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::TooManyMembers => f.write_str("too many archive members"),
            Problem::TooLarge => f.write_str("archive expands beyond the size limit"),
            Problem::Ratio => f.write_str("archive expansion ratio too high (compression bomb)"),
            Problem::Deadline => f.write_str("archive inspection ran out of time"),
            Problem::Malformed(why) => write!(f, "malformed archive: {why}"),
            Problem::Unsupported(why) => write!(f, "unsupported archive feature: {why}"),
        }
    }
}

/// The result of opening one archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    /// The format that was read.
    pub kind: Kind,
    /// Members in archive order (as far as they could be listed).
    pub members: Vec<Member>,
    /// The member list itself is encrypted (rar4/rar5/7z header encryption); `members` may be
    /// empty, or listed through a password candidate.
    pub headers_encrypted: bool,
    /// The first problem met, if any; the listing is then incomplete.
    pub problem: Option<Problem>,
}

impl Listing {
    fn new(kind: Kind) -> Self {
        Listing {
            kind,
            members: Vec::new(),
            headers_encrypted: false,
            problem: None,
        }
    }

    /// True when any member or the headers are encrypted.
    pub fn any_encrypted(&self) -> bool {
        self.headers_encrypted || self.members.iter().any(|m| m.encrypted)
    }

    /// Records a problem; the first one wins because later ones are often its consequence.
    pub(crate) fn fail(&mut self, problem: Problem) {
        if self.problem.is_none() {
            self.problem = Some(problem);
        }
    }

    /// True once a problem forbids more decompression (a bomb or the deadline).
    pub(crate) fn must_stop_extracting(&self) -> bool {
        matches!(
            self.problem,
            Some(Problem::Ratio | Problem::Deadline | Problem::TooManyMembers)
        )
    }
}

/// Lists (and extracts, within the budget) one archive.
///
/// Never panics, never allocates more than the budget allows, never runs past
/// `budget.deadline`; a limit reached is a `problem`, not an error. Single-stream compressors
/// (gzip, bzip2, xz) yield one member named after the gzip FNAME, or an empty name (see
/// [`open_named`] to derive it from the attachment's name). `passwords` are candidates found in
/// the message text: at most [`MAX_PASSWORD_TRIES`] are tried on encrypted zip (ZipCrypto and
/// AES) and 7z members.
pub fn open(bytes: &[u8], kind: Kind, budget: &mut Budget, passwords: &[String]) -> Listing {
    open_named(bytes, kind, budget, passwords, "")
}

/// Like [`open`], with the archive's own file name, so a single-stream compressor without an
/// embedded name yields "<name minus extension>" (`report.pdf.gz` → `report.pdf`,
/// `x.tgz` → `x.tar`).
pub fn open_named(
    bytes: &[u8],
    kind: Kind,
    budget: &mut Budget,
    passwords: &[String],
    container_name: &str,
) -> Listing {
    let mut listing = Listing::new(kind);
    let passwords = passwords
        .get(..passwords.len().min(MAX_PASSWORD_TRIES))
        .unwrap_or_default();
    if budget.expired() {
        listing.fail(Problem::Deadline);
        return listing;
    }
    // A kind whose magic is missing (cut short, or chosen by name) is not read at all.
    let magic_ok = match (kind, detect(bytes)) {
        (Kind::Rar4 | Kind::Rar5, Some(found)) => found == kind,
        (_, found) => found == Some(kind),
    };
    if !magic_ok {
        listing.fail(Problem::Malformed(format!(
            "no {} signature",
            kind.as_str()
        )));
        return listing;
    }
    // The readers catch panics around crate calls themselves; this outer guard keeps the
    // members listed so far should anything else unwind.
    let outcome = budget::guarded(kind.as_str(), || match kind {
        Kind::Zip => zip::open(bytes, budget, passwords, &mut listing),
        Kind::Rar4 => rar::open_rar4(bytes, budget, &mut listing),
        Kind::Rar5 => rar::open_rar5(bytes, budget, &mut listing),
        Kind::SevenZ => sevenz::open(bytes, budget, passwords, &mut listing),
        Kind::Gzip | Kind::Bzip2 | Kind::Xz => {
            stream::open(bytes, kind, budget, container_name, &mut listing)
        }
        Kind::Tar => tar::open(bytes, budget, &mut listing),
        Kind::Iso => iso::open(bytes, budget, &mut listing),
    });
    if let Err(problem) = outcome {
        listing.fail(problem);
    }
    listing
}

/// Decodes a name that is UTF-8 when valid, else Latin-1 (each byte one code point), so no
/// byte is lost.
pub(crate) fn utf8_or_latin1(raw: &[u8]) -> String {
    match std::str::from_utf8(raw) {
        Ok(s) => s.to_owned(),
        Err(_) => raw.iter().map(|&b| char::from(b)).collect(),
    }
}

/// `len` bytes at `off`, or `None` past the end (checked arithmetic, never panics).
pub(crate) fn slice_at(b: &[u8], off: usize, len: usize) -> Option<&[u8]> {
    b.get(off..off.checked_add(len)?)
}

/// Little-endian u16 at `off`.
pub(crate) fn le16(b: &[u8], off: usize) -> Option<u16> {
    Some(u16::from_le_bytes(slice_at(b, off, 2)?.try_into().ok()?))
}

/// Little-endian u32 at `off`.
pub(crate) fn le32(b: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_le_bytes(slice_at(b, off, 4)?.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_by_magic() {
        assert_eq!(detect(b"PK\x03\x04rest"), Some(Kind::Zip));
        assert_eq!(detect(b"Rar!\x1a\x07\x00"), Some(Kind::Rar4));
        assert_eq!(detect(b"Rar!\x1a\x07\x01\x00"), Some(Kind::Rar5));
        assert_eq!(detect(b"7z\xBC\xAF\x27\x1C\x00\x04"), Some(Kind::SevenZ));
        assert_eq!(detect(b"\x1F\x8B\x08\x00"), Some(Kind::Gzip));
        assert_eq!(detect(b"BZh91AY&SY"), Some(Kind::Bzip2));
        assert_eq!(detect(b"BZhx"), None);
        assert_eq!(detect(b"\xFD7zXZ\x00\x00"), Some(Kind::Xz));
        let mut tar = vec![0u8; 512];
        tar[257..262].copy_from_slice(b"ustar");
        assert_eq!(detect(&tar), Some(Kind::Tar));
        let mut iso = vec![0u8; 0x8800];
        iso[0x8001..0x8006].copy_from_slice(b"CD001");
        assert_eq!(detect(&iso), Some(Kind::Iso));
        assert_eq!(detect(b""), None);
        assert_eq!(detect(b"%PDF-1.7"), None);
    }

    #[test]
    fn kind_names() {
        assert_eq!(Kind::Rar5.as_str(), "rar");
        assert_eq!(Kind::SevenZ.to_string(), "7z");
    }

    #[test]
    fn latin1_fallback_keeps_every_byte() {
        assert_eq!(utf8_or_latin1("báo cáo".as_bytes()), "báo cáo");
        assert_eq!(utf8_or_latin1(b"caf\xe9"), "café");
    }
}
