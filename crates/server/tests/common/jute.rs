//! A deliberately independent jute encoder/decoder for the raw-protocol tests.
//!
//! It does not reuse `watchkeeper-proto`: a test that encoded with the server's own codec would
//! share its mistakes. Only what the tests need is here; every decode failure panics with the
//! name of the field, which is what a test wants.

/// Opcodes (ZooKeeper 3.9 `ZooDefs.OpCode`).
pub mod op {
    pub const CREATE: i32 = 1;
    pub const DELETE: i32 = 2;
    pub const EXISTS: i32 = 3;
    pub const GET_DATA: i32 = 4;
    pub const SET_DATA: i32 = 5;
    pub const GET_ACL: i32 = 6;
    pub const SET_ACL: i32 = 7;
    pub const GET_CHILDREN: i32 = 8;
    pub const SYNC: i32 = 9;
    pub const PING: i32 = 11;
    pub const GET_CHILDREN2: i32 = 12;
    pub const CHECK: i32 = 13;
    pub const MULTI: i32 = 14;
    pub const CREATE2: i32 = 15;
    pub const RECONFIG: i32 = 16;
    pub const CHECK_WATCHES: i32 = 17;
    pub const REMOVE_WATCHES: i32 = 18;
    pub const CREATE_CONTAINER: i32 = 19;
    pub const CREATE_TTL: i32 = 21;
    pub const MULTI_READ: i32 = 22;
    pub const AUTH: i32 = 100;
    pub const SET_WATCHES: i32 = 101;
    pub const GET_EPHEMERALS: i32 = 103;
    pub const GET_ALL_CHILDREN_NUMBER: i32 = 104;
    pub const SET_WATCHES2: i32 = 105;
    pub const ADD_WATCH: i32 = 106;
    pub const WHO_AM_I: i32 = 107;
    pub const CLOSE_SESSION: i32 = -11;
    pub const ERROR: i32 = -1;
}

/// Error codes (`KeeperException.Code`).
pub mod err {
    pub const OK: i32 = 0;
    pub const RUNTIME_INCONSISTENCY: i32 = -2;
    pub const MARSHALLING_ERROR: i32 = -5;
    pub const UNIMPLEMENTED: i32 = -6;
    pub const BAD_ARGUMENTS: i32 = -8;
    pub const NO_NODE: i32 = -101;
    pub const NO_AUTH: i32 = -102;
    pub const BAD_VERSION: i32 = -103;
    pub const NO_CHILDREN_FOR_EPHEMERALS: i32 = -108;
    pub const NODE_EXISTS: i32 = -110;
    pub const NOT_EMPTY: i32 = -111;
    pub const INVALID_ACL: i32 = -114;
    pub const AUTH_FAILED: i32 = -115;
    pub const NO_WATCHER: i32 = -121;
    pub const RECONFIG_DISABLED: i32 = -123;
}

/// Event types carried by notifications.
pub mod event {
    pub const NODE_CREATED: i32 = 1;
    pub const NODE_DELETED: i32 = 2;
    pub const NODE_DATA_CHANGED: i32 = 3;
    pub const NODE_CHILDREN_CHANGED: i32 = 4;
}

/// `WatcherType` for checkWatches/removeWatches.
pub mod watcher_type {
    pub const CHILDREN: i32 = 1;
    pub const DATA: i32 = 2;
    pub const ANY: i32 = 3;
    pub const PERSISTENT: i32 = 4;
    pub const PERSISTENT_RECURSIVE: i32 = 5;
}

/// Reserved xids.
pub mod xid {
    pub const NOTIFICATION: i32 = -1;
    pub const PING: i32 = -2;
    pub const AUTH: i32 = -4;
    pub const SET_WATCHES: i32 = -8;
}

/// `world:anyone` with every permission.
pub const OPEN_ACL: &[(i32, &str, &str)] = &[(31, "world", "anyone")];

/// Builds a jute record.
#[derive(Default)]
pub struct Enc(pub Vec<u8>);

