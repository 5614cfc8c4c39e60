//! Snapshots: canonical bytes, round trips, typed errors on corrupt input, and the replay
//! property (the same entries on two trees give identical snapshots, also across a
//! snapshot/restore in the middle and through the entry byte form).

use proptest::prelude::*;
use watchkeeper_proto::jute::JuteWrite;
use watchkeeper_proto::perms::{ALL, READ};
use watchkeeper_proto::{Acl, CreateMode, Id, encode_acls};

use super::*;
use crate::entry::tests::arb_data;
use crate::{Entry, Op, OpResult};

const S1: i64 = 0x0100_0000_0000_0001;
const S2: i64 = 0x0100_0000_0000_0002;
const S3: i64 = 0x0200_0000_0000_0003;

fn entry(session: i64, time: i64, auth: Vec<Id>, op: Op) -> Entry {
    Entry {
        session,
        time,
        auth,
        op,
    }
}

fn sample_tree() -> DataTree {
    let mut t = DataTree::new();
    let ops = [
        (
            S1,
            Op::CreateSession {
                timeout_ms: 5000,
                password: vec![1; 16],
                owner: 0,
            },
        ),
        (
            S1,
            Op::create(
                "/a",
                Some(b"x".to_vec()),
                Acl::open_unsafe(),
                CreateMode::Persistent,
            ),
        ),
        (
            S1,
            Op::create(
                "/a/e",
                Some(vec![]),
                Acl::read_unsafe(),
                CreateMode::Ephemeral,
            ),
        ),
        (
            S1,
            Op::create(
                "/c",
                Some(vec![]),
                Acl::open_unsafe(),
                CreateMode::Container,
            ),
        ),
        (
            S1,
            Op::Create {
                path: "/t".into(),
                data: Some(vec![9; 3]),
                acl: vec![Acl::new(READ, Id::new("ip", "10.0.0.0/8"))],
                mode: CreateMode::PersistentSequentialWithTtl,
                ttl_ms: 1234,
            },
        ),
        (
            S1,
            Op::create(
                "/é",
                Some(vec![]),
                Acl::open_unsafe(),
                CreateMode::Persistent,
            ),
        ),
        (
            S1,
            Op::create("/n", None, Acl::open_unsafe(), CreateMode::Persistent),
        ),
        (
            S1,
            Op::SetData {
                path: "/a".into(),
                data: None,
                version: -1,
            },
        ),
    ];
    for (i, (s, op)) in ops.into_iter().enumerate() {
        let a = t.apply(i as i64 + 1, &entry(s, 100 * i as i64, vec![], op));
        assert!(a.result.is_ok(), "{a:?}");
    }
    t
}

#[test]
fn round_trip_is_byte_identical() {
    for t in [DataTree::new(), sample_tree()] {
        let bytes = t.snapshot_bytes();
        let back = DataTree::decode_snapshot(&bytes).unwrap();
        back.check_invariants();
        assert_eq!(back, t);
        assert_eq!(back.snapshot_bytes(), bytes);
        assert_eq!(back.approximate_data_size(), t.approximate_data_size());
    }
}

#[test]
fn null_and_empty_data_survive_a_round_trip() {
    let t = sample_tree();
    let back = DataTree::decode_snapshot(&t.snapshot_bytes()).unwrap();
    assert_eq!(back.node("/n").unwrap().data(), None);
    assert_eq!(back.node("/a").unwrap().data(), None);
    assert_eq!(back.node("/é").unwrap().data(), Some(&[][..]));
    assert_eq!(back.node("/zookeeper").unwrap().data(), Some(&[][..]));
    assert_eq!(back.node("/n").unwrap().stat().data_length, 0);
    // A null and an empty node differ in their bytes, and only there.
    let mut with_empty = DataTree::new();
    let mut with_null = DataTree::new();
    let mk = |data| Op::create("/x", data, Acl::open_unsafe(), CreateMode::Persistent);
    with_empty.apply(1, &entry(0, 0, vec![], mk(Some(vec![]))));
    with_null.apply(1, &entry(0, 0, vec![], mk(None)));
    assert_eq!(
        with_empty.approximate_data_size(),
        with_null.approximate_data_size()
    );
    let (e, n) = (with_empty.snapshot_bytes(), with_null.snapshot_bytes());
    assert_eq!(e.len(), n.len());
    let diff: Vec<(u8, u8)> = e
        .iter()
        .zip(&n)
        .filter(|(a, b)| a != b)
        .map(|(a, b)| (*a, *b))
        .collect();
    assert_eq!(diff, vec![(0, 0xff); 4]);
}

