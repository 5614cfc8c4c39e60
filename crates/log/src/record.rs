//! The on-disk byte layout of segment headers and records. Pure functions over byte slices.
//!
//! A segment file is a 24-byte header followed by records, then zeros up to its preallocated size:
//!
//! ```text
//! header:    magic "WKLOGSEG" (8) | version u32 | crc32c u32 of magic+version+first | first index u64
//! record v2: payload length u32 | crc32c u32 of index+kind+payload | index u64 | kind u32 | payload
//! record v1: payload length u32 | crc32c u32 of index+payload      | index u64 | payload
//! ```
//!
//! All integers are little-endian. This build writes version 2 and reads both; every record of
//! a version-1 segment is an entry. The kinds of version 2:
//!
//! - `1` **Entry**: log entry `index`; the payload is the caller's.
//! - `2` **Truncate**: every entry above `index` is removed; the next entry is `index + 1`. The
//!   payload is empty.
//! - `3` **Committed**: the caller's committed log position, `index` and an opaque payload of
//!   at most [`MAX_COMMITTED_BYTES`]; it does not change the sequence of entries.
//!
//! The kind is covered by the checksum, so a flipped kind is caught like a flipped payload. A
//! kind is never 0 and a version-1 index never 0, so a record header is never all zeros and
//! zeros where a record should start mark the end of the records. A record whose checksum
//! matches but whose kind is unknown, or whose payload its kind forbids, is never a torn write
//! (a torn write does not produce a matching checksum), so it is reported as corruption.

/// Bytes in a segment file's header.
pub(crate) const SEGMENT_HEADER_BYTES: usize = 24;
/// Bytes in a record's header (length, checksum, index, kind) in the version this build writes.
pub(crate) const RECORD_HEADER_BYTES: usize = 20;
/// Bytes in a version-1 record's header (length, checksum, index).
const V1_RECORD_HEADER_BYTES: usize = 16;

/// The largest payload of a Committed record. It holds a Raft log id, tens of bytes; the bound
/// lets every segment keep room for one (see `LogOptions::validate`).
pub const MAX_COMMITTED_BYTES: usize = 512;

const SEGMENT_MAGIC: [u8; 8] = *b"WKLOGSEG";
const SEGMENT_VERSION: u32 = 2;

/// The record layout of one segment, from its header's version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// Version 1: no kind field, every record is an entry.
    V1,
    /// Version 2: a kind after the index.
    V2,
}

impl Format {
    pub(crate) fn record_header_bytes(self) -> usize {
        match self {
            Format::V1 => V1_RECORD_HEADER_BYTES,
            Format::V2 => RECORD_HEADER_BYTES,
        }
    }
}

/// What a record means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Entry,
    Truncate,
    Committed,
}

impl Kind {
    fn code(self) -> u32 {
        match self {
            Kind::Entry => 1,
            Kind::Truncate => 2,
            Kind::Committed => 3,
        }
    }

    fn from_code(code: u32) -> Option<Kind> {
        match code {
            1 => Some(Kind::Entry),
            2 => Some(Kind::Truncate),
            3 => Some(Kind::Committed),
            _ => None,
        }
    }

    /// The largest payload a record of this kind may have.
    fn max_payload(self, max_record_bytes: usize) -> usize {
        match self {
            Kind::Entry => max_record_bytes,
            Kind::Truncate => 0,
            Kind::Committed => MAX_COMMITTED_BYTES,
        }
    }
}

/// The checksum stored in a version-2 record: CRC32C of the index's and the kind's
/// little-endian bytes, then the payload.
fn record_crc(index: u64, kind: u32, payload: &[u8]) -> u32 {
    let crc = crc32c::crc32c_append(crc32c::crc32c(&index.to_le_bytes()), &kind.to_le_bytes());
    crc32c::crc32c_append(crc, payload)
}

/// The checksum stored in a version-1 record: CRC32C of the index's bytes, then the payload.
fn record_crc_v1(index: u64, payload: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(&index.to_le_bytes()), payload)
}