impl Enc {
    pub fn new() -> Enc {
        Enc(Vec::new())
    }
    pub fn i32(mut self, v: i32) -> Enc {
        self.0.extend(v.to_be_bytes());
        self
    }
    pub fn i64(mut self, v: i64) -> Enc {
        self.0.extend(v.to_be_bytes());
        self
    }
    pub fn bool(mut self, v: bool) -> Enc {
        self.0.push(v as u8);
        self
    }
    pub fn buf(self, v: &[u8]) -> Enc {
        let mut e = self.i32(v.len() as i32);
        e.0.extend_from_slice(v);
        e
    }
    pub fn str(self, v: &str) -> Enc {
        self.buf(v.as_bytes())
    }
    pub fn strs(self, v: &[&str]) -> Enc {
        let mut e = self.i32(v.len() as i32);
        for s in v {
            e = e.str(s);
        }
        e
    }
    pub fn acl(self, acl: &[(i32, &str, &str)]) -> Enc {
        let mut e = self.i32(acl.len() as i32);
        for (perms, scheme, id) in acl {
            e = e.i32(*perms).str(scheme).str(id);
        }
        e
    }
    pub fn raw(mut self, bytes: &[u8]) -> Enc {
        self.0.extend_from_slice(bytes);
        self
    }
    pub fn done(self) -> Vec<u8> {
        self.0
    }
}

/// Request bodies the tests send.
pub mod body {
    use super::{Enc, OPEN_ACL};

    pub fn path(p: &str) -> Vec<u8> {
        Enc::new().str(p).done()
    }
    pub fn path_watch(p: &str, watch: bool) -> Vec<u8> {
        Enc::new().str(p).bool(watch).done()
    }
    pub fn create(p: &str, data: &[u8], flags: i32) -> Vec<u8> {
        create_acl(p, data, OPEN_ACL, flags)
    }
    pub fn create_acl(p: &str, data: &[u8], acl: &[(i32, &str, &str)], flags: i32) -> Vec<u8> {
        Enc::new().str(p).buf(data).acl(acl).i32(flags).done()
    }
    pub fn delete(p: &str, version: i32) -> Vec<u8> {
        Enc::new().str(p).i32(version).done()
    }
    pub fn set_data(p: &str, data: &[u8], version: i32) -> Vec<u8> {
        Enc::new().str(p).buf(data).i32(version).done()
    }
    pub fn path_type(p: &str, t: i32) -> Vec<u8> {
        Enc::new().str(p).i32(t).done()
    }
    pub fn set_watches(rel: i64, data: &[&str], exist: &[&str], child: &[&str]) -> Vec<u8> {
        Enc::new()
            .i64(rel)
            .strs(data)
            .strs(exist)
            .strs(child)
            .done()
    }
    #[allow(clippy::too_many_arguments)]
    pub fn set_watches2(
        rel: i64,
        data: &[&str],
        exist: &[&str],
        child: &[&str],
        persistent: &[&str],
        recursive: &[&str],
    ) -> Vec<u8> {
        Enc::new()
            .i64(rel)
            .strs(data)
            .strs(exist)
            .strs(child)
            .strs(persistent)
            .strs(recursive)
            .done()
    }
    pub fn auth(scheme: &str, data: &[u8]) -> Vec<u8> {
        Enc::new().i32(0).str(scheme).buf(data).done()
    }
}

/// One sub-operation of a multi request: its opcode and body.
pub struct MultiOp {
    pub op: i32,
    pub body: Vec<u8>,
}

/// Encodes a multi (or multiRead) body: `MultiHeader{type,false,-1}` + body per op, then the
/// terminator `{-1,true,-1}`.
pub fn multi(ops: &[MultiOp]) -> Vec<u8> {
    let mut e = Enc::new();
    for o in ops {
        e = e.i32(o.op).bool(false).i32(-1).raw(&o.body);
    }
    e.i32(-1).bool(true).i32(-1).done()
}

