//! Tests of `Wal` against real files in temporary directories.

use std::fs;
use std::path::Path;

use proptest::prelude::*;

use super::*;
use crate::record::{Kind, MAX_COMMITTED_BYTES, encode_record, encode_segment_header};
use crate::{MAX_STATE_BYTES, Recovery, TailRepair, write_snapshot_file};

fn small() -> LogOptions {
    LogOptions {
        segment_bytes: 1024,
        max_record_bytes: 200,
    }
}

fn payload(i: u64) -> Vec<u8> {
    format!("entry-{i};")
        .repeat((i % 5 + 1) as usize)
        .into_bytes()
}

fn entries(range: std::ops::RangeInclusive<u64>) -> Vec<(u64, Vec<u8>)> {
    range.map(|i| (i, payload(i))).collect()
}

fn open(dir: &Path) -> (Wal, Recovery) {
    Wal::open(dir, small()).unwrap()
}

fn write(dir: &Path, range: std::ops::RangeInclusive<u64>) -> Wal {
    let (mut wal, _) = open(dir);
    for i in range {
        wal.append(i, &payload(i)).unwrap();
    }
    wal.sync().unwrap();
    wal
}

fn files(dir: &Path, prefix: &str) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with(prefix))
        .collect();
    v.sort();
    v
}

fn seg(first: u64) -> String {
    dir::segment_name(first)
}

#[test]
fn empty_directory_is_created_and_empty() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("a/b");
    let (wal, rec) = Wal::open(&path, LogOptions::default()).unwrap();
    assert_eq!(wal.last_index(), 0);
    assert_eq!(
        rec,
        Recovery {
            snapshot: None,
            entries: vec![],
            repaired_tail: None,
            committed: None,
            state: None,
        }
    );
    drop(wal);
    let (wal, rec) = Wal::open(&path, LogOptions::default()).unwrap();
    assert_eq!((wal.last_index(), rec.entries.len()), (0, 0));
}

#[test]
fn round_trip() {
    let d = tempfile::tempdir().unwrap();
    drop(write(d.path(), 1..=40));
    let (wal, rec) = open(d.path());
    assert_eq!(rec.entries, entries(1..=40));
    assert_eq!((rec.snapshot, rec.repaired_tail), (None, None));
    assert_eq!(wal.last_index(), 40);
}

#[test]
fn restart_appends_after_the_recovered_tail() {
    let d = tempfile::tempdir().unwrap();
    drop(write(d.path(), 1..=10));
    let (mut wal, _) = open(d.path());
    assert!(matches!(
        wal.append(10, b"x"),
        Err(LogError::OutOfOrder { last: 10, got: 10 })
    ));
    for i in 11..=30 {
        wal.append(i, &payload(i)).unwrap();
    }
    wal.sync().unwrap();
    drop(wal);
    assert_eq!(open(d.path()).1.entries, entries(1..=30));
}

#[test]
fn nothing_unsynced_is_recovered_and_sync_is_per_batch() {
    let d = tempfile::tempdir().unwrap();
    let mut wal = write(d.path(), 1..=5);
    wal.append(6, &payload(6)).unwrap();
    wal.append(7, &payload(7)).unwrap();
    assert_eq!(wal.last_index(), 7);
    drop(wal);
    let (mut wal, rec) = open(d.path());
    assert_eq!(rec.entries, entries(1..=5));
    // An empty sync is a no-op, and syncing twice is harmless.
    wal.sync().unwrap();
    wal.append(6, &payload(6)).unwrap();
    wal.sync().unwrap();
    wal.sync().unwrap();
    drop(wal);
    assert_eq!(open(d.path()).1.entries, entries(1..=6));
}

#[test]
fn bad_appends_are_refused_without_harm() {
    let d = tempfile::tempdir().unwrap();
    let (mut wal, _) = open(d.path());
    assert!(matches!(
        wal.append(0, b""),
        Err(LogError::OutOfOrder { .. })
    ));
    assert!(matches!(
        wal.append(2, b""),
        Err(LogError::OutOfOrder { .. })
    ));
    let err = wal.append(1, &[0u8; 201]).unwrap_err();
    assert!(matches!(
        err,
        LogError::RecordTooLarge {
            len: 201,
            max: 200,
            ..
        }
    ));
    assert!(err.to_string().contains("max_record_bytes"));
    wal.append(1, &[7u8; 200]).unwrap();
    wal.append(2, b"").unwrap();
    wal.sync().unwrap();
    drop(wal);
    assert_eq!(
        open(d.path()).1.entries,
        vec![(1, vec![7u8; 200]), (2, vec![])]
    );
}

#[test]
fn invalid_options_are_refused() {
    let d = tempfile::tempdir().unwrap();
    let opts = LogOptions {
        segment_bytes: 100,
        max_record_bytes: 200,
    };
    assert!(matches!(
        Wal::open(d.path(), opts),
        Err(LogError::InvalidOptions(_))
    ));
}

#[test]
fn a_second_open_of_the_same_directory_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let _first = open(d.path());
    assert!(matches!(
        Wal::open(d.path(), small()),
        Err(LogError::Locked { .. })
    ));
}

#[test]
fn segments_roll_over_and_recover_across_files() {
    let d = tempfile::tempdir().unwrap();
    let (mut wal, _) = open(d.path());
    for i in 1..=120 {
        wal.append(i, &payload(i)).unwrap();
        if i % 7 == 0 {
            wal.sync().unwrap();
        }
    }
    wal.sync().unwrap();
    drop(wal);
    let segs = files(d.path(), "log-");
    assert!(segs.len() > 5, "{segs:?}");
    assert_eq!(segs[0], seg(1));
    for name in &segs {
        let len = fs::metadata(d.path().join(name)).unwrap().len();
        assert_eq!(len, 1024, "{name} not preallocated");
    }
    let (wal, rec) = open(d.path());
    assert_eq!(rec.entries, entries(1..=120));
    assert_eq!(wal.last_index(), 120);
}

#[test]
fn a_batch_bigger_than_a_segment_rolls_over_inside_the_batch() {
    let d = tempfile::tempdir().unwrap();
    let (mut wal, _) = open(d.path());
    for i in 1..=60 {
        wal.append(i, &[i as u8; 150]).unwrap();
    }
    wal.sync().unwrap();
    drop(wal);
    let rec = open(d.path()).1;
    assert_eq!(rec.entries.len(), 60);
    assert!(rec.entries.iter().all(|(i, p)| p == &vec![*i as u8; 150]));
}

/// Where each record of a single-segment log starts, and where the records end.
fn record_offsets(range: std::ops::RangeInclusive<u64>) -> Vec<usize> {
    let mut at = SEGMENT_HEADER_BYTES;
    let mut v = vec![];
    for i in range {
        v.push(at);
        at += RECORD_HEADER_BYTES + payload(i).len();
    }
    v.push(at);
    v
}

