//! Crash-and-reopen tests of the log store, in the style of `watchkeeper-log`'s `wal_tests`.
//!
//! A "crash" drops the store: its thread drains the commands already sent, then drops the WAL
//! (without a final sync), which releases the directory; [`reopen`] waits for that and opens
//! the directory afresh, so everything asserted after a reopen came back from the disk. What
//! was acknowledged durable must be there; a committed record that no sync carried may be
//! missing (it is best effort, and only ever older).

use std::collections::BTreeSet;

use bytes::Bytes;
use openraft::entry::RaftEntry;
use openraft::storage::{
    IOFlushed, LogState, RaftLogReader, RaftLogStorage, RaftSnapshotBuilder, RaftStateMachine,
};
use openraft::{EntryPayload, Membership, StoredMembership};
use watchkeeper_tree::{DataTree, Op};

use super::{append, reopen, state_machine};
use crate::Proposal;
use crate::log_store::{LogStore, Opened};
use crate::state_machine::StateMachine;
use crate::types::{Entry, LogId, Vote};

fn lid(term: u64, index: u64) -> LogId {
    LogId::new_term_index(term, index)
}

fn blank(term: u64, index: u64) -> Entry {
    Entry {
        log_id: lid(term, index),
        payload: EntryPayload::Blank,
    }
}

/// A session id the tree accepts (not reserved for container or TTL markers).
fn session_of(index: u64) -> i64 {
    0x0100_0000_0000_0000 + index as i64
}

/// A real client write: a `CreateSession` entry as the server encodes it.
fn proposal(term: u64, index: u64) -> Entry {
    let entry = watchkeeper_tree::Entry {
        session: session_of(index),
        time: 1_700_000_000_000,
        auth: Vec::new(),
        op: Op::CreateSession {
            timeout_ms: 30_000,
            password: vec![index as u8; 16],
            owner: 0,
        },
    };
    let mut bytes = Vec::new();
    entry.encode(&mut bytes);
    Entry {
        log_id: lid(term, index),
        payload: EntryPayload::Normal(Proposal {
            origin: 1,
            incarnation: 1,
            seq: index,
            entry: Bytes::from(bytes),
        }),
    }
}

fn membership(term: u64, index: u64, voters: &[u64]) -> Entry {
    let set: BTreeSet<u64> = voters.iter().copied().collect();
    Entry {
        log_id: lid(term, index),
        payload: EntryPayload::Membership(Membership::new_with_defaults(vec![set], [])),
    }
}

fn proposals(term: u64, range: std::ops::RangeInclusive<u64>) -> Vec<Entry> {
    range.map(|i| proposal(term, i)).collect()
}

async fn all_entries(store: &mut LogStore) -> Vec<Entry> {
    store.try_get_log_entries(0..).await.unwrap()
}

async fn log_state(store: &mut LogStore) -> (Option<LogId>, Option<LogId>) {
    let LogState {
        last_purged_log_id,
        last_log_id,
    } = store.get_log_state().await.unwrap();
    (last_purged_log_id, last_log_id)
}

async fn apply(sm: &mut StateMachine, entries: Vec<Entry>) {
    let stream = futures::stream::iter(entries.into_iter().map(|e| Ok((e, None))));
    sm.apply(stream).await.unwrap();
}

/// Terms never go down along the log, and indexes follow each other.
fn assert_well_formed(entries: &[Entry]) {
    for w in entries.windows(2) {
        assert_eq!(w[1].index(), w[0].index() + 1, "a hole in the log");
        assert!(
            w[1].log_id().committed_leader_id().term >= w[0].log_id().committed_leader_id().term,
            "term regression: {} after {}",
            w[1].log_id(),
            w[0].log_id()
        );
    }
}

#[tokio::test]
async fn a_truncated_tail_never_comes_back_behind_a_newer_term() {
    let d = tempfile::tempdir().unwrap();
    let Opened { mut store, .. } = reopen(d.path());
    append(&mut store, proposals(1, 0..=9)).await.unwrap();
    store.truncate_after(Some(lid(1, 4))).await.unwrap();
    append(&mut store, proposals(2, 5..=7)).await.unwrap();
    drop(store);

    let Opened { mut store, .. } = reopen(d.path());
    let mut want = proposals(1, 0..=4);
    want.extend(proposals(2, 5..=7));
    let got = all_entries(&mut store).await;
    assert_eq!(
        got, want,
        "the term-2 entries, and no term-1 entry after them"
    );
    assert_well_formed(&got);
    assert_eq!(log_state(&mut store).await, (None, Some(lid(2, 7))));
    // The old term-1 entries 8 and 9 are gone for good: the next append is 8.
    assert!(store.try_get_log_entries(8..).await.unwrap().is_empty());
    append(&mut store, proposals(2, 8..=8)).await.unwrap();
    drop(store);
    let Opened { mut store, .. } = reopen(d.path());
    want.push(proposal(2, 8));
    assert_eq!(all_entries(&mut store).await, want);
}

