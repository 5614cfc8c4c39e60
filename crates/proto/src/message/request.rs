//! [`Request`]: every body a client sends after a `RequestHeader`.

use bytes::BufMut;

use crate::DecodeError;
use crate::codes::OpCode;
use crate::jute::{JuteReader, Record};
use crate::multi::MultiRequest;
use crate::requests::{
    AuthPacket, CheckVersionRequest, CreateRequest, CreateTtlRequest, DeleteContainerRequest,
    DeleteRequest, ExistsRequest, GetAclRequest, GetAllChildrenNumberRequest, GetChildren2Request,
    GetChildrenRequest, GetDataRequest, GetEphemeralsRequest, ReconfigRequest, SaslRequest,
    SetAclRequest, SetDataRequest, SyncRequest,
};
use crate::watches::{
    AddWatchRequest, CheckWatchesRequest, RemoveWatchesRequest, SetWatches, SetWatches2,
};

/// A request body, one variant per opcode a client sends. `Ping`, `CloseSession` and `WhoAmI`
/// have no body.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Request {
    Create(CreateRequest),
    Create2(CreateRequest),
    CreateContainer(CreateRequest),
    CreateTtl(CreateTtlRequest),
    Delete(DeleteRequest),
    DeleteContainer(DeleteContainerRequest),
    Exists(ExistsRequest),
    GetData(GetDataRequest),
    SetData(SetDataRequest),
    GetAcl(GetAclRequest),
    SetAcl(SetAclRequest),
    GetChildren(GetChildrenRequest),
    GetChildren2(GetChildren2Request),
    Sync(SyncRequest),
    Check(CheckVersionRequest),
    /// Write ops only (create*, delete, setData, check).
    Multi(MultiRequest),
    /// Read ops only (getData, getChildren).
    MultiRead(MultiRequest),
    Reconfig(ReconfigRequest),
    CheckWatches(CheckWatchesRequest),
    RemoveWatches(RemoveWatchesRequest),
    SetWatches(SetWatches),
    SetWatches2(SetWatches2),
    AddWatch(AddWatchRequest),
    Auth(AuthPacket),
    Sasl(SaslRequest),
    GetEphemerals(GetEphemeralsRequest),
    GetAllChildrenNumber(GetAllChildrenNumberRequest),
    WhoAmI,
    Ping,
    CloseSession,
}

impl Request {
    /// The opcode to put in the request header.
    pub fn op_code(&self) -> OpCode {
        match self {
            Request::Create(_) => OpCode::Create,
            Request::Create2(_) => OpCode::Create2,
            Request::CreateContainer(_) => OpCode::CreateContainer,
            Request::CreateTtl(_) => OpCode::CreateTtl,
            Request::Delete(_) => OpCode::Delete,
            Request::DeleteContainer(_) => OpCode::DeleteContainer,
            Request::Exists(_) => OpCode::Exists,
            Request::GetData(_) => OpCode::GetData,
            Request::SetData(_) => OpCode::SetData,
            Request::GetAcl(_) => OpCode::GetAcl,
            Request::SetAcl(_) => OpCode::SetAcl,
            Request::GetChildren(_) => OpCode::GetChildren,
            Request::GetChildren2(_) => OpCode::GetChildren2,
            Request::Sync(_) => OpCode::Sync,
            Request::Check(_) => OpCode::Check,
            Request::Multi(_) => OpCode::Multi,
            Request::MultiRead(_) => OpCode::MultiRead,
            Request::Reconfig(_) => OpCode::Reconfig,
            Request::CheckWatches(_) => OpCode::CheckWatches,
            Request::RemoveWatches(_) => OpCode::RemoveWatches,
            Request::SetWatches(_) => OpCode::SetWatches,
            Request::SetWatches2(_) => OpCode::SetWatches2,
            Request::AddWatch(_) => OpCode::AddWatch,
            Request::Auth(_) => OpCode::Auth,
            Request::Sasl(_) => OpCode::Sasl,
            Request::GetEphemerals(_) => OpCode::GetEphemerals,
            Request::GetAllChildrenNumber(_) => OpCode::GetAllChildrenNumber,
            Request::WhoAmI => OpCode::WhoAmI,
            Request::Ping => OpCode::Ping,
            Request::CloseSession => OpCode::CloseSession,
        }
    }

