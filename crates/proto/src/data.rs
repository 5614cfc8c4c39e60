//! The data records shared by requests, responses and the tree: `Stat`, `Id`, `ACL`, and
//! `ClientInfo` (whoAmI's answer).

use bytes::BufMut;

use crate::DecodeError;
use crate::field::jute_record;
use crate::jute::{JuteReader, JuteWrite, Record};

/// A znode's metadata, field for field as ZooKeeper's `Stat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
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

impl Stat {
    /// Wire size: 6 longs and 5 ints.
    pub const ENCODED_LEN: usize = 6 * 8 + 5 * 4;
}

impl Record for Stat {
    fn encode<B: BufMut + ?Sized>(&self, w: &mut B) {
        w.write_i64(self.czxid);
        w.write_i64(self.mzxid);
        w.write_i64(self.ctime);
        w.write_i64(self.mtime);
        w.write_i32(self.version);
        w.write_i32(self.cversion);
        w.write_i32(self.aversion);
        w.write_i64(self.ephemeral_owner);
        w.write_i32(self.data_length);
        w.write_i32(self.num_children);
        w.write_i64(self.pzxid);
    }

    fn decode(r: &mut JuteReader<'_>) -> Result<Self, DecodeError> {
        Ok(Stat {
            czxid: r.read_i64()?,
            mzxid: r.read_i64()?,
            ctime: r.read_i64()?,
            mtime: r.read_i64()?,
            version: r.read_i32()?,
            cversion: r.read_i32()?,
            aversion: r.read_i32()?,
            ephemeral_owner: r.read_i64()?,
            data_length: r.read_i32()?,
            num_children: r.read_i32()?,
            pzxid: r.read_i64()?,
        })
    }
}

/// An identity: `scheme` (world, auth, digest, ip, super, …) and `id` within it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Id {
    pub scheme: String,
    pub id: String,
}

impl Id {
    pub fn new(scheme: impl Into<String>, id: impl Into<String>) -> Self {
        Id {
            scheme: scheme.into(),
            id: id.into(),
        }
    }

    /// `world:anyone`.
    pub fn anyone() -> Self {
        Id::new("world", "anyone")
    }
}

impl Record for Id {
    fn encode<B: BufMut + ?Sized>(&self, w: &mut B) {
        w.write_string(&self.scheme);
        w.write_string(&self.id);
    }

    fn decode(r: &mut JuteReader<'_>) -> Result<Self, DecodeError> {
        Ok(Id {
            scheme: r.read_string()?,
            id: r.read_string()?,
        })
    }
}

/// One ACL entry: permission bits (see [`crate::perms`]) granted to an identity.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Acl {
    pub perms: i32,
    pub id: Id,
}

impl Acl {
    pub fn new(perms: i32, id: Id) -> Self {
        Acl { perms, id }
    }

    /// `world:anyone` with all permissions: ZooKeeper's OPEN_ACL_UNSAFE.
    pub fn open_unsafe() -> Vec<Acl> {
        vec![Acl::new(crate::perms::ALL, Id::anyone())]
    }

    /// `world:anyone` read-only: ZooKeeper's READ_ACL_UNSAFE.
    pub fn read_unsafe() -> Vec<Acl> {
        vec![Acl::new(crate::perms::READ, Id::anyone())]
    }

    /// Smallest wire encoding (perms + two empty strings), for bounding vector lengths.
    pub const MIN_ENCODED_LEN: usize = 12;
}

impl Record for Acl {
    fn encode<B: BufMut + ?Sized>(&self, w: &mut B) {
        w.write_i32(self.perms);
        self.id.encode(w);
    }

    fn decode(r: &mut JuteReader<'_>) -> Result<Self, DecodeError> {
        Ok(Acl {
            perms: r.read_i32()?,
            id: Id::decode(r)?,
        })
    }
}

/// Encodes a vector of ACLs.
pub fn encode_acls<B: BufMut + ?Sized>(acls: &[Acl], w: &mut B) {
    w.write_i32(acls.len() as i32);
    for a in acls {
        a.encode(w);
    }
}

/// Decodes a vector of ACLs (null reads as empty).
pub fn decode_acls(r: &mut JuteReader<'_>) -> Result<Vec<Acl>, DecodeError> {
    r.read_vec(Acl::MIN_ENCODED_LEN, Acl::decode)
}

jute_record!(
    /// One identity of a connection as whoAmI reports it: `ClientInfo {authScheme, user}`.
    ClientInfo {
        auth_scheme: String,
        /// The user name, or another id such as the client's address for the `ip` scheme.
        user: String,
    }
);

impl ClientInfo {
    /// Smallest wire encoding (two empty strings), for bounding vector lengths.
    pub const MIN_ENCODED_LEN: usize = 8;
}