/// Rounds of "truncate somewhere, append in a newer term, crash", some of them with the appends
/// still in flight when the store is dropped, checked against a model after every reopen.
#[tokio::test]
async fn rounds_of_truncation_and_newer_terms_match_a_model() {
    let d = tempfile::tempdir().unwrap();
    let mut model: Vec<Entry> = Vec::new();
    let Opened { mut store, .. } = reopen(d.path());
    append(&mut store, proposals(1, 0..=19)).await.unwrap();
    model.extend(proposals(1, 0..=19));
    // (term, keep entries up to this index (None: keep nothing), how many to append, wait for
    // their flush before the crash)
    let rounds: [(u64, Option<u64>, u64, bool); 7] = [
        (2, Some(15), 3, true),
        (3, Some(17), 10, false),
        (4, Some(2), 5, true),
        (5, Some(7), 1, false),
        (6, None, 4, true),
        (7, Some(0), 30, false),
        (8, Some(29), 2, true),
    ];
    for (term, keep, count, wait) in rounds {
        store
            .truncate_after(keep.map(|k| model[k as usize].log_id()))
            .await
            .unwrap();
        model.truncate(keep.map_or(0, |k| k as usize + 1));
        let from = model.len() as u64;
        // A new leader's blank entry first, then its writes.
        let mut batch = vec![blank(term, from)];
        batch.extend(proposals(term, from + 1..=from + count - 1));
        if wait {
            append(&mut store, batch.clone()).await.unwrap();
        } else {
            // Crash with the flush still pending: the thread finishes what it was sent.
            store
                .append(batch.clone(), IOFlushed::noop())
                .await
                .unwrap();
        }
        model.extend(batch);
        drop(store);

        let Opened { store: s, .. } = reopen(d.path());
        store = s;
        let got = all_entries(&mut store).await;
        assert_eq!(got, model, "after the round of term {term}");
        assert_well_formed(&got);
        assert_eq!(
            log_state(&mut store).await,
            (None, model.last().map(|e| e.log_id()))
        );
    }
}

#[tokio::test]
async fn a_saved_vote_survives_a_crash() {
    let d = tempfile::tempdir().unwrap();
    let Opened { mut store, .. } = reopen(d.path());
    assert_eq!(store.read_vote().await.unwrap(), None);
    store.save_vote(&Vote::new(3, 2)).await.unwrap();
    drop(store);

    let Opened { mut store, .. } = reopen(d.path());
    assert_eq!(store.read_vote().await.unwrap(), Some(Vote::new(3, 2)));
    store.save_vote(&Vote::new_committed(4, 1)).await.unwrap();
    drop(store);

    let Opened { mut store, .. } = reopen(d.path());
    assert_eq!(
        store.read_vote().await.unwrap(),
        Some(Vote::new_committed(4, 1))
    );
    // Readers see the same vote.
    let mut reader = store.get_log_reader().await;
    assert_eq!(
        reader.read_vote().await.unwrap(),
        Some(Vote::new_committed(4, 1))
    );
}

#[tokio::test]
async fn a_purge_survives_a_crash_and_keeps_the_vote() {
    let d = tempfile::tempdir().unwrap();
    let Opened { mut store, .. } = reopen(d.path());
    append(&mut store, proposals(1, 0..=9)).await.unwrap();
    store.save_vote(&Vote::new_committed(1, 1)).await.unwrap();
    store.purge(lid(1, 4)).await.unwrap();
    drop(store);

    let Opened { mut store, .. } = reopen(d.path());
    assert_eq!(
        log_state(&mut store).await,
        (Some(lid(1, 4)), Some(lid(1, 9)))
    );
    assert_eq!(all_entries(&mut store).await, proposals(1, 5..=9));
    assert!(store.try_get_log_entries(0..5).await.unwrap().is_empty());
    assert_eq!(
        store.read_vote().await.unwrap(),
        Some(Vote::new_committed(1, 1))
    );
    // The log goes on after the purge, and a later purge of everything left also holds.
    append(&mut store, proposals(1, 10..=11)).await.unwrap();
    store.purge(lid(1, 11)).await.unwrap();
    drop(store);

    let Opened { mut store, .. } = reopen(d.path());
    assert_eq!(
        log_state(&mut store).await,
        (Some(lid(1, 11)), Some(lid(1, 11)))
    );
    assert!(all_entries(&mut store).await.is_empty());
    append(&mut store, proposals(2, 12..=12)).await.unwrap();
    drop(store);
    let Opened { mut store, .. } = reopen(d.path());
    assert_eq!(all_entries(&mut store).await, proposals(2, 12..=12));
}

