"""The generator's view of the namespace under the run's root.

It exists only to make the random stream useful (mostly operate on nodes that exist, sometimes on
ones that do not) and to keep it away from behaviour that depends on time rather than on the
requests: the container reaper deletes a container some time after its last child goes, so a
child of a container is never deleted (not by delete, not by multi, and never created ephemeral
so no session close removes it). It also remembers which persistent watches each session holds,
for the generator to stay off the places where ZooKeeper 3.8 (the reference) and 3.9 (the
specification) differ: 3.8 keeps one watch mode per session and path, so a later one-shot
watch, or a persistent watch of the other mode, replaces the earlier one (and a recursive watch
silences an earlier one-shot child watch on the same path); removeWatches and
checkWatches treat a persistent watch as a data watch; and checkWatches answers yes when any
session watches the exact path. So the model also keeps, per path, the sessions that ever asked
for a watch there. The model is updated only from results already compared equal
on both servers, so both sides keep drawing the same operations.
"""

from dataclasses import dataclass, field

NAMES = ("a", "b", "c")
MAX_DEPTH = 3


@dataclass
class Node:
    kind: str  # persistent | ephemeral | container | ttl
    owner: int | None = None  # session slot of an ephemeral's owner


@dataclass
class Model:
    root: str
    nodes: dict = field(default_factory=dict)
    # session slot -> {path: addWatch mode} of the persistent watches its session holds
    persistent_watches: dict = field(default_factory=dict)
    # path -> session slots that asked for any watch on it (kept until the session closes;
    # a fired one-shot watch is not forgotten, which only makes the generator more careful)
    watched_by: dict = field(default_factory=dict)
    # session slot -> paths it asked a one-shot child watch on (kept until the session closes)
    child_watched: dict = field(default_factory=dict)

    def __post_init__(self):
        self.nodes[self.root] = Node("persistent")

    def universe(self):
        """Every fixed (non-sequential) path the generator may name, existing or not."""
        paths = [self.root]
        frontier = [self.root]
        for _ in range(MAX_DEPTH):
            frontier = [parent + "/" + name for parent in frontier for name in NAMES]
            paths.extend(frontier)
        return paths

    @staticmethod
    def parent(path):
        return path.rsplit("/", 1)[0] or "/"

    def exists(self, path):
        return path in self.nodes

    def is_container(self, path):
        node = self.nodes.get(path)
        return node is not None and node.kind == "container"

    def may_delete(self, path):
        """Deleting a container's child could hand the container to the time-driven reaper."""
        return path != self.root and not self.is_container(self.parent(path))

    def may_be_ephemeral(self, path):
        """An ephemeral under a container would leave it when its session closes."""
        return not self.is_container(self.parent(path))

    def existing(self):
        return sorted(self.nodes)

    def children(self, path):
        prefix = path + "/"
        return sorted(p for p in self.nodes if p.startswith(prefix) and "/" not in p[len(prefix) :])

    def created(self, path, kind, owner=None):
        self.nodes[path] = Node(kind, owner)

    def deleted(self, path):
        self.nodes.pop(path, None)

    def session_closed(self, slot):
        for path in [p for p, n in self.nodes.items() if n.owner == slot]:
            del self.nodes[path]
        self.persistent_watches.pop(slot, None)
        for slots in self.watched_by.values():
            slots.discard(slot)
        self.child_watched.pop(slot, None)

    def watch_added(self, slot, path, mode):
        self.persistent_watches.setdefault(slot, {})[path] = mode
        self.watch_requested(slot, path)

    def watch_requested(self, slot, path, child=False):
        self.watched_by.setdefault(path, set()).add(slot)
        if child:
            self.child_watched.setdefault(slot, set()).add(path)

    def has_child_watch(self, slot, path):
        return path in self.child_watched.get(slot, ())

    def watched_by_others(self, slot, path):
        return bool(self.watched_by.get(path, set()) - {slot})

    def persistent_mode(self, slot, path):
        """The mode of this session's persistent watch on path, None if it has none."""
        return self.persistent_watches.get(slot, {}).get(path)

    def has_persistent_watch(self, slot, path):
        return self.persistent_mode(slot, path) is not None