/// A znode's Stat as sent on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    pub czxid: i64,
    pub mzxid: i64,
    pub ctime: i64,
    pub mtime: i64,
    pub version: i32,
    pub cversion: i32,
    pub aversion: i32,
    pub ephemeral_owner: i64,
    pub data_length: i32,
    pub num_children: i32,
    pub pzxid: i64,
}

/// Reads a jute record; panics with the field name when the bytes run out.
pub struct Dec<'a> {
    b: &'a [u8],
}

impl<'a> Dec<'a> {
    pub fn new(b: &'a [u8]) -> Dec<'a> {
        Dec { b }
    }
    fn take(&mut self, n: usize, what: &str) -> &'a [u8] {
        assert!(
            self.b.len() >= n,
            "reply too short reading {what}: need {n} bytes, have {}",
            self.b.len()
        );
        let (h, t) = self.b.split_at(n);
        self.b = t;
        h
    }
    pub fn i32(&mut self) -> i32 {
        i32::from_be_bytes(self.take(4, "int").try_into().unwrap())
    }
    pub fn i64(&mut self) -> i64 {
        i64::from_be_bytes(self.take(8, "long").try_into().unwrap())
    }
    pub fn bool(&mut self) -> bool {
        self.take(1, "bool")[0] != 0
    }
    pub fn buf(&mut self) -> Vec<u8> {
        let n = self.i32();
        if n < 0 {
            return Vec::new();
        }
        self.take(n as usize, "buffer").to_vec()
    }
    pub fn str(&mut self) -> String {
        String::from_utf8(self.buf()).expect("ustring is UTF-8")
    }
    pub fn strs(&mut self) -> Vec<String> {
        let n = self.i32();
        (0..n.max(0)).map(|_| self.str()).collect()
    }
    pub fn acl(&mut self) -> Vec<(i32, String, String)> {
        let n = self.i32();
        (0..n.max(0))
            .map(|_| (self.i32(), self.str(), self.str()))
            .collect()
    }
    pub fn stat(&mut self) -> Stat {
        Stat {
            czxid: self.i64(),
            mzxid: self.i64(),
            ctime: self.i64(),
            mtime: self.i64(),
            version: self.i32(),
            cversion: self.i32(),
            aversion: self.i32(),
            ephemeral_owner: self.i64(),
            data_length: self.i32(),
            num_children: self.i32(),
            pzxid: self.i64(),
        }
    }
    pub fn remaining(&self) -> usize {
        self.b.len()
    }
}

/// One entry of a multi response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultiResult {
    /// The MultiHeader type: the sub-op's opcode on success, -1 for an error result.
    pub op: i32,
    /// The MultiHeader err.
    pub err: i32,
    /// What followed the header, undecoded.
    pub body: Vec<u8>,
}

/// Splits a multi response body into results. Bodies are decoded per opcode to find where each
/// one ends; the terminator must be present.
pub fn parse_multi(body: &[u8]) -> Vec<MultiResult> {
    let mut d = Dec::new(body);
    let mut out = Vec::new();
    loop {
        let op = d.i32();
        let done = d.bool();
        let err = d.i32();
        if done {
            assert_eq!(
                (op, err),
                (-1, -1),
                "multi terminator must be {{-1, true, -1}}"
            );
            assert_eq!(d.remaining(), 0, "bytes after the multi terminator");
            return out;
        }
        let before = d.remaining();
        let start = body.len() - before;
        match op {
            op::CREATE => {
                d.str();
            }
            op::CREATE2 => {
                d.str();
                d.stat();
            }
            op::SET_DATA => {
                d.stat();
            }
            op::DELETE | op::CHECK => {}
            op::GET_DATA => {
                d.buf();
                d.stat();
            }
            op::GET_CHILDREN => {
                d.strs();
            }
            op::ERROR => {
                d.i32();
            }
            other => panic!("unexpected multi result type {other}"),
        }
        let end = body.len() - d.remaining();
        out.push(MultiResult {
            op,
            err,
            body: body[start..end].to_vec(),
        });
    }
}
