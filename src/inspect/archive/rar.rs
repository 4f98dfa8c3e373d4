//! RAR 4 and RAR 5 header walkers of our own.
//!
//! Why by hand: the only crate (`unrar`) wraps RARLAB's C++ under the UnRAR licence and reads
//! files from paths; listing names and flags needs only the block headers, which RARLAB
//! documents (technote.txt for RAR 1.5–4.x, "RAR 5.0 archive format" for RAR 5). RAR
//! compression itself is not decoded: stored members (method "store") are extracted, the
//! others are listed with `skipped` set.
//!
//! Every read goes through [`Cur`], a bounded cursor with checked arithmetic; a header that
//! points outside the input ends the walk with `Problem::Malformed`.

use super::budget::Budget;
use super::{le16, le32, slice_at, utf8_or_latin1, Listing, Member, Problem};

/// RAR 1.5–4.x marker block.
pub(crate) const RAR4_MAGIC: &[u8] = b"Rar!\x1a\x07\x00";
/// RAR 5.0 signature.
pub(crate) const RAR5_MAGIC: &[u8] = b"Rar!\x1a\x07\x01\x00";

/// RAR 5 caps a header at 2 MB (technote); anything larger is malformed.
const RAR5_MAX_HEADER: u64 = 2 << 20;

const NOT_DECODED: &str = "rar compression is not decoded";

// RAR4 block types and flags (technote.txt).
const R4_MAIN: u8 = 0x73;
const R4_FILE: u8 = 0x74;
const R4_END: u8 = 0x7b;
const R4_LONG_BLOCK: u16 = 0x8000;
const R4_MAIN_PASSWORD: u16 = 0x0080;
const R4_FILE_SPLIT: u16 = 0x0001 | 0x0002;
const R4_FILE_PASSWORD: u16 = 0x0004;
const R4_FILE_DIR_MASK: u16 = 0x00e0;
const R4_FILE_LARGE: u16 = 0x0100;
const R4_FILE_UNICODE: u16 = 0x0200;
const R4_METHOD_STORE: u8 = 0x30;

/// Walks RAR 1.5–4.x blocks: MARK_HEAD, MAIN_HEAD (0x73), FILE_HEAD (0x74)… ENDARC (0x7b).
///
/// Block: HEAD_CRC u16, HEAD_TYPE u8, HEAD_FLAGS u16, HEAD_SIZE u16, then ADD_SIZE u32 when
/// flag 0x8000 is set (for FILE_HEAD that is PACK_SIZE, and the packed data follows the header).
pub(super) fn open_rar4(bytes: &[u8], budget: &mut Budget, listing: &mut Listing) {
    let mut pos = RAR4_MAGIC.len();
    loop {
        if pos == bytes.len() {
            // RAR 3.x and later always end with ENDARC; without it the archive was cut (RAR
            // 2.x archives, which lack it, are judged malformed too: a filter must not guess).
            listing.fail(Problem::Malformed("rar4: no end-of-archive block".into()));
            return;
        }
        let Some(head) = slice_at(bytes, pos, 7) else {
            listing.fail(Problem::Malformed("rar4: truncated block header".into()));
            return;
        };
        let crc = le16(head, 0).unwrap_or(0);
        let kind = head[2];
        let flags = le16(head, 3).unwrap_or(0);
        let size = usize::from(le16(head, 5).unwrap_or(0));
        let Some(header) = slice_at(bytes, pos, size).filter(|_| size >= 7) else {
            listing.fail(Problem::Malformed(
                "rar4: block header out of bounds".into(),
            ));
            return;
        };
        // HEAD_CRC is the low 16 bits of the CRC32 of the header from HEAD_TYPE on; checked for
        // the two block types whose CRC covers exactly that.
        if matches!(kind, R4_MAIN | R4_FILE)
            && (crc32fast::hash(header.get(2..).unwrap_or_default()) & 0xffff) as u16 != crc
        {
            listing.fail(Problem::Malformed(format!(
                "rar4: header CRC mismatch at {pos}"
            )));
            return;
        }
        let add_size = if flags & R4_LONG_BLOCK != 0 || kind == R4_FILE {
            le32(header, 7).map_or(0, u64::from)
        } else {
            0
        };
        match kind {
            R4_MAIN if flags & R4_MAIN_PASSWORD != 0 => {
                // Everything after the main header is encrypted: nothing more can be listed.
                listing.headers_encrypted = true;
                return;
            }
            R4_FILE => {
                if let Err(p) = budget.take_member() {
                    listing.fail(p);
                    return;
                }
                match rar4_file(bytes, pos, header, flags, budget, listing) {
                    Some(member) => listing.members.push(member),
                    None => {
                        listing.fail(Problem::Malformed(format!(
                            "rar4: bad file header at {pos}"
                        )));
                        return;
                    }
                }
            }
            R4_END => return,
            _ => {}
        }
        let next = u64::try_from(pos)
            .ok()
            .and_then(|p| p.checked_add(size as u64))
            .and_then(|p| p.checked_add(add_size))
            .and_then(|p| usize::try_from(p).ok());
        match next {
            Some(n) if n <= bytes.len() => pos = n,
            _ => {
                listing.fail(Problem::Malformed("rar4: data runs past the end".into()));
                return;
            }
        }
    }
}

