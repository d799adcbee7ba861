"""Reference OpAMP protobuf classes for Ampora's tests and fixture generator.

The schema comes from the PyPI package ``opentelemetry-opamp-client``
(``opentelemetry._opamp.proto.opamp_pb2`` and ``anyvalue_pb2``), decoded by the
``protobuf`` package.  Published versions of that package lag the current
opamp-spec proto: they lack the Development field
``AgentToServer.connection_settings_status`` (15) with its
``ConnectionSettingsStatus`` message and ``ConnectionSettingsStatuses`` enum,
and (0.5b0) also ``TLSConnectionSettings``, ``ProxyConnectionSettings``, the
``tls``/``proxy`` fields of the three connection-settings messages,
``ComponentHealth.attributes`` (7) and
``AgentCapabilities_ReportsConnectionSettingsStatus``.  This module copies the
package's serialized file descriptor, adds whatever of those is missing, loads
the result into a private descriptor pool and hands out classes generated from
that pool (see :func:`added_to_schema`).

Usage (from the repository root, with the test virtualenv)::

    import sys; sys.path.insert(0, "scripts")
    import opamp_ref
    A2S = opamp_ref.agent_to_server_class()
    msg = opamp_ref.parse("AgentToServer", data)
    obj = opamp_ref.to_json(msg)            # json_format.MessageToDict, default options
    again = opamp_ref.from_json("AgentToServer", obj)
"""

from __future__ import annotations

import functools
from importlib import metadata

from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory
from opentelemetry._opamp.proto import anyvalue_pb2, opamp_pb2

PACKAGE = "opamp.proto"
KINDS = ("AgentToServer", "ServerToAgent")

_T = descriptor_pb2.FieldDescriptorProto


def _msg(fd: descriptor_pb2.FileDescriptorProto, name: str):
    return next((m for m in fd.message_type if m.name == name), None)


def _enum(fd: descriptor_pb2.FileDescriptorProto, name: str):
    return next((e for e in fd.enum_type if e.name == name), None)