#[test]
fn older_format_is_refused() {
    let mut b = DataTree::new().snapshot_bytes();
    b[MAGIC.len()] = 1;
    assert_eq!(
        DataTree::decode_snapshot(&b),
        Err(SnapshotDecodeError::UnsupportedVersion(1))
    );
}

#[test]
fn identical_trees_built_differently_encode_identically() {
    // Same final state reached through different histories of the ACL table and children.
    let mut a = DataTree::new();
    let mut b = DataTree::new();
    let mk = |p: &str| Op::create(p, Some(vec![]), Acl::open_unsafe(), CreateMode::Persistent);
    a.apply(1, &entry(0, 0, vec![], mk("/x")));
    a.apply(2, &entry(0, 0, vec![], mk("/y")));
    b.apply(1, &entry(0, 0, vec![], mk("/x")));
    b.apply(2, &entry(0, 0, vec![], mk("/y")));
    assert_eq!(a.snapshot_bytes(), b.snapshot_bytes());
}

/// Hand-built snapshot bytes, for structures `encode_snapshot` never writes.
fn raw(sessions: &[i64], acls: &[Vec<Acl>], nodes: &[(&str, i32, i64)]) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    out.push(FORMAT_VERSION);
    out.write_i64(7);
    out.write_i64(7000);
    out.write_i32(sessions.len() as i32);
    for s in sessions {
        out.write_i64(*s);
        out.write_i32(1000);
        out.write_buffer(&[]);
        out.write_i64(0);
    }
    out.write_i32(acls.len() as i32);
    for a in acls {
        encode_acls(a, &mut out);
    }
    out.write_i32(nodes.len() as i32);
    for (p, acl, owner) in nodes {
        out.write_string(p);
        out.write_buffer(&[]);
        out.write_i32(*acl);
        for _ in 0..5 {
            out.write_i64(0);
        }
        for _ in 0..3 {
            out.write_i32(0);
        }
        out.write_i64(*owner);
    }
    out
}

#[test]
fn hand_built_snapshot_decodes() {
    let open = vec![Acl::open_unsafe()];
    let b = raw(&[S1], &open, &[("/", 0, 0), ("/a", 0, 0), ("/a/e", 0, S1)]);
    let t = DataTree::decode_snapshot(&b).unwrap();
    t.check_invariants();
    assert_eq!(t.last_zxid(), 7);
    assert_eq!(t.ephemerals(S1).collect::<Vec<_>>(), vec!["/a/e"]);
    assert_eq!(t.node_count(), 3);
}

#[test]
fn structural_corruption_is_a_typed_error() {
    use SnapshotDecodeError as E;
    let open = vec![Acl::open_unsafe()];
    let dec = |b: Vec<u8>| DataTree::decode_snapshot(&b).unwrap_err();
    assert_eq!(dec(raw(&[], &open, &[])), E::MissingRoot);
    assert_eq!(dec(raw(&[], &open, &[("/a", 0, 0)])), E::MissingRoot);
    assert_eq!(
        dec(raw(&[], &open, &[("/", 0, 0), ("/", 0, 0)])),
        E::DuplicateNode("/".into())
    );
    assert_eq!(
        dec(raw(&[], &open, &[("/", 0, 0), ("/a", 0, 0), ("/a", 0, 0)])),
        E::DuplicateNode("/a".into())
    );
    assert_eq!(
        dec(raw(&[], &open, &[("/", 0, 0), ("/a/b", 0, 0)])),
        E::OrphanNode("/a/b".into())
    );
    assert_eq!(
        dec(raw(&[], &open, &[("/", 0, 0), ("/a/", 0, 0)])),
        E::InvalidPath("/a/".into())
    );
    assert!(matches!(
        dec(raw(&[], &open, &[("/", 1, 0)])),
        E::AclIndex {
            index: 1,
            len: 1,
            ..
        }
    ));
    assert!(matches!(
        dec(raw(&[], &open, &[("/", -1, 0)])),
        E::AclIndex { index: -1, .. }
    ));
    assert!(matches!(
        dec(raw(
            &[],
            &open,
            &[("/", 0, 0), ("/a", 0, 0xff00_0100_0000_0001u64 as i64)]
        )),
        E::EphemeralOwner { .. }
    ));
    assert!(matches!(
        dec(raw(&[], &open, &[("/", 0, S1)])),
        E::EphemeralOwner { .. }
    ));
    assert_eq!(
        dec(raw(&[], &open, &[("/", 0, 0), ("/e", 0, S1)])),
        E::UnknownOwner {
            path: "/e".into(),
            session: S1
        }
    );
    assert_eq!(
        dec(raw(
            &[S1],
            &open,
            &[("/", 0, 0), ("/e", 0, S1), ("/e/x", 0, 0)]
        )),
        E::EphemeralParent("/e/x".into())
    );
    assert_eq!(
        dec(raw(&[S1, S1], &open, &[("/", 0, 0)])),
        E::DuplicateSession(S1)
    );
}

