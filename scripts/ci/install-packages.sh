#!/usr/bin/env bash
# Build tools for both addon builds (node-gyp: python3, make, g++; cmake-js: cmake).
# The engines and test tools come from scripts/lab/install.sh. Idempotent.
set -euo pipefail
PKGS="cmake g++ make python3"
missing=""
for p in $PKGS; do dpkg -s "$p" >/dev/null 2>&1 || command -v "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  export DEBIAN_FRONTEND=noninteractive
  timeout 600 apt-get -o DPkg::Lock::Timeout=120 install -y -qq $missing >/dev/null 2>&1 ||
    { timeout 300 apt-get update -qq && timeout 600 apt-get -o DPkg::Lock::Timeout=120 install -y -qq $missing >/dev/null; }
fi
