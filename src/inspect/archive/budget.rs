//! The shared budget and the capped, ratio- and deadline-checked read every reader goes through.

use std::cell::Cell;
use std::io::{self, Read, Seek, SeekFrom};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::time::{Duration, Instant};

use super::Problem;

/// Limits shared across a whole message's recursive walk, so a zip of zips cannot multiply them.
#[derive(Debug, Clone)]
pub struct Budget {
    /// Members (files and directories) that may still be listed.
    pub members_left: usize,
    /// Decompressed bytes that may still be produced.
    pub bytes_left: u64,
    /// Largest output/input ratio tolerated for one stream once it passes [`RATIO_FLOOR`].
    pub max_ratio: u64,
    /// No reader works past this instant.
    pub deadline: Instant,
}

impl Budget {
    /// A budget with the given limits and a deadline `time` from now.
    pub fn new(members: usize, bytes: u64, max_ratio: u64, time: Duration) -> Self {
        Budget {
            members_left: members,
            bytes_left: bytes,
            max_ratio,
            deadline: Instant::now() + time,
        }
    }

    /// True once the deadline has passed.
    pub fn expired(&self) -> bool {
        Instant::now() >= self.deadline
    }

    /// Takes one member slot, or says the member limit is reached.
    pub(crate) fn take_member(&mut self) -> Result<(), Problem> {
        if self.expired() {
            return Err(Problem::Deadline);
        }
        match self.members_left.checked_sub(1) {
            Some(left) => {
                self.members_left = left;
                Ok(())
            }
            None => Err(Problem::TooManyMembers),
        }
    }
}

/// Output below this size is never judged by ratio: small text files compress 100:1 honestly.
pub const RATIO_FLOOR: u64 = 1 << 20;
/// How much one read pulls at a time.
const CHUNK: usize = 64 * 1024;
/// The deadline is checked every time this much more output was produced.
const DEADLINE_EVERY: u64 = 4 << 20;

/// Why a capped read stopped early.
#[derive(Debug)]
pub(crate) enum Stop {
    /// A budget limit was reached; the data read so far is dropped.
    Limit(Problem),
    /// The decoder failed (corrupt data, bad CRC, wrong password…).
    Failed(io::Error),
}

/// Reads `reader` to its end into memory, within the budget.
///
/// Reads at most `bytes_left + 1` bytes (the extra byte detects overflow), checks the ratio of
/// output to `consumed()` (compressed input so far) once the output passes [`RATIO_FLOOR`], and
/// the deadline every few MB. Produced bytes are charged to the budget even when the read fails,
/// because the work was done.
pub(crate) fn read_capped<R: Read + ?Sized>(
    reader: &mut R,
    budget: &mut Budget,
    size_hint: u64,
    consumed: &dyn Fn() -> u64,
) -> Result<Vec<u8>, Stop> {
    let cap = budget.bytes_left;
    // Trust the declared size only for the first allocation, and never past the cap.
    let first = size_hint.min(cap).min(16 << 20);
    let mut out: Vec<u8> = Vec::with_capacity(usize::try_from(first).unwrap_or(0));
    let mut buf = vec![0u8; CHUNK];
    let mut next_deadline_check = DEADLINE_EVERY;
    let result = loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => break Err(Stop::Failed(e)),
        };
        let produced = out.len() as u64 + n as u64;
        if produced > cap {
            break Err(Stop::Limit(Problem::TooLarge));
        }
        if produced > RATIO_FLOOR && produced > budget.max_ratio.saturating_mul(consumed()) {
            break Err(Stop::Limit(Problem::Ratio));
        }
        if produced >= next_deadline_check {
            next_deadline_check = produced.saturating_add(DEADLINE_EVERY);
            if budget.expired() {
                break Err(Stop::Limit(Problem::Deadline));
            }
        }
        // Grow by at most doubling and never past cap + 1, so a lying size cannot overshoot.
        if out.capacity() < out.len() + n {
            let want = (out.len().max(CHUNK)).min(usize::try_from(cap).unwrap_or(usize::MAX));
            out.reserve_exact(want.max(n));
        }
        out.extend_from_slice(buf.get(..n).unwrap_or_default());
    };
    budget.bytes_left = budget.bytes_left.saturating_sub(out.len() as u64);
    match result {
        Ok(()) => {
            out.shrink_to_fit();
            Ok(out)
        }
        Err(stop) => {
            if matches!(stop, Stop::Limit(Problem::TooLarge)) {
                budget.bytes_left = 0;
            }
            Err(stop)
        }
    }
}

