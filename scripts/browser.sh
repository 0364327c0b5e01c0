#!/usr/bin/env bash
# Makes sure a headless Chromium is installed (Debian's `chromium` package) for the browser tests; prints its path.
# Installs only when it is missing, which on a fresh CI machine (running as root) means once.
set -euo pipefail
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
if [[ ! -x "$CHROMIUM" ]]; then
    SUDO=""
    [[ "$(id -u)" == "0" ]] || SUDO="sudo -n"
    $SUDO apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium >&2
fi
echo "$CHROMIUM"