/// Decodes one FILE_HEAD (fields after the 7-byte block header):
/// PACK_SIZE u32, UNP_SIZE u32, HOST_OS u8, FILE_CRC u32, FTIME u32, UNP_VER u8, METHOD u8,
/// NAME_SIZE u16, ATTR u32, [HIGH_PACK_SIZE u32, HIGH_UNP_SIZE u32 if 0x100], FILE_NAME…
fn rar4_file(
    bytes: &[u8],
    pos: usize,
    header: &[u8],
    flags: u16,
    budget: &mut Budget,
    listing: &Listing,
) -> Option<Member> {
    let pack_low = le32(header, 7)?;
    let unp_low = le32(header, 11)?;
    let method = *header.get(25)?;
    let name_size = usize::from(le16(header, 26)?);
    let mut at = 32usize;
    let (mut pack, mut unp) = (u64::from(pack_low), u64::from(unp_low));
    if flags & R4_FILE_LARGE != 0 {
        pack |= u64::from(le32(header, at)?) << 32;
        unp |= u64::from(le32(header, at + 4)?) << 32;
        at += 8;
    }
    let raw_name = slice_at(header, at, name_size)?;
    let name = if flags & R4_FILE_UNICODE != 0 {
        rar4_unicode_name(raw_name)
    } else {
        // OEM code page in practice; best effort without the host's code page.
        utf8_or_latin1(raw_name)
    };
    let encrypted = flags & R4_FILE_PASSWORD != 0;
    let is_dir = flags & R4_FILE_DIR_MASK == R4_FILE_DIR_MASK;
    let mut member = Member {
        name: name.replace('\\', "/"),
        size: unp,
        encrypted,
        is_dir,
        ..Member::default()
    };
    if !is_dir && !encrypted {
        let data_at = pos.checked_add(header.len())?;
        member.skipped = stored_data(
            bytes,
            data_at,
            pack,
            unp,
            method == R4_METHOD_STORE && flags & R4_FILE_SPLIT == 0,
            budget,
            listing,
            &mut member.data,
        );
    }
    Some(member)
}

/// Takes a stored member's bytes within the budget; returns why not when it cannot.
#[allow(clippy::too_many_arguments)]
fn stored_data(
    bytes: &[u8],
    at: usize,
    pack: u64,
    unp: u64,
    stored_whole: bool,
    budget: &mut Budget,
    listing: &Listing,
    data: &mut Option<Vec<u8>>,
) -> Option<String> {
    if !stored_whole {
        return Some(NOT_DECODED.into());
    }
    if listing.must_stop_extracting() {
        return Some("limit reached".into());
    }
    if pack != unp {
        return Some("rar: stored sizes disagree".into());
    }
    if unp > budget.bytes_left {
        return Some(Problem::TooLarge.to_string());
    }
    let content = slice_at(bytes, at, usize::try_from(unp).ok()?)?;
    budget.bytes_left -= unp;
    *data = Some(content.to_vec());
    None
}

