//! The state file, `raft-state`: one small blob the caller replaces whole (the Raft vote and the
//! last purged log id), opaque to this crate.
//!
//! ```text
//! magic "WKRSTATE" (8) | version u32 | crc32c u32 of length+payload | length u32 | payload
//! ```
//!
//! Little-endian. It is written under a temporary name, fsynced, renamed over the old one and
//! the directory fsynced, so at every moment the file under the final name is either the old
//! state or the new one, complete. One that fails its checks has been damaged since; it is
//! refused rather than ignored, because forgetting a vote could let the server vote twice.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::LogError;
use crate::dir::{self, STATE_FILE};

/// The largest state [`crate::Wal::save_state`] writes or `open` reads.
pub const MAX_STATE_BYTES: usize = 64 << 10;

const MAGIC: [u8; 8] = *b"WKRSTATE";
const VERSION: u32 = 1;
const HEADER_BYTES: usize = 20;

fn checksum(payload: &[u8]) -> u32 {
    // The length is covered too, so a shortened file cannot pass with a matching prefix.
    let len = payload.len() as u32;
    crc32c::crc32c_append(crc32c::crc32c(&len.to_le_bytes()), payload)
}

pub(crate) fn path(dir: &Path) -> PathBuf {
    dir.join(STATE_FILE)
}

/// Replaces the state file with `payload`, durably.
pub(crate) fn write_state(dir: &Path, payload: &[u8]) -> Result<(), LogError> {
    let path = path(dir);
    if payload.len() > MAX_STATE_BYTES {
        return Err(LogError::StateTooLarge {
            file: path,
            len: payload.len(),
            max: MAX_STATE_BYTES,
        });
    }
    let mut bytes = Vec::with_capacity(HEADER_BYTES + payload.len());
    bytes.extend_from_slice(&MAGIC);
    bytes.extend_from_slice(&VERSION.to_le_bytes());
    bytes.extend_from_slice(&checksum(payload).to_le_bytes());
    bytes.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    bytes.extend_from_slice(payload);
    let tmp = dir.join(dir::tmp_name(STATE_FILE));
    let written = (|| {
        let mut f = File::options()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(|e| LogError::io("create state file", &tmp, e))?;
        f.write_all(&bytes)
            .map_err(|e| LogError::io("write state file", &tmp, e))?;
        f.sync_all()
            .map_err(|e| LogError::io("fsync state file", &tmp, e))?;
        fs::rename(&tmp, &path).map_err(|e| LogError::io("rename state file into place", &tmp, e))
    })();
    if let Err(e) = written {
        // The old state is untouched; the temp file is useless (open would remove it anyway).
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    dir::sync_dir(dir)
}

/// Reads and checks the state file; `None` if there is none.
pub(crate) fn read_state(dir: &Path) -> Result<Option<Vec<u8>>, LogError> {
    let path = path(dir);
    let corrupt = |offset: u64, reason: String| LogError::CorruptState {
        file: path.clone(),
        offset,
        reason,
    };
    let mut f = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(LogError::io("open state file", &path, e)),
    };
    let file_len = f
        .metadata()
        .map_err(|e| LogError::io("stat state file", &path, e))?
        .len();
    if file_len < HEADER_BYTES as u64 {
        return Err(corrupt(
            0,
            format!("file is {file_len} bytes, shorter than the {HEADER_BYTES}-byte header"),
        ));
    }
    let max_file = (HEADER_BYTES + MAX_STATE_BYTES) as u64;
    if file_len > max_file {
        return Err(corrupt(
            0,
            format!("file is {file_len} bytes, larger than any state file ({max_file})"),
        ));
    }
    // Bounded by the check above.
    let mut bytes = Vec::with_capacity(file_len as usize);
    f.read_to_end(&mut bytes)
        .map_err(|e| LogError::io("read state file", &path, e))?;
    if bytes.len() as u64 != file_len {
        return Err(corrupt(
            0,
            format!(
                "file changed size while being read ({file_len} then {})",
                bytes.len()
            ),
        ));
    }
    if bytes[0..8] != MAGIC {
        return Err(corrupt(
            0,
            "not a Watchkeeper state file (bad magic bytes)".into(),
        ));
    }
    let word =
        |at: usize| u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    let version = word(8);
    if version != VERSION {
        return Err(corrupt(
            8,
            format!("state format version {version} is not supported (this build reads {VERSION})"),
        ));
    }
    let stored = word(12);
    let len = word(16) as u64;
    let actual_len = file_len - HEADER_BYTES as u64;
    if len != actual_len {
        return Err(corrupt(
            16,
            format!("the header declares {len} payload bytes but the file holds {actual_len}"),
        ));
    }
    let payload = bytes.split_off(HEADER_BYTES);
    let actual = checksum(&payload);
    if actual != stored {
        return Err(corrupt(
            HEADER_BYTES as u64,
            format!("checksum mismatch (stored {stored:#010x}, computed {actual:#010x})"),
        ));
    }
    Ok(Some(payload))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_replace_and_no_temp_left() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(read_state(d.path()).unwrap(), None);
        write_state(d.path(), b"vote 1").unwrap();
        assert_eq!(
            read_state(d.path()).unwrap().as_deref(),
            Some(&b"vote 1"[..])
        );
        write_state(d.path(), b"").unwrap();
        assert_eq!(read_state(d.path()).unwrap().as_deref(), Some(&b""[..]));
        write_state(d.path(), &[7u8; MAX_STATE_BYTES]).unwrap();
        assert_eq!(
            read_state(d.path()).unwrap().unwrap().len(),
            MAX_STATE_BYTES
        );
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 1);
    }

    #[test]
    fn over_the_limit_is_refused_and_the_old_state_kept() {
        let d = tempfile::tempdir().unwrap();
        write_state(d.path(), b"old").unwrap();
        let err = write_state(d.path(), &vec![0u8; MAX_STATE_BYTES + 1]).unwrap_err();
        assert!(matches!(err, LogError::StateTooLarge { .. }), "{err}");
        assert!(err.to_string().contains(STATE_FILE), "{err}");
        assert_eq!(read_state(d.path()).unwrap().as_deref(), Some(&b"old"[..]));
    }

    #[test]
    fn every_damaged_byte_and_every_length_change_is_detected() {
        let d = tempfile::tempdir().unwrap();
        write_state(d.path(), b"term 3 voted for 2").unwrap();
        let p = path(d.path());
        let good = fs::read(&p).unwrap();
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x20;
            fs::write(&p, &bad).unwrap();
            let err = read_state(d.path()).unwrap_err();
            assert!(
                matches!(err, LogError::CorruptState { .. }),
                "byte {i}: {err}"
            );
            assert!(err.to_string().contains(STATE_FILE), "{err}");
        }
        for len in [0, 5, HEADER_BYTES, good.len() - 1] {
            fs::write(&p, &good[..len]).unwrap();
            assert!(read_state(d.path()).is_err(), "length {len}");
        }
        let mut longer = good.clone();
        longer.push(0);
        fs::write(&p, &longer).unwrap();
        assert!(read_state(d.path()).is_err());
        fs::write(&p, vec![0u8; HEADER_BYTES + MAX_STATE_BYTES + 1]).unwrap();
        let err = read_state(d.path()).unwrap_err();
        assert!(
            err.to_string().contains("larger than any state file"),
            "{err}"
        );
    }
}
