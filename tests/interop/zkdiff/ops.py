"""The operations of a differential run and their seeded generator.

An operation is plain data (kind, session slot, arguments) so that it can be printed when the two
servers disagree and replayed by hand. The generator draws from its own ``random.Random(seed)``
and from the model, never from the clock, so a seed names one stream.
"""

import collections
import random
from dataclasses import dataclass, field

from .model import MAX_DEPTH, NAMES

CREATE_MODES = ("persistent", "ephemeral", "persistent_seq", "ephemeral_seq", "container")
TTL_MODES = ("ttl", "ttl_seq")
MULTI_CREATE_MODES = ("persistent", "ephemeral", "persistent_seq", "ephemeral_seq")
VERSIONS = (-1, -1, 0, 0, 1, 2, 3)
# WatcherType: Children 1, Data 2, Any 3. Persistent (4, 5) are ZooKeeper 3.9 only.
WATCHER_TYPES = (1, 2, 3)
# Long enough that no TTL node can expire during a run, so TTL nodes never depend on time.
TTL_MS = 24 * 3600 * 1000

RECENT_PATHS = 8

WEIGHTS = {
    "create": 20,
    "delete": 9,
    "set": 12,
    "get": 9,
    "exists": 8,
    "children": 8,
    "acls": 1,
    "multi": 8,
    "add_watch": 10,
    "remove_watches": 3,
    "check_watches": 2,
    "ephemerals": 1,
    "count_descendants": 1,
    "close": 1.5,
    "open": 4,
}


@dataclass(frozen=True)
class Op:
    kind: str
    slot: int
    args: dict = field(default_factory=dict)

    def describe(self, root=None):
        """One line; with root, paths under it are shortened to R/..."""
        inner = ", ".join("%s=%r" % item for item in self.args.items())
        text = "s%d %s(%s)" % (self.slot, self.kind, inner)
        return text.replace(root, "R") if root else text


