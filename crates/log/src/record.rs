//! The on-disk byte layout of segment headers and records. Pure functions over byte slices.
//!
//! A segment file is a 24-byte header followed by records, then zeros up to its preallocated size:
//!
//! ```text
//! header: magic "WKLOGSEG" (8) | version u32 | crc32c u32 of magic+version+first | first index u64
//! record: payload length u32 | crc32c u32 of index+payload | index u64 | payload
//! ```
//!
//! All integers are little-endian. Indexes start at 1, so a record header is never all zeros and
//! sixteen zero bytes where a record should start mark the end of the records.

/// Bytes in a segment file's header.
pub(crate) const SEGMENT_HEADER_BYTES: usize = 24;
/// Bytes in a record's header (length, checksum, index).
pub(crate) const RECORD_HEADER_BYTES: usize = 16;

const SEGMENT_MAGIC: [u8; 8] = *b"WKLOGSEG";
const SEGMENT_VERSION: u32 = 1;

/// The checksum stored in a record: CRC32C of the index's little-endian bytes, then the payload.
pub(crate) fn record_crc(index: u64, payload: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(&index.to_le_bytes()), payload)
}

/// Appends one encoded record to `buf`. The caller has checked that the payload fits in a u32.
pub(crate) fn encode_record(buf: &mut Vec<u8>, index: u64, payload: &[u8]) {
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    buf.reserve(RECORD_HEADER_BYTES + payload.len());
    buf.extend_from_slice(&len.to_le_bytes());
    buf.extend_from_slice(&record_crc(index, payload).to_le_bytes());
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
        index: u64,
        payload_start: usize,
        payload_len: usize,
    },
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
pub(crate) fn parse_record(buf: &[u8], pos: usize, max_record_bytes: usize) -> Parsed {
    let rest = buf.get(pos..).unwrap_or(&[]);
    if rest.len() < RECORD_HEADER_BYTES {
        return if rest.iter().all(|&b| b == 0) {
            Parsed::End
        } else {
            Parsed::Bad(format!(
                "record header cut short: only {} bytes before the end of the file",
                rest.len()
            ))
        };
    }
    let header = &rest[..RECORD_HEADER_BYTES];
    if header.iter().all(|&b| b == 0) {
        return Parsed::End;
    }
    let len = u32_at(header, 0) as usize;
    let crc = u32_at(header, 4);
    let index = u64_at(header, 8);
    if len > max_record_bytes {
        return Parsed::Bad(format!(
            "record length {len} is over the {max_record_bytes}-byte limit (if \
             max_record_bytes was lowered since the log was written, raise it again)"
        ));
    }
    let payload_start = pos + RECORD_HEADER_BYTES;
    let Some(payload) = buf.get(payload_start..payload_start + len) else {
        return Parsed::Bad(format!(
            "record of {len} bytes runs past the end of the file"
        ));
    };
    let actual = record_crc(index, payload);
    if actual != crc {
        return Parsed::Bad(format!(
            "checksum mismatch (stored {crc:#010x}, computed {actual:#010x})"
        ));
    }
    Parsed::Record {
        index,
        payload_start,
        payload_len: len,
    }
}

/// The header of a segment whose first record has index `first`.
pub(crate) fn encode_segment_header(first: u64) -> [u8; SEGMENT_HEADER_BYTES] {
    let mut h = [0u8; SEGMENT_HEADER_BYTES];
    h[0..8].copy_from_slice(&SEGMENT_MAGIC);
    h[8..12].copy_from_slice(&SEGMENT_VERSION.to_le_bytes());
    h[16..24].copy_from_slice(&first.to_le_bytes());
    let crc = segment_header_crc(&h);
    h[12..16].copy_from_slice(&crc.to_le_bytes());
    h
}

fn segment_header_crc(h: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(&h[0..12]), &h[16..24])
}

