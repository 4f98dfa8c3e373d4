//! The message body as received: in memory up to a threshold, then in an unlinked temporary file,
//! so that memory stays bounded whatever the message size (100 sessions × 25 MB must not need
//! 2.5 GB of RAM).

use std::borrow::Cow;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// File writes are gathered into pieces of this size.
const FLUSH_AT: usize = 256 * 1024;

/// A growing message body. Writes are synchronous: they go to the page cache in large chunks,
/// which costs microseconds, whereas `tokio::fs` would pay a thread hop per write.
#[derive(Debug)]
pub struct Spool {
    mem: Vec<u8>,
    file: Option<File>,
    /// Bytes already in the file.
    file_len: u64,
    /// Bytes for the file not written yet: writes go out in `FLUSH_AT` pieces, not one
    /// system call per line.
    tail: Vec<u8>,
    len: u64,
    threshold: usize,
    dir: PathBuf,
}

impl Spool {
    /// A spool that keeps up to `threshold` bytes in memory and spills the rest to `dir`.
    pub fn new(dir: &Path, threshold: usize) -> Self {
        Spool {
            mem: Vec::new(),
            file: None,
            file_len: 0,
            tail: Vec::new(),
            len: 0,
            threshold,
            dir: dir.to_path_buf(),
        }
    }

    /// A spool holding `bytes` in memory (for `scan` and tests).
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Spool {
            len: bytes.len() as u64,
            mem: bytes,
            file: None,
            file_len: 0,
            tail: Vec::new(),
            threshold: usize::MAX,
            dir: std::env::temp_dir(),
        }
    }

    /// Appends bytes, spilling to disk once the threshold is crossed.
    pub fn write(&mut self, buf: &[u8]) -> io::Result<()> {
        self.len += buf.len() as u64;
        if let Some(file) = &mut self.file {
            self.tail.extend_from_slice(buf);
            if self.tail.len() >= FLUSH_AT {
                file.write_all(&self.tail)?;
                self.file_len += self.tail.len() as u64;
                self.tail.clear();
            }
            return Ok(());
        }
        if self.mem.len() + buf.len() <= self.threshold {
            self.mem.extend_from_slice(buf);
            return Ok(());
        }
        let mut file = tempfile::tempfile_in(&self.dir)?;
        file.write_all(&self.mem)?;
        self.file_len = self.mem.len() as u64;
        self.tail = Vec::with_capacity(FLUSH_AT + buf.len());
        self.tail.extend_from_slice(buf);
        self.mem = Vec::new();
        self.file = Some(file);
        Ok(())
    }

    /// Total bytes written.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The whole body when it is in memory.
    pub fn in_memory(&self) -> Option<&[u8]> {
        self.file.is_none().then_some(&self.mem[..])
    }

    /// True once the body has spilled to disk.
    pub fn on_disk(&self) -> bool {
        self.file.is_some()
    }

    /// The whole body: borrowed when in memory, read from disk otherwise.
    ///
    /// Checks that need every byte at once (the MIME walk) call this; keep the result no longer
    /// than the check runs.
    pub fn bytes(&self) -> io::Result<Cow<'_, [u8]>> {
        match &self.file {
            None => Ok(Cow::Borrowed(&self.mem)),
            Some(_) => {
                let mut out = Vec::with_capacity(self.len as usize);
                self.reader()?.read_to_end(&mut out)?;
                Ok(Cow::Owned(out))
            }
        }
    }

    /// A reader over the whole body from the start, for streaming it upstream or to a scanner.
    ///
    /// Each reader keeps its own position and reads with `pread`: checks run concurrently, and
    /// a cloned descriptor would share one file offset, so one reader's seek would make
    /// another stop early (a scanner would then see a truncated message) or a later write
    /// land in the middle.
    pub fn reader(&self) -> io::Result<SpoolReader<'_>> {
        match &self.file {
            None => Ok(SpoolReader::Mem(&self.mem)),
            Some(file) => Ok(SpoolReader::File {
                file,
                file_len: self.file_len,
                tail: &self.tail,
                pos: 0,
            }),
        }
    }

    /// Forgets the content, keeping the settings, for the next transaction.
    pub fn clear(&mut self) {
        self.mem.clear();
        self.file = None;
        self.file_len = 0;
        self.tail = Vec::new();
        self.len = 0;
    }
}

/// Reads a spool from the start; see [`Spool::reader`].
pub enum SpoolReader<'a> {
    Mem(&'a [u8]),
    /// The file's bytes, then the tail not yet written to it.
    File {
        file: &'a File,
        file_len: u64,
        tail: &'a [u8],
        pos: u64,
    },
}

impl Read for SpoolReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            SpoolReader::Mem(m) => m.read(buf),
            SpoolReader::File {
                file,
                file_len,
                tail,
                pos,
            } => {
                let n = if *pos < *file_len {
                    let want = buf.len().min((*file_len - *pos) as usize);
                    file.read_at(&mut buf[..want], *pos)?
                } else {
                    let from = (*pos - *file_len) as usize;
                    let src = tail.get(from..).unwrap_or_default();
                    let n = src.len().min(buf.len());
                    buf[..n].copy_from_slice(&src[..n]);
                    n
                };
                *pos += n as u64;
                Ok(n)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffered_file_writes_read_back_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::new(dir.path(), 1000);
        let mut expect = Vec::new();
        for i in 0..20_000u32 {
            let line = format!("line {i}\r\n");
            spool.write(line.as_bytes()).unwrap();
            expect.extend_from_slice(line.as_bytes());
        }
        assert!(spool.on_disk());
        assert_eq!(spool.len(), expect.len() as u64);
        assert_eq!(&*spool.bytes().unwrap(), &expect[..]);
        let mut small = Vec::new();
        let mut r = spool.reader().unwrap();
        let mut buf = [0u8; 777];
        loop {
            let n = r.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            small.extend_from_slice(&buf[..n]);
        }
        assert_eq!(small, expect);
    }

    #[test]
    fn spills_to_disk_past_threshold_and_reads_back_whole() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::new(dir.path(), 10);
        spool.write(b"hello ").unwrap();
        assert!(!spool.on_disk());
        spool.write(b"world, long enough").unwrap();
        assert!(spool.on_disk());
        assert_eq!(&*spool.bytes().unwrap(), b"hello world, long enough");
        let mut s = String::new();
        spool.reader().unwrap().read_to_string(&mut s).unwrap();
        assert_eq!(s, "hello world, long enough");
        spool.clear();
        assert!(spool.is_empty() && !spool.on_disk());
    }

    #[test]
    fn readers_and_writes_do_not_share_a_file_offset() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::new(dir.path(), 4);
        spool.write(b"0123456789").unwrap();
        let _ = spool.bytes().unwrap();
        spool.write(b"ab").unwrap();
        assert_eq!(&*spool.bytes().unwrap(), b"0123456789ab");
        let mut r1 = spool.reader().unwrap();
        let mut head = [0u8; 5];
        r1.read_exact(&mut head).unwrap();
        let mut r2 = spool.reader().unwrap();
        let mut all = Vec::new();
        r2.read_to_end(&mut all).unwrap();
        let _ = spool.bytes().unwrap();
        let mut rest = Vec::new();
        r1.read_to_end(&mut rest).unwrap();
        assert_eq!(rest, b"56789ab");
        assert_eq!(all, b"0123456789ab");
    }
}