    /// Writes the body (not the header).
    pub fn encode<B: BufMut + ?Sized>(&self, w: &mut B) {
        match self {
            Request::Create(b) | Request::Create2(b) | Request::CreateContainer(b) => b.encode(w),
            Request::CreateTtl(b) => b.encode(w),
            Request::Delete(b) => b.encode(w),
            Request::DeleteContainer(b) => b.encode(w),
            Request::Exists(b) => b.encode(w),
            Request::GetData(b) => b.encode(w),
            Request::SetData(b) => b.encode(w),
            Request::GetAcl(b) => b.encode(w),
            Request::SetAcl(b) => b.encode(w),
            Request::GetChildren(b) => b.encode(w),
            Request::GetChildren2(b) => b.encode(w),
            Request::Sync(b) => b.encode(w),
            Request::Check(b) => b.encode(w),
            Request::Multi(b) | Request::MultiRead(b) => b.encode(w),
            Request::Reconfig(b) => b.encode(w),
            Request::CheckWatches(b) | Request::RemoveWatches(b) => b.encode(w),
            Request::SetWatches(b) => b.encode(w),
            Request::SetWatches2(b) => b.encode(w),
            Request::AddWatch(b) => b.encode(w),
            Request::Auth(b) => b.encode(w),
            Request::Sasl(b) => b.encode(w),
            Request::GetEphemerals(b) => b.encode(w),
            Request::GetAllChildrenNumber(b) => b.encode(w),
            Request::WhoAmI | Request::Ping | Request::CloseSession => {}
        }
    }

    /// Reads the body of a request whose header carried `op`. Bytes after the body are left
    /// unread (ZooKeeper ignores them); see [`Request::decode_exact`] for the strict form.
    pub fn decode(op: OpCode, r: &mut JuteReader<'_>) -> Result<Request, DecodeError> {
        Ok(match op {
            OpCode::Create => Request::Create(CreateRequest::decode(r)?),
            OpCode::Create2 => Request::Create2(CreateRequest::decode(r)?),
            OpCode::CreateContainer => Request::CreateContainer(CreateRequest::decode(r)?),
            OpCode::CreateTtl => Request::CreateTtl(CreateTtlRequest::decode(r)?),
            OpCode::Delete => Request::Delete(DeleteRequest::decode(r)?),
            OpCode::DeleteContainer => Request::DeleteContainer(DeleteContainerRequest::decode(r)?),
            OpCode::Exists => Request::Exists(ExistsRequest::decode(r)?),
            OpCode::GetData => Request::GetData(GetDataRequest::decode(r)?),
            OpCode::SetData => Request::SetData(SetDataRequest::decode(r)?),
            OpCode::GetAcl => Request::GetAcl(GetAclRequest::decode(r)?),
            OpCode::SetAcl => Request::SetAcl(SetAclRequest::decode(r)?),
            OpCode::GetChildren => Request::GetChildren(GetChildrenRequest::decode(r)?),
            OpCode::GetChildren2 => Request::GetChildren2(GetChildren2Request::decode(r)?),
            OpCode::Sync => Request::Sync(SyncRequest::decode(r)?),
            OpCode::Check => Request::Check(CheckVersionRequest::decode(r)?),
            OpCode::Multi => Request::Multi(decode_multi(op, false, r)?),
            OpCode::MultiRead => Request::MultiRead(decode_multi(op, true, r)?),
            OpCode::Reconfig => Request::Reconfig(ReconfigRequest::decode(r)?),
            OpCode::CheckWatches => Request::CheckWatches(CheckWatchesRequest::decode(r)?),
            OpCode::RemoveWatches => Request::RemoveWatches(RemoveWatchesRequest::decode(r)?),
            OpCode::SetWatches => Request::SetWatches(SetWatches::decode(r)?),
            OpCode::SetWatches2 => Request::SetWatches2(SetWatches2::decode(r)?),
            OpCode::AddWatch => Request::AddWatch(AddWatchRequest::decode(r)?),
            OpCode::Auth => Request::Auth(AuthPacket::decode(r)?),
            OpCode::Sasl => Request::Sasl(SaslRequest::decode(r)?),
            OpCode::GetEphemerals => Request::GetEphemerals(GetEphemeralsRequest::decode(r)?),
            OpCode::GetAllChildrenNumber => {
                Request::GetAllChildrenNumber(GetAllChildrenNumberRequest::decode(r)?)
            }
            OpCode::WhoAmI => Request::WhoAmI,
            OpCode::Ping => Request::Ping,
            OpCode::CloseSession => Request::CloseSession,
            OpCode::Notification | OpCode::CreateSession | OpCode::Error => {
                return Err(DecodeError::NoBodyForOpCode(op, "request"));
            }
        })
    }

