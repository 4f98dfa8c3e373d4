//! Content inspection: the MIME walk that yields every part a person could open (nested
//! multiparts, attached messages, uuencoded blocks, TNEF contents, archive members), each with
//! its names, decoded size and sniffed type. The rules that judge a [`Report`] live in
//! `crate::checks::inspect`.

pub mod archive;
pub mod content;
mod mime;
pub mod names;
mod ole;
pub mod passwords;
pub mod sniff;
pub mod tnef;
pub mod uu;
mod zipdir;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use serde::Serialize;

pub use content::{analyse, Content};
pub use sniff::Sniff;

/// How much of a body is decoded to sniff it when its first bytes do not ask for all of it.
const SNIFF_PREFIX: usize = 4096;
/// Disk images put their magic further in (ISO 9660 "CD001" at 32 769, UDF from 32 768).
const IMAGE_PREFIX: usize = 36 * 1024;
/// Caps on the small readers (STYLE.md habit 4).
const MAX_TNEF_ATTACHMENTS: usize = 256;
const MAX_UU_BLOCKS: usize = 64;
/// Text searched for password candidates, in total.
const MAX_PASSWORD_TEXT: usize = 512 * 1024;

/// Every cap of one walk.
#[derive(Debug, Clone)]
pub struct Limits {
    /// MIME nesting (multiparts and attached messages).
    pub mime_depth: usize,
    /// MIME parts in the whole message, attached messages included.
    pub mime_parts: usize,
    /// Archive levels opened (a zip in a zip is 2).
    pub archive_depth: usize,
    /// Archive members listed, all archives together.
    pub archive_members: usize,
    /// Bytes expanded from archives, all together.
    pub archive_bytes: u64,
    /// Largest expansion ratio of a member.
    pub archive_ratio: u64,
    /// Wall-clock time for the whole walk.
    pub deadline: Duration,
    /// Password candidates taken from the text (0: none tried).
    pub max_passwords: usize,
    /// Parts whose size bound (from the encoded length) is at most this get the bound as
    /// their size instead of an exact count, which costs a scan of the body. Set it to the
    /// smallest size cap, or 0 for exact sizes everywhere.
    pub exact_size_above: u64,
    /// Keep the bytes of every member a password candidate opened ([`Report::opened`]), for
    /// the virus scanner: no scanner can open them itself. Bounded by `archive_bytes`, which
    /// every extracted byte counts against already.
    pub keep_opened: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            mime_depth: 32,
            mime_parts: 2000,
            archive_depth: 4,
            archive_members: 1000,
            archive_bytes: 50_000_000,
            archive_ratio: 100,
            deadline: Duration::from_secs(10),
            max_passwords: 8,
            exact_size_above: 0,
            keep_opened: false,
        }
    }
}

/// Where a part came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    Mime,
    Uuencode,
    Tnef,
    Archive,
}

/// One thing a person could open.
#[derive(Debug, Clone, Serialize)]
pub struct Part {
    /// `bao-cao.zip/setup.exe`; attached messages' names prefix their parts.
    pub path: String,
    /// Every name it was given, NFC.
    pub names: Vec<String>,
    /// Decoded size in bytes (members: their uncompressed size); see `size_exact`.
    pub size: u64,
    /// False when `size` is only the bound from the encoded length (at most 3/4 of a base64
    /// body), used when that bound is under every cap (`Limits::exact_size_above`).
    pub size_exact: bool,
    pub sniff: Sniff,
    pub origin: Origin,
    /// Containers (TNEF, uuencode, archives) between the MIME part and this one.
    pub depth: usize,
    /// True for a MIME part offered as an attachment (what the size rules count).
    pub attachment: bool,
    /// True when the content was not available (an encrypted member, a member not extracted).
    pub content_unknown: bool,
    /// The password candidate that opened it, when it was encrypted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub opened_with: Option<String>,
}

/// A password-protected archive.
#[derive(Debug, Clone, Serialize)]
pub struct Encrypted {
    pub path: String,
    pub kind: &'static str,
    /// The member list itself is encrypted (7z `-mhe`, rar `-hp`).
    pub headers: bool,
    /// Encrypted members (names as listed).
    pub members: Vec<String>,
    /// True when password candidates from the message opened all of it: the member list (when
    /// it is encrypted) and every encrypted member, each extracted. What is inside was then
    /// judged like any other attachment.
    pub opened: bool,
    /// Encrypted members a candidate opened and extracted (some of `members`).
    pub opened_members: usize,
}

