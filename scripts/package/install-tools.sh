#!/usr/bin/env bash
# What `npm run prebuild` and `npm run test:package` need beyond the build tools of
# scripts/ci/install-packages.sh: Debian's arm64 cross compiler (its arm64 glibc and
# libstdc++ also let qemu run an arm64 node) and qemu's user-mode emulator. Idempotent.
set -euo pipefail
PKGS="g++-aarch64-linux-gnu qemu-user-static"
missing=""
for p in $PKGS; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  export DEBIAN_FRONTEND=noninteractive
  timeout 600 apt-get -o DPkg::Lock::Timeout=120 install -y -qq --no-install-recommends $missing >/dev/null 2>&1 ||
    { timeout 300 apt-get update -qq && timeout 600 apt-get -o DPkg::Lock::Timeout=120 install -y -qq --no-install-recommends $missing >/dev/null; }
fi