#[test]
fn framing_corruption_is_a_typed_error() {
    use SnapshotDecodeError as E;
    let good = sample_tree().snapshot_bytes();
    assert_eq!(DataTree::decode_snapshot(b"nope"), Err(E::BadMagic));
    assert!(matches!(DataTree::decode_snapshot(MAGIC), Err(E::Jute(_))));
    let mut v = good.clone();
    v[4] = 99;
    assert_eq!(
        DataTree::decode_snapshot(&v),
        Err(E::UnsupportedVersion(99))
    );
    let mut v = good.clone();
    v.push(0);
    assert_eq!(
        DataTree::decode_snapshot(&v),
        Err(E::Jute(DecodeError::TrailingBytes(1)))
    );
    for cut in 0..good.len() {
        assert!(
            DataTree::decode_snapshot(&good[..cut]).is_err(),
            "cut at {cut}"
        );
    }
    // A claimed count far beyond the input fails before reserving anything.
    let mut v = good[..21].to_vec();
    v.write_i32(i32::MAX);
    assert!(matches!(
        DataTree::decode_snapshot(&v),
        Err(E::Jute(DecodeError::LengthBeyondInput { .. }))
    ));
}

#[test]
fn duplicate_acl_lists_in_the_table_are_shared() {
    let open = vec![Acl::open_unsafe(), Acl::open_unsafe()];
    let b = raw(&[], &open, &[("/", 0, 0), ("/a", 1, 0)]);
    let t = DataTree::decode_snapshot(&b).unwrap();
    t.check_invariants();
    // Re-encoding is canonical: one table entry.
    let again = DataTree::decode_snapshot(&t.snapshot_bytes()).unwrap();
    assert_eq!(again, t);
}

// ---------------------------------------------------------------- random op streams

/// Mostly valid paths over a small tree, so ops often meet; a few malformed ones.
const PATHS: &[&str] = &[
    "/",
    "/a",
    "/a",
    "/a/b",
    "/a/b",
    "/a/b/c",
    "/b",
    "/b",
    "/b/x",
    "/c",
    "/c/d",
    "/a/",
    "/zookeeper",
    "/a//b",
    "rel",
];
const SESSIONS: &[i64] = &[0, S1, S1, S1, S2, S2, S3];

fn arb_path() -> impl Strategy<Value = String> {
    prop::sample::select(PATHS).prop_map(str::to_owned)
}

fn arb_acl() -> impl Strategy<Value = Vec<Acl>> {
    prop::sample::select(vec![
        Acl::open_unsafe(),
        Acl::read_unsafe(),
        vec![Acl::new(ALL, Id::new("digest", "u:h"))],
        vec![Acl::new(ALL, Id::new("auth", ""))],
        vec![
            Acl::new(ALL, Id::new("ip", "10.0.0.0/8")),
            Acl::new(READ, Id::anyone()),
        ],
        Acl::open_unsafe(),
        Acl::open_unsafe(),
        vec![],
    ])
}

fn arb_auth() -> impl Strategy<Value = Vec<Id>> {
    prop::sample::select(vec![
        vec![Id::new("ip", "10.1.1.1")],
        vec![Id::new("ip", "192.168.1.1"), Id::new("digest", "u:h")],
        vec![Id::new("ip", "192.168.1.1"), Id::new("super", "")],
    ])
}

fn arb_version() -> impl Strategy<Value = i32> {
    prop::sample::select(vec![-1, 0, 1, 2])
}

