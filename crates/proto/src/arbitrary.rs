//! proptest strategies for every record, shared by the round-trip tests beside each module.

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::strategy::{BoxedStrategy, Union};

use crate::codes::OpCode;
use crate::data::{Acl, ClientInfo, Id, Stat};
use crate::message::{Request, Response};
use crate::multi::{MultiOp, MultiRequest, MultiResponse, MultiResult};
use crate::requests::*;
use crate::responses::*;
use crate::session::{ConnectRequest, ConnectResponse};
use crate::watches::{AddWatchRequest, SetWatches, SetWatches2, WatcherEvent, WatchesRequest};

/// Any short string, including non-ASCII characters.
pub fn text() -> impl Strategy<Value = String> {
    ".{0,12}"
}

/// Paths: mostly path-like, sometimes arbitrary text (the codec does not validate paths).
pub fn path() -> impl Strategy<Value = String> {
    prop_oneof![3 => "(/[a-z0-9.]{1,4}){0,3}", 1 => text()]
}

pub fn bytes() -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..24)
}

/// Znode data: null, empty and non-empty buffers, the first two each drawn often.
pub fn opt_bytes() -> impl Strategy<Value = Option<Vec<u8>>> {
    prop_oneof![1 => Just(None), 1 => Just(Some(Vec::new())), 3 => bytes().prop_map(Some)]
}

pub fn names() -> impl Strategy<Value = Vec<String>> {
    vec(text(), 0..5)
}

pub fn stat() -> impl Strategy<Value = Stat> {
    (
        (any::<i64>(), any::<i64>(), any::<i64>(), any::<i64>()),
        (any::<i32>(), any::<i32>(), any::<i32>()),
        (any::<i64>(), any::<i32>(), any::<i32>(), any::<i64>()),
    )
        .prop_map(
            |(
                (czxid, mzxid, ctime, mtime),
                (version, cversion, aversion),
                (ephemeral_owner, data_length, num_children, pzxid),
            )| Stat {
                czxid,
                mzxid,
                ctime,
                mtime,
                version,
                cversion,
                aversion,
                ephemeral_owner,
                data_length,
                num_children,
                pzxid,
            },
        )
}

pub fn acls() -> impl Strategy<Value = Vec<Acl>> {
    vec(
        (any::<i32>(), text(), text()).prop_map(|(p, s, i)| Acl::new(p, Id::new(s, i))),
        0..4,
    )
}

pub fn connect_request() -> impl Strategy<Value = ConnectRequest> {
    (
        any::<i32>(),
        any::<i64>(),
        any::<i32>(),
        any::<i64>(),
        bytes(),
        any::<Option<bool>>(),
    )
        .prop_map(
            |(protocol_version, last_zxid_seen, timeout, session_id, passwd, read_only)| {
                ConnectRequest {
                    protocol_version,
                    last_zxid_seen,
                    timeout,
                    session_id,
                    passwd,
                    read_only,
                }
            },
        )
}

pub fn connect_response() -> impl Strategy<Value = ConnectResponse> {
    (
        any::<i32>(),
        any::<i32>(),
        any::<i64>(),
        bytes(),
        any::<Option<bool>>(),
    )
        .prop_map(
            |(protocol_version, timeout, session_id, passwd, read_only)| ConnectResponse {
                protocol_version,
                timeout,
                session_id,
                passwd,
                read_only,
            },
        )
}

pub fn watcher_event() -> impl Strategy<Value = WatcherEvent> {
    (any::<i32>(), any::<i32>(), path()).prop_map(|(event_type, state, path)| WatcherEvent {
        event_type,
        state,
        path,
    })
}

pub fn set_watches() -> impl Strategy<Value = SetWatches> {
    (any::<i64>(), names(), names(), names()).prop_map(|(z, d, e, c)| SetWatches {
        relative_zxid: z,
        data_watches: d,
        exist_watches: e,
        child_watches: c,
    })
}

