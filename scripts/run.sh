#!/usr/bin/env bash
# Runs a local demo node (DEMO=true): SQLite under ./data, the upstream stand-in (standin/, a child process) unless UPSTREAM_BASE_URL
# is set, and a local FakeWallet test mint (worthless ecash) unless CASHU_MINTS is set. Settings come from the
# environment or .env (see .env.example). Extra arguments go to `python -m app serve` (e.g. --port 8000).
# A node for real users runs `python -m app serve` with CASHU_MINTS and UPSTREAM_BASE_URL, and without DEMO.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
"$ROOT/scripts/bootstrap.sh"
export DEMO="${DEMO:-true}"
exec "$ROOT/.venv/bin/python" -m app serve "$@"
