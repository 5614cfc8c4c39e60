//! The peer protocol's framing: `u32 BE length | u8 kind | u64 BE request id | payload`.
//!
//! The length counts everything after itself (kind, id and payload), so it is at least
//! [`KIND_AND_ID_LEN`] and at most [`MAX_FRAME_LEN`]. The payload is postcard (serde), its type
//! given by the kind (and, for [`Kind::Reply`], by the request the reply answers).
//!
//! Invariants kept by [`FrameReader`]:
//! - A bad length or an unknown kind is refused as soon as the 13 header bytes are in, before
//!   anything is allocated for the payload; the caller closes the connection.
//! - The buffer grows with the bytes that arrive, never by what a header claims: each read asks
//!   for at most [`MAX_READ_STEP`] bytes of room beyond what is buffered (the buffer's amortised
//!   doubling can make that up to twice what has arrived). A peer that announces 64 MiB and
//!   sends ten bytes costs a small buffer.
//! - [`FrameReader::next_frame`] keeps all its state in the reader, so it may be cancelled
//!   (raced against a timer or a shutdown signal) without losing bytes.
//! - Nothing a peer sends can panic: every failure is a [`FrameError`].

use std::fmt;
use std::io;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::io::{AsyncRead, AsyncReadExt};

/// The largest frame, counted as the length field counts (kind + id + payload). A snapshot
/// travels in [`SNAPSHOT_CHUNK_LEN`] chunks, so only an AppendEntries batch or a forwarded batch
/// of proposals comes near it.
pub const MAX_FRAME_LEN: usize = 64 << 20;

/// The bytes a snapshot is cut into on the wire.
pub const SNAPSHOT_CHUNK_LEN: usize = 1 << 20;

/// The length field's own size.
pub const LEN_LEN: usize = 4;

/// Kind and request id: the smallest value of the length field.
pub const KIND_AND_ID_LEN: usize = 1 + 8;

/// Everything before the payload.
pub const HEADER_LEN: usize = LEN_LEN + KIND_AND_ID_LEN;

/// Room reserved for a read when no frame is known to be waiting: idle connections stay small.
pub const MIN_READ: usize = 4 * 1024;

/// Most the buffer grows by for one read while a large frame arrives.
pub const MAX_READ_STEP: usize = 64 * 1024;

/// What a frame carries. The values are the protocol: never renumber one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Kind {
    /// First frame of every connection: who is calling whom (`wire::Hello`).
    Hello = 1,
    AppendEntries = 2,
    Vote = 3,
    PreVote = 4,
    TransferLeader = 5,
    /// Start of a snapshot transfer (`wire::SnapshotBegin`).
    SnapshotBegin = 6,
    /// One piece of a snapshot (`wire::SnapshotChunk`).
    SnapshotChunk = 7,
    /// A [`crate::ForwardRequest`] to the leader.
    Forward = 8,
    /// The answer to the request with the same id.
    Reply = 0x80,
    /// The server will not go on with this connection (payload: the reason, a string); it
    /// closes the connection after sending it.
    Refused = 0xff,
}

impl Kind {
    pub fn from_u8(b: u8) -> Option<Kind> {
        Some(match b {
            1 => Kind::Hello,
            2 => Kind::AppendEntries,
            3 => Kind::Vote,
            4 => Kind::PreVote,
            5 => Kind::TransferLeader,
            6 => Kind::SnapshotBegin,
            7 => Kind::SnapshotChunk,
            8 => Kind::Forward,
            0x80 => Kind::Reply,
            0xff => Kind::Refused,
            _ => return None,
        })
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Kind::Hello => "hello",
            Kind::AppendEntries => "append-entries",
            Kind::Vote => "vote",
            Kind::PreVote => "pre-vote",
            Kind::TransferLeader => "transfer-leader",
            Kind::SnapshotBegin => "snapshot header",
            Kind::SnapshotChunk => "snapshot chunk",
            Kind::Forward => "forward",
            Kind::Reply => "reply",
            Kind::Refused => "refusal",
        };
        f.write_str(name)
    }
}

