//! Reading length-prefixed frames off a connection with little memory per connection.
//!
//! A server holding ten thousand mostly idle sessions must not keep a large read buffer for each
//! one, so the buffer starts empty and grows only with bytes that actually arrive: an idle
//! connection waiting for its next frame holds [`MIN_READ`] bytes of room, a connection in the
//! middle of a large frame holds that frame. Frames are split off the buffer without copying,
//! and a large frame's allocation goes with the frame: what follows it is copied out.
//!
//! Invariants:
//! - A length below zero or over the limit is refused before anything is allocated for it.
//! - The buffer grows by at most [`MAX_READ_STEP`] per read, so a client that claims a large
//!   frame and sends nothing costs a small buffer.
//! - [`FrameReader::next_frame`] and [`FrameReader::peek_prefix`] keep all their state in the
//!   buffer, so they can be cancelled (raced in `select!`) without losing bytes.

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};

/// Spare capacity reserved for a read when no frame is known to be waiting.
pub const MIN_READ: usize = 4 * 1024;

/// Most the buffer grows by for one read while a large frame arrives.
pub const MAX_READ_STEP: usize = 64 * 1024;

/// Why no frame could be read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("client closed the connection")]
    Eof,
    #[error("client closed the connection in the middle of a frame")]
    TruncatedFrame,
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    #[error("frame length {0} is outside 0..=jute.maxbuffer ({1})")]
    BadLength(i32, usize),
}

/// Frames off one byte stream; see the module docs.
#[derive(Debug)]
pub struct FrameReader<R> {
    source: R,
    buf: BytesMut,
    max_frame: usize,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    pub fn new(source: R, max_frame: usize) -> Self {
        FrameReader {
            source,
            buf: BytesMut::new(),
            max_frame,
        }
    }

    /// The first four bytes as a big-endian i32, without consuming them (a four-letter word or
    /// the handshake's length).
    pub async fn peek_prefix(&mut self) -> Result<i32, FrameError> {
        while self.buf.len() < 4 {
            self.fill(MIN_READ).await?;
        }
        Ok(i32::from_be_bytes([
            self.buf[0],
            self.buf[1],
            self.buf[2],
            self.buf[3],
        ]))
    }

