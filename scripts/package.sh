#!/usr/bin/env bash
# Builds the ktrail Debian package and prints its path.
#
#   scripts/package.sh          # from build/ (configured here if it is not yet)
#   KTRAIL_BUILD_DIR=DIR scripts/package.sh
#
# The package comes from the normal build: only ktraild is linked once more
# (build/bin/pkg/ktraild) with its default rule set at /etc/ktrail/rules.d
# (KTRAIL_INSTALLED_RULES_DIR) instead of the source tree's rules/. CPack then
# strips the binaries, computes Depends with dpkg-shlibdeps and writes
# ktrail_<version>_amd64.deb into the build directory.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${KTRAIL_BUILD_DIR:-build}
command -v dpkg-shlibdeps >/dev/null || { echo "package: dpkg-shlibdeps is missing (apt-get install dpkg-dev)" >&2; exit 1; }
if [[ ! -f $build/CMakeCache.txt ]]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE="${KTRAIL_BUILD_TYPE:-RelWithDebInfo}" >&2
fi
cmake --build "$build" --target ktraild-installed ktrail-collector ktrail >&2
version=$(sed -n 's/^set(CPACK_PACKAGE_VERSION "\(.*\)")$/\1/p' "$build/CPackConfig.cmake")
arch=$(dpkg --print-architecture)
deb=$(cd "$build" && pwd)/ktrail_${version}_${arch}.deb
rm -f "$deb"
(cd "$build" && cpack -G DEB >&2)
[[ -f $deb ]] || { echo "package: cpack did not write $deb" >&2; exit 1; }
echo "$deb"
