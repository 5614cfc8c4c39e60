//! A connection's outbound queue: frames wait here until they are written to the socket.
//!
//! The core pushes replies and notifications without ever waiting (it must not block on a slow
//! client), so the queue is bounded in bytes instead: a push that would take it over the limit
//! closes the connection. A client that stops reading therefore costs the server about twice the
//! limit at most (the queue, plus the batch its writer task holds), and is disconnected with a
//! log line: the writer stops waiting for the socket as soon as the outbox overflows. Frames are `Bytes`, so a notification encoded once
//! is shared by every connection it goes to.
//!
//! The core works in batches: while it handles the requests and log events that are waiting, it
//! only [`Outbox::stage`]s frames; when the batch is done it calls [`Outbox::flush`] once per
//! connection it staged for. A flush writes the staged frames to the socket itself, in one
//! non-blocking vectored write, when the connection's writer task has nothing in hand; otherwise
//! (or for what the socket does not take) it hands them to the writer task. So a fan-out or a
//! herd of requests costs one syscall per connection and no task hand-offs, and pipelined
//! requests still leave in one write.
//!
//! Invariants:
//! - Frames leave in the order they were staged: staged frames are always behind queued ones,
//!   and the direct write is taken only when nothing is queued and the writer holds nothing.
//! - Staged plus queued bytes never exceed the limit; going over closes with
//!   [`CloseReason::Overflow`] and drops everything.
//! - Closing keeps what was staged or queued (a closeSession reply is still sent) unless the
//!   close is an overflow.

use std::collections::VecDeque;
use std::io::IoSlice;
use std::sync::Mutex;

use bytes::{Buf, Bytes};
use tokio::sync::Notify;

/// Why the connection is being closed by the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The server decided (session expired, closeSession, auth failure, protocol error, shutdown).
    Server,
    /// The client did not read its replies fast enough.
    Overflow,
}

/// What [`Outbox::stage`] did with a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Staged {
    /// The first frame staged since the last flush: the caller must flush this outbox.
    FlushDue,
    /// Behind frames staged earlier; a flush is already due.
    Behind,
    /// The connection is closed (or this frame overflowed it); the frame was dropped.
    Dropped,
}

