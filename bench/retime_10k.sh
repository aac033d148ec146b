#!/usr/bin/env bash
# Retiming benchmark: a synthetic 10,000-layer MLP (5000 dense+relu blocks),
# grouped into 16 stages, LayerPipe2 delays, retimed by the structured stage
# (cutset) path and verified; then the general Leiserson-Saxe minimum-period
# retiming against the stage path on a smaller network, for the ratio.
# Prints the planning-pass times that `layerpipe --time-passes` measures.
#
# Usage: bash bench/retime_10k.sh [BUILD_DIR]   (default: build)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
BIN=$BUILD/bin
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# Seconds of one planning pass ("retiming (...)" etc.) from --time-passes.
pass_time() { # log, pattern
  grep -E "^ +[0-9.]+  $2" "$1" | head -1 | awk '{print $1}'
}
# Median of three runs of the pass time.
measure() { # model, pattern, flags...
  local model=$1 pattern=$2
  shift 2
  local times=()
  for _ in 1 2 3; do
    "$BIN/layerpipe" "$model" --time-passes "$@" >/dev/null 2>"$TMP/log"
    times+=("$(pass_time "$TMP/log" "$pattern")")
  done
  printf '%s\n' "${times[@]}" | sort -g | sed -n 2p
}

"$BIN/layerpipe-gen" --kind mlp --layers 5000 -o "$TMP/mlp10k.json"
"$BIN/layerpipe" "$TMP/mlp10k.json" --stages-count 16 --delays=layerpipe2 \
  > "$TMP/summary.txt"
layers=$(grep -c '"type"' "$TMP/mlp10k.json")
tasks=$(grep -E '^training DFG:' "$TMP/summary.txt" | awk '{print $3}')
echo "network: synthetic MLP, $layers layers, $tasks DFG tasks, 16 stages, --delays=layerpipe2"
grep -E 'retiming:' "$TMP/summary.txt" | sed 's/^ */  /'
t_stage=$(measure "$TMP/mlp10k.json" "retiming" --stages-count 16 \
  --delays=layerpipe2 --retiming=stages)
t_group=$(measure "$TMP/mlp10k.json" "layer grouping" --stages-count 16 \
  --delays=layerpipe2)
echo "stage retiming + verification, 10k layers: $t_stage s (goal < 1 s)"
echo "exact grouping into 16 stages, 10k layers: $t_group s"

# The general algorithm (W/D matrices, Bellman-Ford per candidate period) is
# quadratic in memory; compare both on a network it can handle.
"$BIN/layerpipe-gen" --kind mlp --layers 200 -o "$TMP/mlp400.json"
small_tasks=$("$BIN/layerpipe" "$TMP/mlp400.json" --stages-count 16 \
  --delays=layerpipe2 | grep -E '^training DFG:' | awk '{print $3}')
t_small_stage=$(measure "$TMP/mlp400.json" "retiming" --stages-count 16 \
  --delays=layerpipe2 --retiming=stages)
t_small_general=$(measure "$TMP/mlp400.json" "retiming" --stages-count 16 \
  --delays=layerpipe2 --retiming=min-period)
t_small_memory=$(measure "$TMP/mlp400.json" "retiming" --stages-count 16 \
  --delays=layerpipe2 --retiming=min-memory)
echo "smaller network: $small_tasks DFG tasks, 16 stages"
echo "  stage retiming:      $t_small_stage s"
echo "  min-period retiming: $t_small_general s"
echo "  min-memory retiming: $t_small_memory s"
awk -v a="$t_small_general" -v b="$t_small_stage" -v c="$t_small_memory" \
  'BEGIN { if (b > 0) printf "  ratio min-period / stage: %.0fx, min-memory / stage: %.0fx\n", a / b, c / b }'
