//! zip and zip64 through the `zip` crate, plus our own look at the raw headers.
//!
//! The crate lists the central directory and decompresses/decrypts (ZipCrypto and AES). It
//! trusts the central directory, so we also read each entry's central AND local header
//! ourselves (general-purpose bit 0, AES extra field 0x9901, APPNOTE 4.3.7, 4.3.12, 7.2): a
//! zip whose central directory hides the encryption flag is still caught. Local headers that
//! no central entry points at (a "hidden" member some extractors would still open) are listed
//! from the local header and flagged as malformed.

use std::io::Cursor;

use memchr::memmem;
use zip::result::ZipError;
use zip::ZipArchive;

use super::budget::{guarded, read_capped, Budget, Counter, Counting, Stop};
use super::{le16, le32, slice_at, utf8_or_latin1, Listing, Member, Problem};

const LOCAL_SIG: &[u8] = b"PK\x03\x04";
const CENTRAL_SIG: &[u8] = b"PK\x01\x02";
/// WinZip AES extra field id (AE-x spec).
const AES_EXTRA: u16 = 0x9901;
/// Compression method 99 marks WinZip AES.
const METHOD_AES: u16 = 99;

type Archive<'a> = ZipArchive<Counting<Cursor<&'a [u8]>>>;

pub(super) fn open(bytes: &[u8], budget: &mut Budget, passwords: &[String], listing: &mut Listing) {
    let (reader, counter) = Counting::new(Cursor::new(bytes));
    let mut archive = match guarded("zip", || ZipArchive::new(reader)) {
        Ok(Ok(a)) => a,
        Ok(Err(e)) => {
            // No usable central directory (truncated, garbage): list what the local headers
            // say, so names and encryption flags are still seen.
            listing.fail(Problem::Malformed(format!("zip central directory: {e}")));
            scan_local_headers(bytes, &[], budget, listing);
            return;
        }
        Err(p) => {
            listing.fail(p);
            scan_local_headers(bytes, &[], budget, listing);
            return;
        }
    };
    // Central entries sharing one local entry's data: the overlapping-file bomb, where every
    // member inflates the same kernel (Fifield, 2019). No ordinary tool writes these.
    if let Ok(Ok(true)) = guarded("zip", || archive.has_overlapping_files()) {
        listing.fail(Problem::Malformed(
            "zip: members share their data (overlapping-file bomb)".into(),
        ));
    }
    let mut covered: Vec<(usize, usize)> = Vec::new();
    // The candidate that opened the previous member is tried first on the next one.
    let mut last_good: Option<usize> = None;
    for index in 0..archive.len() {
        if let Err(p) = budget.take_member() {
            listing.fail(p);
            return;
        }
        let Some(info) = entry_info(&archive, bytes, index) else {
            listing.fail(Problem::Malformed(format!("zip entry {index} unreadable")));
            continue;
        };
        if let Some(range) = info.range {
            covered.push(range);
        }
        let mut member = Member {
            name: info.name,
            size: info.size,
            encrypted: info.encrypted,
            is_dir: info.is_dir,
            ..Member::default()
        };
        if info.local_missing {
            listing.fail(Problem::Malformed(format!(
                "zip entry {index}: no local header where the central directory points"
            )));
        }
        if !member.is_dir {
            if listing.must_stop_extracting() {
                member.skipped = Some("limit reached".into());
            } else if member.size > budget.bytes_left {
                // The declared size alone is over the budget: judge without decompressing.
                member.skipped = Some(Problem::TooLarge.to_string());
                listing.fail(Problem::TooLarge);
            } else if member.encrypted {
                try_passwords(
                    &mut archive,
                    &counter,
                    index,
                    budget,
                    passwords,
                    &mut last_good,
                    &mut member,
                    listing,
                );
            } else {
                extract(&mut archive, &counter, index, budget, &mut member, listing);
            }
        }
        listing.members.push(member);
        if matches!(
            listing.problem,
            Some(Problem::Deadline | Problem::TooManyMembers)
        ) {
            return;
        }
    }
    covered.sort_unstable();
    scan_local_headers(bytes, &covered, budget, listing);
}

/// What we learn about one central-directory entry, from the crate and from the raw headers.
struct EntryInfo {
    name: String,
    size: u64,
    is_dir: bool,
    encrypted: bool,
    /// Byte range of local header plus data, so the hidden-member scan skips it.
    range: Option<(usize, usize)>,
    /// The central directory points at something that is not a local header.
    local_missing: bool,
}

