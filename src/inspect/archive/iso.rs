//! ISO 9660 images (ECMA-119), with Joliet and Rock Ridge names.
//!
//! Why by hand: the Rust ISO crates read from files or block devices and trust the directory
//! structure; a directory walk is ~150 lines. It reads through bounded slices, visits each
//! directory extent once (no loops), caps the depth and charges every record to the budget.
//! UDF-only images (no ISO 9660 bridge) are detected but not listed: `Problem::Unsupported`.

use std::collections::HashSet;

use super::budget::{Budget, RATIO_FLOOR};
use super::{le16, le32, slice_at, Listing, Member, Problem};

/// Volume descriptors start at sector 16 of 2048 bytes (ECMA-119 6.2.1, 8.1).
const DESCRIPTORS_AT: usize = 16 * 2048;
/// How many descriptors we look at before giving up on a terminator.
const MAX_DESCRIPTORS: usize = 32;
/// Directory nesting deeper than this is not walked (ECMA-119 allows 8; Rock Ridge more).
const MAX_DEPTH: usize = 64;

/// True for "CD001" in a volume descriptor, or a UDF volume recognition sequence.
pub(super) fn detect(bytes: &[u8]) -> bool {
    (0..MAX_DESCRIPTORS).any(|n| {
        let id = DESCRIPTORS_AT
            .checked_add(n * 2048 + 1)
            .and_then(|at| slice_at(bytes, at, 5));
        matches!(id, Some(b"CD001" | b"BEA01" | b"NSR02" | b"NSR03"))
    })
}

/// A directory record (ECMA-119 9.1) of interest.
struct Record<'a> {
    extent: u32,
    size: u32,
    flags: u8,
    name: &'a [u8],
    system_use: &'a [u8],
}

const FLAG_DIR: u8 = 0x02;
const FLAG_MULTI_EXTENT: u8 = 0x80;

fn record(r: &[u8]) -> Option<Record<'_>> {
    let len = usize::from(*r.first()?);
    let name_len = usize::from(*r.get(32)?);
    let name = slice_at(r, 33, name_len)?;
    // The name is padded to an even offset; System Use fills the rest (SUSP, Rock Ridge).
    let su_at = 33 + name_len + usize::from(name_len % 2 == 0);
    Some(Record {
        extent: le32(r, 2)?,
        size: le32(r, 10)?,
        flags: *r.get(25)?,
        name,
        system_use: r.get(su_at.min(len)..len).unwrap_or_default(),
    })
}

/// Which volume descriptor we walk, and how its names are encoded.
#[derive(Clone, Copy, PartialEq)]
enum Names {
    /// Primary descriptor: d-characters, or Rock Ridge NM entries when present.
    Primary,
    /// Joliet supplementary descriptor: UCS-2 big-endian.
    Joliet,
}

pub(super) fn open(bytes: &[u8], budget: &mut Budget, listing: &mut Listing) {
    let mut primary = None;
    let mut joliet = None;
    for n in 0..MAX_DESCRIPTORS {
        let Some(d) = slice_at(bytes, DESCRIPTORS_AT + n * 2048, 2048) else {
            break;
        };
        if d.get(1..6) != Some(&b"CD001"[..]) {
            continue;
        }
        match d[0] {
            1 if primary.is_none() => primary = Some(d),
            // Joliet: escape sequences %/@, %/C or %/E at 88 (UCS-2 levels 1–3).
            2 if matches!(d.get(88..91), Some(b"%/@" | b"%/C" | b"%/E")) => joliet = Some(d),
            255 => break,
            _ => {}
        }
    }
    let Some(pvd) = primary else {
        listing.fail(Problem::Unsupported(
            "UDF image without an ISO 9660 directory".into(),
        ));
        return;
    };
    // Walk the primary tree first: Rock Ridge names are the most complete. Without them,
    // Joliet names beat 8.3 upper-case ones.
    let mut rr_seen = false;
    let start = listing.members.len();
    walk(bytes, pvd, Names::Primary, budget, listing, &mut rr_seen);
    if let (false, Some(j)) = (rr_seen, joliet) {
        if listing.problem.is_none() {
            // Give back the slots of the primary walk; the Joliet tree lists the same files.
            let listed = listing.members.len() - start;
            budget.members_left = budget.members_left.saturating_add(listed);
            let charged: u64 = listing.members[start..]
                .iter()
                .filter_map(|m| m.data.as_ref().map(|d| d.len() as u64))
                .sum();
            budget.bytes_left = budget.bytes_left.saturating_add(charged);
            listing.members.truncate(start);
            walk(bytes, j, Names::Joliet, budget, listing, &mut rr_seen);
        }
    }
}

