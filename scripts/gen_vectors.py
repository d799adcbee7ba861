"""Generate protobuf test vectors for Ampora's OpAMP codec.

Writes Tests/CoreTests/Fixtures/vectors.json: encoded AgentToServer and
ServerToAgent messages, each paired with what the reference implementation
(the ``protobuf`` package decoding the schema of ``opentelemetry-opamp-client``,
extended by scripts/opamp_ref.py with AgentToServer field 15 and the other
fields of the current upstream proto that the package lacks) makes of it:
the ``json_format.MessageToDict`` rendering for valid inputs, or the
parser's error text for malformed ones.

Contents: random messages filling random subsets of every field of the schema,
hand-picked edge cases (empty, heartbeat, realistic full status / server
reply), protobuf wire-rule cases built byte by byte (unknown fields of every
wire type, merging, last-one-wins, padded varints, unknown enum values, ...)
and malformed inputs that the reference rejects.

Output is deterministic (fixed seed, deterministic serialization).

Run from the repository root:

    .venv/bin/python scripts/gen_vectors.py

(set up the venv with ``python3 -m venv .venv && .venv/bin/pip install -r
scripts/requirements-test.txt``).
"""

# Malformed cases that the reference parser ACCEPTED and were therefore not
# emitted as invalid vectors (checked against protobuf 7.36.2 / upb):
#   - none: every case in add_malformed() is rejected.
# Related inputs the reference accepts, emitted as *valid* rule vectors instead:
#   - a known field arriving with the wrong wire type (kept as an unknown field),
#   - a varint whose 10th byte has bits above bit 63 set (extra bits dropped),
#   - non-minimal ("padded") varints in values, tags and length prefixes,
#   - enum varints beyond int32 range (truncated to int32).
# Reference quirk deliberately NOT turned into a vector: upb moves a map entry
# that contains any unknown / wrong-wire-type field into the parent's unknown
# fields (the key does not appear in the map), where protobuf-go and C++ insert
# the entry and skip the stray field.  See add_rule_cases().

from __future__ import annotations

import json
import random
import struct
import sys
from pathlib import Path

from google.protobuf import descriptor as _d
from google.protobuf.message import DecodeError

sys.path.insert(0, str(Path(__file__).resolve().parent))
import opamp_ref  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "Tests" / "CoreTests" / "Fixtures" / "vectors.json"
SEED = 0x0A3F0A3
RANDOM_PER_KIND = 250
MAX_DEPTH = 60  # every vector must nest strictly less than this

FD = _d.FieldDescriptor

# --------------------------------------------------------------------------
# value pools
# --------------------------------------------------------------------------

U64_EDGES = [0, 1, 127, 128, 300, 2**31 - 1, 2**32 - 1, 2**32, 2**53 + 1,
             2**63 - 1, 2**63, 2**64 - 2, 2**64 - 1]
I64_EDGES = [0, 1, -1, 127, -128, 2**31 - 1, -(2**31), 2**32, 2**53 + 1,
             2**63 - 1, -(2**63), -(2**63) + 1]
DOUBLE_EDGES = [0.0, -0.0, 0.5, -1e300, 1e-300, 1.0, -2.5, 0.1, 100.0,
                3.141592653589793, 5e-324, 2.2250738585072014e-308,
                1.7976931348623157e308, -1.7976931348623157e308, 9007199254740993.0,
                1e21, 1e-7, 123456789.125]
STRING_EDGES = ["", "a", "service.name", "host.name", "os.type", "héllo wörld",
                "日本語テキスト", "🚀", "emoji 👩‍💻 + flag 🇺🇦", "\u0000nul", "tab\tnl\n",
                'quote"back\\slash', "Ωμέγα", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "\u2028\u2029", "\ufeffbom",
                "x" * 200, "ü" * 64]
# character ranges for random strings (no surrogates)
CHAR_RANGES = [(0x20, 0x7E)] * 6 + [(0x00, 0x1F), (0xA0, 0x24F), (0x370, 0x3FF),
                                    (0x4E00, 0x4FFF), (0xE000, 0xE0FF), (0xFFF0, 0xFFFD),
                                    (0x1F300, 0x1F64F), (0x10000, 0x1007F), (0x10FF00, 0x10FFFF)]

_DEFAULTS = {FD.TYPE_STRING: "", FD.TYPE_BYTES: b"", FD.TYPE_BOOL: False,
             FD.TYPE_INT64: 0, FD.TYPE_UINT64: 0, FD.TYPE_FIXED64: 0, FD.TYPE_DOUBLE: 0.0,
             FD.TYPE_ENUM: 0}