/// Appends one encoded version-2 record to `buf`. The caller has checked the payload's size.
pub(crate) fn encode_record(buf: &mut Vec<u8>, kind: Kind, index: u64, payload: &[u8]) {
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    buf.reserve(RECORD_HEADER_BYTES + payload.len());
    buf.extend_from_slice(&len.to_le_bytes());
    buf.extend_from_slice(&record_crc(index, kind.code(), payload).to_le_bytes());
    buf.extend_from_slice(&index.to_le_bytes());
    buf.extend_from_slice(&kind.code().to_le_bytes());
    buf.extend_from_slice(payload);
}

/// Appends one version-1 record, as builds before version 2 wrote them; tests make old
/// segments with it.
#[cfg(test)]
pub(crate) fn encode_record_v1(buf: &mut Vec<u8>, index: u64, payload: &[u8]) {
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    buf.extend_from_slice(&len.to_le_bytes());
    buf.extend_from_slice(&record_crc_v1(index, payload).to_le_bytes());
    buf.extend_from_slice(&index.to_le_bytes());
    buf.extend_from_slice(payload);
}

/// What lies at one position of a segment.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Parsed {
    /// Zeros where a record header would be: the records ended.
    End,
    /// A record whose checksum matches.
    Record {
        kind: Kind,
        index: u64,
        payload_start: usize,
        payload_len: usize,
    },
    /// A record whose checksum matches but that this build cannot accept (unknown kind, or a
    /// payload its kind does not allow). Never a torn write.
    Invalid(String),
    /// Something that is neither; the string says why.
    Bad(String),
}

fn u32_at(buf: &[u8], at: usize) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&buf[at..at + 4]);
    u32::from_le_bytes(b)
}

fn u64_at(buf: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&buf[at..at + 8]);
    u64::from_le_bytes(b)
}

/// Parses the record that starts at `pos`. Never allocates, so a corrupt length costs nothing.
pub(crate) fn parse_record(
    buf: &[u8],
    pos: usize,
    format: Format,
    max_record_bytes: usize,
) -> Parsed {
    let header_bytes = format.record_header_bytes();
    let rest = buf.get(pos..).unwrap_or(&[]);
    if rest.len() < header_bytes {
        return if rest.iter().all(|&b| b == 0) {
            Parsed::End
        } else {
            Parsed::Bad(format!(
                "record header cut short: only {} bytes before the end of the file",
                rest.len()
            ))
        };
    }
    let header = &rest[..header_bytes];
    if header.iter().all(|&b| b == 0) {
        return Parsed::End;
    }
    let len = u32_at(header, 0) as usize;
    let crc = u32_at(header, 4);
    let index = u64_at(header, 8);
    let code = match format {
        Format::V1 => Kind::Entry.code(),
        Format::V2 => u32_at(header, 16),
    };
    // Nothing is checked yet, so the payload is bounded by the largest any kind may have.
    let limit = match format {
        Format::V1 => max_record_bytes,
        Format::V2 => max_record_bytes.max(MAX_COMMITTED_BYTES),
    };
    if len > limit {
        return Parsed::Bad(format!(
            "record length {len} is over the {limit}-byte limit (if max_record_bytes was \
             lowered since the log was written, raise it again)"
        ));
    }
    let payload_start = pos + header_bytes;
    let Some(payload) = buf.get(payload_start..payload_start + len) else {
        return Parsed::Bad(format!(
            "record of {len} bytes runs past the end of the file"
        ));
    };
    let actual = match format {
        Format::V1 => record_crc_v1(index, payload),
        Format::V2 => record_crc(index, code, payload),
    };
    if actual != crc {
        return Parsed::Bad(format!(
            "checksum mismatch (stored {crc:#010x}, computed {actual:#010x})"
        ));
    }
    let Some(kind) = Kind::from_code(code) else {
        return Parsed::Invalid(format!(
            "record of unknown kind {code} (written by a newer build, or damaged)"
        ));
    };
    let max = kind.max_payload(max_record_bytes);
    if len > max {
        return Parsed::Invalid(match kind {
            Kind::Entry => format!(
                "entry {index} is {len} bytes, over max_record_bytes {max} (if it was lowered \
                 since the log was written, raise it again)"
            ),
            Kind::Truncate => format!("truncation record carries {len} payload bytes; it has none"),
            Kind::Committed => {
                format!("committed record is {len} bytes, over the {max}-byte limit")
            }
        });
    }
    Parsed::Record {
        kind,
        index,
        payload_start,
        payload_len: len,
    }
}

