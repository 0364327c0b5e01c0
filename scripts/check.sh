#!/usr/bin/env bash
# Static checks: formatting, lint, types, architecture contracts.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BIN="$ROOT/.venv/bin"
"$BIN/ruff" format --check app tests bench migrations
"$BIN/ruff" check app tests bench migrations
"$BIN/mypy"
"$BIN/lint-imports" --no-cache >/dev/null && echo "import contracts kept"
