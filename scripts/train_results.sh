#!/usr/bin/env bash
# Regenerates docs/results-training.md: LeNet-5 on Fashion-MNIST (batch 64,
# lr 0.05, momentum 0.9, 2 epochs, seed 1) trained sequentially, with the
# stage delays of 2 and 4 stages (layerpipe2 and auto) under the stash,
# latest and ema weight policies, the hybrid scheme, and the speed against
# PyTorch. Every figure is printed with the command that produced it.
#
# Usage: scripts/train_results.sh [BUILD_DIR=build]   (takes ~20 minutes)
# ONLY=compensation in the environment runs just the sequential run and the
# delay-compensation rows (~8 minutes) and rewrites only the page's last
# section, "Delay compensation".
# TRAIN_LIMIT=N in the environment trains on the first N images only (a
# quick smoke test of the script; the committed results use all 60,000).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
TRAIN="$BUILD/bin/layerpipe-train"
[ -x "$TRAIN" ] || { echo "error: build $TRAIN first" >&2; exit 1; }
# RESULTS_DIR=DIR regenerates the page from the logs of an earlier run.
OUT=${RESULTS_DIR:-}
SKIP_RUNS=1
[ -n "$OUT" ] || { OUT=$(mktemp -d /tmp/layerpipe-train-results.XXXXXX); SKIP_RUNS=0; }
LIMIT=${TRAIN_LIMIT:-0}
COMMON="--epochs 2 --batch 64 --seed 1"
MAIN="--lr 0.05 --momentum 0.9"   # the required setting
SMALL="--lr 0.02 --momentum 0.5"  # a smaller step, for the delayed runs
[ "$LIMIT" = 0 ] || COMMON="$COMMON --train-limit $LIMIT"
export OPENBLAS_NUM_THREADS=1

ONLY=${ONLY:-}
[ "$SKIP_RUNS" = 1 ] || : > "$OUT/runs.tsv"
[ "$SKIP_RUNS" = 1 ] || : > "$OUT/comp.tsv"
TSV=runs.tsv
run() { # name, flags...
  [ "$SKIP_RUNS" = 0 ] || return 0
  local name=$1
  shift
  local cmd="layerpipe-train models/lenet5.json $COMMON $*"
  echo "== $name: $cmd" >&2
  # A diverged run exits 1 and its summary says so; the table shows it.
  nice "$TRAIN" models/lenet5.json $COMMON "$@" --summary-json "$OUT/$name.json" \
    > "$OUT/$name.log" 2>&1 || true
  printf '%s\t%s\n' "$name" "$cmd" >> "$OUT/$TSV"
}

# Delay compensation (docs/training-semantics.md): the 4-stage layerpipe2
# delays under every policy and compensation, then the best of the
# compensated 4-stage runs applied to 2 stages and to the hybrid scheme.
compensation_runs() {
  TSV=comp.tsv
  for w in stash ema latest; do
    for c in none momentum lr; do
      run "comp-layerpipe2-4-$w-$c" $MAIN --delays=layerpipe2 --stages-count 4 --weights=$w --delay-compensation=$c
    done
  done
  [ "$SKIP_RUNS" = 1 ] || read -r BEST_W BEST_C < <(python3 - "$OUT" <<'PY'
import json, os, sys
out = sys.argv[1]
best = None
for line in open(os.path.join(out, "comp.tsv")):
    name = line.split("\t")[0]
    r = json.load(open(os.path.join(out, name + ".json")))
    if r["delay_compensation"] == "none":
        continue
    acc = -1 if r.get("diverged") else r["test_accuracy"]
    if best is None or acc > best[0]:
        best = (acc, r["policy"], r["delay_compensation"])
print(best[1], best[2])
PY
)
  [ "$SKIP_RUNS" = 1 ] || {
    for c in momentum lr; do
      run "comp-layerpipe2-2-$BEST_W-$c" $MAIN --delays=layerpipe2 --stages-count 2 --weights=$BEST_W --delay-compensation=$c
    done
    run "comp-hybrid-layerpipe2-4-$BEST_W-$BEST_C" $MAIN --delays=layerpipe2 --stages-count 4 --weights=$BEST_W --delay-compensation=$BEST_C --hybrid 1
  }
  # Reference: sequential training (no delays) at the steps lr compensation
  # gives the fc layers (η/3) and conv1 (η/7) of the 4-stage plan: what the
  # smaller step alone costs in 2 epochs.
  run "ref-sequential-lr-div3" --lr 0.0166667 --momentum 0.9 --delays=none
  run "ref-sequential-lr-div7" --lr 0.00714286 --momentum 0.9 --delays=none
  TSV=runs.tsv
}

