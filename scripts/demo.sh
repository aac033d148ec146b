#!/usr/bin/env bash
# The main job, end to end, on a fresh Debian 12 machine (as root): sets up
# (installs missing packages, builds), then
#  1. compiles ResNet-20 for 4 processors with LayerPipe2's gradient delays:
#     summary, plan (stages, delays, retiming, memory) and schedule metrics;
#  2. writes the schedule (JSON) and its Gantt chart (SVG, HTML page, Chrome
#     trace, terminal text) to out/;
#  3. writes the same network's PipeDream-style schedule for comparison;
#  4. trains LeNet-5 on Fashion-MNIST for one epoch with the delays of a
#     4-stage pipeline and LayerPipe2's moving-average weights, on the runtime
#     (with the per-layer learning-rate compensation: at lr 0.05 and momentum
#     0.9 the uncompensated 4-stage delays stall, docs/results-training.md);
#  5. profiles LeNet-5 on this machine, compiles it for 2 processors with the
#     measured times, emits the stage program (a C++ project), builds it
#     against the runtime package and trains one epoch on Fashion-MNIST in a
#     2-thread pipeline; its measured trace lands next to the predicted one.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
mkdir -p out

LP=build/bin/layerpipe
MODEL=models/resnet20.json
FLAGS=(--procs 4 --stages-count 4 --delays=layerpipe2 --weights=stash)

echo "== 1. compile $MODEL on 4 processors"
$LP "$MODEL" "${FLAGS[@]}" --report-json out/resnet20-report.json \
  -o out/resnet20-schedule.json --gantt out/resnet20-gantt.svg
for ext in html json txt; do
  $LP "$MODEL" "${FLAGS[@]}" --gantt "out/resnet20-gantt.$ext" >/dev/null
done

echo
echo "== 2. the PipeDream-style schedule of the same network, for comparison"
$LP "$MODEL" --procs 4 --stages-count 4 --schedule=pipedream \
  --gantt out/resnet20-pipedream.svg --print=schedule

echo
echo "== 3. train LeNet-5 on Fashion-MNIST, 4-stage delays (6/4/2/0), ema weights"
build/bin/layerpipe-train models/lenet5.json --data fashion-mnist \
  --stages-count 4 --delays=layerpipe2 --weights=ema --delay-compensation=lr \
  --epochs 1 --batch 64 --lr 0.05 --momentum 0.9 --seed 1 \
  --progress-every 200 --summary-json out/lenet5-train.json

echo
echo "== 4. a stage program: LeNet-5 on 2 processors, profiled, emitted, built, run"
# Profiled at the model's batch and the smaller ones --micro-batch auto (the
# default for a delayed pipeline) prices: it keeps the fastest micro-batch
# whose staleness the delays allow (docs/profile.md).
PROFILES=()
for b in 64 32 16 8 4; do
  build/bin/layerpipe-profile models/lenet5.json --batch $b \
    -o out/lenet5-profile-b$b.json
  PROFILES+=(--profile out/lenet5-profile-b$b.json)
done
$LP models/lenet5.json "${PROFILES[@]}" --procs 2 \
  --gantt out/lenet5-p2-predicted.json --emit-cpp out/lenet5-p2 --force
cmake -S out/lenet5-p2 -B out/lenet5-p2/build -DCMAKE_PREFIX_PATH="$PWD/build" \
  >/dev/null
cmake --build out/lenet5-p2/build -j"$(nproc)" >/dev/null
out/lenet5-p2/build/lenet5-p2 --epochs 1 --lr 0.05 --momentum 0.9 \
  --progress-every 200 --trace out/lenet5-p2-measured.json \
  --compare-html out/lenet5-p2-compare.html \
  --summary-json out/lenet5-p2-run.json
echo "the same numbers from the reference trainer: see out/lenet5-p2/README.md"

echo
echo "outputs in out/:"
ls -1 out
echo "open out/resnet20-gantt.html in a browser, or load out/resnet20-gantt.json in Perfetto;"
echo "out/lenet5-p2-measured.json holds the predicted and the measured timelines (Perfetto);"
echo "out/lenet5-p2-compare.html overlays three rounds of both (docs/codegen.md)."
