#!/usr/bin/env bash
# Builds the libFuzzer targets (clang-14, ASan + UBSan) into build-fuzz/ and
# runs each for SECONDS seconds on one core, starting from its seed corpus.
# Crashes, timeouts and sanitizer reports are kept in fuzz/out/<target>/ as
# crash-*, timeout-*, oom-* files; copy a fixed one into
# fuzz/regressions/<target>/ so that the sanitizer tests replay it.
# Usage: scripts/fuzz.sh SECONDS [target...]   (targets: model emit machine idx)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:?usage: scripts/fuzz.sh SECONDS [target...]}
shift
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(model emit machine idx)

# FUZZ_TIMEOUT=S sets the per-input timeout (default 60 s; the ASan -O1 build
# runs some inputs 25x slower than the release build on a loaded machine).
# FUZZ_NO_BUILD=1 skips the build, so that several runs of this script (one
# target each) can share build-fuzz/ at once after one has built it.
if [ "${FUZZ_NO_BUILD:-0}" != 1 ]; then
  cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 \
    -DCMAKE_CXX_FLAGS_RELEASE="-O1 -g -DNDEBUG" -DLAYERPIPE_FUZZ=ON >/dev/null
  cmake --build build-fuzz -j2 --target "${targets[@]/#/fuzz-}"
fi

seeds_model="models test/lit/errors/Inputs fuzz/regressions/model"
seeds_emit="models fuzz/regressions/emit"
seeds_machine="fuzz/seeds/machine fuzz/regressions/machine"
seeds_idx="fuzz/seeds/idx fuzz/regressions/idx"
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
for t in "${targets[@]}"; do
  out=fuzz/out/$t
  mkdir -p "$out/corpus"
  seeds_var=seeds_$t
  # Model files are JSON: the dictionary steers mutations to its tokens.
  dict=()
  [ "$t" = idx ] || dict=(-dict=fuzz/json.dict)
  echo "== fuzz-$t for ${seconds}s"
  set +e
  build-fuzz/bin/fuzz-"$t" "$out/corpus" ${!seeds_var} "${dict[@]}" \
    -max_total_time="$seconds" -timeout="${FUZZ_TIMEOUT:-60}" -rss_limit_mb=4096 \
    -max_len=65536 -print_final_stats=1 -artifact_prefix="$out/" \
    > "$out/log.txt" 2>&1
  status=$?
  set -e
  grep -E '^(stat::|#[0-9]+ +DONE|==[0-9]+==ERROR|SUMMARY)' "$out/log.txt" || true
  ls "$out" | grep -E '^(crash|timeout|oom|leak)-' || echo "no crashes"
  echo "exit status $status"
done
