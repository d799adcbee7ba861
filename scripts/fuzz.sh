#!/usr/bin/env bash
# Builds the libFuzzer targets in fuzz/ (release, AddressSanitizer, Swift's own overflow and bounds
# checks kept) and runs each one over a corpus seeded from real traffic (fuzz/seeds/, captured by
# fuzz/capture_seeds.py), the golden vectors, the Collector config corpus and every saved
# regression, with a dictionary per input language (fuzz/dict/).
#
# Before fuzzing, every input kept under fuzz/regressions*/ is replayed through its target: a crash
# once found stays a test for ever. A new crash is saved to fuzz/artifacts/ and fails the run; add
# it to the target's regressions directory (FUZZING.md).
#
#   scripts/fuzz.sh                              # 30 s per target
#   FUZZ_SECONDS=600 scripts/fuzz.sh             # a longer hunt (make fuzz)
#   FUZZ_RUNS=10000000 FUZZ_TARGETS="FuzzHTTPParser" scripts/fuzz.sh   # a fixed number of inputs
#   FUZZ_SEED=1 scripts/fuzz.sh                  # a reproducible run (the test command's)
#
# Each run appends one line per target to fuzz/artifacts/results.tsv (time, commit, target, coverage,
# seconds, inputs run, inputs per second, corpus size, peak RSS, crashes) and prints them.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v swift >/dev/null || export PATH=/opt/swift/usr/bin:$PATH
SECONDS_EACH=${FUZZ_SECONDS:-30}
ALL_TARGETS="FuzzOpAMPDecode FuzzWebSocketFrames FuzzHTTPParser FuzzTLSRecords FuzzCanonicalJSON FuzzRESTBodies FuzzSessionSequence FuzzLint FuzzLintSettings"
TARGETS=${FUZZ_TARGETS:-$ALL_TARGETS}
# swiftc keeps only the last -sanitize= flag it is given, so SwiftPM's --sanitize=fuzzer
# --sanitize=address builds ASan without coverage and libFuzzer runs blind (FUZZING.md). SwiftPM's
# --sanitize=fuzzer sets up the executables for libFuzzer's main; the one list appended after it
# is what swiftc keeps. --disable-dead-strip keeps the linker from dropping coverage counters.
# Edge coverage only by default: comparison tracing (FUZZ_CMP=1, its own scratch path) calls
# back on every byte a parser compares, which halves the inputs per second, and helps less in
# Swift than in C (String comparisons run in the uninstrumented standard library); the
# dictionaries give the fuzzer the tokens instead.
if [[ ${FUZZ_CMP:-0} == 1 ]]; then
    coverage=edge+cmp scratch=fuzz/.build-cmp
    cov_flags=()
else
    coverage=edge scratch=fuzz/.build-edge
    cov_flags=(-Xswiftc -sanitize-coverage=edge,pc-table,inline-8bit-counters)
fi
BUILD=(swift build --package-path fuzz -c release --disable-dead-strip --sanitize=fuzzer
    -Xswiftc -sanitize=fuzzer,address "${cov_flags[@]}" -Xcc -fsanitize=address -Xswiftc -use-ld=lld
    --scratch-path "$scratch")
# The gateway parsers (HTTP, WebSocket, TLS records) get a build of their own in which only
# GatewayCore and the harnesses carry coverage counters (AMPORA_FUZZ_COVERAGE, read by both
# manifests); Core, big with its generated codec, has AddressSanitizer alone there. libFuzzer
# clears and walks every counter of the binary for every input, so this is time per input the
# parsers, which never call into Core, were paying for nothing (FUZZING.md). The manifests give
# each module its one -sanitize= list, after SwiftPM's two flags (whose order varies); those still
# give the executables libFuzzer's main. The manifests depend on the variable, so their cache is
# this build's own (--manifest-cache local). Only the three products are built.
GATEWAY_TARGETS="FuzzWebSocketFrames FuzzHTTPParser FuzzTLSRecords"
GATEWAY_BUILD=(swift build --package-path fuzz -c release --disable-dead-strip --sanitize=fuzzer --sanitize=address
    -Xcc -fsanitize=address -Xswiftc -use-ld=lld --manifest-cache local --scratch-path fuzz/.build-gateway)
build_of() {
    if [[ ${FUZZ_CMP:-0} != 1 && " $GATEWAY_TARGETS " == *" $1 "* ]]; then echo gateway; else echo full; fi
}