class RandomFiller:
    """Fill messages with random content, recording which fields were set."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.covered: set[tuple[str, str]] = set()
        self.enum_values: set[tuple[str, int]] = set()

    # scalars ------------------------------------------------------------
    def string(self) -> str:
        r = self.rng
        if r.random() < 0.4:
            return r.choice(STRING_EDGES)
        n = r.choice([0, 1, 2, 5, 8, 12, 20, 33])
        out = []
        for _ in range(n):
            lo, hi = r.choice(CHAR_RANGES)
            out.append(chr(r.randint(lo, hi)))
        return "".join(out)

    def bytes_(self) -> bytes:
        r = self.rng
        n = r.choice([0, 0, 1, 4, 16, 16, 32, 57])
        return bytes(r.getrandbits(8) for _ in range(n))

    def u64(self) -> int:
        r = self.rng
        return r.choice(U64_EDGES) if r.random() < 0.6 else r.getrandbits(r.choice([7, 14, 32, 64]))

    def i64(self) -> int:
        r = self.rng
        if r.random() < 0.6:
            return r.choice(I64_EDGES)
        return r.getrandbits(64) - 2**63

    def double(self) -> float:
        r = self.rng
        if r.random() < 0.6:
            return r.choice(DOUBLE_EDGES)
        return r.uniform(-1e6, 1e6) * 10 ** r.randint(-20, 20)

    def enum(self, ed) -> int:
        r = self.rng
        if r.random() < 0.75:
            v = r.choice(ed.values).number
        else:
            v = r.choice([ed.values[-1].number + 1, 7, 42, 1000, 2**31 - 1, -1, -(2**31)])
        self.enum_values.add((ed.full_name, v))
        return v

    def scalar(self, f, default: bool = False):
        if default:
            return _DEFAULTS[f.type]
        t = f.type
        if t == FD.TYPE_STRING:
            return self.string()
        if t == FD.TYPE_BYTES:
            return self.bytes_()
        if t == FD.TYPE_BOOL:
            return self.rng.random() < 0.7
        if t in (FD.TYPE_UINT64, FD.TYPE_FIXED64):
            return self.u64()
        if t == FD.TYPE_INT64:
            return self.i64()
        if t == FD.TYPE_DOUBLE:
            return self.double()
        if t == FD.TYPE_ENUM:
            return self.enum(f.enum_type)
        raise AssertionError(f"unhandled field type {t} for {f.full_name}")

    # messages -----------------------------------------------------------
    def fill(self, msg, depth: int = 0) -> None:
        r = self.rng
        desc = msg.DESCRIPTOR
        p = max(0.15, 0.6 - 0.07 * depth)
        if desc.name in ("ArrayValue", "KeyValueList", "KeyValue") and depth < 10:
            p = 0.9  # let AnyValue trees grow a few levels
        oneof_fields = {f.name for o in desc.oneofs for f in o.fields}
        for oneof in desc.oneofs:
            if r.random() < 0.8:
                choices = list(oneof.fields)
                nested = [f for f in choices if f.type == FD.TYPE_MESSAGE]
                scalars = [f for f in choices if f.type != FD.TYPE_MESSAGE]
                if depth >= 10 and scalars:  # keep AnyValue recursion bounded
                    choices = scalars
                elif desc.name == "AnyValue" and depth < 8 and r.random() < 0.5:
                    choices = nested  # favour array/kvlist nesting a few levels deep
                self._set_field(msg, r.choice(choices), depth, in_oneof=True)
        for f in desc.fields:
            if f.name in oneof_fields:
                continue
            if r.random() < p:
                self._set_field(msg, f, depth, in_oneof=False)

    def _count(self) -> int:
        return self.rng.choice([0, 1, 1, 2, 3, 4])

    def _set_field(self, msg, f, depth: int, in_oneof: bool) -> None:
        r = self.rng
        self.covered.add((f.containing_type.full_name, f.name))
        too_deep = depth >= 11
        if f.type == FD.TYPE_MESSAGE and f.message_type.GetOptions().map_entry:
            container = getattr(msg, f.name)
            vf = f.message_type.fields_by_name["value"]
            n = 0 if too_deep else r.choice([1, 2, 3, 4])
            for _ in range(n):
                key = self.string()
                if vf.type == FD.TYPE_MESSAGE:
                    container[key].Clear()  # duplicate key: replace, like the wire does
                    self.fill(container[key], depth + 2)
                else:
                    container[key] = self.scalar(vf)
            return
        if f.is_repeated:
            container = getattr(msg, f.name)
            n = 0 if too_deep else self._count()
            for _ in range(n):
                if f.type == FD.TYPE_MESSAGE:
                    self.fill(container.add(), depth + 1)
                else:
                    container.append(self.scalar(f))
            return
        if f.type == FD.TYPE_MESSAGE:
            sub = getattr(msg, f.name)
            sub.SetInParent()
            if not too_deep and not (in_oneof and r.random() < 0.1):
                self.fill(sub, depth + 1)
            return
        # singular scalar; oneof members are sometimes set to their default value
        setattr(msg, f.name, self.scalar(f, default=in_oneof and r.random() < 0.15))


# --------------------------------------------------------------------------
# wire-level helpers for hand-built cases
# --------------------------------------------------------------------------

def varint(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def padded_varint(n: int, length: int) -> bytes:
    """Non-minimal varint of exactly ``length`` bytes."""
    out = bytearray()
    for i in range(length):
        b = (n >> (7 * i)) & 0x7F
        out.append(b | (0x80 if i < length - 1 else 0))
    return bytes(out)


def tag(field: int, wt: int) -> bytes:
    return varint((field << 3) | wt)


def fv(field: int, value: int) -> bytes:           # varint field
    return tag(field, 0) + varint(value)


def f64(field: int, raw: bytes | int | float) -> bytes:  # fixed64 field
    if isinstance(raw, float):
        raw = struct.pack("<d", raw)
    elif isinstance(raw, int):
        raw = struct.pack("<Q", raw)
    return tag(field, 1) + raw


def f32(field: int, raw: bytes | int) -> bytes:    # fixed32 field
    if isinstance(raw, int):
        raw = struct.pack("<I", raw)
    return tag(field, 5) + raw


def ld(field: int, payload: bytes | str) -> bytes:  # length-delimited field
    if isinstance(payload, str):
        payload = payload.encode()
    return tag(field, 2) + varint(len(payload)) + payload


def grp(field: int, content: bytes) -> bytes:     # group start ... end
    return tag(field, 3) + content + tag(field, 4)


def kv(key, value: bytes | None = None) -> bytes:  # KeyValue
    return ld(1, key) + (ld(2, value) if value is not None else b"")


def av_str(s) -> bytes:                              # AnyValue{string_value}
    return ld(1, s)


def map_entry(field: int, key, value: bytes | None) -> bytes:
    body = ld(1, key) + (ld(2, value) if value is not None else b"")
    return ld(field, body)


UNKNOWN_ALL = (fv(100, 150) + f64(101, 0x0102030405060708) + ld(102, b"\x00\xffunknown")
               + f32(103, 0xDEADBEEF)
               + grp(104, fv(1, 7) + ld(2, b"in group") + f32(3, 1) + f64(4, 2)
                     + grp(5, fv(1, 1) + grp(6, b"")) + fv(2, 9)))

# --------------------------------------------------------------------------
# reference helpers
# --------------------------------------------------------------------------


def msg_depth(msg) -> int:
    """Nesting depth counting the message itself, sub-messages and map entries."""
    best = 1
    for f, val in msg.ListFields():
        if f.type != FD.TYPE_MESSAGE:
            continue
        if f.message_type.GetOptions().map_entry:
            vf = f.message_type.fields_by_name["value"]
            for k in val:
                inner = msg_depth(val[k]) if vf.type == FD.TYPE_MESSAGE else 0
                best = max(best, 2 + inner)
        elif f.is_repeated:
            for v in val:
                best = max(best, 1 + msg_depth(v))
        else:
            best = max(best, 1 + msg_depth(val))
    return best


def wire_depth(data: bytes, depth: int = 1) -> int:
    """Upper bound of nesting on the wire: every length-delimited payload that
    itself parses as a message, and every group, counts as one level."""
    best = depth
    i = 0
    try:
        while i < len(data):
            key, i = _read_varint(data, i)
            wt = key & 7
            if wt == 0:
                _, i = _read_varint(data, i)
            elif wt == 1:
                i += 8
            elif wt == 5:
                i += 4
            elif wt == 2:
                n, i = _read_varint(data, i)
                payload = data[i:i + n]
                i += n
                if payload:
                    best = max(best, wire_depth(payload, depth + 1))
            elif wt == 3:
                best = max(best, depth + 1)  # groups in these vectors are shallow
            elif wt == 4:
                pass
            else:
                return best
            if i > len(data):
                return best
    except IndexError:
        return best
    return best


def _read_varint(data: bytes, i: int) -> tuple[int, int]:
    n = shift = 0
    while True:
        b = data[i]
        i += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80 or shift >= 70:
            return n, i


def sorted_keys(obj):
    """Same JSON value with object keys sorted: upb iterates maps in an order that
    varies between runs, so MessageToDict's key order is not reproducible."""
    if isinstance(obj, dict):
        return {k: sorted_keys(obj[k]) for k in sorted(obj)}
    if isinstance(obj, list):
        return [sorted_keys(v) for v in obj]
    return obj


