#!/usr/bin/env bash
# Debian packages the tests need; idempotent and quick when already installed.
set -euo pipefail
PKGS="strace fuse3 cmake g++ make python3"
missing=""
for p in $PKGS; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  export DEBIAN_FRONTEND=noninteractive
  timeout 600 apt-get install -y -qq $missing >/dev/null 2>&1 || { timeout 300 apt-get update -qq && timeout 600 apt-get install -y -qq $missing >/dev/null; }
fi
