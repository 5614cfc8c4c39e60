//! A connection's outbound queue: frames wait here until the connection's writer task sends them.
//!
//! The core pushes replies and notifications without ever waiting (it must not block on a slow
//! client), so the queue is bounded in bytes instead: a push that would take it over the limit
//! closes the connection. A client that stops reading therefore costs the server at most the
//! limit, and is disconnected with a log line. Frames are `Bytes`, so a notification encoded once
//! is shared by every connection it goes to.
//!
//! Notifications may skip the queue: when nothing is queued or being written, [`Outbox::push_now`]
//! writes the frame to the socket at once with a non-blocking write, so a fan-out to many
//! connections costs one syscall each instead of a task wake-up and a thread hand-off each.
//! Whatever the socket does not take goes to the queue as usual; order is kept because the
//! direct path is only taken when the writer has nothing in hand.

use std::collections::VecDeque;
use std::sync::Mutex;

use bytes::Bytes;
use tokio::sync::Notify;

/// Why the connection is being closed by the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The server decided (session expired, closeSession, auth failure, protocol error, shutdown).
    Server,
    /// The client did not read its replies fast enough.
    Overflow,
}

/// A socket that can be written without waiting (a tokio TCP write half).
pub trait TryWrite: Send + Sync {
    fn try_write(&self, buf: &[u8]) -> std::io::Result<usize>;
}

impl TryWrite for tokio::net::tcp::OwnedWriteHalf {
    fn try_write(&self, buf: &[u8]) -> std::io::Result<usize> {
        tokio::net::tcp::OwnedWriteHalf::try_write(self, buf)
    }
}

struct Inner {
    frames: VecDeque<Bytes>,
    bytes: usize,
    closed: Option<CloseReason>,
    /// The writer took frames and has not come back for more: they may be partly written.
    writer_busy: bool,
    /// The socket, for [`Outbox::push_now`]; gone once the outbox is closed.
    socket: Option<std::sync::Arc<dyn TryWrite>>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inner")
            .field("frames", &self.frames.len())
            .field("bytes", &self.bytes)
            .field("closed", &self.closed)
            .field("writer_busy", &self.writer_busy)
            .finish()
    }
}

/// The bounded outbound queue of one connection. Shared by the core (producer) and the
/// connection's writer task (consumer).
#[derive(Debug)]
pub struct Outbox {
    inner: Mutex<Inner>,
    /// Wakes the writer (the one consumer of frames).
    notify: Notify,
    /// Wakes everyone waiting for the close (the reader half).
    closed_notify: Notify,
    limit: usize,
}

impl Outbox {
    pub fn new(limit: usize) -> Self {
        Outbox::with_socket(limit, None)
    }

