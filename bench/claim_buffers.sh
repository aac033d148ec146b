#!/usr/bin/env bash
# Issue 12: stage programs claiming the recycled buffers that processors
# send each other, side by side with reusing them as they are
# (LAYERPIPE_CLAIM_BUFFERS=off). LeNet-5 is profiled once, planned for 2
# processors as layerpipe (the compiler's plan) and as zb-h1, emitted and
# built; then each program runs R times (default 4) per mode, the modes
# taking turns. Printed per program and mode, as medians over the runs:
# the measured period over the predicted one, each processor's work (the
# sum of its tasks' median times) over the predicted work, and the task
# that moved most. Needs an otherwise idle machine with two CPUs: the
# effect is the other CPU's cache holding the lines (docs/codegen.md,
# "Recycled buffers").
#
# Usage: bash bench/claim_buffers.sh [BUILD_DIR] [R] [TRAIN_LIMIT]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
R=${2:-4}
LIMIT=${3:-20000}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
BIN=$BUILD/bin
"$BIN/layerpipe-profile" models/lenet5.json -o "$OUT/profile.json" >/dev/null
declare -A FLAGS=([layerpipe]="" [zbh1]="--schedule=zb-h1 --micro-batches 4")
for name in layerpipe zbh1; do
  # shellcheck disable=SC2086
  "$BIN/layerpipe" models/lenet5.json --profile "$OUT/profile.json" \
    --procs 2 --micro-batch none ${FLAGS[$name]} --emit-cpp "$OUT/$name" \
    --force >/dev/null
  cmake -S "$OUT/$name" -B "$OUT/$name/build" \
    -DCMAKE_PREFIX_PATH="$PWD/$BUILD" >/dev/null
  cmake --build "$OUT/$name/build" -j"$(nproc)" >/dev/null
done
for ((r = 0; r < R; ++r)); do
  for name in layerpipe zbh1; do
    modes=(on off)
    if ((r % 2)); then modes=(off on); fi
    for mode in "${modes[@]}"; do
      # The program is named after its directory.
      LAYERPIPE_CLAIM_BUFFERS=$mode "$OUT/$name/build/$name" --epochs 1 \
        --lr 0.05 --momentum 0.9 --seed 1 --train-limit "$LIMIT" \
        --summary-json "$OUT/$name-$mode-$r.json" \
        --trace "$OUT/$name-$mode-$r.trace.json" >/dev/null
    done
  done
done
python3 - "$OUT" "$R" <<'PY'
import json, statistics, sys
out, R = sys.argv[1], int(sys.argv[2])

def medians(trace):
    """{(processor, task): median duration} per process of the trace."""
    events = json.load(open(trace))["traceEvents"]
    kind = {e["pid"]: e["args"]["name"].split(":")[0] for e in events
            if e.get("ph") == "M" and e["name"] == "process_name"}
    durations = {"predicted": {}, "measured": {}}
    for e in events:
        if e.get("ph") == "X" and kind.get(e["pid"]) in durations:
            durations[kind[e["pid"]]].setdefault(
                (e["tid"] - 1, e["name"]), []).append(e["dur"])
    return {k: {t: statistics.median(v) for t, v in d.items()}
            for k, d in durations.items()}

print(f"LeNet-5 on 2 processors, medians over {R} runs per mode "
      "(claim on | off):")
for name in ("layerpipe", "zbh1"):
    rows = {}
    for mode in ("on", "off"):
        period, work, tasks = [], {}, {}
        for r in range(R):
            s = json.load(open(f"{out}/{name}-{mode}-{r}.json"))
            period.append(s["measured_period_us"] / s["predicted_period_us"])
            m = medians(f"{out}/{name}-{mode}-{r}.trace.json")
            for (p, t), us in m["measured"].items():
                tasks.setdefault((p, t), []).append(us)
            for p in {p for p, _ in m["predicted"]}:
                done = sum(us for (q, _), us in m["measured"].items() if q == p)
                planned = sum(us for (q, _), us in m["predicted"].items()
                              if q == p)
                work.setdefault(p, []).append(done / planned)
        rows[mode] = (statistics.median(period),
                      {p: statistics.median(v) for p, v in work.items()},
                      {t: statistics.median(v) for t, v in tasks.items()})
    (p_on, w_on, t_on), (p_off, w_off, t_off) = rows["on"], rows["off"]
    print(f"  {name}: period measured/predicted {p_on:.2f} | {p_off:.2f}; "
          + ", ".join(f"P{p} work {w_on[p]:.2f} | {w_off[p]:.2f}"
                      for p in sorted(w_on)))
    task = max(t_on, key=lambda t: abs(t_off[t] - t_on[t]))
    print(f"    most changed: {task[1]} on P{task[0]}: {t_on[task]:.0f} | "
          f"{t_off[task]:.0f} us (off/on {t_off[task] / t_on[task]:.2f})")
PY
