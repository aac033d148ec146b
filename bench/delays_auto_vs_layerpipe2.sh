#!/usr/bin/env bash
# --delays=layerpipe2, auto and schedule on the model zoo at 2, 4 and 8
# processors: the delays of the layers with weights and the scheduled
# period of each (the compiler's headline). "worse" compares a rule's period
# with layerpipe2's.
#
# Usage: bench/delays_auto_vs_layerpipe2.sh [BUILD_DIR=build]
set -eu  # no pipefail: `grep -m1 | head -1` may end with SIGPIPE
cd "$(dirname "$0")/.."
BIN=${1:-build}/bin/layerpipe
echo "| model | P | layerpipe2 delays | period (us) | auto delays | period (us) | auto worse? | schedule delays | period (us) | schedule worse? |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for m in ${MODELS:-lenet5 mlp alexnet resnet20 resnet20-fmnist vgg16 resnet56}; do
  for p in 2 4 8; do
    row="| $m | $p"
    periods=()
    for rule in layerpipe2 auto schedule; do
      # --micro-batch none: every rule at the model's batch (the default auto
      # micro-batch would price each rule at its own b).
      out=$(nice -n 10 "$BIN" models/$m.json --procs $p --delays=$rule --micro-batch none --print=plan,summary 2>&1 || true)
      # Per stage from the plan (layerpipe2, auto); per layer with weights
      # from the headline's note (schedule).
      if [ "$rule" = schedule ]; then
        d=$(echo "$out" | sed -n 's/^  delays: *schedule \([0-9 ]*\) (period.*/\1 (per layer)/p' | head -1)
      else
        d=$(echo "$out" | sed -n 's/^  gradient delays: *\([0-9/]*\) by stage.*/\1 (per stage)/p' | head -1)
      fi
      d=${d:-?}
      per=$(echo "$out" | grep -m1 -oE "period: *[0-9.]+ (us|ms|s)" | head -1)
      periods+=("${per:-?}")
      row="$row | $d | ${per#period: }"
      if [ "$rule" != layerpipe2 ]; then
        row="$row | $(python3 -c "
import sys
def us(t):
    v, u = t.split()[-2:]
    return float(v) * {'us': 1, 'ms': 1e3, 's': 1e6}[u]
a, b = sys.argv[1:]
print('?' if '?' in (a, b) else ('yes' if us(b) > us(a) * 1.0001 else 'no'))" "${periods[0]}" "${per:-?}")"
      fi
    done
    echo "$row |"
  done
done