#[test]
fn a_torn_tail_at_every_byte_of_the_last_record_is_repaired() {
    let template = tempfile::tempdir().unwrap();
    drop(write(template.path(), 1..=4));
    let good = fs::read(template.path().join(seg(1))).unwrap();
    let offs = record_offsets(1..=4);
    let (start, end) = (offs[3], offs[4]);
    for cut in start..=end {
        let d = tempfile::tempdir().unwrap();
        let mut bytes = good.clone();
        bytes[cut..end].fill(0);
        fs::write(d.path().join(seg(1)), &bytes).unwrap();

        let (mut wal, rec) = open(d.path());
        let kept = if cut == end { 4 } else { 3 };
        assert_eq!(rec.entries, entries(1..=kept), "cut at {cut}");
        let repaired = rec.repaired_tail.clone();
        if cut == start || cut == end {
            assert_eq!(repaired, None, "cut at {cut}");
        } else {
            let r = repaired.unwrap_or_else(|| panic!("cut at {cut}: no repair"));
            assert_eq!((r.file, r.offset), (d.path().join(seg(1)), start as u64));
            assert!(r.bytes >= 1 && r.bytes <= (cut - start) as u64);
        }
        // The log continues cleanly after the repair.
        wal.append(kept + 1, b"after repair").unwrap();
        wal.sync().unwrap();
        drop(wal);
        let rec = open(d.path()).1;
        assert_eq!(rec.repaired_tail, None, "cut at {cut}");
        assert_eq!(rec.entries.len() as u64, kept + 1);
        assert_eq!(rec.entries.last().unwrap().1, b"after repair");
    }
}

#[test]
fn a_hand_truncated_segment_is_a_torn_tail_and_regains_its_preallocation() {
    let d = tempfile::tempdir().unwrap();
    drop(write(d.path(), 1..=4));
    let offs = record_offsets(1..=4);
    let path = d.path().join(seg(1));
    let f = fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.set_len(offs[3] as u64 + 5).unwrap();
    drop(f);
    let (wal, rec) = open(d.path());
    assert_eq!(rec.entries, entries(1..=3));
    assert_eq!(rec.repaired_tail.map(|r| r.offset), Some(offs[3] as u64));
    assert_eq!(fs::metadata(&path).unwrap().len(), 1024);
    assert_eq!(wal.last_index(), 3);
}

#[test]
fn corruption_in_the_middle_refuses_with_file_and_offset() {
    let d = tempfile::tempdir().unwrap();
    drop(write(d.path(), 1..=5));
    let offs = record_offsets(1..=5);
    let path = d.path().join(seg(1));
    let mut bytes = fs::read(&path).unwrap();
    bytes[offs[1] + RECORD_HEADER_BYTES + 2] ^= 0x40;
    fs::write(&path, &bytes).unwrap();
    let err = Wal::open(d.path(), small()).unwrap_err();
    assert!(matches!(err, LogError::CorruptSegment { offset, .. } if offset == offs[1] as u64));
    let msg = err.to_string();
    assert!(msg.contains(&seg(1)), "{msg}");
    assert!(msg.contains(&format!("byte offset {}", offs[1])), "{msg}");
    assert!(msg.contains("checksum mismatch"), "{msg}");
    assert!(
        msg.contains(&format!("truncate this file to {} bytes", offs[1])),
        "{msg}"
    );
}

#[test]
fn damage_at_the_end_of_an_earlier_segment_is_corruption() {
    let d = tempfile::tempdir().unwrap();
    drop(write(d.path(), 1..=40));
    let segs = files(d.path(), "log-");
    assert!(segs.len() >= 2);
    let path = d.path().join(&segs[0]);
    let mut bytes = fs::read(&path).unwrap();
    let last_nonzero = bytes.iter().rposition(|&b| b != 0).unwrap();
    bytes[last_nonzero] ^= 0x01;
    fs::write(&path, &bytes).unwrap();
    let err = Wal::open(d.path(), small()).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains(&segs[0]) && msg.contains("not the last"),
        "{msg}"
    );
}

#[test]
fn a_damaged_segment_header_is_corruption_at_offset_zero() {
    let d = tempfile::tempdir().unwrap();
    drop(write(d.path(), 1..=3));
    let path = d.path().join(seg(1));
    let mut bytes = fs::read(&path).unwrap();
    bytes[3] ^= 0xff;
    fs::write(&path, &bytes).unwrap();
    let msg = Wal::open(d.path(), small()).unwrap_err().to_string();
    assert!(
        msg.contains("byte offset 0") && msg.contains("move this file"),
        "{msg}"
    );
}