/// Why a frame could not be read, decoded or encoded.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("the peer closed the connection")]
    Eof,
    #[error("the peer closed the connection in the middle of a frame ({have} of {want} bytes)")]
    Truncated { have: usize, want: usize },
    #[error("i/o error: {0}")]
    Io(#[from] io::Error),
    #[error("frame length {0} is outside {KIND_AND_ID_LEN}..={MAX_FRAME_LEN}")]
    BadLength(u32),
    #[error("unknown frame kind {0:#04x}")]
    UnknownKind(u8),
    #[error("undecodable {kind} payload ({len} bytes): {source}")]
    Decode {
        kind: Kind,
        len: usize,
        source: postcard::Error,
    },
    #[error("{kind} payload has {trailing} bytes after its end")]
    Trailing { kind: Kind, trailing: usize },
    #[error("{kind} frame of {len} bytes is over the {MAX_FRAME_LEN} byte limit")]
    TooLarge { kind: Kind, len: usize },
    #[error("cannot encode {kind} payload: {source}")]
    Encode { kind: Kind, source: postcard::Error },
}

/// One frame off the wire, its payload not yet decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub kind: Kind,
    pub id: u64,
    pub payload: Bytes,
}

impl Frame {
    /// The payload as a `T`. All of it must be used: trailing bytes mean the two ends disagree
    /// about the type, which is better caught here than by a value that happens to decode.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, FrameError> {
        let (value, rest) =
            postcard::take_from_bytes::<T>(&self.payload).map_err(|source| FrameError::Decode {
                kind: self.kind,
                len: self.payload.len(),
                source,
            })?;
        if !rest.is_empty() {
            return Err(FrameError::Trailing {
                kind: self.kind,
                trailing: rest.len(),
            });
        }
        Ok(value)
    }
}

/// The bytes of one frame carrying `value`, refused if over [`MAX_FRAME_LEN`] (the receiver
/// would close the connection on it).
pub fn encode<T: Serialize + ?Sized>(kind: Kind, id: u64, value: &T) -> Result<Bytes, FrameError> {
    let mut buf = Vec::with_capacity(HEADER_LEN + 64);
    buf.put_u32(0); // the length, filled in below
    buf.put_u8(kind as u8);
    buf.put_u64(id);
    let mut buf =
        postcard::to_extend(value, buf).map_err(|source| FrameError::Encode { kind, source })?;
    let len = buf.len() - LEN_LEN;
    if len > MAX_FRAME_LEN {
        return Err(FrameError::TooLarge { kind, len });
    }
    // Fits: MAX_FRAME_LEN < u32::MAX.
    buf[..LEN_LEN].copy_from_slice(&(len as u32).to_be_bytes());
    Ok(Bytes::from(buf))
}

/// The size of the frame [`encode`] would make for `value` (length field included), without
/// making it.
pub fn encoded_len<T: Serialize + ?Sized>(kind: Kind, value: &T) -> Result<usize, FrameError> {
    postcard::experimental::serialized_size(value)
        .map(|n| HEADER_LEN + n)
        .map_err(|source| FrameError::Encode { kind, source })
}

/// Frames off one byte stream; see the module docs for what it guarantees.
#[derive(Debug)]
pub struct FrameReader<R> {
    source: R,
    buf: BytesMut,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    pub fn new(source: R) -> Self {
        FrameReader {
            source,
            buf: BytesMut::new(),
        }
    }

