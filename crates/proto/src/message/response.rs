//! [`Response`]: every body a server sends after a `ReplyHeader` with `err = 0`.
//!
//! Several opcodes share one body layout, so the variants follow the layouts and
//! [`Response::answers`] says which opcodes each one answers. When a reply's `err` is non-zero,
//! only the header is sent and there is no body to decode; multi is the exception only in
//! that a failed multi is answered with `err = 0` and error entries in its body.

use bytes::BufMut;

use crate::DecodeError;
use crate::codes::OpCode;
use crate::jute::{JuteReader, Record};
use crate::multi::MultiResponse;
use crate::responses::{
    Create2Response, CreateResponse, ErrorResponse, ExistsResponse, GetAclResponse,
    GetAllChildrenNumberResponse, GetChildren2Response, GetChildrenResponse, GetDataResponse,
    GetEphemeralsResponse, SaslResponse, SetAclResponse, SetDataResponse, SyncResponse,
    WhoAmIResponse,
};

/// A reply body, one variant per layout.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Response {
    /// No body: delete, deleteContainer, ping, closeSession, auth, setWatches, setWatches2,
    /// checkWatches, removeWatches.
    Empty,
    /// create.
    Create(CreateResponse),
    /// create2, createContainer, createTTL.
    Create2(Create2Response),
    /// exists.
    Exists(ExistsResponse),
    /// setData, and a standalone check.
    SetData(SetDataResponse),
    /// setACL.
    SetAcl(SetAclResponse),
    /// getData, and reconfig (the new configuration as data).
    GetData(GetDataResponse),
    /// getACL.
    GetAcl(GetAclResponse),
    /// getChildren.
    GetChildren(GetChildrenResponse),
    /// getChildren2.
    GetChildren2(GetChildren2Response),
    /// sync.
    Sync(SyncResponse),
    /// getEphemerals.
    GetEphemerals(GetEphemeralsResponse),
    /// getAllChildrenNumber.
    GetAllChildrenNumber(GetAllChildrenNumberResponse),
    /// whoAmI.
    WhoAmI(WhoAmIResponse),
    /// addWatch: ZooKeeper answers with `ErrorResponse {err: 0}`.
    AddWatch(ErrorResponse),
    /// sasl.
    Sasl(SaslResponse),
    /// multi and multiRead.
    Multi(MultiResponse),
}

/// The body layouts, without their contents: the single table mapping opcodes to layouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    Empty,
    Create,
    Create2,
    Exists,
    SetData,
    SetAcl,
    GetData,
    GetAcl,
    GetChildren,
    GetChildren2,
    Sync,
    GetEphemerals,
    GetAllChildrenNumber,
    WhoAmI,
    AddWatch,
    Sasl,
    Multi,
}

impl Layout {
    fn of(op: OpCode) -> Option<Layout> {
        Some(match op {
            OpCode::Delete
            | OpCode::DeleteContainer
            | OpCode::Ping
            | OpCode::CloseSession
            | OpCode::Auth
            | OpCode::SetWatches
            | OpCode::SetWatches2
            | OpCode::CheckWatches
            | OpCode::RemoveWatches => Layout::Empty,
            OpCode::Create => Layout::Create,
            OpCode::Create2 | OpCode::CreateContainer | OpCode::CreateTtl => Layout::Create2,
            OpCode::Exists => Layout::Exists,
            OpCode::SetData | OpCode::Check => Layout::SetData,
            OpCode::SetAcl => Layout::SetAcl,
            OpCode::GetData | OpCode::Reconfig => Layout::GetData,
            OpCode::GetAcl => Layout::GetAcl,
            OpCode::GetChildren => Layout::GetChildren,
            OpCode::GetChildren2 => Layout::GetChildren2,
            OpCode::Sync => Layout::Sync,
            OpCode::GetEphemerals => Layout::GetEphemerals,
            OpCode::GetAllChildrenNumber => Layout::GetAllChildrenNumber,
            OpCode::WhoAmI => Layout::WhoAmI,
            OpCode::AddWatch => Layout::AddWatch,
            OpCode::Sasl => Layout::Sasl,
            OpCode::Multi | OpCode::MultiRead => Layout::Multi,
            // A notification's body is a WatcherEvent, a session's a ConnectResponse; neither
            // answers a request header.
            OpCode::Notification | OpCode::CreateSession | OpCode::Error => return None,
        })
    }
}

impl Response {
    fn layout(&self) -> Layout {
        match self {
            Response::Empty => Layout::Empty,
            Response::Create(_) => Layout::Create,
            Response::Create2(_) => Layout::Create2,
            Response::Exists(_) => Layout::Exists,
            Response::SetData(_) => Layout::SetData,
            Response::SetAcl(_) => Layout::SetAcl,
            Response::GetData(_) => Layout::GetData,
            Response::GetAcl(_) => Layout::GetAcl,
            Response::GetChildren(_) => Layout::GetChildren,
            Response::GetChildren2(_) => Layout::GetChildren2,
            Response::Sync(_) => Layout::Sync,
            Response::GetEphemerals(_) => Layout::GetEphemerals,
            Response::GetAllChildrenNumber(_) => Layout::GetAllChildrenNumber,
            Response::WhoAmI(_) => Layout::WhoAmI,
            Response::AddWatch(_) => Layout::AddWatch,
            Response::Sasl(_) => Layout::Sasl,
            Response::Multi(_) => Layout::Multi,
        }
    }

