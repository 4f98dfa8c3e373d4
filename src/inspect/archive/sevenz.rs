//! 7z through `sevenz-rust2`.
//!
//! Encrypted headers: the crate answers `PasswordRequired` before listing anything, which is
//! `headers_encrypted`; candidates may then open the header. Encrypted content: a member whose
//! compression block uses the AES-256/SHA-256 coder (method id 06 F1 07 01).

use std::io::Cursor;

use sevenz_rust2::{Archive, BlockDecoder, EncoderMethod, Error, Password};

use super::budget::{guarded, read_capped, Budget, Stop};
use super::{Listing, Member, Problem};

/// Memory the crate may claim for header buffers and one decoder's dictionary, in KiB.
/// `7z -mx9` uses a 64 MiB dictionary; dictionaries grow with the output, which the byte
/// budget bounds, so this only refuses absurd declarations up front.
const MEM_LIMIT_KB: usize = 128 * 1024;

pub(super) fn open(bytes: &[u8], budget: &mut Budget, passwords: &[String], listing: &mut Listing) {
    let (archive, header_password) = match read_archive(bytes, &Password::empty()) {
        Ok(a) => (a, None),
        Err(Error::PasswordRequired) => {
            listing.headers_encrypted = true;
            match open_headers(bytes, budget, passwords, listing) {
                Some(found) => found,
                None => return,
            }
        }
        Err(e) => {
            listing.fail(problem(&e));
            return;
        }
    };
    let first = listing.members.len();
    for (i, entry) in archive.files.iter().enumerate() {
        if let Err(p) = budget.take_member() {
            listing.fail(p);
            break;
        }
        let encrypted = archive.is_file_encrypted(i);
        listing.members.push(Member {
            name: entry.name().to_owned(),
            size: entry.size(),
            is_dir: entry.is_directory(),
            encrypted,
            ..Member::default()
        });
    }
    if listing.must_stop_extracting() {
        return;
    }
    // Empty files have no block: nothing to decode.
    for (i, m) in listing.members.iter_mut().skip(first).enumerate() {
        let blockless = archive
            .stream_map
            .file_block_index
            .get(i)
            .is_some_and(Option::is_none);
        if blockless && !m.is_dir {
            m.data = Some(Vec::new());
        }
    }
    decode_pass(
        bytes,
        &archive,
        &Password::empty(),
        None,
        first,
        budget,
        listing,
    );
    // A header opened with a candidate: 7-Zip encrypts the content with the same password.
    let candidates: Vec<usize> = match header_password {
        Some(p) => vec![p],
        None => (0..passwords.len()).collect(),
    };
    for p in candidates {
        let waiting = listing.members[first..]
            .iter()
            .any(|m| m.encrypted && m.data.is_none() && m.skipped.is_none() && !m.is_dir);
        if !waiting || listing.problem.as_ref().is_some_and(Problem::is_limit) {
            break;
        }
        if let Some(pw) = passwords.get(p) {
            decode_pass(
                bytes,
                &archive,
                &Password::new(pw),
                Some(p),
                first,
                budget,
                listing,
            );
        }
    }
}

/// Reads the archive's header with `password`, panics turned into errors.
fn read_archive(bytes: &[u8], password: &Password) -> Result<Archive, Error> {
    let mut cursor = Cursor::new(bytes);
    guarded("7z", || {
        Archive::read_with_memory_limit(&mut cursor, password, MEM_LIMIT_KB)
    })
    .unwrap_or_else(|p| Err(Error::Other(p.to_string().into())))
}

/// Tries the candidates on an encrypted header; the first that decodes it wins.
fn open_headers(
    bytes: &[u8],
    budget: &mut Budget,
    passwords: &[String],
    listing: &mut Listing,
) -> Option<(Archive, Option<usize>)> {
    for (p, pw) in passwords.iter().enumerate() {
        if budget.expired() {
            listing.fail(Problem::Deadline);
            return None;
        }
        if let Ok(archive) = read_archive(bytes, &Password::new(pw)) {
            return Some((archive, Some(p)));
        }
    }
    None
}