    /// The next frame's payload (without its length prefix).
    pub async fn next_frame(&mut self) -> Result<Bytes, FrameError> {
        loop {
            if self.buf.len() >= 4 {
                let len = i32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]);
                let Some(len) = usize::try_from(len).ok().filter(|l| *l <= self.max_frame) else {
                    return Err(FrameError::BadLength(len, self.max_frame));
                };
                let needed = 4 + len;
                if self.buf.len() >= needed {
                    self.buf.advance(4);
                    let frame = self.buf.split_to(len).freeze();
                    if self.buf.is_empty() {
                        // Nothing more has arrived: drop the handle on the frame's allocation
                        // (the frame owns it now) so it is freed with the frame.
                        self.buf = BytesMut::new();
                    } else if len > MAX_READ_STEP {
                        // The start of the next frame shares a large frame's allocation, which
                        // would outlive the frame: keep a copy of just those bytes instead.
                        self.buf = BytesMut::from(&self.buf[..]);
                    }
                    return Ok(frame);
                }
                let missing = needed - self.buf.len();
                self.fill(missing.clamp(MIN_READ, MAX_READ_STEP)).await?;
            } else {
                self.fill(MIN_READ).await?;
            }
        }
    }

    /// Reads whatever arrives (at least one byte) with `spare` bytes of room.
    async fn fill(&mut self, spare: usize) -> Result<(), FrameError> {
        if self.buf.capacity() - self.buf.len() < spare {
            self.buf.reserve(spare);
        }
        match self.source.read_buf(&mut self.buf).await? {
            0 if self.buf.is_empty() => Err(FrameError::Eof),
            0 => Err(FrameError::TruncatedFrame),
            _ => Ok(()),
        }
    }

    /// Bytes read and not yet returned as frames, plus room reserved for the next read.
    pub fn buffer_capacity(&self) -> usize {
        self.buf.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    fn frame(payload: &[u8]) -> Vec<u8> {
        let mut v = (payload.len() as i32).to_be_bytes().to_vec();
        v.extend_from_slice(payload);
        v
    }

    #[tokio::test]
    async fn frames_split_across_reads_and_packed_in_one_read_both_come_out_whole() {
        let (mut tx, rx) = tokio::io::duplex(64);
        let mut r = FrameReader::new(rx, 1 << 20);
        let mut bytes = frame(b"first");
        bytes.extend(frame(b""));
        bytes.extend(frame(&[7u8; 300]));
        let writer = tokio::spawn(async move {
            for chunk in bytes.chunks(7) {
                tx.write_all(chunk).await.unwrap();
            }
        });
        assert_eq!(&r.next_frame().await.unwrap()[..], b"first");
        assert_eq!(&r.next_frame().await.unwrap()[..], b"");
        assert_eq!(&r.next_frame().await.unwrap()[..], &[7u8; 300][..]);
        writer.await.unwrap();
        assert!(matches!(r.next_frame().await, Err(FrameError::Eof)));
    }

    #[tokio::test]
    async fn peek_does_not_consume_the_prefix() {
        let (mut tx, rx) = tokio::io::duplex(64);
        tx.write_all(&frame(b"abc")).await.unwrap();
        let mut r = FrameReader::new(rx, 1 << 20);
        assert_eq!(r.peek_prefix().await.unwrap(), 3);
        assert_eq!(&r.next_frame().await.unwrap()[..], b"abc");
    }

    #[tokio::test]
    async fn bad_lengths_are_refused_before_allocating() {
        for len in [-1i32, 1025] {
            let (mut tx, rx) = tokio::io::duplex(64);
            tx.write_all(&len.to_be_bytes()).await.unwrap();
            let mut r = FrameReader::new(rx, 1024);
            match r.next_frame().await {
                Err(FrameError::BadLength(l, 1024)) => assert_eq!(l, len),
                other => panic!("{other:?}"),
            }
            assert!(r.buffer_capacity() <= MIN_READ);
        }
    }

    #[tokio::test]
    async fn a_claimed_large_frame_costs_only_what_arrives() {
        let (mut tx, rx) = tokio::io::duplex(64);
        tx.write_all(&(100_000_000i32).to_be_bytes()).await.unwrap();
        tx.write_all(b"only this").await.unwrap();
        let mut r = FrameReader::new(rx, 200_000_000);
        let read = tokio::time::timeout(std::time::Duration::from_millis(50), r.next_frame()).await;
        assert!(read.is_err(), "no frame can be complete yet");
        assert!(r.buffer_capacity() <= 2 * MAX_READ_STEP);
    }

    #[tokio::test]
    async fn bytes_after_a_large_frame_do_not_keep_its_allocation() {
        let (mut tx, rx) = tokio::io::duplex(1 << 20);
        let mut r = FrameReader::new(rx, 1 << 22);
        let mut bytes = frame(&vec![3u8; 1 << 20]);
        bytes.extend_from_slice(&[0, 0]); // half of the next length prefix
        let writer = tokio::spawn(async move {
            tx.write_all(&bytes).await.unwrap();
            tx
        });
        let big = r.next_frame().await.unwrap();
        assert_eq!(big.len(), 1 << 20);
        let _tx = writer.await.unwrap();
        // Give the reader a chance to have read the two trailing bytes, then check that what
        // it keeps is a small buffer of its own, not a view into the frame's megabyte.
        drop(big);
        let pending = r.buf.len();
        assert!(pending <= 2);
        if pending > 0 {
            assert!(r.buf.capacity() < MAX_READ_STEP, "{}", r.buf.capacity());
        }
    }

    #[tokio::test]
    async fn eof_inside_a_frame_is_a_truncated_frame() {
        let (mut tx, rx) = tokio::io::duplex(64);
        tx.write_all(&(10i32).to_be_bytes()).await.unwrap();
        tx.write_all(b"abc").await.unwrap();
        drop(tx);
        let mut r = FrameReader::new(rx, 1024);
        assert!(matches!(
            r.next_frame().await,
            Err(FrameError::TruncatedFrame)
        ));
    }

    #[tokio::test]
    async fn an_idle_connection_keeps_a_small_buffer() {
        let (mut tx, rx) = tokio::io::duplex(1 << 16);
        let mut r = FrameReader::new(rx, 1 << 20);
        for _ in 0..100 {
            tx.write_all(&frame(&[1u8; 40])).await.unwrap();
            r.next_frame().await.unwrap();
        }
        assert_eq!(r.buffer_capacity(), 0);
    }
}