def _json_name(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


# (message, field name, number, type, label, type name) as in the upstream
# opamp-spec proto; only entries the packaged descriptor lacks are added.
_EXTRA_FIELDS = [
    ("ConnectionSettingsStatus", "last_connection_settings_hash", 1, _T.TYPE_BYTES, _T.LABEL_OPTIONAL, None),
    ("ConnectionSettingsStatus", "status", 2, _T.TYPE_ENUM, _T.LABEL_OPTIONAL, "ConnectionSettingsStatuses"),
    ("ConnectionSettingsStatus", "error_message", 3, _T.TYPE_STRING, _T.LABEL_OPTIONAL, None),
    ("AgentToServer", "connection_settings_status", 15, _T.TYPE_MESSAGE, _T.LABEL_OPTIONAL, "ConnectionSettingsStatus"),
    ("TLSConnectionSettings", "ca_pem_contents", 1, _T.TYPE_STRING, _T.LABEL_OPTIONAL, None),
    ("TLSConnectionSettings", "include_system_ca_certs_pool", 2, _T.TYPE_BOOL, _T.LABEL_OPTIONAL, None),
    ("TLSConnectionSettings", "insecure_skip_verify", 3, _T.TYPE_BOOL, _T.LABEL_OPTIONAL, None),
    ("TLSConnectionSettings", "min_version", 4, _T.TYPE_STRING, _T.LABEL_OPTIONAL, None),
    ("TLSConnectionSettings", "max_version", 5, _T.TYPE_STRING, _T.LABEL_OPTIONAL, None),
    ("TLSConnectionSettings", "cipher_suites", 6, _T.TYPE_STRING, _T.LABEL_REPEATED, None),
    ("ProxyConnectionSettings", "url", 1, _T.TYPE_STRING, _T.LABEL_OPTIONAL, None),
    ("ProxyConnectionSettings", "connect_headers", 2, _T.TYPE_MESSAGE, _T.LABEL_OPTIONAL, "Headers"),
    ("OpAMPConnectionSettings", "tls", 5, _T.TYPE_MESSAGE, _T.LABEL_OPTIONAL, "TLSConnectionSettings"),
    ("OpAMPConnectionSettings", "proxy", 6, _T.TYPE_MESSAGE, _T.LABEL_OPTIONAL, "ProxyConnectionSettings"),
    ("TelemetryConnectionSettings", "tls", 4, _T.TYPE_MESSAGE, _T.LABEL_OPTIONAL, "TLSConnectionSettings"),
    ("TelemetryConnectionSettings", "proxy", 5, _T.TYPE_MESSAGE, _T.LABEL_OPTIONAL, "ProxyConnectionSettings"),
    ("OtherConnectionSettings", "tls", 5, _T.TYPE_MESSAGE, _T.LABEL_OPTIONAL, "TLSConnectionSettings"),
    ("OtherConnectionSettings", "proxy", 6, _T.TYPE_MESSAGE, _T.LABEL_OPTIONAL, "ProxyConnectionSettings"),
    ("ComponentHealth", "attributes", 7, _T.TYPE_MESSAGE, _T.LABEL_REPEATED, "KeyValue"),
]
_EXTRA_ENUM_VALUES = [
    ("ConnectionSettingsStatuses", "ConnectionSettingsStatuses_UNSET", 0),
    ("ConnectionSettingsStatuses", "ConnectionSettingsStatuses_APPLIED", 1),
    ("ConnectionSettingsStatuses", "ConnectionSettingsStatuses_APPLYING", 2),
    ("ConnectionSettingsStatuses", "ConnectionSettingsStatuses_FAILED", 3),
    ("AgentCapabilities", "AgentCapabilities_ReportsConnectionSettingsStatus", 0x8000),
]


def _extend(fd: descriptor_pb2.FileDescriptorProto) -> list[str]:
    """Bring the packaged opamp.proto up to the current upstream schema (see
    _EXTRA_FIELDS/_EXTRA_ENUM_VALUES) in place; returns what was added."""
    added = []
    for enum_name, value_name, number in _EXTRA_ENUM_VALUES:
        enum = _enum(fd, enum_name)
        if enum is None:
            enum = fd.enum_type.add(name=enum_name)
            added.append(f"enum {enum_name}")
        if not any(v.number == number for v in enum.value):
            enum.value.add(name=value_name, number=number)
            added.append(f"{value_name} = {number}")
    for msg_name, name, number, ftype, label, type_name in _EXTRA_FIELDS:
        msg = _msg(fd, msg_name)
        if msg is None:
            msg = fd.message_type.add(name=msg_name)
            added.append(f"message {msg_name}")
        if any(f.number == number for f in msg.field):
            continue
        f = msg.field.add(name=name, number=number, type=ftype, label=label, json_name=_json_name(name))
        if type_name:
            f.type_name = f".{PACKAGE}.{type_name}"
        added.append(f"{msg_name}.{name} = {number}")
    return added


@functools.cache
def _build() -> tuple[descriptor_pool.DescriptorPool, tuple[str, ...]]:
    anyvalue_fd = descriptor_pb2.FileDescriptorProto.FromString(anyvalue_pb2.DESCRIPTOR.serialized_pb)
    opamp_fd = descriptor_pb2.FileDescriptorProto.FromString(opamp_pb2.DESCRIPTOR.serialized_pb)
    added = tuple(_extend(opamp_fd))
    pool = descriptor_pool.DescriptorPool()
    pool.Add(anyvalue_fd)
    pool.Add(opamp_fd)
    return pool, added


def pool() -> descriptor_pool.DescriptorPool:
    """The private descriptor pool holding anyvalue.proto and the (extended) opamp.proto."""
    return _build()[0]


def field15_native() -> bool:
    """True if the installed package already defines AgentToServer field 15."""
    return "AgentToServer.connection_settings_status = 15" not in added_to_schema()


def added_to_schema() -> tuple[str, ...]:
    """Enums, values, messages and fields this module added to the packaged schema."""
    return _build()[1]


@functools.cache
def message_class(name: str):
    """Generated class for ``opamp.proto.<name>`` (e.g. "AnyValue", "ComponentHealth")."""
    full = name if name.startswith(PACKAGE + ".") else f"{PACKAGE}.{name}"
    return message_factory.GetMessageClass(pool().FindMessageTypeByName(full))


def agent_to_server_class():
    return message_class("AgentToServer")


def server_to_agent_class():
    return message_class("ServerToAgent")


def _cls(kind):
    return message_class(kind) if isinstance(kind, str) else kind


def parse(kind, data: bytes):
    """Parse ``data`` as ``kind`` ("AgentToServer"/"ServerToAgent" or a class).
    Raises google.protobuf.message.DecodeError if the bytes are malformed."""
    msg = _cls(kind)()
    msg.ParseFromString(data)
    return msg


def serialize(msg) -> bytes:
    """Deterministic encoding (map entries sorted by key)."""
    return msg.SerializeToString(deterministic=True)


def to_json(msg) -> dict:
    """``json_format.MessageToDict`` with default options (camelCase names,
    64-bit integers as strings, bytes as base64, enums by name)."""
    return json_format.MessageToDict(msg, descriptor_pool=pool())


def from_json(kind, obj: dict):
    """Inverse of :func:`to_json`: ``json_format.ParseDict`` into a new ``kind``."""
    return json_format.ParseDict(obj, _cls(kind)(), descriptor_pool=pool())


def versions() -> dict[str, str]:
    return {
        "protobuf": metadata.version("protobuf"),
        "opamp_client": metadata.version("opentelemetry-opamp-client"),
    }
