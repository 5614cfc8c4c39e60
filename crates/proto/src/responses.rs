//! Response bodies: the record after a `ReplyHeader` whose `err` is 0, one type per jute class,
//! fields in wire order. Multi's response lives in [`crate::multi`].

use crate::data::{Acl, ClientInfo, Stat};
use crate::field::jute_record;

jute_record!(
    /// `CreateResponse {ustring path}`: create (1); the path is the actual (maybe sequential) name.
    CreateResponse {
        path: String,
    }
);

jute_record!(
    /// `Create2Response {ustring path; Stat stat}`: create2, createContainer and createTTL.
    Create2Response {
        path: String,
        stat: Stat,
    }
);

jute_record!(
    /// `ExistsResponse {Stat stat}`.
    ExistsResponse {
        stat: Stat,
    }
);

jute_record!(
    /// `SetDataResponse {Stat stat}`: setData, and also a standalone check (13), which
    /// ZooKeeper 3.9 answers with the node's stat in this form.
    SetDataResponse {
        stat: Stat,
    }
);

jute_record!(
    /// `SetACLResponse {Stat stat}`.
    SetAclResponse {
        stat: Stat,
    }
);

jute_record!(
    /// `GetDataResponse {buffer data; Stat stat}`: getData, and reconfig (which returns the new
    /// configuration as data).
    GetDataResponse {
        /// `None` for a node whose data is null (created or set with a null buffer).
        data: Option<Vec<u8>>,
        stat: Stat,
    }
);

jute_record!(
    /// `GetACLResponse {vector<ACL> acl; Stat stat}`.
    GetAclResponse {
        acl: Vec<Acl>,
        stat: Stat,
    }
);

jute_record!(
    /// `GetChildrenResponse {vector<ustring> children}`: child names, not paths.
    GetChildrenResponse {
        children: Vec<String>,
    }
);

jute_record!(
    /// `GetChildren2Response {vector<ustring> children; Stat stat}`.
    GetChildren2Response {
        children: Vec<String>,
        stat: Stat,
    }
);

jute_record!(
    /// `SyncResponse {ustring path}`.
    SyncResponse {
        path: String,
    }
);

jute_record!(
    /// `GetEphemeralsResponse {vector<ustring> ephemerals}`: full paths.
    GetEphemeralsResponse {
        ephemerals: Vec<String>,
    }
);

jute_record!(
    /// `GetAllChildrenNumberResponse {int totalNumber}`: the number of descendants.
    GetAllChildrenNumberResponse {
        total_number: i32,
    }
);

jute_record!(
    /// `WhoAmIResponse {vector<ClientInfo> clientInfo}`.
    WhoAmIResponse {
        client_info: Vec<ClientInfo>,
    }
);

jute_record!(
    /// `ErrorResponse {int err}`: a failed op inside a multi, and addWatch's reply body
    /// (ZooKeeper sends `err = 0` there and the Java client expects those four bytes).
    ErrorResponse {
        err: i32,
    }
);

jute_record!(
    /// `SetSASLResponse {buffer token}`: the server's half of a SASL round.
    SaslResponse {
        token: Vec<u8>,
    }
);

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::arbitrary::*;
    use crate::jute::Record;

    #[test]
    fn get_data_response_golden_bytes() {
        let stat = Stat {
            czxid: 1,
            mzxid: 2,
            ctime: 3,
            mtime: 4,
            version: 5,
            cversion: 6,
            aversion: 7,
            ephemeral_owner: 8,
            data_length: 1,
            num_children: 10,
            pzxid: 11,
        };
        let r = GetDataResponse {
            data: Some(vec![0x61]),
            stat,
        };
        let mut expect = vec![0, 0, 0, 1, 0x61];
        for v in [1i64, 2, 3, 4] {
            expect.extend_from_slice(&v.to_be_bytes());
        }
        for v in [5i32, 6, 7] {
            expect.extend_from_slice(&v.to_be_bytes());
        }
        expect.extend_from_slice(&8i64.to_be_bytes());
        for v in [1i32, 10] {
            expect.extend_from_slice(&v.to_be_bytes());
        }
        expect.extend_from_slice(&11i64.to_be_bytes());
        assert_eq!(expect.len(), 5 + Stat::ENCODED_LEN);
        assert_eq!(r.to_bytes(), expect);
        assert_eq!(GetDataResponse::decode_exact(&expect).unwrap(), r);

        // Null data: length -1 and no bytes; the stat is unchanged.
        let null = GetDataResponse { data: None, stat };
        let mut expect_null = vec![0xff, 0xff, 0xff, 0xff];
        expect_null.extend_from_slice(&expect[5..]);
        assert_eq!(null.to_bytes(), expect_null);
        assert_eq!(GetDataResponse::decode_exact(&expect_null).unwrap(), null);
    }

    proptest! {
        #[test]
        fn path_responses_round_trip(path in path(), stat in stat()) {
            let c = CreateResponse { path: path.clone() };
            prop_assert_eq!(CreateResponse::decode_exact(&c.to_bytes())?, c);
            let c2 = Create2Response { path: path.clone(), stat };
            prop_assert_eq!(Create2Response::decode_exact(&c2.to_bytes())?, c2);
            let s = SyncResponse { path };
            prop_assert_eq!(SyncResponse::decode_exact(&s.to_bytes())?, s);
        }

        #[test]
        fn stat_responses_round_trip(stat in stat()) {
            let e = ExistsResponse { stat };
            prop_assert_eq!(ExistsResponse::decode_exact(&e.to_bytes())?, e);
            let s = SetDataResponse { stat };
            prop_assert_eq!(SetDataResponse::decode_exact(&s.to_bytes())?, s);
            let a = SetAclResponse { stat };
            prop_assert_eq!(SetAclResponse::decode_exact(&a.to_bytes())?, a);
        }

        #[test]
        fn data_and_acl_responses_round_trip(data in opt_bytes(), acl in acls(), stat in stat()) {
            let d = GetDataResponse { data, stat };
            prop_assert_eq!(GetDataResponse::decode_exact(&d.to_bytes())?, d);
            let a = GetAclResponse { acl, stat };
            prop_assert_eq!(GetAclResponse::decode_exact(&a.to_bytes())?, a);
        }

        #[test]
        fn list_responses_round_trip(names in names(), stat in stat()) {
            let c = GetChildrenResponse { children: names.clone() };
            prop_assert_eq!(GetChildrenResponse::decode_exact(&c.to_bytes())?, c);
            let c2 = GetChildren2Response { children: names.clone(), stat };
            prop_assert_eq!(GetChildren2Response::decode_exact(&c2.to_bytes())?, c2);
            let e = GetEphemeralsResponse { ephemerals: names };
            prop_assert_eq!(GetEphemeralsResponse::decode_exact(&e.to_bytes())?, e);
        }

        #[test]
        fn small_responses_round_trip(n in any::<i32>(), token in bytes()) {
            let a = GetAllChildrenNumberResponse { total_number: n };
            prop_assert_eq!(GetAllChildrenNumberResponse::decode_exact(&a.to_bytes())?, a);
            let e = ErrorResponse { err: n };
            prop_assert_eq!(ErrorResponse::decode_exact(&e.to_bytes())?, e);
            let s = SaslResponse { token };
            prop_assert_eq!(SaslResponse::decode_exact(&s.to_bytes())?, s);
        }

        #[test]
        fn who_am_i_round_trips(v in who_am_i()) {
            prop_assert_eq!(WhoAmIResponse::decode_exact(&v.to_bytes())?, v);
        }
    }
}
