//! A log entry: everything [`crate::DataTree::apply`] needs to decide an operation's outcome,
//! and its byte form (what the write-ahead log and Raft store).
//!
//! Byte form: a format version byte, then jute primitives (big-endian ints, length-prefixed
//! strings, buffers and vectors). Znode data is a buffer whose length -1 means null (version 2;
//! version 1 had no null data and is not read, so an older binary cannot mistake null for
//! empty). Decoding is total: any input decodes or yields an [`EntryDecodeError`], never a
//! panic, and never allocates more than the input holds.

use watchkeeper_proto::jute::{JuteReader, JuteWrite};
use watchkeeper_proto::{Acl, CreateMode, DecodeError, Id, Record, decode_acls, encode_acls};

/// The current entry format: 2 since znode data can be null, 3 since sessions have an owner.
const FORMAT_VERSION: u8 = 3;

/// The `ttl_ms` of every create that is not a TTL create, as ZooKeeper's plain create carries it.
pub const NO_TTL: i64 = -1;

/// One log entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The session that issued it; for `CreateSession` the new session's id; 0 for
    /// server-internal entries (container/TTL reaping), which need no session.
    pub session: i64,
    /// Milliseconds since the Unix epoch, stamped by the proposer: ctime/mtime and TTL checks.
    pub time: i64,
    /// The issuing connection's identities (ip:, digest:, super:), for ACL checks and the
    /// "auth" ACL scheme.
    pub auth: Vec<Id>,
    pub op: Op,
}

/// The state-changing operations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// `Entry::session` is the new session's id; `owner` the incarnation of the server process
    /// that holds its connection (see [`crate::SessionInfo::owner`]).
    CreateSession {
        timeout_ms: i32,
        password: Vec<u8>,
        owner: u64,
    },
    /// `Entry::session` moved to the server process `owner` (the client reconnected there).
    AttachSession {
        owner: u64,
    },
    /// Closes `Entry::session` at its client's request, deleting its ephemerals.
    CloseSession,
    /// Closes `Entry::session` because the leader found it expired: as `CloseSession`, but
    /// applied whichever server owns the session.
    ExpireSession,
    /// `ttl_ms` is the request's TTL for `PersistentWithTtl`/`PersistentSequentialWithTtl`
    /// and [`NO_TTL`] (-1) otherwise: like ZooKeeper, a non-TTL mode with `ttl_ms >= 0` is
    /// `BadArguments`, and so is a TTL mode without a TTL in `1..=MAX_TTL_MS`.
    /// `data` `None` is ZooKeeper's null data (a null buffer in the request), kept distinct from
    /// empty.
    Create {
        path: String,
        data: Option<Vec<u8>>,
        acl: Vec<Acl>,
        mode: CreateMode,
        ttl_ms: i64,
    },
    Delete {
        path: String,
        version: i32,
    },
    /// `data` `None` sets null data, as for `Create`.
    SetData {
        path: String,
        data: Option<Vec<u8>>,
        version: i32,
    },
    SetAcl {
        path: String,
        acl: Vec<Acl>,
        version: i32,
    },
    Check {
        path: String,
        version: i32,
    },
    /// Sub-ops: Create, Delete, SetData, Check. Anything else (ZooKeeper cannot even decode such
    /// a multi) fails the whole op with `MarshallingError`.
    Multi(Vec<Op>),
    /// Server-internal: the container/TTL checker asks to delete a node; apply re-checks the
    /// condition (see [`crate::DataTree::reap_candidates`]).
    ReapNode {
        path: String,
    },
}

impl Op {
    /// A create that is not a TTL create (`ttl_ms` = [`NO_TTL`]).
    pub fn create(
        path: impl Into<String>,
        data: Option<Vec<u8>>,
        acl: Vec<Acl>,
        mode: CreateMode,
    ) -> Op {
        Op::Create {
            path: path.into(),
            data,
            acl,
            mode,
            ttl_ms: NO_TTL,
        }
    }
}

/// Why bytes are not an entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryDecodeError {
    #[error("empty entry")]
    Empty,
    #[error("unsupported entry format version {0}")]
    UnsupportedVersion(u8),
    #[error("unknown operation tag {0}")]
    UnknownOp(u8),
    #[error("a multi nested inside a multi")]
    NestedMulti,
    #[error(transparent)]
    Jute(#[from] DecodeError),
}

