#!/usr/bin/env bash
# Re-resolves pyproject.toml into two hashed locks (Python 3.11):
#   requirements.lock      the runtime `dependencies` (what the Docker image installs)
#   requirements-dev.lock  the `[dev]` extra on top, constrained by the runtime lock (what .venv/ installs)
# Versions already in a lock are kept; `scripts/lock.sh --upgrade` moves everything to the newest allowed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
python3 -m venv "$TMP/venv"
"$TMP/venv/bin/pip" install --quiet uv==0.13.8
compile() {
    "$TMP/venv/bin/uv" pip compile pyproject.toml --quiet --python-version 3.11 --generate-hashes \
        --custom-compile-command scripts/lock.sh "$@"
}
compile -o requirements.lock "$@"
compile --extra dev -c requirements.lock -o requirements-dev.lock "$@"
