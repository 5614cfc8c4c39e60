//! Snapshot files: one consistent image of the state at one index.
//!
//! ```text
//! magic "WKSNAPSH" (8) | version u32 | crc32c u32 of index+length+payload | index u64 | length u64 | payload
//! ```
//!
//! Little-endian. A snapshot is written under a temporary name, fsynced, renamed to
//! `snapshot-<index:020>.snap` and the directory fsynced, so a file under a final name is
//! complete; one that fails its checks has been damaged since.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::LogError;
use crate::dir;
use crate::options::MAX_SNAPSHOT_BYTES;

const MAGIC: [u8; 8] = *b"WKSNAPSH";
const VERSION: u32 = 1;
pub(crate) const HEADER_BYTES: usize = 32;

fn checksum(index: u64, len: u64, payload: &[u8]) -> u32 {
    let mut crc = crc32c::crc32c(&index.to_le_bytes());
    crc = crc32c::crc32c_append(crc, &len.to_le_bytes());
    crc32c::crc32c_append(crc, payload)
}

fn encode_header(index: u64, payload: &[u8]) -> [u8; HEADER_BYTES] {
    let len = payload.len() as u64;
    let mut h = [0u8; HEADER_BYTES];
    h[0..8].copy_from_slice(&MAGIC);
    h[8..12].copy_from_slice(&VERSION.to_le_bytes());
    h[12..16].copy_from_slice(&checksum(index, len, payload).to_le_bytes());
    h[16..24].copy_from_slice(&index.to_le_bytes());
    h[24..32].copy_from_slice(&len.to_le_bytes());
    h
}