/// Decodes, block by block, the blocks this pass is for: unencrypted ones without a password
/// (`which` is `None`), encrypted ones with candidate `which`. Blocks are independent, so a
/// failing block (a wrong password) leaves the others alone. An entry's data counts once the
/// crate has verified its CRC: when the next entry is handed over or the block ends cleanly.
fn decode_pass(
    bytes: &[u8],
    archive: &Archive,
    password: &Password,
    which: Option<usize>,
    first: usize,
    budget: &mut Budget,
    listing: &mut Listing,
) {
    let mut source = Cursor::new(bytes);
    // Compressed input is not counted per entry: judge the ratio against the whole archive.
    let whole = bytes.len() as u64;
    for (block, info) in archive.blocks.iter().enumerate() {
        let encrypted = info
            .coders
            .iter()
            .any(|c| c.encoder_method_id() == EncoderMethod::ID_AES256_SHA256);
        if encrypted != which.is_some() {
            continue;
        }
        if budget.expired() {
            listing.fail(Problem::Deadline);
            return;
        }
        let Some(&start) = archive.stream_map.block_first_file_index.get(block) else {
            continue;
        };
        let decoder = BlockDecoder::new_with_memory_limit(
            1,
            MEM_LIMIT_KB,
            block,
            archive,
            password,
            &mut source,
        );
        let end = start.saturating_add(decoder.entry_count());
        let members = listing.members.get_mut(first..).unwrap_or_default();
        let wanted = |m: &Member| !m.is_dir && m.data.is_none() && m.skipped.is_none();
        if !members
            .get(start..end)
            .unwrap_or_default()
            .iter()
            .any(wanted)
        {
            continue;
        }
        let mut pending: Option<(usize, Vec<u8>)> = None;
        let mut stop: Option<Problem> = None;
        let mut next = start;
        let commit = |pending: &mut Option<(usize, Vec<u8>)>, members: &mut [Member]| {
            if let Some((i, data)) = pending.take() {
                if let Some(m) = members.get_mut(i) {
                    m.data = Some(data);
                    if m.encrypted {
                        m.decrypted_with = which;
                    }
                }
            }
        };
        let outcome = guarded("7z", || {
            decoder.for_each_entries(&mut |entry, data| {
                commit(&mut pending, members);
                let i = next;
                next += 1;
                if budget.expired() {
                    stop = Some(Problem::Deadline);
                    return Ok(false);
                }
                // Entries come in block order; past the members we listed (a member limit),
                // there is nothing to fill.
                if !members
                    .get(i)
                    .is_some_and(|m| m.name == entry.name() && wanted(m))
                {
                    return Ok(true);
                }
                match read_capped(data, budget, entry.size(), &|| whole) {
                    Ok(d) => {
                        pending = Some((i, d));
                        Ok(true)
                    }
                    Err(Stop::Limit(p)) => {
                        stop = Some(p);
                        Ok(false)
                    }
                    Err(Stop::Failed(e)) => Err(Error::from(e)),
                }
            })
        });
        match outcome {
            Ok(Ok(_)) => commit(&mut pending, members),
            // With a candidate, a failure means a wrong password: the members stay encrypted.
            Ok(Err(_)) | Err(_) if which.is_some() => {}
            Ok(Err(e)) => listing.fail(problem(&e)),
            Err(p) => listing.fail(p),
        }
        if let Some(p) = stop {
            // A limit: no further block is decoded.
            listing.fail(p);
            return;
        }
    }
}

/// Maps a crate error to our problem.
fn problem(e: &Error) -> Problem {
    match e {
        Error::MaxMemLimited { .. } => Problem::TooLarge,
        Error::UnsupportedCompressionMethod(m) => Problem::Unsupported(format!("7z method {m}")),
        Error::Unsupported(m) => Problem::Unsupported(format!("7z: {m}")),
        other => Problem::Malformed(format!("7z: {other}")),
    }
}
