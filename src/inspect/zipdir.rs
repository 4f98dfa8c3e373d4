//! The member names of a zip's central directory, without decompressing anything.
//!
//! Enough to tell an OOXML package (and its macros) from a plain zip; the archive readers do the
//! real work on members.

const CDH: &[u8] = b"PK\x01\x02";
const EOCD: &[u8] = b"PK\x05\x06";

fn u16le(b: &[u8], at: usize) -> Option<usize> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes([s[0], s[1]]) as usize)
}

fn u32le(b: &[u8], at: usize) -> Option<u64> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]) as u64)
}

fn u64le(b: &[u8], at: usize) -> Option<u64> {
    let s = b.get(at..at.checked_add(8)?)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(s);
    Some(u64::from_le_bytes(a))
}

/// Up to `max` names from the central directory (lossy UTF-8).
pub fn names(data: &[u8], max: usize) -> Vec<String> {
    let start = central_directory(data)
        .filter(|&s| data.get(s..s + 4) == Some(CDH))
        // Self-extracting or otherwise prefixed zips shift every offset: find the first
        // central header by its signature instead.
        .or_else(|| memchr::memmem::find(data, CDH));
    let mut out = Vec::new();
    let Some(mut at) = start else { return out };
    while out.len() < max && data.get(at..at + 4) == Some(CDH) {
        let (Some(nlen), Some(elen), Some(clen)) = (
            u16le(data, at + 28),
            u16le(data, at + 30),
            u16le(data, at + 32),
        ) else {
            break;
        };
        let Some(name) = data.get(at + 46..at + 46 + nlen) else {
            break;
        };
        out.push(String::from_utf8_lossy(name).into_owned());
        at += 46 + nlen + elen + clen;
    }
    out
}

/// Offset of the central directory from the end records (zip64 included).
fn central_directory(data: &[u8]) -> Option<usize> {
    let tail_start = data.len().saturating_sub(22 + 65_535);
    let eocd = tail_start + memchr::memmem::rfind(&data[tail_start..], EOCD)?;
    let off = u32le(data, eocd + 16)?;
    if off != 0xFFFF_FFFF {
        return usize::try_from(off).ok();
    }
    // Zip64 end of central directory locator sits right before the EOCD.
    let loc = eocd.checked_sub(20)?;
    if data.get(loc..loc + 4)? != b"PK\x06\x07" {
        return None;
    }
    let z64 = usize::try_from(u64le(data, loc + 8)?).ok()?;
    if data.get(z64..z64 + 4)? != b"PK\x06\x06" {
        return None;
    }
    usize::try_from(u64le(data, z64 + 48)?).ok()
}