/// The content of a member a password candidate opened, kept for the virus scanner
/// ([`Limits::keep_opened`]).
#[derive(Debug, Clone)]
pub struct Opened {
    /// `bao-cao.zip/bao-cao.txt`, as in [`Part::path`].
    pub path: String,
    pub data: Vec<u8>,
}

/// Why something could not be inspected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "reason", content = "detail")]
pub enum Reason {
    MimeLimit(String),
    ArchiveDepth,
    TooManyMembers,
    TooLarge,
    Ratio,
    Deadline,
    Malformed(String),
    Unsupported(String),
    /// An archive member listed but not extracted (RAR compression, a skipped method): its
    /// name was checked, its content was not.
    Unreadable(String),
    Internal,
}

impl Reason {
    /// (Vietnamese, English) for findings.
    pub fn texts(&self) -> (String, String) {
        match self {
            Reason::MimeLimit(s) => (
                "cấu trúc MIME vượt giới hạn".into(),
                format!("MIME structure over limits ({s})"),
            ),
            Reason::ArchiveDepth => (
                "tệp nén lồng nhau quá sâu".into(),
                "archives nested too deep".into(),
            ),
            Reason::TooManyMembers => (
                "tệp nén có quá nhiều tệp".into(),
                "archive has too many members".into(),
            ),
            Reason::TooLarge => (
                "tệp nén giải nén ra quá lớn".into(),
                "archive expands too large".into(),
            ),
            Reason::Ratio => (
                "tỷ lệ nén bất thường (bom nén)".into(),
                "compression ratio too high (archive bomb)".into(),
            ),
            Reason::Deadline => (
                "quá thời gian kiểm tra".into(),
                "inspection took too long".into(),
            ),
            Reason::Malformed(s) => ("tệp bị hỏng".into(), format!("malformed ({s})")),
            Reason::Unsupported(s) => (
                "định dạng không hỗ trợ".into(),
                format!("unsupported format ({s})"),
            ),
            Reason::Unreadable(s) => (
                "không đọc được nội dung tệp trong tệp nén".into(),
                format!("archive member content not readable ({s})"),
            ),
            Reason::Internal => ("lỗi khi kiểm tra".into(), "inspection failed".into()),
        }
    }
}

/// A part that could not be inspected, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Unscannable {
    pub path: String,
    #[serde(flatten)]
    pub reason: Reason,
}

/// Everything the walk saw.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub parts: Vec<Part>,
    pub encrypted: Vec<Encrypted>,
    pub unscannable: Vec<Unscannable>,
    /// Password candidates found in the subject and text parts.
    pub passwords: Vec<String>,
    /// MIME parts parsed (containers included).
    pub mime_parts: usize,
    /// Members opened with a password, with their bytes, when `Limits::keep_opened` asks.
    #[serde(skip)]
    pub opened: Vec<Opened>,
}

/// Process-wide limit on simultaneous message parses: one per CPU (see `Engine::parse`).
pub fn walk_slots() -> &'static tokio::sync::Semaphore {
    static SLOTS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    SLOTS.get_or_init(|| {
        let cpus = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        tokio::sync::Semaphore::new(cpus)
    })
}

/// Walks `raw` within `limits`. Never panics: a panic inside becomes an `Internal` entry.
pub fn walk(raw: &[u8], limits: &Limits) -> Report {
    walk_with_summary(raw, limits).0
}

/// [`walk`], with what the MIME parse found besides the parts (headers, body texts).
fn walk_with_summary(raw: &[u8], limits: &Limits) -> (Report, mime::Summary) {
    match catch_unwind(AssertUnwindSafe(|| walk_inner(raw, limits))) {
        Ok(r) => r,
        Err(_) => (
            Report {
                unscannable: vec![Unscannable {
                    path: String::new(),
                    reason: Reason::Internal,
                }],
                ..Report::default()
            },
            mime::Summary::default(),
        ),
    }
}

struct Walker<'l> {
    limits: &'l Limits,
    deadline: Instant,
    budget: archive::Budget,
    report: Report,
    passwords_read: bool,
    timed_out: bool,
}

