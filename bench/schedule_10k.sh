#!/usr/bin/env bash
# Scheduling benchmarks (docs/benchmarks.md, section "Scheduling"):
#  1. a 10,000-layer MLP (layerpipe-gen --kind mlp --layers 10000) compiled
#     and scheduled on 64 processors with LayerPipe2 delays: wall-clock time
#     of the whole run and of the scheduling stage (median of 3), and the
#     period against its lower bound;
#  2. asynchronous period / lower bound for every model-zoo network at 2..16
#     processors (--delays=layerpipe2), on the default machine and with
#     free transfers (the bound does not count transfers);
#  3. synchronous makespans and step times of the Zero Bubble cases against
#     the ZB-H1 / ideal targets.
#
#  4. scale (issue 10): 10,000-layer MLP (--layers 10000) on 64, 256 and
#     1,024 processors and a 100,000-layer MLP (--layers 49999) on 1,024 and
#     4,096 processors, default settings: wall-clock and CPU time of one run,
#     the planning and scheduling stages, and period / lower bound.
#
# Usage: bash bench/schedule_10k.sh [BUILD_DIR] [SECTIONS]
#   SECTIONS: any of 10k,bounds,free,zb,scale (default all)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
SECTIONS=${2:-10k,bounds,free,zb,scale}
BIN=$BUILD/bin
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

metric() { # report, key
  python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['metrics'][sys.argv[2]])" "$1" "$2"
}

if [[ $SECTIONS == *10k* ]]; then
  "$BIN/layerpipe-gen" --kind mlp --layers 10000 -o "$TMP/mlp10k.json"
  totals=() scheds=()
  for _ in 1 2 3; do
    start=$(date +%s.%N)
    "$BIN/layerpipe" "$TMP/mlp10k.json" --procs 64 --delays=layerpipe2 --micro-batch none \
      --time-passes --report-json "$TMP/r.json" >/dev/null 2>"$TMP/log"
    end=$(date +%s.%N)
    totals+=("$(echo "$end - $start" | bc)")
    scheds+=("$(grep -E '^ +[0-9.]+ +[0-9.]+% +scheduling$' "$TMP/log" | awk '{print $1}')")
  done
  med() { printf '%s\n' "$@" | sort -g | sed -n 2p; }
  echo "10,000-layer MLP on 64 processors (--delays=layerpipe2)"
  echo "  whole run, median of 3:        $(med "${totals[@]}") s"
  echo "  scheduling stage, median of 3: $(med "${scheds[@]}") s (incl. verify and simulation)"
  period=$(metric "$TMP/r.json" period)
  lb=$(metric "$TMP/r.json" lower_bound)
  echo "  period $period us, lower bound $lb us, ratio $(echo "scale=4; $period / $lb" | bc)"
  echo
fi

