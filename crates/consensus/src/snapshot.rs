//! The snapshot file: Raft's snapshot metadata followed by the server's encoding of its state.
//!
//! ```text
//! magic "WKRAFTSN" (8) | version u32 LE | meta length u32 LE | meta (postcard SnapshotMeta) | state
//! ```
//!
//! The file itself is written by `watchkeeper-log` (temporary file, fsync, rename, directory
//! fsync; a CRC over the whole payload), named by the snapshot's last log index, so recovery
//! finds it beside the log segments. The state part is opaque here.

use bytes::Bytes;

use crate::types::SnapshotMeta;

const MAGIC: [u8; 8] = *b"WKRAFTSN";
const VERSION: u32 = 1;
const HEADER: usize = 16;
/// Far above any real membership; bounds what a damaged length field can claim.
const MAX_META_BYTES: usize = 1 << 20;

/// Why snapshot bytes are not a snapshot.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotFormatError {
    #[error("the snapshot is {0} bytes, shorter than its header")]
    Short(usize),
    #[error("the snapshot does not start with the Watchkeeper Raft snapshot magic")]
    Magic,
    #[error("snapshot format version {0} is not known to this build")]
    Version(u32),
    #[error("the snapshot's metadata length {0} is out of range")]
    MetaLength(usize),
    #[error("the snapshot's metadata cannot be decoded: {0}")]
    Meta(postcard::Error),
}

/// Encodes a snapshot's payload.
pub fn encode(meta: &SnapshotMeta, state: &[u8]) -> Vec<u8> {
    let meta_bytes = postcard::to_allocvec(meta).unwrap_or_default();
    let mut out = Vec::with_capacity(HEADER + meta_bytes.len() + state.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&(meta_bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(&meta_bytes);
    out.extend_from_slice(state);
    out
}

/// Splits a snapshot's payload into its metadata and the server's state bytes (sharing `bytes`).
pub fn decode(bytes: &Bytes) -> Result<(SnapshotMeta, Bytes), SnapshotFormatError> {
    if bytes.len() < HEADER {
        return Err(SnapshotFormatError::Short(bytes.len()));
    }
    if bytes[..8] != MAGIC {
        return Err(SnapshotFormatError::Magic);
    }
    let version = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
    if version != VERSION {
        return Err(SnapshotFormatError::Version(version));
    }
    let meta_len = u32::from_le_bytes([bytes[12], bytes[13], bytes[14], bytes[15]]) as usize;
    if meta_len > MAX_META_BYTES || HEADER + meta_len > bytes.len() {
        return Err(SnapshotFormatError::MetaLength(meta_len));
    }
    let meta: SnapshotMeta = postcard::from_bytes(&bytes[HEADER..HEADER + meta_len])
        .map_err(SnapshotFormatError::Meta)?;
    Ok((meta, bytes.slice(HEADER + meta_len..)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_round_trips_and_damage_is_refused() {
        let meta = SnapshotMeta::default();
        let bytes = Bytes::from(encode(&meta, b"state"));
        let (back, state) = decode(&bytes).expect("decodes");
        assert_eq!(back, meta);
        assert_eq!(&state[..], b"state");
        assert!(matches!(
            decode(&bytes.slice(..10)),
            Err(SnapshotFormatError::Short(10))
        ));
        let mut bad = bytes.to_vec();
        bad[0] ^= 1;
        assert!(matches!(
            decode(&Bytes::from(bad)),
            Err(SnapshotFormatError::Magic)
        ));
        let mut long = bytes.to_vec();
        long[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            decode(&Bytes::from(long)),
            Err(SnapshotFormatError::MetaLength(_))
        ));
    }
}