pub fn set_watches2() -> impl Strategy<Value = SetWatches2> {
    (set_watches(), names(), names()).prop_map(|(s, p, pr)| SetWatches2 {
        relative_zxid: s.relative_zxid,
        data_watches: s.data_watches,
        exist_watches: s.exist_watches,
        child_watches: s.child_watches,
        persistent_watches: p,
        persistent_recursive_watches: pr,
    })
}

pub fn add_watch() -> impl Strategy<Value = AddWatchRequest> {
    (path(), any::<i32>()).prop_map(|(path, mode)| AddWatchRequest { path, mode })
}

pub fn watches_request() -> impl Strategy<Value = WatchesRequest> {
    (path(), any::<i32>()).prop_map(|(path, watcher_type)| WatchesRequest { path, watcher_type })
}

pub fn create_request() -> impl Strategy<Value = CreateRequest> {
    (path(), opt_bytes(), acls(), any::<i32>()).prop_map(|(path, data, acl, flags)| CreateRequest {
        path,
        data,
        acl,
        flags,
    })
}

pub fn create_ttl_request() -> impl Strategy<Value = CreateTtlRequest> {
    (create_request(), any::<i64>()).prop_map(|(c, ttl)| CreateTtlRequest {
        path: c.path,
        data: c.data,
        acl: c.acl,
        flags: c.flags,
        ttl,
    })
}

pub fn set_data_request() -> impl Strategy<Value = SetDataRequest> {
    (path(), opt_bytes(), any::<i32>()).prop_map(|(path, data, version)| SetDataRequest {
        path,
        data,
        version,
    })
}

pub fn set_acl_request() -> impl Strategy<Value = SetAclRequest> {
    (path(), acls(), any::<i32>()).prop_map(|(path, acl, version)| SetAclRequest {
        path,
        acl,
        version,
    })
}

pub fn auth_packet() -> impl Strategy<Value = AuthPacket> {
    (any::<i32>(), text(), bytes()).prop_map(|(auth_type, scheme, auth)| AuthPacket {
        auth_type,
        scheme,
        auth,
    })
}

pub fn reconfig_request() -> impl Strategy<Value = ReconfigRequest> {
    (text(), text(), text(), any::<i64>()).prop_map(|(j, l, n, c)| ReconfigRequest {
        joining_servers: j,
        leaving_servers: l,
        new_members: n,
        cur_config_id: c,
    })
}

pub fn who_am_i() -> impl Strategy<Value = WhoAmIResponse> {
    vec(
        (text(), text()).prop_map(|(auth_scheme, user)| ClientInfo { auth_scheme, user }),
        0..4,
    )
    .prop_map(|client_info| WhoAmIResponse { client_info })
}

fn path_version() -> impl Strategy<Value = (String, i32)> {
    (path(), any::<i32>())
}

fn path_watch() -> impl Strategy<Value = (String, bool)> {
    (path(), any::<bool>())
}

pub fn write_op() -> BoxedStrategy<MultiOp> {
    prop_oneof![
        create_request().prop_map(MultiOp::Create),
        create_request().prop_map(MultiOp::Create2),
        create_request().prop_map(MultiOp::CreateContainer),
        create_ttl_request().prop_map(MultiOp::CreateTtl),
        path_version().prop_map(|(path, version)| MultiOp::Delete(DeleteRequest { path, version })),
        set_data_request().prop_map(MultiOp::SetData),
        path_version()
            .prop_map(|(path, version)| MultiOp::Check(CheckVersionRequest { path, version })),
    ]
    .boxed()
}

pub fn read_op() -> BoxedStrategy<MultiOp> {
    prop_oneof![
        path_watch().prop_map(|(path, watch)| MultiOp::GetData(GetDataRequest { path, watch })),
        path_watch()
            .prop_map(|(path, watch)| MultiOp::GetChildren(GetChildrenRequest { path, watch })),
    ]
    .boxed()
}

/// A multi of one kind (all writes or all reads), as a valid request holds.
pub fn multi_request() -> impl Strategy<Value = MultiRequest> {
    prop_oneof![vec(write_op(), 0..5), vec(read_op(), 0..5)].prop_map(|ops| MultiRequest { ops })
}

