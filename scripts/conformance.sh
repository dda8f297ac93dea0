#!/usr/bin/env bash
# Runs the client-go conformance check (../shared/conformance) against a fresh
# tikv-mock-server, unary and over BatchCommands. Fails if any case fails.
set -euo pipefail
cd "$(dirname "$0")/.."
tool=${CONFORMANCE:-../shared/conformance/run}
if [ ! -x "$tool" ] && [ ! -f "$tool" ]; then
  echo "conformance tool not found at $tool" >&2
  exit 1
fi
log=$(mktemp)
./build/tikv-mock-server --stores 3 --regions 8 --enable-ttl >"$log" 2>/dev/null &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -f "$log"' EXIT
for _ in $(seq 100); do grep -q '^PD ' "$log" && break; sleep 0.1; done
pd=$(awk '/^PD /{print $2; exit}' "$log")
[ -n "$pd" ] || { echo "tikv-mock-server did not start" >&2; exit 1; }
echo "== conformance (unary RPCs) against $pd"
bash "$tool" --pd "$pd" --ttl --atomic --cf default
echo "== conformance (BatchCommands) against $pd"
bash "$tool" --pd "$pd" --ttl --atomic --cf default --batch-commands
