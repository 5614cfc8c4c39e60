//! The reply shapes the core sends, as ready-to-send frames built with `watchkeeper_proto::frame`.

use bytes::Bytes;
use watchkeeper_proto::frame;
use watchkeeper_proto::{ErrorCode, EventType, KeeperState, Record, ReplyHeader, WatcherEvent};

/// A frame holding one record (the handshake answer has no reply header).
pub(crate) fn frame_of<R: Record>(record: &R) -> Bytes {
    frame::record_frame(record)
}

/// A successful reply with a body.
pub(crate) fn reply_frame<R: Record>(xid: i32, zxid: i64, body: &R) -> Bytes {
    frame::reply_frame(&ReplyHeader::new(xid, zxid, ErrorCode::Ok), Some(body))
}

/// A reply with only a header carrying an error (or Ok with no body).
pub(crate) fn error_frame(xid: i32, zxid: i64, err: ErrorCode) -> Bytes {
    frame::header_only_frame(&ReplyHeader::new(xid, zxid, err))
}

/// A successful reply with no body (ping, delete, setWatches, …).
pub(crate) fn empty_frame(xid: i32, zxid: i64) -> Bytes {
    error_frame(xid, zxid, ErrorCode::Ok)
}

/// A watch notification; encoded once per event and shared by every receiver.
pub(crate) fn notification_frame(
    zxid: i64,
    event: EventType,
    state: KeeperState,
    path: &str,
) -> Bytes {
    frame::notification_frame(zxid, &WatcherEvent::new(event, state, path))
}