pub fn multi_result() -> impl Strategy<Value = MultiResult> {
    prop_oneof![
        path().prop_map(MultiResult::Create),
        (path(), stat()).prop_map(|(p, s)| MultiResult::Create2(p, s)),
        Just(MultiResult::Delete),
        stat().prop_map(MultiResult::SetData),
        Just(MultiResult::Check),
        (opt_bytes(), stat()).prop_map(|(d, s)| MultiResult::GetData(d, s)),
        names().prop_map(MultiResult::GetChildren),
        any::<i32>().prop_map(MultiResult::Error),
    ]
}

pub fn multi_response() -> impl Strategy<Value = MultiResponse> {
    vec(multi_result(), 0..6).prop_map(|results| MultiResponse { results })
}

/// A request body of opcode `op`, or `None` for the opcodes a client never sends after a header.
pub fn request_for(op: OpCode) -> Option<BoxedStrategy<Request>> {
    Some(match op {
        OpCode::Create => create_request().prop_map(Request::Create).boxed(),
        OpCode::Create2 => create_request().prop_map(Request::Create2).boxed(),
        OpCode::CreateContainer => create_request().prop_map(Request::CreateContainer).boxed(),
        OpCode::CreateTtl => create_ttl_request().prop_map(Request::CreateTtl).boxed(),
        OpCode::Delete => path_version()
            .prop_map(|(path, version)| Request::Delete(DeleteRequest { path, version }))
            .boxed(),
        OpCode::DeleteContainer => path()
            .prop_map(|path| Request::DeleteContainer(DeleteContainerRequest { path }))
            .boxed(),
        OpCode::Exists => path_watch()
            .prop_map(|(path, watch)| Request::Exists(ExistsRequest { path, watch }))
            .boxed(),
        OpCode::GetData => path_watch()
            .prop_map(|(path, watch)| Request::GetData(GetDataRequest { path, watch }))
            .boxed(),
        OpCode::SetData => set_data_request().prop_map(Request::SetData).boxed(),
        OpCode::GetAcl => path()
            .prop_map(|path| Request::GetAcl(GetAclRequest { path }))
            .boxed(),
        OpCode::SetAcl => set_acl_request().prop_map(Request::SetAcl).boxed(),
        OpCode::GetChildren => path_watch()
            .prop_map(|(path, watch)| Request::GetChildren(GetChildrenRequest { path, watch }))
            .boxed(),
        OpCode::GetChildren2 => path_watch()
            .prop_map(|(path, watch)| Request::GetChildren2(GetChildren2Request { path, watch }))
            .boxed(),
        OpCode::Sync => path()
            .prop_map(|path| Request::Sync(SyncRequest { path }))
            .boxed(),
        OpCode::Check => path_version()
            .prop_map(|(path, version)| Request::Check(CheckVersionRequest { path, version }))
            .boxed(),
        OpCode::Multi => vec(write_op(), 0..5)
            .prop_map(|ops| Request::Multi(MultiRequest { ops }))
            .boxed(),
        OpCode::MultiRead => vec(read_op(), 0..5)
            .prop_map(|ops| Request::MultiRead(MultiRequest { ops }))
            .boxed(),
        OpCode::Reconfig => reconfig_request().prop_map(Request::Reconfig).boxed(),
        OpCode::CheckWatches => watches_request().prop_map(Request::CheckWatches).boxed(),
        OpCode::RemoveWatches => watches_request().prop_map(Request::RemoveWatches).boxed(),
        OpCode::SetWatches => set_watches().prop_map(Request::SetWatches).boxed(),
        OpCode::SetWatches2 => set_watches2().prop_map(Request::SetWatches2).boxed(),
        OpCode::AddWatch => add_watch().prop_map(Request::AddWatch).boxed(),
        OpCode::Auth => auth_packet().prop_map(Request::Auth).boxed(),
        OpCode::Sasl => bytes()
            .prop_map(|token| Request::Sasl(SaslRequest { token }))
            .boxed(),
        OpCode::GetEphemerals => path()
            .prop_map(|prefix_path| Request::GetEphemerals(GetEphemeralsRequest { prefix_path }))
            .boxed(),
        OpCode::GetAllChildrenNumber => path()
            .prop_map(|path| Request::GetAllChildrenNumber(GetAllChildrenNumberRequest { path }))
            .boxed(),
        OpCode::WhoAmI => Just(Request::WhoAmI).boxed(),
        OpCode::Ping => Just(Request::Ping).boxed(),
        OpCode::CloseSession => Just(Request::CloseSession).boxed(),
        OpCode::Notification | OpCode::CreateSession | OpCode::Error => return None,
    })
}

