//! tar through the `tar` crate (ustar, GNU long names and sparse files, pax).
//!
//! The input is an in-memory slice, so the crate's own allocations (long names, pax records)
//! are bounded by its size; sparse entries can expand, which the capped read and the
//! archive-level ratio catch.

use super::budget::{guarded, read_capped, Budget, Stop};
use super::{utf8_or_latin1, Listing, Member, Problem};

pub(super) fn open(bytes: &[u8], budget: &mut Budget, listing: &mut Listing) {
    let mut archive = tar::Archive::new(bytes);
    let entries = match archive.entries() {
        Ok(e) => e,
        Err(e) => {
            listing.fail(Problem::Malformed(format!("tar: {e}")));
            return;
        }
    };
    // No compression: judge the ratio against the whole archive (only sparse files expand).
    let whole = bytes.len() as u64;
    for entry in entries {
        let mut entry = match entry {
            Ok(e) => e,
            Err(e) => {
                listing.fail(Problem::Malformed(format!("tar: {e}")));
                return;
            }
        };
        let kind = entry.header().entry_type();
        if kind.is_pax_global_extensions() || kind.is_pax_local_extensions() {
            continue;
        }
        if let Err(p) = budget.take_member() {
            listing.fail(p);
            return;
        }
        let mut member = Member {
            name: utf8_or_latin1(&entry.path_bytes()),
            size: entry.size(),
            is_dir: kind.is_dir(),
            ..Member::default()
        };
        if kind.is_file() || kind.is_gnu_sparse() || kind.is_contiguous() {
            if listing.must_stop_extracting() {
                member.skipped = Some("limit reached".into());
            } else {
                let r = guarded("tar", || {
                    read_capped(&mut entry, budget, member.size, &|| whole)
                });
                match r {
                    Ok(Ok(data)) => member.data = Some(data),
                    Ok(Err(Stop::Limit(p))) | Err(p) => {
                        member.skipped = Some(p.to_string());
                        listing.fail(p);
                    }
                    Ok(Err(Stop::Failed(e))) => {
                        listing.members.push(member);
                        listing.fail(Problem::Malformed(format!("tar: {e}")));
                        return;
                    }
                }
            }
        } else if !member.is_dir {
            member.skipped = Some("link or special file".into());
        }
        listing.members.push(member);
    }
}

#[cfg(test)]
mod tests {
    use super::super::{open, Budget, Kind, Problem};
    use std::time::Duration;

    fn build() -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_ustar();
        h.set_size(2);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, "dir/quyết định.exe", &b"MZ"[..])
            .expect("append");
        b.into_inner().expect("tar")
    }

    #[test]
    fn lists_and_extracts() {
        let mut budget = Budget::new(10, 1 << 20, 100, Duration::from_secs(5));
        let l = open(&build(), Kind::Tar, &mut budget, &[]);
        assert_eq!(l.problem, None);
        assert_eq!(l.members.len(), 1);
        assert_eq!(l.members[0].name, "dir/quyết định.exe");
        assert_eq!(l.members[0].data.as_deref(), Some(&b"MZ"[..]));
    }

    #[test]
    fn truncated_is_malformed() {
        let t = build();
        let mut budget = Budget::new(10, 1 << 20, 100, Duration::from_secs(5));
        let l = open(&t[..513], Kind::Tar, &mut budget, &[]);
        assert!(matches!(l.problem, Some(Problem::Malformed(_))), "{l:?}");
    }
}
