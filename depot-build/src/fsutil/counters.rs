//! Progress counters of a transfer, readable while it runs.

use std::sync::atomic::{AtomicU64, Ordering};

/// Live counters of one transfer, updated by [`send`](super::send) or
/// [`receive`](super::receive) and readable from another task through an `Arc`.
///
/// For a sender: entries are the STATs sent, files the files whose data was read and sent,
/// bytes the file data sent. For a receiver: entries are the STATs received, files the files
/// whose data was received to the end, bytes the file data received.
#[derive(Debug, Default)]
pub struct TransferCounters {
    entries: AtomicU64,
    files: AtomicU64,
    bytes: AtomicU64,
}

/// A consistent-enough copy of [`TransferCounters`] at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TransferStats {
    /// STAT packets (directory entries) sent or received, the end-of-listing marker excluded.
    pub entries: u64,
    /// Regular files whose data was sent or received to the end.
    pub files: u64,
    /// Bytes of file data sent or received.
    pub bytes: u64,
}

impl TransferCounters {
    /// The current values.
    pub fn snapshot(&self) -> TransferStats {
        TransferStats {
            entries: self.entries.load(Ordering::Relaxed),
            files: self.files.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
        }
    }

    /// Counts one STAT.
    pub(crate) fn add_entry(&self) {
        self.entries.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one file whose data is complete.
    pub(crate) fn add_file(&self) {
        self.files.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts `n` bytes of file data.
    pub(crate) fn add_bytes(&self, n: usize) {
        self.bytes.fetch_add(n as u64, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts() {
        let counters = TransferCounters::default();
        assert_eq!(counters.snapshot(), TransferStats::default());
        counters.add_entry();
        counters.add_entry();
        counters.add_file();
        counters.add_bytes(10);
        counters.add_bytes(5);
        assert_eq!(
            counters.snapshot(),
            TransferStats {
                entries: 2,
                files: 1,
                bytes: 15
            }
        );
    }
}
