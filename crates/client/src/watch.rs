//! The two kinds of watch a caller holds: [`OneshotWatch`] (a future that resolves once) and
//! [`PersistentWatch`] (a stream of events until dropped).
//!
//! Delivery never blocks the connection: a one-shot watch is a oneshot channel, and a
//! persistent watch an unbounded channel whose length is counted. When a persistent watch's
//! consumer falls more than [`PERSISTENT_LAG_LIMIT`] events behind, the connection ends that
//! watch (removing it from the server) instead of buffering more, and the stream's last item is
//! an event of type [`EventType::PersistentWatchRemoved`] with [`PersistentWatch::lagged`] true.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};

use futures::Stream;
use tokio::sync::{mpsc, oneshot};
use watchkeeper_proto::{AddWatchMode, EventType, KeeperState};

use crate::session::Command;
use crate::types::WatchedEvent;

/// How many undelivered events a persistent watch may hold before it is ended as lagging.
pub const PERSISTENT_LAG_LIMIT: usize = 65_536;

/// A one-shot watch: resolves with the first event on its node.
///
/// One-shot watches survive reconnects (they are re-registered with the server, which sends
/// any event missed meanwhile), so `Disconnected` is never delivered. If the session ends the
/// watch resolves with a session event whose state is `Expired`, `AuthFailed` or `Closed`.
/// Dropping it unresolved is fine: the event is then discarded when it arrives.
#[derive(Debug)]
#[must_use = "a watch does nothing unless awaited"]
pub struct OneshotWatch {
    rx: oneshot::Receiver<WatchedEvent>,
}

pub(crate) type OneshotSender = oneshot::Sender<WatchedEvent>;

impl OneshotWatch {
    pub(crate) fn channel() -> (OneshotSender, OneshotWatch) {
        let (tx, rx) = oneshot::channel();
        (tx, OneshotWatch { rx })
    }
}

impl Future for OneshotWatch {
    type Output = WatchedEvent;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<WatchedEvent> {
        Pin::new(&mut self.rx).poll(cx).map(|r| {
            // The session task only drops a registered sender after resolving it, so a closed
            // channel means the task itself is gone.
            r.unwrap_or_else(|_| WatchedEvent::session(KeeperState::Closed))
        })
    }
}

/// State shared by a persistent watch's two ends.
#[derive(Debug, Default)]
struct Shared {
    queued: AtomicUsize,
    lagged: AtomicBool,
}

/// The connection's end of a persistent watch.
#[derive(Debug)]
pub(crate) struct PersistentSink {
    tx: mpsc::UnboundedSender<WatchedEvent>,
    shared: Arc<Shared>,
}

/// What became of an event handed to a [`PersistentSink`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Delivery {
    Delivered,
    /// The consumer dropped its stream.
    Gone,
    /// The consumer is too far behind; the watch has been ended with a final event.
    Lagged,
}

impl PersistentSink {
    pub(crate) fn send(&self, event: WatchedEvent) -> Delivery {
        if self.shared.queued.load(Ordering::Acquire) >= PERSISTENT_LAG_LIMIT {
            self.shared.lagged.store(true, Ordering::Release);
            let removed = WatchedEvent {
                event_type: EventType::PersistentWatchRemoved,
                path: event.path,
                state: KeeperState::SyncConnected,
                zxid: -1,
            };
            let _ = self.tx.send(removed);
            return Delivery::Lagged;
        }
        self.shared.queued.fetch_add(1, Ordering::AcqRel);
        match self.tx.send(event) {
            Ok(()) => Delivery::Delivered,
            Err(_) => Delivery::Gone,
        }
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}

/// A persistent or persistent-recursive watch from [`Client::add_watch`](crate::Client::add_watch):
/// a [`Stream`] of [`WatchedEvent`]s that stays registered until dropped (dropping it sends
/// `removeWatches`).
///
/// Besides node events it yields session events (`event_type == EventType::None`):
/// `Disconnected` when the connection breaks and `SyncConnected` (or `ConnectedReadOnly`) when it
/// is back and the watch re-registered. Apache ZooKeeper does not replay events missed while
/// disconnected for persistent watches, so a consumer that needs exact state re-reads on
/// `SyncConnected`. The stream ends after a final `Expired`, `AuthFailed` or `Closed` event, or
/// after a `PersistentWatchRemoved` event when the consumer lagged (see [`Self::lagged`]).
///
/// ZooKeeper before 3.9 delivers an event once per session even when one-shot and persistent
/// watches of that session both match it (ZOOKEEPER-4466), so there a persistent watch can miss
/// events its session's one-shot watches consumed. Watchkeeper and ZooKeeper 3.9 deliver to both.
#[derive(Debug)]
#[must_use = "the watch is removed when dropped"]
pub struct PersistentWatch {
    id: u64,
    path: String,
    mode: AddWatchMode,
    rx: mpsc::UnboundedReceiver<WatchedEvent>,
    shared: Arc<Shared>,
    commands: mpsc::UnboundedSender<Command>,
}

impl PersistentWatch {
    pub(crate) fn channel(
        id: u64,
        path: String,
        mode: AddWatchMode,
        commands: mpsc::UnboundedSender<Command>,
    ) -> (PersistentSink, PersistentWatch) {
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared::default());
        let sink = PersistentSink {
            tx,
            shared: shared.clone(),
        };
        let watch = PersistentWatch {
            id,
            path,
            mode,
            rx,
            shared,
            commands,
        };
        (sink, watch)
    }

