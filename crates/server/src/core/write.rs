//! Writes: turning a client's request into a log entry's operation, and an applied result back
//! into the client's reply.
//!
//! Everything the tree can decide from the entry alone (paths, versions, ACLs, existence) is left
//! to apply, so that replicas decide alike. Only what depends on this server's configuration is
//! checked here, before proposing.
//!
//! Znode data passes through as the client sent it: a null buffer stays `None` in the op, so the
//! node keeps null data (getData answers null) rather than empty, as in ZooKeeper.

use bytes::Bytes;
use watchkeeper_proto::requests::{CreateRequest, CreateTtlRequest, DeleteRequest, SetDataRequest};
use watchkeeper_proto::responses::{
    Create2Response, CreateResponse, SetAclResponse, SetDataResponse,
};
use watchkeeper_proto::{
    Acl, CreateMode, ErrorCode, MultiOp, MultiResponse, MultiResult, OpCode, Request, Stat,
};
use watchkeeper_tree::{NO_TTL, Op, OpResult};

use super::reply::{empty_frame, error_frame, reply_frame};
use super::{ConnId, Core};

impl Core {
    /// The tree operation for a write request, with the opcodes of a multi's sub-ops.
    pub(super) fn write_op(
        &self,
        _conn: ConnId,
        req: &Request,
    ) -> Result<(Op, Vec<OpCode>), ErrorCode> {
        Ok(match req {
            Request::Multi(m) => {
                let mut ops = Vec::with_capacity(m.ops.len());
                let mut codes = Vec::with_capacity(m.ops.len());
                for op in &m.ops {
                    codes.push(op.op_code());
                    ops.push(self.multi_sub_op(op)?);
                }
                (Op::Multi(ops), codes)
            }
            other => (self.single_write_op(other)?, Vec::new()),
        })
    }

    fn single_write_op(&self, req: &Request) -> Result<Op, ErrorCode> {
        match req {
            Request::Create(c) | Request::Create2(c) => self.create_op(c, NO_TTL),
            Request::CreateContainer(c) => self.container_op(c),
            Request::CreateTtl(c) => self.create_ttl_op(c),
            Request::Delete(d) => Ok(delete_op(d)),
            Request::SetData(s) => Ok(set_data_op(s)),
            Request::SetAcl(s) => Ok(Op::SetAcl {
                path: s.path.clone(),
                acl: s.acl.clone(),
                version: s.version,
            }),
            // A client's deleteContainer is held to the container checker's own rule: the node
            // must be an empty container (or expired TTL node).
            Request::DeleteContainer(d) => Ok(Op::ReapNode {
                path: d.path.clone(),
            }),
            Request::Reconfig(_) => Err(ErrorCode::ReconfigDisabled),
            _ => Err(ErrorCode::Unimplemented),
        }
    }

    fn multi_sub_op(&self, op: &MultiOp) -> Result<Op, ErrorCode> {
        match op {
            MultiOp::Create(c) | MultiOp::Create2(c) => self.create_op(c, NO_TTL),
            MultiOp::CreateContainer(c) => self.container_op(c),
            MultiOp::CreateTtl(c) => self.create_ttl_op(c),
            MultiOp::Delete(d) => Ok(delete_op(d)),
            MultiOp::SetData(s) => Ok(set_data_op(s)),
            MultiOp::Check(c) => Ok(Op::Check {
                path: c.path.clone(),
                version: c.version,
            }),
            // Reads inside a write multi are not allowed.
            _ => Err(ErrorCode::BadArguments),
        }
    }

    fn container_op(&self, c: &CreateRequest) -> Result<Op, ErrorCode> {
        if c.flags != CreateMode::Container.as_i32() {
            return Err(ErrorCode::BadArguments);
        }
        self.create_fields(&c.path, &c.data, &c.acl, c.flags, NO_TTL)
    }

    fn create_ttl_op(&self, c: &CreateTtlRequest) -> Result<Op, ErrorCode> {
        self.create_fields(&c.path, &c.data, &c.acl, c.flags, c.ttl)
    }

    /// create and create2. ZooKeeper makes a plain persistent node when these carry the
    /// container flag (only createContainer makes containers).
    fn create_op(&self, c: &CreateRequest, ttl_ms: i64) -> Result<Op, ErrorCode> {
        let flags = if c.flags == CreateMode::Container.as_i32() {
            CreateMode::Persistent.as_i32()
        } else {
            c.flags
        };
        self.create_fields(&c.path, &c.data, &c.acl, flags, ttl_ms)
    }

    fn create_fields(
        &self,
        path: &str,
        data: &Option<Vec<u8>>,
        acl: &[Acl],
        flags: i32,
        ttl_ms: i64,
    ) -> Result<Op, ErrorCode> {
        let mode = CreateMode::from_i32(flags).ok_or(ErrorCode::BadArguments)?;
        // ZooKeeper's validateCreateRequest: TTL nodes only when extended types are enabled.
        // Whether the TTL fits the mode is the tree's to decide.
        if mode.is_ttl() && !self.cfg.extended_types_enabled {
            return Err(ErrorCode::Unimplemented);
        }
        Ok(Op::Create {
            path: path.to_owned(),
            data: data.clone(),
            acl: acl.to_vec(),
            mode,
            ttl_ms,
        })
    }
}

fn delete_op(d: &DeleteRequest) -> Op {
    Op::Delete {
        path: d.path.clone(),
        version: d.version,
    }
}

fn set_data_op(s: &SetDataRequest) -> Op {
    Op::SetData {
        path: s.path.clone(),
        data: s.data.clone(),
        version: s.version,
    }
}