mod tag {
    pub const CREATE_SESSION: u8 = 1;
    pub const CLOSE_SESSION: u8 = 2;
    pub const CREATE: u8 = 3;
    pub const DELETE: u8 = 4;
    pub const SET_DATA: u8 = 5;
    pub const SET_ACL: u8 = 6;
    pub const CHECK: u8 = 7;
    pub const MULTI: u8 = 8;
    pub const REAP_NODE: u8 = 9;
    pub const ATTACH_SESSION: u8 = 10;
    pub const EXPIRE_SESSION: u8 = 11;
}

impl Entry {
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(FORMAT_VERSION);
        out.write_i64(self.session);
        out.write_i64(self.time);
        out.write_i32(self.auth.len() as i32);
        for id in &self.auth {
            id.encode(out);
        }
        encode_op(&self.op, out);
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.encode(&mut v);
        v
    }

    /// Decodes exactly one entry; trailing bytes are an error.
    pub fn decode(b: &[u8]) -> Result<Entry, EntryDecodeError> {
        let (&version, rest) = b.split_first().ok_or(EntryDecodeError::Empty)?;
        if version != FORMAT_VERSION {
            return Err(EntryDecodeError::UnsupportedVersion(version));
        }
        let mut r = JuteReader::new(rest);
        let session = r.read_i64()?;
        let time = r.read_i64()?;
        let auth = r.read_vec(8, Id::decode)?;
        let op = decode_op(&mut r, false)?;
        if !r.is_empty() {
            return Err(DecodeError::TrailingBytes(r.remaining()).into());
        }
        Ok(Entry {
            session,
            time,
            auth,
            op,
        })
    }
}

fn encode_op(op: &Op, out: &mut Vec<u8>) {
    match op {
        Op::CreateSession {
            timeout_ms,
            password,
            owner,
        } => {
            out.push(tag::CREATE_SESSION);
            out.write_i32(*timeout_ms);
            out.write_buffer(password);
            out.write_i64(*owner as i64);
        }
        Op::AttachSession { owner } => {
            out.push(tag::ATTACH_SESSION);
            out.write_i64(*owner as i64);
        }
        Op::CloseSession => out.push(tag::CLOSE_SESSION),
        Op::ExpireSession => out.push(tag::EXPIRE_SESSION),
        Op::Create {
            path,
            data,
            acl,
            mode,
            ttl_ms,
        } => {
            out.push(tag::CREATE);
            out.write_string(path);
            out.write_opt_buffer(data.as_deref());
            encode_acls(acl, out);
            out.write_i32(mode.as_i32());
            out.write_i64(*ttl_ms);
        }
        Op::Delete { path, version } => {
            out.push(tag::DELETE);
            out.write_string(path);
            out.write_i32(*version);
        }
        Op::SetData {
            path,
            data,
            version,
        } => {
            out.push(tag::SET_DATA);
            out.write_string(path);
            out.write_opt_buffer(data.as_deref());
            out.write_i32(*version);
        }
        Op::SetAcl { path, acl, version } => {
            out.push(tag::SET_ACL);
            out.write_string(path);
            encode_acls(acl, out);
            out.write_i32(*version);
        }
        Op::Check { path, version } => {
            out.push(tag::CHECK);
            out.write_string(path);
            out.write_i32(*version);
        }
        Op::Multi(ops) => {
            out.push(tag::MULTI);
            out.write_i32(ops.len() as i32);
            for op in ops {
                encode_op(op, out);
            }
        }
        Op::ReapNode { path } => {
            out.push(tag::REAP_NODE);
            out.write_string(path);
        }
    }
}

