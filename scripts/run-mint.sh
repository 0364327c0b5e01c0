#!/usr/bin/env bash
# Runs a nutshell FakeWallet mint in the foreground: scripts/run-mint.sh PORT DATADIR [FEE_PPK]
# FakeWallet pays every invoice at once, so tests and local runs can mint ecash without Lightning.
# The data dir is the cwd and holds nothing but mint state, so nutshell never loads a project .env.
set -euo pipefail

if [[ $# -lt 2 || $# -gt 3 ]]; then
    echo "usage: $0 PORT DATADIR [FEE_PPK]" >&2
    exit 2
fi
PORT="$1"
DATADIR="$2"
FEE_PPK="${3:-0}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${MINT_VENV:-$ROOT/.mint-venv}"

"$ROOT/scripts/mint-venv.sh"
mkdir -p "$DATADIR"
DATADIR="$(cd "$DATADIR" && pwd)"
cd "$DATADIR"

export MINT_BACKEND_BOLT11_SAT=FakeWallet
export MINT_LISTEN_HOST=127.0.0.1
export MINT_LISTEN_PORT="$PORT"
export MINT_PRIVATE_KEY="${MINT_PRIVATE_KEY:-routstr-test-mint-$PORT}"
export MINT_DATABASE="$DATADIR/mintdb"
export MINT_AUTH_DATABASE="$DATADIR/authdb"
export CASHU_DIR="$DATADIR/cashu"
export MINT_RATE_LIMIT=FALSE
export MINT_INPUT_FEE_PPK="$FEE_PPK"
export FAKEWALLET_DELAY_INCOMING_PAYMENT=0
export FAKEWALLET_DELAY_OUTGOING_PAYMENT=0
exec "$VENV/bin/python" -m cashu.mint
