#!/usr/bin/env bash
# Installs LayerPipe's build and test dependencies from Debian (skipping what is
# already installed), then configures and builds the tools into build/, without
# the tests (scripts/test.sh builds those).
# Usage: scripts/setup.sh [extra cmake args, e.g. -DLAYERPIPE_BUILD_TESTS=ON]
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(cmake g++ make python3 llvm-14-dev llvm-14-tools libboost-graph-dev
  nlohmann-json3-dev libfmt-dev doctest-dev libopenblas-dev zlib1g-dev
  dataset-fashion-mnist fortunes graphviz clang-14 libclang-rt-14-dev
  python3-torch python3-torchvision python3-onnx coinor-cbc libopenmpi-dev
  openmpi-bin)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
    missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DLAYERPIPE_BUILD_TESTS=OFF "$@" \
  >/dev/null
cmake --build build -j"$(nproc)"
