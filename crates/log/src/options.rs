//! Sizes and limits of the log. Every one is bounded so that neither a bad configuration nor a
//! corrupt length field on disk can make the process allocate without limit.

use crate::LogError;
use crate::record::{MAX_COMMITTED_BYTES, RECORD_HEADER_BYTES, SEGMENT_HEADER_BYTES};

/// The largest segment file this crate writes or reads; a segment is read into memory whole
/// during recovery, so this bounds that allocation.
pub const MAX_SEGMENT_BYTES: u64 = 1 << 30;

/// The largest snapshot payload this crate writes or reads. Reading also never allocates more
/// than the file really holds, so a corrupt length field cannot cause a huge allocation.
pub const MAX_SNAPSHOT_BYTES: u64 = 64 << 30;

/// Sizes and limits of a [`crate::Wal`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogOptions {
    /// Size of each segment file, preallocated when the segment is created. A record that does
    /// not fit in the rest of the current segment starts a new one.
    pub segment_bytes: u64,
    /// Largest payload of one record, checked on append and on read.
    pub max_record_bytes: usize,
}

impl Default for LogOptions {
    fn default() -> Self {
        LogOptions {
            segment_bytes: 64 << 20,
            // Well above ZooKeeper's default jute.maxbuffer (1 MiB) plus the entry's own fields.
            max_record_bytes: 8 << 20,
        }
    }
}

impl LogOptions {
    /// Checks that the limits fit together: a largest entry must fit in a fresh segment, and
    /// its length must fit the record's 32-bit length field.
    ///
    /// A fresh segment may begin with two records before its first entry: a truncation of the
    /// previous segment's tail and a copy of the newest committed record. Both must leave room
    /// for a largest entry, or the entry would need a new segment with the same first index,
    /// that is, the same file name; and after the entry, room for the truncation record that
    /// appends keep free.
    pub(crate) fn validate(&self) -> Result<(), LogError> {
        if self.max_record_bytes > u32::MAX as usize {
            return Err(LogError::InvalidOptions(format!(
                "max_record_bytes {} exceeds the record format's limit of {}",
                self.max_record_bytes,
                u32::MAX
            )));
        }
        let needed = (SEGMENT_HEADER_BYTES + 4 * RECORD_HEADER_BYTES + MAX_COMMITTED_BYTES) as u64
            + self.max_record_bytes as u64;
        if self.segment_bytes < needed {
            return Err(LogError::InvalidOptions(format!(
                "segment_bytes {} cannot hold a record of max_record_bytes {} (needs at least {needed})",
                self.segment_bytes, self.max_record_bytes
            )));
        }
        if self.segment_bytes > MAX_SEGMENT_BYTES {
            return Err(LogError::InvalidOptions(format!(
                "segment_bytes {} is over the limit of {MAX_SEGMENT_BYTES}",
                self.segment_bytes
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid() {
        LogOptions::default().validate().unwrap();
    }

    #[test]
    fn record_must_fit_in_a_segment() {
        let opts = LogOptions {
            segment_bytes: 1024,
            max_record_bytes: 1024,
        };
        assert!(matches!(
            opts.validate(),
            Err(LogError::InvalidOptions(m)) if m.contains("cannot hold")
        ));
    }

    #[test]
    fn segment_size_is_capped() {
        let opts = LogOptions {
            segment_bytes: MAX_SEGMENT_BYTES + 1,
            ..LogOptions::default()
        };
        assert!(opts.validate().is_err());
    }
}
