//! multi (14) and multiRead (22): several operations in one request, answered together.
//!
//! Wire form of both request and response: a sequence of `MultiHeader {int type; boolean done;
//! int err}`, each followed by one op's body, ended by a header with `done = true` (written as
//! type -1, err -1; on reading only `done` counts, as in ZooKeeper). There is no count, so
//! nothing is reserved up front: every decoded op consumed at least its 9-byte header, which
//! bounds the number of ops by the input length.
//!
//! Request sub-ops carry the body of the standalone request with that opcode. Response
//! entries: create → `CreateResponse`; create2, createContainer and createTTL → header type
//! create2 + `Create2Response`; delete and check → no body; setData → `SetDataResponse`;
//! getData → `GetDataResponse`; getChildren → `GetChildrenResponse`; a failed op → header type
//! -1 with `err` set, and an `ErrorResponse {err}` body. When a write multi fails, every entry is
//! an error entry: 0 before the failing op, its code, then RuntimeInconsistency (-2) after.

use bytes::BufMut;

use crate::DecodeError;
use crate::codes::{ErrorCode, OpCode};
use crate::data::Stat;
use crate::field::jute_record;
use crate::jute::{JuteReader, Record};
use crate::requests::{
    CheckVersionRequest, CreateRequest, CreateTtlRequest, DeleteRequest, GetChildrenRequest,
    GetDataRequest, SetDataRequest,
};
use crate::responses::{
    Create2Response, CreateResponse, ErrorResponse, GetChildrenResponse, GetDataResponse,
    SetDataResponse,
};

jute_record!(
    /// `MultiHeader {int type; boolean done; int err}`.
    MultiHeader {
        /// The sub-op's opcode, or -1 for an error entry and for the end marker.
        op: i32,
        done: bool,
        err: i32,
    }
);

impl MultiHeader {
    pub const ENCODED_LEN: usize = 9;

    /// The header that ends the sequence.
    pub const END: MultiHeader = MultiHeader {
        op: -1,
        done: true,
        err: -1,
    };
}

/// One operation inside a multi. The first seven may appear in a multi (14), the last two in
/// a multiRead (22); ZooKeeper rejects a mix.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MultiOp {
    Create(CreateRequest),
    Create2(CreateRequest),
    CreateContainer(CreateRequest),
    CreateTtl(CreateTtlRequest),
    Delete(DeleteRequest),
    SetData(SetDataRequest),
    Check(CheckVersionRequest),
    /// The `watch` flag is carried but ZooKeeper ignores it here: a multiRead sets no watches.
    GetData(GetDataRequest),
    /// As for `GetData`, `watch` is ignored.
    GetChildren(GetChildrenRequest),
}

impl MultiOp {
    pub fn op_code(&self) -> OpCode {
        match self {
            MultiOp::Create(_) => OpCode::Create,
            MultiOp::Create2(_) => OpCode::Create2,
            MultiOp::CreateContainer(_) => OpCode::CreateContainer,
            MultiOp::CreateTtl(_) => OpCode::CreateTtl,
            MultiOp::Delete(_) => OpCode::Delete,
            MultiOp::SetData(_) => OpCode::SetData,
            MultiOp::Check(_) => OpCode::Check,
            MultiOp::GetData(_) => OpCode::GetData,
            MultiOp::GetChildren(_) => OpCode::GetChildren,
        }
    }

    /// True for the ops a multiRead allows, false for those a multi allows.
    pub fn is_read(&self) -> bool {
        matches!(self, MultiOp::GetData(_) | MultiOp::GetChildren(_))
    }

    /// The znode the op acts on.
    pub fn path(&self) -> &str {
        match self {
            MultiOp::Create(c) | MultiOp::Create2(c) | MultiOp::CreateContainer(c) => &c.path,
            MultiOp::CreateTtl(c) => &c.path,
            MultiOp::Delete(d) => &d.path,
            MultiOp::SetData(s) => &s.path,
            MultiOp::Check(c) => &c.path,
            MultiOp::GetData(g) => &g.path,
            MultiOp::GetChildren(g) => &g.path,
        }
    }

    fn encode_body<B: BufMut + ?Sized>(&self, w: &mut B) {
        match self {
            MultiOp::Create(c) | MultiOp::Create2(c) | MultiOp::CreateContainer(c) => c.encode(w),
            MultiOp::CreateTtl(c) => c.encode(w),
            MultiOp::Delete(d) => d.encode(w),
            MultiOp::SetData(s) => s.encode(w),
            MultiOp::Check(c) => c.encode(w),
            MultiOp::GetData(g) => g.encode(w),
            MultiOp::GetChildren(g) => g.encode(w),
        }
    }

