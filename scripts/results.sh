#!/usr/bin/env bash
# Regenerates docs/results.md and its plots (docs/results/MODEL-speedup.svg,
# speedup against processors per schedule): LayerPipe vs PipeDream, GPipe, 1F1B and ZB-H1
# on the model zoo at 1..16 processors. Usage: bash scripts/results.sh
# [BUILD_DIR] (default build; built if the tool is missing).
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build}"
if [ ! -x "$build/bin/layerpipe" ]; then
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$build" -j"$(nproc)" --target layerpipe
fi
python3 scripts/results.py --build "$build" --out docs/results.md
echo "wrote docs/results.md and the speedup plots docs/results/*.svg"
