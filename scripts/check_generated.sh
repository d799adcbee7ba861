#!/usr/bin/env bash
# Regenerates the committed generated code (the OpAMP codec from scripts/opamp_schema.py, the
# component registry from scripts/data/) and fails if anything changed: the generators, their
# inputs and their outputs must be committed together.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 scripts/gen_core.py >/dev/null
python3 scripts/gen_registry.py >/dev/null
if ! git diff --quiet -- Sources/Core/Generated Sources/Toolkit/Registry; then
    echo "check_generated: the committed generated code differs from what the generators write:" >&2
    git diff --stat -- Sources/Core/Generated Sources/Toolkit/Registry >&2
    exit 1
fi
echo "check_generated: Sources/Core/Generated and Sources/Toolkit/Registry are up to date"
