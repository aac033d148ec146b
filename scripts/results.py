#!/usr/bin/env python3
"""Regenerates docs/results.md: speedup and utilization of the LayerPipe
schedule against PipeDream, GPipe, 1F1B and ZB-H1 for every network of the
model zoo on 1..16 processors, all on the same cost model (the default
machine). Called by scripts/results.sh; every figure comes from a run of the
layerpipe tool and its --report-json."""

import argparse
import json
import os
import subprocess
import sys
import tempfile

PROCS = [1, 2, 4, 7, 8, 9, 12, 16]
SCHEDULES = ["layerpipe", "pipedream", "gpipe", "1f1b", "zb-h1"]
SYNCHRONOUS = {"gpipe", "1f1b", "zb-h1"}
# The language models: on the GPU machine file, at 4, 8 and 16 processors,
# against the asynchronous and synchronous baselines.
LM_MODELS = ["gpt2-small", "tinyllama-1.1b"]
LM_MACHINE = "models/machines/gpu.json"
LM_PROCS = [4, 8, 16]
LM_SCHEDULES = ["layerpipe", "pipedream", "1f1b", "zb-h1"]
COLOURS = {"layerpipe": "#4e79a7", "pipedream": "#e15759", "gpipe": "#59a14f",
           "1f1b": "#f28e2b", "zb-h1": "#b07aa1"}


def speedup_plot(name, procs, results):
    """An SVG line plot of speedup against processor count, one line per
    schedule, with the ideal speedup (= p) dashed."""
    width, height, left, right, top, bottom = 640, 400, 56, 130, 40, 48
    plot_w, plot_h = width - left - right, height - top - bottom
    top_p = max(procs)
    top_s = max([top_p] + [results[(name, p, s)]["speedup"]
                           for p in procs for s in SCHEDULES])

    def x(p):
        return left + plot_w * (p - 1) / max(1, top_p - 1)

    def y(v):
        return top + plot_h * (1 - v / top_s)

    svg = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
           'viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">'
           % (width, height, width, height),
           '<rect width="100%" height="100%" fill="#fff"/>',
           '<text x="%d" y="22" font-size="15" font-weight="bold">%s: speedup '
           'against processors</text>' % (left, name)]
    for p in procs:
        svg.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#eee"/>'
                   '<text x="%.1f" y="%d" text-anchor="middle">%d</text>'
                   % (x(p), top, x(p), top + plot_h, x(p), top + plot_h + 16, p))
    step = 2 if top_s <= 16 else 4
    for v in range(0, int(top_s) + 1, step):
        svg.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#eee"/>'
                   '<text x="%d" y="%.1f" text-anchor="end">%d</text>'
                   % (left, y(v), left + plot_w, y(v), left - 6, y(v) + 4, v))
    svg.append('<text x="%d" y="%d" text-anchor="middle">processors</text>'
               % (left + plot_w / 2, height - 10))
    svg.append('<text x="14" y="%d" transform="rotate(-90 14 %d)" '
               'text-anchor="middle">speedup (sequential time / period)</text>'
               % (top + plot_h / 2, top + plot_h / 2))
    svg.append('<polyline fill="none" stroke="#999" stroke-dasharray="5,4" '
               'points="%s"/>' % " ".join("%.1f,%.1f" % (x(p), y(p))
                                          for p in procs))
    entries = [("ideal (= p)", "#999")] + [(s, COLOURS[s]) for s in SCHEDULES]
    for s in SCHEDULES:
        points = [(x(p), y(results[(name, p, s)]["speedup"])) for p in procs]
        svg.append('<polyline fill="none" stroke="%s" stroke-width="2" '
                   'points="%s"/>' % (COLOURS[s], " ".join(
                       "%.1f,%.1f" % pt for pt in points)))
        for px, py in points:
            svg.append('<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>'
                       % (px, py, COLOURS[s]))
    for i, (label, colour) in enumerate(entries):
        ly = top + 10 + 20 * i
        svg.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" '
                   'stroke-width="2"/><text x="%d" y="%d">%s</text>'
                   % (left + plot_w + 14, ly, left + plot_w + 34, ly, colour,
                      left + plot_w + 40, ly + 4, label))
    svg.append("</svg>")
    return "\n".join(svg) + "\n"


