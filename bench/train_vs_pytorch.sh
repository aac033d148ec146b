#!/usr/bin/env bash
# Speed of the reference trainer against PyTorch, in one go: LeNet-5
# (models/lenet5.json) on Fashion-MNIST, batch 64, lr 0.05, momentum 0.9,
# one thread each (torch.set_num_threads(1); OPENBLAS_NUM_THREADS=1).
# Prints samples/s of each (wall clock, and per CPU second, which other
# processes sharing the cores disturb less) and the ratios ours/PyTorch.
#
# Usage: bench/train_vs_pytorch.sh [EPOCHS=1] [TRAIN_LIMIT=0 (all 60000)]
#        [BUILD_DIR=build]
set -euo pipefail
cd "$(dirname "$0")/.."
EPOCHS=${1:-1}
LIMIT=${2:-0}
BUILD=${3:-build}
TRAIN="$BUILD/bin/layerpipe-train"
[ -x "$TRAIN" ] || { echo "error: $TRAIN not built (cmake --build $BUILD --target layerpipe-train)" >&2; exit 1; }
[ -x /usr/bin/python3 ] && /usr/bin/python3 -c "import torch" 2>/dev/null ||
  { echo "error: /usr/bin/python3 with torch (Debian python3-torch) is required" >&2; exit 1; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

echo "LeNet-5 on Fashion-MNIST: batch 64, lr 0.05, momentum 0.9, $EPOCHS epoch(s), train limit $LIMIT (0 = all), 1 thread"
# Debian's torch calls the system OpenBLAS, whose own thread pool ignores
# torch.set_num_threads: pin every pool to one thread for a fair comparison.
OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 \
/usr/bin/python3 bench/pytorch_lenet.py --epochs "$EPOCHS" --batch 64 --lr 0.05 \
  --momentum 0.9 --seed 1 --train-limit "$LIMIT" --summary-json "$TMP/torch.json"
OPENBLAS_NUM_THREADS=1 "$TRAIN" models/lenet5.json --epochs "$EPOCHS" --batch 64 \
  --lr 0.05 --momentum 0.9 --seed 1 --train-limit "$LIMIT" \
  --summary-json "$TMP/ours.json"
python3 - "$TMP/torch.json" "$TMP/ours.json" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))
o = json.load(open(sys.argv[2]))
print(f"{'':12s} {'samples/s':>10s} {'per CPU s':>10s} {'test acc':>9s}")
for name, r in (("pytorch", t), ("layerpipe", o)):
    print(f"{name:12s} {r['samples_per_s']:10.0f} {r['cpu_samples_per_s']:10.0f} "
          f"{100 * r['test_accuracy']:8.2f}%")
print(f"ratio layerpipe/pytorch: {o['samples_per_s'] / t['samples_per_s']:.2f} (wall), "
      f"{o['cpu_samples_per_s'] / t['cpu_samples_per_s']:.2f} (CPU time)")
PY
