#!/usr/bin/env bash
# install.sh - idempotent install of everything the real-engine tests need (Debian 12, root).
# Quick no-op when every tool is present. Bounded: apt gets CGFL_APT_TIMEOUT seconds (default 600).
# Installing starts no daemon here (policy-rc.d / no systemd); lab.sh starts its own.
set -euo pipefail
PKGS="docker.io containerd runc podman crun busybox-static strace fuse3"
# one binary per package: a missing one means the package must be (re)installed
NEED=(dockerd containerd containerd-shim-runc-v2 ctr runc podman conmon crun strace fusermount3 nsenter unshare flock curl)
missing=()
for b in "${NEED[@]}"; do command -v "$b" >/dev/null 2>&1 || missing+=("$b"); done
# busybox-static: the lab image needs a static busybox (the dynamic one would not run in a bare rootfs)
{ [ -x /bin/busybox ] && ! ldd /bin/busybox >/dev/null 2>&1; } || missing+=(busybox-static)
[ ${#missing[@]} -eq 0 ] && exit 0

[ "$(id -u)" = 0 ] || { echo "install.sh: need root to install: ${missing[*]}" >&2; exit 1; }
echo "install.sh: missing ${missing[*]}; installing $PKGS" >&2
export DEBIAN_FRONTEND=noninteractive
T=${CGFL_APT_TIMEOUT:-600}
t0=$(date +%s)
apt_install() {
  timeout "$T" apt-get -o DPkg::Lock::Timeout=120 install -y -qq \
    -o Dpkg::Options::=--force-confold $PKGS >/dev/null
}
# fresh images have empty package lists: update first when there are none or the install fails
if ! ls /var/lib/apt/lists/*_Packages >/dev/null 2>&1 || ! apt_install; then
  timeout "$T" apt-get -o DPkg::Lock::Timeout=120 update -qq
  apt_install
fi
for b in "${NEED[@]}"; do command -v "$b" >/dev/null 2>&1 || { echo "install.sh: $b still missing" >&2; exit 1; }; done
echo "install.sh: installed in $(( $(date +%s) - t0 )) s" >&2