fn entry_info(archive: &Archive<'_>, bytes: &[u8], index: usize) -> Option<EntryInfo> {
    let e = archive.by_index_data(index).ok()?;
    // The crate decodes CP437 or UTF-8 (flag bit 11) and the Info-ZIP Unicode path field.
    let name = match e.name() {
        Ok(n) => n.into_owned(),
        Err(_) => utf8_or_latin1(e.name_raw()),
    };
    let central = usize::try_from(e.central_header_start())
        .ok()
        .and_then(|at| central_header(bytes, at));
    let local_at = usize::try_from(e.header_start()).ok();
    let local = local_at.and_then(|at| local_header(bytes, at));
    let range = match (local_at, &local) {
        (Some(at), Some(l)) => {
            let csize = usize::try_from(e.compressed_size()).unwrap_or(usize::MAX);
            Some((at, l.data_start.saturating_add(csize)))
        }
        _ => None,
    };
    let encrypted = e.encrypted()
        || central.as_ref().is_some_and(Header::encrypted)
        || local.as_ref().is_some_and(Header::encrypted);
    Some(EntryInfo {
        name,
        size: e.size(),
        is_dir: e.is_dir(),
        encrypted,
        range,
        local_missing: local.is_none(),
    })
}

/// Reads one unencrypted member.
fn extract(
    archive: &mut Archive<'_>,
    counter: &Counter,
    index: usize,
    budget: &mut Budget,
    member: &mut Member,
    listing: &mut Listing,
) {
    let size = member.size;
    let r = guarded("zip", || -> Result<Result<Vec<u8>, Stop>, ZipError> {
        let mut file = archive.by_index(index)?;
        let start = counter.get();
        Ok(read_capped(&mut file, budget, size, &|| {
            counter.get().saturating_sub(start)
        }))
    });
    match r {
        Ok(Ok(Ok(data))) => member.data = Some(data),
        Ok(Ok(Err(Stop::Limit(p)))) | Err(p) => {
            member.skipped = Some(p.to_string());
            listing.fail(p);
        }
        Ok(Ok(Err(Stop::Failed(e)))) => {
            // The crate reports an unknown method lazily, as an I/O error wrapping its own.
            let (skipped, problem) = match e.get_ref().and_then(|i| i.downcast_ref::<ZipError>()) {
                Some(inner) => zip_error(inner, &member.name),
                None => (
                    format!("zip: {e}"),
                    Problem::Malformed(format!("zip member {}: {e}", member.name)),
                ),
            };
            member.skipped = Some(skipped);
            listing.fail(problem);
        }
        Ok(Err(e)) => {
            let (skipped, problem) = zip_error(&e, &member.name);
            member.skipped = Some(skipped);
            listing.fail(problem);
        }
    }
}

/// Tries the candidates on one encrypted member. ZipCrypto's check byte lets 1 in 256 wrong
/// passwords through, so a candidate counts only once the whole member decrypted with a
/// matching CRC (AES: HMAC). A limit reached while reading is recorded, and the candidate that
/// passed the password check is still reported.
#[allow(clippy::too_many_arguments)]
fn try_passwords(
    archive: &mut Archive<'_>,
    counter: &Counter,
    index: usize,
    budget: &mut Budget,
    passwords: &[String],
    last_good: &mut Option<usize>,
    member: &mut Member,
    listing: &mut Listing,
) {
    let order = last_good
        .iter()
        .copied()
        .chain((0..passwords.len()).filter(|i| Some(*i) != *last_good));
    let size = member.size;
    for candidate in order {
        if budget.expired() {
            listing.fail(Problem::Deadline);
            return;
        }
        let Some(password) = passwords.get(candidate) else {
            continue;
        };
        let r = guarded("zip", || -> Result<Result<Vec<u8>, Stop>, ZipError> {
            let mut file = archive.by_index_decrypt(index, password.as_bytes())?;
            let start = counter.get();
            Ok(read_capped(&mut file, budget, size, &|| {
                counter.get().saturating_sub(start)
            }))
        });
        match r {
            Ok(Ok(Ok(data))) => {
                member.data = Some(data);
                member.decrypted_with = Some(candidate);
                *last_good = Some(candidate);
                return;
            }
            Ok(Ok(Err(Stop::Limit(p)))) => {
                member.decrypted_with = Some(candidate);
                member.skipped = Some(p.to_string());
                listing.fail(p);
                return;
            }
            // Wrong password (verifier, CRC or HMAC): the next candidate.
            Ok(Err(ZipError::InvalidPassword)) | Ok(Ok(Err(Stop::Failed(_)))) => {}
            Ok(Err(e)) => {
                let (skipped, problem) = zip_error(&e, &member.name);
                member.skipped = Some(skipped);
                listing.fail(problem);
                return;
            }
            Err(p) => {
                listing.fail(p);
                return;
            }
        }
    }
}