/// A request of any opcode that has one, each opcode equally likely.
pub fn request() -> impl Strategy<Value = Request> {
    Union::new(OpCode::ALL.iter().filter_map(|op| request_for(*op)))
}

/// A successful reply body for `op`, or `None` when nothing answers `op` after a header.
pub fn response_for(op: OpCode) -> Option<BoxedStrategy<Response>> {
    Some(match op {
        OpCode::Delete
        | OpCode::DeleteContainer
        | OpCode::Ping
        | OpCode::CloseSession
        | OpCode::Auth
        | OpCode::SetWatches
        | OpCode::SetWatches2
        | OpCode::CheckWatches
        | OpCode::RemoveWatches => Just(Response::Empty).boxed(),
        OpCode::Create => path()
            .prop_map(|path| Response::Create(CreateResponse { path }))
            .boxed(),
        OpCode::Create2 | OpCode::CreateContainer | OpCode::CreateTtl => (path(), stat())
            .prop_map(|(path, stat)| Response::Create2(Create2Response { path, stat }))
            .boxed(),
        OpCode::Exists => stat()
            .prop_map(|stat| Response::Exists(ExistsResponse { stat }))
            .boxed(),
        OpCode::SetData | OpCode::Check => stat()
            .prop_map(|stat| Response::SetData(SetDataResponse { stat }))
            .boxed(),
        OpCode::SetAcl => stat()
            .prop_map(|stat| Response::SetAcl(SetAclResponse { stat }))
            .boxed(),
        OpCode::GetData | OpCode::Reconfig => (opt_bytes(), stat())
            .prop_map(|(data, stat)| Response::GetData(GetDataResponse { data, stat }))
            .boxed(),
        OpCode::GetAcl => (acls(), stat())
            .prop_map(|(acl, stat)| Response::GetAcl(GetAclResponse { acl, stat }))
            .boxed(),
        OpCode::GetChildren => names()
            .prop_map(|children| Response::GetChildren(GetChildrenResponse { children }))
            .boxed(),
        OpCode::GetChildren2 => (names(), stat())
            .prop_map(|(children, stat)| {
                Response::GetChildren2(GetChildren2Response { children, stat })
            })
            .boxed(),
        OpCode::Sync => path()
            .prop_map(|path| Response::Sync(SyncResponse { path }))
            .boxed(),
        OpCode::GetEphemerals => names()
            .prop_map(|ephemerals| Response::GetEphemerals(GetEphemeralsResponse { ephemerals }))
            .boxed(),
        OpCode::GetAllChildrenNumber => any::<i32>()
            .prop_map(|total_number| {
                Response::GetAllChildrenNumber(GetAllChildrenNumberResponse { total_number })
            })
            .boxed(),
        OpCode::WhoAmI => who_am_i().prop_map(Response::WhoAmI).boxed(),
        OpCode::AddWatch => any::<i32>()
            .prop_map(|err| Response::AddWatch(ErrorResponse { err }))
            .boxed(),
        OpCode::Sasl => bytes()
            .prop_map(|token| Response::Sasl(SaslResponse { token }))
            .boxed(),
        OpCode::Multi | OpCode::MultiRead => multi_response().prop_map(Response::Multi).boxed(),
        OpCode::Notification | OpCode::CreateSession | OpCode::Error => return None,
    })
}

/// An opcode with a reply body and a body for it, each opcode equally likely.
pub fn op_and_response() -> impl Strategy<Value = (OpCode, Response)> {
    Union::new(
        OpCode::ALL
            .iter()
            .filter_map(|&op| response_for(op).map(move |s| s.prop_map(move |r| (op, r)).boxed())),
    )
}
