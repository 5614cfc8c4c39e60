//! Framing: every packet after the TCP connect is a 4-byte big-endian length and that many
//! bytes of jute.
//!
//! [`FrameDecoder`] is pure: the caller reads from its socket into a `BytesMut` and asks for
//! complete frames. It rejects a bad length as soon as the prefix is in, so a client cannot
//! make anyone buffer more than `max_buffer` for one frame, and it never reserves memory for a
//! claimed length. The encoders build one `Bytes` per frame, which a server can share between
//! every connection that gets the same notification.
//!
//! Encoding does not check sizes: records built from a server's own data stay under
//! `jute.maxbuffer` because every write that grows a node is checked against it on the way in.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::FrameError;
use crate::header::{ReplyHeader, RequestHeader};
use crate::jute::Record;
use crate::message::{Request, Response};
use crate::watches::WatcherEvent;

/// The size of the length prefix.
pub const LENGTH_PREFIX_LEN: usize = 4;

/// Builds one frame: `body` writes the payload, and its length is put in front.
pub fn encode_frame(body: impl FnOnce(&mut BytesMut)) -> Bytes {
    let mut buf = BytesMut::with_capacity(64);
    buf.put_i32(0);
    body(&mut buf);
    let len = (buf.len() - LENGTH_PREFIX_LEN) as i32;
    buf[..LENGTH_PREFIX_LEN].copy_from_slice(&len.to_be_bytes());
    buf.freeze()
}

/// A frame holding one record and nothing else: the handshake's ConnectRequest/ConnectResponse.
pub fn record_frame<R: Record>(record: &R) -> Bytes {
    encode_frame(|b| record.encode(b))
}

/// A reply: the header, then the body if there is one. An error reply has none.
pub fn reply_frame<R: Record>(header: &ReplyHeader, body: Option<&R>) -> Bytes {
    encode_frame(|b| {
        header.encode(b);
        if let Some(body) = body {
            body.encode(b);
        }
    })
}

/// A reply with no body: errors, pings, auth and setWatches acknowledgements, and the like.
pub fn header_only_frame(header: &ReplyHeader) -> Bytes {
    encode_frame(|b| header.encode(b))
}

/// A reply with a [`Response`] body.
pub fn response_frame(header: &ReplyHeader, body: &Response) -> Bytes {
    encode_frame(|b| {
        header.encode(b);
        body.encode(b);
    })
}

/// A watch notification: `ReplyHeader {xid: -1, zxid, err: 0}` and the event.
pub fn notification_frame(zxid: i64, event: &WatcherEvent) -> Bytes {
    encode_frame(|b| {
        ReplyHeader::notification(zxid).encode(b);
        event.encode(b);
    })
}

/// A client's request: the header, then the body.
pub fn request_frame(header: &RequestHeader, body: &Request) -> Bytes {
    encode_frame(|b| {
        header.encode(b);
        body.encode(b);
    })
}

/// Splits complete frames off the front of a receive buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameDecoder {
    max_buffer: usize,
}

impl FrameDecoder {
    /// `max_buffer` is `jute.maxbuffer`: the largest payload accepted.
    pub fn new(max_buffer: usize) -> Self {
        FrameDecoder { max_buffer }
    }

    pub fn max_buffer(&self) -> usize {
        self.max_buffer
    }

    /// Takes the next complete frame's payload (without its length prefix) off `buf`.
    /// `Ok(None)` means more bytes are needed; `buf` is untouched then. After an error the
    /// stream cannot be trusted and the connection should be closed.
    pub fn decode(&self, buf: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        let Some(prefix) = buf.first_chunk::<LENGTH_PREFIX_LEN>() else {
            return Ok(None);
        };
        let len = i32::from_be_bytes(*prefix);
        let payload = usize::try_from(len)
            .ok()
            .filter(|&n| n <= self.max_buffer)
            .ok_or(FrameError::BadLength {
                len,
                max: self.max_buffer,
            })?;
        if buf.len() - LENGTH_PREFIX_LEN < payload {
            return Ok(None);
        }
        buf.advance(LENGTH_PREFIX_LEN);
        Ok(Some(buf.split_to(payload).freeze()))
    }
}

