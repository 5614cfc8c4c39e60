//! Tests of `Wal` against real files in temporary directories.

use std::fs;
use std::path::Path;

use proptest::prelude::*;

use super::*;
use crate::{Recovery, TailRepair, write_snapshot_file};

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
            repaired_tail: None
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
