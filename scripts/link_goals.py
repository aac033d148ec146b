#!/usr/bin/env python3
"""Checks the link-contention goals of issue 10 on the model zoo: for every
model x processors x machine preset, LayerPipe's period against PipeDream's
and its bytes per iteration against PipeDream's, both scheduled with the
links as a resource (docs/cost-model.md, "Link contention"). Prints a
Markdown table and a summary; exit status 1 if a goal fails.
Usage: scripts/link_goals.py [--build build] [--procs 2,4,8]"""

import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile


def run(tool, model, procs, schedule, machine):
    with tempfile.NamedTemporaryFile(suffix=".json") as report:
        subprocess.run([tool, model, "--procs", str(procs),
                        "--schedule=" + schedule, "--machine", machine,
                        "--micro-batch", "none",  # the model's batch
                        "--quiet", "--report-json", report.name], check=True)
        return json.load(open(report.name))["metrics"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", default="build")
    parser.add_argument("--procs", default="2,4,8")
    parser.add_argument("--models", default="")
    opts = parser.parse_args()
    tool = os.path.join(opts.build, "bin", "layerpipe")
    models = opts.models.split(",") if opts.models else sorted(
        m for m in glob.glob("models/*.json") if "/zb-" not in m)
    machines = sorted(glob.glob("models/machines/*.json"))
    machines = [m for m in machines if "free-link" not in m]
    procs = [int(p) for p in opts.procs.split(",")]
    rows, slower, heavier = [], 0, 0
    print("| model | p | machine | LayerPipe period (us) | PipeDream period (us) "
          "| gain | placement | LayerPipe MB/iter | PipeDream MB/iter | bytes ratio "
          "| busiest link |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for model in models:
        for p in procs:
            for machine in machines:
                lp = run(tool, model, p, "layerpipe", machine)
                pd = run(tool, model, p, "pipedream", machine)
                ratio = lp["comm_bytes"] / max(1, pd["comm_bytes"])
                slow = lp["period"] > pd["period"] * (1 + 1e-6)
                heavy = ratio > 1.5 and lp["comm_bytes"] > 0
                slower += slow
                heavier += heavy
                print("| %s | %d | %s | %.1f | %.1f | %+.1f%% | %s | %.2f | %.2f "
                      "| %.2f%s | %.0f%% |" % (
                          os.path.basename(model)[:-5], p,
                          os.path.basename(machine)[:-5], lp["period"],
                          pd["period"],
                          100 * (pd["period"] / lp["period"] - 1),
                          lp.get("placement", ""), lp["comm_bytes"] / 1e6,
                          pd["comm_bytes"] / 1e6, ratio,
                          " (over 1.5)" if heavy else "",
                          100 * max(lp["link_utilization"] or [0])))
                sys.stdout.flush()
                rows.append((lp, pd))
    print()
    print("%d cases; LayerPipe slower than PipeDream in %d, bytes over 1.5x "
          "PipeDream's in %d" % (len(rows), slower, heavier))
    return 1 if slower or heavier else 0


if __name__ == "__main__":
    sys.exit(main())
