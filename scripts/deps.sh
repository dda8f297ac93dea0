#!/usr/bin/env bash
# Installs what the build and the tests need, if anything is missing: the
# Debian packages, and SWIG >= 4.2 from PyPI into .tools/swig (project-local,
# not committed) when the system's SWIG is older (Debian 12 ships 4.1).
# With --fuzz also clang and its libFuzzer runtime (for `make fuzz` only).
# Fails loudly when something cannot be installed.
set -euo pipefail
cd "$(dirname "$0")/.."
pkgs=(libgrpc-dev libprotobuf-c-dev protobuf-c-compiler check pkg-config make gcc g++ python3 openssl
      python3-pip)
[ "${1:-}" = --fuzz ] && pkgs+=(clang libclang-rt-dev)
missing=()
for p in "${pkgs[@]}"; do
  # a pip installed some other way (pyenv's) will do
  [ "$p" = python3-pip ] && python3 -m pip --version >/dev/null 2>&1 && continue
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps.sh: installing Debian packages: ${missing[*]}"
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# Node >= 20 with npm: not Debian 12's (Node 18), so not installed here.
node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' 2>/dev/null &&
  command -v npm >/dev/null || {
  echo "deps.sh: Node.js >= 20 with npm is needed (found: $(node --version 2>/dev/null || echo none))" >&2
  exit 1
}

# SWIG: the wheel on PyPI carries the swig binary and its library; the
# wrapper script below points the binary at its library.
SWIG_VERSION=4.5.1
if ! bash scripts/swig.sh --find >/dev/null 2>&1; then
  echo "deps.sh: installing SWIG $SWIG_VERSION from PyPI into .tools/swig"
  rm -rf .tools/swig
  PIP_ROOT_USER_ACTION=ignore python3 -m pip install --quiet --disable-pip-version-check --no-warn-script-location \
    --target .tools/swig/pkg "swig==$SWIG_VERSION"
  lib=$(ls -d .tools/swig/pkg/swig/data/share/swig/*/ | head -n1)
  [ -x .tools/swig/pkg/swig/data/bin/swig ] && [ -n "$lib" ] || {
    echo "deps.sh: the swig wheel has no swig binary or library" >&2
    exit 1
  }
  mkdir -p .tools/swig/bin
  cat > .tools/swig/bin/swig <<WRAP
#!/bin/sh
# SWIG $SWIG_VERSION from PyPI (installed by scripts/deps.sh)
here=\$(cd "\$(dirname "\$0")/.." && pwd)
SWIG_LIB="\$here/pkg/swig/data/share/swig/$(basename "$lib")" exec "\$here/pkg/swig/data/bin/swig" "\$@"
WRAP
  chmod +x .tools/swig/bin/swig
fi
echo "deps.sh: $(bash scripts/swig.sh --find) is SWIG $("$(bash scripts/swig.sh --find)" -version | awk '/^SWIG Version/ { print $3 }')"