class Collector:
    def __init__(self):
        self.vectors: list[dict] = []
        self.names: set[str] = set()
        self.accepted_malformed: list[str] = []
        self.counts = {k: {"valid": 0, "invalid": 0} for k in opamp_ref.KINDS}

    def _add(self, entry: dict) -> None:
        assert entry["name"] not in self.names, entry["name"]
        self.names.add(entry["name"])
        self.vectors.append(entry)
        self.counts[entry["message"]]["valid" if entry["valid"] else "invalid"] += 1

    def valid(self, name: str, kind: str, data: bytes, check=None):
        """Parse ``data`` with the reference (must succeed) and record it."""
        try:
            msg = opamp_ref.parse(kind, data)
        except DecodeError as e:
            raise AssertionError(f"{name}: reference rejected a case meant to be valid: {e}")
        if check is not None:
            ok = check(msg)
            assert ok is None or ok, f"{name}: unexpected reference result {opamp_ref.to_json(msg)}"
        d = max(msg_depth(msg), wire_depth(data))
        assert d < MAX_DEPTH, f"{name}: depth {d}"
        obj = opamp_ref.to_json(msg)
        # the JSON must round-trip to the same known content
        again = opamp_ref.from_json(kind, obj)
        known = opamp_ref.parse(kind, data)
        known.DiscardUnknownFields()
        assert opamp_ref.serialize(again) == opamp_ref.serialize(known), name
        self._add({"name": name, "message": kind, "hex": data.hex(), "valid": True,
                   "json": sorted_keys(obj)})
        return msg

    def message(self, name: str, msg):
        return self.valid(name, msg.DESCRIPTOR.name, opamp_ref.serialize(msg))

    def invalid(self, name: str, kind: str, data: bytes) -> None:
        try:
            opamp_ref.parse(kind, data)
        except DecodeError as e:
            assert wire_depth(data) < MAX_DEPTH
            self._add({"name": name, "message": kind, "hex": data.hex(), "valid": False,
                       "json": None, "error": str(e)})
            return
        self.accepted_malformed.append(f"{kind}:{name}")


# --------------------------------------------------------------------------
# content
# --------------------------------------------------------------------------

C = opamp_ref.message_class

COLLECTOR_YAML = """\
# OpenTelemetry Collector configuration managed by OpAMP
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 0.0.0.0:4317
        max_recv_msg_size_mib: 16
      http:
        endpoint: 0.0.0.0:4318
  hostmetrics:
    collection_interval: 30s
    scrapers:
      cpu: {}
      memory: {}
      disk: {}
      network: {}
  filelog:
    include: [/var/log/app/*.log]
    start_at: end
processors:
  batch:
    send_batch_size: 8192
    timeout: 5s
  memory_limiter:
    check_interval: 1s
    limit_percentage: 80
    spike_limit_percentage: 20
  resourcedetection:
    detectors: [env, system, docker]
    timeout: 2s
  attributes/env:
    actions:
      - key: deployment.environment
        value: production
        action: upsert
exporters:
  otlphttp:
    endpoint: https://otlp.example.com:4318
    headers:
      authorization: "Bearer ${env:OTLP_TOKEN}"
    compression: gzip
    retry_on_failure:
      enabled: true
      max_elapsed_time: 300s
  debug:
    verbosity: basic
extensions:
  health_check:
    endpoint: 0.0.0.0:13133
  opamp:
    server:
      ws:
        endpoint: wss://opamp.example.com/v1/opamp
service:
  extensions: [health_check, opamp]
  telemetry:
    logs:
      level: info
  pipelines:
    traces:
      receivers: [otlp]
      processors: [memory_limiter, resourcedetection, batch]
      exporters: [otlphttp]
    metrics:
      receivers: [otlp, hostmetrics]
      processors: [memory_limiter, resourcedetection, batch]
      exporters: [otlphttp]
    logs:
      receivers: [otlp, filelog]
      processors: [memory_limiter, attributes/env, batch]
      exporters: [otlphttp, debug]
"""

UID = bytes.fromhex("0193a5f1c2d47e8b9a0c1d2e3f405162")
UID2 = bytes.fromhex("0193a5f1c2d47e8b9a0c1d2e3f40ffee")


def set_kv(kvmsg, key, value):
    kvmsg.key = key
    if isinstance(value, bool):
        kvmsg.value.bool_value = value
    elif isinstance(value, int):
        kvmsg.value.int_value = value
    elif isinstance(value, float):
        kvmsg.value.double_value = value
    elif isinstance(value, bytes):
        kvmsg.value.bytes_value = value
    else:
        kvmsg.value.string_value = value


def realistic_status():
    m = C("AgentToServer")()
    m.instance_uid = UID
    m.sequence_num = 1
    m.capabilities = 0x1 | 0x2 | 0x4 | 0x800 | 0x1000 | 0x2000
    desc = m.agent_description
    for k, v in [("service.name", "io.opentelemetry.collector"),
                 ("service.version", "0.115.0"),
                 ("service.instance.id", "01JEXAMPLE0000000000000000")]:
        set_kv(desc.identifying_attributes.add(), k, v)
    for k, v in [("host.name", "ip-10-0-12-34.eu-west-1.compute.internal"),
                 ("os.type", "linux"), ("os.description", "Ubuntu 24.04.1 LTS"),
                 ("host.arch", "amd64"), ("process.pid", 4242)]:
        set_kv(desc.non_identifying_attributes.add(), k, v)
    h = m.health
    h.healthy = True
    h.start_time_unix_nano = 1732867200000000000
    h.status_time_unix_nano = 1732867260000000000
    h.status = "StatusOK"
    for name, ok, err in [("pipeline:traces", True, ""), ("pipeline:metrics", True, ""),
                          ("pipeline:logs", False, "exporter otlphttp: connection refused")]:
        c = h.component_health_map[name]
        c.healthy = ok
        c.start_time_unix_nano = 1732867200000000000
        c.status_time_unix_nano = 1732867260000000000
        c.status = "StatusOK" if ok else "StatusRecoverableError"
        c.last_error = err
    f = m.effective_config.config_map.config_map[""]
    f.body = COLLECTOR_YAML.encode()
    f.content_type = "text/yaml"
    rcs = m.remote_config_status
    rcs.last_remote_config_hash = bytes(range(32))
    rcs.status = 1
    return m


