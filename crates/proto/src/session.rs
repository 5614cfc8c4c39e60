//! The handshake: `ConnectRequest` and `ConnectResponse`, the only records sent without a
//! request or reply header.
//!
//! Both end in a `readOnly` byte that clients older than ZooKeeper 3.4 (and node-zookeeper-client)
//! leave out. Decoding records whether it was there, so a server can answer in the form the
//! client used; encoding writes it only when it is `Some`. Anything after the byte is left
//! unread: ZooKeeper tolerates it, and [`Record::decode_exact`] is there for callers that do not.

use bytes::BufMut;

use crate::DecodeError;
use crate::jute::{JuteReader, JuteWrite, Record};

/// The length of a session password as ZooKeeper issues it.
pub const SESSION_PASSWORD_LEN: usize = 16;

/// `ConnectRequest {int protocolVersion; long lastZxidSeen; int timeOut; long sessionId;
/// buffer passwd; [boolean readOnly]}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Hash)]
pub struct ConnectRequest {
    pub protocol_version: i32,
    /// The newest zxid the client has seen; a server behind it must refuse the connection.
    pub last_zxid_seen: i64,
    /// Requested session timeout in milliseconds.
    pub timeout: i32,
    /// 0 for a new session, else the session to resume.
    pub session_id: i64,
    pub passwd: Vec<u8>,
    /// `None` when the client omitted the trailing byte.
    pub read_only: Option<bool>,
}

impl Record for ConnectRequest {
    fn encode<B: BufMut + ?Sized>(&self, w: &mut B) {
        w.write_i32(self.protocol_version);
        w.write_i64(self.last_zxid_seen);
        w.write_i32(self.timeout);
        w.write_i64(self.session_id);
        w.write_buffer(&self.passwd);
        if let Some(ro) = self.read_only {
            w.write_bool(ro);
        }
    }

    fn decode(r: &mut JuteReader<'_>) -> Result<Self, DecodeError> {
        Ok(ConnectRequest {
            protocol_version: r.read_i32()?,
            last_zxid_seen: r.read_i64()?,
            timeout: r.read_i32()?,
            session_id: r.read_i64()?,
            passwd: r.read_buffer()?,
            read_only: read_optional_bool(r)?,
        })
    }
}

/// `ConnectResponse {int protocolVersion; int timeOut; long sessionId; buffer passwd;
/// [boolean readOnly]}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Hash)]
pub struct ConnectResponse {
    pub protocol_version: i32,
    /// Negotiated session timeout in milliseconds; 0 tells the client its session expired.
    pub timeout: i32,
    pub session_id: i64,
    pub passwd: Vec<u8>,
    /// `None` leaves the byte out, for clients that did not send one.
    pub read_only: Option<bool>,
}

impl ConnectResponse {
    /// The answer to a resume of an unknown or expired session, or one with a wrong password:
    /// timeout 0, session 0 and a zeroed password, which clients read as Expired.
    pub fn expired(protocol_version: i32, read_only: Option<bool>) -> Self {
        ConnectResponse {
            protocol_version,
            timeout: 0,
            session_id: 0,
            passwd: vec![0; SESSION_PASSWORD_LEN],
            read_only: read_only.map(|_| false),
        }
    }
}

impl Record for ConnectResponse {
    fn encode<B: BufMut + ?Sized>(&self, w: &mut B) {
        w.write_i32(self.protocol_version);
        w.write_i32(self.timeout);
        w.write_i64(self.session_id);
        w.write_buffer(&self.passwd);
        if let Some(ro) = self.read_only {
            w.write_bool(ro);
        }
    }

    fn decode(r: &mut JuteReader<'_>) -> Result<Self, DecodeError> {
        Ok(ConnectResponse {
            protocol_version: r.read_i32()?,
            timeout: r.read_i32()?,
            session_id: r.read_i64()?,
            passwd: r.read_buffer()?,
            read_only: read_optional_bool(r)?,
        })
    }
}

fn read_optional_bool(r: &mut JuteReader<'_>) -> Result<Option<bool>, DecodeError> {
    if r.is_empty() {
        Ok(None)
    } else {
        r.read_bool().map(Some)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::arbitrary::*;

    /// Hand-derived from `zookeeper.jute`: int, long, int, long, buffer (int length + bytes).
    const CONNECT_REQUEST_OLD: &[u8] = &[
        0, 0, 0, 0, // protocolVersion 0
        0, 0, 0, 0, 0, 0, 0, 0x2a, // lastZxidSeen 42
        0, 0, 0x75, 0x30, // timeOut 30000
        0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, // sessionId
        0, 0, 0, 2, 0xab, 0xcd, // passwd: length 2, bytes
    ];

    #[test]
    fn connect_request_without_read_only_byte() {
        let req = ConnectRequest::decode_exact(CONNECT_REQUEST_OLD).unwrap();
        assert_eq!(
            req,
            ConnectRequest {
                protocol_version: 0,
                last_zxid_seen: 42,
                timeout: 30_000,
                session_id: 0x0102_0304_0506_0708,
                passwd: vec![0xab, 0xcd],
                read_only: None,
            }
        );
        assert_eq!(req.to_bytes(), CONNECT_REQUEST_OLD);
    }

    #[test]
    fn connect_request_with_read_only_byte() {
        let mut wire = CONNECT_REQUEST_OLD.to_vec();
        wire.push(1);
        let req = ConnectRequest::decode_exact(&wire).unwrap();
        assert_eq!(req.read_only, Some(true));
        assert_eq!(req.to_bytes(), wire);
        wire.pop();
        wire.push(0);
        assert_eq!(
            ConnectRequest::decode_exact(&wire).unwrap().read_only,
            Some(false)
        );
    }

    #[test]
    fn connect_response_golden_bytes() {
        let resp = ConnectResponse {
            protocol_version: 0,
            timeout: 4000,
            session_id: -1,
            passwd: vec![7; 16],
            read_only: Some(false),
        };
        let mut expect = vec![0, 0, 0, 0, 0, 0, 0x0f, 0xa0];
        expect.extend_from_slice(&[0xff; 8]);
        expect.extend_from_slice(&[0, 0, 0, 16]);
        expect.extend_from_slice(&[7; 16]);
        expect.push(0);
        assert_eq!(resp.to_bytes(), expect);
        let old = ConnectResponse {
            read_only: None,
            ..resp
        };
        assert_eq!(old.to_bytes(), expect[..expect.len() - 1]);
    }

    #[test]
    fn expired_answer_keeps_the_clients_form() {
        let e = ConnectResponse::expired(0, None);
        assert_eq!((e.timeout, e.session_id, e.read_only), (0, 0, None));
        assert_eq!(e.passwd, vec![0; 16]);
        assert_eq!(
            ConnectResponse::expired(0, Some(true)).read_only,
            Some(false)
        );
    }

    #[test]
    fn truncated_connect_request_is_an_error() {
        for n in 0..CONNECT_REQUEST_OLD.len() {
            assert!(ConnectRequest::decode_exact(&CONNECT_REQUEST_OLD[..n]).is_err());
        }
    }

    proptest! {
        #[test]
        fn connect_request_round_trips(v in connect_request()) {
            prop_assert_eq!(ConnectRequest::decode_exact(&v.to_bytes())?, v);
        }

        #[test]
        fn connect_response_round_trips(v in connect_response()) {
            prop_assert_eq!(ConnectResponse::decode_exact(&v.to_bytes())?, v);
        }

        #[test]
        fn connect_request_decode_never_panics(b in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = ConnectRequest::decode_exact(&b);
            let _ = ConnectResponse::decode_exact(&b);
        }
    }
}
