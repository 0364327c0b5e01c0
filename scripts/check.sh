#!/usr/bin/env bash
# Static checks: formatting, lint, types, architecture contracts, dead code.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BIN="$ROOT/.venv/bin"
"$BIN/ruff" format --check app standin tests bench migrations
"$BIN/ruff" check app standin tests bench migrations
"$BIN/mypy"
"$BIN/lint-imports" --no-cache >/dev/null && echo "import contracts kept"
# dead code: anything in app/ that nothing in the code, tests, benchmark or migrations uses
dead="$("$BIN/vulture" app standin tests bench migrations scripts/vulture_allow.py | grep '^app/' || true)"
if [[ -n "$dead" ]]; then echo "$dead"; echo "dead code in app/: remove it, or list a framework entry point in scripts/vulture_allow.py"; exit 1; fi
echo "no dead code in app/"
