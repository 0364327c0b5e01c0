#!/usr/bin/env bash
# Builds .venv/ with the hashed locks (requirements.lock for the runtime, requirements-dev.lock for the tools and tests)
# and the project in editable mode, and .mint-venv/ with the nutshell test mint. Idempotent and quick when nothing
# changed: the venv is rebuilt only when a lock or pyproject.toml differs from the stamp of the last build.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"
VENV="$ROOT/.venv"
STAMP="$VENV/.routstr-lock"
WANTED="$(sha256sum requirements.lock requirements-dev.lock pyproject.toml | sha256sum | cut -c1-16)"

if [[ ! -f "$STAMP" || "$(cat "$STAMP")" != "$WANTED" || ! -x "$VENV/bin/python" ]]; then
    [[ -x "$VENV/bin/python" ]] || "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --require-hashes \
        -r requirements.lock -r requirements-dev.lock
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps -e . 2>/dev/null
    printf '%s' "$WANTED" >"$STAMP"
    echo "built $VENV" >&2
fi
"$ROOT/scripts/mint-venv.sh"
# CI (a fresh machine, root) also gets the headless Chromium the browser tests drive
if [[ "${CI:-}" == "true" ]]; then "$ROOT/scripts/browser.sh" >/dev/null; fi
