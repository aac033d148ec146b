#!/usr/bin/env python3
"""Random-model sweep for the schedulers (issue 11, docs/reliability.md).

Generates small dense networks whose layers carry measured task times drawn
log-uniformly from [1, 10^SPAN] microseconds, compiles each with a random
schedule kind, processor count, unfolding and micro-batch count, and counts
the runs that end in anything but success or a clean usage error: a schedule
the verifier rejects, a figure that fails its invariants, a crash or a
timeout. Every failing model and command line is kept under OUT/ so that it
can be replayed.

Usage: scripts/sweep-models.py BUILD_DIR RUNS [SPAN] [SEED] [OUT]
"""

import json
import os
import random
import subprocess
import sys


def random_model(rng, span):
    layers = []
    n = rng.randint(1, 12)
    for i in range(n):
        def t():
            return 10 ** rng.uniform(0, span)
        layers.append({
            "name": f"fc{i}", "type": "dense", "units": rng.randint(1, 300),
            "times": {"forward": t(), "activation_gradient": t(),
                      "weight_gradient": t(), "update": t()}})
        if rng.random() < 0.5:
            layers.append({"name": f"relu{i}", "type": "relu",
                           "times": {"forward": t(),
                                     "activation_gradient": t()}})
    layers.append({"name": "loss", "type": "softmax_cross_entropy",
                   "times": {"forward": 10 ** rng.uniform(0, span),
                             "activation_gradient": 10 ** rng.uniform(0, span)}})
    return {"name": "sweep", "input": {"shape": [rng.randint(1, 784)]},
            "batch_size": rng.randint(1, 128), "layers": layers}


def random_flags(rng):
    kind = rng.choice(["layerpipe", "layerpipe", "pipedream", "gpipe", "1f1b",
                       "zb-h1"])
    flags = ["--schedule=" + kind, "--procs=%d" % rng.randint(1, 16)]
    if kind == "layerpipe":
        r = rng.random()
        if r < 0.3:
            flags.append("--unfold=%d" % rng.randint(2, 4))
        elif r < 0.5:
            flags += ["--micro-batches=%d" % rng.randint(1, 16), "--delays=none"]
        if rng.random() < 0.3:
            flags.append("--merge-backward")
    elif kind != "pipedream" and rng.random() < 0.5:
        flags.append("--micro-batches=%d" % rng.randint(1, 32))
    return flags


def main():
    build, runs = sys.argv[1], int(sys.argv[2])
    span = float(sys.argv[3]) if len(sys.argv) > 3 else 9
    seed = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    out = sys.argv[5] if len(sys.argv) > 5 else "sweep-failures"
    rng = random.Random(seed)
    tool = os.path.join(build, "bin", "layerpipe")
    failures = 0
    for run in range(runs):
        model = random_model(rng, span)
        flags = random_flags(rng)
        os.makedirs(out, exist_ok=True)
        path = os.path.join(out, "model-%d.json" % run)
        with open(path, "w") as f:
            json.dump(model, f)
        cmd = [tool, path, "--quiet"] + flags
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
            bad = p.returncode not in (0, 1) or "verification" in p.stderr \
                or "internal" in p.stderr or "bug" in p.stderr
            why = p.stderr.strip().splitlines()[-1:] if bad else []
        except subprocess.TimeoutExpired:
            bad, why = True, ["timeout after 60 s"]
        if bad:
            failures += 1
            print("FAIL", " ".join(cmd), "::", " ".join(why))
        else:
            os.remove(path)
    print("sweep: %d runs, %d failures (span 10^%g, seed %d)" %
          (runs, failures, span, seed))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