/// Maps a crate error on one member to its `skipped` note and the listing problem.
fn zip_error(e: &ZipError, name: &str) -> (String, Problem) {
    match e {
        ZipError::UnsupportedArchive(why) => (
            format!("zip: {why}"),
            Problem::Unsupported(format!("zip member {name}: {why}")),
        ),
        ZipError::CompressionMethodNotSupported(m) => (
            format!("zip compression method {m}"),
            Problem::Unsupported(format!("zip member {name}: compression method {m}")),
        ),
        other => (
            format!("zip: {other}"),
            Problem::Malformed(format!("zip member {name}: {other}")),
        ),
    }
}

/// Lists local headers outside the `covered` ranges (sorted): members the central directory
/// does not mention, or all of them when there is no central directory. Their encryption
/// flags count; their content is not extracted (sizes may sit in a data descriptor).
fn scan_local_headers(
    bytes: &[u8],
    covered: &[(usize, usize)],
    budget: &mut Budget,
    listing: &mut Listing,
) {
    let mut hidden = 0usize;
    let mut pos = 0usize;
    let finder = memmem::Finder::new(LOCAL_SIG);
    while let Some(found) = bytes.get(pos..).and_then(|rest| finder.find(rest)) {
        let at = pos.saturating_add(found);
        pos = at.saturating_add(LOCAL_SIG.len());
        if let Some(&(_, end)) = covered.iter().find(|(s, e)| *s <= at && at < *e) {
            pos = pos.max(end);
            continue;
        }
        let Some(local) = local_header(bytes, at) else {
            continue;
        };
        if let Err(p) = budget.take_member() {
            listing.fail(p);
            return;
        }
        hidden += 1;
        let name = utf8_or_latin1(local.name);
        listing.members.push(Member {
            is_dir: name.ends_with('/'),
            name,
            size: u64::from(local.size),
            encrypted: local.encrypted(),
            skipped: Some("zip: listed from its local header only".into()),
            ..Member::default()
        });
        // Skip the data when its size is known, so stored inner zips are not taken apart.
        if local.flags & 0x0008 == 0 {
            pos = pos.max(local.data_start.saturating_add(local.csize as usize));
        }
    }
    if hidden > 0 && !covered.is_empty() {
        listing.fail(Problem::Malformed(format!(
            "zip: {hidden} local entries missing from the central directory"
        )));
    }
}

/// The fields of a local or central header that matter here.
struct Header<'a> {
    flags: u16,
    method: u16,
    name: &'a [u8],
    extra: &'a [u8],
    csize: u32,
    size: u32,
    data_start: usize,
}

impl Header<'_> {
    /// Bit 0 of the general-purpose flags, the AES method, or the AES extra field.
    fn encrypted(&self) -> bool {
        self.flags & 1 != 0 || self.method == METHOD_AES || has_extra(self.extra, AES_EXTRA)
    }
}

/// Local file header (APPNOTE 4.3.7): fixed 30 bytes, then name and extra.
fn local_header(b: &[u8], at: usize) -> Option<Header<'_>> {
    if slice_at(b, at, 4)? != LOCAL_SIG {
        return None;
    }
    let name_len = usize::from(le16(b, at.checked_add(26)?)?);
    let extra_len = usize::from(le16(b, at.checked_add(28)?)?);
    let name_at = at.checked_add(30)?;
    let extra_at = name_at.checked_add(name_len)?;
    Some(Header {
        flags: le16(b, at.checked_add(6)?)?,
        method: le16(b, at.checked_add(8)?)?,
        csize: le32(b, at.checked_add(18)?)?,
        size: le32(b, at.checked_add(22)?)?,
        name: slice_at(b, name_at, name_len)?,
        extra: slice_at(b, extra_at, extra_len)?,
        data_start: extra_at.checked_add(extra_len)?,
    })
}

