#!/usr/bin/env bash
# Regenerates the "Convergence" section of docs/results-training.md: LeNet-5
# on Fashion-MNIST with the user's settings (--batch 64 --lr 0.05
# --momentum 0.9, 2 epochs) trained sequentially and with the defaults of a
# pipelined run (delays auto, micro-batch auto, stash/ema) on 2, 4 and 8
# stages over several seeds; every correction at the user's batch
# (--micro-batch 64); the hybrid scheme; ResNet-20 at 4 stages; and the
# predicted time to accuracy (the compiler's samples/s at the chosen
# micro-batch x the epochs the trainer needs to reach a target).
#
# Usage: scripts/train_convergence.sh [BUILD_DIR=build]
# Environment: SEEDS="1 2" (seeds of the multi-seed rows), RESULTS_DIR=DIR
# (regenerate the section from an earlier run's logs), OUT_DIR=DIR with
# RESUME=1 (run only what DIR lacks), TRAIN_LIMIT=N (smoke
# test on N images), RESNET_LIMIT (ResNet-20 training images, default
# 4000), RESNET_EPOCHS (default 1), CORRECTIONS (the --micro-batch 64 list),
# PREDICT=0 (with RESULTS_DIR: keep the logs' predicted samples/s instead of
# pricing again with the current compiler).
# Takes ~1 hour on one loaded core.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
TRAIN="$BUILD/bin/layerpipe-train"
COMPILER="$BUILD/bin/layerpipe"
[ -x "$TRAIN" ] || { echo "error: build $TRAIN first" >&2; exit 1; }
OUT=${RESULTS_DIR:-}
SKIP_RUNS=1
[ -n "$OUT" ] || { OUT=$(mktemp -d /tmp/layerpipe-convergence.XXXXXX); SKIP_RUNS=0; }
SEEDS=${SEEDS:-"1 2"}
LIMIT=${TRAIN_LIMIT:-0}
USER_FLAGS="--epochs 2 --batch 64 --lr 0.05 --momentum 0.9"
EXTRA=""
[ "$LIMIT" = 0 ] || EXTRA="--train-limit $LIMIT"
RLIMIT=${RESNET_LIMIT:-4000}
REPOCHS=${RESNET_EPOCHS:-1}
export OPENBLAS_NUM_THREADS=1
CORRECTIONS=${CORRECTIONS:-"none lr momentum spike predict spike-predict pipemare dcasgd"}
# RESUME=1 with OUT_DIR=DIR: keep DIR's finished runs, run the others.
if [ -n "${OUT_DIR:-}" ]; then OUT=$OUT_DIR; SKIP_RUNS=0; mkdir -p "$OUT"; fi
[ "$SKIP_RUNS" = 1 ] || [ "${RESUME:-0}" = 1 ] || : > "$OUT/runs.tsv"
touch "$OUT/runs.tsv"
# A private copy: a rebuild during the hour of runs must not swap the binary.
[ "$SKIP_RUNS" = 1 ] || { cp "$TRAIN" "$OUT/layerpipe-train"; TRAIN="$OUT/layerpipe-train"; }

run() { # group, name, model, flags...
  local group=$1 name=$2 model=$3
  shift 3
  local cmd="layerpipe-train models/$model.json $*"
  [ "$SKIP_RUNS" = 0 ] || return 0
  if [ "${RESUME:-0}" = 1 ] && [ -s "$OUT/$name.json" ]; then
    grep -q "	$name	" "$OUT/runs.tsv" ||
      printf '%s\t%s\t%s\n' "$group" "$name" "$cmd" >> "$OUT/runs.tsv"
    return 0
  fi
  echo "== $name: $cmd" >&2
  nice -n 10 "$TRAIN" "models/$model.json" "$@" $EXTRA \
    --summary-json "$OUT/$name.json" > "$OUT/$name.log" 2>&1 || true
  printf '%s\t%s\t%s\n' "$group" "$name" "$cmd" >> "$OUT/runs.tsv"
}

