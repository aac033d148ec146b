#!/usr/bin/env bash
# Sets up (installs missing packages, builds the tools and the tests) and runs
# every test: doctest unit tests, lit golden tests and the install check,
# through ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh -DLAYERPIPE_BUILD_TESTS=ON
cd build
ctest --output-on-failure -j"$(nproc)"
