#!/usr/bin/env bash
# Core's zero-copy views cannot outlive the bytes they read (docs/ARCHITECTURE.md, "Views that
# cannot dangle"). Each snippet below tries one way to keep a view, or reach the span under it,
# past the decode closure (or a WebSocket payload lent from a receive buffer past that buffer's
# borrow); the compiler must reject it, and for that reason (the message is
# checked). A control snippet that reads through views and keeps only owned values must compile,
# so a broken harness cannot pass. Compiles to SIL against the debug build's Core module: the
# lifetime checks run on SIL, after type-checking.
set -euo pipefail
cd "$(dirname "$0")/.."
MODULES="$(swift build --show-bin-path)/Modules"
[[ -f "$MODULES/Core.swiftmodule" ]] || { echo "check_views: build first (no $MODULES/Core.swiftmodule)" >&2; exit 1; }
# GatewayCore's C dependencies, found by their module maps.
CMODULES=()
for map in Sources/COpenSSL/module.modulemap Sources/CZlib/module.modulemap; do
    CMODULES+=(-Xcc "-fmodule-map-file=$PWD/$map")
done
WORK=$(mktemp -d /tmp/ampora-views.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
failures=0

# check NAME EXPECTED: the snippet on stdin must compile (EXPECTED = "compiles") or fail with an
# error containing EXPECTED.
check() {
    local name=$1 expected=$2 file="$WORK/$1.swift" out
    cat >"$file"
    if out=$(swiftc -emit-sil -o /dev/null -I "$MODULES" "${CMODULES[@]}" "$file" 2>&1); then
        if [[ $expected == compiles ]]; then
            echo "check_views: $name compiles, as it should"
        else
            echo "check_views: FAIL: $name compiles; a view escapes its input" >&2
            failures=$((failures + 1))
        fi
    elif [[ $expected != compiles ]] && grep -q -- "error: .*$expected" <<<"$out"; then
        echo "check_views: $name is rejected ($expected)"
    else
        echo "check_views: FAIL: $name: expected ${expected}, got:" >&2
        echo "$out" | grep "error:" | head -5 >&2
        failures=$((failures + 1))
    fi
}

check control compiles <<'SWIFT'
import Core
func names(_ raw: RawSpan) throws -> [String] {
    try AgentToServerView.decode(raw) { view in
        let uid = InstanceUID(bytes: view.instanceUid)
        var out = view.agentDescription?.identifyingAttributes.map { $0.key.string } ?? []
        var files = view.effectiveConfig?.configMap?.configMap.makeIterator()
        while let file = files?.next() { out.append(file.key.string + "\(file.value.body.count)") }
        if var attributes = view.agentDescription?.identifyingAttributes.makeIterator(),
            case .stringValue(let s)? = attributes.next()?.value?.value
        {
            out.append(s.string)
        }
        return out + [uid.map { "\($0)" } ?? "", view.owned().jsonString()]
    }
}
SWIFT

check return-the-view "Escapable" <<'SWIFT'
import Core
func keep(_ raw: RawSpan) throws -> AgentToServerView {
    try AgentToServerView.decode(raw) { $0 }
}
SWIFT

check return-a-field "Escapable" <<'SWIFT'
import Core
func keep(_ raw: RawSpan) throws -> ProtoString? {
    try AgentToServerView.decode(raw) { $0.remoteConfigStatus?.errorMessage }
}
SWIFT

check store-in-a-property "Escapable" <<'SWIFT'
import Core
struct Holder { var description: AgentDescriptionView? }
SWIFT

check capture-in-an-escaping-closure "escapes its scope" <<'SWIFT'
import Core
func keep(_ raw: RawSpan) throws -> () -> Int {
    try AgentToServerView.decode(raw) { view in
        let bytes = view.instanceUid
        let later: () -> Int = { bytes.count }
        return later
    }
}
SWIFT

check stash-in-a-global "escapes its scope" <<'SWIFT'
import Core
nonisolated(unsafe) var stash: (() -> Int)? = nil
func keep(_ raw: RawSpan) throws {
    try AgentToServerView.decode(raw) { view in
        let health = view.health
        stash = { health?.lastError.utf8Count ?? 0 }
    }
}
SWIFT

check collect-in-an-array "Escapable" <<'SWIFT'
import Core
func keep(_ raw: RawSpan) throws -> Int {
    try AgentToServerView.decode(raw) { view in
        var kept: [KeyValueView] = []
        view.agentDescription?.identifyingAttributes.forEach { kept.append($0) }
        return kept.count
    }
}
SWIFT

check take-the-span "inaccessible" <<'SWIFT'
import Core
func keep(_ raw: RawSpan) throws -> Int {
    try AgentToServerView.decode(raw) { $0.instanceUid.span.byteCount }
}
SWIFT

check lend-a-websocket-payload "Escapable" <<'SWIFT'
import Core
import GatewayCore
func keep(_ parser: inout WebSocketFrameParser, _ bytes: inout [UInt8]) -> [RawSpan] {
    var elements = bytes.mutableSpan
    var input = elements.mutableBytes
    var offset = 0
    if case .binary(let payload)? = parser.nextEvent(unmaskingInPlace: &input, from: &offset) { return [payload] }
    return []
}
SWIFT

check read-a-websocket-payload compiles <<'SWIFT'
import Core
import GatewayCore
func sequenceNumber(_ parser: inout WebSocketFrameParser, _ bytes: inout [UInt8]) -> UInt64 {
    var elements = bytes.mutableSpan
    var input = elements.mutableBytes
    var offset = 0
    guard case .binary(let payload)? = parser.nextEvent(unmaskingInPlace: &input, from: &offset) else { return 0 }
    do {
        let body = try OpAMPWebSocketPayload.body(of: payload)
        return try AgentToServerView.decode(body) { $0.sequenceNum }
    } catch {
        return 0
    }
}
SWIFT

if ((failures > 0)); then
    echo "check_views: $failures check(s) failed" >&2
    exit 1
fi
echo "check_views: views cannot outlive their input"