/// The reply to an applied write.
pub(super) fn write_reply(
    xid: i32,
    zxid: i64,
    op: OpCode,
    sub_ops: &[OpCode],
    result: &Result<OpResult, ErrorCode>,
) -> Bytes {
    let result = match result {
        Ok(r) => r,
        Err(code) => return error_frame(xid, zxid, *code),
    };
    match result {
        OpResult::Created { path, stat } => create_reply(xid, zxid, op, path, *stat),
        OpResult::DataSet { stat } => reply_frame(xid, zxid, &SetDataResponse { stat: *stat }),
        OpResult::AclSet { stat } => reply_frame(xid, zxid, &SetAclResponse { stat: *stat }),
        OpResult::Multi(results) => {
            let results = results
                .iter()
                .zip(sub_ops)
                .map(|(r, op)| multi_result(*op, r))
                .collect();
            reply_frame(xid, zxid, &MultiResponse { results })
        }
        // A failed multi still answers Ok in the header, with per-op codes in the body.
        OpResult::MultiFailed(codes) => {
            reply_frame(xid, zxid, &MultiResponse::failed(codes.iter().copied()))
        }
        _ => empty_frame(xid, zxid),
    }
}

fn create_reply(xid: i32, zxid: i64, op: OpCode, path: &str, stat: Stat) -> Bytes {
    if op == OpCode::Create {
        reply_frame(
            xid,
            zxid,
            &CreateResponse {
                path: path.to_owned(),
            },
        )
    } else {
        reply_frame(
            xid,
            zxid,
            &Create2Response {
                path: path.to_owned(),
                stat,
            },
        )
    }
}

fn multi_result(op: OpCode, r: &OpResult) -> MultiResult {
    match r {
        OpResult::Created { path, stat } => {
            if op == OpCode::Create {
                MultiResult::Create(path.clone())
            } else {
                MultiResult::Create2(path.clone(), *stat)
            }
        }
        OpResult::Deleted | OpResult::Reaped => MultiResult::Delete,
        OpResult::DataSet { stat } => MultiResult::SetData(*stat),
        OpResult::Checked => MultiResult::Check,
        _ => MultiResult::Error(ErrorCode::SystemError.as_i32()),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use watchkeeper_proto::requests::{CreateTtlRequest, SetDataRequest};
    use watchkeeper_tree::DataTree;

    use super::*;
    use crate::config::Config;

    fn core() -> Core {
        let cfg = Config {
            extended_types_enabled: true,
            ..Config::default()
        };
        let handle = watchkeeper_consensus::node::Handle::detached(1);
        Core::new(Arc::new(cfg), DataTree::new(), handle, 0)
    }

    fn create(data: Option<Vec<u8>>) -> CreateRequest {
        CreateRequest {
            path: "/a".into(),
            data,
            acl: vec![],
            flags: 0,
        }
    }

    fn op_data(op: &Op) -> Option<Vec<u8>> {
        match op {
            Op::Create { data, .. } | Op::SetData { data, .. } => data.clone(),
            other => panic!("{other:?}"),
        }
    }

    fn mode_of(op: &Op) -> CreateMode {
        match op {
            Op::Create { mode, .. } => *mode,
            other => panic!("{other:?}"),
        }
    }

    /// Only createContainer makes containers; create and create2 with the container flag make
    /// a persistent node, as in ZooKeeper. createContainer without the flag is BadArguments.
    #[test]
    fn the_container_flag_counts_only_on_create_container() {
        let core = core();
        let c = CreateRequest {
            flags: CreateMode::Container.as_i32(),
            ..create(None)
        };
        for req in [Request::Create(c.clone()), Request::Create2(c.clone())] {
            let (op, _) = core.write_op(0, &req).unwrap();
            assert_eq!(mode_of(&op), CreateMode::Persistent);
        }
        let (op, _) = core.write_op(0, &Request::CreateContainer(c)).unwrap();
        assert_eq!(mode_of(&op), CreateMode::Container);
        let err = core
            .write_op(0, &Request::CreateContainer(create(None)))
            .unwrap_err();
        assert_eq!(err, ErrorCode::BadArguments);
    }

    /// A null buffer reaches the log entry as null and an empty one as empty, whatever the
    /// request carrying it.
    #[test]
    fn null_and_empty_data_pass_through_to_the_op() {
        let core = core();
        for data in [None, Some(vec![]), Some(vec![1, 2])] {
            let set = SetDataRequest {
                path: "/a".into(),
                data: data.clone(),
                version: -1,
            };
            let ttl = CreateTtlRequest {
                path: "/a".into(),
                data: data.clone(),
                acl: vec![],
                flags: CreateMode::PersistentWithTtl.as_i32(),
                ttl: 10,
            };
            let requests = [
                Request::Create(create(data.clone())),
                Request::Create2(create(data.clone())),
                Request::CreateTtl(ttl.clone()),
                Request::SetData(set.clone()),
            ];
            for req in requests {
                let (op, _) = core.write_op(1, &req).unwrap();
                assert_eq!(op_data(&op), data, "{req:?}");
            }
            let multi = watchkeeper_proto::MultiRequest {
                ops: vec![
                    MultiOp::Create(create(data.clone())),
                    MultiOp::CreateTtl(ttl),
                    MultiOp::SetData(set),
                ],
            };
            let (Op::Multi(ops), _) = core.write_op(1, &Request::Multi(multi)).unwrap() else {
                panic!("not a multi");
            };
            assert_eq!(ops.iter().map(op_data).collect::<Vec<_>>(), vec![data; 3]);
        }
    }
}
