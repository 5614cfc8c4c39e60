#!/usr/bin/env python3
"""Crash test: SIGKILL a server under write load, restart it, and find every acknowledged write.

    tests/interop/crash.py --server-cmd scripts/wk-server.sh [--port 21830] [--dir DIR]
                           [--rounds 3] [--writers 6] [--seed S]

--server-cmd is a control script with the interface ``CMD start|stop PORT DIR`` that keeps the
server's pid in DIR/server.pid (scripts/wk-server.sh, scripts/zk-reference.sh). Each round, writer
threads (each its own kazoo session) create, set and delete nodes as fast as the server answers
and record what the server acknowledged; at a random moment the server is killed with SIGKILL and
restarted on the same directory, then every acknowledged write of every round so far must be
there: created and set nodes with their last acknowledged data, deleted ones gone. A write whose
answer was lost in the crash may have happened or not, and is accepted either way.

Exit status 0 when every round verified, 1 otherwise, 2 when the server could not be run.
"""

import argparse
import logging
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid

from kazoo.client import KazooClient
from kazoo.exceptions import NoNodeError

SESSION_TIMEOUT_SECONDS = 10.0
CALL_TIMEOUT_SECONDS = 15.0
CONTROL_TIMEOUT_SECONDS = 120
KILL_AFTER_SECONDS = (0.5, 3.0)  # the random moment, counted from the writers' start
NODES_PER_WRITER = 40  # a writer's working set, so sets and deletes meet existing nodes
MAX_PROBLEMS_SHOWN = 20
ABSENT = object()  # the expected value of a node an acknowledged delete removed


class Ledger:
    """What the server acknowledged, per path, and what may or may not have happened.

    ``acked`` holds each path's last acknowledged state (bytes, or ABSENT after a delete);
    ``doubt`` holds, per path, the states a write without an answer would have left.
    """

    def __init__(self):
        self.lock = threading.Lock()
        self.acked = {}
        self.doubt = {}
        self.count = 0

    def ack(self, path, state):
        with self.lock:
            self.acked[path] = state
            self.doubt.pop(path, None)
            self.count += 1

    def unsure(self, path, state):
        with self.lock:
            self.doubt.setdefault(path, []).append(state)

    def acceptable(self, path):
        """Every state the path may be found in after the crash."""
        with self.lock:
            return [self.acked.get(path, ABSENT)] + self.doubt.get(path, [])

    def paths(self):
        with self.lock:
            return sorted(set(self.acked) | set(self.doubt))

    def settle(self, found):
        """After a verification, what was found is the truth the next round builds on."""
        with self.lock:
            self.acked.update(found)
            self.doubt.clear()


class Writer(threading.Thread):
    """One session writing until the server stops answering or the round ends."""

    def __init__(self, index, hosts, base, ledger, seed, stop):
        super().__init__(name="writer-%d" % index, daemon=True)
        self.hosts = hosts
        self.base = "%s/w%d" % (base, index)
        self.ledger = ledger
        self.rng = random.Random(seed)
        self.stop = stop
        self.serial = 0
        self.error = None

    def run(self):
        client = KazooClient(
            hosts=self.hosts, timeout=SESSION_TIMEOUT_SECONDS, connection_retry=None
        )
        try:
            client.start(timeout=CALL_TIMEOUT_SECONDS)
            client.ensure_path(self.base)
            while not self.stop.is_set():
                self.write_once(client)
        except Exception as exc:  # the expected end: the server was killed
            self.error = exc
        finally:
            _close_quietly(client)

    def write_once(self, client):
        """One create, set or delete; acknowledged only once its reply arrived."""
        self.serial += 1
        path = "%s/n%d" % (self.base, self.rng.randrange(NODES_PER_WRITER))
        data = ("%s#%d" % (self.name, self.serial)).encode()
        state = self.ledger.acceptable(path)[0]
        if state is ABSENT:
            action, expected = (lambda: client.create(path, data)), data
        elif self.rng.random() < 0.2:
            action, expected = (lambda: client.delete(path)), ABSENT
        else:
            action, expected = (lambda: client.set(path, data)), data
        try:
            action()
        except Exception:
            self.ledger.unsure(path, expected)
            raise
        self.ledger.ack(path, expected)


def _close_quietly(client):
    """kazoo's stop can wait on a dead server; it must not hold the test."""
    closer = threading.Thread(target=lambda: (client.stop(), client.close()), daemon=True)
    closer.start()
    closer.join(timeout=CALL_TIMEOUT_SECONDS)