def realistic_reply():
    m = C("ServerToAgent")()
    m.instance_uid = UID
    m.flags = 1
    m.capabilities = 0x1 | 0x2 | 0x4 | 0x8 | 0x10 | 0x20 | 0x40
    rc = m.remote_config
    rc.config.config_map[""].body = COLLECTOR_YAML.encode()[:600]
    rc.config.config_map[""].content_type = "text/yaml"
    rc.config.config_map["extra.json"].body = b'{"sampling": 0.25}'
    rc.config.config_map["extra.json"].content_type = "application/json"
    rc.config_hash = bytes(range(100, 132))
    cs = m.connection_settings
    cs.hash = b"\x01" * 32
    cs.opamp.destination_endpoint = "wss://opamp.example.com/v1/opamp"
    cs.opamp.headers.headers.add(key="Authorization", value="Bearer abc.def")
    cs.opamp.certificate.cert = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    cs.opamp.certificate.private_key = b"-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n"
    cs.opamp.heartbeat_interval_seconds = 30
    cs.opamp.tls.insecure_skip_verify = False
    cs.opamp.tls.include_system_ca_certs_pool = True
    cs.opamp.tls.min_version = "1.2"
    cs.opamp.tls.cipher_suites.extend(["TLS_AES_128_GCM_SHA256", "TLS_CHACHA20_POLY1305_SHA256"])
    cs.opamp.proxy.url = "http://proxy.internal:3128"
    cs.own_metrics.destination_endpoint = "https://otlp.example.com:4318/v1/metrics"
    cs.own_logs.destination_endpoint = "https://otlp.example.com:4318/v1/logs"
    oc = cs.other_connections["kafka"]
    oc.destination_endpoint = "kafka-0.internal:9093"
    oc.other_settings["topic"] = "otlp_spans"
    oc.other_settings["acks"] = "all"
    pa = m.packages_available
    pa.all_packages_hash = b"\x02" * 32
    p = pa.packages["otelcol-contrib"]
    p.type = 0
    p.version = "0.115.0"
    p.file.download_url = "https://dl.example.com/otelcol-contrib_0.115.0_linux_amd64.tar.gz"
    p.file.content_hash = b"\x03" * 32
    p.file.signature = b"\x04" * 64
    p.file.headers.headers.add(key="X-Token", value="t0k")
    p.hash = b"\x05" * 32
    q = pa.packages["geoip-db"]
    q.type = 1
    q.version = "2024.11"
    q.hash = b"\x06" * 32
    m.agent_identification.new_instance_uid = UID2
    m.command.type = 0
    m.command.SetInParent()
    m.custom_capabilities.capabilities.extend(["io.opentelemetry.pprof", "com.example.reload"])
    return m


def add_random(col: Collector, rng: random.Random, filler: RandomFiller) -> None:
    for kind in opamp_ref.KINDS:
        for i in range(RANDOM_PER_KIND):
            for _attempt in range(20):
                msg = C(kind)()
                filler.fill(msg)
                data = opamp_ref.serialize(msg)
                if len(data) <= 6000 and msg_depth(msg) < MAX_DEPTH:
                    break
            col.message(f"{'a2s' if kind == 'AgentToServer' else 's2a'}-random-{i:03d}", msg)


def add_edge_cases(col: Collector) -> None:
    A2S, S2A = "AgentToServer", "ServerToAgent"
    col.valid("a2s-empty", A2S, b"")
    col.valid("s2a-empty", S2A, b"")

    hb = C(A2S)(instance_uid=UID, sequence_num=42, capabilities=0x2000 | 0x1)
    col.message("a2s-heartbeat", hb)
    full = realistic_status()
    col.message("a2s-full-status", full)
    reply = realistic_reply()
    col.message("s2a-full-reply", reply)

    m = C(A2S)(instance_uid=UID, sequence_num=2**64 - 1, capabilities=2**64 - 1, flags=1)
    m.agent_disconnect.SetInParent()
    col.message("a2s-disconnect-extremes", m)
    m = C(A2S)(instance_uid=UID, sequence_num=7)
    m.connection_settings_status.last_connection_settings_hash = b"\xaa" * 32
    m.connection_settings_status.status = 3
    m.connection_settings_status.error_message = "tls: bad certificate ✗"
    col.message("a2s-connection-settings-status", m)
    m = C(A2S)(instance_uid=UID)
    m.connection_settings_status.SetInParent()
    col.message("a2s-connection-settings-status-empty", m)
    m = C(A2S)(instance_uid=UID, sequence_num=3)
    m.connection_settings_request.opamp.certificate_request.csr = b"-----BEGIN CERTIFICATE REQUEST-----"
    m.custom_message.capability = "io.opentelemetry.pprof"
    m.custom_message.type = "profile"
    m.custom_message.data = b""
    m.available_components.hash = b"\x09" * 16
    comp = m.available_components.components["receivers"]
    sub = comp.sub_component_map["otlp"]
    set_kv(sub.metadata.add(), "code.namespace", "go.opentelemetry.io/collector/receiver/otlpreceiver")
    set_kv(sub.metadata.add(), "version", "v0.115.0")
    m.package_statuses.server_provided_all_packages_hash = b"\x02" * 32
    ps = m.package_statuses.packages["otelcol-contrib"]
    ps.name = "otelcol-contrib"
    ps.agent_has_version = "0.114.0"
    ps.server_offered_version = "0.115.0"
    ps.status = 4
    ps.download_details.download_percent = 0.5
    ps.download_details.download_bytes_per_second = 1048576.0
    col.message("a2s-dev-fields", m)

    e = C(S2A)(instance_uid=UID)
    e.error_response.type = 2
    e.error_response.error_message = "server overloaded"
    e.error_response.retry_info.retry_after_nanoseconds = 5_000_000_000
    col.message("s2a-error-unavailable-retry", e)
    e = C(S2A)(instance_uid=UID)
    e.error_response.SetInParent()
    col.message("s2a-error-empty", e)
    e = C(S2A)(instance_uid=UID)
    e.error_response.retry_info.SetInParent()
    col.message("s2a-error-retry-info-default", e)
    e = C(S2A)(instance_uid=UID, capabilities=1, flags=2)
    col.message("s2a-first-reply", e)
    e = C(S2A)()
    e.custom_message.capability = "com.example.reload"
    e.custom_message.type = "reload"
    e.custom_message.data = "🔁".encode()
    col.message("s2a-custom-message", e)

    # AnyValue: every oneof member at default value, deep array/kvlist nesting
    m = C(A2S)()
    d = m.agent_description
    d.identifying_attributes.add(key="s").value.string_value = ""
    d.identifying_attributes.add(key="b").value.bool_value = False
    d.identifying_attributes.add(key="i").value.int_value = 0
    d.identifying_attributes.add(key="d").value.double_value = 0.0
    d.identifying_attributes.add(key="y").value.bytes_value = b""
    d.identifying_attributes.add(key="a").value.array_value.SetInParent()
    d.identifying_attributes.add(key="k").value.kvlist_value.SetInParent()
    d.identifying_attributes.add(key="none").value.SetInParent()
    d.identifying_attributes.add(key="")
    col.message("a2s-anyvalue-defaults", m)

    m = C(A2S)()
    v = m.agent_description.non_identifying_attributes.add(key="deep").value
    for level in range(12):
        if level % 2 == 0:
            nxt = v.array_value.values.add()
            v.array_value.values.add().int_value = -level
        else:
            kvm = v.kvlist_value.values.add(key=f"k{level}")
            v.kvlist_value.values.add(key="x").value.double_value = -1e300
            nxt = kvm.value
        v = nxt
    v.string_value = "bottom 🧱"
    col.message("a2s-anyvalue-deep", m)

    m = C(A2S)()
    h = m.health
    for level in range(10):
        h.healthy = level % 2 == 0
        h.status = f"level{level}"
        h.attributes.add(key="lvl").value.int_value = level
        h = h.component_health_map[f"child-{level}"]
    col.message("a2s-health-deep", m)

    m = C(A2S)()
    m.health.start_time_unix_nano = 2**64 - 1
    m.health.status_time_unix_nano = 2**63
    m.health.attributes.add(key="i64min").value.int_value = -(2**63)
    m.health.attributes.add(key="i64max").value.int_value = 2**63 - 1
    m.health.attributes.add(key="neg").value.int_value = -1
    for i, x in enumerate([0.5, -1e300, 1e-300, -0.0, 5e-324, 1.7976931348623157e308]):
        m.health.attributes.add(key=f"d{i}").value.double_value = x
    col.message("a2s-numeric-extremes", m)


