"""Requests that kazoo 2.11 does not implement, sent through kazoo's own connection.

kazoo 2.11 has no containers, TTL nodes, persistent watches, removeWatches/checkWatches,
getEphemerals or getAllChildrenNumber. Each request below has the shape kazoo's connection
expects of a request (``type``, ``serialize()``, ``deserialize(buffer, offset)``), so framing,
xids, error replies and the ordering with notifications are still kazoo's, a real client's.
Record layouts follow zookeeper.jute.
"""

from collections import namedtuple

from kazoo.protocol.serialization import (
    Create2,
    int_struct,
    long_struct,
    read_string,
    write_buffer,
    write_string,
)

OPEN_ACL_WIRE = (31, "world", "anyone")

# CreateMode flags (protocol-notes "Enums").
FLAG_CONTAINER = 4
FLAG_TTL = 5
FLAG_TTL_SEQUENTIAL = 6


def _acl_bytes():
    perms, scheme, ident = OPEN_ACL_WIRE
    return int_struct.pack(1) + int_struct.pack(perms) + write_string(scheme) + write_string(ident)


class CreateContainer(namedtuple("CreateContainer", "path data")):
    """createContainer (19): a CreateRequest with the container flag; answers path and stat."""

    type = 19

    def serialize(self):
        return (
            write_string(self.path)
            + write_buffer(self.data)
            + _acl_bytes()
            + int_struct.pack(FLAG_CONTAINER)
        )

    deserialize = Create2.deserialize


class CreateTTL(namedtuple("CreateTTL", "path data flags ttl")):
    """createTTL (21): {path, data, acl, flags, long ttl}; answers path and stat."""

    type = 21

    def serialize(self):
        return (
            write_string(self.path)
            + write_buffer(self.data)
            + _acl_bytes()
            + int_struct.pack(self.flags)
            + long_struct.pack(self.ttl)
        )

    deserialize = Create2.deserialize


class AddWatch(namedtuple("AddWatch", "path mode")):
    """addWatch (106): {path, int mode}, mode 0 persistent, 1 persistent-recursive; empty reply."""

    type = 106

    def serialize(self):
        return write_string(self.path) + int_struct.pack(self.mode)

    @classmethod
    def deserialize(cls, buffer, offset):
        return True


class RemoveWatches(namedtuple("RemoveWatches", "path watcher_type")):
    """removeWatches (18): {path, int type}; empty reply, NoWatcher when nothing matched."""

    type = 18

    def serialize(self):
        return write_string(self.path) + int_struct.pack(self.watcher_type)

    @classmethod
    def deserialize(cls, buffer, offset):
        return True


class CheckWatches(RemoveWatches):
    """checkWatches (17): same record as removeWatches; only asks whether such a watch exists."""

    type = 17


class GetEphemerals(namedtuple("GetEphemerals", "prefix")):
    """getEphemerals (103): the calling session's ephemerals under a prefix."""

    type = 103

    def serialize(self):
        return write_string(self.prefix)

    @classmethod
    def deserialize(cls, buffer, offset):
        count = int_struct.unpack_from(buffer, offset)[0]
        offset += int_struct.size
        paths = []
        for _ in range(max(count, 0)):
            path, offset = read_string(buffer, offset)
            paths.append(path)
        return paths


class GetAllChildrenNumber(namedtuple("GetAllChildrenNumber", "path")):
    """getAllChildrenNumber (104): how many descendants a node has."""

    type = 104

    def serialize(self):
        return write_string(self.path)

    @classmethod
    def deserialize(cls, buffer, offset):
        return int_struct.unpack_from(buffer, offset)[0]


def call_async(client, request):
    """Queues a request on a kazoo client's connection; returns kazoo's async result."""
    result = client.handler.async_result()
    client._call(request, result)
    return result
