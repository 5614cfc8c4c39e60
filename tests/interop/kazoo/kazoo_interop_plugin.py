"""pytest plugin: run kazoo's own test suite against servers driven by a control script.

kazoo's tests (shipped in the wheel as ``kazoo.tests``) reach their server only through
``kazoo.testing.harness.get_global_cluster()``, which normally builds a three-node ZooKeeper
ensemble from a ZooKeeper install. This plugin replaces that function with one returning a
cluster of script-driven servers, so the very same tests run against Apache ZooKeeper and
against Watchkeeper, and the restart tests stop and start the real server processes.

Two modes:

- single server (``KAZOO_INTEROP_CLUSTER_SIZE`` unset or 1): one server started and stopped by a
  script with the interface ``SCRIPT start|stop PORT DIR`` (scripts/zk-reference.sh,
  scripts/wk-server.sh), listening on ``KAZOO_INTEROP_PORT``;
- ensemble (``KAZOO_INTEROP_CLUSTER_SIZE`` = N > 1): N members of one ensemble, each started and
  stopped by ``SCRIPT start|stop ID DIR`` (scripts/ensemble-member.sh, which gets
  ``ENSEMBLE_SIZE`` and ``ENSEMBLE_PORT`` from here). Member ID listens for clients on
  ``KAZOO_INTEROP_PORT + ID - 1``; every client's connect string lists all N, and kazoo shuffles
  it, so reads and writes go through followers too. ``cluster[i].stop()``/``run()`` stop and
  start that one member (SIGTERM; the others keep serving); a fresh cluster (the first, and the
  one after each test class) starts all members at once and is ready when each says it is leader
  or follower.

Configuration (environment):
  KAZOO_INTEROP_SCRIPT        the control script (required)
  KAZOO_INTEROP_PORT          the client port (of member 1 in an ensemble; default 21810)
  KAZOO_INTEROP_CLUSTER_SIZE  1 (default) or the number of ensemble members
  KAZOO_INTEROP_WORKDIR       where server directories go (default: a fresh temporary
                              directory): ``server`` for one server, ``member-ID`` for each
                              member; kept after the run so the server logs can be read

Tests a configuration cannot run (failover against one node; read-only mode, TLS and reconfig,
which this harness does not configure yet) are reported as skipped with the reason, never
silently dropped.
"""

import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import types

import pytest

# The real kazoo.testing.common imports pyOpenSSL and pyjks at import time only to generate TLS
# certificates for an ensemble; the harness needs nothing else from it but the class name. A
# stand-in module keeps those two packages out of the venv.
_common = types.ModuleType("kazoo.testing.common")
_common.ZookeeperCluster = None
sys.modules.setdefault("kazoo.testing.common", _common)

from kazoo.testing import harness  # noqa: E402  (must follow the stand-in above)

# "Class::test" or "test" (any class, e.g. the gevent and eventlet variants of TestClient) ->
# why the test cannot run in the mode.
SINGLE_NODE_SKIPS = {
    "test_update_host_list": (
        "stops the only server and expects the client to fail over to another ensemble member"
    ),
    "TestReadOnlyMode::test_read_only": (
        "needs a three-node ensemble losing its quorum (read-only mode)"
    ),
    "TestSSLClient::test_create": "needs a TLS client port",
    "TestReconfig::test_add_remove_observer": "reconfig needs an ensemble",
    "TestReconfig::test_no_super_auth": "reconfig needs an ensemble",
    "TestReconfig::test_bad_input": "reconfig needs an ensemble",
}
# An ensemble runs the failover test; what this harness does not configure yet stays skipped.
ENSEMBLE_SKIPS = {
    "TestReadOnlyMode::test_read_only": (
        "needs readonlymode.enabled and local sessions on every member (not configured yet)"
    ),
    "TestSSLClient::test_create": "needs a TLS client port (not configured yet)",
    "TestReconfig::test_add_remove_observer": "needs reconfigEnabled=true (not configured yet)",
    "TestReconfig::test_no_super_auth": "needs reconfigEnabled=true (not configured yet)",
    "TestReconfig::test_bad_input": "needs reconfigEnabled=true (not configured yet)",
}

STOP_TIMEOUT_SECONDS = 60
START_TIMEOUT_SECONDS = 90


class ScriptServer:
    """One server process controlled by ``SCRIPT start|stop PORT DIR``.

    Mirrors the attributes and methods of kazoo's ``ManagedZooKeeper`` that the tests use:
    stop keeps the on-disk state (restart tests rely on it), reset and destroy wipe it.
    """

    host = "127.0.0.1"

    def __init__(self, script, port, directory):
        self.script = script
        self.client_port = port
        self.directory = directory
        self._running = False

    @property
    def address(self):
        return "%s:%d" % (self.host, self.client_port)

    @property
    def secure_address(self):
        """No TLS port: tests needing one are skipped at collection."""
        return self.address

    @property
    def running(self):
        return self._running

    def _control(self, action, timeout):
        """Runs the control script; a failure is an error of the harness, not of a test."""
        subprocess.run(
            [self.script, action, str(self.client_port), self.directory],
            check=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )

    def run(self):
        if self._running:
            return
        self._control("start", START_TIMEOUT_SECONDS)
        self._running = True

    def stop(self):
        """Always asks the script, so a server left behind by a failed start is still stopped."""
        self._control("stop", STOP_TIMEOUT_SECONDS)
        self._running = False

    def reset(self):
        self.stop()
        shutil.rmtree(os.path.join(self.directory, "data"), ignore_errors=True)

    def destroy(self):
        self.reset()

    def get_logs(self, num_lines=100):
        path = os.path.join(self.directory, "server.log")
        try:
            with open(path, errors="replace") as log:
                return log.readlines()[-num_lines:]
        except FileNotFoundError:
            return []