def run(tool, model, procs, schedule, machine=None):
    args = [tool, model, "--procs", str(procs), "--schedule=" + schedule]
    if machine:
        args += ["--machine", machine]
    if schedule == "layerpipe":
        args.append("--delays=layerpipe2")
    if schedule in SYNCHRONOUS:
        args += ["--micro-batches", str(4 * procs)]
    else:
        # Every schedule at the model's batch (an asynchronous plan's
        # default --micro-batch auto would take smaller steps).
        args += ["--micro-batch", "none"]
    with tempfile.NamedTemporaryFile(suffix=".json") as report:
        done = subprocess.run(args + ["--report-json", report.name],
                              stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
        if done.returncode != 0:
            sys.exit("failed: %s\n%s" % (" ".join(args), done.stderr))
        return json.load(open(report.name))["metrics"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", default="build")
    parser.add_argument("--out", default="docs/results.md")
    parser.add_argument("--procs", default=",".join(map(str, PROCS)))
    opts = parser.parse_args()
    tool = os.path.join(opts.build, "bin", "layerpipe")
    procs = [int(p) for p in opts.procs.split(",")]
    # The language models have their own section on the GPU machine; the
    # tiny GPT is the trainer's test model.
    models = sorted(m for m in os.listdir("models")
                    if m.endswith(".json") and not m.startswith("zb-")
                    and m[:-5] not in LM_MODELS + ["tiny-gpt"])

    results = {}
    for model in models:
        name = model[:-5]
        for p in procs:
            for s in SCHEDULES:
                print("%s p=%d %s" % (name, p, s), file=sys.stderr)
                results[(name, p, s)] = run(tool, os.path.join("models", model),
                                            p, s)

    out = []
    out.append("# Results: LayerPipe against the schedules users know\n")
    out.append("Generated by `bash scripts/results.sh` (do not edit by hand). "
               "Every network of the model zoo (`models/`, the Zero Bubble "
               "test cases aside) is compiled on the default machine "
               "(docs/cost-model.md) for each processor count and scheduled "
               "five ways on the same cost model:\n")
    out.append("- **layerpipe**: `--delays=layerpipe2`, modulo schedule of the "
               "retimed DFG with the B/G split, default placement "
               "(`--placement=auto`: the layers' stages or a free placement "
               "within 1.5x the stages' bytes, links as a resource; "
               "asynchronous; period per mini-batch);")
    out.append("- **pipedream**: asynchronous 1F1B, one stage per processor, "
               "whole backward (B+G) as one task, weight stashing;")
    out.append("- **gpipe**, **1f1b**, **zb-h1**: synchronous with a flush, "
               "m = 4p micro-batches per step, each micro-batch timed like one "
               "mini-batch; their period is makespan / m.\n")
    out.append("Speedup = sequential time of the same work / period; "
               "utilization = work / (p x period). A synchronous step updates "
               "the weights once for its m micro-batches, so its work per "
               "micro-batch is F+B+G plus U/m. Stages for the baselines "
               "are the planner's optimal contiguous grouping into p stages "
               "(fewer when the model has fewer layers).\n")

    gains = []
    plot_dir = os.path.join(os.path.dirname(opts.out) or ".", "results")
    os.makedirs(plot_dir, exist_ok=True)
    for model in models:
        name = model[:-5]
        out.append("## %s\n" % name)
        with open(os.path.join(plot_dir, name + "-speedup.svg"), "w") as f:
            f.write(speedup_plot(name, procs, results))
        out.append("![%s: speedup against processors, per schedule]"
                   "(results/%s-speedup.svg)\n" % (name, name))
        out.append("| p | " + " | ".join(
            "%s speedup | util." % s for s in SCHEDULES) + " | layerpipe / pipedream |")
        out.append("|---:|" + "---:|---:|" * len(SCHEDULES) + "---:|")
        for p in procs:
            row = ["%d" % p]
            for s in SCHEDULES:
                m = results[(name, p, s)]
                row.append("%.2fx" % m["speedup"])
                row.append("%.0f%%" % (100 * m["utilization"]))
            ratio = (results[(name, p, "layerpipe")]["speedup"] /
                     results[(name, p, "pipedream")]["speedup"])
            row.append("%.2f" % ratio)
            if p in (7, 8, 9):
                gains.append((ratio - 1, name, p))
            out.append("| " + " | ".join(row) + " |")
        out.append("")

    out.append("## Language models on the GPU machine\n")
    out.append("GPT-2 small (untied output projection, 163 M parameters, "
               "batch 8 x 1024 tokens) and TinyLlama-1.1B (batch 4 x 2048 "
               "tokens) from `models/`, compiled with `--machine %s` at "
               "%s processors, the same five-way setup as above (layerpipe: "
               "`--delays=layerpipe2`; 1f1b and zb-h1: m = 4p "
               "micro-batches). Period per mini-batch in ms, speedup "
               "against one processor.\n"
               % (LM_MACHINE, ", ".join(map(str, LM_PROCS))))
    for name in LM_MODELS:
        path = os.path.join("models", name + ".json")
        out.append("### %s\n" % name)
        out.append("| p | " + " | ".join(
            "%s period | speedup" % s for s in LM_SCHEDULES) + " |")
        out.append("|---:|" + "---:|---:|" * len(LM_SCHEDULES))
        for p in LM_PROCS:
            row = ["%d" % p]
            for s in LM_SCHEDULES:
                print("%s p=%d %s (gpu)" % (name, p, s), file=sys.stderr)
                m = run(tool, path, p, s, LM_MACHINE)
                row.append("%.1f" % (m["period"] / 1000.0))
                row.append("%.2fx" % m["speedup"])
            out.append("| " + " | ".join(row) + " |")
        out.append("")
    out.append(
        "Reading: in GPT-2 small the output projection (768 x 50,257 over "
        "8,192 tokens: 53 ms for each of its F, B and G on this machine) "
        "outweighs any single layer of the blocks (a whole block is 37 ms of "
        "work, spread over 10 layers). "
        "PipeDream's stage holding it does F+B+G+U of that one layer, 163 "
        "ms, from 4 processors on; 1f1b and zb-h1 are bounded the same way "
        "plus their bubble. At the default placement (auto, byte budget "
        "1.5x the stage layout's bytes) layerpipe keeps that layer's tasks "
        "on one processor too and ties PipeDream. With --placement=free it "
        "puts the layer's B on another processor than its F and G and "
        "reaches 110 ms at 8 processors (the iteration bound of the layer's "
        "own weight loop F -> loss -> G -> U, which layerpipe2 leaves "
        "undelayed on the last stage), but moves 10.5 GiB per iteration "
        "against 696 MiB (busiest link 66% of the period): over the byte "
        "budget, so auto does not take it. TinyLlama's 22 "
        "uniform blocks balance, so every schedule scales; layerpipe and "
        "pipedream within 4% of each other, the synchronous schedules "
        "behind by their fill/drain bubble.\n")

    out.append("## The LayerPipe paper's claim\n")
    if gains:
        mean = 100 * sum(g for g, _, _ in gains) / len(gains)
        best = max(gains)
        worst = min(gains)
        # "Confirm" means LayerPipe is at least as much faster as the paper
        # says; gains well above the paper's are said to exceed it.
        verdict = ("do not confirm" if mean < 25 else
                   "confirm (and exceed)" if mean > 50 else "confirm")
        out.append(
            "The paper reports LayerPipe 25%% faster than PipeDream-style "
            "pipelining on average and up to 80%% faster with 7-9 processors. "
            "Over the %d model/processor pairs with p in {7, 8, 9} we measure "
            "an average gain of %.0f%% (best %.0f%% on %s at p=%d, worst "
            "%.0f%% on %s at p=%d), so we %s the average claim%s.\n"
            % (len(gains), mean, 100 * best[0], best[1], best[2],
               100 * worst[0], worst[1], worst[2], verdict,
               (" and reach the 80% maximum" if mean >= 25 else
                "; the best case reaches the 80% maximum")
               if 100 * best[0] >= 80 else
               (" but not the 80% maximum" if mean >= 25 else
                ", nor the 80% maximum")))
        out.append(
            "How this changed with issue 10 (links as a resource): earlier "
            "versions of this page let every transfer overlap every other "
            "without limit and placed F, B, G and U of one layer on "
            "different processors; that measured an average gain of 74% at "
            "p in {7, 8, 9}, but moved up to 70x PipeDream's bytes per "
            "iteration and would have needed up to 16 periods of link time "
            "per period on some processors. Now each transfer holds its "
            "link channels (one transfer at a time per direction per "
            "processor on the default switch topology; docs/cost-model.md, "
            "\"Link contention\"), the verifier rejects overloaded links, "
            "and the default placement (`--placement=auto`, "
            "`--byte-budget 1.5`) keeps a layer's tasks on one processor "
            "(contiguous stages, PipeDream's 1F1B steady state with B and G "
            "split) unless a free placement is shorter by more than the link "
            "time it adds and sends at most 1.5x the stages' bytes; it also "
            "keeps the best schedule over fewer processors. On the same "
            "stages LayerPipe reaches PipeDream's period, and it is ahead "
            "where the free placement fits the budget (small and uneven "
            "networks: lenet5, alexnet, mlp) or where its B/G split and "
            "placement on fewer processors avoid a slow stage. The large "
            "earlier gains came from moving saved activations between "
            "processors for free; with the links counted and the bytes "
            "bounded they mostly disappear, which is the honest result on "
            "this cost model. `--placement=free --byte-budget 0` gives the "
            "shortest period regardless of bytes (still with the links "
            "counted). Our PipeDream baseline has one stage per processor "
            "and no stage replication, on the planner's grouping. Since "
            "2026-12-02 that grouping charges a stage the larger of its work "
            "and its boundary link time (a link is its own resource), not "
            "their sum; PipeDream's stages gained most from it (resnet20-fmnist "
            "at p=9: 3.90x -> 7.37x, LayerPipe 7.06x -> 8.11x), so the mean "
            "gain at p in {7, 8, 9} fell from 11% to the figure above while "
            "both schedules got faster. Both schedules are asynchronous and "
            "pay staleness for it; the synchronous schedules (gpipe, 1f1b, "
            "zb-h1) carry no staleness and pay the fill/drain bubble "
            "instead (their steps are timed without link contention).\n")
    out.append("Accuracy of the delayed pipelines in training: see "
               "[results-training.md](results-training.md).")
    # The stage-program section (scripts/stage_results.py) is measured, not
    # computed here: keep it.
    marker = "<!-- stage programs: scripts/stage_results.py -->"
    kept = ""
    if os.path.exists(opts.out):
        old = open(opts.out).read()
        if marker in old:
            kept = "\n" + old[old.find(marker):]
    with open(opts.out, "w") as f:
        f.write("\n".join(out) + "\n" + kept)


if __name__ == "__main__":
    main()