    /// Like [`Request::decode`] over a whole body, failing if bytes are left over.
    pub fn decode_exact(op: OpCode, body: &[u8]) -> Result<Request, DecodeError> {
        let mut r = JuteReader::new(body);
        let req = Request::decode(op, &mut r)?;
        if !r.is_empty() {
            return Err(DecodeError::TrailingBytes(r.remaining()));
        }
        Ok(req)
    }
}

fn decode_multi(
    multi: OpCode,
    read: bool,
    r: &mut JuteReader<'_>,
) -> Result<MultiRequest, DecodeError> {
    let m = MultiRequest::decode(r)?;
    if let Some(bad) = m.ops.iter().find(|o| o.is_read() != read) {
        return Err(DecodeError::MultiOpNotAllowed {
            multi,
            sub_op: bad.op_code(),
        });
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::arbitrary::*;
    use crate::multi::MultiOp;
    use crate::requests::GetDataRequest;

    #[test]
    fn header_only_opcodes_have_no_request_body() {
        for op in [OpCode::Notification, OpCode::CreateSession, OpCode::Error] {
            assert_eq!(
                Request::decode_exact(op, &[]),
                Err(DecodeError::NoBodyForOpCode(op, "request"))
            );
        }
        for (op, req) in [
            (OpCode::Ping, Request::Ping),
            (OpCode::CloseSession, Request::CloseSession),
            (OpCode::WhoAmI, Request::WhoAmI),
        ] {
            assert_eq!(Request::decode_exact(op, &[]).unwrap(), req);
        }
    }

    #[test]
    fn multi_kinds_are_not_mixed() {
        let read = MultiRequest {
            ops: vec![MultiOp::GetData(GetDataRequest::default())],
        };
        assert_eq!(
            Request::decode_exact(OpCode::Multi, &read.to_bytes()),
            Err(DecodeError::MultiOpNotAllowed {
                multi: OpCode::Multi,
                sub_op: OpCode::GetData,
            })
        );
        assert_eq!(
            Request::decode_exact(OpCode::MultiRead, &read.to_bytes()).unwrap(),
            Request::MultiRead(read)
        );
    }

    #[test]
    fn trailing_bytes_are_tolerated_by_decode_only() {
        let mut body = Request::Sync(SyncRequest { path: "/".into() }).op_body();
        body.push(0);
        let mut r = JuteReader::new(&body);
        assert!(Request::decode(OpCode::Sync, &mut r).is_ok());
        assert_eq!(
            Request::decode_exact(OpCode::Sync, &body),
            Err(DecodeError::TrailingBytes(1))
        );
    }

    impl Request {
        fn op_body(&self) -> Vec<u8> {
            let mut v = Vec::new();
            self.encode(&mut v);
            v
        }
    }

    proptest! {
        #[test]
        fn every_request_round_trips(req in request()) {
            let op = req.op_code();
            prop_assert_eq!(Request::decode_exact(op, &req.op_body())?, req);
        }

        #[test]
        fn decode_never_panics(
            op in proptest::sample::select(OpCode::ALL),
            body in proptest::collection::vec(any::<u8>(), 0..128),
        ) {
            let _ = Request::decode_exact(op, &body);
        }

        /// Valid bodies with a few bytes overwritten reach past the first field.
        #[test]
        fn decode_never_panics_on_mangled_bodies(
            req in request(),
            op in proptest::sample::select(OpCode::ALL),
            at in any::<prop::sample::Index>(),
            noise in proptest::collection::vec(any::<u8>(), 1..8),
        ) {
            let mut body = req.op_body();
            let i = at.index(body.len() + 1);
            body.splice(i..(i + noise.len()).min(body.len()), noise);
            let _ = Request::decode_exact(req.op_code(), &body);
            let _ = Request::decode_exact(op, &body);
        }
    }
}