class Server:
    """The server under test, through its control script."""

    def __init__(self, command, port, directory):
        self.command = os.path.abspath(command)
        self.port = port
        self.directory = directory
        self.hosts = "127.0.0.1:%d" % port

    def control(self, action):
        subprocess.run(
            [self.command, action, str(self.port), self.directory],
            check=True,
            timeout=CONTROL_TIMEOUT_SECONDS,
            stdin=subprocess.DEVNULL,
        )

    def pid(self):
        with open(os.path.join(self.directory, "server.pid")) as handle:
            return int(handle.read().strip())

    def kill(self):
        """SIGKILL, then wait until the process is gone (a zombie counts as gone)."""
        pid = self.pid()
        os.kill(pid, signal.SIGKILL)
        while _running(pid):
            time.sleep(0.05)


def _running(pid):
    try:
        with open("/proc/%d/stat" % pid) as handle:
            state = handle.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def verify(hosts, ledger):
    """Every path's state must be one the ledger allows; returns (paths checked, problems).

    The ledger is then settled on what was found, so later rounds start from the real state.
    """
    client = KazooClient(hosts=hosts, timeout=SESSION_TIMEOUT_SECONDS, connection_retry=None)
    client.start(timeout=CALL_TIMEOUT_SECONDS)
    try:
        pending = [(path, client.get_async(path)) for path in ledger.paths()]
        found = {path: _found_state(result) for path, result in pending}
    finally:
        _close_quietly(client)
    problems = []
    for path, state in found.items():
        allowed = ledger.acceptable(path)
        if not any(state is a if a is ABSENT else state == a for a in allowed):
            problems.append((path, state, allowed))
    ledger.settle(found)
    return len(found), problems


def _found_state(result):
    try:
        data, _ = result.get(timeout=CALL_TIMEOUT_SECONDS)
        return data
    except NoNodeError:
        return ABSENT


def _show(state):
    return "absent" if state is ABSENT else repr(state)


def run_round(number, server, base, ledger, args, rng):
    """Load, kill at a random moment, restart, verify. True when nothing acknowledged was lost."""
    before = ledger.count
    stop = threading.Event()
    writers = [
        Writer(i, server.hosts, base, ledger, rng.randrange(2**32), stop)
        for i in range(args.writers)
    ]
    for writer in writers:
        writer.start()
    delay = rng.uniform(*KILL_AFTER_SECONDS)
    time.sleep(delay)
    alive = any(w.is_alive() for w in writers)
    server.kill()
    stop.set()
    for writer in writers:
        writer.join(timeout=CALL_TIMEOUT_SECONDS * 2)
    started = time.monotonic()
    server.control("start")
    restart = time.monotonic() - started
    checked, problems = verify(server.hosts, ledger)
    acked = ledger.count - before
    print(
        "round %d: SIGKILL after %.2fs, %d writes acknowledged this round, restart %.1fs, "
        "%d nodes checked, %d problems" % (number, delay, acked, restart, checked, len(problems))
    )
    for path, found, allowed in problems[:MAX_PROBLEMS_SHOWN]:
        print(
            "  %s: found %s, acknowledged %s"
            % (path, _show(found), " or ".join(map(_show, allowed)))
        )
    endings = {type(w.error).__name__ if w.error else "the round's end" for w in writers}
    print("  writers ended on: %s" % ", ".join(sorted(endings)))
    if not alive:
        print("  the writers had all stopped before the kill")
    if acked == 0:
        print("  no write was acknowledged: nothing was tested")
    return not problems and acked > 0 and alive


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--server-cmd", required=True, help="control script: CMD start|stop PORT DIR"
    )
    parser.add_argument("--port", type=int, default=21830)
    parser.add_argument("--dir", help="server directory (default: a new temporary one)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--writers", type=int, default=6)
    parser.add_argument("--seed", type=int, default=None, help="default: random, printed")
    args = parser.parse_args(argv)
    if args.seed is None:
        args.seed = random.randrange(2**31)
    return args


def main(argv):
    args = parse_args(argv)
    logging.basicConfig(level=logging.CRITICAL)  # kazoo's reconnect chatter after each kill
    directory = os.path.abspath(args.dir or tempfile.mkdtemp(prefix="crash-"))
    server = Server(args.server_cmd, args.port, directory)
    rng = random.Random(args.seed)
    print(
        "crash test: %s, port %d, dir %s, seed %d"
        % (args.server_cmd, args.port, directory, args.seed)
    )
    try:
        server.control("start")
    except subprocess.SubprocessError as exc:
        print("crash: the server did not start: %s" % exc)
        return 2
    ledger = Ledger()
    base = "/crash-%s" % uuid.uuid4().hex[:8]
    passed = 0
    try:
        for number in range(1, args.rounds + 1):
            passed += run_round(number, server, base, ledger, args, rng)
    except Exception as exc:  # a restart or verification that could not complete
        print("crash: round could not complete: %r" % (exc,))
    finally:
        server.control("stop")
    failed = args.rounds - passed
    print("crash: %d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