impl mime::Visitor for Walker<'_> {
    fn leaf(&mut self, leaf: mime::Leaf<'_>, texts: &mime::Texts<'_>) -> bool {
        if Instant::now() > self.deadline {
            self.timed_out = true;
            return false;
        }
        let mut prefix = leaf.decoded_prefix(SNIFF_PREFIX);
        let bound = leaf.decoded_len_bound();
        let (size, size_exact) = if bound > self.limits.exact_size_above {
            (leaf.decoded_len(), true)
        } else {
            (bound, false)
        };
        if size > SNIFF_PREFIX as u64 && may_be_disk_image(&prefix) {
            prefix = leaf.decoded_prefix(IMAGE_PREFIX);
        }
        let whole = if Sniff::needs_whole(&prefix) || archive::detect(&prefix).is_some() {
            leaf.decoded()
        } else {
            prefix
        };
        let is_text = leaf.content_type.starts_with("text/") || leaf.content_type.is_empty();
        let uu_source = if is_text && memchr::memmem::find(&whole, b"begin ").is_some() {
            Some(leaf.decoded())
        } else {
            None
        };
        let part = Part {
            path: leaf.path.clone(),
            names: leaf.names.clone(),
            size,
            size_exact,
            sniff: sniff::sniff(&whole),
            origin: Origin::Mime,
            depth: 0,
            attachment: !leaf.is_body_text,
            content_unknown: false,
            opened_with: None,
        };
        self.content(part, &whole, 0, texts);
        if let Some(text) = uu_source {
            for b in uu::blocks(&text, MAX_UU_BLOCKS, text.len()) {
                let name = names::display(&b.name);
                let part = Part {
                    path: format!("{}/{}", leaf.path, name),
                    names: vec![name],
                    size: b.data.len() as u64,
                    size_exact: true,
                    sniff: sniff::sniff(&b.data),
                    origin: Origin::Uuencode,
                    depth: 1,
                    attachment: leaf.is_body_text,
                    content_unknown: false,
                    opened_with: None,
                };
                self.content(part, &b.data, 0, texts);
            }
        }
        true
    }
}

