//! Request bodies: the record after a `RequestHeader`, one type per jute class, fields in
//! wire order. Watch requests live in [`crate::watches`], multi in [`crate::multi`].
//!
//! Fields whose values carry meaning (create flags, auth type) stay raw `i32`s: a value this
//! crate does not know is still a well-formed request, which ZooKeeper answers with an error
//! code (BadArguments, …) rather than by dropping the connection. Accessors classify them.

use crate::codes::CreateMode;
use crate::data::Acl;
use crate::field::jute_record;

jute_record!(
    /// `CreateRequest {ustring path; buffer data; vector<ACL> acl; int flags}`: the body of
    /// create (1), create2 (15) and createContainer (19).
    CreateRequest {
        path: String,
        /// `None` is a null buffer: ZooKeeper stores it as null, distinct from empty.
        data: Option<Vec<u8>>,
        acl: Vec<Acl>,
        /// A [`CreateMode`] value.
        flags: i32,
    }
);

impl CreateRequest {
    pub fn mode(&self) -> Option<CreateMode> {
        CreateMode::from_i32(self.flags)
    }
}

jute_record!(
    /// `CreateTTLRequest {ustring path; buffer data; vector<ACL> acl; int flags; long ttl}`
    /// (opcode 21).
    CreateTtlRequest {
        path: String,
        /// `None` is a null buffer, as in [`CreateRequest`].
        data: Option<Vec<u8>>,
        acl: Vec<Acl>,
        flags: i32,
        /// Milliseconds.
        ttl: i64,
    }
);

impl CreateTtlRequest {
    pub fn mode(&self) -> Option<CreateMode> {
        CreateMode::from_i32(self.flags)
    }
}

jute_record!(
    /// `DeleteRequest {ustring path; int version}`; version -1 matches any.
    DeleteRequest {
        path: String,
        version: i32,
    }
);

jute_record!(
    /// deleteContainer's body (opcode 20): the path as one length-prefixed string. ZooKeeper
    /// writes it as a `buffer`, which has the same layout.
    DeleteContainerRequest {
        path: String,
    }
);

jute_record!(
    /// `ExistsRequest {ustring path; boolean watch}`.
    ExistsRequest {
        path: String,
        watch: bool,
    }
);

jute_record!(
    /// `GetDataRequest {ustring path; boolean watch}`.
    GetDataRequest {
        path: String,
        watch: bool,
    }
);

jute_record!(
    /// `GetChildrenRequest {ustring path; boolean watch}`.
    GetChildrenRequest {
        path: String,
        watch: bool,
    }
);

jute_record!(
    /// `GetChildren2Request {ustring path; boolean watch}`.
    GetChildren2Request {
        path: String,
        watch: bool,
    }
);

jute_record!(
    /// `SetDataRequest {ustring path; buffer data; int version}`.
    SetDataRequest {
        path: String,
        /// `None` is a null buffer: the node's data becomes null, not empty.
        data: Option<Vec<u8>>,
        version: i32,
    }
);

jute_record!(
    /// `GetACLRequest {ustring path}`.
    GetAclRequest {
        path: String,
    }
);

jute_record!(
    /// `SetACLRequest {ustring path; vector<ACL> acl; int version}`; version is the aversion.
    SetAclRequest {
        path: String,
        acl: Vec<Acl>,
        version: i32,
    }
);

jute_record!(
    /// `SyncRequest {ustring path}`.
    SyncRequest {
        path: String,
    }
);

jute_record!(
    /// `CheckVersionRequest {ustring path; int version}`: check (13), alone or inside a multi.
    CheckVersionRequest {
        path: String,
        version: i32,
    }
);

jute_record!(
    /// `GetEphemeralsRequest {ustring prefixPath}` (opcode 103).
    GetEphemeralsRequest {
        prefix_path: String,
    }
);

jute_record!(
    /// `GetAllChildrenNumberRequest {ustring path}` (opcode 104).
    GetAllChildrenNumberRequest {
        path: String,
    }
);

jute_record!(
    /// `AuthPacket {int type; ustring scheme; buffer auth}` (opcode 100, xid -4). `type` is
    /// unused by ZooKeeper and conventionally 0.
    AuthPacket {
        auth_type: i32,
        scheme: String,
        auth: Vec<u8>,
    }
);

jute_record!(
    /// `ReconfigRequest {ustring joiningServers; ustring leavingServers; ustring newMembers;
    /// long curConfigId}` (opcode 16). A null string reads as empty.
    ReconfigRequest {
        joining_servers: String,
        leaving_servers: String,
        new_members: String,
        cur_config_id: i64,
    }
);

