#!/usr/bin/env bash
# Sets up (installs missing packages, builds the tools and the tests) and runs
# every test through ctest: doctest unit tests, lit golden tests, the stage
# programs against the reference trainer and the install check; then the
# compiler's tests and the fuzz corpora under ASan + UBSan
# (scripts/sanitize.sh, build-asan/).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh -DLAYERPIPE_BUILD_TESTS=ON
(cd build && ctest --output-on-failure -j"$(nproc)")
bash scripts/sanitize.sh
