#!/usr/bin/env bash
# Builds .mint-venv/ at the repo root: the nutshell reference mint and wallet CLI, kept apart from the project's
# own venv because nutshell caps fastapi/httpx/coincurve below the versions the node uses.
# Idempotent: a marker file records the pinned versions; a matching marker makes this a fast no-op.
set -euo pipefail

PINS=(cashu==0.20.2 marshmallow==3.26.2 limits==4.8.0)
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${MINT_VENV:-$ROOT/.mint-venv}"
MARKER="$VENV/.routstr-pins"
PYTHON="${PYTHON:-python3}"
WANTED="${PINS[*]}"

if [[ -f "$MARKER" && "$(cat "$MARKER")" == "$WANTED" && -x "$VENV/bin/python" ]]; then
    exit 0
fi

# Serialise concurrent builders (parallel test sessions) on a lock next to the venv.
exec 9>"$VENV.lock"
flock 9
if [[ -f "$MARKER" && "$(cat "$MARKER")" == "$WANTED" && -x "$VENV/bin/python" ]]; then
    exit 0
fi

rm -rf "$VENV"
"$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${PINS[@]}"
"$VENV/bin/python" -c "import cashu.mint" >/dev/null
printf '%s' "$WANTED" >"$MARKER"
echo "built $VENV with $WANTED" >&2