    fn decode_body(op: i32, r: &mut JuteReader<'_>) -> Result<Self, DecodeError> {
        let unknown = DecodeError::UnknownValue {
            what: "multi op type",
            value: op,
        };
        Ok(match OpCode::from_i32(op).ok_or(unknown.clone())? {
            OpCode::Create => MultiOp::Create(CreateRequest::decode(r)?),
            OpCode::Create2 => MultiOp::Create2(CreateRequest::decode(r)?),
            OpCode::CreateContainer => MultiOp::CreateContainer(CreateRequest::decode(r)?),
            OpCode::CreateTtl => MultiOp::CreateTtl(CreateTtlRequest::decode(r)?),
            OpCode::Delete => MultiOp::Delete(DeleteRequest::decode(r)?),
            OpCode::SetData => MultiOp::SetData(SetDataRequest::decode(r)?),
            OpCode::Check => MultiOp::Check(CheckVersionRequest::decode(r)?),
            OpCode::GetData => MultiOp::GetData(GetDataRequest::decode(r)?),
            OpCode::GetChildren => MultiOp::GetChildren(GetChildrenRequest::decode(r)?),
            _ => return Err(unknown),
        })
    }
}

/// `MultiOperationRecord`: the body of multi and multiRead. Decoding accepts any op either
/// allows; [`crate::Request::decode`] checks that they fit the opcode.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct MultiRequest {
    pub ops: Vec<MultiOp>,
}

impl Record for MultiRequest {
    fn encode<B: BufMut + ?Sized>(&self, w: &mut B) {
        for op in &self.ops {
            MultiHeader {
                op: op.op_code().as_i32(),
                done: false,
                err: -1,
            }
            .encode(w);
            op.encode_body(w);
        }
        MultiHeader::END.encode(w);
    }

    fn decode(r: &mut JuteReader<'_>) -> Result<Self, DecodeError> {
        let mut ops = Vec::new();
        loop {
            let h = MultiHeader::decode(r)?;
            if h.done {
                return Ok(MultiRequest { ops });
            }
            ops.push(MultiOp::decode_body(h.op, r)?);
        }
    }
}

/// One entry of a multi's answer.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MultiResult {
    /// create (1): the created path.
    Create(String),
    /// create2, createContainer, createTTL: path and stat.
    Create2(String, Stat),
    Delete,
    SetData(Stat),
    Check,
    /// `None` data is a null buffer, as in [`GetDataResponse`].
    GetData(Option<Vec<u8>>, Stat),
    GetChildren(Vec<String>),
    /// An error code; 0 for an op that would have succeeded in a failed multi.
    Error(i32),
}

impl MultiResult {
    /// The header type this entry is written under.
    pub fn op(&self) -> i32 {
        match self {
            MultiResult::Create(_) => OpCode::Create.as_i32(),
            MultiResult::Create2(..) => OpCode::Create2.as_i32(),
            MultiResult::Delete => OpCode::Delete.as_i32(),
            MultiResult::SetData(_) => OpCode::SetData.as_i32(),
            MultiResult::Check => OpCode::Check.as_i32(),
            MultiResult::GetData(..) => OpCode::GetData.as_i32(),
            MultiResult::GetChildren(_) => OpCode::GetChildren.as_i32(),
            MultiResult::Error(_) => OpCode::Error.as_i32(),
        }
    }

    fn encode_entry<B: BufMut + ?Sized>(&self, w: &mut B) {
        let err = match self {
            MultiResult::Error(e) => *e,
            _ => 0,
        };
        MultiHeader {
            op: self.op(),
            done: false,
            err,
        }
        .encode(w);
        match self {
            MultiResult::Create(path) => CreateResponse { path: path.clone() }.encode(w),
            MultiResult::Create2(path, stat) => Create2Response {
                path: path.clone(),
                stat: *stat,
            }
            .encode(w),
            MultiResult::Delete | MultiResult::Check => {}
            MultiResult::SetData(stat) => SetDataResponse { stat: *stat }.encode(w),
            MultiResult::GetData(data, stat) => GetDataResponse {
                data: data.clone(),
                stat: *stat,
            }
            .encode(w),
            MultiResult::GetChildren(children) => GetChildrenResponse {
                children: children.clone(),
            }
            .encode(w),
            MultiResult::Error(err) => ErrorResponse { err: *err }.encode(w),
        }
    }

