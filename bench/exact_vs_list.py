#!/usr/bin/env python3
"""The list scheduler against the exact optimum (--scheduler=exact, CBC).

docs/benchmarks.md, "Exact optimum against the list scheduler". Two sets:

  random  60 seeded random graphs of 6-30 tasks on 2-4 processors, half of
          them with transfers (the "distribution" case of unit-exact);
  models  the zoo's models of at most 60 tasks (mlp, zb-p4-m8, lenet5,
          zb-p8-m16, alexnet) and generated cnn1, cnn2, mlp1, mlp2, on 2-4
          processors, on the default machine (5 us + 10 GB/s links, switch)
          and with free transfers (models/machines/free-link.json), through
          the layerpipe tool with --placement=free (the list scheduler on
          the same problem, the period alone).

For each case it prints the list period, the exact period, the proven lower
bound and list / bound (the list scheduler's distance from the optimum; an
upper estimate where the search ran out of time), then the distribution.

Usage: python3 bench/exact_vs_list.py [BUILD_DIR] [--limit SECONDS]
       [--sets random,models]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def summarize(name, rows):
    if not rows:
        return
    ratios = [r["list"] / r["bound"] for r in rows]
    exact = [r["list"] / r["exact"] for r in rows]
    closed = sum(1 for r in rows if r["optimal"])
    within = sum(1 for x in ratios if x <= 1.05 + 1e-9)
    print(f"\n{name}: {len(rows)} cases, {closed} solved to optimality "
          f"(gap <= 0.1%)")
    print(f"  list / proven bound: mean {statistics.mean(ratios):.3f}, "
          f"median {statistics.median(ratios):.3f}, worst {max(ratios):.3f}; "
          f"within 1.05x: {within} of {len(rows)}")
    print(f"  list / exact period: mean {statistics.mean(exact):.3f}, "
          f"worst {max(exact):.3f}")
    solved = [r["list"] / r["exact"] for r in rows if r["optimal"]]
    if solved:
        print(f"  solved cases, list / optimum: mean "
              f"{statistics.mean(solved):.3f}, worst {max(solved):.3f}, "
              f"within 1.05x: {sum(1 for x in solved if x <= 1.05 + 1e-9)} "
              f"of {len(solved)}")
    open_ = [r for r in rows if not r["optimal"]]
    if open_:
        lo = [r["list"] / r["exact"] for r in open_]
        hi = [r["list"] / r["bound"] for r in open_]
        print(f"  unsolved cases ({len(open_)}): list / optimum between "
              f"list / exact (mean {statistics.mean(lo):.3f}, worst "
              f"{max(lo):.3f}) and list / bound (mean "
              f"{statistics.mean(hi):.3f}, worst {max(hi):.3f})")
    for label, sel in (("with transfers", True), ("free transfers", False)):
        sub = [r for r in rows if r["transfers"] == sel]
        if sub:
            rs = [r["list"] / r["bound"] for r in sub]
            print(f"  {label}: {len(sub)} cases, mean {statistics.mean(rs):.3f}, "
                  f"worst {max(rs):.3f}, within 1.05x: "
                  f"{sum(1 for x in rs if x <= 1.05 + 1e-9)}")
    worst = sorted(rows, key=lambda r: -r["list"] / r["bound"])[:5]
    print("  worst cases: " + "; ".join(
        f"{r['case']} {r['list'] / r['bound']:.3f}" for r in worst))


def random_set(build, limit):
    exe = os.path.join(build, "bin", "unit-exact")
    if not os.path.exists(exe):
        exe = os.path.join(build, "test", "unit-exact")
    env = dict(os.environ, EXACT_TIME_LIMIT=str(limit))
    proc = subprocess.Popen([exe, "--no-skip", "-tc=distribution"], env=env,
                            stdout=subprocess.PIPE, text=True)
    rows = []
    print("random graphs (seed 12345): tasks procs transfers topology | "
          "list exact bound | list/bound", flush=True)
    for line in proc.stdout:
        f = line.split()
        if len(f) != 9 or not f[0].isdigit():
            continue
        r = {"case": f"random n={f[0]} p={f[1]} {f[3]}"
                     f"{' +bytes' if f[2] == 'yes' else ''}",
             "transfers": f[2] == "yes", "list": float(f[4]),
             "exact": float(f[5]), "bound": float(f[6]),
             "optimal": f[8] == "optimal"}
        rows.append(r)
        print(f"  {f[0]:>2} {f[1]} {f[2]:>3} {f[3]:<14} | {r['list']:8.2f} "
              f"{r['exact']:8.2f} {r['bound']:8.2f} | "
              f"{r['list'] / r['bound']:.3f} {f[8]}", flush=True)
    if proc.wait() != 0:
        sys.exit("unit-exact failed (an assertion above)")
    return rows


def random_from(path):
    """The random rows of an earlier run's output (to summarise again)."""
    rows = []
    for line in open(path):
        f = line.replace("|", " ").split()
        if len(f) != 9 or not f[0].isdigit() or f[2] not in ("yes", "no"):
            continue
        rows.append({"case": f"random n={f[0]} p={f[1]} {f[3]}"
                             f"{' +bytes' if f[2] == 'yes' else ''}",
                     "transfers": f[2] == "yes", "list": float(f[4]),
                     "exact": float(f[5]), "bound": float(f[6]),
                     "optimal": f[8] == "optimal"})
    return rows