/// RAR 3.x unicode names (flag 0x200): "ascii\0packed-UTF-16", or UTF-8 when there is no NUL.
/// The packing (unrar's EncodeFileName) mixes literal bytes, bytes with a shared high byte,
/// full 16-bit units and runs copied from the ASCII name, chosen by 2-bit flags.
fn rar4_unicode_name(raw: &[u8]) -> String {
    let Some(nul) = raw.iter().position(|&b| b == 0) else {
        return utf8_or_latin1(raw);
    };
    let ascii = raw.get(..nul).unwrap_or_default();
    let enc = raw.get(nul + 1..).unwrap_or_default();
    let Some(&high) = enc.first() else {
        return utf8_or_latin1(ascii);
    };
    let high = u16::from(high) << 8;
    let mut out: Vec<u16> = Vec::with_capacity(ascii.len());
    let mut i = 1usize;
    let (mut flags, mut flag_bits) = (0u8, 0u8);
    // Output is never longer than the ASCII name; each step consumes input or stops.
    while i < enc.len() && out.len() < ascii.len() {
        if flag_bits == 0 {
            flags = enc[i];
            i += 1;
            flag_bits = 8;
        }
        match flags >> 6 {
            0 => {
                let Some(&b) = enc.get(i) else { break };
                out.push(u16::from(b));
                i += 1;
            }
            1 => {
                let Some(&b) = enc.get(i) else { break };
                out.push(u16::from(b) | high);
                i += 1;
            }
            2 => {
                let Some(w) = le16(enc, i) else { break };
                out.push(w);
                i += 2;
            }
            _ => {
                let Some(&len) = enc.get(i) else { break };
                i += 1;
                let correction = if len & 0x80 != 0 {
                    let Some(&c) = enc.get(i) else { break };
                    i += 1;
                    Some(c)
                } else {
                    None
                };
                for _ in 0..(usize::from(len & 0x7f) + 2) {
                    let Some(&a) = ascii.get(out.len()) else {
                        break;
                    };
                    out.push(match correction {
                        Some(c) => u16::from(a.wrapping_add(c)) | high,
                        None => u16::from(a),
                    });
                }
            }
        }
        flags = flags.wrapping_shl(2);
        flag_bits -= 2;
    }
    String::from_utf16_lossy(&out)
}

/// A bounded cursor for RAR 5 headers.
struct Cur<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Cur<'a> {
    /// RAR 5 vint: 7 bits per byte, low first, high bit = more; at most 10 bytes.
    fn vint(&mut self) -> Option<u64> {
        let mut v: u64 = 0;
        for shift in (0..70).step_by(7) {
            let byte = *self.b.get(self.pos)?;
            self.pos += 1;
            v |= u64::from(byte & 0x7f).checked_shl(shift).unwrap_or(0);
            if byte & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = slice_at(self.b, self.pos, n)?;
        self.pos += n;
        Some(s)
    }
}

// RAR 5 header types and flags ("RAR 5.0 archive format").
const R5_FILE: u64 = 2;
const R5_CRYPT: u64 = 4;
const R5_END: u64 = 5;
const R5_HAS_EXTRA: u64 = 0x0001;
const R5_HAS_DATA: u64 = 0x0002;
const R5_SPLIT: u64 = 0x0008 | 0x0010;
const R5_FILE_DIR: u64 = 0x0001;
const R5_FILE_TIME: u64 = 0x0002;
const R5_FILE_CRC: u64 = 0x0004;
const R5_EXTRA_CRYPT: u64 = 0x01;

/// Walks RAR 5 headers: CRC32 u32, header size vint, type vint, flags vint, [extra size vint],
/// [data size vint], type-specific fields, extra area, then the data area.
pub(super) fn open_rar5(bytes: &[u8], budget: &mut Budget, listing: &mut Listing) {
    let mut pos = RAR5_MAGIC.len();
    loop {
        if pos == bytes.len() {
            listing.fail(Problem::Malformed("rar5: no end-of-archive header".into()));
            return;
        }
        let bad = |what: &str| Problem::Malformed(format!("rar5: {what} at {pos}"));
        let Some(crc) = le32(bytes, pos) else {
            listing.fail(bad("truncated header"));
            return;
        };
        let mut c = Cur {
            b: bytes,
            pos: pos + 4,
        };
        let Some(size) = c.vint().filter(|s| *s > 0 && *s <= RAR5_MAX_HEADER) else {
            listing.fail(bad("bad header size"));
            return;
        };
        let body_at = c.pos;
        // The CRC covers the size field and the header data.
        let Some(header) = slice_at(bytes, body_at, size as usize) else {
            listing.fail(bad("header out of bounds"));
            return;
        };
        if crc32fast::hash(
            bytes
                .get(pos + 4..body_at + header.len())
                .unwrap_or_default(),
        ) != crc
        {
            listing.fail(bad("header CRC mismatch"));
            return;
        }
        let mut h = Cur { b: header, pos: 0 };
        let parsed = (|| {
            let kind = h.vint()?;
            let flags = h.vint()?;
            let extra = if flags & R5_HAS_EXTRA != 0 {
                h.vint()?
            } else {
                0
            };
            let data = if flags & R5_HAS_DATA != 0 {
                h.vint()?
            } else {
                0
            };
            let extra_at = header.len().checked_sub(usize::try_from(extra).ok()?)?;
            Some((kind, flags, extra_at, data))
        })();
        let Some((kind, flags, extra_at, data_size)) = parsed else {
            listing.fail(bad("bad header fields"));
            return;
        };
        let data_at = body_at + header.len();
        match kind {
            R5_CRYPT => {
                // Archive encryption header: every following header is encrypted.
                listing.headers_encrypted = true;
                return;
            }
            R5_FILE => {
                if let Err(p) = budget.take_member() {
                    listing.fail(p);
                    return;
                }
                let extra = header.get(extra_at..).unwrap_or_default();
                match rar5_file(
                    &mut h, extra, flags, bytes, data_at, data_size, budget, listing,
                ) {
                    Some(m) => listing.members.push(m),
                    None => {
                        listing.fail(bad("bad file header"));
                        return;
                    }
                }
            }
            R5_END => return,
            // Main archive header (1), service headers (3: comments, recovery…): nothing to list.
            _ => {}
        }
        let next = u64::try_from(data_at)
            .ok()
            .and_then(|p| p.checked_add(data_size))
            .and_then(|p| usize::try_from(p).ok());
        match next {
            Some(n) if n <= bytes.len() => pos = n,
            _ => {
                listing.fail(bad("data runs past the end"));
                return;
            }
        }
    }
}

