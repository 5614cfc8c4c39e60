//! Reading one segment's bytes back: which records it holds, where appending may resume, and
//! whether damage at its end is a torn write (safe to cut off) or corruption (must be refused).
//!
//! Within a segment whose first index is `F`, the records replay as one sequence starting at
//! `F - 1`: an entry must be exactly one past the current last; a truncation to `i` needs
//! `F - 1 <= i <= last` and makes `i` the last (it never reaches into an earlier segment except
//! as the segment's very first record, `F - 1`, which the recovery of the whole log checks
//! against the previous segment); a committed record leaves the sequence alone. Anything else
//! with a good checksum is corruption, never a torn write.
//!
//! A torn write leaves, after the last good record, one partly written or garbled stretch and
//! then zeros. Only the last segment can have one: a segment is written out and fdatasynced
//! before the next is created. The stretch counts as torn only if it is no longer than one
//! largest record and no checksummed record starts inside it; damage followed by a good record
//! means entries after it were written, and perhaps acknowledged, so it is corruption.

use crate::record::{
    Format, Kind, MAX_COMMITTED_BYTES, Parsed, SEGMENT_HEADER_BYTES, decode_segment_header,
    parse_record, valid_record_at,
};

/// One good record, by position in the scanned buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RecordRef {
    pub kind: Kind,
    pub index: u64,
    pub payload_start: usize,
    pub payload_len: usize,
}

/// A stretch at the end of the last segment that will be zeroed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Torn {
    pub offset: usize,
    pub bytes: usize,
}

/// The outcome of reading a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Scan {
    pub format: Format,
    pub records: Vec<RecordRef>,
    /// The last entry index after replaying this segment's records alone: `first - 1` if it
    /// holds no entry.
    pub last: u64,
    /// Offset just after the last good record: where the next record goes.
    pub end: usize,
    pub torn: Option<Torn>,
}

impl Scan {
    /// Whether the first record truncates to just below the segment's first index: such a
    /// segment removes the tail of the one before it.
    pub(crate) fn leading_truncate(&self, first: u64) -> bool {
        self.records
            .first()
            .is_some_and(|r| r.kind == Kind::Truncate && r.index == first - 1)
    }
}

/// Corruption: where it is and what it looks like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Damage {
    pub offset: usize,
    pub reason: String,
}

/// Reads a whole segment file's bytes. `first` is the index its name declares; `is_last` says
/// whether a torn tail is possible here.
pub(crate) fn scan(
    buf: &[u8],
    first: u64,
    max_record_bytes: usize,
    is_last: bool,
) -> Result<Scan, Damage> {
    let (declared, format) =
        decode_segment_header(buf).map_err(|reason| Damage { offset: 0, reason })?;
    if declared != first {
        return Err(Damage {
            offset: 0,
            reason: format!(
                "the header says the segment starts at entry {declared}, the file name says {first}"
            ),
        });
    }
    let mut records = Vec::new();
    let mut pos = SEGMENT_HEADER_BYTES;
    // decode_segment_header refuses a first index of 0.
    let mut last = first - 1;
    loop {
        let reason = match parse_record(buf, pos, format, max_record_bytes) {
            Parsed::Record {
                kind,
                index,
                payload_start,
                payload_len,
            } => {
                // A checksummed record is never a torn write, wherever it is.
                let out_of_sequence = |reason: String| Damage {
                    offset: pos,
                    reason,
                };
                match kind {
                    Kind::Entry if index != last.saturating_add(1) => {
                        return Err(out_of_sequence(format!(
                            "found entry {index} where entry {} belongs",
                            last.saturating_add(1)
                        )));
                    }
                    Kind::Truncate if index < first - 1 => {
                        return Err(out_of_sequence(format!(
                            "a truncation to entry {index} reaches below this segment's first \
                             entry {first}"
                        )));
                    }
                    Kind::Truncate if index > last => {
                        return Err(out_of_sequence(format!(
                            "a truncation to entry {index} is past the last entry, {last}"
                        )));
                    }
                    Kind::Entry | Kind::Truncate => last = index,
                    Kind::Committed => {}
                }
                records.push(RecordRef {
                    kind,
                    index,
                    payload_start,
                    payload_len,
                });
                pos = payload_start + payload_len;
                continue;
            }
            Parsed::Invalid(reason) => {
                return Err(Damage {
                    offset: pos,
                    reason,
                });
            }
            Parsed::End => {
                if buf[pos.min(buf.len())..].iter().all(|&b| b == 0) {
                    return Ok(Scan {
                        format,
                        records,
                        last,
                        end: pos,
                        torn: None,
                    });
                }
                "a zeroed record header is followed by nonzero bytes".to_string()
            }
            Parsed::Bad(reason) => reason,
        };
        let expected = last.saturating_add(1);
        let torn = classify_damage(
            buf,
            pos,
            format,
            expected,
            max_record_bytes,
            is_last,
            reason,
        )?;
        return Ok(Scan {
            format,
            records,
            last,
            end: pos,
            torn: Some(torn),
        });
    }
}