class EnsembleMember(ScriptServer):
    """Member ``member_id`` of an ensemble, controlled by ``SCRIPT start|stop ID DIR``.

    The script learns the ensemble's size and first client port from the environment
    (``ENSEMBLE_SIZE``, ``ENSEMBLE_PORT``); it starts a member and returns once the member's own
    ``srvr`` says leader or follower.
    """

    def __init__(self, script, member_id, size, base_port, directory):
        super().__init__(script, base_port + member_id - 1, directory)
        self.member_id = member_id
        self._env = dict(
            os.environ, ENSEMBLE_SIZE=str(size), ENSEMBLE_PORT=str(base_port)
        )

    def _control(self, action, timeout):
        subprocess.run(
            [self.script, action, str(self.member_id), self.directory],
            check=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            env=self._env,
        )


def _all_at_once(servers, method):
    """Calls ``method`` of every server in its own thread; re-raises the first failure.

    A new ensemble has to be started this way (one member alone has no quorum and waits for
    the others), and stopping all at once spares each member waiting for the others to go.
    """
    errors = []

    def call(server):
        try:
            getattr(server, method)()
        except BaseException as e:  # noqa: B036 - handed to the caller below
            errors.append(e)

    threads = [threading.Thread(target=call, args=(s,), daemon=True) for s in servers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


class ScriptCluster:
    """ScriptServers with the interface of kazoo's ``ZookeeperCluster``."""

    def __init__(self, servers):
        self._servers = list(servers)

    def __getitem__(self, index):
        return self._servers[index]

    def __iter__(self):
        return iter(self._servers)

    def start(self):
        """Starts the servers not running, all at once; returns when every one is ready."""
        _all_at_once([s for s in self._servers if not s.running], "run")

    def stop(self):
        _all_at_once(self._servers, "stop")

    def terminate(self):
        """kazoo calls this after every test class: the next class gets a fresh cluster."""
        _all_at_once(self._servers, "destroy")

    def reset(self):
        _all_at_once(self._servers, "reset")

    def get_logs(self):
        return [line for server in self._servers for line in server.get_logs()]

    def get_ssl_client_configuration(self):
        raise RuntimeError("the interop cluster has no TLS port")


_CLUSTER = None


def cluster_size():
    """KAZOO_INTEROP_CLUSTER_SIZE: 1 (one server) or the number of ensemble members."""
    raw = os.environ.get("KAZOO_INTEROP_CLUSTER_SIZE", "1") or "1"
    try:
        size = int(raw)
    except ValueError:
        size = 0
    if not 1 <= size <= 9:
        raise pytest.UsageError("KAZOO_INTEROP_CLUSTER_SIZE must be 1..9, not %r" % raw)
    return size


def _make_cluster():
    """Builds the cluster from the environment (see the module docstring)."""
    script = os.environ.get("KAZOO_INTEROP_SCRIPT")
    if not script or not os.access(script, os.X_OK):
        raise pytest.UsageError("KAZOO_INTEROP_SCRIPT must name an executable control script")
    script = os.path.abspath(script)
    port = int(os.environ.get("KAZOO_INTEROP_PORT", "21810"))
    workdir = os.environ.get("KAZOO_INTEROP_WORKDIR") or tempfile.mkdtemp(prefix="kazoo-interop-")
    workdir = os.path.abspath(workdir)
    size = cluster_size()
    if size == 1:
        directory = os.path.join(workdir, "server")
        os.makedirs(directory, exist_ok=True)
        return ScriptCluster([ScriptServer(script, port, directory)])
    members = []
    for member_id in range(1, size + 1):
        directory = os.path.join(workdir, "member-%d" % member_id)
        os.makedirs(directory, exist_ok=True)
        members.append(EnsembleMember(script, member_id, size, port, directory))
    return ScriptCluster(members)


def get_global_cluster():
    """Replacement for kazoo's: one cluster for the whole session, created on first use."""
    global _CLUSTER
    if _CLUSTER is None:
        _CLUSTER = _make_cluster()
    return _CLUSTER


def pytest_configure(config):
    harness.get_global_cluster = get_global_cluster


# Tests of kazoo's own select() shim that use the number of a file descriptor they just closed:
# once earlier tests have left clients reconnecting in background threads, a new socket can take
# that number between the close and the check. They touch no server, so they run first, before
# any client thread exists.
RUN_FIRST = ("test_selectors_select.py::",)


def pytest_collection_modifyitems(config, items):
    # A stable sort: everything else keeps kazoo's order.
    items.sort(key=lambda item: 0 if any(m in item.nodeid for m in RUN_FIRST) else 1)
    if cluster_size() == 1:
        skips, prefix = SINGLE_NODE_SKIPS, "single node: "
    else:
        skips, prefix = ENSEMBLE_SKIPS, "ensemble: "
    for item in items:
        for suffix, reason in skips.items():
            if item.nodeid.endswith("::" + suffix):
                item.add_marker(pytest.mark.skip(reason=prefix + reason))


def pytest_unconfigure(config):
    """Stops the servers whatever happened, so no run leaves a process behind.

    Clients the tests left open then log their lost connections with no handler but Python's
    last resort, after pytest's summary; that noise is silenced first (an ensemble takes a
    moment to stop) so the summary ends the output.
    """
    logging.getLogger("kazoo").addHandler(logging.NullHandler())
    if _CLUSTER is not None:
        _CLUSTER.stop()