/// The header of a segment whose first record has index `first`, in the version this build
/// writes.
pub(crate) fn encode_segment_header(first: u64) -> [u8; SEGMENT_HEADER_BYTES] {
    encode_segment_header_version(first, SEGMENT_VERSION)
}

/// A version-1 segment header, as builds before version 2 wrote them.
#[cfg(test)]
pub(crate) fn encode_segment_header_v1(first: u64) -> [u8; SEGMENT_HEADER_BYTES] {
    encode_segment_header_version(first, 1)
}

fn encode_segment_header_version(first: u64, version: u32) -> [u8; SEGMENT_HEADER_BYTES] {
    let mut h = [0u8; SEGMENT_HEADER_BYTES];
    h[0..8].copy_from_slice(&SEGMENT_MAGIC);
    h[8..12].copy_from_slice(&version.to_le_bytes());
    h[16..24].copy_from_slice(&first.to_le_bytes());
    let crc = segment_header_crc(&h);
    h[12..16].copy_from_slice(&crc.to_le_bytes());
    h
}

fn segment_header_crc(h: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(&h[0..12]), &h[16..24])
}

/// Checks a segment header and returns the first index it declares and its record layout.
pub(crate) fn decode_segment_header(buf: &[u8]) -> Result<(u64, Format), String> {
    let Some(h) = buf.get(..SEGMENT_HEADER_BYTES) else {
        return Err(format!(
            "file is {} bytes, shorter than the {SEGMENT_HEADER_BYTES}-byte segment header",
            buf.len()
        ));
    };
    if h[0..8] != SEGMENT_MAGIC {
        return Err("not a Watchkeeper log segment (bad magic bytes)".to_string());
    }
    let stored = u32_at(h, 12);
    if stored != segment_header_crc(h) {
        return Err("segment header checksum mismatch".to_string());
    }
    // The version is read only once the checksum vouches for it, so a flipped bit is reported
    // as damage rather than as a format this build does not know.
    let format = match u32_at(h, 8) {
        1 => Format::V1,
        2 => Format::V2,
        version => {
            return Err(format!(
                "segment format version {version} is not supported (this build reads versions \
                 1 and {SEGMENT_VERSION})"
            ));
        }
    };
    let first = u64_at(h, 16);
    if first == 0 {
        return Err("segment header declares first index 0; indexes start at 1".to_string());
    }
    Ok((first, format))
}

