#!/usr/bin/env bash
# Builds ampora in release mode and runs `ampora serve` with any extra arguments.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
command -v swift >/dev/null || export PATH=/opt/swift/usr/bin:$PATH
swift build -c release --product ampora
exec "$(swift build -c release --show-bin-path)/ampora" serve "$@"
