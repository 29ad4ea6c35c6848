#!/usr/bin/env bash
# Runs the unit tier as uid 65534 from a copy of the checkout that uid owns: the tier promises to need
# no root (nor lab, nor network), and this is what keeps a test that does need root out of it.
# Needs `npm ci` first (node_modules, and the addon for the loader's tests).
set -euo pipefail
cd "$(dirname "$0")/../.."
copy=$(mktemp -d)
trap 'rm -rf "$copy"' EXIT
chmod 755 "$copy"
git ls-files -z | tar --null -T - -cf - | tar -xf - -C "$copy"
cp -a node_modules "$copy/"
mkdir -p "$copy/build/Release"
cp build/Release/cgfreeze.node "$copy/build/Release/"
chown -R 65534:65534 "$copy"
report=test-results/unit-unprivileged.json
(cd "$copy" && setpriv --reuid=65534 --regid=65534 --clear-groups env HOME="$copy" CI=true \
  CGFREEZE_TEST_REPORT="$report" node node_modules/vitest/vitest.mjs run --project unit)
node scripts/ci/check-results.mjs "$copy/$report" "unit tier as uid 65534"