def add_rule_cases(col: Collector) -> None:
    A2S, S2A = "AgentToServer", "ServerToAgent"
    uid = ld(1, UID)

    # unknown fields of every wire type
    col.valid("a2s-unknown-varint", A2S, uid + fv(100, 2**64 - 1), lambda m: m.instance_uid == UID)
    col.valid("a2s-unknown-fixed64", A2S, uid + f64(101, 2**64 - 1))
    col.valid("a2s-unknown-len", A2S, uid + ld(102, b"\x0a\x02hi"))
    col.valid("a2s-unknown-fixed32", A2S, uid + f32(103, 0xFFFFFFFF))
    col.valid("a2s-unknown-group", A2S, uid + grp(104, fv(1, 1) + ld(2, "x") + grp(3, f32(1, 5)) + f64(4, 1)))
    col.valid("a2s-unknown-empty-group", A2S, grp(104, b"") + uid)
    col.valid("a2s-unknown-all", A2S, UNKNOWN_ALL + uid + fv(2, 5) + UNKNOWN_ALL,
              lambda m: m.sequence_num == 5)
    col.valid("a2s-unknown-max-field-number", A2S, fv((1 << 29) - 1, 1) + fv(2, 1))
    col.valid("a2s-unknown-field-16", A2S, ld(16, b"future") + fv(2, 1))
    col.valid("a2s-unknown-in-nested", A2S,
              ld(3, ld(1, ld(1, "k") + UNKNOWN_ALL + ld(2, UNKNOWN_ALL + av_str("v")))
                 + UNKNOWN_ALL)
              + ld(5, UNKNOWN_ALL + ld(6, ld(1, "c") + ld(2, fv(1, 1) + UNKNOWN_ALL))),
              lambda m: m.agent_description.identifying_attributes[0].value.string_value == "v"
              and m.health.component_health_map["c"].healthy)
    col.valid("s2a-unknown-all", S2A, uid + UNKNOWN_ALL + fv(7, 1), lambda m: m.capabilities == 1)
    col.valid("s2a-unknown-in-nested", S2A,
              ld(3, UNKNOWN_ALL + ld(1, ld(1, ld(1, "f") + ld(2, ld(1, "body") + UNKNOWN_ALL)))
                 + ld(2, b"h")) + ld(2, UNKNOWN_ALL + fv(1, 1)))

    # a known field number with the wrong wire type: skipped as an unknown field
    col.valid("a2s-wrongwt-varint-field-as-len", A2S, ld(2, b"abc") + fv(4, 1),
              lambda m: m.sequence_num == 0 and m.capabilities == 1)
    col.valid("a2s-wrongwt-varint-field-as-fixed64", A2S, f64(2, 7), lambda m: m.sequence_num == 0)
    col.valid("a2s-wrongwt-bytes-field-as-varint", A2S, fv(1, 5), lambda m: m.instance_uid == b"")
    col.valid("a2s-wrongwt-bytes-field-as-fixed32", A2S, f32(1, 5))
    col.valid("a2s-wrongwt-message-field-as-varint", A2S, fv(3, 5),
              lambda m: not m.HasField("agent_description"))
    col.valid("a2s-wrongwt-message-field-as-group", A2S, grp(3, ld(1, kv("k", av_str("v")))),
              lambda m: not m.HasField("agent_description"))
    col.valid("a2s-wrongwt-fixed64-field-as-varint", A2S, ld(5, fv(2, 5)),
              lambda m: m.health.start_time_unix_nano == 0)
    col.valid("a2s-wrongwt-string-in-anyvalue-as-varint", A2S,
              ld(3, ld(1, ld(1, "k") + ld(2, fv(1, 3)))),
              lambda m: m.agent_description.identifying_attributes[0].value.WhichOneof("value") is None)
    col.valid("s2a-wrongwt-enum-as-fixed32", S2A, ld(9, f32(1, 1)), lambda m: m.command.type == 0)

    # duplicate map keys in one message: last entry wins
    col.valid("a2s-map-duplicate-key", A2S,
              ld(6, ld(1, map_entry(1, "a", ld(1, b"first") + ld(2, "text/plain"))
                       + map_entry(1, "b", ld(1, b"bee"))
                       + map_entry(1, "a", ld(1, b"second")))),
              lambda m: m.effective_config.config_map.config_map["a"].body == b"second"
              and m.effective_config.config_map.config_map["a"].content_type == "")
    col.valid("a2s-health-map-duplicate-key", A2S,
              ld(5, map_entry(6, "c", fv(1, 1) + ld(4, "first"))
                 + map_entry(6, "c", ld(3, "second"))),
              lambda m: m.health.component_health_map["c"].last_error == "second"
              and not m.health.component_health_map["c"].healthy)
    col.valid("s2a-map-duplicate-key-string-values", S2A,
              ld(4, map_entry(6, "x", map_entry(4, "k", "v1") + map_entry(4, "k", "v2"))),
              lambda m: m.connection_settings.other_connections["x"].other_settings["k"] == "v2")
    col.valid("s2a-map-duplicate-key-packages", S2A,
              ld(5, map_entry(1, "p", ld(2, "1.0")) + map_entry(1, "p", fv(1, 1))),
              lambda m: m.packages_available.packages["p"].version == ""
              and m.packages_available.packages["p"].type == 1)
    # map entries with missing key / missing value / value before key / duplicate key inside entry
    col.valid("a2s-map-entry-missing-key", A2S, ld(6, ld(1, ld(1, ld(2, ld(1, b"x"))))),
              lambda m: m.effective_config.config_map.config_map[""].body == b"x")
    col.valid("a2s-map-entry-missing-value", A2S, ld(6, ld(1, ld(1, ld(1, "k")))),
              lambda m: "k" in m.effective_config.config_map.config_map)
    col.valid("a2s-map-entry-empty", A2S, ld(6, ld(1, ld(1, b""))),
              lambda m: "" in m.effective_config.config_map.config_map)
    col.valid("a2s-map-entry-value-first", A2S, ld(6, ld(1, ld(1, ld(2, ld(1, b"v")) + ld(1, "k")))),
              lambda m: m.effective_config.config_map.config_map["k"].body == b"v")
    col.valid("a2s-map-entry-key-twice", A2S, ld(6, ld(1, ld(1, ld(1, "k1") + ld(2, ld(1, b"v")) + ld(1, "k2")))),
              lambda m: list(m.effective_config.config_map.config_map) == ["k2"])
    col.valid("a2s-map-entry-value-twice-merged", A2S,
              ld(6, ld(1, ld(1, ld(1, "k") + ld(2, ld(1, b"v")) + ld(2, ld(2, "t"))))),
              lambda m: m.effective_config.config_map.config_map["k"].body == b"v"
              and m.effective_config.config_map.config_map["k"].content_type == "t")
    # NOT emitted: a map entry carrying an unknown (or wrong-wire-type) field.  upb
    # keeps the whole entry as an unknown field of the parent, so the key is absent
    # from the map; protobuf-go/C++ insert the entry and skip the stray field.
    entry_with_unknown = ld(6, ld(1, ld(1, ld(1, "k") + fv(3, 1) + ld(2, b""))))
    assert "k" not in opamp_ref.parse(A2S, entry_with_unknown).effective_config.config_map.config_map

    # the same singular sub-message twice: merged
    col.valid("a2s-submessage-twice-merged", A2S,
              ld(7, ld(1, b"hash") + fv(2, 3)) + fv(2, 1) + ld(7, ld(3, "oops")),
              lambda m: m.remote_config_status.last_remote_config_hash == b"hash"
              and m.remote_config_status.status == 3 and m.remote_config_status.error_message == "oops")
    col.valid("a2s-submessage-twice-repeated-concat", A2S,
              ld(3, ld(1, kv("a", av_str("1")))) + ld(3, ld(1, kv("b", av_str("2"))) + ld(2, kv("c"))),
              lambda m: [x.key for x in m.agent_description.identifying_attributes] == ["a", "b"])
    col.valid("a2s-submessage-twice-map-merge", A2S,
              ld(5, map_entry(6, "x", fv(1, 1))) + ld(5, map_entry(6, "y", b"") + ld(4, "ok")),
              lambda m: sorted(m.health.component_health_map) == ["x", "y"] and m.health.status == "ok")
    col.valid("a2s-empty-submessage-twice", A2S, ld(9, b"") + ld(9, b""),
              lambda m: m.HasField("agent_disconnect"))
    col.valid("s2a-submessage-twice-merged", S2A,
              ld(4, ld(2, ld(1, "wss://a") + fv(4, 10))) + ld(4, ld(2, fv(4, 20) + ld(2, ld(1, ld(1, "h") + ld(2, "v"))))),
              lambda m: m.connection_settings.opamp.destination_endpoint == "wss://a"
              and m.connection_settings.opamp.heartbeat_interval_seconds == 20)
    # oneof: a later member replaces an earlier one; the same message member merges
    col.valid("a2s-oneof-last-member-wins", A2S,
              ld(3, ld(1, ld(1, "k") + ld(2, av_str("s") + fv(3, 5)))),
              lambda m: m.agent_description.identifying_attributes[0].value.WhichOneof("value") == "int_value")
    col.valid("a2s-oneof-split-entries", A2S,
              ld(3, ld(1, ld(1, "k") + ld(2, fv(2, 1)) + ld(2, f64(4, 0.5)))),
              lambda m: m.agent_description.identifying_attributes[0].value.double_value == 0.5)
    col.valid("a2s-oneof-message-member-merged", A2S,
              ld(3, ld(1, ld(1, "k") + ld(2, ld(5, ld(1, av_str("a")))) + ld(2, ld(5, ld(1, fv(3, 2)))))),
              lambda m: len(m.agent_description.identifying_attributes[0].value.array_value.values) == 2)
    col.valid("a2s-oneof-scalar-then-message", A2S,
              ld(3, ld(1, ld(1, "k") + ld(2, ld(7, b"\x00") + ld(6, ld(1, kv("x")))))),
              lambda m: m.agent_description.identifying_attributes[0].value.WhichOneof("value") == "kvlist_value")
    col.valid("a2s-oneof-message-then-scalar", A2S,
              ld(3, ld(1, ld(1, "k") + ld(2, ld(5, b"") + ld(1, "")))),
              lambda m: m.agent_description.identifying_attributes[0].value.WhichOneof("value") == "string_value")
    col.valid("s2a-oneof-retry-info-twice", S2A,
              ld(2, ld(3, fv(1, 5)) + fv(1, 1) + ld(3, b"")),
              lambda m: m.error_response.retry_info.retry_after_nanoseconds == 5)

    # scalar fields repeated on the wire: last one wins
    col.valid("a2s-scalar-repeated-last-wins", A2S,
              fv(2, 1) + fv(2, 2**64 - 1) + fv(2, 3) + ld(1, b"one") + ld(1, b"two"),
              lambda m: m.sequence_num == 3 and m.instance_uid == b"two")
    col.valid("a2s-scalar-repeated-to-default", A2S, fv(4, 5) + fv(4, 0),
              lambda m: m.capabilities == 0)
    col.valid("a2s-bool-true-then-false", A2S, ld(5, fv(1, 1) + fv(1, 0)),
              lambda m: m.HasField("health") and not m.health.healthy)
    col.valid("a2s-fixed64-repeated", A2S, ld(5, f64(2, 1) + f64(2, 2)),
              lambda m: m.health.start_time_unix_nano == 2)
    col.valid("a2s-string-repeated", A2S, ld(7, ld(3, "a") + ld(3, "")),
              lambda m: m.remote_config_status.error_message == "")
    col.valid("s2a-enum-repeated", S2A, ld(2, fv(1, 1) + fv(1, 2)),
              lambda m: m.error_response.type == 2)

    # fields out of order
    col.valid("a2s-fields-reverse-order", A2S,
              fv(10, 1) + ld(9, b"") + ld(7, fv(2, 2)) + fv(4, 0x2001) + ld(3, ld(2, kv("os.type", av_str("linux"))))
              + fv(2, 9) + uid,
              lambda m: m.sequence_num == 9 and m.flags == 1)
    col.valid("s2a-fields-reverse-order", S2A,
              ld(11, ld(1, "c")) + ld(10, ld(1, "cap")) + ld(9, b"") + ld(8, ld(1, UID2)) + fv(7, 3) + fv(6, 1) + uid,
              lambda m: m.HasField("command") and m.capabilities == 3)
    col.valid("a2s-repeated-interleaved", A2S,
              ld(3, ld(1, kv("a")) + ld(2, kv("x")) + ld(1, kv("b")) + ld(2, kv("y"))),
              lambda m: [x.key for x in m.agent_description.identifying_attributes] == ["a", "b"])
    col.valid("a2s-repeated-string-interleaved", A2S, ld(12, ld(1, "a") + ld(1, "") + ld(1, "ü")) + ld(12, ld(1, "b")),
              lambda m: list(m.custom_capabilities.capabilities) == ["a", "", "ü", "b"])

    # enums with unknown values
    col.valid("a2s-enum-unknown", A2S, ld(7, fv(2, 99)), lambda m: m.remote_config_status.status == 99)
    col.valid("a2s-enum-negative", A2S, ld(7, fv(2, -1)), lambda m: m.remote_config_status.status == -1)
    col.valid("a2s-enum-int32-min", A2S, ld(15, fv(2, -(2**31))),
              lambda m: m.connection_settings_status.status == -(2**31))
    col.valid("a2s-enum-over-int32-truncated", A2S, ld(7, fv(2, 2**32 + 1)),
              lambda m: m.remote_config_status.status == 1)
    col.valid("a2s-enum-2pow31-wraps", A2S, ld(7, fv(2, 2**31)),
              lambda m: m.remote_config_status.status == -(2**31))
    col.valid("a2s-package-status-enum-unknown", A2S, ld(8, map_entry(1, "p", fv(6, 5))),
              lambda m: m.package_statuses.packages["p"].status == 5)
    col.valid("s2a-enums-unknown", S2A,
              ld(2, fv(1, 3)) + ld(9, fv(1, 1)) + ld(5, map_entry(1, "p", fv(1, 2))),
              lambda m: m.error_response.type == 3 and m.command.type == 1)

    # packed vs unpacked: the schema has no repeated scalar/enum fields, so a
    # "packed" payload for a singular scalar is just a wrong-wire-type unknown field
    col.valid("a2s-packed-singular-scalar-is-unknown", A2S, ld(4, varint(1) + varint(2)) + fv(2, 1),
              lambda m: m.capabilities == 0 and m.sequence_num == 1)

    # non-minimal varints
    col.valid("a2s-padded-varint-zero", A2S, tag(2, 0) + b"\x80\x00", lambda m: m.sequence_num == 0)
    col.valid("a2s-padded-varint-one", A2S, tag(2, 0) + padded_varint(1, 3), lambda m: m.sequence_num == 1)
    col.valid("a2s-padded-varint-10-bytes", A2S, tag(2, 0) + padded_varint(5, 10), lambda m: m.sequence_num == 5)
    col.valid("a2s-padded-tag", A2S, padded_varint((2 << 3) | 0, 2) + varint(1) + padded_varint((4 << 3) | 0, 5) + varint(2),
              lambda m: m.sequence_num == 1 and m.capabilities == 2)
    col.valid("a2s-padded-length", A2S, tag(1, 2) + padded_varint(3, 4) + b"abc", lambda m: m.instance_uid == b"abc")
    col.valid("a2s-padded-length-submessage", A2S, tag(7, 2) + padded_varint(2, 2) + fv(2, 1),
              lambda m: m.remote_config_status.status == 1)
    col.valid("a2s-varint-10th-byte-high-bits", A2S, tag(2, 0) + b"\xff" * 9 + b"\x7f",
              lambda m: m.sequence_num == 2**64 - 1)
    col.valid("a2s-varint-bit64-dropped", A2S, tag(2, 0) + b"\xff" * 9 + b"\x02",
              lambda m: m.sequence_num == 2**63 - 1)
    col.valid("a2s-bool-nonzero-2", A2S, ld(5, fv(1, 2)), lambda m: m.health.healthy)
    col.valid("a2s-bool-large-varint", A2S, ld(5, tag(1, 0) + b"\x80\x80\x80\x80\x10"), lambda m: m.health.healthy)
    col.valid("a2s-int64-negative-10-bytes", A2S, ld(3, ld(1, kv("i", fv(3, -2)))),
              lambda m: m.agent_description.identifying_attributes[0].value.int_value == -2)
    col.valid("a2s-int64-5-byte-minus-one", A2S, ld(3, ld(1, kv("i", tag(3, 0) + b"\xff\xff\xff\xff\x0f"))),
              lambda m: m.agent_description.identifying_attributes[0].value.int_value == 2**32 - 1)

    # explicit defaults / empty values on the wire
    col.valid("a2s-explicit-defaults", A2S, fv(2, 0) + ld(1, b"") + fv(4, 0) + ld(5, fv(1, 0) + f64(2, 0) + ld(3, "")),
              lambda m: m.HasField("health") and m.sequence_num == 0)
    col.valid("a2s-empty-submessages", A2S, ld(3, b"") + ld(5, b"") + ld(6, b"") + ld(7, b"") + ld(8, b"") + ld(9, b"")
              + ld(11, b"") + ld(12, b"") + ld(13, b"") + ld(14, b"") + ld(15, b""))
    col.valid("s2a-empty-submessages", S2A, ld(2, b"") + ld(3, b"") + ld(4, b"") + ld(5, b"") + ld(8, b"")
              + ld(9, b"") + ld(10, b"") + ld(11, b""))
    col.valid("a2s-double-negative-zero", A2S, ld(8, map_entry(1, "p", ld(8, f64(1, -0.0)))),
              lambda m: str(m.package_statuses.packages["p"].download_details.download_percent) == "-0.0")
    col.valid("a2s-string-nul-and-4byte", A2S, ld(12, ld(1, "a\u0000b") + ld(1, "\U0010FFFF🙂")))