impl Default for FrameDecoder {
    fn default() -> Self {
        FrameDecoder::new(crate::DEFAULT_MAX_BUFFER)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::codes::{ErrorCode, EventType, KeeperState, OpCode};
    use crate::data::Stat;
    use crate::jute::JuteReader;
    use crate::requests::SyncRequest;
    use crate::responses::ExistsResponse;

    #[test]
    fn frame_has_big_endian_length_prefix() {
        let f = encode_frame(|b| b.put_slice(b"abc"));
        assert_eq!(&f[..], &[0, 0, 0, 3, b'a', b'b', b'c']);
        assert_eq!(&encode_frame(|_| {})[..], &[0, 0, 0, 0]);
    }

    #[test]
    fn notification_frame_golden_bytes() {
        let e = WatcherEvent::new(EventType::NodeDeleted, KeeperState::SyncConnected, "/n");
        let f = notification_frame(9, &e);
        let expect: &[u8] = &[
            0, 0, 0, 30, // length: 16 header + 14 event
            0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0,
            0, // xid -1, zxid 9, err 0
            0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 2, b'/', b'n',
        ];
        assert_eq!(&f[..], expect);
    }

    #[test]
    fn reply_frames() {
        let h = ReplyHeader::new(5, 7, ErrorCode::Ok);
        let body = ExistsResponse {
            stat: Stat::default(),
        };
        let f = reply_frame(&h, Some(&body));
        assert_eq!(f.len(), 4 + ReplyHeader::ENCODED_LEN + Stat::ENCODED_LEN);
        assert_eq!(&response_frame(&h, &Response::Exists(body))[..], &f[..]);
        let err = ReplyHeader::new(5, 7, ErrorCode::NoNode);
        let only = header_only_frame(&err);
        assert_eq!(&only[..], &reply_frame::<Stat>(&err, None)[..]);
        assert_eq!(only.len(), 4 + ReplyHeader::ENCODED_LEN);
    }

    #[test]
    fn request_frame_decodes_back() {
        let req = Request::Sync(SyncRequest { path: "/s".into() });
        let f = request_frame(&RequestHeader::new(3, OpCode::Sync), &req);
        let mut buf = BytesMut::from(&f[..]);
        let payload = FrameDecoder::default().decode(&mut buf).unwrap().unwrap();
        assert!(buf.is_empty());
        let mut r = JuteReader::new(&payload);
        let h = RequestHeader::decode(&mut r).unwrap();
        assert_eq!(h.op_code(), Some(OpCode::Sync));
        assert_eq!(Request::decode(OpCode::Sync, &mut r).unwrap(), req);
        assert!(r.is_empty());
    }

    #[test]
    fn bad_lengths_are_rejected_on_the_prefix_alone() {
        let d = FrameDecoder::new(10);
        let mut neg = BytesMut::from(&(-1i32).to_be_bytes()[..]);
        assert_eq!(
            d.decode(&mut neg),
            Err(FrameError::BadLength { len: -1, max: 10 })
        );
        let mut big = BytesMut::from(&11i32.to_be_bytes()[..]);
        assert_eq!(
            d.decode(&mut big),
            Err(FrameError::BadLength { len: 11, max: 10 })
        );
        let mut huge = BytesMut::from(&i32::MAX.to_be_bytes()[..]);
        assert!(d.decode(&mut huge).is_err());
        assert!(
            huge.capacity() < 64,
            "nothing reserved for the claimed length"
        );
        let mut max = BytesMut::from(&10i32.to_be_bytes()[..]);
        assert_eq!(d.decode(&mut max), Ok(None));
        max.put_slice(&[0; 10]);
        assert_eq!(d.decode(&mut max).unwrap().unwrap().len(), 10);
    }

    #[test]
    fn partial_frames_wait_and_leave_the_buffer_alone() {
        let d = FrameDecoder::default();
        let f = encode_frame(|b| b.put_slice(b"hello"));
        let mut buf = BytesMut::new();
        for (i, byte) in f.iter().enumerate() {
            if i > 0 {
                assert_eq!(d.decode(&mut buf), Ok(None));
                assert_eq!(buf.len(), i);
            }
            buf.put_u8(*byte);
        }
        assert_eq!(&d.decode(&mut buf).unwrap().unwrap()[..], b"hello");
        assert_eq!(d.decode(&mut buf), Ok(None));
    }

    proptest! {
        /// Frames written back to back and fed in arbitrary chunks come out whole, in order.
        #[test]
        fn frames_survive_any_chunking(
            payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..8),
            cuts in proptest::collection::vec(1usize..16, 1..64),
        ) {
            let mut wire = Vec::new();
            for p in &payloads {
                wire.extend_from_slice(&encode_frame(|b| b.put_slice(p)));
            }
            let d = FrameDecoder::new(64);
            let mut buf = BytesMut::new();
            let mut out = Vec::new();
            let mut rest = &wire[..];
            let mut cut = cuts.iter().cycle();
            while !rest.is_empty() {
                let n = (*cut.next().unwrap_or(&1)).min(rest.len());
                buf.put_slice(&rest[..n]);
                rest = &rest[n..];
                while let Some(f) = d.decode(&mut buf)? {
                    out.push(f.to_vec());
                }
            }
            prop_assert_eq!(out, payloads);
            prop_assert!(buf.is_empty());
        }

        #[test]
        fn decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256), max in 0usize..300) {
            let d = FrameDecoder::new(max);
            let mut buf = BytesMut::from(&bytes[..]);
            while let Ok(Some(f)) = d.decode(&mut buf) {
                prop_assert!(f.len() <= max);
            }
        }
    }
}