    /// An outbox that may write notifications straight to `socket` (see [`Outbox::push_now`]).
    pub fn with_socket(limit: usize, socket: Option<std::sync::Arc<dyn TryWrite>>) -> Self {
        Outbox {
            inner: Mutex::new(Inner {
                frames: VecDeque::new(),
                bytes: 0,
                closed: None,
                writer_busy: false,
                socket,
            }),
            notify: Notify::new(),
            closed_notify: Notify::new(),
            limit,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A poisoned lock only means another thread panicked while pushing a frame; the queue
        // itself is still consistent (push and drain are single statements), so carry on.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a frame. Returns false if the connection is (now) closed; when this push overflows
    /// the limit, the connection is closed with [`CloseReason::Overflow`].
    pub fn push(&self, frame: Bytes) -> bool {
        let mut inner = self.lock();
        if inner.closed.is_some() {
            return false;
        }
        if inner.bytes + frame.len() > self.limit {
            inner.closed = Some(CloseReason::Overflow);
            inner.frames.clear();
            inner.bytes = 0;
            inner.socket = None;
            drop(inner);
            self.notify.notify_one();
            self.closed_notify.notify_waiters();
            return false;
        }
        inner.bytes += frame.len();
        inner.frames.push_back(frame);
        drop(inner);
        self.notify.notify_one();
        true
    }

    /// Like [`Outbox::push`], but when nothing is queued or being written the frame is written
    /// to the socket right away (non-blocking); only what the socket does not take is queued.
    pub fn push_now(&self, frame: Bytes) -> bool {
        let mut inner = self.lock();
        if inner.closed.is_none()
            && inner.frames.is_empty()
            && !inner.writer_busy
            && let Some(socket) = inner.socket.clone()
        {
            match socket.try_write(&frame) {
                Ok(n) if n == frame.len() => return true,
                Ok(n) => {
                    // The rest goes through the writer, which has nothing else in hand.
                    let rest = frame.slice(n..);
                    inner.bytes += rest.len();
                    inner.frames.push_back(rest);
                    drop(inner);
                    self.notify.notify_one();
                    return true;
                }
                // Would block, or an error the writer will meet and report: queue it.
                Err(_) => {}
            }
        }
        drop(inner);
        self.push(frame)
    }

    /// Closes the queue. Frames already queued are still sent (a closeSession reply, an
    /// AuthFailed reply) before the writer shuts the socket.
    pub fn close(&self) {
        let mut inner = self.lock();
        if inner.closed.is_none() {
            inner.closed = Some(CloseReason::Server);
        }
        inner.socket = None;
        drop(inner);
        self.notify.notify_one();
        self.closed_notify.notify_waiters();
    }

    pub fn closed(&self) -> Option<CloseReason> {
        self.lock().closed
    }

    /// Bytes waiting to be written.
    pub fn queued_bytes(&self) -> usize {
        self.lock().bytes
    }

    /// Waits for frames, moves all of them into `out`, and returns `Ok`; returns the close
    /// reason once the queue is closed and, unless it overflowed, drained.
    pub async fn next_batch(&self, out: &mut Vec<Bytes>) -> Result<(), CloseReason> {
        loop {
            let notified = self.notify.notified();
            {
                let mut inner = self.lock();
                if inner.closed == Some(CloseReason::Overflow) {
                    return Err(CloseReason::Overflow);
                }
                if !inner.frames.is_empty() {
                    out.extend(inner.frames.drain(..));
                    inner.bytes = 0;
                    inner.writer_busy = true;
                    return Ok(());
                }
                // Everything the writer took is written: the direct path is safe again.
                inner.writer_busy = false;
                if let Some(reason) = inner.closed {
                    return Err(reason);
                }
            }
            notified.await;
        }
    }

    /// Resolves when the queue is closed (for the reader half to stop).
    pub async fn wait_closed(&self) {
        loop {
            let notified = self.closed_notify.notified();
            tokio::pin!(notified);
            // Registered before the check, so a close between the check and the await is not
            // missed (notify_waiters only wakes registered waiters).
            notified.as_mut().enable();
            if self.closed().is_some() {
                return;
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn drains_in_order_then_reports_close() {
        let ob = Outbox::new(100);
        assert!(ob.push(Bytes::from_static(b"ab")));
        assert!(ob.push(Bytes::from_static(b"cd")));
        ob.close();
        assert!(!ob.push(Bytes::from_static(b"ef")));
        let mut out = Vec::new();
        ob.next_batch(&mut out).await.unwrap();
        assert_eq!(
            out,
            vec![Bytes::from_static(b"ab"), Bytes::from_static(b"cd")]
        );
        assert_eq!(ob.next_batch(&mut out).await, Err(CloseReason::Server));
    }

    #[tokio::test]
    async fn a_waiting_reader_does_not_steal_the_writers_wakeup() {
        let ob = std::sync::Arc::new(Outbox::new(100));
        let reader = tokio::spawn({
            let ob = ob.clone();
            async move { ob.wait_closed().await }
        });
        let writer = tokio::spawn({
            let ob = ob.clone();
            async move {
                let mut out = Vec::new();
                ob.next_batch(&mut out).await.map(|_| out)
            }
        });
        tokio::task::yield_now().await;
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert!(ob.push(Bytes::from_static(b"x")));
        let got = tokio::time::timeout(std::time::Duration::from_secs(2), writer)
            .await
            .expect("writer was not woken")
            .unwrap()
            .unwrap();
        assert_eq!(got, vec![Bytes::from_static(b"x")]);
        assert!(!reader.is_finished());
        ob.close();
        tokio::time::timeout(std::time::Duration::from_secs(2), reader)
            .await
            .expect("reader was not woken by close")
            .unwrap();
    }

    /// A socket that takes at most `room` bytes per write and records what it got.
    struct FakeSocket {
        room: std::sync::Mutex<usize>,
        got: std::sync::Mutex<Vec<u8>>,
    }

    impl TryWrite for FakeSocket {
        fn try_write(&self, buf: &[u8]) -> std::io::Result<usize> {
            let mut room = self.room.lock().unwrap();
            if *room == 0 {
                return Err(std::io::ErrorKind::WouldBlock.into());
            }
            let n = buf.len().min(*room);
            *room -= n;
            self.got.lock().unwrap().extend_from_slice(&buf[..n]);
            Ok(n)
        }
    }

    fn fake(room: usize) -> std::sync::Arc<FakeSocket> {
        std::sync::Arc::new(FakeSocket {
            room: std::sync::Mutex::new(room),
            got: std::sync::Mutex::new(Vec::new()),
        })
    }

    #[tokio::test]
    async fn push_now_writes_directly_when_idle_and_queues_the_rest() {
        let sock = fake(5);
        let ob = Outbox::with_socket(100, Some(sock.clone()));
        assert!(ob.push_now(Bytes::from_static(b"abc")));
        assert_eq!(*sock.got.lock().unwrap(), b"abc");
        assert_eq!(ob.queued_bytes(), 0);
        // Only two bytes of room left: the rest waits for the writer, in order.
        assert!(ob.push_now(Bytes::from_static(b"defg")));
        assert!(ob.push_now(Bytes::from_static(b"h")));
        let mut out = Vec::new();
        ob.next_batch(&mut out).await.unwrap();
        assert_eq!(
            out,
            vec![Bytes::from_static(b"fg"), Bytes::from_static(b"h")]
        );
        assert_eq!(*sock.got.lock().unwrap(), b"abcde");
    }

    #[tokio::test]
    async fn push_now_queues_while_the_writer_has_frames_in_hand() {
        let sock = fake(1000);
        let ob = Outbox::with_socket(100, Some(sock.clone()));
        assert!(ob.push(Bytes::from_static(b"reply")));
        let mut out = Vec::new();
        ob.next_batch(&mut out).await.unwrap();
        // The writer holds "reply" (not yet written): a notification must not overtake it.
        assert!(ob.push_now(Bytes::from_static(b"event")));
        assert!(sock.got.lock().unwrap().is_empty());
        out.clear();
        ob.next_batch(&mut out).await.unwrap();
        assert_eq!(out, vec![Bytes::from_static(b"event")]);
        // The writer comes back empty-handed: direct writes resume.
        ob.close();
        assert_eq!(ob.next_batch(&mut out).await, Err(CloseReason::Server));
        assert!(!ob.push_now(Bytes::from_static(b"late")));
        assert!(sock.got.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn overflow_closes_and_drops_queued_frames() {
        let ob = Outbox::new(4);
        assert!(ob.push(Bytes::from_static(b"abc")));
        assert!(!ob.push(Bytes::from_static(b"de")));
        assert_eq!(ob.closed(), Some(CloseReason::Overflow));
        assert_eq!(ob.queued_bytes(), 0);
        let mut out = Vec::new();
        assert_eq!(ob.next_batch(&mut out).await, Err(CloseReason::Overflow));
    }
}