def add_malformed(col: Collector, full_status: bytes, full_reply: bytes) -> None:
    A2S, S2A = "AgentToServer", "ServerToAgent"
    for kind, p in ((A2S, "a2s"), (S2A, "s2a")):
        col.invalid(f"{p}-truncated-varint", kind, tag(6 if kind == S2A else 2, 0) + b"\x80")
        col.invalid(f"{p}-truncated-varint-10", kind, tag(6 if kind == S2A else 2, 0) + b"\xff" * 9)
        col.invalid(f"{p}-truncated-tag", kind, ld(1, UID) + b"\x80")
        col.invalid(f"{p}-varint-11-bytes", kind, tag(6 if kind == S2A else 2, 0) + b"\xff" * 10 + b"\x01")
        col.invalid(f"{p}-varint-11-bytes-padded", kind, tag(6 if kind == S2A else 2, 0) + b"\x80" * 10 + b"\x00")
        col.invalid(f"{p}-tag-11-bytes", kind, b"\x88" + b"\x80" * 9 + b"\x00" + b"\x01")
        col.invalid(f"{p}-length-past-end", kind, tag(1, 2) + varint(5) + b"abc")
        col.invalid(f"{p}-length-huge", kind, tag(1, 2) + varint(2**32 + 3) + b"abc")
        col.invalid(f"{p}-length-2gb", kind, tag(1, 2) + varint(2**31) + b"abc")
        col.invalid(f"{p}-length-truncated", kind, tag(1, 2) + b"\x85")
        col.invalid(f"{p}-field-0-varint", kind, b"\x00\x01")
        col.invalid(f"{p}-field-0-len", kind, ld(1, UID) + b"\x02\x00")
        col.invalid(f"{p}-field-number-too-large", kind, varint((1 << 29) << 3) + varint(1))
        col.invalid(f"{p}-wiretype-6", kind, ld(1, UID) + tag(2, 6) + b"\x01")
        col.invalid(f"{p}-wiretype-7", kind, ld(1, UID) + tag(2, 7) + b"\x01")
        col.invalid(f"{p}-wiretype-6-unknown-field", kind, tag(100, 6))
        col.invalid(f"{p}-wiretype-7-unknown-field", kind, tag(100, 7) + b"\x00")
        col.invalid(f"{p}-end-group-without-start", kind, tag(1, 4))
        col.invalid(f"{p}-end-group-without-start-unknown", kind, ld(1, UID) + tag(100, 4))
        col.invalid(f"{p}-group-unterminated", kind, tag(100, 3) + fv(1, 1))
        col.invalid(f"{p}-group-mismatched-end", kind, tag(100, 3) + fv(1, 1) + tag(101, 4))
        col.invalid(f"{p}-truncated-fixed64-unknown", kind, ld(1, UID) + tag(101, 1) + b"\x01\x02\x03")
        col.invalid(f"{p}-truncated-fixed32-unknown", kind, ld(1, UID) + tag(103, 5) + b"\x01\x02")
        col.invalid(f"{p}-truncated-fixed32-in-submessage", kind, ld(1, UID) + ld(3, tag(103, 5) + b"\x01\x02"))
        col.invalid(f"{p}-end-group-in-submessage", kind, ld(3, tag(1, 4)))

    # sub-message length beyond its enclosing message (the bytes after it would parse)
    col.invalid("a2s-submessage-past-enclosing", A2S, ld(3, tag(1, 2) + varint(5) + b"a") + fv(2, 1) + fv(2, 2))
    col.invalid("a2s-nested-past-enclosing-deep", A2S,
                ld(3, ld(1, ld(1, "k") + tag(2, 2) + varint(6) + ld(1, "v"))) + fv(2, 1) + fv(2, 2))
    col.invalid("s2a-submessage-past-enclosing", S2A, ld(3, tag(2, 2) + varint(4) + b"a") + fv(6, 1) + fv(6, 2))
    col.invalid("a2s-submessage-length-past-end", A2S, ld(1, UID) + tag(3, 2) + varint(10) + ld(1, kv("k")))
    col.invalid("a2s-group-end-crosses-submessage", A2S, ld(3, tag(100, 3) + fv(1, 1)) + tag(100, 4))

    # invalid UTF-8 in string fields
    for label, bad in [("ff", b"\xff"), ("overlong", b"\xc0\x80"), ("surrogate", b"\xed\xa0\x80"),
                       ("truncated-seq", b"ok\xe2\x82"), ("above-10ffff", b"\xf4\x90\x80\x80"),
                       ("lone-continuation", b"a\x80b")]:
        col.invalid(f"a2s-bad-utf8-attr-key-{label}", A2S, ld(3, ld(1, ld(1, bad))))
    col.invalid("a2s-bad-utf8-anyvalue-string", A2S, ld(3, ld(2, kv("k", ld(1, b"\xfe")))))
    col.invalid("a2s-bad-utf8-deep-kvlist-key", A2S,
                ld(3, ld(2, kv("k", ld(6, ld(1, kv("k2", ld(5, ld(1, ld(6, ld(1, ld(1, b"\xc3\x28"))))))))))))
    col.invalid("a2s-bad-utf8-map-key", A2S, ld(6, ld(1, ld(1, ld(1, b"\xff") + ld(2, ld(1, b"x"))))))
    col.invalid("a2s-bad-utf8-health-status", A2S, ld(5, ld(4, b"\x80")))
    col.invalid("a2s-bad-utf8-custom-capability", A2S, ld(12, ld(1, "ok") + ld(1, b"\xe0\x80\x80")))
    col.invalid("a2s-bad-utf8-connection-settings-status", A2S, ld(15, ld(3, b"\xff\xfe")))
    col.invalid("s2a-bad-utf8-error-message", S2A, ld(2, ld(2, b"\xed\xbf\xbf")))
    col.invalid("s2a-bad-utf8-config-map-key", S2A, ld(3, ld(1, ld(1, ld(1, b"\xf8\x88\x80\x80\x80")))))
    col.invalid("s2a-bad-utf8-other-settings-value", S2A,
                ld(4, map_entry(6, "x", map_entry(4, "k", b"\xc1\xbf"))))
    col.invalid("s2a-bad-utf8-header-value", S2A, ld(4, ld(2, ld(2, ld(1, ld(1, "k") + ld(2, b"\xff"))))))

    # truncated fixed64 inside a sub-message (its own length is honest)
    col.invalid("a2s-truncated-fixed64-in-health", A2S, ld(5, tag(2, 1) + b"\x01\x02\x03\x04"))
    col.invalid("a2s-truncated-double-in-anyvalue", A2S, ld(3, ld(1, kv("d", tag(4, 1) + b"\x00\x00"))))
    col.invalid("s2a-truncated-varint-in-submessage", S2A, ld(3, ld(2, b"h")) + ld(2, tag(1, 0) + b"\x81"))

    # truncations of realistic messages in the middle of a nested message
    for kind, p, data in ((A2S, "a2s", full_status), (S2A, "s2a", full_reply)):
        for frac in (0.1, 0.35, 0.5, 0.8):
            cut = int(len(data) * frac)
            col.invalid(f"{p}-full-truncated-at-{cut}", kind, data[:cut])
        col.invalid(f"{p}-full-truncated-last-byte", kind, data[:-1])