# 1. The user's settings, defaults only (most important first): sequential,
# 4 stages (stash, ema), 2 stages; then more seeds.
for s in $SEEDS; do
  run seeds "seq-s$s" lenet5 $USER_FLAGS --seed $s
  run seeds "p4-stash-s$s" lenet5 $USER_FLAGS --seed $s --stages-count 4
  run seeds "p4-ema-s$s" lenet5 $USER_FLAGS --seed $s --stages-count 4 --weights=ema
  run seeds "p2-stash-s$s" lenet5 $USER_FLAGS --seed $s --stages-count 2
  # 2. The corrections at the user's batch (--micro-batch 64), 4 stages,
  # layerpipe2's delays 6 4 2 2 2 (the collapse of the issue), seed 1.
  if [ "$s" = "$(echo $SEEDS | cut -d' ' -f1)" ]; then
    for c in $CORRECTIONS; do
      run mb64 "mb64-lp2-$c" lenet5 $USER_FLAGS --seed 1 --stages-count 4 --micro-batch 64 --correction=$c
    done
    # 3. Hybrid: one pipelined epoch, then synchronous.
    run hybrid "hybrid-p4-default" lenet5 $USER_FLAGS --seed 1 --stages-count 4 --hybrid 1
    run hybrid "hybrid-p4-mb64-lr" lenet5 $USER_FLAGS --seed 1 --stages-count 4 --micro-batch 64 --correction=lr --hybrid 1
  fi
done
# Larger micro-batches at 4 stages (more staleness, more samples/s).
run seeds "p4-mb8-s1" lenet5 $USER_FLAGS --seed 1 --stages-count 4 --micro-batch 8
run seeds "p4-mb16-s1" lenet5 $USER_FLAGS --seed 1 --stages-count 4 --micro-batch 16
# Sequential at the 4-stage run's micro-batch (the micro-batch rule alone).
run seeds "seq-mb4-s1" lenet5 $USER_FLAGS --seed 1 --micro-batch 4

# 4. ResNet-20 (Fashion-MNIST variant), 4 stages.
RFLAGS="--epochs $REPOCHS --batch 64 --lr 0.05 --momentum 0.9 --train-limit $RLIMIT --test-limit 2000"
run resnet "resnet-seq" resnet20-fmnist $RFLAGS --seed 1
run resnet "resnet-p4-stash" resnet20-fmnist $RFLAGS --seed 1 --stages-count 4
# The same number of steps sequentially (is the gain the steps or the pipeline?).
run resnet "resnet-seq-mb4" resnet20-fmnist $RFLAGS --seed 1 --micro-batch 4

# 8 stages: b = 2 (the slowest run).
run seeds "p8-stash-s1" lenet5 $USER_FLAGS --seed 1 --stages-count 8

# 5. What a stage program does by default: the compiler's plan for P
# processors (`layerpipe models/lenet5.json --procs P --emit-cpp DIR`, its
# default micro-batch and delays) trained with the user's settings, through
# the trainer with the flags the plan's README gives (a stage program equals
# the trainer bit for bit: ctest stage-programs).
if [ -x "$COMPILER" ]; then
  for variant in p2-stash p4-stash p4-ema p8-stash; do
    p=${variant%%-*}; p=${p#p}; w=${variant#*-}
    dir="$OUT/plan-$variant"
    [ -d "$dir" ] || "$COMPILER" models/lenet5.json --procs $p --weights=$w \
      --emit-cpp "$dir" > /dev/null
    flags=$(sed -n 's/.*layerpipe-train MODEL\.json\(.*\) \[same options\].*/\1/p' "$dir/README.md")
    seeds=1
    [ "$variant" = p4-stash ] && seeds=$SEEDS
    for s in $seeds; do
      run compiled "compiled-$variant-s$s" lenet5 $USER_FLAGS --seed $s $flags
    done
  done
fi

# 6. The compiler's predicted samples/s for each (processors, micro-batch),
# and its own micro-batch choice at 2, 4 and 8 processors (every candidate
# priced). Cheap (seconds), so it runs also when RESULTS_DIR reuses the logs
# of earlier training runs: the predictions are always the current
# compiler's (PREDICT=0 keeps the logs' own predicted.tsv).
if [ "${PREDICT:-1}" = 1 ] && [ -x "$COMPILER" ]; then
  : > "$OUT/predicted.tsv"
  for p in 1 2 4 8; do
    for b in 64 32 16 8 4 2 1; do
      line=$("$COMPILER" models/lenet5.json --procs $p --micro-batch $b \
        --report-json "$OUT/predicted-p$p-b$b.json" 2>&1 | grep -m1 -E "period" || true)
      printf '%s\t%s\t%s\n' "$p" "$b" "$line" >> "$OUT/predicted.tsv"
    done
  done
  for p in 2 4 8; do
    "$COMPILER" models/lenet5.json --procs $p --micro-batch auto \
      --report-json "$OUT/choice-p$p.json" > /dev/null
  done
  git rev-parse --short HEAD > "$OUT/predicted-commit.txt" 2>/dev/null || true
fi

python3 scripts/convergence_page.py "$OUT" docs/results-training.md
echo "logs in $OUT" >&2
