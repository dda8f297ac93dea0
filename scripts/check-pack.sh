#!/usr/bin/env bash
# Checks the npm package as a consumer gets it: `npm pack` (prepack makes the
# generated sources, so the tarball carries them), then, for each Node given,
# a fresh project in a temporary folder that installs the tarball with SWIG
# and protoc-c unavailable (stand-ins that fail on PATH), and runs
# scripts/pack-consumer.mjs there.
#   scripts/check-pack.sh [NODE_BIN_DIR...]     (default: the node on PATH)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== npm pack"
npm pack --silent --pack-destination "$work" >"$work/pack.out"
tarball="$work/$(tail -n1 "$work/pack.out")"
[ -f "$tarball" ] || { echo "check-pack: npm pack made no tarball" >&2; cat "$work/pack.out"; exit 1; }
tar -tzf "$tarball" | sed 's|^package/||' | sort >"$work/files"
echo "$(basename "$tarball"): $(du -k "$tarball" | cut -f1) KiB packed, $(wc -l <"$work/files") files:"
sed 's/^/  /' "$work/files"

# every generator's outputs and inputs are in it (an installed package finds
# its generated files current by their inputs); nothing built, tested or
# fetched is
node -e '
  const { GENERATORS, STAMPS, expand } = require("./scripts/generate.js");
  console.log(STAMPS);
  for (const g of GENERATORS) for (const p of [...g.outputs, ...g.inputs]) for (const f of expand(p)) console.log(f);
' | sort -u >"$work/generated"
missing=$(comm -23 "$work/generated" "$work/files")
[ -z "$missing" ] || { echo "check-pack: generated files or their inputs missing from the tarball: $missing" >&2; exit 1; }
stray=$(grep -E '^(build|build-c|build-asan|node_modules|\.tools|test|bench)/|\.(o|node|tgz)$' "$work/files" || true)
[ -z "$stray" ] || { echo "check-pack: files that do not belong in the tarball: $stray" >&2; exit 1; }
echo "tarball carries every generated file with its inputs ($(wc -l <"$work/generated") files)"

# a consumer machine needs no SWIG and no protoc-c: any call to them fails
mkdir -p "$work/no-tools"
for t in swig protoc-c; do
  printf '#!/bin/sh\necho "%s must not run when installing the tarball" >&2\nexit 1\n' "$t" >"$work/no-tools/$t"
  chmod +x "$work/no-tools/$t"
done

[ $# -gt 0 ] || set -- "$(dirname "$(command -v node)")"
for bindir in "$@"; do
  v=$("$bindir/node" --version)
  app="$work/app-$v"
  mkdir -p "$app"
  echo "== Node $v: npm install the tarball into a fresh project (no SWIG, no protoc-c)"
  (
    cd "$app"
    export PATH="$work/no-tools:$bindir:$PATH"
    npm init -y >/dev/null
    start=$(date +%s)
    npm install --no-audit --no-fund --foreground-scripts "$tarball" >"$app/install.log" 2>&1 || {
      tail -n 40 "$app/install.log"; echo "check-pack: npm install of the tarball failed on Node $v" >&2; exit 1; }
    if grep -E 'generate\.js: (swig|proto|errors) \(' "$app/install.log"; then
      echo "check-pack: installing the tarball regenerated sources (install must only compile)" >&2; exit 1
    fi
    echo "installed in $(( $(date +%s) - start )) s: $(grep -c '^build.js: ' "$app/install.log") build steps, $(grep -cE '^(cc|  CXX)' "$app/install.log") compilations"
    grep '^build.js: Node' "$app/install.log" || true
    cp "$root/scripts/pack-consumer.mjs" "$app/consumer.mjs"
    node consumer.mjs
  )
done
echo "check-pack: passed"