class Generator:
    """Draws the next operation given the model and which session slots are open."""

    def __init__(self, seed, model, ttl=False):
        self.rng = random.Random(seed)
        self.model = model
        self.create_modes = CREATE_MODES + (TTL_MODES if ttl else ())
        # Paths named lately: drawing from them again makes writes meet the watches reads left.
        self.recent = collections.deque(maxlen=RECENT_PATHS)

    def next(self, open_slots, closed_slots):
        kind = self._pick_kind(open_slots, closed_slots)
        if kind == "open":
            return Op("open", self.rng.choice(closed_slots))
        slot = self.rng.choice(open_slots)
        return getattr(self, "_" + kind)(slot)

    def _pick_kind(self, open_slots, closed_slots):
        kinds = dict(WEIGHTS)
        if not closed_slots:
            del kinds["open"]
        if len(open_slots) < 2:
            del kinds["close"]
        if not open_slots:
            return "open"
        names = sorted(kinds)
        return self.rng.choices(names, weights=[kinds[n] for n in names])[0]

    # -- choices ---------------------------------------------------------------------------

    def _data(self):
        """None is a null buffer on the wire, which ZooKeeper keeps apart from empty data."""
        return self.rng.choice((None, b"", b"x", b"hello", b"v%d" % self.rng.randrange(1000)))

    def _version(self):
        return self.rng.choice(VERSIONS)

    def _any_path(self):
        """A path named lately, a node that exists, or any path of the fixed universe."""
        draw = self.rng.random()
        if draw < 0.3 and self.recent:
            path = self.rng.choice(list(self.recent))
        elif draw < 0.8:
            path = self.rng.choice(self.model.existing())
        else:
            path = self.rng.choice(self.model.universe())
        self.recent.append(path)
        return path

    def _depth(self, path):
        return path[len(self.model.root) :].count("/")

    def _create_target(self, sequential):
        """A parent (mostly existing, not too deep) and a child path under it."""
        for _ in range(20):
            parent = self._any_path()
            if self._depth(parent) < MAX_DEPTH:
                break
        else:
            parent = self.model.root
        name = self.rng.choice(NAMES)
        return parent + "/" + name + ("-" if sequential else "")

    def _deletable_path(self):
        for _ in range(20):
            path = self._any_path()
            if self.model.may_delete(path):
                return path
        return None

    # -- operations ------------------------------------------------------------------------

    def _create(self, slot):
        mode = self.rng.choice(self.create_modes)
        path = self._create_target(mode.endswith("_seq"))
        if mode.startswith("ephemeral") and not self.model.may_be_ephemeral(path):
            mode = mode.replace("ephemeral", "persistent")
        args = {"path": path, "data": self._data(), "mode": mode}
        if mode in ("persistent", "ephemeral", "persistent_seq", "ephemeral_seq"):
            args["with_stat"] = self.rng.random() < 0.5
        if mode in TTL_MODES:
            args["ttl"] = TTL_MS
        return Op("create", slot, args)

    def _delete(self, slot):
        path = self._deletable_path()
        if path is None:
            return self._get(slot)
        return Op("delete", slot, {"path": path, "version": self._version()})

    def _set(self, slot):
        args = {"path": self._any_path(), "data": self._data(), "version": self._version()}
        return Op("set", slot, args)

    def _watch_flag(self, slot, path):
        """No one-shot watch where the session holds a persistent one (see model.py)."""
        wanted = self.rng.random() < 0.6
        return wanted and not self.model.has_persistent_watch(slot, path)

    def _read(self, kind, slot):
        path = self._any_path()
        return Op(kind, slot, {"path": path, "watch": self._watch_flag(slot, path)})

    def _get(self, slot):
        return self._read("get", slot)

    def _exists(self, slot):
        return self._read("exists", slot)

    def _children(self, slot):
        path = self._any_path()
        args = {
            "path": path,
            "watch": self._watch_flag(slot, path),
            "with_stat": self.rng.random() < 0.5,
        }
        return Op("children", slot, args)

    def _acls(self, slot):
        return Op("acls", slot, {"path": self._any_path()})

    def _add_watch(self, slot):
        """Often on the root or a child of it, so recursive watches see much of the traffic."""
        draw = self.rng.random()
        if draw < 0.4:
            path = self.model.root
        elif draw < 0.7:
            path = self.rng.choice(self.model.universe()[1 : 1 + len(NAMES)])
        else:
            path = self._any_path()
        mode = self.rng.choice((0, 1))
        held = self.model.persistent_mode(slot, path)
        # No second mode on one path for one session, no recursive watch over a one-shot child
        # watch (see model.py).
        if held is not None:
            mode = held
        elif self.model.has_child_watch(slot, path):
            mode = 0
        return Op("add_watch", slot, {"path": path, "mode": mode})

    def _watch_query(self, kind, slot):
        """removeWatches/checkWatches only where ZooKeeper 3.8 and 3.9 agree (see model.py):
        no persistent watch of this session on the path, and for checkWatches no other
        session's watch there."""
        for _ in range(20):
            path = self._any_path()
            if self.model.has_persistent_watch(slot, path):
                continue
            if kind == "check_watches" and self.model.watched_by_others(slot, path):
                continue
            return Op(kind, slot, {"path": path, "type": self.rng.choice(WATCHER_TYPES)})
        return self._exists(slot)

    def _remove_watches(self, slot):
        return self._watch_query("remove_watches", slot)

    def _check_watches(self, slot):
        return self._watch_query("check_watches", slot)

    def _ephemerals(self, slot):
        return Op(
            "ephemerals", slot, {"prefix": self.rng.choice((self.model.root, self._any_path()))}
        )

    def _count_descendants(self, slot):
        return Op("count_descendants", slot, {"path": self._any_path()})

    def _close(self, slot):
        return Op("close", slot)

    def _multi(self, slot):
        count = self.rng.randint(2, 4)
        parts = [self._multi_part() for _ in range(count)]
        if self.rng.random() < 0.3:
            parts.insert(self.rng.randrange(len(parts) + 1), self._failing_part())
        return Op("multi", slot, {"ops": tuple(parts)})

    def _multi_part(self):
        choice = self.rng.choice(("create", "create", "delete", "set", "check"))
        if choice == "create":
            mode = self.rng.choice(MULTI_CREATE_MODES)
            path = self._create_target(mode.endswith("_seq"))
            if mode.startswith("ephemeral") and not self.model.may_be_ephemeral(path):
                mode = mode.replace("ephemeral", "persistent")
            return ("create", path, self._data(), mode)
        if choice == "delete":
            path = self._deletable_path()
            if path is not None:
                return ("delete", path, self._version())
        if choice == "set":
            return ("set", self._any_path(), self._data(), self._version())
        return ("check", self._any_path(), self._version())

    def _failing_part(self):
        """An operation that fails whatever came before it in the multi."""
        if self.rng.random() < 0.5:
            return ("check", self.model.root, 1_000_000)
        return ("check", self.model.root + "/missing", -1)
