#!/usr/bin/env bash
# Times the summary of a 10,000-layer synthetic network:
#   layerpipe MODEL --report-json /dev/null > /dev/null
# for an MLP and a CNN from layerpipe-gen (5,000 hidden blocks of two layers
# each, plus flatten/loss: 10,002 layers), a few runs each; prints the layer
# and task counts and the min and median wall-clock seconds. Goal: < 2 s.
#
# Usage: bench/summary_10k.sh [BUILD_DIR] [RUNS]   (default: build 5)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
runs=${2:-5}
bin="$build/bin"
for tool in layerpipe layerpipe-gen; do
  if [ ! -x "$bin/$tool" ]; then
    echo "bench: $bin/$tool not found; build first (bash scripts/setup.sh)" >&2
    exit 1
  fi
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

for kind in mlp cnn; do
  model="$tmp/$kind-10k.json"
  "$bin/layerpipe-gen" --kind "$kind" --layers 5000 -o "$model"
  python3 - "$bin/layerpipe" "$model" "$runs" "$kind" <<'PY'
import json, statistics, subprocess, sys, time
tool, model, runs, kind = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
layers = len(json.load(open(model))["layers"])
times = []
for _ in range(runs):
    start = time.perf_counter()
    subprocess.run([tool, model, "--report-json", "/dev/null"],
                   stdout=subprocess.DEVNULL, check=True)
    times.append(time.perf_counter() - start)
out = subprocess.run([tool, model], capture_output=True, text=True,
                     check=True).stdout
dfg = next(l for l in out.splitlines() if l.startswith("training DFG:"))
print(f"{kind}: {layers} layers, {dfg[len('training DFG: '):]}")
print(f"{kind}: summary + report JSON, {runs} runs: "
      f"min {min(times):.3f} s, median {statistics.median(times):.3f} s "
      f"(goal < 2 s: {'met' if statistics.median(times) < 2 else 'NOT met'})")
PY
done
