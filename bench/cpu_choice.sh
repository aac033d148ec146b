#!/usr/bin/env bash
# Issue 12: binding processor threads by measured CPU speed, side by side
# with binding them in order. LeNet-5 is profiled once (on the fastest
# CPU), planned for P = 1 and 2 processors at the model's batch, emitted
# and built; then each program runs R times (default 6) with
# --pin-threads=auto (the busiest processor on the fastest CPU) and
# --pin-threads=in-order (processor i on the i-th CPU), taking turns.
# Printed per run: measured/predicted period, the CPUs used and the
# program's CPU probe (us per probe run, before the run); then the median
# and the count within 10% per mode. Needs an otherwise idle machine with
# two CPUs; what it shows depends on how unevenly the CPUs run while it
# does (docs/profile.md, "Which CPU").
#
# Usage: bash bench/cpu_choice.sh [BUILD_DIR] [R] [TRAIN_LIMIT]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
R=${2:-6}
LIMIT=${3:-20000}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
BIN=$BUILD/bin
"$BIN/layerpipe-profile" models/lenet5.json -o "$OUT/profile.json"
for P in 1 2; do
  "$BIN/layerpipe" models/lenet5.json --profile "$OUT/profile.json" \
    --procs "$P" --micro-batch none --emit-cpp "$OUT/p$P" --force >/dev/null
  cmake -S "$OUT/p$P" -B "$OUT/p$P/build" -DCMAKE_PREFIX_PATH="$PWD/$BUILD" \
    >/dev/null
  cmake --build "$OUT/p$P/build" -j"$(nproc)" >/dev/null
done
for ((r = 0; r < R; ++r)); do
  for P in 1 2; do
    modes=(auto in-order)
    if ((r % 2)); then modes=(in-order auto); fi
    for mode in "${modes[@]}"; do
      # The program is named after its directory.
      "$OUT/p$P/build/p$P" --epochs 1 --lr 0.05 --momentum 0.9 --seed 1 \
        --train-limit "$LIMIT" --pin-threads="$mode" \
        --summary-json "$OUT/p$P-$mode-$r.json" >/dev/null
    done
  done
done
python3 - "$OUT" "$R" <<'PY'
import json, statistics, sys
out, R = sys.argv[1], int(sys.argv[2])
print(f"LeNet-5, measured/predicted period per run ({R} runs per mode):")
for P in (1, 2):
    for mode in ("auto", "in-order"):
        ratios, lines = [], []
        for r in range(R):
            s = json.load(open(f"{out}/p{P}-{mode}-{r}.json"))
            ratio = s["measured_period_us"] / s["predicted_period_us"]
            ratios.append(ratio)
            probe = s["cpu_probe"]["loop_us_before"]
            lines.append(f"{ratio:.2f} (CPUs {s['processor_cpus']}"
                         + (f", probe {probe}" if probe else "") + ")")
        within = sum(abs(x - 1) <= 0.10 for x in ratios)
        print(f"P={P} {mode:<9} median {statistics.median(ratios):.2f}, "
              f"within 10%: {within} of {R}")
        for line in lines:
            print("    " + line)
PY