/// Whether a checksummed record starts at `pos`, and if so its kind and index. Used to tell
/// damage followed by good data (corruption) from a torn final write. `highest` bounds the
/// index of any entry or truncation that can follow (a torn stretch holds only a few records).
pub(crate) fn valid_record_at(
    buf: &[u8],
    pos: usize,
    format: Format,
    lowest_entry: u64,
    highest: u64,
    max_record_bytes: usize,
) -> Option<(Kind, u64)> {
    let header = buf.get(pos..pos + format.record_header_bytes())?;
    // These checks come first and are cheap: this runs at every byte offset of a damaged
    // region, and most offsets fail them without a checksum being computed.
    let index = u64_at(header, 8);
    let plausible = match format {
        // No truncation in version 1, so a following entry lies in a narrow window.
        Format::V1 => (lowest_entry..=highest).contains(&index),
        Format::V2 => match Kind::from_code(u32_at(header, 16)) {
            None => false,
            Some(Kind::Entry | Kind::Truncate) => index <= highest,
            // Any index, but the payload is small, so the checksum below is cheap.
            Some(Kind::Committed) => true,
        },
    };
    if !plausible {
        return None;
    }
    match parse_record(buf, pos, format, max_record_bytes) {
        Parsed::Record { kind, index, .. } => Some((kind, index)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn entry(index: u64, payload: &[u8]) -> Vec<u8> {
        let mut buf = Vec::new();
        encode_record(&mut buf, Kind::Entry, index, payload);
        buf
    }

    #[test]
    fn zeros_are_the_end() {
        for format in [Format::V1, Format::V2] {
            assert_eq!(parse_record(&[0u8; 40], 0, format, 100), Parsed::End);
            assert_eq!(parse_record(&[0u8; 5], 0, format, 100), Parsed::End);
            assert_eq!(parse_record(&[], 0, format, 100), Parsed::End);
        }
    }

    #[test]
    fn no_record_header_is_all_zeros_not_even_a_truncation_to_zero() {
        let mut buf = Vec::new();
        encode_record(&mut buf, Kind::Truncate, 0, b"");
        encode_record(&mut buf, Kind::Committed, 0, b"");
        assert!(!buf[..RECORD_HEADER_BYTES].iter().all(|&b| b == 0));
        assert!(!buf[RECORD_HEADER_BYTES..].iter().all(|&b| b == 0));
        let parsed = parse_record(&buf, 0, Format::V2, 100);
        assert!(matches!(
            parsed,
            Parsed::Record {
                kind: Kind::Truncate,
                index: 0,
                payload_len: 0,
                ..
            }
        ));
    }

    #[test]
    fn oversized_length_is_bad_without_allocating() {
        let mut buf = entry(1, b"abc");
        buf[0..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(
            matches!(parse_record(&buf, 0, Format::V2, 1 << 20), Parsed::Bad(m) if m.contains("limit"))
        );
    }

    #[test]
    fn record_past_end_is_bad() {
        let mut buf = entry(1, b"abcdef");
        buf.truncate(buf.len() - 1);
        assert!(
            matches!(parse_record(&buf, 0, Format::V2, 100), Parsed::Bad(m) if m.contains("past the end"))
        );
    }

    /// Rewrites a record's kind field and checksum, as a newer or buggy writer might.
    fn with_kind(mut buf: Vec<u8>, code: u32) -> Vec<u8> {
        buf[16..20].copy_from_slice(&code.to_le_bytes());
        let index = u64_at(&buf, 8);
        let crc = record_crc(index, code, &buf[RECORD_HEADER_BYTES..]);
        buf[4..8].copy_from_slice(&crc.to_le_bytes());
        buf
    }

    #[test]
    fn a_checksummed_record_of_unknown_kind_is_invalid_not_torn() {
        for code in [0, 4, u32::MAX] {
            let buf = with_kind(entry(7, b"payload"), code);
            assert!(
                matches!(parse_record(&buf, 0, Format::V2, 100), Parsed::Invalid(m) if m.contains("unknown kind")),
                "kind {code}"
            );
        }
    }

    #[test]
    fn a_truncation_with_a_payload_and_an_oversized_committed_record_are_invalid() {
        let buf = with_kind(entry(7, b"x"), Kind::Truncate.code());
        assert!(
            matches!(parse_record(&buf, 0, Format::V2, 100), Parsed::Invalid(m) if m.contains("has none"))
        );
        let buf = with_kind(
            entry(7, &[1u8; MAX_COMMITTED_BYTES + 1]),
            Kind::Committed.code(),
        );
        assert!(
            matches!(parse_record(&buf, 0, Format::V2, 1 << 20), Parsed::Invalid(m) if m.contains("committed"))
        );
        // A committed record may be larger than max_record_bytes, up to its own limit.
        let mut buf = Vec::new();
        encode_record(&mut buf, Kind::Committed, 3, &[2u8; MAX_COMMITTED_BYTES]);
        assert!(matches!(
            parse_record(&buf, 0, Format::V2, 10),
            Parsed::Record {
                kind: Kind::Committed,
                ..
            }
        ));
    }

    #[test]
    fn version_one_records_parse_as_entries_and_not_as_version_two() {
        let mut buf = Vec::new();
        encode_record_v1(&mut buf, 9, b"old entry");
        buf.extend_from_slice(&[0u8; 20]);
        assert_eq!(
            parse_record(&buf, 0, Format::V1, 100),
            Parsed::Record {
                kind: Kind::Entry,
                index: 9,
                payload_start: 16,
                payload_len: 9
            }
        );
        assert!(matches!(
            parse_record(&buf, 0, Format::V2, 100),
            Parsed::Bad(_)
        ));
    }

    #[test]
    fn segment_header_round_trips_and_detects_damage() {
        let h = encode_segment_header(42);
        assert_eq!(decode_segment_header(&h), Ok((42, Format::V2)));
        assert_eq!(
            decode_segment_header(&encode_segment_header_v1(42)),
            Ok((42, Format::V1))
        );
        for i in 0..SEGMENT_HEADER_BYTES {
            let mut bad = h;
            bad[i] ^= 0x10;
            assert!(
                decode_segment_header(&bad).is_err(),
                "flip at {i} undetected"
            );
        }
        assert!(decode_segment_header(&h[..10]).is_err());
        assert!(decode_segment_header(&encode_segment_header(0)).is_err());
        let future = encode_segment_header_version(42, 3);
        assert!(
            matches!(decode_segment_header(&future), Err(m) if m.contains("version 3 is not supported"))
        );
    }

    fn kind() -> impl Strategy<Value = Kind> {
        prop_oneof![
            Just(Kind::Entry),
            Just(Kind::Truncate),
            Just(Kind::Committed)
        ]
    }

    proptest! {
        #[test]
        fn records_round_trip(
            recs in proptest::collection::vec(
                (kind(), 0u64..u64::MAX, proptest::collection::vec(any::<u8>(), 0..300)),
                1..20,
            )
        ) {
            let mut buf = Vec::new();
            let recs: Vec<_> = recs
                .into_iter()
                .map(|(k, i, p)| (k, i, if k == Kind::Truncate { vec![] } else { p }))
                .collect();
            for (k, i, p) in &recs {
                encode_record(&mut buf, *k, *i, p);
            }
            buf.extend_from_slice(&[0u8; RECORD_HEADER_BYTES]);
            let mut pos = 0;
            for (k, i, p) in &recs {
                match parse_record(&buf, pos, Format::V2, 300) {
                    Parsed::Record { kind, index, payload_start, payload_len } => {
                        prop_assert_eq!((kind, index), (*k, *i));
                        prop_assert_eq!(&buf[payload_start..payload_start + payload_len], &p[..]);
                        pos = payload_start + payload_len;
                    }
                    other => prop_assert!(false, "unexpected {:?}", other),
                }
            }
            prop_assert_eq!(parse_record(&buf, pos, Format::V2, 300), Parsed::End);
        }

        #[test]
        fn any_single_bit_flip_is_detected(
            k in kind(),
            payload in proptest::collection::vec(any::<u8>(), 0..64),
            index in 1u64..1_000_000,
            bit in 0usize..(8 * 84),
        ) {
            let payload = if k == Kind::Truncate { vec![] } else { payload };
            let mut buf = Vec::new();
            encode_record(&mut buf, k, index, &payload);
            let bit = bit % (8 * buf.len());
            buf[bit / 8] ^= 1 << (bit % 8);
            match parse_record(&buf, 0, Format::V2, 64) {
                Parsed::Record { kind, index: i, payload_start, payload_len } => {
                    // Only a flip that leaves a self-consistent record could pass; CRC32C
                    // detects every single-bit error, so the record must be unchanged.
                    prop_assert!(kind == k && i == index && buf[payload_start..payload_start + payload_len] == payload[..],
                        "corrupted record accepted");
                }
                Parsed::Bad(_) | Parsed::End | Parsed::Invalid(_) => {}
            }
        }
    }
}
