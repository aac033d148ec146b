#!/usr/bin/env bash
# Issue 12: two ways of running the same stage programs, side by side.
#   claim: claiming the recycled buffers that processors send each other
#          (on) against reusing them as they are (LAYERPIPE_CLAIM_BUFFERS=off;
#          docs/codegen.md, "Recycled buffers");
#   wait:  processor threads polling for their messages (--wait=poll)
#          against sleeping until a sender wakes them (--wait=sleep;
#          docs/codegen.md, "Waiting for messages").
# MODEL (default lenet5) is profiled once, planned for 2 processors as
# layerpipe (the compiler's plan) and as zb-h1, emitted and built; then each
# program runs R times (default 4) per arm, the arms taking turns. Printed
# per program and arm, as medians over the runs: the measured period over
# the predicted one, samples/s, each processor's work (the sum of its tasks'
# median times) over the predicted work, its share of the run spent
# blocked in sends, and the task that moved most. Needs an otherwise idle machine with
# two CPUs.
#
# Usage: bash bench/runtime_ab.sh claim|wait [BUILD_DIR] [R] [TRAIN_LIMIT] [MODEL]
set -euo pipefail
cd "$(dirname "$0")/.."
WHAT=${1:?usage: bash bench/runtime_ab.sh claim|wait [BUILD_DIR] [R] [TRAIN_LIMIT] [MODEL]}
BUILD=${2:-build}
R=${3:-4}
LIMIT=${4:-20000}
MODEL=${5:-lenet5}
case $WHAT in
  claim) ARMS=(on off) ;;
  wait) ARMS=(poll sleep) ;;
  *) echo "runtime_ab.sh: expected claim or wait, got '$WHAT'" >&2; exit 1 ;;
esac
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
BIN=$BUILD/bin
"$BIN/layerpipe-profile" "models/$MODEL.json" -o "$OUT/profile.json" >/dev/null
declare -A FLAGS=([layerpipe]="" [zbh1]="--schedule=zb-h1 --micro-batches 4")
for name in layerpipe zbh1; do
  # shellcheck disable=SC2086
  "$BIN/layerpipe" "models/$MODEL.json" --profile "$OUT/profile.json" \
    --procs 2 --micro-batch none ${FLAGS[$name]} --emit-cpp "$OUT/$name" \
    --force >/dev/null
  cmake -S "$OUT/$name" -B "$OUT/$name/build" \
    -DCMAKE_PREFIX_PATH="$PWD/$BUILD" >/dev/null
  cmake --build "$OUT/$name/build" -j"$(nproc)" >/dev/null
done
for ((r = 0; r < R; ++r)); do
  for name in layerpipe zbh1; do
    arms=("${ARMS[@]}")
    if ((r % 2)); then arms=("${ARMS[1]}" "${ARMS[0]}"); fi
    for arm in "${arms[@]}"; do
      if [[ $WHAT == claim ]]; then
        env=(LAYERPIPE_CLAIM_BUFFERS="$arm") flag=()
      else
        env=() flag=(--wait="$arm")
      fi
      # The program is named after its directory.
      env "${env[@]}" "$OUT/$name/build/$name" "${flag[@]}" --epochs 1 \
        --lr 0.05 --momentum 0.9 --seed 1 --train-limit "$LIMIT" \
        --summary-json "$OUT/$name-$arm-$r.json" \
        --trace "$OUT/$name-$arm-$r.trace.json" >/dev/null
    done
  done
done
python3 - "$OUT" "$R" "$MODEL" "$WHAT" "${ARMS[@]}" <<'PY'
import json, statistics, sys
out, R, model, what, A, B = sys.argv[1:7]
R = int(R)

def medians(trace):
    """{(processor, task): median duration} per process of the trace, and
    each processor's time blocked in sends over the run."""
    events = json.load(open(trace))["traceEvents"]
    kind = {e["pid"]: e["args"]["name"].split(":")[0] for e in events
            if e.get("ph") == "M" and e["name"] == "process_name"}
    durations = {"predicted": {}, "measured": {}}
    blocked, span = {}, {}
    for e in events:
        if e.get("ph") == "X" and kind.get(e["pid"]) in durations:
            p = e["tid"] - 1
            durations[kind[e["pid"]]].setdefault((p, e["name"]),
                                                 []).append(e["dur"])
            if kind[e["pid"]] == "measured":
                blocked[p] = blocked.get(p, 0) + e["args"]["send_wait_us"]
                first, last = span.get(p, (e["ts"], e["ts"]))
                span[p] = (min(first, e["ts"]),
                           max(last, e["ts"] + e["dur"]))
    return ({k: {t: statistics.median(v) for t, v in d.items()}
             for k, d in durations.items()},
            {p: blocked[p] / max(1e-9, span[p][1] - span[p][0])
             for p in blocked})

print(f"{model} on 2 processors, medians over {R} runs per arm "
      f"({what} {A} | {B}):")
for name in ("layerpipe", "zbh1"):
    rows = {}
    for arm in (A, B):
        period, rate, work, sends, tasks = [], [], {}, {}, {}
        for r in range(R):
            s = json.load(open(f"{out}/{name}-{arm}-{r}.json"))
            period.append(s["measured_period_us"] / s["predicted_period_us"])
            rate.append(s["samples_per_s"])
            m, blocked = medians(f"{out}/{name}-{arm}-{r}.trace.json")
            for (p, t), us in m["measured"].items():
                tasks.setdefault((p, t), []).append(us)
            for p in {p for p, _ in m["predicted"]}:
                done = sum(us for (q, _), us in m["measured"].items() if q == p)
                planned = sum(us for (q, _), us in m["predicted"].items()
                              if q == p)
                work.setdefault(p, []).append(done / planned)
                sends.setdefault(p, []).append(blocked.get(p, 0))
        rows[arm] = (statistics.median(period), statistics.median(rate),
                     {p: statistics.median(v) for p, v in work.items()},
                     {p: statistics.median(v) for p, v in sends.items()},
                     {t: statistics.median(v) for t, v in tasks.items()})
    (pa, ra, wa, sa, ta), (pb, rb, wb, sb, tb) = rows[A], rows[B]
    print(f"  {name}: period measured/predicted {pa:.2f} | {pb:.2f}; "
          f"samples/s {ra:.0f} | {rb:.0f} ({ra / rb:.2f}x); "
          + ", ".join(f"P{p} work {wa[p]:.2f} | {wb[p]:.2f}, in sends "
                      f"{100 * sa[p]:.1f}% | {100 * sb[p]:.1f}% of its time"
                      for p in sorted(wa)))
    task = max(ta, key=lambda t: abs(tb[t] - ta[t]))
    print(f"    most changed: {task[1]} on P{task[0]}: {ta[task]:.0f} | "
          f"{tb[task]:.0f} us ({B}/{A} {tb[task] / ta[task]:.2f})")
PY
