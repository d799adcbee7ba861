"""Build /tmp/opamp.desc (FileDescriptorSet: anyvalue.proto, opamp.proto) from
the descriptors shipped in the opentelemetry-opamp-client PyPI package, adding
AgentToServer.connection_settings_status (field 15, [Development]) if missing."""
import sys
from google.protobuf import descriptor_pb2 as d
from opentelemetry._opamp.proto import anyvalue_pb2, opamp_pb2

out = sys.argv[1] if len(sys.argv) > 1 else "/tmp/opamp.desc"
anyvalue = d.FileDescriptorProto.FromString(anyvalue_pb2.DESCRIPTOR.serialized_pb)
opamp = d.FileDescriptorProto.FromString(opamp_pb2.DESCRIPTOR.serialized_pb)
pkg = "." + opamp.package  # ".opamp.proto"

def index(seq, name):
    return next(i for i, x in enumerate(seq) if x.name == name)

a2s = opamp.message_type[index(opamp.message_type, "AgentToServer")]
if not any(f.number == 15 or f.name == "connection_settings_status" for f in a2s.field):
    # Enum: top-level, values prefixed with the enum name, exactly like RemoteConfigStatuses.
    enum = d.EnumDescriptorProto(name="ConnectionSettingsStatuses")
    for n, v in (("UNSET", 0), ("APPLIED", 1), ("APPLYING", 2), ("FAILED", 3)):
        enum.value.add(name=f"ConnectionSettingsStatuses_{n}", number=v)
    i = index(opamp.enum_type, "RemoteConfigStatuses")
    opamp.enum_type.insert(i + 1, enum)

    # Message: mirrors RemoteConfigStatus; placed right after it.
    F = d.FieldDescriptorProto
    msg = d.DescriptorProto(name="ConnectionSettingsStatus")
    msg.field.add(name="last_connection_settings_hash", number=1, label=F.LABEL_OPTIONAL, type=F.TYPE_BYTES)
    msg.field.add(name="status", number=2, label=F.LABEL_OPTIONAL, type=F.TYPE_ENUM,
                  type_name=f"{pkg}.ConnectionSettingsStatuses")
    msg.field.add(name="error_message", number=3, label=F.LABEL_OPTIONAL, type=F.TYPE_STRING)
    i = index(opamp.message_type, "RemoteConfigStatus")
    opamp.message_type.insert(i + 1, msg)

    a2s = opamp.message_type[index(opamp.message_type, "AgentToServer")]
    a2s.field.add(name="connection_settings_status", number=15, label=F.LABEL_OPTIONAL,
                  type=F.TYPE_MESSAGE, type_name=f"{pkg}.ConnectionSettingsStatus")
    print("added AgentToServer.connection_settings_status = 15")
else:
    print("AgentToServer already has field 15; left as shipped")

fds = d.FileDescriptorSet()
fds.file.append(anyvalue)
fds.file.append(opamp)
with open(out, "wb") as fh:
    fh.write(fds.SerializeToString())
print("wrote", out, [f.name for f in fds.file])
