//! Placeholder for the archive readers (written on another branch; replaced at merge).
//!
//! The signatures are the agreed interface; `detect` finds nothing, so no archive is opened.

use std::time::Instant;

/// Archive formats the readers know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Zip,
    Rar4,
    Rar5,
    SevenZ,
    Gzip,
    Bzip2,
    Xz,
    Tar,
    Iso,
}

impl Kind {
    /// The lowercase name used in findings and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Zip => "zip",
            Kind::Rar4 => "rar4",
            Kind::Rar5 => "rar5",
            Kind::SevenZ => "7z",
            Kind::Gzip => "gzip",
            Kind::Bzip2 => "bzip2",
            Kind::Xz => "xz",
            Kind::Tar => "tar",
            Kind::Iso => "iso",
        }
    }
}

/// The archive format of `bytes`, by magic.
pub fn detect(_bytes: &[u8]) -> Option<Kind> {
    None
}

/// What one message may still spend on archives; shared by every level of the recursion.
pub struct Budget {
    pub members_left: usize,
    pub bytes_left: u64,
    pub max_ratio: u64,
    pub deadline: Instant,
}

/// One archive member.
pub struct Member {
    pub name: String,
    pub size: u64,
    pub encrypted: bool,
    pub decrypted_with: Option<usize>,
    pub data: Option<Vec<u8>>,
}

/// Why a listing is incomplete.
#[derive(Debug)]
pub enum Problem {
    TooManyMembers,
    TooLarge,
    Ratio,
    Deadline,
    Malformed(String),
    Unsupported(String),
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::TooManyMembers => f.write_str("too many members"),
            Problem::TooLarge => f.write_str("expands too large"),
            Problem::Ratio => f.write_str("compression ratio too high"),
            Problem::Deadline => f.write_str("deadline passed"),
            Problem::Malformed(s) => write!(f, "malformed: {s}"),
            Problem::Unsupported(s) => write!(f, "unsupported: {s}"),
        }
    }
}

/// One level of an archive's members.
pub struct Listing {
    pub kind: Kind,
    pub members: Vec<Member>,
    pub headers_encrypted: bool,
    pub problem: Option<Problem>,
}

/// Lists (and, within the budget, extracts) one level of an archive.
pub fn open(_bytes: &[u8], kind: Kind, _budget: &mut Budget, _passwords: &[String]) -> Listing {
    Listing {
        kind,
        members: Vec::new(),
        headers_encrypted: false,
        problem: Some(Problem::Unsupported("archive readers not built".into())),
    }
}
