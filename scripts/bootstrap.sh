#!/usr/bin/env bash
# Installs what building and testing Ampora needs on a Debian machine, and nothing twice:
# the apt packages below, and (with --test) a Python virtualenv with the reference OpAMP
# client used as the test oracle. Safe to run on every `make run` / `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(liburing-dev libpq-dev libssl-dev libsqlite3-dev zlib1g-dev postgresql gcc make)
# The web UI's browser tests (tests/python/test_web_ui.py) drive Debian's chromium: Playwright
# cannot download a browser of its own here.
[[ "${1:-}" == "--test" ]] && APT_PACKAGES+=(chromium fonts-dejavu-core haproxy)

missing=()
for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "bootstrap: installing ${missing[*]}"
    SUDO=""
    [[ $(id -u) -ne 0 ]] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v swift >/dev/null; then
    if [[ -x /opt/swift/usr/bin/swift ]]; then
        export PATH=/opt/swift/usr/bin:$PATH
    else
        echo "bootstrap: no Swift toolchain found (need Swift 6.1 or later on PATH)" >&2
        exit 1
    fi
fi

if [[ "${1:-}" == "--test" ]]; then
    stamp=.venv/.requirements.sha
    want=$(sha256sum scripts/requirements-test.txt | cut -d' ' -f1)
    if [[ ! -x .venv/bin/python || "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
        echo "bootstrap: creating .venv with $(tr '\n' ' ' < scripts/requirements-test.txt)"
        python3 -m venv .venv
        .venv/bin/pip install -q --disable-pip-version-check -r scripts/requirements-test.txt
        echo "$want" > "$stamp"
    fi
fi