/// Checks a segment header and returns the first index it declares.
pub(crate) fn decode_segment_header(buf: &[u8]) -> Result<u64, String> {
    let Some(h) = buf.get(..SEGMENT_HEADER_BYTES) else {
        return Err(format!(
            "file is {} bytes, shorter than the {SEGMENT_HEADER_BYTES}-byte segment header",
            buf.len()
        ));
    };
    if h[0..8] != SEGMENT_MAGIC {
        return Err("not a Watchkeeper log segment (bad magic bytes)".to_string());
    }
    let version = u32_at(h, 8);
    if version != SEGMENT_VERSION {
        return Err(format!(
            "segment format version {version} is not supported (this build reads version {SEGMENT_VERSION})"
        ));
    }
    let stored = u32_at(h, 12);
    if stored != segment_header_crc(h) {
        return Err("segment header checksum mismatch".to_string());
    }
    let first = u64_at(h, 16);
    if first == 0 {
        return Err("segment header declares first index 0; indexes start at 1".to_string());
    }
    Ok(first)
}

/// Whether a checksummed record with an index in `indexes` starts at `pos`. Used to tell damage
/// followed by good data (corruption) from a torn final write.
pub(crate) fn valid_record_at(
    buf: &[u8],
    pos: usize,
    indexes: std::ops::RangeInclusive<u64>,
    max_record_bytes: usize,
) -> Option<u64> {
    let header = buf.get(pos..pos + RECORD_HEADER_BYTES)?;
    // The index check is first and cheap: this runs at every byte offset of a damaged region.
    let index = u64_at(header, 8);
    if !indexes.contains(&index) {
        return None;
    }
    match parse_record(buf, pos, max_record_bytes) {
        Parsed::Record { index, .. } => Some(index),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn zeros_are_the_end() {
        assert_eq!(parse_record(&[0u8; 40], 0, 100), Parsed::End);
        assert_eq!(parse_record(&[0u8; 5], 0, 100), Parsed::End);
        assert_eq!(parse_record(&[], 0, 100), Parsed::End);
    }

    #[test]
    fn oversized_length_is_bad_without_allocating() {
        let mut buf = Vec::new();
        encode_record(&mut buf, 1, b"abc");
        buf[0..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(parse_record(&buf, 0, 1 << 20), Parsed::Bad(m) if m.contains("limit")));
    }

    #[test]
    fn record_past_end_is_bad() {
        let mut buf = Vec::new();
        encode_record(&mut buf, 1, b"abcdef");
        buf.truncate(buf.len() - 1);
        assert!(matches!(parse_record(&buf, 0, 100), Parsed::Bad(m) if m.contains("past the end")));
    }

    #[test]
    fn segment_header_round_trips_and_detects_damage() {
        let h = encode_segment_header(42);
        assert_eq!(decode_segment_header(&h), Ok(42));
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
    }

    proptest! {
        #[test]
        fn records_round_trip(
            recs in proptest::collection::vec((1u64..u64::MAX, proptest::collection::vec(any::<u8>(), 0..300)), 1..20)
        ) {
            let mut buf = Vec::new();
            for (i, p) in &recs {
                encode_record(&mut buf, *i, p);
            }
            buf.extend_from_slice(&[0u8; 16]);
            let mut pos = 0;
            for (i, p) in &recs {
                match parse_record(&buf, pos, 300) {
                    Parsed::Record { index, payload_start, payload_len } => {
                        prop_assert_eq!(index, *i);
                        prop_assert_eq!(&buf[payload_start..payload_start + payload_len], &p[..]);
                        pos = payload_start + payload_len;
                    }
                    other => prop_assert!(false, "unexpected {:?}", other),
                }
            }
            prop_assert_eq!(parse_record(&buf, pos, 300), Parsed::End);
        }

        #[test]
        fn any_single_bit_flip_is_detected(
            payload in proptest::collection::vec(any::<u8>(), 0..64),
            index in 1u64..1_000_000,
            bit in 0usize..(8 * 80),
        ) {
            let mut buf = Vec::new();
            encode_record(&mut buf, index, &payload);
            let bit = bit % (8 * buf.len());
            buf[bit / 8] ^= 1 << (bit % 8);
            match parse_record(&buf, 0, 64) {
                Parsed::Record { index: i, payload_start, payload_len } => {
                    // Only a flip that leaves a self-consistent record could pass; CRC32C
                    // detects every single-bit error, so the record must be unchanged.
                    prop_assert!(i == index && buf[payload_start..payload_start + payload_len] == payload[..],
                        "corrupted record accepted");
                }
                Parsed::Bad(_) | Parsed::End => {}
            }
        }
    }
}
