"""One client session on one server, with a log of every notification it received.

Notifications are recorded straight off kazoo's connection (before kazoo matches them to its own
watcher callbacks) so that persistent watches, which kazoo 2.11 does not know, and events the
server should not have sent are both seen. The log is read after a sync round trip: the server
queues a session's notifications before any later reply on that session, so by the time the
sync reply is back every event caused by earlier steps has been recorded.
"""

import threading

from kazoo.client import KazooClient
from kazoo.protocol.serialization import Watch
from kazoo.protocol.states import KazooState

# EventType codes (protocol-notes "Enums").
EVENT_NAMES = {
    1: "NodeCreated",
    2: "NodeDeleted",
    3: "NodeDataChanged",
    4: "NodeChildrenChanged",
}

SESSION_TIMEOUT_SECONDS = 10.0
CALL_TIMEOUT_SECONDS = 15.0


class HarnessError(Exception):
    """The harness could not run a step (no reply, no connection): reported, never compared."""


class Session:
    """A kazoo client recording raw notifications and connection-state changes in order."""

    def __init__(self, hosts, label):
        self.label = label
        self._lock = threading.Lock()
        self._log = []
        self.client = KazooClient(
            hosts=hosts, timeout=SESSION_TIMEOUT_SECONDS, connection_retry=None
        )
        self.client.add_listener(self._on_state)
        self._hook_notifications()

    def _hook_notifications(self):
        """Wraps kazoo's notification reader so each event is logged before kazoo handles it."""
        connection = self.client._connection
        original = connection._read_watch_event

        def read_watch_event(buffer, offset):
            event, _ = Watch.deserialize(buffer, offset)
            self._append((EVENT_NAMES.get(event.type, "type%d" % event.type), event.path))
            return original(buffer, offset)

        connection._read_watch_event = read_watch_event

    def _on_state(self, state):
        """A healthy run never leaves CONNECTED, so any state change is logged and compared."""
        if state != KazooState.CONNECTED:
            self._append(("state", str(state)))

    def _append(self, entry):
        with self._lock:
            self._log.append(entry)

    def start(self):
        try:
            self.client.start(timeout=CALL_TIMEOUT_SECONDS)
        except Exception as exc:
            raise HarnessError("%s could not connect: %r" % (self.label, exc)) from exc

    @property
    def session_id(self):
        return self.client.client_id[0] if self.client.client_id else None

    def drain_events(self):
        """Round-trips a sync, then returns and clears everything logged so far."""
        try:
            self.client.sync_async("/").get(timeout=CALL_TIMEOUT_SECONDS)
        except Exception as exc:
            self._append(("sync-failed", type(exc).__name__))
        with self._lock:
            events, self._log = self._log, []
        return events

    def close(self):
        """Closes the session on the server (its ephemerals go) and the connection."""
        try:
            self.client.stop()
        finally:
            self.client.close()