run sequential $MAIN --delays=none
# The "Convergence" section (scripts/train_convergence.sh) is kept as it is.
keep_convergence() {
  python3 - "$OUT/convergence.keep" <<'PY'
import sys
page = open("docs/results-training.md").read()
b = page.find("<!-- BEGIN convergence")
e = page.find("<!-- END convergence -->")
if b >= 0 and e >= 0:
    body = page[b:e + len("<!-- END convergence -->")]
    page = page[:b].rstrip("\n") + "\n" + page[e + len("<!-- END convergence -->"):]
    open(sys.argv[1], "w").write(body + "\n")
    open("docs/results-training.md", "w").write(page)
PY
}
append_convergence() {
  [ -s "$OUT/convergence.keep" ] || return 0
  printf '\n' >> docs/results-training.md
  cat "$OUT/convergence.keep" >> docs/results-training.md
}
keep_convergence
if [ "$ONLY" = compensation ]; then
  compensation_runs
else
for rule in layerpipe2 auto; do
  for s in 2 4; do
    for w in stash latest ema; do
      run "$rule-$s-$w" $MAIN --delays=$rule --stages-count $s --weights=$w
    done
  done
done
for w in stash latest ema; do
  run "hybrid-layerpipe2-4-$w" $MAIN --delays=layerpipe2 --stages-count 4 --weights=$w --hybrid 1
done
# The same 4-stage delays with a smaller step (lr 0.02, momentum 0.5): the
# rows marked "small step".
run "sequential-small-step" $SMALL --delays=none
for w in stash latest ema; do
  run "layerpipe2-4-$w-small-step" $SMALL --delays=layerpipe2 --stages-count 4 --weights=$w
done
run "hybrid-layerpipe2-4-ema-small-step" $SMALL --delays=layerpipe2 --stages-count 4 --weights=ema --hybrid 1
# Independent cross-check of delayed SGD: PyTorch applying each gradient one
# step late against our uniform delay 1 with stash, same setting.
run "uniform1-stash" $MAIN --delays=uniform:1 --weights=stash
[ "$SKIP_RUNS" = 1 ] || /usr/bin/python3 bench/pytorch_lenet.py --epochs 2 --batch 64 --lr 0.05 \
  --momentum 0.9 --seed 1 --train-limit "$LIMIT" --delay 1 \
  > "$OUT/torch-delay1.log" 2>&1 || true
[ "$SKIP_RUNS" = 1 ] ||
  bash bench/train_vs_pytorch.sh 2 "$LIMIT" "$BUILD" > "$OUT/bench.log" 2>&1
compensation_runs
fi

# The "Delay compensation" section (the last of the page).
python3 - "$OUT" <<'PY' > "$OUT/compensation.md"
import json, os, sys
out = sys.argv[1]
seq = json.load(open(os.path.join(out, "sequential.json")))
rows = [l.rstrip("\n").split("\t") for l in open(os.path.join(out, "comp.tsv"))]
print("## Delay compensation\n")
print("`--delay-compensation=momentum` gives each layer the momentum "
      "μ_l = a/(1 + a), a = max(0, μ/(1 − μ) − D_l) (the gradient's mean age "
      "stays that of sequential training); `--delay-compensation=lr` the step "
      "η_l = η/(1 + D_l) (docs/training-semantics.md). Same setting as above "
      "(lr 0.05, momentum 0.9, 2 epochs, seed 1); the 2-stage and hybrid rows "
      "use the policy of the compensated 4-stage run with the best test "
      "accuracy (picked by the script), the hybrid row its compensation too; "
      "the ref- rows train sequentially at a smaller lr. The 1-point target: Δ ≥ −1.00 against the sequential run "
      f"({100 * seq['test_accuracy']:.2f}%).\n")