def main() -> None:
    rng = random.Random(SEED)
    filler = RandomFiller(rng)
    col = Collector()

    add_edge_cases(col)
    add_rule_cases(col)
    full_status = opamp_ref.serialize(realistic_status())
    full_reply = opamp_ref.serialize(realistic_reply())
    add_malformed(col, full_status, full_reply)
    add_random(col, rng, filler)

    # every field of every message reachable from the two roots was set at least once
    missing = []
    for kind in opamp_ref.KINDS:
        seen, todo = set(), [C(kind).DESCRIPTOR]
        while todo:
            d = todo.pop()
            if d.full_name in seen:
                continue
            seen.add(d.full_name)
            for f in d.fields:
                if f.type == FD.TYPE_MESSAGE:
                    todo.append(f.message_type)
                if not d.GetOptions().map_entry and (d.full_name, f.name) not in filler.covered:
                    missing.append(f"{d.full_name}.{f.name}")
    if missing:
        raise SystemExit(f"random messages never set: {sorted(set(missing))}")

    doc = {"generator": "scripts/gen_vectors.py", **opamp_ref.versions(), "vectors": col.vectors}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(doc, ensure_ascii=False, indent=None, separators=(",", ":"))
    OUT.write_text(text.replace('},{"name"', '},\n{"name"') + "\n", encoding="utf-8")

    print(f"wrote {OUT.relative_to(ROOT)} ({OUT.stat().st_size} bytes, {len(col.vectors)} vectors)")
    for kind, c in col.counts.items():
        print(f"  {kind}: {c['valid']} valid, {c['invalid']} invalid")
    print(f"  field 15 native in package: {opamp_ref.field15_native()}")
    if col.accepted_malformed:
        print("  malformed cases ACCEPTED by the reference (dropped):")
        for n in col.accepted_malformed:
            print(f"    {n}")


if __name__ == "__main__":
    main()