/// Central directory header (APPNOTE 4.3.12): fixed 46 bytes, then name, extra, comment.
fn central_header(b: &[u8], at: usize) -> Option<Header<'_>> {
    if slice_at(b, at, 4)? != CENTRAL_SIG {
        return None;
    }
    let name_len = usize::from(le16(b, at.checked_add(28)?)?);
    let extra_len = usize::from(le16(b, at.checked_add(30)?)?);
    let name_at = at.checked_add(46)?;
    let extra_at = name_at.checked_add(name_len)?;
    Some(Header {
        flags: le16(b, at.checked_add(8)?)?,
        method: le16(b, at.checked_add(10)?)?,
        csize: le32(b, at.checked_add(20)?)?,
        size: le32(b, at.checked_add(24)?)?,
        name: slice_at(b, name_at, name_len)?,
        extra: slice_at(b, extra_at, extra_len)?,
        data_start: 0,
    })
}

/// True when the extra-field block (APPNOTE 4.5.1: id u16, size u16, data) holds `id`.
fn has_extra(mut extra: &[u8], id: u16) -> bool {
    while let (Some(tag), Some(len)) = (le16(extra, 0), le16(extra, 2)) {
        if tag == id {
            return true;
        }
        match extra.get(4usize.saturating_add(usize::from(len))..) {
            Some(rest) => extra = rest,
            None => return false,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::super::{open, Budget, Kind};
    use super::*;
    use std::io::Write;
    use std::time::Duration;
    use zip::unstable::write::FileOptionsExt;
    use zip::write::SimpleFileOptions;

    fn budget() -> Budget {
        Budget::new(100, 10 << 20, 100, Duration::from_secs(10))
    }

    fn build(encrypt: Option<zip::AesMode>, password: Option<&str>) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let mut o = SimpleFileOptions::default();
        match (encrypt, password) {
            (Some(mode), Some(p)) => o = o.with_aes_encryption(mode, p),
            (None, Some(p)) => {
                o = o
                    .with_deprecated_encryption(p.as_bytes())
                    .expect("zipcrypto")
            }
            _ => {}
        }
        w.start_file("giấy mời.exe", o).expect("start");
        w.write_all(b"MZ\x90\x00 payload").expect("write");
        w.finish().expect("finish").into_inner()
    }

    #[test]
    fn plain_zip_lists_and_extracts() {
        let l = open(&build(None, None), Kind::Zip, &mut budget(), &[]);
        assert_eq!(l.problem, None);
        assert_eq!(l.members[0].name, "giấy mời.exe");
        assert!(!l.members[0].encrypted);
        assert_eq!(
            l.members[0].data.as_deref(),
            Some(&b"MZ\x90\x00 payload"[..])
        );
    }

    #[test]
    fn encrypted_flags_without_password() {
        for z in [
            build(None, Some("pw")),
            build(Some(zip::AesMode::Aes256), Some("pw")),
        ] {
            let l = open(&z, Kind::Zip, &mut budget(), &[]);
            assert!(l.members[0].encrypted, "{l:?}");
            assert_eq!(l.members[0].data, None);
        }
    }

    #[test]
    fn central_directory_that_hides_encryption_is_caught() {
        let mut z = build(None, Some("pw"));
        let cd = memmem::find(&z, CENTRAL_SIG).expect("central");
        z[cd + 8] &= !1; // clear bit 0 in the central header only
        let l = open(&z, Kind::Zip, &mut budget(), &[]);
        assert!(l.members[0].encrypted, "{l:?}");
    }

    #[test]
    fn passwords_open_zipcrypto_and_aes() {
        let pw = vec!["sai".to_string(), "dung".to_string()];
        for z in [
            build(None, Some("dung")),
            build(Some(zip::AesMode::Aes128), Some("dung")),
        ] {
            let l = open(&z, Kind::Zip, &mut budget(), &pw);
            assert_eq!(l.members[0].decrypted_with, Some(1), "{l:?}");
            assert_eq!(
                l.members[0].data.as_deref(),
                Some(&b"MZ\x90\x00 payload"[..])
            );
        }
    }

    #[test]
    fn no_central_directory_falls_back_to_local_headers() {
        let z = build(None, Some("pw"));
        let cd = memmem::find(&z, CENTRAL_SIG).expect("central");
        let l = open(&z[..cd], Kind::Zip, &mut budget(), &[]);
        assert!(matches!(l.problem, Some(Problem::Malformed(_))));
        assert_eq!(l.members[0].name, "giấy mời.exe");
        assert!(l.members[0].encrypted);
    }

    #[test]
    fn extra_field_walk_is_bounded() {
        assert!(has_extra(&[0x01, 0x99, 0, 0], AES_EXTRA));
        assert!(!has_extra(&[0x01, 0x00, 0xff, 0xff, 0x01, 0x99], AES_EXTRA));
        assert!(!has_extra(&[0x01], AES_EXTRA));
    }
}
