#!/usr/bin/env bash
# Runs the client-go conformance check (../shared/conformance) against a fresh
# tikv-mock-server, unary and over BatchCommands. Fails if any case fails.
#
# The tool lives outside this repository. When it is missing, this script
# fails if CI is set or --require is given (`make conformance`), and
# otherwise says that the check is skipped and why (`make test` in a plain
# clone). CONFORMANCE=path/to/run names another copy of the tool.
set -euo pipefail
cd "$(dirname "$0")/.."
tool=${CONFORMANCE:-../shared/conformance/run}
if [ ! -f "$tool" ]; then
  if [ -n "${CI:-}" ] || [ "${1:-}" = "--require" ]; then
    why="--require"
    [ -n "${CI:-}" ] && why="CI is set"
    echo "conformance: FAILED: the client-go conformance tool is not at $tool" \
      "(required: $why); set CONFORMANCE=path/to/run" >&2
    exit 1
  fi
  echo "conformance: SKIPPED: the client-go conformance tool is not at $tool" \
    "(it lives beside this clone in ../shared; set CONFORMANCE=path/to/run). With CI set this fails."
  exit 0
fi
log=$(mktemp)
./build-c/tikv-mock-server --stores 3 --regions 8 --enable-ttl >"$log" 2>/dev/null &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -f "$log"' EXIT
for _ in $(seq 100); do grep -q '^PD ' "$log" && break; sleep 0.1; done
pd=$(awk '/^PD /{print $2; exit}' "$log")
[ -n "$pd" ] || { echo "tikv-mock-server did not start" >&2; exit 1; }
echo "== conformance (unary RPCs) against $pd"
bash "$tool" --pd "$pd" --ttl --atomic --cf default
echo "== conformance (BatchCommands) against $pd"
bash "$tool" --pd "$pd" --ttl --atomic --cf default --batch-commands