print("| run | delays (conv1..fc3) | policy | compensation | test acc | Δ vs sequential | final train loss | per-epoch test acc |")
print("|---|---|---|---|---|---|---|---|")
for name, _ in [("sequential", "")] + rows:
    r = json.load(open(os.path.join(out, name + ".json")))
    if r.get("diverged"):
        print(f"| {name} | | {r['policy']} | {r['delay_compensation']} | diverged | | {r['message']} | |")
        continue
    d = " ".join(str(v) for v in r["delays"].values())
    eps = " / ".join(f"{100 * e['test_accuracy']:.2f}%" for e in r["per_epoch"])
    print(f"| {name} | {d} | {r['policy']} | {r['delay_compensation']} | "
          f"{100 * r['test_accuracy']:.2f}% | {100 * (r['test_accuracy'] - seq['test_accuracy']):+.2f} | "
          f"{r['final_loss']:.4f} | {eps} |")
print("\nCommands (sequential: `layerpipe-train models/lenet5.json --epochs 2 "
      "--batch 64 --seed 1 --lr 0.05 --momentum 0.9 --delays=none`):\n")
for name, cmd in rows:
    print(f"- {name}: `{cmd}`")
best = max((r for r in (json.load(open(os.path.join(out, n + ".json")))
                          for n, _ in rows)
             if r["delay_compensation"] != "none"),
           key=lambda r: -1 if r.get("diverged") else r["test_accuracy"])
gap = 100 * (best["test_accuracy"] - seq["test_accuracy"]) if not best.get("diverged") else None
if gap is not None:
    print(f"\nBest compensated run: {best['policy']} with {best['delay_compensation']} "
          f"(delays {best['delays_rule']}, {best['stages']} stages, hybrid {best['hybrid']}), "
          f"Δ = {gap:+.2f} points: the 1-point target is "
          f"{'met' if gap >= -1.0 else 'not met'}.")
print("""
Reading these rows (the measurements above; the stability figures are from
docs/training-semantics.md, "How much each rule buys"):

- **The `none` rows reproduce the main table** (same accuracy, loss and
  divergence step): the flag's default changes nothing.
- **`momentum` does not rescue 4 stages.** Keeping the gradient's mean age
  (μ_l = 0.75 / 0.83 / 0.875 for D = 6 / 4 / 2) gives a delayed layer only
  1.25–2.7× more stable step on a quadratic, against the 75–210× that
  μ = 0.9 with these delays takes away; stash and ema stay at chance level
  and latest still diverges. With 2 stages it recovers 0.2 points.
- **`lr` turns the stalled 4-stage runs into training runs** (stash and ema
  reach 78–79%), but they end about 9 points behind. The smaller step alone
  does not explain that: sequential training at η/3 and η/7 (the steps lr
  compensation gives fc1–fc3 and conv1) loses only 1.3 and 2.7 points in 2
  epochs (ref- rows). The rest is attributable to the delay itself: in the
  quadratic model η/(1 + D) recovers only 3–7× of the 75–210× of stable
  step the delay removes, so high-curvature directions stay near or past
  the edge and the run trains, but less efficiently. `latest` diverges
  even with it (its B pairs δ from old weights with the current weights).
- **Best results:** 2 stages with `lr` (only conv1 delayed, D = 2) gets
  within 1.89 points (uncompensated 2.66); hybrid K = 1 with `lr` (4 stages
  for the first epoch, synchronous for the second) within 3.73.
- **Verdict: the 1-point target is not met** at lr 0.05 / momentum 0.9 in
  2 epochs, by any policy and compensation measured here. Per-layer
  compensation of μ or η alone cannot undo the two orders of magnitude of
  stability margin that a 2–6 step delay takes from heavy ball at μ = 0.9.
  Not measured here: combining both rules, a lower global μ for delayed
  runs, or longer training.""")
