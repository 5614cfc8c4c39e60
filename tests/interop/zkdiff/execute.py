"""Running one operation on one server and reducing the outcome to comparable values.

What is compared: error codes (as kazoo's exception names), data, children (sorted), and stat
fields except czxid/mzxid/pzxid/ctime/mtime, which depend on the server's zxid numbering and
clock. An ephemeralOwner that is one of the run's sessions becomes that session's label
(``s<slot>.<generation>``); any other value (0, the container and TTL markers) stays as it is.
Paths are shown relative to the run's root as ``R/...``.
"""

from dataclasses import dataclass

from kazoo.protocol.states import ZnodeStat

from . import wire
from .session import CALL_TIMEOUT_SECONDS, HarnessError, Session

COMPARED_STAT_FIELDS = ("version", "cversion", "aversion", "dataLength", "numChildren")


def _noop_watch(event):
    """Watch callbacks are not needed: notifications are recorded off the wire."""


@dataclass
class Outcome:
    value: object  # normalised, compared
    raw: object  # as kazoo returned it, for updating the model


class Side:
    """One server under test and the sessions of the run on it, by slot."""

    def __init__(self, name, hosts, root, slots):
        self.name = name
        self.hosts = hosts
        self.root = root
        self.sessions = [None] * slots
        self.generation = [0] * slots
        self.labels = {}  # session id -> label, for every session the run opened

    def open(self, slot):
        label = "s%d.%d" % (slot, self.generation[slot])
        self.generation[slot] += 1
        session = Session(self.hosts, label)
        session.start()
        self.sessions[slot] = session
        self.labels[session.session_id] = label

    def close(self, slot):
        session, self.sessions[slot] = self.sessions[slot], None
        session.close()

    def close_all(self):
        for slot, session in enumerate(self.sessions):
            if session is not None:
                try:
                    self.close(slot)
                except Exception:  # shutting down: a failure here changes no verdict
                    pass

    def open_slots(self):
        return [slot for slot, session in enumerate(self.sessions) if session is not None]

    def drain_events(self):
        """Every open session's notifications since the last drain, after a sync on each."""
        return {
            session.label: [self.normalize(e) for e in session.drain_events()]
            for session in self.sessions
            if session is not None
        }

    # -- normalisation ---------------------------------------------------------------------

    def normalize(self, value):
        if isinstance(value, ZnodeStat):
            return self._stat(value)
        if isinstance(value, Exception):
            return ("error", type(value).__name__)
        if isinstance(value, str):
            return self._path(value)
        if isinstance(value, (list, tuple)):
            return type(value)(self.normalize(v) for v in value)
        return value

    def _path(self, text):
        if text == self.root or text.startswith(self.root + "/"):
            return "R" + text[len(self.root) :]
        return text

    def _stat(self, stat):
        fields = {name: getattr(stat, name) for name in COMPARED_STAT_FIELDS}
        owner = stat.ephemeralOwner
        fields["ephemeralOwner"] = self.labels.get(owner, owner)
        return fields


def execute(op, side):
    """Runs op on side; any failure becomes part of the (compared) outcome."""
    try:
        raw = _RUNNERS[op.kind](op, side)
    except HarnessError as exc:
        return Outcome(("harness", str(exc)), None)
    except Exception as exc:
        return Outcome(side.normalize(exc), exc)
    value = side.normalize(raw)
    if op.kind == "children":
        value = _sorted_children(value)
    if op.kind == "ephemerals":
        value = sorted(value)
    return Outcome(("ok", value), raw)


def _sorted_children(value):
    if isinstance(value, tuple):
        children, stat = value
        return (sorted(children), stat)
    return sorted(value)


def _client(op, side):
    session = side.sessions[op.slot]
    if session is None:
        raise HarnessError("slot %d has no open session" % op.slot)
    return session.client


def _wait(async_result):
    return async_result.get(timeout=CALL_TIMEOUT_SECONDS)


def _watch(op):
    return _noop_watch if op.args["watch"] else None


def _open(op, side):
    side.open(op.slot)
    return "opened"


def _close(op, side):
    side.close(op.slot)
    return "closed"


def _create(op, side):
    client, a = _client(op, side), op.args
    mode = a["mode"]
    if mode == "container":
        return _wait(wire.call_async(client, wire.CreateContainer(a["path"], a["data"])))
    if mode in ("ttl", "ttl_seq"):
        flags = wire.FLAG_TTL if mode == "ttl" else wire.FLAG_TTL_SEQUENTIAL
        request = wire.CreateTTL(a["path"], a["data"], flags, a["ttl"])
        return _wait(wire.call_async(client, request))
    return _wait(
        client.create_async(
            a["path"],
            a["data"],
            ephemeral=mode.startswith("ephemeral"),
            sequence=mode.endswith("_seq"),
            include_data=a["with_stat"],
        )
    )


def _delete(op, side):
    return _wait(_client(op, side).delete_async(op.args["path"], op.args["version"]))


def _set(op, side):
    a = op.args
    return _wait(_client(op, side).set_async(a["path"], a["data"], a["version"]))


def _get(op, side):
    return _wait(_client(op, side).get_async(op.args["path"], watch=_watch(op)))


def _exists(op, side):
    return _wait(_client(op, side).exists_async(op.args["path"], watch=_watch(op)))


def _children(op, side):
    client, a = _client(op, side), op.args
    return _wait(
        client.get_children_async(a["path"], watch=_watch(op), include_data=a["with_stat"])
    )


def _acls(op, side):
    acls, stat = _wait(_client(op, side).get_acls_async(op.args["path"]))
    return ([(acl.perms, acl.id.scheme, acl.id.id) for acl in acls], stat)


def _multi(op, side):
    transaction = _client(op, side).transaction()
    for part in op.args["ops"]:
        kind = part[0]
        if kind == "create":
            _, path, data, mode = part
            transaction.create(
                path, data, ephemeral=mode.startswith("ephemeral"), sequence=mode.endswith("_seq")
            )
        elif kind == "delete":
            transaction.delete(part[1], part[2])
        elif kind == "set":
            transaction.set_data(part[1], part[2], part[3])
        else:
            transaction.check(part[1], part[2])
    return _wait(transaction.commit_async())


def _raw(request_factory):
    def run(op, side):
        return _wait(wire.call_async(_client(op, side), request_factory(op.args)))

    return run


_RUNNERS = {
    "open": _open,
    "close": _close,
    "create": _create,
    "delete": _delete,
    "set": _set,
    "get": _get,
    "exists": _exists,
    "children": _children,
    "acls": _acls,
    "multi": _multi,
    "add_watch": _raw(lambda a: wire.AddWatch(a["path"], a["mode"])),
    "remove_watches": _raw(lambda a: wire.RemoveWatches(a["path"], a["type"])),
    "check_watches": _raw(lambda a: wire.CheckWatches(a["path"], a["type"])),
    "ephemerals": _raw(lambda a: wire.GetEphemerals(a["prefix"])),
    "count_descendants": _raw(lambda a: wire.GetAllChildrenNumber(a["path"])),
}