impl Walker<'_> {
    /// Records `part` and opens what it contains (TNEF, archives). `arch` counts archive levels.
    fn content(&mut self, part: Part, data: &[u8], arch: usize, texts: &mime::Texts<'_>) {
        let path = part.path.clone();
        let depth = part.depth;
        let sniffed = part.sniff;
        let content_known = !part.content_unknown;
        self.report.parts.push(part);
        if !content_known || Instant::now() > self.deadline {
            return;
        }
        if sniffed == Sniff::Tnef {
            let t = tnef::read(data, MAX_TNEF_ATTACHMENTS);
            if let Some(why) = t.malformed {
                self.unscannable(&path, Reason::Malformed(format!("TNEF: {why}")));
            }
            for (i, a) in t.attachments.iter().enumerate() {
                let mut names: Vec<String> = Vec::new();
                for n in [&a.long_name, &a.name].into_iter().flatten() {
                    let n = names::display(n);
                    if !n.is_empty() && !names.contains(&n) {
                        names.push(n);
                    }
                }
                let shown = names
                    .first()
                    .cloned()
                    .unwrap_or_else(|| format!("attachment {i}"));
                let child = Part {
                    path: format!("{path}/{shown}"),
                    names,
                    size: a.data.len() as u64,
                    size_exact: true,
                    sniff: sniff::sniff(a.data),
                    origin: Origin::Tnef,
                    depth: depth + 1,
                    attachment: false,
                    content_unknown: false,
                    opened_with: None,
                };
                self.content(child, a.data, arch, texts);
            }
            return;
        }
        let Some(kind) = archive::detect(data) else {
            return;
        };
        if arch >= self.limits.archive_depth {
            self.unscannable(&path, Reason::ArchiveDepth);
            return;
        }
        let candidates = self.passwords(texts);
        // The container's own name names a gzip/bzip2/xz member that carries none.
        let own_name = path.rsplit('/').next().unwrap_or("");
        let listing = archive::open_named(data, kind, &mut self.budget, &candidates, own_name);
        let mut enc = Encrypted {
            path: path.clone(),
            kind: kind.as_str(),
            headers: listing.headers_encrypted,
            members: Vec::new(),
            opened: false,
            opened_members: 0,
        };
        let mut files = 0usize;
        // Members listed but not extracted, reported once per archive.
        let mut unreadable = 0usize;
        let mut first_unreadable: Option<String> = None;
        for m in listing.members {
            // Directory entries are not files anyone opens.
            if m.is_dir {
                continue;
            }
            files += 1;
            let name = names::display(&m.name);
            let opened_with = m.decrypted_with.and_then(|i| candidates.get(i).cloned());
            if m.encrypted {
                enc.members.push(name.clone());
                if opened_with.is_some() && m.data.is_some() {
                    enc.opened_members += 1;
                }
            }
            let shown = if name.is_empty() {
                "(unnamed)".to_string()
            } else {
                name.clone()
            };
            let child = Part {
                path: format!("{path}/{shown}"),
                names: if name.is_empty() { vec![] } else { vec![name] },
                size: m.size,
                size_exact: true,
                sniff: m.data.as_deref().map_or(Sniff::Other, sniff::sniff),
                origin: Origin::Archive,
                depth: depth + 1,
                attachment: false,
                content_unknown: m.data.is_none(),
                opened_with,
            };
            if let (None, false, Some(why)) = (&m.data, m.encrypted, &m.skipped) {
                unreadable += 1;
                first_unreadable.get_or_insert_with(|| format!("{}: {why}", child.names.join("")));
            }
            let keep = self.limits.keep_opened && child.opened_with.is_some() && m.data.is_some();
            let child_path = child.path.clone();
            let data = m.data.unwrap_or_default();
            self.content(child, &data, arch + 1, texts);
            if keep {
                self.report.opened.push(Opened {
                    path: child_path,
                    data,
                });
            }
        }
        // Opened: every encrypted member read, and an encrypted member list read (it listed
        // something; a list no candidate opened lists nothing).
        enc.opened = enc.opened_members == enc.members.len()
            && (!enc.members.is_empty() || (enc.headers && files > 0));
        if enc.headers || !enc.members.is_empty() {
            self.report.encrypted.push(enc);
        }
        // A listing with a problem is unscannable as a whole already.
        if let (Some(first), None) = (first_unreadable, &listing.problem) {
            let what = if unreadable == 1 {
                first
            } else {
                format!("{unreadable} members, first {first}")
            };
            self.unscannable(&path, Reason::Unreadable(what));
        }
        if let Some(p) = listing.problem {
            let reason = match p {
                archive::Problem::TooManyMembers => Reason::TooManyMembers,
                archive::Problem::TooLarge => Reason::TooLarge,
                archive::Problem::Ratio => Reason::Ratio,
                archive::Problem::Deadline => Reason::Deadline,
                archive::Problem::Malformed(s) => Reason::Malformed(s),
                archive::Problem::Unsupported(s) => Reason::Unsupported(s),
            };
            // Encrypted headers without a working password are reported as encrypted, not
            // as unscannable: that is what they are.
            if !(listing.headers_encrypted
                && matches!(reason, Reason::Unsupported(_) | Reason::Malformed(_)))
            {
                self.unscannable(&path, reason);
            }
        }
    }

    /// Password candidates from the subject and text parts, gathered on first need.
    fn passwords(&mut self, texts: &mime::Texts<'_>) -> Vec<String> {
        if !self.passwords_read {
            self.passwords_read = true;
            let max = self.limits.max_passwords;
            let mut budget = MAX_PASSWORD_TEXT;
            let out = &mut self.report.passwords;
            if max > 0 {
                texts.each(&mut |t| {
                    if budget == 0 {
                        return;
                    }
                    let cut = t.char_indices().nth(budget).map_or(t.len(), |(i, _)| i);
                    budget = budget.saturating_sub(cut.max(1));
                    passwords::collect(&t[..cut], max, out);
                });
            }
        }
        self.report.passwords.clone()
    }

    fn unscannable(&mut self, path: &str, reason: Reason) {
        let entry = Unscannable {
            path: path.to_string(),
            reason,
        };
        if !self
            .report
            .unscannable
            .iter()
            .any(|u| u.path == entry.path && u.reason == entry.reason)
        {
            self.report.unscannable.push(entry);
        }
    }
}

/// A disk image starts with a zeroed system area, or an MBR (isohybrid images).
fn may_be_disk_image(prefix: &[u8]) -> bool {
    let head = &prefix[..prefix.len().min(512)];
    head.iter().all(|&b| b == 0) || prefix.get(510..512) == Some(&[0x55, 0xaa])
}

fn walk_inner(raw: &[u8], limits: &Limits) -> (Report, mime::Summary) {
    let started = Instant::now();
    let deadline = started + limits.deadline;
    let mut w = Walker {
        limits,
        deadline,
        budget: archive::Budget {
            members_left: limits.archive_members,
            bytes_left: limits.archive_bytes,
            max_ratio: limits.archive_ratio,
            deadline,
        },
        report: Report::default(),
        passwords_read: false,
        timed_out: false,
    };
    let mlim = mime::MimeLimits {
        max_depth: limits.mime_depth,
        max_parts: limits.mime_parts,
        max_encoded_nesting: limits.mime_depth.min(8),
    };
    let mut summary = mime::walk(raw, mlim, &mut w);
    w.report.mime_parts = summary.parts;
    for (path, what) in std::mem::take(&mut summary.limited) {
        w.unscannable(&path, Reason::MimeLimit(what.to_string()));
    }
    if w.timed_out || Instant::now() > deadline {
        w.unscannable("", Reason::Deadline);
    }
    (w.report, summary)
}
