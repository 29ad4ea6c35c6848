#!/usr/bin/env bash
# build-rootfs.sh IMAGE_REF [OUT_TAR]
# Builds the sidecar image without a registry: a rootfs holding this host's
# node binary with its shared libraries, and the built package (dist/, the
# addon, runtime node_modules), imported with `docker import`. Run from the
# repository root after `npm install` (which builds dist/ and the addon).
# With OUT_TAR only the rootfs tar is written (for `ctr`/podman import).
# DOCKER (default `docker`) is the CLI to import with, e.g. "docker -H unix:///run/lab/docker.sock";
# DIST (default dist) is the built TypeScript.
set -euo pipefail
ref=${1:?usage: build-rootfs.sh IMAGE_REF [OUT_TAR]}
out=${2:-}
cd "$(dirname "$0")/.."
dist=${DIST:-dist}
[ -f "$dist/serve/main.js" ] || { echo "$dist/serve/main.js missing: run npm run build:ts" >&2; exit 1; }
[ -f build/Release/cgfreeze.node ] || { echo "the addon is not built: run npm run build:native" >&2; exit 1; }

root=$(mktemp -d /tmp/cgfs-rootfs.XXXXXX)
trap 'rm -rf "$root"' EXIT
node_bin=$(readlink -f "$(command -v node)")

copy() { # copy a file to the same path under $root
  mkdir -p "$root$(dirname "$1")"
  cp -L "$1" "$root$1"
}
copy "$node_bin"
mkdir -p "$root/usr/bin"
[ "$node_bin" = /usr/bin/node ] || ln -s "$node_bin" "$root/usr/bin/node"
# The dynamic loader and every library node and the addon link against.
for lib in $( { ldd "$node_bin"; ldd build/Release/cgfreeze.node; } | awk '/=> \//{print $3} /^\t\/lib/{print $1}' | sort -u); do
  copy "$lib"
done

app="$root/app"
mkdir -p "$app/build/Release" "$app/node_modules" "$root/etc" "$root/run/cgfreeze" "$root/var/lib/cgfreeze" "$root/tmp" "$root/host"
cp package.json "$app/"
cp -r "$dist" "$app/dist"
cp build/Release/cgfreeze.node "$app/build/Release/"
# Runtime dependencies only: bindings and its one dependency.
for dep in bindings file-uri-to-path; do cp -r "node_modules/$dep" "$app/node_modules/"; done
# Names for the socket owner/group options and for node's os.userInfo().
printf 'root:x:0:0:root:/root:/bin/false\nnobody:x:65534:65534:nobody:/:/bin/false\n' > "$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$root/etc/group"

if [ -n "$out" ]; then
  tar -C "$root" -cf "$out" .
  echo "$out"
  exit 0
fi
tar -C "$root" -c . | ${DOCKER:-docker} import \
  --change 'ENTRYPOINT ["/usr/bin/node", "/app/dist/serve/main.js"]' \
  --change 'CMD ["--socket", "/run/cgfreeze/cgfreeze.sock", "--lease-file", "/var/lib/cgfreeze/leases.json", "--host-root", "/host"]' \
  - "$ref"
