#!/usr/bin/env bash
# Builds the libFuzzer targets in fuzz/ (ASan + fuzzer) and runs each for FUZZ_SECONDS
# (default 30 each; the test command's smoke run uses 20) over a corpus seeded from the golden vectors
# and every saved regression. A crash is saved to fuzz/artifacts/ and fails the run: add the
# input to fuzz/regressions/ so the unit tests replay it for ever.
#   FUZZ_SECONDS=600 scripts/fuzz.sh        # a longer hunt
#   FUZZ_SEED=1 scripts/fuzz.sh             # a reproducible run (the test command's)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v swift >/dev/null || export PATH=/opt/swift/usr/bin:$PATH
SECONDS_EACH=${FUZZ_SECONDS:-30}

swift build --package-path fuzz -c debug --sanitize=fuzzer --sanitize=address -Xswiftc -use-ld=lld \
    --scratch-path fuzz/.build 2>&1 | grep -v "Cannot export local symbol" | grep -v "^ld.gold: warning" || true
BIN=$(swift build --package-path fuzz -c debug --sanitize=fuzzer --sanitize=address -Xswiftc -use-ld=lld --scratch-path fuzz/.build --show-bin-path)

mkdir -p fuzz/corpus-work fuzz/artifacts fuzz/corpus-ws fuzz/corpus-http fuzz/corpus-lint fuzz/corpus-tls
python3 - <<'PY'
import json, os, hashlib
vectors = json.load(open("Tests/CoreTests/Fixtures/vectors.json"))["vectors"]
for v in vectors:
    data = bytes.fromhex(v["hex"])
    name = hashlib.sha1(data).hexdigest()
    with open(os.path.join("fuzz/corpus-work", name), "wb") as f:
        f.write(data)
PY
cp fuzz/regressions/* fuzz/corpus-work/ 2>/dev/null || true
cp fuzz/seeds/ws/* fuzz/corpus-ws/ 2>/dev/null || true
cp fuzz/seeds/http/* fuzz/corpus-http/ 2>/dev/null || true
cp fuzz/seeds/tls/* fuzz/corpus-tls/ 2>/dev/null || true
# Collector configs: the real-world corpus the Toolkit tests use, plus saved lint regressions.
cp Tests/ToolkitTests/Fixtures/corpus/*.yaml fuzz/corpus-lint/ 2>/dev/null || true
cp fuzz/regressions-lint/* fuzz/corpus-lint/ 2>/dev/null || true
corpus_for() {
    case "$1" in
    FuzzOpAMPDecode) echo fuzz/corpus-work ;;
    FuzzWebSocketFrames) echo fuzz/corpus-ws ;;
    FuzzHTTPParser) echo fuzz/corpus-http ;;
    FuzzLint) echo fuzz/corpus-lint ;;
    FuzzTLSRecords) echo fuzz/corpus-tls ;;
    esac
}

status=0
for target in FuzzOpAMPDecode FuzzWebSocketFrames FuzzHTTPParser FuzzLint FuzzTLSRecords; do
    echo "fuzz: $target for ${SECONDS_EACH}s"
    SWIFT_BACKTRACE=enable=no "$BIN/$target" "$(corpus_for $target)" \
        -max_total_time="$SECONDS_EACH" -max_len=65536 -rss_limit_mb=2048 ${FUZZ_SEED:+-seed=$FUZZ_SEED} \
        -artifact_prefix=fuzz/artifacts/ -print_final_stats=1 >fuzz/artifacts/$target.log 2>&1 || status=$?
    grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb" fuzz/artifacts/$target.log || true
    if [[ $status -ne 0 ]]; then
        tail -40 fuzz/artifacts/$target.log
        echo "fuzz: $target FAILED (crash input saved under fuzz/artifacts/)"
        exit $status
    fi
done
echo "fuzz: no crashes"