PY
if [ "$ONLY" = compensation ]; then
  python3 - "$OUT/compensation.md" <<'PY'
import sys
page = open("docs/results-training.md").read()
cut = page.find("## Delay compensation")
page = (page[:cut] if cut >= 0 else page.rstrip("\n") + "\n\n")
open("docs/results-training.md", "w").write(page + open(sys.argv[1]).read())
PY
  append_convergence
  echo "rewrote the Delay compensation section of docs/results-training.md (logs in $OUT)" >&2
  exit 0
fi

# The tiny GPT section (scripts/train_gpt_results.sh) is measured there:
# keep it across a rewrite of the page.
GPT_SECTION=$(sed -n '/^<!-- tiny GPT:/,/^<!-- end tiny GPT -->/p' \
  docs/results-training.md 2>/dev/null || true)
python3 - "$OUT" <<'PY' > docs/results-training.md
import json, os, sys
out = sys.argv[1]
runs = [l.rstrip("\n").split("\t") for l in open(os.path.join(out, "runs.tsv"))]
res = {name: json.load(open(os.path.join(out, name + ".json"))) for name, _ in runs}
cmds = dict(runs)
seq = res["sequential"]
def kib(b): return f"{b / 1024:.1f}"
print("# Training results: LeNet-5 on Fashion-MNIST\n")
print("Generated by `scripts/train_results.sh` (do not edit by hand). Every run:")
print("`layerpipe-train models/lenet5.json --epochs 2 --batch 64 --seed 1 "
      "--lr 0.05 --momentum 0.9` (rows named *small-step*: `--lr 0.02 "
      "--momentum 0.5`) plus the flags in the table, on the full data "
      "(60,000 training, 10,000 test images), one thread, on a 2-core machine "
      "shared with other jobs (so samples/s are indicative; the benchmark "
      "section compares CPU time too). Test accuracy is that of the weights "
      "after the last step; delays are per layer with weights "
      "(conv1 conv2 fc1 fc2 fc3), from the planner.\n")