    /// The watched path (relative to the chroot).
    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn mode(&self) -> AddWatchMode {
        self.mode
    }

    /// True once the watch was ended because its consumer fell too far behind.
    pub fn lagged(&self) -> bool {
        self.shared.lagged.load(Ordering::Acquire)
    }

    /// The next event, or `None` once the watch has ended. Same as `StreamExt::next`.
    pub async fn next_event(&mut self) -> Option<WatchedEvent> {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }
}

impl Stream for PersistentWatch {
    type Item = WatchedEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<WatchedEvent>> {
        let polled = self.rx.poll_recv(cx);
        if let Poll::Ready(Some(_)) = &polled {
            // Saturating: the lagged marker is sent without being counted.
            let _ = self
                .shared
                .queued
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
        }
        polled
    }
}

impl Drop for PersistentWatch {
    fn drop(&mut self) {
        let _ = self
            .commands
            .send(Command::RemovePersistent { id: self.id });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(n: i64) -> WatchedEvent {
        WatchedEvent {
            event_type: EventType::NodeDataChanged,
            state: KeeperState::SyncConnected,
            path: "/p".into(),
            zxid: n,
        }
    }

    #[tokio::test]
    async fn oneshot_resolves_closed_when_the_sender_is_gone() {
        let (tx, w) = OneshotWatch::channel();
        drop(tx);
        assert_eq!(w.await.state, KeeperState::Closed);
        let (tx, w) = OneshotWatch::channel();
        tx.send(ev(4)).unwrap();
        assert_eq!(w.await.zxid, 4);
    }

    #[tokio::test]
    async fn lagging_consumer_ends_with_a_removed_event() {
        let (cmd_tx, mut cmd_rx) = mpsc::unbounded_channel();
        let (sink, mut w) =
            PersistentWatch::channel(7, "/p".into(), AddWatchMode::Persistent, cmd_tx);
        for i in 0..PERSISTENT_LAG_LIMIT as i64 {
            assert_eq!(sink.send(ev(i)), Delivery::Delivered);
        }
        assert_eq!(sink.send(ev(-5)), Delivery::Lagged);
        assert!(w.lagged());
        drop(sink);
        let mut n = 0;
        let mut last = None;
        while let Some(e) = w.next_event().await {
            n += 1;
            last = Some(e);
        }
        assert_eq!(n, PERSISTENT_LAG_LIMIT + 1);
        assert_eq!(last.unwrap().event_type, EventType::PersistentWatchRemoved);
        drop(w);
        assert!(matches!(
            cmd_rx.recv().await,
            Some(Command::RemovePersistent { id: 7 })
        ));
    }

    #[tokio::test]
    async fn a_consumer_that_keeps_up_never_lags() {
        let (cmd_tx, _cmd_rx) = mpsc::unbounded_channel();
        let (sink, mut w) =
            PersistentWatch::channel(1, "/p".into(), AddWatchMode::Persistent, cmd_tx);
        for i in 0..(3 * PERSISTENT_LAG_LIMIT as i64) {
            assert_eq!(sink.send(ev(i)), Delivery::Delivered);
            assert_eq!(w.next_event().await.unwrap().zxid, i);
        }
        drop(w);
        assert_eq!(sink.send(ev(0)), Delivery::Gone);
        assert!(sink.is_closed());
    }
}
