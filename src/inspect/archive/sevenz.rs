//! 7z through `sevenz-rust2`.
//!
//! Encrypted headers: the crate answers `PasswordRequired` before listing anything, which is
//! `headers_encrypted`; candidates may then open the header. Encrypted content: a member whose
//! compression block uses the AES-256/SHA-256 coder (method id 06 F1 07 01).

use std::io::Cursor;

use sevenz_rust2::{Archive, ArchiveReader, EntryDecision, Error, Password};

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
            // A header opened with a candidate: the same password protects the content.
            decrypted_with: if encrypted { header_password } else { None },
            ..Member::default()
        });
    }
    if listing.must_stop_extracting() {
        return;
    }
    let members = listing.members.len() - first;
    let any_plain = archive
        .files
        .iter()
        .enumerate()
        .take(members)
        .any(|(i, e)| !e.is_directory() && !archive.is_file_encrypted(i));
    if any_plain {
        decode_pass(
            bytes,
            &archive,
            Password::empty(),
            None,
            first,
            budget,
            listing,
        );
    }
    let pending_encrypted = |l: &Listing| {
        l.members[first..]
            .iter()
            .any(|m| m.encrypted && m.data.is_none() && m.size > 0 && m.skipped.is_none())
    };
    match header_password {
        Some(p) => {
            if let Some(pw) = passwords.get(p) {
                decode_pass(
                    bytes,
                    &archive,
                    Password::new(pw),
                    Some(p),
                    first,
                    budget,
                    listing,
                );
            }
        }
        None => {
            for (p, pw) in passwords.iter().enumerate() {
                if !pending_encrypted(listing) || listing.must_stop_extracting() {
                    break;
                }
                if budget.expired() {
                    listing.fail(Problem::Deadline);
                    break;
                }
                decode_pass(
                    bytes,
                    &archive,
                    Password::new(pw),
                    Some(p),
                    first,
                    budget,
                    listing,
                );
            }
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

/// Decodes every block with one password, filling members still without data. Encrypted
/// members are read only by a pass with a candidate (`which`), plain ones only by the pass
/// without. An entry's data counts once the crate has verified its CRC, i.e. when the next
/// entry is handed over or the pass ends without error.
fn decode_pass(
    bytes: &[u8],
    archive: &Archive,
    password: Password,
    which: Option<usize>,
    first: usize,
    budget: &mut Budget,
    listing: &mut Listing,
) {
    let mut reader = ArchiveReader::from_archive(archive.clone(), Cursor::new(bytes), password);
    // Decoding stays on this thread: the caller already runs us off the async runtime.
    reader.set_thread_count(1);
    let mut pending: Option<(usize, Vec<u8>)> = None;
    let mut stop: Option<Problem> = None;
    let members = &mut listing.members[first..];
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
        reader.for_each_entries_with_decision(|entry, data| {
            commit(&mut pending, members);
            if budget.expired() {
                stop = Some(Problem::Deadline);
                return Ok(EntryDecision::Stop);
            }
            // Entries come block by block; match each to the first unfilled member of its name.
            let Some(i) = members.iter().position(|m| {
                m.name == entry.name() && m.data.is_none() && m.skipped.is_none() && !m.is_dir
            }) else {
                return Ok(EntryDecision::Continue);
            };
            let encrypted = members.get(i).is_some_and(|m| m.encrypted);
            if encrypted != which.is_some() {
                // Not this pass's business; encryption is per block, so skip the block.
                return Ok(EntryDecision::SkipBlock);
            }
            // Compressed input is not counted per entry here: judge the ratio against the
            // whole archive.
            let whole = bytes.len() as u64;
            match read_capped(data, budget, entry.size(), &|| whole) {
                Ok(d) => {
                    pending = Some((i, d));
                    Ok(EntryDecision::Continue)
                }
                Err(Stop::Limit(p)) => {
                    stop = Some(p);
                    Ok(EntryDecision::Stop)
                }
                Err(Stop::Failed(e)) => Err(Error::from(e)),
            }
        })
    });
    match outcome {
        Ok(Ok(())) => commit(&mut pending, members),
        // With a candidate, a failure means a wrong password: the members stay encrypted.
        Ok(Err(_)) | Err(_) if which.is_some() => {}
        Ok(Err(e)) => listing.fail(problem(&e)),
        Err(p) => listing.fail(p),
    }
    if let Some(p) = stop {
        listing.fail(p);
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