fn decode_op(r: &mut JuteReader<'_>, in_multi: bool) -> Result<Op, EntryDecodeError> {
    Ok(match r.read_u8()? {
        tag::CREATE_SESSION => Op::CreateSession {
            timeout_ms: r.read_i32()?,
            password: r.read_buffer()?,
            owner: r.read_i64()? as u64,
        },
        tag::ATTACH_SESSION => Op::AttachSession {
            owner: r.read_i64()? as u64,
        },
        tag::CLOSE_SESSION => Op::CloseSession,
        tag::EXPIRE_SESSION => Op::ExpireSession,
        tag::CREATE => Op::Create {
            path: r.read_string()?,
            data: r.read_opt_buffer()?,
            acl: decode_acls(r)?,
            mode: CreateMode::decode(r.read_i32()?)?,
            ttl_ms: r.read_i64()?,
        },
        tag::DELETE => Op::Delete {
            path: r.read_string()?,
            version: r.read_i32()?,
        },
        tag::SET_DATA => Op::SetData {
            path: r.read_string()?,
            data: r.read_opt_buffer()?,
            version: r.read_i32()?,
        },
        tag::SET_ACL => Op::SetAcl {
            path: r.read_string()?,
            acl: decode_acls(r)?,
            version: r.read_i32()?,
        },
        tag::CHECK => Op::Check {
            path: r.read_string()?,
            version: r.read_i32()?,
        },
        tag::MULTI => {
            if in_multi {
                return Err(EntryDecodeError::NestedMulti);
            }
            let n = read_count(r)?;
            let mut ops = Vec::with_capacity(n);
            for _ in 0..n {
                ops.push(decode_op(r, true)?);
            }
            Op::Multi(ops)
        }
        tag::REAP_NODE => Op::ReapNode {
            path: r.read_string()?,
        },
        other => return Err(EntryDecodeError::UnknownOp(other)),
    })
}

/// A count of one-byte-or-larger items, bounded by what is left of the input.
fn read_count(r: &mut JuteReader<'_>) -> Result<usize, DecodeError> {
    let n = r.read_i32()?;
    let n = usize::try_from(n).map_err(|_| DecodeError::NegativeLength(n))?;
    if n > r.remaining() {
        return Err(DecodeError::LengthBeyondInput {
            claimed: n,
            remaining: r.remaining(),
        });
    }
    Ok(n)
}

#[cfg(test)]
pub(crate) mod tests {
    use proptest::prelude::*;

    use super::*;

    pub(crate) fn arb_acl() -> impl Strategy<Value = Vec<Acl>> {
        prop::collection::vec(
            (0..32i32, "[a-z]{0,3}", "[a-z0-9:./]{0,6}")
                .prop_map(|(p, s, i)| Acl::new(p, Id::new(s, i))),
            0..3,
        )
    }

    fn arb_mode() -> impl Strategy<Value = CreateMode> {
        prop::sample::select(CreateMode::ALL.to_vec())
    }

    /// Null, empty and non-empty data, the first two drawn often.
    pub(crate) fn arb_data(max: usize) -> impl Strategy<Value = Option<Vec<u8>>> {
        prop_oneof![
            1 => Just(None),
            1 => Just(Some(Vec::new())),
            3 => prop::collection::vec(any::<u8>(), 1..max).prop_map(Some),
        ]
    }

    fn arb_simple_op() -> impl Strategy<Value = Op> {
        let path = "/[a-c/]{0,6}";
        prop_oneof![
            (
                any::<i32>(),
                prop::collection::vec(any::<u8>(), 0..16),
                any::<u64>()
            )
                .prop_map(|(timeout_ms, password, owner)| Op::CreateSession {
                    timeout_ms,
                    password,
                    owner,
                }),
            any::<u64>().prop_map(|owner| Op::AttachSession { owner }),
            Just(Op::CloseSession),
            Just(Op::ExpireSession),
            (path, arb_data(8), arb_acl(), arb_mode(), any::<i64>()).prop_map(
                |(path, data, acl, mode, ttl_ms)| Op::Create {
                    path,
                    data,
                    acl,
                    mode,
                    ttl_ms
                }
            ),
            (path, any::<i32>()).prop_map(|(path, version)| Op::Delete { path, version }),
            (path, arb_data(8), any::<i32>()).prop_map(|(path, data, version)| Op::SetData {
                path,
                data,
                version
            }),
            (path, arb_acl(), any::<i32>()).prop_map(|(path, acl, version)| Op::SetAcl {
                path,
                acl,
                version
            }),
            (path, any::<i32>()).prop_map(|(path, version)| Op::Check { path, version }),
            path.prop_map(|path| Op::ReapNode { path }),
        ]
    }

