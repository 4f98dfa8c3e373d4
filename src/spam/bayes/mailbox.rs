//! Messages to learn from: single files, maildirs (`cur/` and `new/`), mbox files, and
//! directories of message files (the SpamAssassin corpus' layout).

use std::fs;
use std::path::{Path, PathBuf};

/// Larger files are skipped: no message worth learning is that big, and the parse is bounded
/// anyway.
const MAX_FILE: u64 = 64 << 20;
/// Directory levels followed below a path given.
const MAX_DEPTH: usize = 8;

/// One message read, with where it came from (for error lines).
pub struct Message {
    pub origin: String,
    pub raw: Vec<u8>,
}

/// Every message under `path`, in a stable order (sorted names). A directory with `cur/` or
/// `new/` is a maildir (its `tmp/` is mail being delivered, skipped); another directory is
/// searched for files; a file starting with an mbox `From ` line is an mbox; any other file
/// is one message. Unreadable entries are reported in `skipped`, not fatal.
pub fn read(path: &Path, skipped: &mut Vec<String>) -> Result<Vec<Message>, String> {
    let meta = fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut files = Vec::new();
    if meta.is_dir() {
        collect(path, 0, &mut files, skipped);
    } else {
        files.push(path.to_path_buf());
    }
    let mut out = Vec::new();
    for f in files {
        match fs::metadata(&f) {
            Ok(m) if m.len() > MAX_FILE => {
                skipped.push(format!(
                    "{}: larger than {} MiB",
                    f.display(),
                    MAX_FILE >> 20
                ));
                continue;
            }
            Err(e) => {
                skipped.push(format!("{}: {e}", f.display()));
                continue;
            }
            Ok(_) => {}
        }
        match fs::read(&f) {
            Ok(raw) if is_mbox(&raw) => {
                for (i, m) in split_mbox(&raw).into_iter().enumerate() {
                    out.push(Message {
                        origin: format!("{}#{}", f.display(), i + 1),
                        raw: m,
                    });
                }
            }
            Ok(raw) if raw.is_empty() => skipped.push(format!("{}: empty", f.display())),
            Ok(raw) => out.push(Message {
                origin: f.display().to_string(),
                raw,
            }),
            Err(e) => skipped.push(format!("{}: {e}", f.display())),
        }
    }
    Ok(out)
}

fn collect(dir: &Path, depth: usize, files: &mut Vec<PathBuf>, skipped: &mut Vec<String>) {
    if depth > MAX_DEPTH {
        skipped.push(format!("{}: deeper than {MAX_DEPTH} levels", dir.display()));
        return;
    }
    let maildir = ["cur", "new"].iter().any(|d| dir.join(d).is_dir());
    let mut entries: Vec<PathBuf> = match fs::read_dir(dir) {
        Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).collect(),
        Err(e) => {
            skipped.push(format!("{}: {e}", dir.display()));
            return;
        }
    };
    entries.sort();
    for p in entries {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        // Hidden files (.DS_Store, maildir++ folders' metadata) are no mail.
        if name.starts_with('.') {
            continue;
        }
        // Links are followed to files (a corpus split is often a directory of links) but not
        // to directories, so a link loop cannot make the walk endless.
        let Ok(m) = fs::symlink_metadata(&p) else {
            continue;
        };
        let m = if m.file_type().is_symlink() {
            match fs::metadata(&p) {
                Ok(t) if t.is_file() => t,
                _ => continue,
            }
        } else {
            m
        };
        if m.is_dir() {
            if maildir && name == "tmp" {
                continue;
            }
            collect(&p, depth + 1, files, skipped);
        } else if m.is_file() {
            // In a maildir, only cur/ and new/ hold messages.
            if !maildir {
                files.push(p);
            }
        }
    }
}

fn is_mbox(raw: &[u8]) -> bool {
    raw.starts_with(b"From ")
}

/// The messages of an mbox: each starts at a `From ` line at the start of the file or after
/// an empty line (RFC 4155); `>From ` lines (mboxrd quoting) lose one `>`.
fn split_mbox(raw: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut cur: Option<Vec<u8>> = None;
    let mut prev_blank = true;
    let mut lines = raw.split_inclusive(|&b| b == b'\n').peekable();
    while let Some(line) = lines.next() {
        let next_is_header = lines.peek().is_some_and(|l| is_header_line(l));
        if prev_blank && is_separator(line) && (cur.is_none() || next_is_header) {
            if let Some(m) = cur.take() {
                out.push(trim_separator(m));
            }
            cur = Some(Vec::new());
            prev_blank = false;
            continue;
        }
        prev_blank = matches!(line, b"\n" | b"\r\n");
        let Some(m) = cur.as_mut() else { continue };
        let quoted = line.iter().position(|&b| b != b'>');
        match quoted {
            Some(n) if n > 0 && line[n..].starts_with(b"From ") => m.extend_from_slice(&line[1..]),
            _ => m.extend_from_slice(line),
        }
    }
    if let Some(m) = cur {
        out.push(trim_separator(m));
    }
    out.retain(|m| !m.is_empty());
    out
}

/// An mbox `From sender date` line: besides `From `, a sender and a time of day, so a body
/// line such as `From here on` that a writer failed to quote is not taken for one.
fn is_separator(line: &[u8]) -> bool {
    line.starts_with(b"From ")
        && line
            .split(|b| b.is_ascii_whitespace())
            .filter(|w| !w.is_empty())
            .count()
            >= 3
        && line.contains(&b':')
}

/// `Name: value`: what the line after a real separator is.
fn is_header_line(line: &[u8]) -> bool {
    match line.iter().position(|&b| b == b':') {
        Some(n) if n > 0 => line[..n].iter().all(|&b| b.is_ascii_graphic()),
        _ => false,
    }
}

/// Drops the empty line that separates a message from the next `From ` line.
fn trim_separator(mut m: Vec<u8>) -> Vec<u8> {
    if m.ends_with(b"\r\n\r\n") {
        m.truncate(m.len() - 2);
    } else if m.ends_with(b"\n\n") {
        m.truncate(m.len() - 1);
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mbox_splits_on_from_lines_after_a_blank_and_unquotes() {
        let mbox = b"From a@x Mon Jan  1 00:00:00 2026\nSubject: one\n\nFrom here on\n>From quoted\n\nFrom me at 10:00 yesterday\nhello\n\nFrom b@x Mon Jan  1 00:00:00 2026\nSubject: two\n\nbody\n";
        let m = split_mbox(mbox);
        assert_eq!(m.len(), 2);
        assert_eq!(
            m[0],
            b"Subject: one\n\nFrom here on\nFrom quoted\n\nFrom me at 10:00 yesterday\nhello\n"
                .to_vec()
        );
        assert_eq!(m[1], b"Subject: two\n\nbody\n".to_vec());
    }

    #[test]
    fn maildirs_give_cur_and_new_but_not_tmp() {
        let d = tempfile::tempdir().unwrap();
        for (sub, name) in [("cur", "1:2,S"), ("new", "2"), ("tmp", "3")] {
            fs::create_dir_all(d.path().join(sub)).unwrap();
            fs::write(
                d.path().join(sub).join(name),
                format!("Subject: {name}\n\nx\n"),
            )
            .unwrap();
        }
        let mut skipped = Vec::new();
        let m = read(d.path(), &mut skipped).unwrap();
        assert_eq!(m.len(), 2, "{skipped:?}");
        assert!(m.iter().all(|m| !m.origin.ends_with("tmp/3")));
        assert!(read(&d.path().join("missing"), &mut skipped).is_err());
    }
}
