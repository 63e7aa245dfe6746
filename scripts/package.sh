#!/usr/bin/env bash
# Builds the Debian package ingestd_<version>_<arch>.deb (CPack, see cmake/Package.cmake) and
# prints its path. Install it with: apt-get install ./ingestd_<version>_<arch>.deb
#   BUILD_DIR   build directory (default build-package)
#   OUT_DIR     where the .deb goes (default: the checkout)
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${BUILD_DIR:-$repo/build-package}
out=${OUT_DIR:-$repo}

"$repo/scripts/install-deps.sh" >&2
# Release, installed under /usr (settings in /etc). Only the two installed programs are built:
# the install step would otherwise build every test suite first.
cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr \
  -DINGESTD_BUILD_TESTS=OFF -DCMAKE_SKIP_INSTALL_ALL_DEPENDENCY=ON >/dev/null
cmake --build "$build" -j "${JOBS:-2}" --target ingestd upstream-sim >&2
rm -f "$build"/cpack/ingestd_*.deb
(cd "$build" && cpack -G DEB -B "$build/cpack" >&2)
deb=$(find "$build/cpack" -maxdepth 1 -name 'ingestd_*.deb' | head -n 1)
[ -n "$deb" ] || { echo "package: cpack wrote no ingestd_*.deb" >&2; exit 1; }
mkdir -p "$out"
cp "$deb" "$out/"
echo "$out/$(basename "$deb")"