    fn decode_body(op: i32, r: &mut JuteReader<'_>) -> Result<Self, DecodeError> {
        let unknown = DecodeError::UnknownValue {
            what: "multi result type",
            value: op,
        };
        Ok(match OpCode::from_i32(op).ok_or(unknown.clone())? {
            OpCode::Create => MultiResult::Create(CreateResponse::decode(r)?.path),
            OpCode::Create2 => {
                let c = Create2Response::decode(r)?;
                MultiResult::Create2(c.path, c.stat)
            }
            OpCode::Delete => MultiResult::Delete,
            OpCode::SetData => MultiResult::SetData(SetDataResponse::decode(r)?.stat),
            OpCode::Check => MultiResult::Check,
            OpCode::GetData => {
                let g = GetDataResponse::decode(r)?;
                MultiResult::GetData(g.data, g.stat)
            }
            OpCode::GetChildren => {
                MultiResult::GetChildren(GetChildrenResponse::decode(r)?.children)
            }
            // The body's code is authoritative, as in ZooKeeper's client.
            OpCode::Error => MultiResult::Error(ErrorResponse::decode(r)?.err),
            _ => return Err(unknown),
        })
    }
}

/// `MultiResponse`: one entry per op of the request, in order.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct MultiResponse {
    pub results: Vec<MultiResult>,
}

impl MultiResponse {
    /// The answer to a failed write multi: one error entry per op, as the tree reports them.
    pub fn failed(codes: impl IntoIterator<Item = ErrorCode>) -> Self {
        MultiResponse {
            results: codes
                .into_iter()
                .map(|c| MultiResult::Error(c.as_i32()))
                .collect(),
        }
    }

    /// The first entry with a non-zero error code, as ZooKeeper's client reports a failed multi.
    pub fn first_error(&self) -> Option<i32> {
        self.results.iter().find_map(|r| match r {
            MultiResult::Error(e) if *e != 0 => Some(*e),
            _ => None,
        })
    }
}

impl Record for MultiResponse {
    fn encode<B: BufMut + ?Sized>(&self, w: &mut B) {
        for result in &self.results {
            result.encode_entry(w);
        }
        MultiHeader::END.encode(w);
    }