/// File header fields: file flags, unpacked size, attributes, [mtime u32], [CRC32 u32],
/// compression info, host OS, name length, name (UTF-8). Encryption is extra record 0x01.
#[allow(clippy::too_many_arguments)]
fn rar5_file(
    h: &mut Cur<'_>,
    extra: &[u8],
    header_flags: u64,
    bytes: &[u8],
    data_at: usize,
    data_size: u64,
    budget: &mut Budget,
    listing: &Listing,
) -> Option<Member> {
    let file_flags = h.vint()?;
    let size = h.vint()?;
    let _attributes = h.vint()?;
    if file_flags & R5_FILE_TIME != 0 {
        h.take(4)?;
    }
    if file_flags & R5_FILE_CRC != 0 {
        h.take(4)?;
    }
    let compression = h.vint()?;
    let _host = h.vint()?;
    let name_len = usize::try_from(h.vint()?).ok()?;
    let name = utf8_or_latin1(h.take(name_len)?);
    let encrypted = extra_records(extra)?.contains(&R5_EXTRA_CRYPT);
    let is_dir = file_flags & R5_FILE_DIR != 0;
    let mut member = Member {
        name,
        size,
        encrypted,
        is_dir,
        ..Member::default()
    };
    if !is_dir && !encrypted {
        // Compression info bits 7–9: method, 0 = stored.
        let stored = (compression >> 7) & 7 == 0 && header_flags & R5_SPLIT == 0;
        member.skipped = stored_data(
            bytes,
            data_at,
            data_size,
            size,
            stored,
            budget,
            listing,
            &mut member.data,
        );
    }
    Some(member)
}

/// Types of the records in an extra area (each: size vint, type vint, data).
fn extra_records(extra: &[u8]) -> Option<Vec<u64>> {
    let mut c = Cur { b: extra, pos: 0 };
    let mut kinds = Vec::new();
    while c.pos < extra.len() {
        let size = usize::try_from(c.vint()?).ok()?;
        let record = c.take(size)?;
        let kind = Cur { b: record, pos: 0 }.vint()?;
        kinds.push(kind);
    }
    Some(kinds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vint_is_bounded() {
        assert_eq!(
            Cur {
                b: &[0x81, 0x01],
                pos: 0
            }
            .vint(),
            Some(129)
        );
        assert_eq!(
            Cur {
                b: &[0x80; 20],
                pos: 0
            }
            .vint(),
            None
        );
        assert_eq!(Cur { b: &[0x80], pos: 0 }.vint(), None);
    }

    #[test]
    fn unicode_name_decoding() {
        // "ab" + NUL + high byte 0x1e, flags 0b01_01_00_00: two bytes with the high byte.
        let raw = b"ab\0\x1e\x50\xa1\xb7";
        assert_eq!(rar4_unicode_name(raw), "\u{1ea1}\u{1eb7}");
        // Run copied from the ASCII name (flags 0b11): length 0 + 2.
        assert_eq!(rar4_unicode_name(b"ab\0\x00\xc0\x00"), "ab");
        assert_eq!(rar4_unicode_name("tệp".as_bytes()), "tệp");
        // Garbage never panics and never outgrows the ASCII name.
        assert!(rar4_unicode_name(b"a\0\xff\xff\xff\xff").chars().count() <= 1);
    }

    #[test]
    fn extra_records_walk() {
        assert_eq!(extra_records(&[2, 1, 0, 1, 7]), Some(vec![1, 7]));
        assert_eq!(extra_records(&[5, 1]), None);
    }
}