#[test]
fn a_missing_segment_is_a_gap() {
    let d = tempfile::tempdir().unwrap();
    drop(write(d.path(), 1..=60));
    let segs = files(d.path(), "log-");
    assert!(segs.len() >= 3);
    fs::remove_file(d.path().join(&segs[1])).unwrap();
    let err = Wal::open(d.path(), small()).unwrap_err();
    assert!(matches!(err, LogError::Gap { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("missing entries") && msg.contains(&segs[2]),
        "{msg}"
    );

    fs::remove_file(d.path().join(&segs[0])).unwrap();
    let msg = Wal::open(d.path(), small()).unwrap_err().to_string();
    assert!(msg.contains("missing entries 1 to"), "{msg}");
}

#[test]
fn snapshot_in_the_middle_of_a_segment_then_purge() {
    let d = tempfile::tempdir().unwrap();
    let mut wal = write(d.path(), 1..=120);
    let before = files(d.path(), "log-");
    // Pick a snapshot index strictly inside the third segment.
    let third: u64 = before[2][4..24].parse().unwrap();
    let fourth: u64 = before[3][4..24].parse().unwrap();
    let snap = third + 1;
    assert!(snap < fourth - 1);
    wal.install_snapshot(snap, b"state", 3).unwrap();
    assert_eq!(files(d.path(), "log-"), before[2..].to_vec());
    assert_eq!(files(d.path(), "snapshot-"), vec![dir::snapshot_name(snap)]);
    for i in 121..=130 {
        wal.append(i, &payload(i)).unwrap();
    }
    wal.sync().unwrap();
    drop(wal);
    let (wal, rec) = open(d.path());
    assert_eq!(rec.snapshot, Some((snap, b"state".to_vec())));
    assert_eq!(rec.entries, entries(snap + 1..=130));
    assert_eq!(wal.last_index(), 130);
}

#[test]
fn install_snapshot_syncs_buffered_records_first() {
    let d = tempfile::tempdir().unwrap();
    let (mut wal, _) = open(d.path());
    for i in 1..=5 {
        wal.append(i, &payload(i)).unwrap();
    }
    wal.install_snapshot(3, b"s", 1).unwrap();
    drop(wal);
    let rec = open(d.path()).1;
    assert_eq!(rec.entries, entries(4..=5));
}

#[test]
fn snapshots_beyond_retain_are_deleted() {
    let d = tempfile::tempdir().unwrap();
    let mut wal = write(d.path(), 1..=30);
    for (n, at) in [5u64, 10, 15, 20].into_iter().enumerate() {
        wal.install_snapshot(at, format!("s{at}").as_bytes(), 2)
            .unwrap();
        assert_eq!(files(d.path(), "snapshot-").len(), (n + 1).min(2));
    }
    assert_eq!(
        files(d.path(), "snapshot-"),
        vec![dir::snapshot_name(15), dir::snapshot_name(20)]
    );
    wal.install_snapshot(25, b"s25", 0).unwrap();
    assert_eq!(files(d.path(), "snapshot-"), vec![dir::snapshot_name(25)]);
}

#[test]
fn a_snapshot_past_the_end_of_the_log_restarts_the_log_after_it() {
    let d = tempfile::tempdir().unwrap();
    let mut wal = write(d.path(), 1..=10);
    wal.install_snapshot(100, b"from the leader", 1).unwrap();
    assert_eq!(wal.last_index(), 100);
    assert!(files(d.path(), "log-").is_empty());
    assert!(matches!(
        wal.append(11, b"x"),
        Err(LogError::OutOfOrder { .. })
    ));
    wal.append(101, &payload(101)).unwrap();
    wal.sync().unwrap();
    drop(wal);
    let (wal, rec) = open(d.path());
    assert_eq!(rec.snapshot, Some((100, b"from the leader".to_vec())));
    assert_eq!(rec.entries, entries(101..=101));
    assert_eq!(wal.last_index(), 101);
    assert_eq!(files(d.path(), "log-"), vec![seg(101)]);
}

#[test]
fn a_crash_between_snapshot_and_purge_is_finished_at_open() {
    let d = tempfile::tempdir().unwrap();
    drop(write(d.path(), 1..=60));
    let segs = files(d.path(), "log-");
    // Snapshot written, purge never ran: segments wholly below it are dropped at open.
    let second_last: u64 = segs[segs.len() - 1][4..24].parse().unwrap();
    write_snapshot_file(d.path(), second_last - 1, b"s").unwrap();
    let (wal, rec) = open(d.path());
    assert_eq!(rec.entries, entries(second_last..=60));
    assert_eq!(files(d.path(), "log-"), segs[segs.len() - 1..].to_vec());
    drop(wal);

    // A snapshot beyond the whole log: every segment goes, appends continue after it.
    write_snapshot_file(d.path(), 500, b"t").unwrap();
    let (mut wal, rec) = open(d.path());
    assert_eq!(
        (rec.snapshot.map(|s| s.0), rec.entries.len()),
        (Some(500), 0)
    );
    assert_eq!(wal.last_index(), 500);
    assert!(files(d.path(), "log-").is_empty());
    wal.append(501, b"next").unwrap();
    wal.sync().unwrap();
}

#[test]
fn a_stale_segment_reappearing_below_the_snapshot_is_ignored() {
    // An unlink that did not survive a crash brings an old segment back.
    let d = tempfile::tempdir().unwrap();
    drop(write(d.path(), 1..=10));
    let old = fs::read(d.path().join(seg(1))).unwrap();
    let mut wal = open(d.path()).0;
    wal.install_snapshot(50, b"s", 1).unwrap();
    wal.append(51, &payload(51)).unwrap();
    wal.sync().unwrap();
    drop(wal);
    fs::write(d.path().join(seg(1)), old).unwrap();
    let (_, rec) = open(d.path());
    assert_eq!(rec.entries, entries(51..=51));
    assert_eq!(files(d.path(), "log-"), vec![seg(51)]);
}

#[test]
fn a_damaged_newest_snapshot_falls_back_to_an_older_one_if_the_log_reaches() {
    let d = tempfile::tempdir().unwrap();
    drop(write(d.path(), 1..=60));
    write_snapshot_file(d.path(), 5, b"five").unwrap();
    let newest = write_snapshot_file(d.path(), 10, b"ten").unwrap();
    let mut bytes = fs::read(&newest).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    fs::write(&newest, &bytes).unwrap();
    let (wal, rec) = open(d.path());
    assert_eq!(rec.snapshot, Some((5, b"five".to_vec())));
    assert_eq!(rec.entries, entries(6..=60));
    drop(wal);

    // Once the log no longer reaches back, the damaged snapshot is the reported cause.
    let segs = files(d.path(), "log-");
    fs::remove_file(d.path().join(&segs[0])).unwrap();
    let err = Wal::open(d.path(), small()).unwrap_err();
    assert!(matches!(err, LogError::CorruptSnapshot { .. }), "{err}");

    // With no log at all, falling back would silently lose entries the damaged one holds.
    for s in &segs[1..] {
        fs::remove_file(d.path().join(s)).unwrap();
    }
    let err = Wal::open(d.path(), small()).unwrap_err();
    assert!(matches!(err, LogError::CorruptSnapshot { .. }), "{err}");
}

#[test]
fn the_only_snapshot_damaged_refuses_naming_it() {
    let d = tempfile::tempdir().unwrap();
    let mut wal = write(d.path(), 1..=3);
    wal.install_snapshot(3, b"state", 1).unwrap();
    drop(wal);
    let path = d.path().join(dir::snapshot_name(3));
    let mut bytes = fs::read(&path).unwrap();
    bytes[0] = b'X';
    fs::write(&path, &bytes).unwrap();
    let msg = Wal::open(d.path(), small()).unwrap_err().to_string();
    assert!(
        msg.contains(&dir::snapshot_name(3)) && msg.contains("byte offset 0"),
        "{msg}"
    );
}

#[test]
fn purge_never_removes_what_no_snapshot_covers() {
    let d = tempfile::tempdir().unwrap();
    let mut wal = write(d.path(), 1..=60);
    let before = files(d.path(), "log-");
    wal.purge(1000, 1).unwrap();
    assert_eq!(files(d.path(), "log-"), before);
    // A snapshot written from another thread covers only up to its own index.
    let handle = {
        let dir = wal.dir().to_path_buf();
        std::thread::spawn(move || write_snapshot_file(&dir, 40, b"s").unwrap())
    };
    for i in 61..=70 {
        wal.append(i, &payload(i)).unwrap();
    }
    wal.sync().unwrap();
    handle.join().unwrap();
    wal.purge(1000, 1).unwrap();
    let after = files(d.path(), "log-");
    let oldest: u64 = after[0][4..24].parse().unwrap();
    assert!(oldest > 1 && oldest <= 41, "{after:?}");
    drop(wal);
    let rec = open(d.path()).1;
    assert_eq!(rec.snapshot.map(|s| s.0), Some(40));
    assert_eq!(rec.entries, entries(41..=70));
}

#[test]
fn leftover_temporary_files_are_removed_at_open() {
    let d = tempfile::tempdir().unwrap();
    drop(write(d.path(), 1..=3));
    let tmp_snap = d.path().join(dir::tmp_name(&dir::snapshot_name(9)));
    let tmp_seg = d.path().join(dir::tmp_name(&seg(4)));
    fs::write(&tmp_snap, b"half").unwrap();
    fs::write(&tmp_seg, b"half").unwrap();
    fs::write(d.path().join("README"), b"not ours").unwrap();
    let rec = open(d.path()).1;
    assert_eq!(rec.entries, entries(1..=3));
    assert!(!tmp_snap.exists() && !tmp_seg.exists());
    assert!(d.path().join("README").exists());
}

#[test]
fn repair_is_reported_for_a_log_line() {
    let d = tempfile::tempdir().unwrap();
    drop(write(d.path(), 1..=2));
    let offs = record_offsets(1..=2);
    let path = d.path().join(seg(1));
    let mut bytes = fs::read(&path).unwrap();
    bytes[offs[2] - 1] ^= 0xff;
    fs::write(&path, &bytes).unwrap();
    let rec = open(d.path()).1;
    assert_eq!(
        rec.repaired_tail,
        Some(TailRepair {
            file: path,
            offset: offs[1] as u64,
            bytes: (offs[2] - offs[1]) as u64,
        })
    );
}

#[derive(Debug, Clone)]
enum Op {
    Append(usize),
    Sync,
    Reopen,
    Snapshot(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (1usize..8).prop_map(Op::Append),
        3 => Just(Op::Sync),
        1 => Just(Op::Reopen),
        1 => any::<u8>().prop_map(Op::Snapshot),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Against a model: after any sequence of appends, syncs, snapshots and restarts, a
    /// reopen recovers exactly the synced records after the newest snapshot.
    #[test]
    fn recovery_matches_a_model(ops in proptest::collection::vec(op(), 1..25)) {
        let d = tempfile::tempdir().unwrap();
        let (mut wal, _) = open(d.path());
        let mut durable = 0u64;
        let mut snap: Option<u64> = None;
        for op in ops {
            match op {
                Op::Append(n) => {
                    for _ in 0..n {
                        let i = wal.last_index() + 1;
                        wal.append(i, &payload(i)).unwrap();
                    }
                }
                Op::Sync => {
                    wal.sync().unwrap();
                    durable = wal.last_index();
                }
                Op::Snapshot(back) => {
                    let at = wal.last_index().saturating_sub(u64::from(back % 16));
                    if snap.is_none_or(|s| at >= s) {
                        wal.install_snapshot(at, &at.to_le_bytes(), 2).unwrap();
                        durable = wal.last_index();
                        snap = Some(at);
                    }
                }
                Op::Reopen => {
                    let appended = wal.last_index();
                    drop(wal);
                    let (w, rec) = open(d.path());
                    wal = w;
                    // Unsynced records may have reached the disk anyway (a full segment is
                    // written out before the next starts); synced ones must have.
                    let recovered = wal.last_index();
                    prop_assert!(durable <= recovered && recovered <= appended);
                    let from = snap.unwrap_or(0) + 1;
                    prop_assert_eq!(rec.snapshot.map(|s| s.0), snap);
                    prop_assert_eq!(rec.entries, entries(from..=recovered));
                    durable = recovered;
                }
            }
        }
    }
}

#[test]
fn wal_can_move_to_the_log_thread() {
    fn is_send<T: Send>() {}
    is_send::<Wal>();
    is_send::<Recovery>();
    is_send::<LogError>();
}

// ---- Raft: truncation, committed records, the state file, purging past the end ----

/// A payload that differs from `payload(i)`, for entries rewritten after a truncation.
fn rewritten(i: u64) -> Vec<u8> {
    format!("rewritten-{i}").into_bytes()
}

/// First indexes of the segment files on disk.
fn seg_firsts(dir: &Path) -> Vec<u64> {
    files(dir, "log-")
        .iter()
        .map(|n| n[4..24].parse().unwrap())
        .collect()
}

fn append_rewritten(wal: &mut Wal, range: std::ops::RangeInclusive<u64>) {
    for i in range {
        wal.append(i, &rewritten(i)).unwrap();
    }
}

/// Old entries up to `upto`, then rewritten ones.
fn old_then_new(upto: u64, new: std::ops::RangeInclusive<u64>) -> Vec<(u64, Vec<u8>)> {
    let mut v = entries(1..=upto);
    v.extend(new.map(|i| (i, rewritten(i))));
    v
}

#[test]
fn a_truncation_inside_the_active_segment_is_an_appended_record_and_appends_continue_after_it() {
    let d = tempfile::tempdir().unwrap();
    let mut wal = write(d.path(), 1..=10);
    let before = fs::read(d.path().join(seg(1))).unwrap();
    wal.truncate_after(6).unwrap();
    assert_eq!(wal.last_index(), 6);
    assert!(matches!(
        wal.append(11, b"x"),
        Err(LogError::OutOfOrder { last: 6, got: 11 })
    ));
    append_rewritten(&mut wal, 7..=9);
    wal.sync().unwrap();
    drop(wal);
    // Nothing written before was touched: the truncation only added bytes after it.
    let after = fs::read(d.path().join(seg(1))).unwrap();
    let end = record_offsets(1..=10)[10];
    assert_eq!(before[..end], after[..end]);

    let (mut wal, rec) = open(d.path());
    assert_eq!(rec.entries, old_then_new(6, 7..=9));
    assert_eq!(wal.last_index(), 9);
    append_rewritten(&mut wal, 10..=12);
    wal.sync().unwrap();
    drop(wal);
    assert_eq!(open(d.path()).1.entries, old_then_new(6, 7..=12));
}

#[test]
fn a_truncation_across_segments_deletes_the_later_ones_and_continues_in_the_one_holding_the_index()
{
    let d = tempfile::tempdir().unwrap();
    let mut wal = write(d.path(), 1..=80);
    let firsts = seg_firsts(d.path());
    assert!(firsts.len() >= 4, "{firsts:?}");
    // Inside the second segment, so the third and later ones go.
    let at = firsts[1] + 2;
    assert!(at < firsts[2] - 1);
    wal.truncate_after(at).unwrap();
    assert_eq!(seg_firsts(d.path()), firsts[..2].to_vec());
    assert_eq!(wal.last_index(), at);
    // Enough new entries to roll over again, into a segment named after one of them.
    append_rewritten(&mut wal, at + 1..=at + 30);
    wal.sync().unwrap();
    drop(wal);
    let (wal, rec) = open(d.path());
    assert_eq!(rec.entries, old_then_new(at, at + 1..=at + 30));
    assert_eq!(wal.last_index(), at + 30);
    let now = seg_firsts(d.path());
    assert_eq!(now[..2], firsts[..2]);
    assert!(now[2] > at, "{now:?}");
}

#[test]
fn a_truncation_to_the_end_of_a_segment_needs_no_record_and_the_next_append_starts_a_segment() {
    let d = tempfile::tempdir().unwrap();
    let mut wal = write(d.path(), 1..=60);
    let firsts = seg_firsts(d.path());
    let at = firsts[1] - 1;
    let first_segment = fs::read(d.path().join(seg(1))).unwrap();
    wal.truncate_after(at).unwrap();
    wal.sync().unwrap();
    assert_eq!(seg_firsts(d.path()), vec![1]);
    assert_eq!(fs::read(d.path().join(seg(1))).unwrap(), first_segment);
    append_rewritten(&mut wal, at + 1..=at + 3);
    wal.sync().unwrap();
    drop(wal);
    assert_eq!(open(d.path()).1.entries, old_then_new(at, at + 1..=at + 3));
}

#[test]
fn a_truncation_not_yet_synced_is_lost_in_a_crash_and_the_old_tail_comes_back() {
    let d = tempfile::tempdir().unwrap();
    let mut wal = write(d.path(), 1..=10);
    wal.truncate_after(4).unwrap();
    append_rewritten(&mut wal, 5..=6);
    drop(wal); // A crash: the buffer never reached the disk.
    let (wal, rec) = open(d.path());
    assert_eq!(rec.entries, entries(1..=10));
    assert_eq!(wal.last_index(), 10);
}

#[test]
fn an_unsynced_truncation_across_segments_leaves_a_prefix_of_the_old_log() {
    let d = tempfile::tempdir().unwrap();
    let mut wal = write(d.path(), 1..=60);
    let firsts = seg_firsts(d.path());
    wal.truncate_after(3).unwrap();
    drop(wal);
    // The later segments are gone at once; the truncation record in the first was not synced.
    let (wal, rec) = open(d.path());
    assert_eq!(rec.entries, entries(1..=firsts[1] - 1));
    assert_eq!(wal.last_index(), firsts[1] - 1);
}

#[test]
fn a_synced_truncation_survives_a_crash_and_appends_continue_at_the_index_plus_one() {
    let d = tempfile::tempdir().unwrap();
    let mut wal = write(d.path(), 1..=10);
    wal.truncate_after(4).unwrap();
    wal.sync().unwrap();
    drop(wal);
    let (mut wal, rec) = open(d.path());
    assert_eq!(rec.entries, entries(1..=4));
    assert_eq!(wal.last_index(), 4);
    assert!(matches!(
        wal.append(11, b"x"),
        Err(LogError::OutOfOrder { last: 4, .. })
    ));
    append_rewritten(&mut wal, 5..=5);
    wal.sync().unwrap();
    drop(wal);
    assert_eq!(open(d.path()).1.entries, old_then_new(4, 5..=5));
}

/// Zeroes the last `n` written bytes of a segment, as a torn final write leaves them.
fn tear_last_bytes(path: &Path, n: usize) {
    let mut bytes = fs::read(path).unwrap();
    let last = bytes.iter().rposition(|&b| b != 0).unwrap();
    bytes[last + 1 - n..=last].fill(0);
    fs::write(path, &bytes).unwrap();
}

#[test]
fn a_torn_entry_after_a_truncation_record_is_cut_off_and_the_truncation_kept() {
    let d = tempfile::tempdir().unwrap();
    let mut wal = write(d.path(), 1..=10);
    wal.truncate_after(4).unwrap();
    append_rewritten(&mut wal, 5..=6);
    wal.sync().unwrap();
    drop(wal);
    tear_last_bytes(&d.path().join(seg(1)), 3);
    let (mut wal, rec) = open(d.path());
    assert_eq!(rec.entries, old_then_new(4, 5..=5));
    assert!(rec.repaired_tail.is_some());
    assert_eq!(wal.last_index(), 5);
    append_rewritten(&mut wal, 6..=6);
    wal.sync().unwrap();
    drop(wal);
    let rec = open(d.path()).1;
    assert_eq!(
        (rec.entries, rec.repaired_tail),
        (old_then_new(4, 5..=6), None)
    );
}

#[test]
fn a_torn_truncation_record_is_cut_off_and_the_old_tail_is_what_survives() {
    let d = tempfile::tempdir().unwrap();
    let mut wal = write(d.path(), 1..=10);
    wal.truncate_after(4).unwrap();
    wal.sync().unwrap();
    drop(wal);
    let path = d.path().join(seg(1));
    let end = record_offsets(1..=10)[10];
    // Half of the truncation record's header reached the disk.
    let mut bytes = fs::read(&path).unwrap();
    bytes[end + 10..end + RECORD_HEADER_BYTES].fill(0);
    fs::write(&path, &bytes).unwrap();
    let (wal, rec) = open(d.path());
    assert_eq!(rec.entries, entries(1..=10));
    assert_eq!(rec.repaired_tail.map(|r| r.offset), Some(end as u64));
    assert_eq!(wal.last_index(), 10);
}

/// Writes a segment file made of the given records, preallocated like the Wal does.
fn craft_segment(dir: &Path, first: u64, recs: &[(Kind, u64, Vec<u8>)]) -> Vec<usize> {
    let mut buf = encode_segment_header(first).to_vec();
    let mut starts = vec![];
    for (kind, index, payload) in recs {
        starts.push(buf.len());
        encode_record(&mut buf, *kind, *index, payload);
    }
    buf.resize(1024, 0);
    fs::write(dir.join(seg(first)), &buf).unwrap();
    starts
}

#[test]
fn a_forward_gap_after_a_truncation_is_still_refused_with_file_and_offset() {
    let d = tempfile::tempdir().unwrap();
    let starts = craft_segment(
        d.path(),
        1,
        &[
            (Kind::Entry, 1, payload(1)),
            (Kind::Entry, 2, payload(2)),
            (Kind::Entry, 3, payload(3)),
            (Kind::Truncate, 1, vec![]),
            (Kind::Entry, 3, rewritten(3)),
        ],
    );
    let err = Wal::open(d.path(), small()).unwrap_err();
    assert!(
        matches!(err, LogError::CorruptSegment { offset, .. } if offset == starts[4] as u64),
        "{err}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains(&seg(1)) && msg.contains("found entry 3 where entry 2 belongs"),
        "{msg}"
    );
}

#[test]
fn a_segment_starting_inside_the_previous_one_is_refused_unless_it_truncates_it() {
    let d = tempfile::tempdir().unwrap();
    let e = |i: u64| (Kind::Entry, i, payload(i));
    craft_segment(d.path(), 1, &[e(1), e(2), e(3), e(4)]);
    craft_segment(d.path(), 3, &[(Kind::Entry, 3, rewritten(3))]);
    let msg = Wal::open(d.path(), small()).unwrap_err().to_string();
    assert!(
        msg.contains(&seg(3)) && msg.contains("does not begin by truncating"),
        "{msg}"
    );

    craft_segment(
        d.path(),
        3,
        &[(Kind::Truncate, 2, vec![]), (Kind::Entry, 3, rewritten(3))],
    );
    let (wal, rec) = open(d.path());
    assert_eq!(rec.entries, old_then_new(2, 3..=3));
    assert_eq!(wal.last_index(), 3);
}

#[test]
fn truncating_below_the_snapshot_is_refused_and_at_or_past_the_end_is_a_no_op() {
    let d = tempfile::tempdir().unwrap();
    let mut wal = write(d.path(), 1..=20);
    wal.install_snapshot(8, b"s", 1).unwrap();
    let err = wal.truncate_after(7).unwrap_err();
    assert!(
        matches!(
            err,
            LogError::TruncateBelowSnapshot {
                index: 7,
                snapshot: 8
            }
        ),
        "{err}"
    );
    // A refused truncation does no harm.
    wal.truncate_after(20).unwrap();
    wal.truncate_after(500).unwrap();
    assert_eq!(wal.last_index(), 20);
    wal.truncate_after(8).unwrap();
    assert_eq!(wal.last_index(), 8);
    append_rewritten(&mut wal, 9..=9);
    wal.sync().unwrap();
    drop(wal);
    let (wal, rec) = open(d.path());
    assert_eq!(rec.snapshot.map(|s| s.0), Some(8));
    assert_eq!(rec.entries, vec![(9, rewritten(9))]);
    // The snapshot recovered from bounds truncation too.
    let mut wal = wal;
    assert!(matches!(
        wal.truncate_after(3),
        Err(LogError::TruncateBelowSnapshot { .. })
    ));
}

#[test]
fn truncating_to_the_snapshot_when_every_segment_starts_after_it_empties_the_log() {
    let d = tempfile::tempdir().unwrap();
    let mut wal = write(d.path(), 1..=10);
    wal.install_snapshot(10, b"s", 1).unwrap();
    assert!(seg_firsts(d.path()).is_empty());
    for i in 11..=60 {
        wal.append(i, &payload(i)).unwrap();
    }
    wal.sync().unwrap();
    assert_eq!(seg_firsts(d.path())[0], 11);
    wal.truncate_after(10).unwrap();
    assert!(seg_firsts(d.path()).is_empty());
    assert_eq!(wal.last_index(), 10);
    append_rewritten(&mut wal, 11..=11);
    wal.sync().unwrap();
    drop(wal);
    let (wal, rec) = open(d.path());
    assert_eq!(rec.entries, vec![(11, rewritten(11))]);
    assert_eq!(wal.last_index(), 11);
}

/// Fills segment 1 of `small()` options to 20 bytes short of its end with entries 1 to 5,
/// syncs, then truncates after 4: the truncation record takes the room appends kept free, and
/// the segment is full to the byte.
fn full_first_segment(dir: &Path) -> (Wal, impl Fn(u64) -> Vec<u8>) {
    // Four 200-byte records and one of 180: 24 + 980 = 1004 bytes, 20 to spare.
    let p = |i: u64| vec![i as u8; if i == 5 { 160 } else { 180 }];
    let (mut wal, _) = open(dir);
    for i in 1..=5 {
        wal.append(i, &p(i)).unwrap();
    }
    wal.truncate_after(4).unwrap();
    wal.sync().unwrap();
    assert_eq!(seg_firsts(dir), vec![1]);
    (wal, p)
}

#[test]
fn a_truncation_into_a_full_earlier_segment_goes_into_a_new_segment_that_truncates_it() {
    let d = tempfile::tempdir().unwrap();
    let (mut wal, p) = full_first_segment(d.path());
    let old = |upto: u64| (1..=upto).map(|i| (i, p(i))).collect::<Vec<_>>();
    wal.append(5, b"five").unwrap();
    wal.sync().unwrap();
    assert_eq!(seg_firsts(d.path()), vec![1, 5]);

    wal.truncate_after(3).unwrap();
    assert_eq!(seg_firsts(d.path()), vec![1, 4]);
    wal.append(4, b"four").unwrap();
    wal.sync().unwrap();
    drop(wal);
    let (mut wal, rec) = open(d.path());
    let mut want = old(3);
    want.push((4, b"four".to_vec()));
    assert_eq!(rec.entries, want);

    // Again to the same point: the segment named 4 is replaced by rename, not deleted first.
    wal.truncate_after(3).unwrap();
    assert_eq!(seg_firsts(d.path()), vec![1, 4]);
    wal.append(4, b"four again").unwrap();
    wal.sync().unwrap();
    drop(wal);
    let (mut wal, rec) = open(d.path());
    assert_eq!(rec.entries.last(), Some(&(4, b"four again".to_vec())));

    // Further back: the segment named 4 goes and one named 3 truncates the full one.
    wal.truncate_after(2).unwrap();
    assert_eq!(seg_firsts(d.path()), vec![1, 3]);
    wal.sync().unwrap();
    drop(wal);
    let (wal, rec) = open(d.path());
    assert_eq!(rec.entries, old(2));
    assert_eq!(wal.last_index(), 2);
}

#[test]
fn a_truncation_that_does_not_fit_the_active_segment_goes_into_a_new_segment() {
    let d = tempfile::tempdir().unwrap();
    let (mut wal, p) = full_first_segment(d.path());
    wal.truncate_after(2).unwrap();
    assert_eq!(seg_firsts(d.path()), vec![1, 3]);
    assert_eq!(wal.last_index(), 2);
    wal.append(3, b"three").unwrap();
    wal.sync().unwrap();
    drop(wal);
    let (wal, rec) = open(d.path());
    assert_eq!(
        rec.entries,
        vec![(1, p(1)), (2, p(2)), (3, b"three".to_vec())]
    );
    assert_eq!(wal.last_index(), 3);
}

#[test]
fn a_committed_record_comes_back_after_sync_and_not_before() {
    let d = tempfile::tempdir().unwrap();
    let mut wal = write(d.path(), 1..=5);
    wal.append_committed(3, b"term 2, index 3").unwrap();
    assert_eq!(wal.last_index(), 5);
    drop(wal);
    assert_eq!(open(d.path()).1.committed, None);

    let (mut wal, _) = open(d.path());
    wal.append_committed(3, b"term 2, index 3").unwrap();
    wal.append(6, &payload(6)).unwrap();
    wal.append_committed(5, b"term 2, index 5").unwrap();
    wal.sync().unwrap();
    wal.append_committed(6, b"not synced").unwrap();
    drop(wal);
    let rec = open(d.path()).1;
    assert_eq!(rec.committed, Some((5, b"term 2, index 5".to_vec())));
    assert_eq!(rec.entries, entries(1..=6));

    let (mut wal, _) = open(d.path());
    let err = wal
        .append_committed(7, &[0u8; MAX_COMMITTED_BYTES + 1])
        .unwrap_err();
    assert!(matches!(err, LogError::CommittedTooLarge { .. }), "{err}");
    // Not poisoned by a refused record.
    wal.append_committed(6, &[1u8; MAX_COMMITTED_BYTES])
        .unwrap();
    wal.sync().unwrap();
    drop(wal);
    assert_eq!(
        open(d.path()).1.committed,
        Some((6, vec![1u8; MAX_COMMITTED_BYTES]))
    );
}

#[test]
fn the_newest_committed_record_survives_purging_the_segment_it_was_written_in() {
    let d = tempfile::tempdir().unwrap();
    let mut wal = write(d.path(), 1..=3);
    wal.append_committed(2, b"c2").unwrap();
    for i in 4..=60 {
        wal.append(i, &payload(i)).unwrap();
    }
    wal.sync().unwrap();
    wal.install_snapshot(55, b"s", 1).unwrap();
    assert!(seg_firsts(d.path())[0] > 3);
    drop(wal);
    let (mut wal, rec) = open(d.path());
    assert_eq!(rec.committed, Some((2, b"c2".to_vec())));

    // Past the end every segment goes; the next segment carries the record again.
    wal.install_snapshot(100, b"t", 1).unwrap();
    assert!(seg_firsts(d.path()).is_empty());
    wal.append(101, &payload(101)).unwrap();
    wal.sync().unwrap();
    drop(wal);
    assert_eq!(open(d.path()).1.committed, Some((2, b"c2".to_vec())));
}

#[test]
fn committed_records_filling_a_segment_without_entries_replace_it_under_the_same_name() {
    let d = tempfile::tempdir().unwrap();
    let mut wal = write(d.path(), 1..=3);
    for n in 0..40u8 {
        wal.append_committed(3, &[n; 100]).unwrap();
        if n % 3 == 0 {
            wal.sync().unwrap();
        }
    }
    wal.sync().unwrap();
    assert_eq!(seg_firsts(d.path()), vec![1, 4]);
    drop(wal);
    let (mut wal, rec) = open(d.path());
    assert_eq!(rec.committed, Some((3, vec![39u8; 100])));
    assert_eq!(rec.entries, entries(1..=3));
    // A largest entry still fits in the segment that holds only committed records.
    wal.append(4, &[4u8; 200]).unwrap();
    wal.sync().unwrap();
    assert_eq!(seg_firsts(d.path()), vec![1, 4]);
    drop(wal);
    let rec = open(d.path()).1;
    assert_eq!(rec.entries.last(), Some(&(4, vec![4u8; 200])));
    assert_eq!(rec.committed, Some((3, vec![39u8; 100])));
}

#[test]
fn the_state_file_round_trips_and_is_replaced_whole() {
    let d = tempfile::tempdir().unwrap();
    let (mut wal, rec) = open(d.path());
    assert_eq!(rec.state, None);
    wal.save_state(b"vote: term 1 for 1").unwrap();
    drop(wal);
    let (mut wal, rec) = open(d.path());
    assert_eq!(rec.state.as_deref(), Some(&b"vote: term 1 for 1"[..]));
    wal.save_state(b"vote: term 2 for 3; purged 0").unwrap();
    // A crash during a later save leaves only a temp file behind; the last saved state stands.
    fs::write(d.path().join(dir::tmp_name(dir::STATE_FILE)), b"half").unwrap();
    drop(wal);
    let (mut wal, rec) = open(d.path());
    assert_eq!(
        rec.state.as_deref(),
        Some(&b"vote: term 2 for 3; purged 0"[..])
    );
    assert_eq!(files(d.path(), "raft-state"), vec![dir::STATE_FILE]);

    let err = wal.save_state(&vec![0u8; MAX_STATE_BYTES + 1]).unwrap_err();
    assert!(matches!(err, LogError::StateTooLarge { .. }), "{err}");
    // A refused state leaves the handle working and the old state in place.
    wal.append(1, b"one").unwrap();
    wal.sync().unwrap();
    drop(wal);
    assert_eq!(
        open(d.path()).1.state.as_deref(),
        Some(&b"vote: term 2 for 3; purged 0"[..])
    );
}

#[test]
fn a_damaged_state_file_refuses_to_open_naming_it() {
    let d = tempfile::tempdir().unwrap();
    let (mut wal, _) = open(d.path());
    wal.save_state(b"vote: term 9 for 2").unwrap();
    drop(wal);
    let path = d.path().join(dir::STATE_FILE);
    let mut bytes = fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    fs::write(&path, &bytes).unwrap();
    let err = Wal::open(d.path(), small()).unwrap_err();
    assert!(matches!(err, LogError::CorruptState { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains(dir::STATE_FILE) && msg.contains("checksum mismatch"),
        "{msg}"
    );
}

#[test]
fn purge_past_the_end_empties_the_log_and_appends_continue_after_the_snapshot() {
    let d = tempfile::tempdir().unwrap();
    let mut wal = write(d.path(), 1..=40);
    // A snapshot received from the leader, far ahead of this log.
    write_snapshot_file(d.path(), 100, b"from the leader").unwrap();
    // Asking for more than the snapshot covers moves only as far as the snapshot.
    wal.purge(150, 1).unwrap();
    assert!(seg_firsts(d.path()).is_empty());
    assert_eq!(wal.last_index(), 100);
    assert!(matches!(
        wal.append(41, b"x"),
        Err(LogError::OutOfOrder { .. })
    ));
    assert!(matches!(
        wal.truncate_after(99),
        Err(LogError::TruncateBelowSnapshot { .. })
    ));
    wal.append(101, &payload(101)).unwrap();
    wal.sync().unwrap();
    drop(wal);
    let (wal, rec) = open(d.path());
    assert_eq!(rec.snapshot, Some((100, b"from the leader".to_vec())));
    assert_eq!(rec.entries, entries(101..=101));
    assert_eq!(wal.last_index(), 101);
    assert_eq!(seg_firsts(d.path()), vec![101]);
}

#[test]
fn purge_past_the_end_drops_buffered_entries_the_snapshot_already_holds() {
    let d = tempfile::tempdir().unwrap();
    let mut wal = write(d.path(), 1..=5);
    wal.append(6, &payload(6)).unwrap();
    write_snapshot_file(d.path(), 6, b"s").unwrap();
    wal.purge(6, 1).unwrap();
    assert!(seg_firsts(d.path()).is_empty());
    assert_eq!(wal.last_index(), 6);
    wal.sync().unwrap();
    wal.append(7, &payload(7)).unwrap();
    wal.sync().unwrap();
    drop(wal);
    let rec = open(d.path()).1;
    assert_eq!(rec.snapshot.map(|s| s.0), Some(6));
    assert_eq!(rec.entries, entries(7..=7));
}

/// Writes a version-1 segment (before record kinds), as older builds left them.
fn craft_v1_segment(dir: &Path, range: std::ops::RangeInclusive<u64>) {
    let mut buf = crate::record::encode_segment_header_v1(*range.start()).to_vec();
    for i in range.clone() {
        crate::record::encode_record_v1(&mut buf, i, &payload(i));
    }
    buf.resize(1024, 0);
    fs::write(dir.join(seg(*range.start())), &buf).unwrap();
}

#[test]
fn version_one_segments_are_still_read_and_new_records_go_to_a_new_segment() {
    let d = tempfile::tempdir().unwrap();
    craft_v1_segment(d.path(), 1..=6);
    craft_v1_segment(d.path(), 7..=9);
    let (mut wal, rec) = open(d.path());
    assert_eq!(rec.entries, entries(1..=9));
    assert_eq!(wal.last_index(), 9);
    let v1_bytes = fs::read(d.path().join(seg(7))).unwrap();
    wal.append(10, &payload(10)).unwrap();
    wal.append_committed(9, b"c").unwrap();
    wal.sync().unwrap();
    // The old segment is left exactly as it was.
    assert_eq!(fs::read(d.path().join(seg(7))).unwrap(), v1_bytes);
    assert_eq!(seg_firsts(d.path()), vec![1, 7, 10]);
    drop(wal);
    let (mut wal, rec) = open(d.path());
    assert_eq!(rec.entries, entries(1..=10));
    assert_eq!(rec.committed, Some((9, b"c".to_vec())));

    // A truncation into a version-1 segment cannot append to it: a new segment truncates it.
    wal.truncate_after(8).unwrap();
    assert_eq!(seg_firsts(d.path()), vec![1, 7, 9]);
    assert_eq!(fs::read(d.path().join(seg(7))).unwrap(), v1_bytes);
    append_rewritten(&mut wal, 9..=10);
    wal.sync().unwrap();
    drop(wal);
    let (mut wal, rec) = open(d.path());
    assert_eq!(rec.entries, old_then_new(8, 9..=10));
    // Back to the end of the older one: nothing to record, the new segment goes.
    wal.truncate_after(6).unwrap();
    assert_eq!(seg_firsts(d.path()), vec![1]);
    wal.sync().unwrap();
    drop(wal);
    let (wal, rec) = open(d.path());
    assert_eq!(rec.entries, entries(1..=6));
    assert_eq!(wal.last_index(), 6);
}

#[test]
fn a_version_one_log_with_a_torn_tail_is_repaired_like_any_other() {
    let d = tempfile::tempdir().unwrap();
    craft_v1_segment(d.path(), 1..=4);
    tear_last_bytes(&d.path().join(seg(1)), 2);
    let (mut wal, rec) = open(d.path());
    assert_eq!(rec.entries, entries(1..=3));
    assert!(rec.repaired_tail.is_some());
    wal.append(4, b"four").unwrap();
    wal.sync().unwrap();
    drop(wal);
    assert_eq!(
        open(d.path()).1.entries.last(),
        Some(&(4, b"four".to_vec()))
    );
}

#[derive(Debug, Clone)]
enum RaftOp {
    Append(usize),
    Truncate(u8),
    Committed,
    Sync,
    Reopen,
    Snapshot(u8),
}

fn raft_op() -> impl Strategy<Value = RaftOp> {
    prop_oneof![
        6 => (1usize..12).prop_map(RaftOp::Append),
        3 => any::<u8>().prop_map(RaftOp::Truncate),
        1 => Just(RaftOp::Committed),
        3 => Just(RaftOp::Sync),
        2 => Just(RaftOp::Reopen),
        1 => any::<u8>().prop_map(RaftOp::Snapshot),
    ]
}

/// The payload of entry `i` written as the `generation`th append: a rewritten entry differs
/// from the one it replaces, so a resurrected old entry cannot pass for the new one.
fn generation_payload(i: u64, generation: u64) -> Vec<u8> {
    format!("{i}/{generation};")
        .repeat((generation % 7 + 1) as usize)
        .into_bytes()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Against a model (a Vec of payloads): after any sequence of appends, truncations,
    /// committed records, syncs, snapshots and restarts, a reopen recovers a prefix of a state
    /// the log passed through since the last sync, no shorter than what was synced or a
    /// truncation since kept; right after a sync, exactly the model.
    #[test]
    fn truncation_and_recovery_match_a_model(ops in proptest::collection::vec(raft_op(), 1..40)) {
        let d = tempfile::tempdir().unwrap();
        let (mut wal, _) = open(d.path());
        let mut model: Vec<Vec<u8>> = Vec::new();
        // The newest snapshot taken (0 when none, as a bound), and whether there is one.
        let mut snap = 0u64;
        let mut snapped = false;
        let mut generation = 0u64;
        // States of the log since the last sync, the synced one first.
        let mut since_sync: Vec<Vec<Vec<u8>>> = vec![vec![]];
        let mut floor = 0u64;
        let mut committed: Option<(u64, Vec<u8>)> = None;
        // Whether the newest committed record is surely on disk.
        let mut committed_sure = true;
        let mut committed_synced = true;
        for op in ops {
            match op {
                RaftOp::Append(n) => {
                    for _ in 0..n {
                        let i = model.len() as u64 + 1;
                        generation += 1;
                        let p = generation_payload(i, generation);
                        wal.append(i, &p).unwrap();
                        model.push(p);
                    }
                    since_sync.push(model.clone());
                }
                RaftOp::Truncate(back) => {
                    let last = model.len() as u64;
                    let at = last.saturating_sub(u64::from(back % 24)).max(snap);
                    wal.truncate_after(at).unwrap();
                    prop_assert_eq!(wal.last_index(), at.max(last.min(at)));
                    if at < last {
                        model.truncate(at as usize);
                        since_sync.push(model.clone());
                        floor = floor.min(at);
                        // Its segment may be gone; the copy returns with the next segment.
                        committed_sure = false;
                    }
                }
                RaftOp::Committed => {
                    generation += 1;
                    let c = (model.len() as u64, format!("c{generation}").into_bytes());
                    wal.append_committed(c.0, &c.1).unwrap();
                    committed = Some(c);
                    committed_sure = true;
                    committed_synced = false;
                }
                RaftOp::Sync => {
                    wal.sync().unwrap();
                    since_sync = vec![model.clone()];
                    floor = model.len() as u64;
                    committed_synced = true;
                }
                RaftOp::Snapshot(back) => {
                    let at = (model.len() as u64).saturating_sub(u64::from(back % 16));
                    if at >= snap {
                        wal.install_snapshot(at, &at.to_le_bytes(), 2).unwrap();
                        snap = at;
                        snapped = true;
                        since_sync = vec![model.clone()];
                        floor = model.len() as u64;
                        committed_synced = true;
                        if at == model.len() as u64 {
                            // Every segment may have gone; the record is in memory only.
                            committed_sure = false;
                        }
                    }
                }
                RaftOp::Reopen => {
                    drop(wal);
                    let (w, rec) = open(d.path());
                    wal = w;
                    let recovered = wal.last_index();
                    prop_assert_eq!(rec.snapshot.as_ref().map(|s| s.0), snapped.then_some(snap));
                    prop_assert!(recovered >= floor.max(snap), "recovered {} below {}", recovered, floor);
                    prop_assert_eq!(rec.entries.len() as u64, recovered - snap);
                    for (k, (i, _)) in rec.entries.iter().enumerate() {
                        prop_assert_eq!(*i, snap + 1 + k as u64);
                    }
                    let matches_a_state = since_sync.iter().any(|state| {
                        state.len() as u64 >= recovered
                            && rec.entries.iter().all(|(i, p)| state[*i as usize - 1] == *p)
                    });
                    prop_assert!(matches_a_state, "recovered {:?} is no state since the sync", rec.entries);
                    if committed_sure && committed_synced {
                        prop_assert_eq!(&rec.committed, &committed);
                    }
                    // What was recovered is durable: it is the model now.
                    let state = since_sync
                        .iter()
                        .find(|s| {
                            s.len() as u64 >= recovered
                                && rec.entries.iter().all(|(i, p)| s[*i as usize - 1] == *p)
                        })
                        .unwrap()
                        .clone();
                    model = state[..recovered as usize].to_vec();
                    since_sync = vec![model.clone()];
                    floor = recovered;
                    committed = rec.committed.clone();
                    committed_sure = true;
                    committed_synced = true;
                }
            }
        }
        wal.sync().unwrap();
        drop(wal);
        let (wal, rec) = open(d.path());
        prop_assert_eq!(wal.last_index(), model.len() as u64);
        let want: Vec<(u64, Vec<u8>)> = model
            .iter()
            .enumerate()
            .skip(snap as usize)
            .map(|(k, p)| (k as u64 + 1, p.clone()))
            .collect();
        prop_assert_eq!(rec.entries, want);
    }
}
