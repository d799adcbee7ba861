#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what is missing, starts a throwaway
# PostgreSQL on 127.0.0.1, runs the Swift tests (also under ThreadSanitizer), a bounded fuzzing
# pass and the Python oracle/interop tests, and stops PostgreSQL again whatever happens.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

scripts/bootstrap.sh --test
command -v swift >/dev/null || export PATH=/opt/swift/usr/bin:$PATH

PGDIR=$(mktemp -d /tmp/ampora-pg.XXXXXX)
cleanup() { scripts/pg.sh stop "$PGDIR"; }
trap cleanup EXIT
AMPORA_TEST_POSTGRES_URL=$(scripts/pg.sh start "$PGDIR")
export AMPORA_TEST_POSTGRES_URL
echo "test: PostgreSQL at $AMPORA_TEST_POSTGRES_URL"

echo "test: formatting (swift format lint --strict)"
swift format lint -r --strict --configuration .swift-format Package.swift Sources Tests fuzz/Sources fuzz/Package.swift
echo "test: generated code matches its generators"
scripts/check_generated.sh

echo "test: building (debug, with tests; every import must be a declared dependency)"
swift build --build-tests --explicit-target-dependency-import-check error
echo "test: views cannot outlive their input (compile-fail checks); raw pointers stay in listed files"
scripts/check_views.sh
scripts/check_raw_pointers.sh
echo "test: swift test"
swift test --skip-build

echo "test: swift test under ThreadSanitizer (scripts/sanitize.sh thread; make sanitize adds AddressSanitizer)"
# The whole suite: the build is most of the time, so a subset would save little. AddressSanitizer
# already runs on every parser through the fuzz targets below.
scripts/sanitize.sh thread

echo "test: allocation gate (release build: a heartbeat's path must not allocate)"
# Counts come from malloc-interposer, preloaded; the gate is meaningful in release only (a debug
# build allocates where the optimiser would not).
swift build -c release --build-tests -Xswiftc -enable-testing
RELEASE_BIN=$(swift build -c release --show-bin-path)
LD_PRELOAD="$RELEASE_BIN/libMallocInterposerSwift.so" AMPORA_ALLOCATION_GATE=1 \
    swift test -c release --skip-build --filter AllocationTests

echo "test: fuzzing smoke run"
# A fixed seed: the test command's short pass replays the same exploration each time, so a
# red run is reproducible; `make fuzz` hunts with fresh seeds and saves what it finds.
FUZZ_SECONDS=${FUZZ_SECONDS:-20} FUZZ_SEED=${FUZZ_SEED:-1} scripts/fuzz.sh

echo "test: Python oracle and interop tests"
AMPORA_BIN_DIR=$(swift build --show-bin-path) .venv/bin/python -m pytest -q tests/python
