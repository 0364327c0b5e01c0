#!/usr/bin/env bash
# Re-resolves the stack from pyproject.toml into requirements.lock, in a throw-away venv.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
python3 -m venv "$TMP/venv"
"$TMP/venv/bin/pip" install --quiet --upgrade pip
"$TMP/venv/bin/pip" install --quiet "$ROOT[dev]"
{
    echo "# Every package the node and its tests run on, pinned (pip freeze of a fresh '.[dev]' install). Regenerate with"
    echo "# scripts/lock.sh after changing pyproject.toml."
    "$TMP/venv/bin/pip" freeze --exclude-editable | grep -v -i "^routstr-node"
} >"$ROOT/requirements.lock"