def model_set(build, limit):
    bindir = os.path.join(build, "bin")
    tmp = tempfile.mkdtemp()
    models = []
    for kind, layers in (("cnn", 1), ("cnn", 2), ("mlp", 1), ("mlp", 2)):
        path = os.path.join(tmp, f"{kind}{layers}.json")
        subprocess.run([os.path.join(bindir, "layerpipe-gen"), "--kind", kind,
                        "--layers", str(layers), "-o", path], check=True,
                       capture_output=True)
        models.append((f"{kind}{layers}", path))
    # The zoo's models of at most 60 tasks.
    for name in ("mlp", "zb-p4-m8", "lenet5", "zb-p8-m16", "alexnet"):
        models.append((name, os.path.join(ROOT, "models", name + ".json")))
    machines = (("default", None, True),
                ("free-link", os.path.join(ROOT, "models", "machines",
                                           "free-link.json"), False))
    rows = []
    print("\nmodels (layerpipe --placement=free): "
          "model machine procs | list exact bound | list/bound")
    for name, path in models:
        for mname, mpath, transfers in machines:
            for procs in (2, 3, 4):
                report = os.path.join(tmp, "r.json")
                # --placement=free: the list scheduler on the problem the
                # exact one solves (the period alone; auto may keep the
                # stages for their bytes, docs/scheduling.md).
                cmd = [os.path.join(bindir, "layerpipe"), path, "--procs",
                       str(procs), "--placement=free", "--scheduler=exact",
                       "--exact-time-limit", str(limit), "--report-json",
                       report]
                if mpath:
                    cmd += ["--machine", mpath]
                p = subprocess.run(cmd, capture_output=True, text=True)
                if p.returncode != 0:
                    print(f"  {name} {mname} p={procs}: {p.stderr.strip()}")
                    continue
                m = json.load(open(report))["metrics"]
                x = m["exact"]
                r = {"case": f"{name} {mname} p={procs}",
                     "transfers": transfers, "list": x["list_period"],
                     "exact": m["period"], "bound": x["proven_lower_bound"],
                     "optimal": x["optimal"]}
                rows.append(r)
                print(f"  {name:<9} {mname:<9} {procs} | {r['list']:9.2f} "
                      f"{r['exact']:9.2f} {r['bound']:9.2f} | "
                      f"{r['list'] / r['bound']:.3f} "
                      f"{'optimal' if r['optimal'] else 'time-limit'}",
                      flush=True)
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build", nargs="?", default=os.path.join(ROOT, "build"))
    ap.add_argument("--limit", type=float, default=20)
    ap.add_argument("--sets", default="random,models")
    ap.add_argument("--random-from", help="summarise the random rows of an "
                    "earlier run's output instead of running them")
    args = ap.parse_args()
    sets = args.sets.split(",")
    if args.random_from:
        random_rows = random_from(args.random_from)
    else:
        random_rows = (random_set(args.build, args.limit)
                       if "random" in sets else [])
    model_rows = model_set(args.build, args.limit) if "models" in sets else []
    summarize("random graphs", random_rows)
    summarize("models", model_rows)
    summarize("all", random_rows + model_rows)


if __name__ == "__main__":
    sys.exit(main())
