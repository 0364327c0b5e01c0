#!/usr/bin/env bash
# Runs a working local node on embedded defaults: SQLite under ./data, the built-in upstream stand-in unless
# UPSTREAM_BASE_URL is set, and a local FakeWallet mint unless CASHU_MINTS is set. Settings come from the
# environment or .env (see .env.example). Extra arguments go to `python -m app serve` (e.g. --port 8000).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
"$ROOT/scripts/bootstrap.sh"
exec "$ROOT/.venv/bin/python" -m app serve "$@"
