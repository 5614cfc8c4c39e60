//! The headers in front of every request and reply after the handshake.

use crate::codes::{ErrorCode, OpCode, xid};
use crate::field::jute_record;

jute_record!(
    /// `RequestHeader {int xid; int type}`.
    ///
    /// `op` stays a raw `i32` so that an opcode this crate does not know still decodes and the
    /// server can answer it with Unimplemented; [`RequestHeader::op_code`] classifies it.
    RequestHeader {
        xid: i32,
        op: i32,
    }
);

impl RequestHeader {
    pub const ENCODED_LEN: usize = 8;

    pub fn new(xid: i32, op: OpCode) -> Self {
        RequestHeader {
            xid,
            op: op.as_i32(),
        }
    }

    /// The opcode, if it is one ZooKeeper 3.9 defines.
    pub fn op_code(&self) -> Option<OpCode> {
        OpCode::from_i32(self.op)
    }
}

jute_record!(
    /// `ReplyHeader {int xid; long zxid; int err}`. `err` is raw for the same reason as
    /// [`RequestHeader::op`]: a client must be able to read codes newer than this crate.
    ReplyHeader {
        xid: i32,
        zxid: i64,
        err: i32,
    }
);

impl ReplyHeader {
    pub const ENCODED_LEN: usize = 16;

    pub fn new(xid: i32, zxid: i64, err: ErrorCode) -> Self {
        ReplyHeader {
            xid,
            zxid,
            err: err.as_i32(),
        }
    }

    /// The header of a watch notification: xid -1, the zxid of the change that fired it.
    pub fn notification(zxid: i64) -> Self {
        ReplyHeader::new(xid::NOTIFICATION, zxid, ErrorCode::Ok)
    }

    /// The error code, if it is one ZooKeeper 3.9 defines.
    pub fn error_code(&self) -> Option<ErrorCode> {
        ErrorCode::from_i32(self.err)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::jute::Record;

    #[test]
    fn golden_bytes() {
        let h = RequestHeader::new(7, OpCode::GetData);
        assert_eq!(h.to_bytes(), [0, 0, 0, 7, 0, 0, 0, 4]);
        let r = ReplyHeader::new(-2, 0x1_0000_0002, ErrorCode::NoNode);
        assert_eq!(
            r.to_bytes(),
            [
                0xff, 0xff, 0xff, 0xfe, 0, 0, 0, 1, 0, 0, 0, 2, 0xff, 0xff, 0xff, 0x9b
            ]
        );
    }

    #[test]
    fn unknown_opcode_still_decodes() {
        let h = RequestHeader::decode_exact(&[0, 0, 0, 1, 0, 0, 0, 10]).unwrap();
        assert_eq!((h.xid, h.op, h.op_code()), (1, 10, None));
    }

    proptest! {
        #[test]
        fn request_header_round_trips(xid in any::<i32>(), op in any::<i32>()) {
            let h = RequestHeader { xid, op };
            let b = h.to_bytes();
            prop_assert_eq!(b.len(), RequestHeader::ENCODED_LEN);
            prop_assert_eq!(RequestHeader::decode_exact(&b)?, h);
        }

        #[test]
        fn reply_header_round_trips(xid in any::<i32>(), zxid in any::<i64>(), err in any::<i32>()) {
            let h = ReplyHeader { xid, zxid, err };
            let b = h.to_bytes();
            prop_assert_eq!(b.len(), ReplyHeader::ENCODED_LEN);
            prop_assert_eq!(ReplyHeader::decode_exact(&b)?, h);
        }
    }
}
