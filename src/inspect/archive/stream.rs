//! Single-stream compressors: gzip (flate2), bzip2 (bzip2 with its pure-Rust backend) and xz
//! (lzma-rust2, pure Rust). Each yields one member.

use super::budget::{guarded, read_capped, Budget, Counting, Stop};
use super::{utf8_or_latin1, Kind, Listing, Member, Problem};

/// Memory the xz decoder may claim for its dictionary, in KiB. `xz -9` uses 64 MiB; a larger
/// declared dictionary is refused before anything is allocated.
const XZ_MEM_LIMIT_KB: u32 = 64 * 1024;

pub(super) fn open(
    bytes: &[u8],
    kind: Kind,
    budget: &mut Budget,
    container_name: &str,
    listing: &mut Listing,
) {
    if let Err(p) = budget.take_member() {
        listing.fail(p);
        return;
    }
    let (input, counter) = Counting::new(bytes);
    let consumed = || counter.get();
    let mut member = Member {
        name: strip_extension(container_name, kind),
        ..Member::default()
    };
    let outcome = match kind {
        Kind::Gzip => {
            let mut dec = flate2::read::MultiGzDecoder::new(input);
            let r = guarded("gzip", || read_capped(&mut dec, budget, 0, &consumed));
            // The header is parsed by the first read; RFC 1952 says FNAME is ISO 8859-1, but
            // many tools write UTF-8, so accept either.
            if let Some(name) = dec.header().and_then(|h| h.filename()) {
                member.name = utf8_or_latin1(name);
            }
            r
        }
        Kind::Bzip2 => {
            let mut dec = bzip2::read::MultiBzDecoder::new(input);
            guarded("bzip2", || read_capped(&mut dec, budget, 0, &consumed))
        }
        _ => {
            let mut dec = lzma_rust2::XzReader::new_mem_limit(input, true, XZ_MEM_LIMIT_KB);
            guarded("xz", || read_capped(&mut dec, budget, 0, &consumed))
        }
    };
    match outcome {
        Ok(Ok(data)) => {
            member.size = data.len() as u64;
            member.data = Some(data);
        }
        Ok(Err(Stop::Limit(p))) => {
            member.skipped = Some(p.to_string());
            listing.fail(p);
        }
        Ok(Err(Stop::Failed(e))) => {
            member.skipped = Some(format!("{}: {e}", kind.as_str()));
            listing.fail(Problem::Malformed(format!("{}: {e}", kind.as_str())));
        }
        Err(p) => {
            member.skipped = Some(p.to_string());
            listing.fail(p);
        }
    }
    if member.size == 0 && kind == Kind::Gzip {
        member.size = gzip_isize(bytes);
    }
    listing.members.push(member);
}

/// The gzip trailer's ISIZE: the size modulo 2^32 of the last member, a hint only.
fn gzip_isize(bytes: &[u8]) -> u64 {
    bytes
        .len()
        .checked_sub(4)
        .and_then(|at| bytes.get(at..))
        .and_then(|tail| <[u8; 4]>::try_from(tail).ok())
        .map_or(0, |t| u64::from(u32::from_le_bytes(t)))
}

/// "report.pdf.gz" → "report.pdf", "x.tgz" → "x.tar"; a name without the expected extension is
/// kept as it is, since it still names the content best.
fn strip_extension(name: &str, kind: Kind) -> String {
    let lower = name.to_ascii_lowercase();
    let (plain, tarred): (&[&str], &[&str]) = match kind {
        Kind::Gzip => (&[".gz", ".gzip", ".z"], &[".tgz", ".taz"]),
        Kind::Bzip2 => (&[".bz2", ".bzip2", ".bz"], &[".tbz2", ".tbz", ".tb2"]),
        _ => (&[".xz"], &[".txz"]),
    };
    for ext in plain {
        if lower.ends_with(ext) {
            return name
                .get(..name.len() - ext.len())
                .unwrap_or(name)
                .to_owned();
        }
    }
    for ext in tarred {
        if lower.ends_with(ext) {
            let stem = name.get(..name.len() - ext.len()).unwrap_or(name);
            return format!("{stem}.tar");
        }
    }
    name.to_owned()
}

#[cfg(test)]
mod tests {
    use super::super::{open_named, Budget};
    use super::*;
    use std::io::Write;
    use std::time::Duration;

    fn budget() -> Budget {
        Budget::new(100, 10 << 20, 100, Duration::from_secs(10))
    }

    fn gzip(data: &[u8], name: Option<&str>) -> Vec<u8> {
        let mut b = flate2::GzBuilder::new();
        if let Some(n) = name {
            b = b.filename(n.as_bytes());
        }
        let mut w = b.write(Vec::new(), flate2::Compression::default());
        w.write_all(data).expect("gzip");
        w.finish().expect("gzip")
    }

    #[test]
    fn gzip_uses_fname_then_container_name() {
        let l = open_named(
            &gzip(b"MZ", Some("tờ trình.exe")),
            Kind::Gzip,
            &mut budget(),
            &[],
            "x.gz",
        );
        assert_eq!(l.members[0].name, "tờ trình.exe");
        assert_eq!(l.members[0].data.as_deref(), Some(&b"MZ"[..]));
        let l = open_named(&gzip(b"x", None), Kind::Gzip, &mut budget(), &[], "a.TGZ");
        assert_eq!(l.members[0].name, "a.tar");
        assert_eq!(l.problem, None);
    }

    #[test]
    fn bzip2_and_xz_round_trip() {
        let mut w = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
        w.write_all(b"hello").expect("bz2");
        let bz = w.finish().expect("bz2");
        let l = open_named(&bz, Kind::Bzip2, &mut budget(), &[], "r.txt.bz2");
        assert_eq!(l.members[0].name, "r.txt");
        assert_eq!(l.members[0].data.as_deref(), Some(&b"hello"[..]));
        assert_eq!(l.problem, None);
    }

    #[test]
    fn corrupt_stream_is_malformed() {
        let mut g = gzip(&[7u8; 5000], None);
        let mid = g.len() / 2;
        g.truncate(mid);
        let l = open_named(&g, Kind::Gzip, &mut budget(), &[], "");
        assert!(matches!(l.problem, Some(Problem::Malformed(_))), "{l:?}");
        let l = open_named(b"\xFD7zXZ\x00garbage", Kind::Xz, &mut budget(), &[], "");
        assert!(matches!(l.problem, Some(Problem::Malformed(_))), "{l:?}");
    }

    #[test]
    fn isize_hint() {
        assert_eq!(gzip_isize(&[1, 0, 0, 0]), 1);
        assert_eq!(gzip_isize(&[1]), 0);
    }
}