jute_record!(
    /// `GetSASLRequest {buffer token}` (opcode 102): one round of a SASL exchange.
    SaslRequest {
        token: Vec<u8>,
    }
);

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::arbitrary::*;
    use crate::data::Id;
    use crate::jute::Record;

    #[test]
    fn create_request_golden_bytes() {
        let c = CreateRequest {
            path: "/x".into(),
            data: Some(vec![9]),
            acl: vec![Acl::new(31, Id::new("world", "anyone"))],
            flags: 1,
        };
        let mut expect: Vec<u8> = vec![
            0, 0, 0, 2, b'/', b'x', 0, 0, 0, 1, 9, 0, 0, 0, 1, 0, 0, 0, 31,
        ];
        expect.extend_from_slice(&[0, 0, 0, 5]);
        expect.extend_from_slice(b"world");
        expect.extend_from_slice(&[0, 0, 0, 6]);
        expect.extend_from_slice(b"anyone");
        expect.extend_from_slice(&[0, 0, 0, 1]);
        assert_eq!(c.to_bytes(), expect);
        assert_eq!(CreateRequest::decode_exact(&expect).unwrap(), c);
        assert_eq!(c.mode(), Some(CreateMode::Ephemeral));
    }

    #[test]
    fn null_path_reads_as_empty_and_null_data_as_none() {
        let wire = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 3];
        let s = SetDataRequest::decode_exact(&wire).unwrap();
        assert_eq!(
            (s.path.as_str(), s.data.as_deref(), s.version),
            ("", None, 3)
        );
        // Written back, the null path becomes empty but the null data stays null.
        let back: &[u8] = &[0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 3];
        assert_eq!(s.to_bytes(), back);
    }

    #[test]
    fn null_and_empty_data_are_distinct_on_the_wire() {
        let null = CreateRequest {
            path: "/n".into(),
            data: None,
            acl: vec![],
            flags: 0,
        };
        let empty = CreateRequest {
            data: Some(vec![]),
            ..null.clone()
        };
        let expect_null: &[u8] = &[
            0, 0, 0, 2, b'/', b'n', 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        let expect_empty: &[u8] = &[0, 0, 0, 2, b'/', b'n', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(null.to_bytes(), expect_null);
        assert_eq!(empty.to_bytes(), expect_empty);
        assert_eq!(CreateRequest::decode_exact(expect_null).unwrap(), null);
        assert_eq!(CreateRequest::decode_exact(expect_empty).unwrap(), empty);
        let ttl = CreateTtlRequest {
            path: "/n".into(),
            data: None,
            acl: vec![],
            flags: 5,
            ttl: 1,
        };
        assert_eq!(&ttl.to_bytes()[6..10], &[0xff; 4]);
        assert_eq!(
            CreateTtlRequest::decode_exact(&ttl.to_bytes()).unwrap(),
            ttl
        );
    }

    #[test]
    fn unknown_create_flags_still_decode() {
        let c = CreateRequest {
            flags: 77,
            ..Default::default()
        };
        let back = CreateRequest::decode_exact(&c.to_bytes()).unwrap();
        assert_eq!((back.flags, back.mode()), (77, None));
    }

    proptest! {
        #[test]
        fn create_round_trips(v in create_request()) {
            prop_assert_eq!(CreateRequest::decode_exact(&v.to_bytes())?, v);
        }

        #[test]
        fn create_ttl_round_trips(v in create_ttl_request()) {
            prop_assert_eq!(CreateTtlRequest::decode_exact(&v.to_bytes())?, v);
        }

        #[test]
        fn path_version_requests_round_trip(path in path(), version in any::<i32>()) {
            let d = DeleteRequest { path: path.clone(), version };
            prop_assert_eq!(DeleteRequest::decode_exact(&d.to_bytes())?, d);
            let c = CheckVersionRequest { path, version };
            prop_assert_eq!(CheckVersionRequest::decode_exact(&c.to_bytes())?, c);
        }

        #[test]
        fn path_watch_requests_round_trip(path in path(), watch in any::<bool>()) {
            let e = ExistsRequest { path: path.clone(), watch };
            prop_assert_eq!(ExistsRequest::decode_exact(&e.to_bytes())?, e);
            let g = GetDataRequest { path: path.clone(), watch };
            prop_assert_eq!(GetDataRequest::decode_exact(&g.to_bytes())?, g);
            let c = GetChildrenRequest { path: path.clone(), watch };
            prop_assert_eq!(GetChildrenRequest::decode_exact(&c.to_bytes())?, c);
            let c2 = GetChildren2Request { path, watch };
            prop_assert_eq!(GetChildren2Request::decode_exact(&c2.to_bytes())?, c2);
        }

        #[test]
        fn path_requests_round_trip(path in path()) {
            let a = GetAclRequest { path: path.clone() };
            prop_assert_eq!(GetAclRequest::decode_exact(&a.to_bytes())?, a);
            let s = SyncRequest { path: path.clone() };
            prop_assert_eq!(SyncRequest::decode_exact(&s.to_bytes())?, s);
            let d = DeleteContainerRequest { path: path.clone() };
            prop_assert_eq!(DeleteContainerRequest::decode_exact(&d.to_bytes())?, d);
            let n = GetAllChildrenNumberRequest { path: path.clone() };
            prop_assert_eq!(GetAllChildrenNumberRequest::decode_exact(&n.to_bytes())?, n);
            let e = GetEphemeralsRequest { prefix_path: path };
            prop_assert_eq!(GetEphemeralsRequest::decode_exact(&e.to_bytes())?, e);
        }

        #[test]
        fn set_data_round_trips(v in set_data_request()) {
            prop_assert_eq!(SetDataRequest::decode_exact(&v.to_bytes())?, v);
        }

        #[test]
        fn set_acl_round_trips(v in set_acl_request()) {
            prop_assert_eq!(SetAclRequest::decode_exact(&v.to_bytes())?, v);
        }

        #[test]
        fn auth_round_trips(v in auth_packet()) {
            prop_assert_eq!(AuthPacket::decode_exact(&v.to_bytes())?, v);
        }

        #[test]
        fn reconfig_round_trips(v in reconfig_request()) {
            prop_assert_eq!(ReconfigRequest::decode_exact(&v.to_bytes())?, v);
        }

        #[test]
        fn sasl_round_trips(token in bytes()) {
            let v = SaslRequest { token };
            prop_assert_eq!(SaslRequest::decode_exact(&v.to_bytes())?, v);
        }
    }
}