    fn arb_op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => arb_simple_op(),
            1 => prop::collection::vec(arb_simple_op(), 0..4).prop_map(Op::Multi),
        ]
    }

    pub(crate) fn arb_entry() -> impl Strategy<Value = Entry> {
        (
            any::<i64>(),
            any::<i64>(),
            prop::collection::vec(("[a-z]{1,6}", "[a-z0-9:.]{0,8}"), 0..3),
            arb_op(),
        )
            .prop_map(|(session, time, auth, op)| Entry {
                session,
                time,
                auth: auth.into_iter().map(|(s, i)| Id::new(s, i)).collect(),
                op,
            })
    }

    proptest! {
        #[test]
        fn entries_round_trip(e in arb_entry()) {
            let bytes = e.to_bytes();
            prop_assert_eq!(Entry::decode(&bytes), Ok(e));
        }

        #[test]
        fn random_bytes_never_panic(b in prop::collection::vec(any::<u8>(), 0..256)) {
            let _ = Entry::decode(&b);
            let mut with_version = vec![FORMAT_VERSION];
            with_version.extend_from_slice(&b);
            let _ = Entry::decode(&with_version);
        }

        #[test]
        fn truncation_and_corruption_are_errors_or_entries(
            e in arb_entry(), cut in any::<prop::sample::Index>(), flip in any::<(prop::sample::Index, u8)>()
        ) {
            let bytes = e.to_bytes();
            let n = cut.index(bytes.len());
            prop_assert!(Entry::decode(&bytes[..n]).is_err());
            let mut corrupt = bytes.clone();
            let i = flip.0.index(corrupt.len());
            corrupt[i] ^= flip.1 | 1;
            let _ = Entry::decode(&corrupt);
        }
    }

    #[test]
    fn typed_errors() {
        assert_eq!(Entry::decode(&[]), Err(EntryDecodeError::Empty));
        assert_eq!(
            Entry::decode(&[9]),
            Err(EntryDecodeError::UnsupportedVersion(9))
        );
        let e = Entry {
            session: 1,
            time: 2,
            auth: vec![],
            op: Op::CloseSession,
        };
        let mut b = e.to_bytes();
        *b.last_mut().unwrap() = 200;
        assert_eq!(Entry::decode(&b), Err(EntryDecodeError::UnknownOp(200)));
        let mut b = e.to_bytes();
        b.push(0);
        assert_eq!(
            Entry::decode(&b),
            Err(EntryDecodeError::Jute(DecodeError::TrailingBytes(1)))
        );
        let nested = Entry {
            op: Op::Multi(vec![Op::Multi(vec![])]),
            ..e.clone()
        };
        assert_eq!(
            Entry::decode(&nested.to_bytes()),
            Err(EntryDecodeError::NestedMulti)
        );
        // A huge multi count is refused before anything is reserved.
        let mut b = e.to_bytes();
        b.pop();
        b.push(tag::MULTI);
        b.extend_from_slice(&i32::MAX.to_be_bytes());
        assert!(matches!(
            Entry::decode(&b),
            Err(EntryDecodeError::Jute(
                DecodeError::LengthBeyondInput { .. }
            ))
        ));
    }

    /// Null data is length -1, empty data length 0, and each decodes back as itself.
    #[test]
    fn null_and_empty_data_golden_bytes() {
        let set = |data| Entry {
            session: 0,
            time: 0,
            auth: vec![],
            op: Op::SetData {
                path: "/a".into(),
                data,
                version: -1,
            },
        };
        let mut head = vec![FORMAT_VERSION];
        head.extend_from_slice(&[0; 16]); // session, time
        head.extend_from_slice(&[0, 0, 0, 0, tag::SET_DATA, 0, 0, 0, 2, b'/', b'a']);
        let tail = [0xff; 4]; // version -1
        for (data, len) in [(None, [0xff; 4]), (Some(vec![]), [0; 4])] {
            let mut expect = head.clone();
            expect.extend_from_slice(&len);
            expect.extend_from_slice(&tail);
            let e = set(data);
            assert_eq!(e.to_bytes(), expect);
            assert_eq!(Entry::decode(&expect), Ok(e));
        }
    }

    #[test]
    fn older_format_is_refused() {
        let mut b = Entry {
            session: 1,
            time: 2,
            auth: vec![],
            op: Op::CloseSession,
        }
        .to_bytes();
        b[0] = 1;
        assert_eq!(
            Entry::decode(&b),
            Err(EntryDecodeError::UnsupportedVersion(1))
        );
    }

    #[test]
    fn create_helper_has_no_ttl() {
        let op = Op::create(
            "/a",
            Some(vec![]),
            Acl::open_unsafe(),
            CreateMode::Persistent,
        );
        assert!(matches!(op, Op::Create { ttl_ms: NO_TTL, .. }));
    }
}
