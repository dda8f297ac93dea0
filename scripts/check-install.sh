#!/usr/bin/env bash
# Checks the C library as a C user gets it: `make install PREFIX=` into a
# temporary prefix, then examples/hello.c built with `pkg-config --cflags
# --libs tikv` from that prefix and run against the installed
# tikv-mock-server, and examples/mock.c built with `pkg-config tikv-mock`.
# Fails loudly on any step.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
server=""
trap '[ -n "$server" ] && kill "$server" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
prefix="$work/prefix"

echo "== make install PREFIX=$prefix"
make -j2 --no-print-directory install PREFIX="$prefix" >"$work/install.log" 2>&1 || {
  cat "$work/install.log"; exit 1; }
(cd "$prefix" && find . -type f -o -type l | sort | sed 's|^\./|  |')

so=$(readlink "$prefix/lib/libtikv.so")
soname=$(readelf -d "$prefix/lib/libtikv.so" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[ -n "$soname" ] && [ "$so" = "$soname" ] && [ -e "$prefix/lib/$soname" ] || {
  echo "check-install: libtikv.so -> $so, soname '$soname': the soname link is wrong" >&2; exit 1; }
echo "libtikv.so -> $so (SONAME $soname)"
exported=$(nm -D --defined-only "$prefix/lib/libtikv.so" | awk '$2 == "T" { print $3 }')
if grep -qv '^tikv_' <<<"$exported"; then
  echo "check-install: libtikv.so exports non-API symbols:" $(grep -v '^tikv_' <<<"$exported" | head) >&2; exit 1
fi
echo "libtikv.so exports $(wc -l <<<"$exported") functions, all tikv_*"

export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
echo "== pkg-config tikv $(pkg-config --modversion tikv): $(pkg-config --cflags --libs tikv)"
# shellcheck disable=SC2046
cc -Wall -Werror -o "$work/hello" examples/hello.c $(pkg-config --cflags --libs tikv)
LD_LIBRARY_PATH="$prefix/lib" ldd "$work/hello" | grep -q "$soname => $prefix/lib/$soname" || {
  echo "check-install: hello does not load $soname from the prefix" >&2; exit 1; }

"$prefix/bin/tikv-mock-server" --stores 3 --regions 4 >"$work/server.out" 2>/dev/null &
server=$!
for _ in $(seq 100); do grep -q '^PD ' "$work/server.out" && break; sleep 0.1; done
pd=$(awk '/^PD /{print $2; exit}' "$work/server.out")
[ -n "$pd" ] || { echo "check-install: the installed tikv-mock-server did not start" >&2; exit 1; }
echo "== examples/hello.c against the installed tikv-mock-server at $pd"
LD_LIBRARY_PATH="$prefix/lib" "$work/hello" "$pd"

echo "== examples/mock.c with pkg-config tikv-mock: $(pkg-config --libs tikv-mock | cut -c1-60)..."
# shellcheck disable=SC2046
cc -Wall -Werror -o "$work/mock" examples/mock.c $(pkg-config --cflags --libs tikv-mock)
"$work/mock"
echo "check-install: passed"
