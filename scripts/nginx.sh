#!/usr/bin/env bash
# Installs Debian's nginx for the reverse-proxy test when it is missing (CI runs as root on a fresh machine).
set -euo pipefail
command -v nginx >/dev/null 2>&1 && exit 0
if [[ "$(id -u)" != 0 ]]; then
    echo "nginx is missing: run 'apt-get install -y nginx' as root" >&2
    exit 1
fi
apt-get update -qq >/dev/null
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null
systemctl disable --now nginx >/dev/null 2>&1 || service nginx stop >/dev/null 2>&1 || true