#[tokio::test]
async fn a_committed_position_survives_a_crash_once_a_sync_carried_it() {
    let d = tempfile::tempdir().unwrap();
    let Opened { mut store, .. } = reopen(d.path());
    append(&mut store, proposals(1, 0..=9)).await.unwrap();
    store.save_committed(Some(lid(1, 7))).await.unwrap();
    assert_eq!(store.read_committed().await.unwrap(), Some(lid(1, 7)));
    // The committed record rides the next sync.
    append(&mut store, proposals(1, 10..=10)).await.unwrap();
    drop(store);

    let Opened { mut store, .. } = reopen(d.path());
    assert_eq!(store.read_committed().await.unwrap(), Some(lid(1, 7)));

    // With no sync after it, a newer committed position may be lost, but what comes back is
    // never newer than what was saved last, nor older than what a sync carried.
    store.save_committed(Some(lid(1, 9))).await.unwrap();
    drop(store);
    let Opened { mut store, .. } = reopen(d.path());
    let got = store.read_committed().await.unwrap();
    assert!(
        got == Some(lid(1, 7)) || got == Some(lid(1, 9)),
        "committed after reopen: {got:?}"
    );
}

/// The leader's side: the state machine builds a snapshot of what it applied, the log is
/// purged to it, the log goes on, and a crash brings back the snapshot and the log after it.
#[tokio::test]
async fn a_built_snapshot_and_the_log_after_it_survive_a_crash() {
    let d = tempfile::tempdir().unwrap();
    let Opened {
        mut store,
        snapshot,
    } = reopen(d.path());
    assert!(snapshot.is_none());
    let (mut sm, core) = state_machine(d.path(), snapshot);
    let mut log = vec![membership(1, 0, &[1, 2, 3])];
    log.extend(proposals(1, 1..=5));
    append(&mut store, log.clone()).await.unwrap();
    apply(&mut sm, log).await;
    assert_eq!(core.tree().last_zxid(), 5);

    let snap = sm
        .get_snapshot_builder()
        .await
        .build_snapshot()
        .await
        .unwrap();
    assert_eq!(snap.meta.last_log_id, Some(lid(1, 5)));
    store.purge(lid(1, 5)).await.unwrap();
    append(&mut store, proposals(1, 6..=8)).await.unwrap();
    drop((store, sm));

    let Opened {
        mut store,
        snapshot,
    } = reopen(d.path());
    let (meta, state) = snapshot.expect("the snapshot is found at open");
    assert_eq!(meta, snap.meta);
    let tree = DataTree::decode_snapshot(&state).unwrap();
    assert_eq!(tree.last_zxid(), 5);
    assert!((1..=5).all(|i| tree.session(session_of(i)).is_some()));
    assert!(tree.session(session_of(6)).is_none());
    assert_eq!(
        log_state(&mut store).await,
        (Some(lid(1, 5)), Some(lid(1, 8)))
    );
    assert_eq!(all_entries(&mut store).await, proposals(1, 6..=8));

    // A state machine started from it reports it applied.
    let (mut sm, _core) = state_machine(d.path(), Some((meta.clone(), state)));
    let (applied, members) = sm.applied_state().await.unwrap();
    assert_eq!(applied, Some(lid(1, 5)));
    assert_eq!(members, meta.last_membership);
    assert_eq!(
        sm.get_current_snapshot().await.unwrap().map(|s| s.meta),
        Some(meta)
    );
}

/// Builds a leader's snapshot at (2, 10): a membership, then sessions created at 1..=10.
async fn leader_snapshot() -> crate::types::Snapshot {
    let d = tempfile::tempdir().unwrap();
    let Opened { snapshot, .. } = reopen(d.path());
    let (mut sm, _core) = state_machine(d.path(), snapshot);
    let mut log = vec![membership(1, 0, &[1, 2, 3])];
    log.extend(proposals(1, 1..=3));
    log.extend(proposals(2, 4..=10));
    apply(&mut sm, log).await;
    let snap = sm
        .get_snapshot_builder()
        .await
        .build_snapshot()
        .await
        .unwrap();
    assert_eq!(snap.meta.last_log_id, Some(lid(2, 10)));
    assert_eq!(
        snap.meta.last_membership,
        StoredMembership::new(
            Some(lid(1, 0)),
            Membership::new_with_defaults(vec![[1, 2, 3].into()], [])
        )
    );
    snap
}