# Period / lower bound for every zoo network at 2..16 processors; extra
# flags (a machine) after the title.
bounds_table() { # title, flags...
  local title=$1
  shift
  echo "$title"
  local procs="2 3 4 5 6 7 8 9 10 11 12 13 14 15 16"
  printf '%-10s' model; for p in $procs; do printf '%7s' "p=$p"; done; echo
  local worst=0 within=0 total=0
  for m in models/*.json; do
    local name
    name=$(basename "$m" .json)
    [[ $name == zb-* ]] && continue
    printf '%-10s' "$name"
    for p in $procs; do
      "$BIN/layerpipe" "$m" --procs "$p" --delays=layerpipe2 --micro-batch none "$@" \
        --report-json "$TMP/r.json" >/dev/null
      r=$(python3 -c "import json; m=json.load(open('$TMP/r.json'))['metrics']; print('%.3f' % (m['period']/m['lower_bound']))")
      printf '%7s' "$r"
      worst=$(python3 -c "print(max($worst, $r))")
      total=$((total + 1))
      within=$(python3 -c "print($within + ($r <= 1.05))")
    done
    echo
  done
  echo "worst ratio: $worst; within 5% of the bound: $within of $total"
  echo
}

if [[ $SECTIONS == *bounds* ]]; then
  bounds_table "Asynchronous period / lower bound (--delays=layerpipe2, default machine)"
fi

if [[ $SECTIONS == *free* ]]; then
  bounds_table "Same, transfers free (--machine test/lit/schedule/Inputs/free-link.json)" \
    --machine test/lit/schedule/Inputs/free-link.json
fi

if [[ $SECTIONS == *zb* ]]; then
  echo "Zero Bubble cases (F=B=W=1, free transfers): makespan of one step / step time back to back"
  machine=test/lit/schedule/Inputs/free-link.json
  printf '%-16s %-28s %9s %9s %s\n' case schedule makespan step target
  for c in "4 8 models/zb-p4-m8.json 27 24" "8 16 models/zb-p8-m16.json 55 48"; do
    set -- $c
    p=$1 m=$2 model=$3 h1=$4 ideal=$5
    for run in "layerpipe K=p:--memory-limit-microbatches $p" \
               "layerpipe K=2p:--memory-limit-microbatches $((2 * p))" \
               "zb-h1:--schedule=zb-h1" "1f1b:--schedule=1f1b" "gpipe:--schedule=gpipe"; do
      label=${run%%:*} flags=${run#*:}
      "$BIN/layerpipe" "$model" --procs "$p" --delays=none --micro-batches "$m" \
        --machine "$machine" $flags --report-json "$TMP/r.json" >/dev/null
      target="ZB-H1 $h1"
      [[ $label == *2p* ]] && target="ideal $ideal per step"
      printf '%-16s %-28s %9s %9s %s\n' "p=$p m=$m" "$label" \
        "$(metric "$TMP/r.json" makespan)" "$(metric "$TMP/r.json" step_time)" "$target"
    done
  done
fi

if [[ $SECTIONS == *scale* ]]; then
  echo
  echo "Scale: MLPs from layerpipe-gen, default settings (one run each)"
  printf '%-22s %6s %8s %8s %9s %10s %10s %10s %7s %s\n' model procs "run (s)" "cpu (s)" "plan (s)" "sched (s)" "period" "bound" ratio placement
  for c in "10000 64" "10000 256" "10000 1024" "49999 1024" "49999 4096"; do
    set -- $c
    n=$1 p=$2
    [[ -f $TMP/mlp$n.json ]] || "$BIN/layerpipe-gen" --kind mlp --layers "$n" -o "$TMP/mlp$n.json"
    # Wall-clock and CPU (user + system) seconds of the whole run; the
    # default micro-batch choice plans several candidates: planning sums
    # their plans (and the grouping-only ones), scheduling every schedule.
    /usr/bin/time -o "$TMP/time" -f '%e %U %S' \
      "$BIN/layerpipe" "$TMP/mlp$n.json" --procs "$p" --time-passes \
      --report-json "$TMP/r.json" >/dev/null 2>"$TMP/log"
    read -r wall user sys <"$TMP/time"
    layers=$(python3 -c "import json; print(len(json.load(open('$TMP/mlp$n.json'))['layers']))")
    plan=$(grep -E '^ +[0-9.]+ +[0-9.]+% +(planning|grouping and delays)$' "$TMP/log" |
      awk '{s += $1} END {printf "%.2f", s}')
    sched=$(grep -E '^ +[0-9.]+ +[0-9.]+% +scheduling$' "$TMP/log" |
      awk '{s += $1} END {printf "%.2f", s}')
    python3 - "$TMP/r.json" "$layers" "$p" "$wall" "$(echo "$user + $sys" | bc)" "$plan" "$sched" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))["metrics"]
print("%-22s %6s %8.2f %8.2f %9s %10s %10.1f %10.1f %7.3f %s" % (
    "mlp, %s layers" % sys.argv[2], sys.argv[3], float(sys.argv[4]),
    float(sys.argv[5]), sys.argv[6], sys.argv[7], m["period"],
    m["lower_bound"], m["period"] / m["lower_bound"],
    m.get("placement", "")))
PY
  done
fi