/// A socket that can be written without waiting (a tokio TCP write half).
pub trait TryWrite: Send + Sync {
    fn try_write_vectored(&self, bufs: &[IoSlice<'_>]) -> std::io::Result<usize>;
}

impl TryWrite for tokio::net::tcp::OwnedWriteHalf {
    fn try_write_vectored(&self, bufs: &[IoSlice<'_>]) -> std::io::Result<usize> {
        tokio::net::tcp::OwnedWriteHalf::try_write_vectored(self, bufs)
    }
}

/// Most frames passed to one vectored write.
pub const MAX_IOV: usize = 64;

/// Accounts for a write of `n` bytes from the front of `frames`: returns how many frames went
/// out whole and trims the one written in part.
pub(crate) fn consume_written(frames: &mut [Bytes], mut n: usize) -> usize {
    let mut whole = 0;
    while n > 0 && whole < frames.len() {
        let f = &mut frames[whole];
        if n >= f.len() {
            n -= f.len();
            whole += 1;
        } else {
            f.advance(n);
            n = 0;
        }
    }
    whole
}

struct Inner {
    /// Handed to the writer task, oldest first.
    frames: VecDeque<Bytes>,
    /// Staged by the core since its last flush, behind `frames`.
    staged: Vec<Bytes>,
    /// Bytes in `frames` and `staged`.
    bytes: usize,
    closed: Option<CloseReason>,
    /// The writer took frames and has not come back for more: they may be partly written.
    writer_busy: bool,
    /// The socket, for direct writes by [`Outbox::flush`]; gone once the outbox is closed.
    socket: Option<std::sync::Arc<dyn TryWrite>>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inner")
            .field("frames", &self.frames.len())
            .field("staged", &self.staged.len())
            .field("bytes", &self.bytes)
            .field("closed", &self.closed)
            .field("writer_busy", &self.writer_busy)
            .finish()
    }
}

impl Inner {
    fn overflow(&mut self) {
        self.closed = Some(CloseReason::Overflow);
        self.frames.clear();
        self.staged.clear();
        self.bytes = 0;
        self.socket = None;
    }

    /// Writes staged frames straight to the socket while it takes them; returns how many
    /// frames went out whole and trims a partly written one.
    fn write_staged_directly(&mut self) -> usize {
        let Inner {
            staged,
            bytes,
            socket: Some(socket),
            ..
        } = self
        else {
            return 0;
        };
        let mut done = 0;
        while done < staged.len() {
            let end = (done + MAX_IOV).min(staged.len());
            let mut slices = [IoSlice::new(&[]); MAX_IOV];
            for (slot, frame) in slices.iter_mut().zip(&staged[done..end]) {
                *slot = IoSlice::new(frame);
            }
            // Would block, or an error the writer will meet and report: leave it to the writer.
            let Ok(n) = socket.try_write_vectored(&slices[..end - done]) else {
                break;
            };
            *bytes -= n;
            done += consume_written(&mut staged[done..], n);
            if done < end {
                break;
            }
        }
        done
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
    /// An outbox with no socket: everything goes through the writer (for tests).
    #[cfg(test)]
    pub fn new(limit: usize) -> Self {
        Outbox::with_socket(limit, None)
    }

    /// An outbox whose flushes may write straight to `socket` (see [`Outbox::flush`]).
    pub fn with_socket(limit: usize, socket: Option<std::sync::Arc<dyn TryWrite>>) -> Self {
        Outbox {
            inner: Mutex::new(Inner {
                frames: VecDeque::new(),
                staged: Vec::new(),
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

    /// Stages a frame to be sent at the next [`Outbox::flush`]. When it would take the
    /// outbox over its limit, the connection is closed with [`CloseReason::Overflow`].
    pub fn stage(&self, frame: Bytes) -> Staged {
        let mut inner = self.lock();
        if inner.closed.is_some() {
            return Staged::Dropped;
        }
        if inner.bytes + frame.len() > self.limit {
            inner.overflow();
            drop(inner);
            self.notify.notify_one();
            self.closed_notify.notify_waiters();
            return Staged::Dropped;
        }
        inner.bytes += frame.len();
        inner.staged.push(frame);
        if inner.staged.len() == 1 {
            Staged::FlushDue
        } else {
            Staged::Behind
        }
    }

    /// Sends what was staged: straight to the socket when nothing is queued and the writer holds
    /// nothing, the rest through the writer task.
    pub fn flush(&self) {
        let mut inner = self.lock();
        if inner.staged.is_empty() || inner.closed.is_some() {
            return;
        }
        let written = if inner.frames.is_empty() && !inner.writer_busy {
            inner.write_staged_directly()
        } else {
            0
        };
        let mut staged = std::mem::take(&mut inner.staged);
        if written == staged.len() {
            staged.clear();
            inner.staged = staged;
            return;
        }
        inner.frames.extend(staged.drain(written..));
        staged.clear();
        inner.staged = staged;
        drop(inner);
        self.notify.notify_one();
    }

    /// Stages and flushes one frame at once (the tests' shorthand; the core stages a batch).
    #[cfg(test)]
    pub fn push(&self, frame: Bytes) -> bool {
        let staged = self.stage(frame);
        self.flush();
        staged != Staged::Dropped
    }

    /// Closes the queue. Frames already queued are still sent (a closeSession reply, an
    /// AuthFailed reply) before the writer shuts the socket.
    pub fn close(&self) {
        let mut inner = self.lock();
        if inner.closed.is_none() {
            inner.closed = Some(CloseReason::Server);
            let staged = std::mem::take(&mut inner.staged);
            inner.frames.extend(staged);
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
                    let taken: usize = inner.frames.iter().map(Bytes::len).sum();
                    out.extend(inner.frames.drain(..));
                    inner.bytes -= taken;
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
        writes: std::sync::Mutex<usize>,
    }

    impl TryWrite for FakeSocket {
        fn try_write_vectored(&self, bufs: &[IoSlice<'_>]) -> std::io::Result<usize> {
            let mut room = self.room.lock().unwrap();
            if *room == 0 {
                return Err(std::io::ErrorKind::WouldBlock.into());
            }
            *self.writes.lock().unwrap() += 1;
            let mut written = 0;
            for b in bufs {
                let n = b.len().min(*room);
                *room -= n;
                written += n;
                self.got.lock().unwrap().extend_from_slice(&b[..n]);
                if *room == 0 {
                    break;
                }
            }
            Ok(written)
        }
    }

    fn fake(room: usize) -> std::sync::Arc<FakeSocket> {
        std::sync::Arc::new(FakeSocket {
            room: std::sync::Mutex::new(room),
            got: std::sync::Mutex::new(Vec::new()),
            writes: std::sync::Mutex::new(0),
        })
    }

    #[tokio::test]
    async fn a_flush_writes_everything_staged_in_one_write_when_idle() {
        let sock = fake(1000);
        let ob = Outbox::with_socket(100, Some(sock.clone()));
        assert_eq!(ob.stage(Bytes::from_static(b"ab")), Staged::FlushDue);
        assert_eq!(ob.stage(Bytes::from_static(b"cd")), Staged::Behind);
        assert!(
            sock.got.lock().unwrap().is_empty(),
            "nothing leaves before the flush"
        );
        ob.flush();
        assert_eq!(*sock.got.lock().unwrap(), b"abcd");
        assert_eq!(*sock.writes.lock().unwrap(), 1);
        assert_eq!(ob.queued_bytes(), 0);
        assert_eq!(ob.stage(Bytes::from_static(b"e")), Staged::FlushDue);
    }

    #[tokio::test]
    async fn what_the_socket_does_not_take_goes_to_the_writer_in_order() {
        let sock = fake(5);
        let ob = Outbox::with_socket(100, Some(sock.clone()));
        ob.stage(Bytes::from_static(b"abc"));
        ob.stage(Bytes::from_static(b"defg"));
        ob.stage(Bytes::from_static(b"h"));
        ob.flush();
        assert_eq!(*sock.got.lock().unwrap(), b"abcde");
        assert_eq!(ob.queued_bytes(), 3);
        let mut out = Vec::new();
        ob.next_batch(&mut out).await.unwrap();
        assert_eq!(
            out,
            vec![Bytes::from_static(b"fg"), Bytes::from_static(b"h")]
        );
        assert_eq!(ob.queued_bytes(), 0);
    }

    #[tokio::test]
    async fn a_flush_queues_while_the_writer_has_frames_in_hand() {
        let sock = fake(1000);
        let ob = Outbox::with_socket(100, Some(sock.clone()));
        *sock.room.lock().unwrap() = 0;
        assert!(ob.push(Bytes::from_static(b"reply")));
        *sock.room.lock().unwrap() = 1000;
        let mut out = Vec::new();
        ob.next_batch(&mut out).await.unwrap();
        // The writer holds "reply" (not yet written): a later frame must not overtake it.
        assert!(ob.push(Bytes::from_static(b"event")));
        assert!(sock.got.lock().unwrap().is_empty());
        out.clear();
        ob.next_batch(&mut out).await.unwrap();
        assert_eq!(out, vec![Bytes::from_static(b"event")]);
        // The writer comes back empty-handed, then the outbox closes: nothing more leaves.
        ob.close();
        assert_eq!(ob.next_batch(&mut out).await, Err(CloseReason::Server));
        assert!(!ob.push(Bytes::from_static(b"late")));
        assert!(sock.got.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn closing_keeps_staged_frames_for_the_writer() {
        let sock = fake(1000);
        let ob = Outbox::with_socket(100, Some(sock.clone()));
        ob.stage(Bytes::from_static(b"bye"));
        ob.close();
        assert_eq!(ob.stage(Bytes::from_static(b"late")), Staged::Dropped);
        ob.flush();
        assert!(
            sock.got.lock().unwrap().is_empty(),
            "a closed outbox writes nothing itself"
        );
        let mut out = Vec::new();
        ob.next_batch(&mut out).await.unwrap();
        assert_eq!(out, vec![Bytes::from_static(b"bye")]);
        assert_eq!(ob.next_batch(&mut out).await, Err(CloseReason::Server));
    }

    #[tokio::test]
    async fn staged_bytes_count_against_the_limit() {
        let ob = Outbox::with_socket(4, Some(fake(0)));
        assert_eq!(ob.stage(Bytes::from_static(b"abc")), Staged::FlushDue);
        assert_eq!(ob.stage(Bytes::from_static(b"de")), Staged::Dropped);
        assert_eq!(ob.closed(), Some(CloseReason::Overflow));
        assert_eq!(ob.queued_bytes(), 0);
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