/// Decides whether the damage at `pos` is a torn tail, returning its extent, or corruption.
fn classify_damage(
    buf: &[u8],
    pos: usize,
    format: Format,
    expected: u64,
    max_record_bytes: usize,
    is_last: bool,
    reason: String,
) -> Result<Torn, Damage> {
    let corrupt = |why: String| Damage {
        offset: pos,
        reason: why,
    };
    if !is_last {
        return Err(corrupt(format!(
            "{reason}, in a segment that is not the last one (a torn write can only be in the last)"
        )));
    }
    // Damage always contains a nonzero byte: zeros parse as the end.
    let last_nonzero = buf.iter().rposition(|&b| b != 0).unwrap_or(pos).max(pos);
    let bytes = last_nonzero + 1 - pos;
    let header_bytes = format.record_header_bytes();
    let largest = match format {
        Format::V1 => max_record_bytes,
        Format::V2 => max_record_bytes.max(MAX_COMMITTED_BYTES),
    };
    let one_record = header_bytes + largest;
    if bytes > one_record {
        return Err(corrupt(format!(
            "{reason}; {bytes} bytes of data follow it, more than one record can hold, so it is \
             not a torn final write"
        )));
    }
    let most_records = (bytes / header_bytes) as u64 + 1;
    let highest = expected.saturating_add(most_records);
    for at in pos + 1..=last_nonzero {
        if let Some((kind, index)) =
            valid_record_at(buf, at, format, expected, highest, max_record_bytes)
        {
            let what = match kind {
                Kind::Entry => format!("entry {index}"),
                Kind::Truncate => format!("a truncation to entry {index}"),
                Kind::Committed => format!("a committed record at entry {index}"),
            };
            return Err(corrupt(format!(
                "{reason}; a good record ({what}) follows at byte offset {at}, so it is not a \
                 torn final write"
            )));
        }
    }
    Ok(Torn { offset: pos, bytes })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{
        RECORD_HEADER_BYTES, encode_record, encode_record_v1, encode_segment_header,
        encode_segment_header_v1,
    };
    use proptest::prelude::*;

    const MAX: usize = 256;

    fn segment(first: u64, payloads: &[Vec<u8>], size: usize) -> (Vec<u8>, Vec<usize>) {
        let mut buf = encode_segment_header(first).to_vec();
        let mut starts = Vec::new();
        for (i, p) in payloads.iter().enumerate() {
            starts.push(buf.len());
            encode_record(&mut buf, Kind::Entry, first + i as u64, p);
        }
        starts.push(buf.len());
        buf.resize(size.max(buf.len()), 0);
        (buf, starts)
    }

    fn payloads(n: usize) -> Vec<Vec<u8>> {
        (0..n)
            .map(|i| vec![(i % 250) as u8 + 1; 10 + i * 7])
            .collect()
    }

    #[test]
    fn clean_segment() {
        let (buf, starts) = segment(5, &payloads(4), 1000);
        let s = scan(&buf, 5, MAX, false).unwrap();
        assert_eq!(s.records.len(), 4);
        assert_eq!(s.records[3].index, 8);
        assert_eq!(s.end, starts[4]);
        assert_eq!(s.torn, None);
    }

    #[test]
    fn empty_segment_and_unpreallocated_file() {
        let (buf, _) = segment(1, &[], 0);
        let s = scan(&buf, 1, MAX, true).unwrap();
        assert_eq!(
            (s.records.len(), s.end, s.last),
            (0, SEGMENT_HEADER_BYTES, 0)
        );
    }

    #[test]
    fn header_name_mismatch_is_corruption() {
        let (buf, _) = segment(5, &payloads(1), 200);
        let err = scan(&buf, 6, MAX, true).unwrap_err();
        assert_eq!(err.offset, 0);
        assert!(err.reason.contains("file name says 6"));
    }

    #[test]
    fn torn_at_every_byte_of_the_last_record() {
        let p = payloads(3);
        let (full, starts) = segment(1, &p, 600);
        let (start, end) = (starts[2], starts[3]);
        for cut in start..=end {
            let mut buf = full.clone();
            buf[cut..end].fill(0);
            let s = scan(&buf, 1, MAX, true).unwrap();
            if cut == end {
                assert_eq!((s.records.len(), s.torn.clone()), (3, None));
            } else if cut == start {
                assert_eq!((s.records.len(), s.torn.clone()), (2, None));
            } else {
                assert_eq!(s.records.len(), 2, "cut at {cut}");
                // The repair reaches the last nonzero byte of what was written.
                let written = buf[start..cut].iter().rposition(|&b| b != 0).unwrap() + 1;
                assert_eq!(
                    s.torn,
                    Some(Torn {
                        offset: start,
                        bytes: written
                    }),
                    "cut at {cut}"
                );
            }
            assert_eq!(s.end, if cut == end { end } else { start });
        }
    }

    #[test]
    fn damage_in_a_middle_record_is_corruption() {
        let (mut buf, starts) = segment(1, &payloads(3), 600);
        buf[starts[1] + 20] ^= 0xff;
        let err = scan(&buf, 1, MAX, true).unwrap_err();
        assert_eq!(err.offset, starts[1]);
        assert!(
            err.reason.contains("good record (entry 3)"),
            "{}",
            err.reason
        );
    }

    #[test]
    fn a_length_grown_to_swallow_the_next_record_is_corruption() {
        let (mut buf, starts) = segment(1, &payloads(3), 600);
        let len = (starts[3] - starts[1]) as u32;
        buf[starts[1]..starts[1] + 4].copy_from_slice(&len.to_le_bytes());
        let err = scan(&buf, 1, MAX, true).unwrap_err();
        assert_eq!(err.offset, starts[1]);
    }

    #[test]
    fn zeroed_header_followed_by_data_is_corruption() {
        let (mut buf, starts) = segment(1, &payloads(3), 600);
        buf[starts[1]..starts[1] + 16].fill(0);
        let err = scan(&buf, 1, MAX, true).unwrap_err();
        assert_eq!(err.offset, starts[1]);
    }

    #[test]
    fn torn_tail_is_corruption_outside_the_last_segment() {
        let (mut buf, starts) = segment(1, &payloads(3), 600);
        buf[starts[3] - 1] ^= 0x01;
        assert!(scan(&buf, 1, MAX, false).is_err());
        let s = scan(&buf, 1, MAX, true).unwrap();
        assert_eq!(s.records.len(), 2);
    }

    #[test]
    fn garbage_longer_than_a_record_is_corruption() {
        let (mut buf, starts) = segment(1, &payloads(1), 2000);
        // A committed record may be larger than an entry when max_record_bytes is small.
        let largest = RECORD_HEADER_BYTES + MAX.max(MAX_COMMITTED_BYTES);
        buf[starts[1]..starts[1] + largest + 1].fill(0xab);
        let err = scan(&buf, 1, MAX, true).unwrap_err();
        assert!(
            err.reason.contains("more than one record"),
            "{}",
            err.reason
        );
        // One byte less is within one record's reach, so it is a torn tail.
        let (mut buf, starts) = segment(1, &payloads(1), 2000);
        buf[starts[1]..starts[1] + largest].fill(0xab);
        assert!(scan(&buf, 1, MAX, true).unwrap().torn.is_some());
    }

    #[test]
    fn garbage_longer_than_a_version_one_record_is_corruption() {
        let mut buf = encode_segment_header_v1(1).to_vec();
        encode_record_v1(&mut buf, 1, b"a");
        let at = buf.len();
        buf.resize(2000, 0);
        buf[at..at + 16 + MAX + 1].fill(0xab);
        let err = scan(&buf, 1, MAX, true).unwrap_err();
        assert!(
            err.reason.contains("more than one record"),
            "{}",
            err.reason
        );
    }

    #[test]
    fn stray_bytes_after_the_end_are_corruption_or_torn() {
        let (mut buf, starts) = segment(1, &payloads(2), 600);
        buf[starts[2] + 100] = 7;
        assert!(scan(&buf, 1, MAX, false).is_err());
        let s = scan(&buf, 1, MAX, true).unwrap();
        assert_eq!(
            s.torn,
            Some(Torn {
                offset: starts[2],
                bytes: 101
            })
        );
    }

    #[test]
    fn out_of_sequence_record_is_corruption() {
        let mut buf = encode_segment_header(1).to_vec();
        encode_record(&mut buf, Kind::Entry, 1, b"a");
        let at = buf.len();
        encode_record(&mut buf, Kind::Entry, 3, b"b");
        buf.resize(300, 0);
        let err = scan(&buf, 1, MAX, true).unwrap_err();
        assert_eq!(err.offset, at);
        assert!(err.reason.contains("entry 3 where entry 2"));
    }

    /// Builds a segment from `(kind, index, payload)` records and pads it with zeros.
    fn records(first: u64, recs: &[(Kind, u64, &[u8])], size: usize) -> (Vec<u8>, Vec<usize>) {
        let mut buf = encode_segment_header(first).to_vec();
        let mut starts = Vec::new();
        for (kind, index, payload) in recs {
            starts.push(buf.len());
            encode_record(&mut buf, *kind, *index, payload);
        }
        starts.push(buf.len());
        buf.resize(size.max(buf.len()), 0);
        (buf, starts)
    }

    use Kind::{Committed, Entry, Truncate};

    #[test]
    fn a_truncation_moves_the_last_entry_back_and_entries_continue_after_it() {
        let (buf, starts) = records(
            10,
            &[
                (Entry, 10, b"a"),
                (Entry, 11, b"b"),
                (Committed, 10, b"c"),
                (Entry, 12, b"d"),
                (Truncate, 10, b""),
                (Entry, 11, b"e"),
            ],
            600,
        );
        let s = scan(&buf, 10, MAX, false).unwrap();
        assert_eq!(s.records.len(), 6);
        assert!(!s.leading_truncate(10));
        assert_eq!((s.last, s.end, s.torn), (11, starts[6], None));
    }

    #[test]
    fn a_forward_gap_after_a_truncation_is_corruption() {
        let (buf, starts) = records(
            1,
            &[
                (Entry, 1, b"a"),
                (Entry, 2, b"b"),
                (Entry, 3, b"c"),
                (Truncate, 1, b""),
                (Entry, 3, b"d"),
            ],
            600,
        );
        let err = scan(&buf, 1, MAX, true).unwrap_err();
        assert_eq!(err.offset, starts[4]);
        assert!(
            err.reason.contains("entry 3 where entry 2"),
            "{}",
            err.reason
        );
    }

    #[test]
    fn a_truncation_past_the_last_entry_or_below_the_segment_is_corruption() {
        let (buf, starts) = records(5, &[(Entry, 5, b"a"), (Truncate, 6, b"")], 600);
        let err = scan(&buf, 5, MAX, true).unwrap_err();
        assert_eq!(err.offset, starts[1]);
        assert!(
            err.reason.contains("past the last entry, 5"),
            "{}",
            err.reason
        );

        let (buf, _) = records(5, &[(Entry, 5, b"a"), (Truncate, 3, b"")], 600);
        let err = scan(&buf, 5, MAX, true).unwrap_err();
        assert!(err.reason.contains("reaches below"), "{}", err.reason);
    }

    #[test]
    fn a_segment_may_start_with_a_truncation_to_just_below_it() {
        let (buf, _) = records(5, &[(Truncate, 4, b""), (Entry, 5, b"a")], 600);
        let s = scan(&buf, 5, MAX, true).unwrap();
        assert!(s.leading_truncate(5));
        assert_eq!(s.last, 5);
    }

    #[test]
    fn a_checksummed_but_invalid_record_is_corruption_even_at_the_end() {
        let (mut buf, starts) = records(1, &[(Entry, 1, b"a"), (Truncate, 1, b"")], 600);
        // Give the truncation a payload byte and a matching checksum.
        let at = starts[1];
        buf[at..at + 4].copy_from_slice(&1u32.to_le_bytes());
        buf[at + RECORD_HEADER_BYTES] = 9;
        let crc = crc32c::crc32c_append(
            crc32c::crc32c_append(crc32c::crc32c(&1u64.to_le_bytes()), &2u32.to_le_bytes()),
            &[9],
        );
        buf[at + 4..at + 8].copy_from_slice(&crc.to_le_bytes());
        let err = scan(&buf, 1, MAX, true).unwrap_err();
        assert_eq!(err.offset, at);
        assert!(err.reason.contains("has none"), "{}", err.reason);
    }

    #[test]
    fn damage_followed_by_a_good_truncation_or_committed_record_is_corruption() {
        for follower in [(Truncate, 1, &b""[..]), (Committed, 99, &b"log id"[..])] {
            let (mut buf, starts) =
                records(1, &[(Entry, 1, b"a"), (Entry, 2, b"bbbb"), follower], 600);
            buf[starts[1] + RECORD_HEADER_BYTES] ^= 0xff;
            let err = scan(&buf, 1, MAX, true).unwrap_err();
            assert_eq!(err.offset, starts[1]);
            assert!(err.reason.contains("a good record"), "{}", err.reason);
        }
    }

    #[test]
    fn a_version_one_segment_scans_as_entries() {
        let mut buf = encode_segment_header_v1(3).to_vec();
        for i in 3..=5u64 {
            encode_record_v1(&mut buf, i, &[i as u8; 9]);
        }
        let end = buf.len();
        buf.resize(400, 0);
        let s = scan(&buf, 3, MAX, true).unwrap();
        assert_eq!((s.format, s.last, s.end), (Format::V1, 5, end));
        assert!(s.records.iter().all(|r| r.kind == Entry));
        // A torn last record is cut off there as well.
        buf[end - 3] ^= 0x55;
        let s = scan(&buf, 3, MAX, true).unwrap();
        assert_eq!((s.last, s.torn.map(|t| t.offset)), (4, Some(end - 16 - 9)));
    }

    proptest! {
        /// Whatever garbage replaces the tail of the last record, followed by zeros, is a torn
        /// tail: the records before it are kept exactly and nothing is invented.
        #[test]
        fn garbled_last_record_keeps_the_prefix(
            n in 1usize..6,
            cut_frac in 0.0f64..1.0,
            garbage in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let p = payloads(n);
            let (mut buf, starts) = segment(1, &p, 1200);
            let (start, end) = (starts[n - 1], starts[n]);
            let cut = start + ((end - start) as f64 * cut_frac) as usize;
            buf[cut..end].fill(0);
            let g = garbage.len().min(end - cut);
            buf[cut..cut + g].copy_from_slice(&garbage[..g]);
            let s = scan(&buf, 1, MAX, true);
            prop_assert!(s.is_ok(), "garbled tail refused: {:?}", s);
            let s = s.unwrap();
            prop_assert!(s.records.len() == n - 1 || s.records.len() == n);
            for (i, r) in s.records.iter().enumerate() {
                prop_assert_eq!(r.index, 1 + i as u64);
                prop_assert_eq!(&buf[r.payload_start..r.payload_start + r.payload_len], &p[i][..]);
            }
        }
    }
}