mkdir -p fuzz/artifacts
: >fuzz/artifacts/build.log
# ASan links print ~140 harmless "Cannot export local symbol" warnings; a failed build still fails.
build_failed() {
    grep -v "Cannot export local symbol" fuzz/artifacts/build.log | tail -40
    echo "fuzz: the build failed"
    exit 1
}
need_full=0 need_gateway=()
for target in $TARGETS; do
    if [[ $(build_of "$target") == gateway ]]; then need_gateway+=("$target"); else need_full=1; fi
done
if [[ $need_full == 1 ]]; then
    echo "fuzz: building the targets (release, ASan, $coverage coverage)"
    "${BUILD[@]}" >>fuzz/artifacts/build.log 2>&1 || build_failed
    BIN=$("${BUILD[@]}" --show-bin-path)
fi
if [[ ${#need_gateway[@]} -gt 0 ]]; then
    echo "fuzz: building ${need_gateway[*]} (release, ASan, edge coverage of GatewayCore only)"
    # SwiftPM reuses its build description when only a dependency's manifest changed (seen when
    # Package.swift's flags changed here): drop it then, which costs a new plan, not a rebuild.
    for description in fuzz/.build-gateway/*/release/description.json; do
        [[ Package.swift -nt $description || fuzz/Package.swift -nt $description ]] && rm -f "$description"
    done
    for target in "${need_gateway[@]}"; do
        AMPORA_FUZZ_COVERAGE=GatewayCore "${GATEWAY_BUILD[@]}" --product "$target" >>fuzz/artifacts/build.log 2>&1 ||
            build_failed
    done
    GATEWAY_BIN=$(AMPORA_FUZZ_COVERAGE=GatewayCore "${GATEWAY_BUILD[@]}" --show-bin-path)
    # The split must hold, or the parsers would run blind (or pay for Core's counters again).
    counters() { readelf -S "$(ls "$GATEWAY_BIN/$1.build/"*.o | head -1)" | grep -c __sancov_cntrs || true; }
    if [[ $(counters GatewayCore) == 0 || $(counters Core) != 0 ]]; then
        echo "fuzz: the gateway build's coverage is not GatewayCore's alone (readelf -S)"
        exit 1
    fi
fi
bin_of() { if [[ $(build_of "$1") == gateway ]]; then echo "$GATEWAY_BIN"; else echo "$BIN"; fi; }

# target -> corpus directory name, dictionary, regressions directory
corpus_of() {
    case "$1" in
    FuzzOpAMPDecode) echo opamp ;; FuzzWebSocketFrames) echo ws ;; FuzzHTTPParser) echo http ;;
    FuzzTLSRecords) echo tls ;; FuzzCanonicalJSON) echo json ;; FuzzSessionSequence) echo session ;;
    FuzzRESTBodies) echo rest ;;
    FuzzLint) echo lint ;; FuzzLintSettings) echo settings ;;
    *) echo "fuzz: unknown target $1" >&2; exit 2 ;;
    esac
}
dict_of() {
    case "$1" in
    FuzzOpAMPDecode) echo opamp ;; FuzzWebSocketFrames) echo ws ;; FuzzHTTPParser) echo http ;;
    FuzzCanonicalJSON | FuzzRESTBodies) echo json ;; FuzzLint) echo yaml ;; FuzzLintSettings) echo settings ;;
    *) echo "" ;;
    esac
}
# The longest input each target is given: longer ones add no new paths, only time per input.
max_len_of() {
    case "$1" in
    FuzzOpAMPDecode | FuzzCanonicalJSON | FuzzTLSRecords) echo 16384 ;; FuzzWebSocketFrames | FuzzHTTPParser) echo 4096 ;;
    FuzzSessionSequence) echo 1024 ;; FuzzRESTBodies) echo 4096 ;; FuzzLintSettings | FuzzLint) echo 4096 ;;
    esac
}
regressions_of() {
    case "$1" in
    FuzzOpAMPDecode) echo fuzz/regressions ;; FuzzLint) echo fuzz/regressions-lint ;;
    *) echo "fuzz/regressions-$(corpus_of "$1")" ;;
    esac
}

# The working corpora live under fuzz/.corpus/ (not in git) and grow from run to run.
mkdir -p fuzz/artifacts
for target in $TARGETS; do mkdir -p "fuzz/.corpus/$(corpus_of "$target")"; done
python3 - <<'PY'
import hashlib, json, os
def put(directory, data):
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, hashlib.sha1(data).hexdigest()), "wb") as f:
        f.write(data)
vectors = json.load(open("Tests/CoreTests/Fixtures/vectors.json"))["vectors"]
for v in vectors:
    put("fuzz/.corpus/opamp", bytes.fromhex(v["hex"]))
    if v.get("json"):
        text = v["json"] if isinstance(v["json"], str) else json.dumps(v["json"])
        put("fuzz/.corpus/json", text.encode())
PY
seed() { [[ -d $1 ]] && cp -n "$1"/* "$2"/ 2>/dev/null || true; }
seed fuzz/seeds/opamp fuzz/.corpus/opamp
seed fuzz/seeds/ws fuzz/.corpus/ws
seed fuzz/seeds/http fuzz/.corpus/http
seed fuzz/seeds/tls fuzz/.corpus/tls
seed fuzz/seeds/json fuzz/.corpus/json
seed fuzz/seeds/settings fuzz/.corpus/settings
seed fuzz/seeds/rest fuzz/.corpus/rest
seed Tests/ToolkitTests/Fixtures/corpus fuzz/.corpus/lint

commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
[[ -f fuzz/artifacts/results.tsv ]] ||
    printf 'time\tcommit\ttarget\tcoverage\tseconds\truns\texecs_per_s\tcorpus\tpeak_rss_mb\tcrashes\n' >fuzz/artifacts/results.tsv
# Throughput while fuzzing (FUZZING.md, "Where the time goes"): AddressSanitizer records no stack
# trace at each allocation and free (malloc_context_size=0). It still catches every bad access and
# says where it happened, only not where the memory was allocated or freed; so a crash is replayed
# at once with the full traces (ASan's defaults), and the saved regressions always run with them.
FUZZ_ASAN_OPTIONS=malloc_context_size=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}
status=0
for target in $TARGETS; do
    bin=$(bin_of "$target")
    label=$coverage
    [[ $(build_of "$target") == gateway ]] && label="edge (GatewayCore)"
    corpus=fuzz/.corpus/$(corpus_of "$target")
    regressions=$(regressions_of "$target")
    dict=$(dict_of "$target")
    opts=(-max_len="$(max_len_of "$target")" -rss_limit_mb=2048 -artifact_prefix=fuzz/artifacts/ -print_final_stats=1)
    [[ -n $dict ]] && opts+=(-dict="fuzz/dict/$dict.dict")
    [[ -n ${FUZZ_SEED:-} ]] && opts+=(-seed="$FUZZ_SEED")
    log=fuzz/artifacts/$target.log

    if compgen -G "$regressions/*" >/dev/null; then
        echo "fuzz: $target replays $(ls "$regressions" | wc -l) saved regressions"
        if ! SWIFT_BACKTRACE=enable=no "$bin/$target" "${opts[@]}" "$regressions"/* >"$log" 2>&1; then
            tail -40 "$log"
            echo "fuzz: $target FAILED on a saved regression"
            exit 1
        fi
        seed "$regressions" "$corpus"
    fi

    if [[ -n ${FUZZ_RUNS:-} ]]; then
        budget=(-runs="$FUZZ_RUNS")
        echo "fuzz: $target for $FUZZ_RUNS inputs"
    else
        budget=(-max_total_time="$SECONDS_EACH")
        echo "fuzz: $target for ${SECONDS_EACH}s"
    fi
    start=$(date +%s.%N)
    rc=0
    SWIFT_BACKTRACE=enable=no ASAN_OPTIONS=$FUZZ_ASAN_OPTIONS "$bin/$target" "$corpus" "${opts[@]}" "${budget[@]}" \
        >"$log" 2>&1 || rc=$?
    elapsed=$(python3 -c "import time; print(round(time.time() - $start, 1))")
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -1)
    size=$(ls "$corpus" | wc -l)
    rate=$(python3 -c "print(int(${runs:-0} / max($elapsed, 0.001)))")
    crashes=$([[ $rc -eq 0 ]] && echo 0 || echo 1)
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$(date -u +%FT%TZ)" "$commit" "$target" "$label" "$elapsed" \
        "${runs:-0}" "$rate" "$size" "${rss:-0}" "$crashes" | tee -a fuzz/artifacts/results.tsv
    if [[ $rc -ne 0 ]]; then
        tail -40 "$log"
        unit=$(sed -n 's/^.*Test unit written to //p' "$log" | tail -1)
        if [[ -n $unit && -f $unit ]]; then
            echo "fuzz: $unit again, with AddressSanitizer's full stack traces ($log.replay)"
            SWIFT_BACKTRACE=enable=no "$bin/$target" "${opts[@]}" "$unit" >"$log.replay" 2>&1 || true
            tail -60 "$log.replay"
        fi
        echo "fuzz: $target FAILED (the input is saved under fuzz/artifacts/; keep it in $regressions/)"
        status=$rc
        break
    fi
done
[[ $status -eq 0 ]] && echo "fuzz: no crashes"
exit $status
