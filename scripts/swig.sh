#!/usr/bin/env bash
# Runs SWIG >= 4.2 (the first SWIG to generate Node-API code) with the given
# arguments, after saying which SWIG it is. The first of these that is new
# enough: $TIKV_SWIG, `swig` on PATH (Debian 12's is 4.1), .tools/swig (what
# scripts/deps.sh installs from PyPI when the system has none new enough).
#   scripts/swig.sh --find     print the SWIG that would run, or fail
#   scripts/swig.sh ARGS...    run it
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
MIN=4.2

version_of() { "$1" -version 2>/dev/null | awk '/^SWIG Version/ { print $3; exit }'; }
new_enough() { [ -n "$1" ] && [ "$(printf '%s\n%s\n' "$MIN" "$1" | sort -V | head -n1)" = "$MIN" ]; }

found=""
tried=()
for cand in ${TIKV_SWIG:+"$TIKV_SWIG"} "$(command -v swig || true)" "$root/.tools/swig/bin/swig"; do
  [ -n "$cand" ] && [ -x "$cand" ] || continue
  v=$(version_of "$cand")
  if new_enough "$v"; then found=$cand; break; fi
  tried+=("$cand (${v:-no version})")
done
if [ -z "$found" ]; then
  {
    echo "swig.sh: no SWIG >= $MIN found (needed to generate the Node-API wrapper)."
    [ ${#tried[@]} -gt 0 ] && echo "  too old or not working: ${tried[*]}"
    echo "  Run scripts/deps.sh (installs SWIG from PyPI into .tools/swig), or set TIKV_SWIG=/path/to/swig."
    echo "  A package tarball (npm pack) carries the generated wrapper and needs no SWIG."
  } >&2
  exit 1
fi
if [ "${1:-}" = "--find" ]; then
  echo "$found"
  exit 0
fi
echo "swig.sh: using $found (SWIG $(version_of "$found"))" >&2
exec "$found" "$@"
