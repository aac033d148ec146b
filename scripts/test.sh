#!/usr/bin/env bash
# Sets up (installs missing packages, builds) and runs every test: doctest unit
# tests and lit golden tests, through ctest; then the same tests and the fuzz
# corpora under ASan + UBSan (scripts/sanitize.sh, build-asan/).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
(cd build && ctest --output-on-failure -j"$(nproc)")
bash scripts/sanitize.sh