    /// Whether this body is the layout a successful reply to `op` carries.
    pub fn answers(&self, op: OpCode) -> bool {
        Layout::of(op) == Some(self.layout())
    }

    /// Writes the body (not the header).
    pub fn encode<B: BufMut + ?Sized>(&self, w: &mut B) {
        match self {
            Response::Empty => {}
            Response::Create(b) => b.encode(w),
            Response::Create2(b) => b.encode(w),
            Response::Exists(b) => b.encode(w),
            Response::SetData(b) => b.encode(w),
            Response::SetAcl(b) => b.encode(w),
            Response::GetData(b) => b.encode(w),
            Response::GetAcl(b) => b.encode(w),
            Response::GetChildren(b) => b.encode(w),
            Response::GetChildren2(b) => b.encode(w),
            Response::Sync(b) => b.encode(w),
            Response::GetEphemerals(b) => b.encode(w),
            Response::GetAllChildrenNumber(b) => b.encode(w),
            Response::WhoAmI(b) => b.encode(w),
            Response::AddWatch(b) => b.encode(w),
            Response::Sasl(b) => b.encode(w),
            Response::Multi(b) => b.encode(w),
        }
    }

    /// Reads the body of a successful reply to a request with opcode `op`. Bytes after the
    /// body are left unread; see [`Response::decode_exact`].
    pub fn decode(op: OpCode, r: &mut JuteReader<'_>) -> Result<Response, DecodeError> {
        let layout = Layout::of(op).ok_or(DecodeError::NoBodyForOpCode(op, "reply"))?;
        Ok(match layout {
            Layout::Empty => Response::Empty,
            Layout::Create => Response::Create(CreateResponse::decode(r)?),
            Layout::Create2 => Response::Create2(Create2Response::decode(r)?),
            Layout::Exists => Response::Exists(ExistsResponse::decode(r)?),
            Layout::SetData => Response::SetData(SetDataResponse::decode(r)?),
            Layout::SetAcl => Response::SetAcl(SetAclResponse::decode(r)?),
            Layout::GetData => Response::GetData(GetDataResponse::decode(r)?),
            Layout::GetAcl => Response::GetAcl(GetAclResponse::decode(r)?),
            Layout::GetChildren => Response::GetChildren(GetChildrenResponse::decode(r)?),
            Layout::GetChildren2 => Response::GetChildren2(GetChildren2Response::decode(r)?),
            Layout::Sync => Response::Sync(SyncResponse::decode(r)?),
            Layout::GetEphemerals => Response::GetEphemerals(GetEphemeralsResponse::decode(r)?),
            Layout::GetAllChildrenNumber => {
                Response::GetAllChildrenNumber(GetAllChildrenNumberResponse::decode(r)?)
            }
            Layout::WhoAmI => Response::WhoAmI(WhoAmIResponse::decode(r)?),
            Layout::AddWatch => Response::AddWatch(ErrorResponse::decode(r)?),
            Layout::Sasl => Response::Sasl(SaslResponse::decode(r)?),
            Layout::Multi => Response::Multi(MultiResponse::decode(r)?),
        })
    }

    /// Like [`Response::decode`] over a whole body, failing if bytes are left over.
    pub fn decode_exact(op: OpCode, body: &[u8]) -> Result<Response, DecodeError> {
        let mut r = JuteReader::new(body);
        let resp = Response::decode(op, &mut r)?;
        if !r.is_empty() {
            return Err(DecodeError::TrailingBytes(r.remaining()));
        }
        Ok(resp)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::arbitrary::*;

    fn body(resp: &Response) -> Vec<u8> {
        let mut v = Vec::new();
        resp.encode(&mut v);
        v
    }

    #[test]
    fn add_watch_reply_is_four_zero_bytes() {
        let r = Response::AddWatch(ErrorResponse { err: 0 });
        assert_eq!(body(&r), [0, 0, 0, 0]);
        assert_eq!(
            Response::decode_exact(OpCode::AddWatch, &[0; 4]).unwrap(),
            r
        );
        assert!(Response::decode_exact(OpCode::AddWatch, &[]).is_err());
    }

    #[test]
    fn every_opcode_that_answers_has_a_layout() {
        for op in OpCode::ALL {
            let expect_none = matches!(
                op,
                OpCode::Notification | OpCode::CreateSession | OpCode::Error
            );
            assert_eq!(Layout::of(*op).is_none(), expect_none, "{op:?}");
        }
        assert!(Response::Empty.answers(OpCode::Ping));
        assert!(!Response::Empty.answers(OpCode::GetData));
    }

    proptest! {
        /// For every opcode with a reply: a body of its layout survives encode then decode.
        #[test]
        fn every_response_round_trips((op, resp) in op_and_response()) {
            prop_assert!(resp.answers(op));
            prop_assert_eq!(Response::decode_exact(op, &body(&resp))?, resp);
        }

        #[test]
        fn decode_never_panics(
            op in proptest::sample::select(OpCode::ALL),
            bytes in proptest::collection::vec(any::<u8>(), 0..128),
        ) {
            let _ = Response::decode_exact(op, &bytes);
        }
    }
}