fn arb_sub_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        7 => (
            arb_path(),
            arb_data(4),
            arb_acl(),
            prop::sample::select(CreateMode::ALL.to_vec()),
            0..8usize,
        )
            .prop_map(|(path, data, acl, mode, k)| {
                // Mostly a TTL that suits the mode; sometimes one ZooKeeper refuses.
                let ttl_ms = if mode.is_ttl() {
                    [50, 5000, 50, 5000, 50, 5000, 0, -1][k]
                } else {
                    [-1, -1, -1, -1, -1, -1, 0, 50][k]
                };
                Op::Create { path, data, acl, mode, ttl_ms }
            }),
        2 => (arb_path(), arb_version()).prop_map(|(path, version)| Op::Delete { path, version }),
        2 => (arb_path(), arb_data(4), arb_version())
            .prop_map(|(path, data, version)| Op::SetData {
                path,
                data,
                version
            }),
        1 => (arb_path(), arb_version()).prop_map(|(path, version)| Op::Check { path, version }),
    ]
}

fn arb_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        16 => arb_sub_op(),
        2 => (arb_path(), arb_acl(), arb_version())
            .prop_map(|(path, acl, version)| Op::SetAcl { path, acl, version }),
        2 => prop::collection::vec(arb_sub_op(), 0..4).prop_map(Op::Multi),
        2 => Just(Op::CreateSession {
            timeout_ms: 4000,
            password: vec![3; 16],
            owner: 0,
        }),
        1 => Just(Op::CloseSession),
        1 => arb_path().prop_map(|path| Op::ReapNode { path }),
    ]
}

fn arb_stream() -> impl Strategy<Value = Vec<Entry>> {
    prop::collection::vec(
        (
            prop::sample::select(SESSIONS),
            0..3000i64,
            arb_auth(),
            arb_op(),
        ),
        1..100,
    )
    .prop_map(|steps| {
        let mut time = 1_000_000;
        let open = |s| {
            let op = Op::CreateSession {
                timeout_ms: 4000,
                password: vec![s as u8; 16],
                owner: 0,
            };
            entry(s, 0, vec![], op)
        };
        // Two sessions exist from the start; S3 and re-opened ones come from the stream.
        let mut v = vec![open(S1), open(S2)];
        v.extend(steps.into_iter().map(|(session, dt, auth, op)| {
            time += dt;
            entry(session, time, auth, op)
        }));
        v
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn replay_is_deterministic_and_snapshots_round_trip(stream in arb_stream(), cut in any::<prop::sample::Index>()) {
        let mut a = DataTree::new();
        let mut b = DataTree::new();
        let cut = cut.index(stream.len());
        for (i, e) in stream.iter().enumerate() {
            let zxid = i as i64 + 1;
            if i == cut {
                // Restore b from a's snapshot halfway: it must carry on identically.
                let bytes = b.snapshot_bytes();
                b = DataTree::decode_snapshot(&bytes).unwrap();
                prop_assert_eq!(b.snapshot_bytes(), bytes);
            }
            let before = a.clone();
            let ra = a.apply(zxid, e);
            // b applies the entry as read back from its log bytes.
            let logged = Entry::decode(&e.to_bytes()).unwrap();
            let rb = b.apply(zxid, &logged);
            prop_assert_eq!(&ra, &rb);
            a.check_invariants();
            if matches!(ra.result, Err(_) | Ok(OpResult::MultiFailed(_))) {
                prop_assert!(ra.changes.is_empty());
                let mut expect = before;
                expect.last_zxid = zxid;
                expect.last_time = expect.last_time.max(e.time);
                prop_assert_eq!(&expect, &a);
            }
        }
        let bytes = a.snapshot_bytes();
        prop_assert_eq!(&bytes, &b.snapshot_bytes());
        let back = DataTree::decode_snapshot(&bytes).unwrap();
        back.check_invariants();
        prop_assert_eq!(&back, &a);
        prop_assert_eq!(back.snapshot_bytes(), bytes);
    }

    #[test]
    fn random_bytes_never_panic(b in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = DataTree::decode_snapshot(&b);
        let mut framed = MAGIC.to_vec();
        framed.push(FORMAT_VERSION);
        framed.extend_from_slice(&b);
        let _ = DataTree::decode_snapshot(&framed);
    }

    #[test]
    fn corrupted_snapshots_never_panic(flips in prop::collection::vec((any::<prop::sample::Index>(), 1..=255u8), 1..4)) {
        let mut bytes = sample_tree().snapshot_bytes();
        for (i, x) in flips {
            let i = i.index(bytes.len());
            bytes[i] ^= x;
        }
        if let Ok(t) = DataTree::decode_snapshot(&bytes) {
            t.check_invariants();
        }
    }
}