fn walk(
    bytes: &[u8],
    descriptor: &[u8],
    names: Names,
    budget: &mut Budget,
    listing: &mut Listing,
    rr_seen: &mut bool,
) {
    let block = usize::from(le16(descriptor, 128).unwrap_or(2048));
    if !matches!(block, 512 | 1024 | 2048) {
        listing.fail(Problem::Malformed(format!(
            "iso: logical block size {block}"
        )));
        return;
    }
    let Some(root) = descriptor.get(156..190).and_then(record) else {
        listing.fail(Problem::Malformed("iso: no root directory".into()));
        return;
    };
    let whole = bytes.len() as u64;
    let mut extracted: u64 = 0;
    let mut visited: HashSet<u32> = HashSet::new();
    let mut stack: Vec<(u32, u32, String, usize)> =
        vec![(root.extent, root.size, String::new(), 0)];
    while let Some((extent, size, prefix, depth)) = stack.pop() {
        if !visited.insert(extent) {
            continue;
        }
        let dir = (extent as usize)
            .checked_mul(block)
            .and_then(|at| slice_at(bytes, at, size as usize));
        let Some(dir) = dir else {
            listing.fail(Problem::Malformed(format!(
                "iso: directory {prefix:?} out of bounds"
            )));
            continue;
        };
        let mut pos = 0usize;
        while pos < dir.len() {
            let len = usize::from(dir[pos]);
            if len == 0 {
                // Records never cross a sector: a zero length pads to the next one.
                pos = (pos / 2048 + 1) * 2048;
                continue;
            }
            let Some(r) = dir
                .get(pos..pos + len)
                .and_then(record)
                .filter(|_| len >= 34)
            else {
                listing.fail(Problem::Malformed(format!("iso: bad record in {prefix:?}")));
                break;
            };
            pos += len;
            // "." and ".." are the single bytes 0 and 1.
            if matches!(r.name, [0] | [1]) {
                continue;
            }
            if let Err(p) = budget.take_member() {
                listing.fail(p);
                return;
            }
            let name = match (names, rock_ridge_name(r.system_use)) {
                (Names::Primary, Some(n)) => {
                    *rr_seen = true;
                    n
                }
                (Names::Primary, None) => plain_name(&String::from_utf8_lossy(r.name)),
                (Names::Joliet, _) => {
                    let units: Vec<u16> = r
                        .name
                        .chunks_exact(2)
                        .map(|c| u16::from_be_bytes([c[0], c[1]]))
                        .collect();
                    plain_name(&String::from_utf16_lossy(&units))
                }
            };
            let path = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            };
            let is_dir = r.flags & FLAG_DIR != 0;
            let mut member = Member {
                name: path.clone(),
                size: u64::from(r.size),
                is_dir,
                ..Member::default()
            };
            if is_dir {
                if depth < MAX_DEPTH {
                    stack.push((r.extent, r.size, path, depth + 1));
                } else {
                    listing.fail(Problem::Malformed(
                        "iso: directories nested too deep".into(),
                    ));
                }
            } else if r.flags & FLAG_MULTI_EXTENT != 0 {
                member.skipped = Some("iso: multi-extent file".into());
            } else if listing.must_stop_extracting() {
                member.skipped = Some("limit reached".into());
            } else if u64::from(r.size) > budget.bytes_left {
                member.skipped = Some(Problem::TooLarge.to_string());
                listing.fail(Problem::TooLarge);
            } else {
                let content = (r.extent as usize)
                    .checked_mul(block)
                    .and_then(|at| slice_at(bytes, at, r.size as usize));
                match content {
                    Some(c) => {
                        extracted = extracted.saturating_add(c.len() as u64);
                        // Files may share extents: judge the total against the image size.
                        if extracted > RATIO_FLOOR
                            && extracted > budget.max_ratio.saturating_mul(whole)
                        {
                            member.skipped = Some(Problem::Ratio.to_string());
                            listing.fail(Problem::Ratio);
                        } else {
                            budget.bytes_left -= c.len() as u64;
                            member.data = Some(c.to_vec());
                        }
                    }
                    None => {
                        member.skipped = Some("iso: file data out of bounds".into());
                        listing.fail(Problem::Malformed(format!("iso: {path:?} out of bounds")));
                    }
                }
            }
            listing.members.push(member);
        }
    }
}

/// "README.TXT;1" → "README.TXT", "DIR." → "DIR" (ECMA-119 7.5: version and empty extension).
fn plain_name(name: &str) -> String {
    let base = name.split_once(';').map_or(name, |(b, _)| b);
    base.strip_suffix('.').unwrap_or(base).to_owned()
}

/// Rock Ridge alternate name: the NM entries (IEEE P1282 4.1.4) of the System Use area,
/// joined while their CONTINUE flag is set. Continuation areas (CE) are not followed.
fn rock_ridge_name(mut su: &[u8]) -> Option<String> {
    let mut name: Vec<u8> = Vec::new();
    let mut found = false;
    while su.len() >= 4 {
        let len = usize::from(su[2]);
        if len < 4 {
            break;
        }
        let Some(entry) = su.get(..len) else { break };
        if &entry[..2] == b"NM" {
            let flags = *entry.get(4)?;
            // CURRENT (2) and PARENT (4) name "." and "..": not a real name.
            if flags & 0x06 == 0 {
                name.extend_from_slice(entry.get(5..).unwrap_or_default());
                found = true;
            }
        }
        su = su.get(len..).unwrap_or_default();
    }
    found.then(|| String::from_utf8_lossy(&name).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(plain_name("SETUP.EXE;1"), "SETUP.EXE");
        assert_eq!(plain_name("DIR."), "DIR");
        let su = b"NM\x09\x01\x00abcdPX\x04\x01";
        assert_eq!(rock_ridge_name(su).as_deref(), Some("abcd"));
        assert_eq!(rock_ridge_name(b"NM\x02"), None);
        assert_eq!(rock_ridge_name(b"NM\xff\x01\x00a"), None);
    }

    #[test]
    fn udf_only_is_unsupported() {
        let mut img = vec![0u8; DESCRIPTORS_AT + 4096];
        img[DESCRIPTORS_AT + 1..DESCRIPTORS_AT + 6].copy_from_slice(b"BEA01");
        img[DESCRIPTORS_AT + 2049..DESCRIPTORS_AT + 2054].copy_from_slice(b"NSR02");
        assert!(detect(&img));
        let mut b = Budget::new(10, 100, 10, std::time::Duration::from_secs(5));
        let mut l = Listing::new(super::super::Kind::Iso);
        open(&img, &mut b, &mut l);
        assert!(matches!(l.problem, Some(Problem::Unsupported(_))));
    }
}
