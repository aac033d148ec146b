#!/usr/bin/env bash
# Issue 12: the profile's two methods side by side on small micro-batches.
# LeNet-5 is profiled at batch 64 and at batch B (default 4) twice: the
# kernels alone (layerpipe-profile --method kernels) and through the stage
# programs' executor (--method executor, the default). For each method and
# P = 1, 2 the compiler plans the model at --micro-batch B, the stage
# program is emitted, built and run R times (default 3, round robin over
# the four programs); printed: predicted and measured period per step and
# their ratio (median run, lowest-highest). Needs an otherwise idle
# machine (two processor threads need both cores).
#
# Usage: bash bench/profile_methods.sh [BUILD_DIR] [B] [R]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
B=${2:-4}
R=${3:-3}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
BIN=$BUILD/bin
for method in kernels executor; do
  for b in 64 "$B"; do
    "$BIN/layerpipe-profile" models/lenet5.json --batch "$b" --method "$method" \
      -o "$OUT/$method-b$b.json" >/dev/null
  done
  for P in 1 2; do
    name=$method-p$P
    "$BIN/layerpipe" models/lenet5.json --profile "$OUT/$method-b64.json" \
      --profile "$OUT/$method-b$B.json" --procs "$P" --micro-batch "$B" \
      --emit-cpp "$OUT/$name" --force >/dev/null
    cmake -S "$OUT/$name" -B "$OUT/$name/build" -DCMAKE_PREFIX_PATH="$PWD/$BUILD" \
      >/dev/null
    cmake --build "$OUT/$name/build" -j"$(nproc)" >/dev/null
  done
done
names=(kernels-p1 kernels-p2 executor-p1 executor-p2)
for ((r = 0; r < R; ++r)); do
  for ((i = 0; i < 4; ++i)); do
    name=${names[$(((i + r) % 4))]}
    "$OUT/$name/build/$name" --epochs 1 --train-limit 8192 --test-limit 256 \
      --summary-json "$OUT/$name-run$r.json" >/dev/null
  done
done
python3 - "$OUT" "$R" "$B" <<'PY'
import json, statistics, sys
out, R, B = sys.argv[1], int(sys.argv[2]), sys.argv[3]
print(f"LeNet-5 at micro-batch {B}, {R} runs each (median, lowest-highest):")
print(f"{'profile':<10} {'P':>2} {'predicted us':>13} {'measured us':>12} {'measured/predicted':>28}")
for name in ("kernels-p1", "executor-p1", "kernels-p2", "executor-p2"):
    runs = [json.load(open(f"{out}/{name}-run{r}.json")) for r in range(R)]
    pred = runs[0]["predicted_period_us"]
    meas = sorted(r["measured_period_us"] for r in runs)
    med = statistics.median(meas)
    method, p = name.split("-p")
    print(f"{method:<10} {p:>2} {pred:13.1f} {med:12.1f} "
          f"{med / pred:14.2f} ({meas[0] / pred:.2f}-{meas[-1] / pred:.2f})")
PY