/// A follower whose log (0..=3) is behind the leader's snapshot installs it; `purge_first`
/// says whether openraft's purge to it runs before the crash, or only after the reopen.
async fn install_then_crash(purge_first: bool) {
    let snap = leader_snapshot().await;
    let d = tempfile::tempdir().unwrap();
    let Opened {
        mut store,
        snapshot,
    } = reopen(d.path());
    let (mut sm, core) = state_machine(d.path(), snapshot);
    let mut log = vec![membership(1, 0, &[1, 2, 3])];
    log.extend(proposals(1, 1..=3));
    append(&mut store, log.clone()).await.unwrap();
    apply(&mut sm, log).await;

    sm.install_snapshot(&snap.meta, snap.snapshot.clone())
        .await
        .unwrap();
    assert_eq!(core.tree().last_zxid(), 10);
    assert!(core.tree().session(session_of(10)).is_some());
    assert_eq!(
        sm.applied_state().await.unwrap(),
        (Some(lid(2, 10)), snap.meta.last_membership.clone())
    );
    if purge_first {
        // Past the end of the log: the WAL drops it and continues after the snapshot.
        store.purge(lid(2, 10)).await.unwrap();
        assert_eq!(
            log_state(&mut store).await,
            (Some(lid(2, 10)), Some(lid(2, 10)))
        );
        append(&mut store, proposals(2, 11..=12)).await.unwrap();
    }
    drop((store, sm));

    let Opened {
        mut store,
        snapshot,
    } = reopen(d.path());
    let (meta, state) = snapshot.expect("the installed snapshot is the newest at open");
    assert_eq!(meta, snap.meta);
    assert_eq!(state, snap.snapshot.0);
    let tree = DataTree::decode_snapshot(&state).unwrap();
    assert!((1..=10).all(|i| tree.session(session_of(i)).is_some()));
    if purge_first {
        assert_eq!(
            log_state(&mut store).await,
            (Some(lid(2, 10)), Some(lid(2, 12)))
        );
        assert_eq!(all_entries(&mut store).await, proposals(2, 11..=12));
    } else {
        // Open counts everything at or below the snapshot as purged: the old 0..=3 are gone.
        assert_eq!(
            log_state(&mut store).await,
            (Some(lid(2, 10)), Some(lid(2, 10)))
        );
        assert!(all_entries(&mut store).await.is_empty());
        // openraft's purge to the snapshot, redone after the restart, changes nothing.
        store.purge(lid(2, 10)).await.unwrap();
        assert_eq!(
            log_state(&mut store).await,
            (Some(lid(2, 10)), Some(lid(2, 10)))
        );
        append(&mut store, proposals(2, 11..=12)).await.unwrap();
        drop(store);
        let Opened { store: s, .. } = reopen(d.path());
        store = s;
        assert_eq!(
            log_state(&mut store).await,
            (Some(lid(2, 10)), Some(lid(2, 12)))
        );
        assert_eq!(all_entries(&mut store).await, proposals(2, 11..=12));
    }
    let (mut sm, _core) = state_machine(d.path(), Some((meta, state)));
    assert_eq!(
        sm.applied_state().await.unwrap(),
        (Some(lid(2, 10)), snap.meta.last_membership.clone())
    );
}

#[tokio::test]
async fn an_installed_snapshot_survives_a_crash_after_the_purge() {
    install_then_crash(true).await;
}

#[tokio::test]
async fn an_installed_snapshot_survives_a_crash_before_the_purge() {
    install_then_crash(false).await;
}

