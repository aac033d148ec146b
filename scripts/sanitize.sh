#!/usr/bin/env bash
# Builds LayerPipe with ASan + UBSan (-fno-sanitize-recover) into build-asan/
# with clang-14 and runs, under the sanitizers, the unit tests, the lit
# golden tests and the fuzz targets' seed and regression corpora
# (docs/reliability.md). Called by scripts/test.sh.
# Usage: scripts/sanitize.sh [ctest args]
set -euo pipefail
cd "$(dirname "$0")/.."

# -O1 keeps the build and the tests fast enough for the test budget; no debug
# info (the sanitizers' stack traces still name functions).
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 \
  -DCMAKE_CXX_FLAGS_RELEASE="-O1 -DNDEBUG" -DLAYERPIPE_SANITIZE=ON >/dev/null
# Lean: the compiler, its unit tests and the fuzz targets; not the training
# runtime (BLAS kernels, slow under ASan and outside the issue's inputs
# except the IDX reader, which fuzz-idx covers). The lit tests that need
# layerpipe-train are unsupported there.
targets=(layerpipe layerpipe-gen unit-frontend unit-dfg unit-transforms
  unit-schedule unit-exact layerpipe-sync-bench fuzz-model fuzz-emit
  fuzz-machine fuzz-idx)
cmake --build build-asan -j"$(nproc)" --target "${targets[@]}"
cd build-asan
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# Not here: the runtime's tests, the stage programs and their MPI runs
# (they build and run generated projects against the runtime), the importer
# (it compiles and trains what it imports) and the install check, which need
# the tools this build leaves out.
ctest --output-on-failure -j"$(nproc)" \
  -E "unit-runtime|unit-codegen|stage-programs|distributed|import|install" "$@"
