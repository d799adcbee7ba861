#!/usr/bin/env bash
# The Swift test suite under ThreadSanitizer and/or AddressSanitizer:
#   scripts/sanitize.sh [thread|address|both] [extra `swift test` arguments, e.g. --filter X]
# Each sanitizer builds into its own scratch path (.build-tsan, .build-asan) so the normal
# .build is untouched. Starts and stops its own PostgreSQL like scripts/test.sh. Fails when a
# test fails or when a sanitizer reports anything, in the test process or in any sanitized
# process it starts (every report goes to a log file under the run's log directory, see below).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

mode=${1:-both}
shift || true
case "$mode" in
thread) modes=(thread) ;;
address) modes=(address) ;;
both) modes=(thread address) ;;
*)
    echo "usage: scripts/sanitize.sh [thread|address|both] [swift test arguments]" >&2
    exit 2
    ;;
esac

scripts/bootstrap.sh
command -v swift >/dev/null || export PATH=/opt/swift/usr/bin:$PATH

LOGDIR=$(mktemp -d /tmp/ampora-sanitize.XXXXXX)
# Called from scripts/test.sh, which already started one, it uses that PostgreSQL.
if [[ -z "${AMPORA_TEST_POSTGRES_URL:-}" ]]; then
    PGDIR=$(mktemp -d /tmp/ampora-pg.XXXXXX)
    cleanup() { scripts/pg.sh stop "$PGDIR"; }
    trap cleanup EXIT
    AMPORA_TEST_POSTGRES_URL=$(scripts/pg.sh start "$PGDIR")
fi
export AMPORA_TEST_POSTGRES_URL
echo "sanitize: PostgreSQL at $AMPORA_TEST_POSTGRES_URL, reports in $LOGDIR"

# Swift's backtracer would otherwise take over the fatal signals and swallow the sanitizer's
# own report.
export SWIFT_BACKTRACE=enable=no
# Tests with a wall-clock bound multiply it by this (Tests/FleetTests/TestTiming.swift): the
# instrumented code runs several times slower (ThreadSanitizer 5-15x). Bounds widen; no test is
# skipped for being slow.
export AMPORA_TEST_TIME_SCALE=${AMPORA_TEST_TIME_SCALE:-10}
SUPP=$ROOT/scripts/sanitizers

status=0
for m in "${modes[@]}"; do
    case "$m" in
    thread) scratch=.build-tsan log=$LOGDIR/tsan ;;
    address) scratch=.build-asan log=$LOGDIR/asan ;;
    esac
    # log_path: reports go to $log.PID, from the test runner and from any sanitized child
    # process alike (a server binary from the same bin path would be one), so none is lost in a
    # child's captured output; any such file fails the run below, whatever the exit codes say.
    # ThreadSanitizer goes on after a report (all of them in one run) and exits 66 at the end;
    # AddressSanitizer stops at the first error; LeakSanitizer runs at exit.
    export TSAN_OPTIONS="halt_on_error=0:exitcode=66:second_deadlock_stack=1:suppressions=$SUPP/tsan.supp:log_path=$LOGDIR/tsan"
    export ASAN_OPTIONS="halt_on_error=1:exitcode=66:detect_leaks=1:log_path=$LOGDIR/asan"
    export LSAN_OPTIONS="suppressions=$SUPP/lsan.supp:print_suppressions=0"
    echo "sanitize: building with --sanitize=$m into $scratch"
    start=$SECONDS
    # ld.gold warns "Cannot export local symbol" once per such symbol in a sanitized link:
    # harmless, and hundreds of lines of noise.
    if ! swift build --build-tests --sanitize="$m" --scratch-path "$scratch" 2>&1 |
        { grep -v "warning: Cannot export local symbol" || true; }; then
        echo "sanitize: $m build failed" >&2
        exit 1
    fi
    built=$SECONDS
    echo "sanitize: swift test --sanitize=$m"
    rc=0
    swift test --skip-build --sanitize="$m" --scratch-path "$scratch" "$@" || rc=$?
    echo "sanitize: $m: build $((built - start)) s, tests $((SECONDS - built)) s, exit $rc"
    if compgen -G "$log.*" >/dev/null; then
        echo "sanitize: $m reports:" >&2
        cat "$log".* >&2
        ((rc != 0)) || rc=1
    fi
    ((rc == 0)) || status=1
done
exit $status