print("| run | delays (conv1..fc3) | policy | test acc | Δ vs its sequential run | final train loss | weights KiB | stashed weights KiB | optimizer KiB | activations KiB (peak) | samples/s |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for name, _ in runs:
    r = res[name]
    if r.get("diverged"):
        print(f"| {name} | | {r['policy']} | diverged | | {r['message']} | | | | | |")
        continue
    d = " ".join(str(v) for v in r["delays"].values())
    base = res["sequential-small-step"] if "small-step" in name else seq
    delta = 100 * (r["test_accuracy"] - base["test_accuracy"])
    print(f"| {name} | {d} | {r['policy']} | {100 * r['test_accuracy']:.2f}% | "
          f"{delta:+.2f} | {r['final_loss']:.4f} | {kib(r['weight_memory_bytes'])} | "
          f"{kib(r['stashed_weight_bytes'])} | {kib(r['optimizer_bytes'])} | "
          f"{kib(r['activation_bytes'])} | {r['samples_per_s']:.0f} |")
print("""
## Reading the table

- **Which policy matters where.** conv1 reads the network input, so it has
  no B task: its weight policy is never consulted and `stash` keeps no
  versions for it. With 2 stages only conv1 is delayed (layerpipe2 2 steps,
  auto 1 step), so stash, latest and ema give identical numbers there; the
  policies differ only where a delayed layer with weights has a B (conv2,
  fc1–fc3 with 4 stages).
- **Memory per policy.** `stash` keeps D_l older versions of each delayed
  layer whose B runs (the *stashed weights* column); `latest` keeps none;
  `ema` with momentum keeps none either (it rebuilds Ŵ = W + η·D·m from the
  momentum buffer already counted under *optimizer*). Activations grow with
  the delays: every batch in flight keeps its inputs, outputs and δ until
  the last of its backward tasks (D_l + 1 batches per layer).
- **Why the delayed runs fall behind.** A gradient delay turns heavy-ball
  SGD into a delayed recursion whose stable step size is much smaller than
  the undelayed one, and lr 0.05 with momentum 0.9 is already near the edge
  for LeNet-5. With 2 stages only conv1 is delayed (1–2 steps) and the cost
  is a few points after 2 epochs; with 4 stages (delays up to 6) `stash`
  stalls at chance level (loss ≈ 2.30: the early updates blow up and the
  ReLUs die) and `latest` diverges to NaN (its B pairs a δ computed with
  old weights with the current weights, an inconsistent gradient). `ema` is
  the most robust: it reaches the best delayed accuracy where the others
  fail, because its reconstructed Ŵ = W + η·D·m undoes the momentum drift
  of the last D steps. This is a property of delayed SGD, not of the
  implementation: `stash` is checked bit for bit against an independent
  delayed-SGD loop and `latest` against hand-written kernel calls in the
  unit tests. PyTorch applying each gradient one step late (cross-check
  section) suffers the same way: with the same setting it stalls at chance
  level, while our uniform1-stash run (other initial weights and batch
  order) ends well below the sequential one; at this step size delayed SGD
  sits at the edge of stability and the seed decides which side a run
  lands on. The
  *small-step* rows (lr 0.02, momentum 0.5) train the same 4-stage delays
  normally with `stash` and `ema`; their Δ compares with the sequential run
  at that setting. A linear warm-up (`--lr-warmup 500`) did not rescue
  lr 0.05 / momentum 0.9 in a one-epoch trial.
- **Hybrid.** `--hybrid 1` trains the first epoch pipelined and the second
  synchronously; it recovers only if the pipelined epoch did not already
  destroy the network.
- **Delay compensation.** The last section measures the opt-in per-layer
  momentum and learning-rate compensation on the same setting.""")
print("\n## Commands\n")
for name, cmd in runs:
    print(f"- {name}: `{cmd}`")
print("\n## Per-epoch test accuracy\n")
print("| run | " + " | ".join(f"epoch {i + 1}" for i in range(len(seq["per_epoch"]))) + " |")
print("|---|" + "---|" * len(seq["per_epoch"]))
for name, _ in runs:
    if res[name].get("diverged"):
        continue
    eps = res[name]["per_epoch"]
    cells = " | ".join(f"{100 * e['test_accuracy']:.2f}%" + (" (pipelined)" if e["pipelined"] else "") for e in eps)
    print(f"| {name} | {cells} |")
print("\n## Cross-check: delayed SGD in PyTorch\n")
print("`/usr/bin/python3 bench/pytorch_lenet.py --epochs 2 --batch 64 --lr 0.05 "
      "--momentum 0.9 --seed 1 --delay 1` applies every gradient one step "
      "late (on the weights of its own step), i.e. the semantics of the "
      "uniform1-stash row above, implemented independently:\n")
print("```")
print(open(os.path.join(out, "torch-delay1.log")).read().rstrip())
print("```")
print("\n## Speed against PyTorch\n")
print("`bench/train_vs_pytorch.sh 2 0` (both on one thread, same model, data, "
      "batch, lr, momentum; samples/s of training only):\n")
print("```")
print(open(os.path.join(out, "bench.log")).read().rstrip())
print("```\n")
print(open(os.path.join(out, "compensation.md")).read().rstrip())
PY
if [ -n "$GPT_SECTION" ]; then
  GPT_SECTION="$GPT_SECTION" python3 - <<'PY'
import os
path = "docs/results-training.md"
page, block = open(path).read(), os.environ["GPT_SECTION"] + "\n"
cut = page.find("## Delay compensation")
page = page + "\n" + block if cut < 0 else page[:cut] + block + "\n" + page[cut:]
open(path, "w").write(page)
PY
fi
append_convergence
echo "wrote docs/results-training.md (logs in $OUT)" >&2
