"""pytest plugin: run kazoo's own test suite against one server driven by a control script.

kazoo's tests (shipped in the wheel as ``kazoo.tests``) reach their server only through
``kazoo.testing.harness.get_global_cluster()``, which normally builds a three-node ZooKeeper
ensemble from a ZooKeeper install. This plugin replaces that function with one returning a
cluster of a single server started and stopped by a script with the interface
``SCRIPT start|stop PORT DIR`` (scripts/zk-reference.sh, scripts/wk-server.sh), so the very same
tests run against Apache ZooKeeper and against Watchkeeper, and the restart tests stop and start
the real server process.

Configuration (environment):
  KAZOO_INTEROP_SCRIPT   the control script (required)
  KAZOO_INTEROP_PORT     the client port (default 21810)
  KAZOO_INTEROP_WORKDIR  where server directories go (default: a fresh temporary directory);
                         kept after the run so the server logs can be read

Tests that need more than one server (failover, read-only mode, reconfig) or TLS cannot run
against a single node; they are reported as skipped with the reason, never silently dropped.
"""

import logging
import os
import shutil
import subprocess
import sys
import tempfile
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
# why the test cannot run against one standalone server.
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


class ScriptCluster:
    """A "cluster" of one ScriptServer with the interface of kazoo's ``ZookeeperCluster``."""

    def __init__(self, server):
        self._servers = [server]

    def __getitem__(self, index):
        return self._servers[index]

    def __iter__(self):
        return iter(self._servers)

    def start(self):
        for server in self._servers:
            server.run()

    def stop(self):
        for server in self._servers:
            server.stop()

    def terminate(self):
        """kazoo calls this after every test class: the next class gets a fresh server."""
        for server in self._servers:
            server.destroy()

    def reset(self):
        for server in self._servers:
            server.reset()

    def get_logs(self):
        return [line for server in self._servers for line in server.get_logs()]

    def get_ssl_client_configuration(self):
        raise RuntimeError("the interop cluster has no TLS port")


_CLUSTER = None


def _make_cluster():
    """Builds the single-server cluster from the environment (see the module docstring)."""
    script = os.environ.get("KAZOO_INTEROP_SCRIPT")
    if not script or not os.access(script, os.X_OK):
        raise pytest.UsageError("KAZOO_INTEROP_SCRIPT must name an executable control script")
    port = int(os.environ.get("KAZOO_INTEROP_PORT", "21810"))
    workdir = os.environ.get("KAZOO_INTEROP_WORKDIR") or tempfile.mkdtemp(prefix="kazoo-interop-")
    directory = os.path.join(os.path.abspath(workdir), "server")
    os.makedirs(directory, exist_ok=True)
    return ScriptCluster(ScriptServer(os.path.abspath(script), port, directory))


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
    for item in items:
        for suffix, reason in SINGLE_NODE_SKIPS.items():
            if item.nodeid.endswith("::" + suffix):
                item.add_marker(pytest.mark.skip(reason="single node: " + reason))


def pytest_unconfigure(config):
    """Stops the server whatever happened, so no run leaves a process behind.

    Clients the tests left open then log their lost connections with no handler but Python's
    last resort, after pytest's summary; that noise is silenced so the summary ends the output.
    """
    if _CLUSTER is not None:
        _CLUSTER.stop()
    logging.getLogger("kazoo").addHandler(logging.NullHandler())