/// Writes a snapshot taken at `index` into `dir` durably and returns its path. Safe to call from
/// another thread while a [`crate::Wal`] on the same directory keeps appending: it touches only
/// its own files. Afterwards [`crate::Wal::purge`] drops what the snapshot covers.
pub fn write_snapshot_file(dir: &Path, index: u64, payload: &[u8]) -> Result<PathBuf, LogError> {
    let name = dir::snapshot_name(index);
    let path = dir.join(&name);
    if payload.len() as u64 > MAX_SNAPSHOT_BYTES {
        return Err(LogError::SnapshotTooLarge {
            file: path,
            len: payload.len() as u64,
            max: MAX_SNAPSHOT_BYTES,
        });
    }
    let tmp = dir.join(dir::tmp_name(&name));
    let written = write_tmp(&tmp, index, payload).and_then(|()| {
        fs::rename(&tmp, &path).map_err(|e| LogError::io("rename snapshot into place", &tmp, e))
    });
    if let Err(e) = written {
        // The temp file is useless now; open() would remove it anyway.
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    dir::sync_dir(dir)?;
    Ok(path)
}

fn write_tmp(tmp: &Path, index: u64, payload: &[u8]) -> Result<(), LogError> {
    let mut f = File::options()
        .write(true)
        .create_new(true)
        .open(tmp)
        .map_err(|e| LogError::io("create snapshot", tmp, e))?;
    f.write_all(&encode_header(index, payload))
        .and_then(|()| f.write_all(payload))
        .map_err(|e| LogError::io("write snapshot", tmp, e))?;
    f.sync_all()
        .map_err(|e| LogError::io("fsync snapshot", tmp, e))
}

/// Reads and checks the snapshot at `index` in `dir`.
/// Removes all but the newest `keep` snapshot files of `dir` (at least one is kept); returns how
/// many were removed. Safe beside a running [`crate::Wal`]: the log is only ever purged up to the
/// newest snapshot, which stays, so recovery still finds a snapshot and every entry after it.
pub fn remove_old_snapshots(dir: &Path, keep: usize) -> Result<usize, LogError> {
    let listing = dir::list(dir)?;
    let old = listing.snapshots.len().saturating_sub(keep.max(1));
    for &index in &listing.snapshots[..old] {
        dir::remove(&dir.join(dir::snapshot_name(index)))?;
    }
    if old > 0 {
        dir::sync_dir(dir)?;
    }
    Ok(old)
}

pub(crate) fn read_snapshot(dir: &Path, index: u64) -> Result<Vec<u8>, LogError> {
    let path = dir.join(dir::snapshot_name(index));
    let corrupt = |offset: u64, reason: String| LogError::CorruptSnapshot {
        file: path.clone(),
        offset,
        reason,
    };
    let mut f = File::open(&path).map_err(|e| LogError::io("open snapshot", &path, e))?;
    let file_len = f
        .metadata()
        .map_err(|e| LogError::io("stat snapshot", &path, e))?
        .len();
    let mut h = [0u8; HEADER_BYTES];
    if file_len < HEADER_BYTES as u64 {
        return Err(corrupt(
            0,
            format!("file is {file_len} bytes, shorter than the {HEADER_BYTES}-byte header"),
        ));
    }
    f.read_exact(&mut h)
        .map_err(|e| LogError::io("read snapshot", &path, e))?;
    if h[0..8] != MAGIC {
        return Err(corrupt(
            0,
            "not a Watchkeeper snapshot (bad magic bytes)".into(),
        ));
    }
    let word = |at: usize| u32::from_le_bytes([h[at], h[at + 1], h[at + 2], h[at + 3]]);
    let dword = |at: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&h[at..at + 8]);
        u64::from_le_bytes(b)
    };
    let version = word(8);
    if version != VERSION {
        return Err(corrupt(
            8,
            format!(
                "snapshot format version {version} is not supported (this build reads {VERSION})"
            ),
        ));
    }
    let stored_crc = word(12);
    let declared_index = dword(16);
    if declared_index != index {
        return Err(corrupt(
            16,
            format!("the header says index {declared_index}, the file name says {index}"),
        ));
    }
    let len = dword(24);
    let actual_len = file_len - HEADER_BYTES as u64;
    if len != actual_len {
        return Err(corrupt(
            24,
            format!("the header declares {len} payload bytes but the file holds {actual_len}"),
        ));
    }
    if len > MAX_SNAPSHOT_BYTES {
        return Err(LogError::SnapshotTooLarge {
            file: path,
            len,
            max: MAX_SNAPSHOT_BYTES,
        });
    }
    // Bounded by the real file size (checked above) and by the limit.
    let mut payload = vec![0u8; len as usize];
    f.read_exact(&mut payload)
        .map_err(|e| LogError::io("read snapshot", &path, e))?;
    let actual_crc = checksum(index, len, &payload);
    if actual_crc != stored_crc {
        return Err(corrupt(
            HEADER_BYTES as u64,
            format!("checksum mismatch (stored {stored_crc:#010x}, computed {actual_crc:#010x})"),
        ));
    }
    Ok(payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_no_temp_left() {
        let d = tempfile::tempdir().unwrap();
        let p = write_snapshot_file(d.path(), 12, b"tree image").unwrap();
        assert_eq!(p, d.path().join("snapshot-00000000000000000012.snap"));
        assert_eq!(read_snapshot(d.path(), 12).unwrap(), b"tree image");
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 1);
        write_snapshot_file(d.path(), 13, b"").unwrap();
        assert_eq!(read_snapshot(d.path(), 13).unwrap(), b"");
    }

    #[test]
    fn every_damaged_byte_is_detected() {
        let d = tempfile::tempdir().unwrap();
        let p = write_snapshot_file(d.path(), 3, b"some payload bytes").unwrap();
        let good = fs::read(&p).unwrap();
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x04;
            fs::write(&p, &bad).unwrap();
            let err = read_snapshot(d.path(), 3).unwrap_err();
            assert!(
                matches!(err, LogError::CorruptSnapshot { .. }),
                "byte {i}: {err}"
            );
            assert!(
                err.to_string()
                    .contains("snapshot-00000000000000000003.snap")
            );
        }
    }

    #[test]
    fn truncated_and_extended_files_are_detected() {
        let d = tempfile::tempdir().unwrap();
        let p = write_snapshot_file(d.path(), 3, b"payload").unwrap();
        let good = fs::read(&p).unwrap();
        for len in [0, 10, HEADER_BYTES, good.len() - 1] {
            fs::write(&p, &good[..len]).unwrap();
            assert!(read_snapshot(d.path(), 3).is_err(), "length {len}");
        }
        let mut longer = good.clone();
        longer.push(0);
        fs::write(&p, &longer).unwrap();
        assert!(read_snapshot(d.path(), 3).is_err());
    }

    #[test]
    fn huge_declared_length_does_not_allocate() {
        let d = tempfile::tempdir().unwrap();
        let p = write_snapshot_file(d.path(), 3, b"x").unwrap();
        let mut bad = fs::read(&p).unwrap();
        bad[24..32].copy_from_slice(&u64::MAX.to_le_bytes());
        fs::write(&p, &bad).unwrap();
        let err = read_snapshot(d.path(), 3).unwrap_err();
        assert!(err.to_string().contains("declares"), "{err}");
    }
}
