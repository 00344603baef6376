#!/usr/bin/env bash
# deepcee set-up: install the missing Debian packages (as root directly; as a user through sudo when
# it exists; otherwise print the apt-get line),
# configure and build in ./build, then run what was asked:
#   scripts/setup.sh demo [k=v ...]   the main job (the demo on a simulated survey)
#   scripts/setup.sh test             the whole test suite (ctest)
#   scripts/setup.sh build            only install and build
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(build-essential cmake pkg-config git ocl-icd-opencl-dev opencl-headers pocl-opencl-icd
          clinfo libclblast-dev liblua5.4-dev libcfitsio-dev wcslib-dev libpng-dev zlib1g-dev
          libopenblas-dev libplplot-dev plplot-driver-cairo clang libclang-rt-dev libopenmpi-dev openmpi-bin)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    as_root=()                       # root (a fresh Debian 12 has no sudo): run apt-get directly
  elif command -v sudo >/dev/null 2>&1; then
    as_root=(sudo)                   # a user with sudo: it may ask for the password
  else
    echo "deepcee setup: missing Debian packages and no sudo; as root, install them with:" >&2
    echo "  apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  echo "deepcee setup: installing ${missing[*]}"
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi

jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$jobs"

what=${1:-build}
[ $# -gt 0 ] && shift
case "$what" in
  demo) exec ./build/deepcee demo "$@" ;;
  test) cd build && exec ctest --output-on-failure -j"$jobs" "$@" ;;
  build) ;;
  *) echo "usage: scripts/setup.sh [demo|test|build]" >&2; exit 2 ;;
esac
