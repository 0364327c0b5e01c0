#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what it needs, runs the static checks, then pytest against
# SQLite and PostgreSQL (127.0.0.1:5432, or TEST_POSTGRES_URL), a real nutshell mint and real Nostr relays.
# Extra arguments go to pytest (e.g. scripts/test.sh -k ledger).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
"$ROOT/scripts/bootstrap.sh"
"$ROOT/scripts/check.sh"
exec "$ROOT/.venv/bin/pytest" -q "$@"