    fn decode(r: &mut JuteReader<'_>) -> Result<Self, DecodeError> {
        let mut results = Vec::new();
        loop {
            let h = MultiHeader::decode(r)?;
            if h.done {
                return Ok(MultiResponse { results });
            }
            results.push(MultiResult::decode_body(h.op, r)?);
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::arbitrary::*;
    use crate::data::Acl;

    /// A create and a delete, laid out by hand from `zookeeper.jute` and MultiOperationRecord.
    #[test]
    fn multi_request_golden_bytes() {
        let m = MultiRequest {
            ops: vec![
                MultiOp::Create(CreateRequest {
                    path: "/a".into(),
                    data: Some(vec![]),
                    acl: Acl::open_unsafe(),
                    flags: 0,
                }),
                MultiOp::Delete(DeleteRequest {
                    path: "/b".into(),
                    version: -1,
                }),
            ],
        };
        let mut expect: Vec<u8> = vec![
            0, 0, 0, 1, 0, 0xff, 0xff, 0xff, 0xff, // header: create, not done, err -1
            0, 0, 0, 2, b'/', b'a', // path
            0, 0, 0, 0, // data: empty
            0, 0, 0, 1, 0, 0, 0, 31, // one ACL, perms ALL
            0, 0, 0, 5,
        ];
        expect.extend_from_slice(b"world");
        expect.extend_from_slice(&[0, 0, 0, 6]);
        expect.extend_from_slice(b"anyone");
        expect.extend_from_slice(&[
            0, 0, 0, 0, // flags
            0, 0, 0, 2, 0, 0xff, 0xff, 0xff, 0xff, // header: delete
            0, 0, 0, 2, b'/', b'b', 0xff, 0xff, 0xff, 0xff, // path, version -1
            0xff, 0xff, 0xff, 0xff, 1, 0xff, 0xff, 0xff, 0xff, // end: type -1, done, err -1
        ]);
        assert_eq!(m.to_bytes(), expect);
        assert_eq!(MultiRequest::decode_exact(&expect).unwrap(), m);
    }

    #[test]
    fn failed_multi_response_golden_bytes() {
        let m = MultiResponse::failed([ErrorCode::Ok, ErrorCode::NoNode]);
        let expect: &[u8] = &[
            0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, // error entry, err 0
            0, 0, 0, 0, // ErrorResponse 0
            0xff, 0xff, 0xff, 0xff, 0, 0xff, 0xff, 0xff, 0x9b, // error entry, err -101
            0xff, 0xff, 0xff, 0x9b, // ErrorResponse -101
            0xff, 0xff, 0xff, 0xff, 1, 0xff, 0xff, 0xff, 0xff, // end
        ];
        assert_eq!(m.to_bytes(), expect);
        assert_eq!(MultiResponse::decode_exact(expect).unwrap(), m);
        assert_eq!(m.first_error(), Some(-101));
    }

    /// multiRead's getData on a node with null data: the buffer is length -1, not 0.
    #[test]
    fn null_get_data_result_golden_bytes() {
        let stat = Stat::default();
        let m = MultiResponse {
            results: vec![MultiResult::GetData(None, stat)],
        };
        let mut expect: Vec<u8> = vec![0, 0, 0, 4, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff];
        expect.extend_from_slice(&stat.to_bytes());
        expect.extend_from_slice(&MultiHeader::END.to_bytes());
        assert_eq!(m.to_bytes(), expect);
        assert_eq!(MultiResponse::decode_exact(&expect).unwrap(), m);
    }

    #[test]
    fn delete_and_check_results_have_no_body() {
        let m = MultiResponse {
            results: vec![MultiResult::Delete, MultiResult::Check],
        };
        assert_eq!(m.to_bytes().len(), 3 * MultiHeader::ENCODED_LEN);
        assert_eq!(m.first_error(), None);
    }

    #[test]
    fn empty_multi_is_just_the_end_marker() {
        let m = MultiRequest::default();
        assert_eq!(m.to_bytes(), MultiHeader::END.to_bytes());
        assert_eq!(MultiRequest::decode_exact(&m.to_bytes()).unwrap(), m);
    }

    #[test]
    fn done_flag_ends_the_sequence_whatever_the_type() {
        let h = MultiHeader {
            op: 1,
            done: true,
            err: 0,
        };
        assert!(
            MultiRequest::decode_exact(&h.to_bytes())
                .unwrap()
                .ops
                .is_empty()
        );
    }

    #[test]
    fn unknown_sub_op_and_missing_end_are_errors() {
        let mut b = MultiHeader {
            op: OpCode::SetAcl.as_i32(),
            done: false,
            err: -1,
        }
        .to_bytes();
        b.extend_from_slice(&[0; 16]);
        assert!(matches!(
            MultiRequest::decode_exact(&b),
            Err(DecodeError::UnknownValue { value: 7, .. })
        ));
        let m = MultiRequest {
            ops: vec![MultiOp::Check(CheckVersionRequest::default())],
        };
        let b = m.to_bytes();
        assert!(MultiRequest::decode_exact(&b[..b.len() - MultiHeader::ENCODED_LEN]).is_err());
    }

    proptest! {
        #[test]
        fn multi_header_round_trips(op in any::<i32>(), done in any::<bool>(), err in any::<i32>()) {
            let h = MultiHeader { op, done, err };
            let b = h.to_bytes();
            prop_assert_eq!(b.len(), MultiHeader::ENCODED_LEN);
            prop_assert_eq!(MultiHeader::decode_exact(&b)?, h);
        }

        #[test]
        fn multi_request_round_trips(m in multi_request()) {
            prop_assert_eq!(MultiRequest::decode_exact(&m.to_bytes())?, m);
        }

        #[test]
        fn multi_response_round_trips(m in multi_response()) {
            prop_assert_eq!(MultiResponse::decode_exact(&m.to_bytes())?, m);
        }

        #[test]
        fn multi_decode_never_panics(b in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = MultiRequest::decode_exact(&b);
            let _ = MultiResponse::decode_exact(&b);
        }

        /// Random bytes rarely form valid headers; splice real entries with noise to reach
        /// the deeper branches.
        #[test]
        fn multi_decode_never_panics_on_mangled_input(
            m in multi_request(),
            at in any::<prop::sample::Index>(),
            noise in proptest::collection::vec(any::<u8>(), 0..16),
        ) {
            let mut b = m.to_bytes();
            let i = at.index(b.len() + 1);
            b.splice(i..(i + noise.len()).min(b.len()), noise);
            let _ = MultiRequest::decode_exact(&b);
        }
    }
}
