//! The decompressed stream of an archive as the tar reader sees it: every byte counted against
//! the limits, gzip errors recorded, and forward skips without zero-filled buffers.

use std::cell::RefCell;
use std::io::{self, Read, Seek, SeekFrom};

use super::Shared;

/// Counts every decompressed byte against the shared total; records gzip errors.
///
/// Also a forward-only [`Seek`] (by reading, so every byte still counts): the tar reader moves to
/// each next header with a seek when its reader can, and otherwise reads the gap through a
/// 32 KiB stack buffer it zero-fills first, even for a gap of no bytes: that zeroing was a
/// quarter of a cold build's instructions on minimal charts (issue 16).
pub(super) struct Counting<'s, 'l, R> {
    pub(super) inner: R,
    shared: &'s Shared<'l>,
    /// Bytes read so far: the stream position the tar reader keeps in step with.
    pos: u64,
}

impl<'s, 'l, R> Counting<'s, 'l, R> {
    pub(super) fn new(inner: R, shared: &'s Shared<'l>) -> Self {
        Counting { inner, shared, pos: 0 }
    }
}

impl<R: Read> Read for Counting<'_, '_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = match self.inner.read(buf) {
            Ok(n) => n,
            Err(e) => {
                *self.shared.gzip_error.borrow_mut() = Some(e.to_string());
                return Err(e);
            }
        };
        self.pos += n as u64;
        let total = self.shared.total.get().saturating_add(n as u64);
        self.shared.total.set(total);
        if total >= self.shared.limits.max_decompressed {
            self.shared.over_total.set(true);
            return Err(io::Error::other("decompressed size limit reached"));
        }
        Ok(n)
    }
}

impl<R: Read> Seek for Counting<'_, '_, R> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let ahead = match to {
            SeekFrom::Current(n) => u64::try_from(n).ok(),
            SeekFrom::Start(n) => n.checked_sub(self.pos),
            SeekFrom::End(_) => None,
        };
        let Some(ahead) = ahead else { return Err(io::Error::other("an archive is read forward only")) };
        let skipped = discard(&mut self.by_ref().take(ahead))?;
        if skipped < ahead {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "unexpected EOF during skip"));
        }
        Ok(self.pos)
    }
}

/// Reads `r` to its end, keeping nothing; how many bytes it gave. Through one buffer per thread:
/// a buffer per call would be zero-filled per entry.
pub(super) fn discard(r: &mut impl Read) -> io::Result<u64> {
    thread_local! {
        static SCRATCH: RefCell<Box<[u8]>> = RefCell::new(vec![0; 8192].into_boxed_slice());
    }
    let mut total = 0;
    let mut read_all = |buf: &mut [u8]| -> io::Result<()> {
        loop {
            match r.read(buf) {
                Ok(0) => return Ok(()),
                Ok(n) => total += n as u64,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    };
    SCRATCH.with(|scratch| match scratch.try_borrow_mut() {
        Ok(mut buf) => read_all(&mut buf),
        // Only a reader that itself discards (none does) would get here.
        Err(_) => read_all(&mut [0; 512]),
    })?;
    Ok(total)
}
