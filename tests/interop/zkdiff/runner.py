"""The step loop: generate, run on A, run on B, drain events on both, compare, update the model."""

import collections
from dataclasses import dataclass, field

from kazoo.client import KazooClient

from .execute import Side, execute
from .model import Model
from .ops import Generator, Op
from .session import CALL_TIMEOUT_SECONDS

CONTEXT_STEPS = 8  # the steps just before a mismatch
RELATED_STEPS = 12  # earlier steps naming the mismatching operation's path

MODEL_KIND = {
    "persistent": "persistent",
    "persistent_seq": "persistent",
    "ephemeral": "ephemeral",
    "ephemeral_seq": "ephemeral",
    "container": "container",
    "ttl": "ttl",
    "ttl_seq": "ttl",
}


@dataclass
class Mismatch:
    step: int
    op: Op
    result_a: object
    result_b: object
    events_a: dict
    events_b: dict
    context: list
    root: str


@dataclass
class Stats:
    steps: int = 0
    ops: collections.Counter = field(default_factory=collections.Counter)
    errors: collections.Counter = field(default_factory=collections.Counter)
    events: int = 0


def create_root(hosts, root):
    """Creates the run's root on one server with a short-lived session of its own."""
    client = KazooClient(hosts=hosts, timeout=10.0, connection_retry=None)
    client.start(timeout=CALL_TIMEOUT_SECONDS)
    try:
        client.create(root, b"")
    finally:
        client.stop()
        client.close()


class Runner:
    def __init__(self, seed, hosts_a, hosts_b, root, sessions, ttl, trace=None):
        self.model = Model(root)
        self.generator = Generator(seed, self.model, ttl=ttl)
        self.side_a = Side("A", hosts_a, root, sessions)
        self.side_b = Side("B", hosts_b, root, sessions)
        self.slots = sessions
        self.stats = Stats()
        self.history = []  # every agreed step: (step, description, result, events)
        self.trace = trace  # called with (step, description, result, events) of agreed steps

    def run(self, steps):
        """Returns the first Mismatch, or None when every step agreed."""
        create_root(self.side_a.hosts, self.model.root)
        create_root(self.side_b.hosts, self.model.root)
        try:
            for step in range(steps):
                mismatch = self.step(step)
                if mismatch is not None:
                    return mismatch
            return None
        finally:
            self.side_a.close_all()
            self.side_b.close_all()

    def next_op(self):
        open_slots = self.side_a.open_slots()
        closed = [slot for slot in range(self.slots) if slot not in open_slots]
        # Every slot is opened before anything else happens, so all sessions watch from the start.
        if len(open_slots) < self.slots and self.stats.steps < self.slots:
            return Op("open", closed[0])
        return self.generator.next(open_slots, closed)

    def step(self, step):
        op = self.next_op()
        outcome_a = execute(op, self.side_a)
        outcome_b = execute(op, self.side_b)
        events_a = self.side_a.drain_events()
        events_b = self.side_b.drain_events()
        if op.kind == "close":
            # A closing session's ephemerals go in an order ZooKeeper leaves to a hash set.
            events_a = {k: sorted(v) for k, v in events_a.items()}
            events_b = {k: sorted(v) for k, v in events_b.items()}
        if outcome_a.value != outcome_b.value or events_a != events_b:
            return Mismatch(
                step,
                op,
                outcome_a.value,
                outcome_b.value,
                events_a,
                events_b,
                self.context_for(op),
                self.model.root,
            )
        entry = (step, op.describe(self.model.root), outcome_a.value, events_a)
        self.history.append(entry)
        if self.trace is not None:
            self.trace(*entry)
        self.record(op, outcome_a, events_a)
        self.update_model(op, outcome_a)
        return None

    def context_for(self, op):
        """The last steps, preceded by earlier ones that named the same path."""
        recent = self.history[-CONTEXT_STEPS:]
        path = op.args.get("path")
        if path is None:
            return recent
        short = "'%s'" % path.replace(self.model.root, "R", 1)
        earlier = self.history[:-CONTEXT_STEPS]
        related = [entry for entry in earlier if short in entry[1]][-RELATED_STEPS:]
        return related + recent

    def record(self, op, outcome, events):
        self.stats.steps += 1
        self.stats.ops[op.kind] += 1
        self.stats.events += sum(len(v) for v in events.values())
        value = outcome.value
        if value[0] == "error":
            self.stats.errors[value[1]] += 1
        elif op.kind == "multi":
            for part in value[1]:
                if isinstance(part, tuple) and part and part[0] == "error":
                    self.stats.errors["multi:" + part[1]] += 1

    def update_model(self, op, outcome):
        """Only successful writes change the model; results are A's, equal to B's by now."""
        if op.args.get("watch"):
            self.model.watch_requested(op.slot, op.args["path"], child=op.kind == "children")
        if outcome.value[0] != "ok":
            return
        raw, a = outcome.raw, op.args
        if op.kind == "create":
            path = raw[0] if isinstance(raw, tuple) else raw
            owner = op.slot if a["mode"].startswith("ephemeral") else None
            self.model.created(path, MODEL_KIND[a["mode"]], owner)
        elif op.kind == "delete":
            self.model.deleted(a["path"])
        elif op.kind == "close":
            self.model.session_closed(op.slot)
        elif op.kind == "add_watch":
            self.model.watch_added(op.slot, a["path"], a["mode"])
        elif op.kind == "multi":
            self.update_model_multi(op, raw)

    def update_model_multi(self, op, results):
        if any(isinstance(r, Exception) for r in results):
            return
        for part, result in zip(op.args["ops"], results, strict=True):
            if part[0] == "create":
                owner = op.slot if part[3].startswith("ephemeral") else None
                self.model.created(result, MODEL_KIND[part[3]], owner)
            elif part[0] == "delete":
                self.model.deleted(part[1])