/// `append` refuses a batch that does not continue the log, and the refused batch leaves no
/// trace: not in memory, not on disk, and the store goes on working.
#[tokio::test]
async fn an_append_out_of_order_is_refused_and_changes_nothing() {
    let d = tempfile::tempdir().unwrap();
    let Opened { mut store, .. } = reopen(d.path());
    // An empty log starts at 0.
    let err = append(&mut store, proposals(1, 1..=2)).await.unwrap_err();
    assert!(err.to_string().contains("out of order"), "{err}");
    assert_eq!(log_state(&mut store).await, (None, None));

    append(&mut store, proposals(1, 0..=4)).await.unwrap();
    let refused: [Vec<Entry>; 4] = [
        // A gap.
        proposals(1, 6..=7),
        // Contiguous at first, then a gap: the first two must not stay cached.
        vec![proposal(1, 5), proposal(1, 6), proposal(1, 8)],
        // Overlapping what is there (openraft truncates first).
        proposals(2, 3..=5),
        // Repeating the last one.
        proposals(1, 4..=4),
    ];
    let mut reader = store.get_log_reader().await;
    for batch in refused {
        let first = batch[0].log_id();
        assert!(
            append(&mut store, batch).await.is_err(),
            "a batch from {first} was taken"
        );
        assert_eq!(log_state(&mut store).await, (None, Some(lid(1, 4))));
        assert_eq!(all_entries(&mut store).await, proposals(1, 0..=4));
        assert_eq!(
            reader.try_get_log_entries(0..).await.unwrap(),
            proposals(1, 0..=4)
        );
    }
    append(&mut store, proposals(1, 5..=6)).await.unwrap();
    drop(store);

    let Opened { mut store, .. } = reopen(d.path());
    assert_eq!(all_entries(&mut store).await, proposals(1, 0..=6));
}

/// When the WAL refuses a write, the caller of that write hears the error, and so does every
/// later one: nothing is left waiting for a flush that will never come.
///
/// The only failure reachable without fault injection is an append the WAL cannot place: a
/// purge past the end of the log with no snapshot on disk to cover it (openraft never does
/// this: it purges only what a persisted snapshot covers) moves the cache on, but not the WAL.
#[tokio::test]
async fn a_failed_write_is_reported_to_its_caller_and_every_later_one() {
    let d = tempfile::tempdir().unwrap();
    let Opened { mut store, .. } = reopen(d.path());
    store.purge(lid(1, 2)).await.unwrap();
    // Taken into the cache, refused by the WAL: the flush callback hears why (it used to be
    // dropped unanswered).
    let err = append(&mut store, proposals(1, 3..=3)).await.unwrap_err();
    assert!(
        err.to_string().contains("append of entry 4 refused"),
        "{err}"
    );

    let err = append(&mut store, proposals(1, 4..=4)).await.unwrap_err();
    assert!(err.to_string().contains("failed earlier"), "{err}");
    assert!(store.save_vote(&Vote::new(2, 1)).await.is_err());
    assert!(store.truncate_after(Some(lid(1, 3))).await.is_err());
    assert!(store.purge(lid(1, 3)).await.is_err());
    drop(store);

    // Nothing of it reached the disk but the purge point.
    let Opened { mut store, .. } = reopen(d.path());
    assert_eq!(
        log_state(&mut store).await,
        (Some(lid(1, 2)), Some(lid(1, 2)))
    );
    assert_eq!(store.read_vote().await.unwrap(), None);
}

/// What the suite's `get_initial_state_re_apply_committed` checks (it cannot run as written:
/// its log starts at index 2), on a real restart: openraft's startup re-applies the entries up
/// to the saved committed position from the reopened log to a state machine that starts empty.
#[tokio::test]
async fn committed_entries_are_reapplied_from_the_log_after_a_restart() {
    use openraft::storage::StorageHelper;

    let d = tempfile::tempdir().unwrap();
    let Opened { mut store, .. } = reopen(d.path());
    store.save_vote(&Vote::new_committed(1, 1)).await.unwrap();
    let mut log = vec![membership(1, 0, &[1])];
    log.extend(proposals(1, 1..=5));
    append(&mut store, log).await.unwrap();
    store.save_committed(Some(lid(1, 4))).await.unwrap();
    append(&mut store, proposals(1, 6..=6)).await.unwrap();
    drop(store);

    let Opened {
        mut store,
        snapshot,
    } = reopen(d.path());
    assert!(snapshot.is_none());
    let (mut sm, core) = state_machine(d.path(), snapshot);
    let state = StorageHelper::new(&mut store, &mut sm)
        .with_id(1)
        .get_initial_state()
        .await
        .unwrap();
    assert_eq!(state.local_committed(), Some(&lid(1, 4)));
    assert_eq!(*state.vote_ref(), Vote::new_committed(1, 1));
    let (applied, members) = sm.applied_state().await.unwrap();
    assert_eq!(applied, Some(lid(1, 4)));
    assert_eq!(members.log_id(), &Some(lid(1, 0)));
    let tree = core.tree();
    assert_eq!(tree.last_zxid(), 4);
    assert!((1..=4).all(|i| tree.session(session_of(i)).is_some()));
    assert!(tree.session(session_of(5)).is_none(), "5 is not committed");
}