    /// The next whole frame. [`FrameError::Eof`] when the peer closed the connection between
    /// frames. Cancel-safe.
    pub async fn next_frame(&mut self) -> Result<Frame, FrameError> {
        loop {
            if self.buf.len() >= HEADER_LEN {
                let len = u32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]);
                let kind_byte = self.buf[LEN_LEN];
                let len_usize = len as usize;
                if !(KIND_AND_ID_LEN..=MAX_FRAME_LEN).contains(&len_usize) {
                    return Err(FrameError::BadLength(len));
                }
                let Some(kind) = Kind::from_u8(kind_byte) else {
                    return Err(FrameError::UnknownKind(kind_byte));
                };
                let needed = LEN_LEN + len_usize;
                if self.buf.len() >= needed {
                    self.buf.advance(LEN_LEN + 1);
                    let id = self.buf.get_u64();
                    let payload = self.buf.split_to(len_usize - KIND_AND_ID_LEN).freeze();
                    if self.buf.is_empty() {
                        // Nothing more has arrived: let the frame own the allocation alone, so
                        // it is freed with the frame.
                        self.buf = BytesMut::new();
                    } else if len_usize > MAX_READ_STEP {
                        // The next frame's first bytes share a large frame's allocation, which
                        // they would keep alive: copy just them.
                        self.buf = BytesMut::from(&self.buf[..]);
                    }
                    return Ok(Frame { kind, id, payload });
                }
                let missing = needed - self.buf.len();
                self.fill(missing.clamp(MIN_READ, MAX_READ_STEP), needed)
                    .await?;
            } else {
                self.fill(MIN_READ, HEADER_LEN).await?;
            }
        }
    }

    /// Reads whatever arrives (at least one byte) with `spare` bytes of room; `want` is only for
    /// the error message when the stream ends.
    async fn fill(&mut self, spare: usize, want: usize) -> Result<(), FrameError> {
        if self.buf.capacity() - self.buf.len() < spare {
            self.buf.reserve(spare);
        }
        match self.source.read_buf(&mut self.buf).await? {
            0 if self.buf.is_empty() => Err(FrameError::Eof),
            0 => Err(FrameError::Truncated {
                have: self.buf.len(),
                want,
            }),
            _ => Ok(()),
        }
    }

    /// The stream, for whoever reads what follows (buffered bytes are dropped).
    pub fn into_inner(self) -> R {
        self.source
    }

    /// Bytes read and not yet returned as frames, plus the room reserved for the next read.
    pub fn buffer_capacity(&self) -> usize {
        self.buf.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use tokio::io::AsyncWriteExt;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Sample {
        a: u64,
        s: String,
        b: Bytes,
    }

    fn sample(n: usize) -> Sample {
        Sample {
            a: 7,
            s: "hello".into(),
            b: Bytes::from(vec![0xabu8; n]),
        }
    }

    fn raw_header(len: u32, kind: u8, id: u64) -> Vec<u8> {
        let mut v = len.to_be_bytes().to_vec();
        v.push(kind);
        v.extend_from_slice(&id.to_be_bytes());
        v
    }

    #[tokio::test]
    async fn frames_round_trip_whether_split_across_reads_or_packed_in_one() {
        let (mut tx, rx) = tokio::io::duplex(64);
        let mut r = FrameReader::new(rx);
        let mut bytes = encode(Kind::Vote, 1, &sample(0)).unwrap().to_vec();
        bytes.extend_from_slice(&encode(Kind::Reply, u64::MAX, &()).unwrap());
        bytes.extend_from_slice(&encode(Kind::AppendEntries, 3, &sample(300_000)).unwrap());
        let writer = tokio::spawn(async move {
            for chunk in bytes.chunks(7000) {
                tx.write_all(chunk).await.unwrap();
            }
        });
        let f = r.next_frame().await.unwrap();
        assert_eq!((f.kind, f.id), (Kind::Vote, 1));
        assert_eq!(f.decode::<Sample>().unwrap(), sample(0));
        let f = r.next_frame().await.unwrap();
        assert_eq!((f.kind, f.id), (Kind::Reply, u64::MAX));
        f.decode::<()>().unwrap();
        let f = r.next_frame().await.unwrap();
        assert_eq!((f.kind, f.id), (Kind::AppendEntries, 3));
        assert_eq!(f.decode::<Sample>().unwrap(), sample(300_000));
        writer.await.unwrap();
        assert!(matches!(r.next_frame().await, Err(FrameError::Eof)));
    }

    #[test]
    fn encoded_len_is_the_length_of_the_encoding() {
        let s = sample(1234);
        assert_eq!(
            encoded_len(Kind::Forward, &s).unwrap(),
            encode(Kind::Forward, 9, &s).unwrap().len()
        );
    }

    #[test]
    fn every_kind_survives_its_byte() {
        for k in [
            Kind::Hello,
            Kind::AppendEntries,
            Kind::Vote,
            Kind::PreVote,
            Kind::TransferLeader,
            Kind::SnapshotBegin,
            Kind::SnapshotChunk,
            Kind::Forward,
            Kind::Reply,
            Kind::Refused,
        ] {
            assert_eq!(Kind::from_u8(k as u8), Some(k));
        }
        assert_eq!(Kind::from_u8(0), None);
        assert_eq!(Kind::from_u8(9), None);
    }

    #[tokio::test]
    async fn a_length_over_the_limit_is_refused_before_its_payload_is_read_or_allocated() {
        let (mut tx, rx) = tokio::io::duplex(64);
        let mut r = FrameReader::new(rx);
        // Claims 64 MiB + 1 and sends nothing more; the writer stays open, so the reader must
        // refuse from the header alone.
        tx.write_all(&raw_header(MAX_FRAME_LEN as u32 + 1, 2, 0))
            .await
            .unwrap();
        assert!(matches!(
            r.next_frame().await,
            Err(FrameError::BadLength(n)) if n as usize == MAX_FRAME_LEN + 1
        ));
        assert!(r.buffer_capacity() <= MIN_READ * 2);
    }

    #[tokio::test]
    async fn a_length_too_short_for_kind_and_id_is_refused() {
        let (mut tx, rx) = tokio::io::duplex(64);
        let mut r = FrameReader::new(rx);
        tx.write_all(&raw_header(8, 2, 0)).await.unwrap();
        assert!(matches!(
            r.next_frame().await,
            Err(FrameError::BadLength(8))
        ));
    }

    #[tokio::test]
    async fn an_unknown_kind_is_refused_from_the_header() {
        let (mut tx, rx) = tokio::io::duplex(64);
        let mut r = FrameReader::new(rx);
        tx.write_all(&raw_header(1000, 0x42, 0)).await.unwrap();
        assert!(matches!(
            r.next_frame().await,
            Err(FrameError::UnknownKind(0x42))
        ));
    }

    #[tokio::test]
    async fn a_large_claim_grows_the_buffer_only_with_arriving_bytes() {
        let (mut tx, rx) = tokio::io::duplex(1 << 20);
        let mut r = FrameReader::new(rx);
        let mut bytes = raw_header(MAX_FRAME_LEN as u32, 2, 0);
        bytes.extend_from_slice(&[0u8; 100]);
        tx.write_all(&bytes).await.unwrap();
        drop(tx);
        assert!(matches!(
            r.next_frame().await,
            Err(FrameError::Truncated { have: 113, .. })
        ));
        assert!(
            r.buffer_capacity() <= 2 * MAX_READ_STEP,
            "{}",
            r.buffer_capacity()
        );
    }

    #[tokio::test]
    async fn an_undecodable_payload_is_an_error_not_a_panic() {
        let (mut tx, rx) = tokio::io::duplex(64);
        let mut r = FrameReader::new(rx);
        // A string whose varint length says 100 with two bytes behind it.
        let mut bytes = raw_header(9 + 3, 3, 5);
        bytes.extend_from_slice(&[100, b'a', b'b']);
        tx.write_all(&bytes).await.unwrap();
        let f = r.next_frame().await.unwrap();
        assert!(matches!(
            f.decode::<String>(),
            Err(FrameError::Decode {
                kind: Kind::Vote,
                ..
            })
        ));
        // Bytes left after a complete value are refused too.
        let f = Frame {
            kind: Kind::Vote,
            id: 0,
            payload: Bytes::from_static(&[1, 2]),
        };
        assert!(matches!(
            f.decode::<u8>(),
            Err(FrameError::Trailing { trailing: 1, .. })
        ));
    }

    #[test]
    fn encoding_over_the_limit_is_refused() {
        let big = sample(MAX_FRAME_LEN);
        assert!(matches!(
            encode(Kind::Forward, 1, &big),
            Err(FrameError::TooLarge {
                kind: Kind::Forward,
                ..
            })
        ));
    }

    #[tokio::test]
    async fn a_cancelled_read_loses_no_bytes() {
        let (mut tx, rx) = tokio::io::duplex(64);
        let mut r = FrameReader::new(rx);
        let bytes = encode(Kind::Vote, 4, &sample(10)).unwrap();
        tx.write_all(&bytes[..5]).await.unwrap();
        // The read has the first five bytes and waits for more; give up on it.
        // One poll reads the five bytes that are there and finds the rest missing.
        assert!(futures::FutureExt::now_or_never(r.next_frame()).is_none());
        tx.write_all(&bytes[5..]).await.unwrap();
        let f = r.next_frame().await.unwrap();
        assert_eq!(f.decode::<Sample>().unwrap(), sample(10));
    }
}
