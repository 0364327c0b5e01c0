#!/usr/bin/env bash
# Installs Debian's wrk, the benchmark's load generator (`python -m bench`), when it is missing. Without it the
# benchmark falls back to bench/pyload.py, whose Python client takes a core's share from the targets it measures.
set -euo pipefail
command -v wrk >/dev/null 2>&1 && exit 0
SUDO=""
[[ "$(id -u)" == "0" ]] || SUDO="sudo -n"
$SUDO apt-get update -qq >&2
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends wrk >&2