/// Runs a crate call that may panic on hostile input, turning a panic into `Malformed`.
pub(crate) fn guarded<T>(what: &str, f: impl FnOnce() -> T) -> Result<T, Problem> {
    catch_unwind(AssertUnwindSafe(f))
        .map_err(|_| Problem::Malformed(format!("{what}: decoder panicked")))
}

/// Counts bytes read through it, shared with whoever holds a clone of the counter.
#[derive(Debug, Clone, Default)]
pub(crate) struct Counter(Rc<Cell<u64>>);

impl Counter {
    /// Bytes read so far.
    pub(crate) fn get(&self) -> u64 {
        self.0.get()
    }
}

/// A reader that counts what its consumer pulled, so the ratio can be checked mid-stream.
#[derive(Debug)]
pub(crate) struct Counting<R> {
    inner: R,
    counter: Counter,
}

impl<R> Counting<R> {
    /// Wraps `inner`; the returned counter sees every byte read.
    pub(crate) fn new(inner: R) -> (Self, Counter) {
        let counter = Counter::default();
        (
            Counting {
                inner,
                counter: counter.clone(),
            },
            counter,
        )
    }
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.counter
            .0
            .set(self.counter.0.get().saturating_add(n as u64));
        Ok(n)
    }
}

impl<R: Seek> Seek for Counting<R> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.inner.seek(pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(bytes: u64, ratio: u64) -> Budget {
        Budget::new(10, bytes, ratio, Duration::from_secs(10))
    }

    #[test]
    fn reads_within_cap() {
        let mut b = budget(10, 100);
        let data = read_capped(&mut &b"hello"[..], &mut b, 5, &|| 5).expect("fits");
        assert_eq!(data, b"hello");
        assert_eq!(b.bytes_left, 5);
    }

    #[test]
    fn overflow_is_too_large() {
        let mut b = budget(4, 100);
        let r = read_capped(&mut &b"hello"[..], &mut b, 0, &|| 5);
        assert!(matches!(r, Err(Stop::Limit(Problem::TooLarge))));
        assert_eq!(b.bytes_left, 0);
    }

    #[test]
    fn ratio_trips_past_floor_only() {
        let zeros = vec![0u8; 3 << 20];
        let mut b = budget(u64::MAX, 100);
        let r = read_capped(&mut &zeros[..], &mut b, 0, &|| 1000);
        assert!(matches!(r, Err(Stop::Limit(Problem::Ratio))));
        let mut b = budget(u64::MAX, 100);
        assert!(read_capped(&mut &zeros[..(1 << 20)], &mut b, 0, &|| 1).is_ok());
    }

    #[test]
    fn expired_deadline_stops_long_reads() {
        let zeros = vec![0u8; 9 << 20];
        let mut b = budget(u64::MAX, u64::MAX);
        b.deadline = Instant::now();
        let r = read_capped(&mut &zeros[..], &mut b, 0, &|| 1);
        assert!(matches!(r, Err(Stop::Limit(Problem::Deadline))));
        assert_eq!(b.take_member(), Err(Problem::Deadline));
    }

    #[test]
    fn member_slots_run_out() {
        let mut b = budget(0, 0);
        b.members_left = 1;
        assert_eq!(b.take_member(), Ok(()));
        assert_eq!(b.take_member(), Err(Problem::TooManyMembers));
    }
}
