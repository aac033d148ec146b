#!/usr/bin/env python3
"""Cross-checks layerpipe's report JSON against its --emit-dfg JSON.

Usage: check_dfg.py REPORT.json DFG.json

Checks, independently of the compiler's code: the report's task and edge
counts match the DFG file; the critical loop is a cycle of the DFG whose
time / delays equals the reported iteration bound; no cycle has a larger
ratio (Bellman-Ford finds no positive cycle of t(src) - lambda * delay for
lambda just above the bound) and one reaches it (a positive cycle exists
just below); the work is the sum of the task times; every delay is >= 0 and
only weight-loop edges carry delays in the plain DFG. Prints "ok" or the
first failed check, with exit status 1.
"""
import json
import sys


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def has_positive_cycle(n, edges, times, lam):
    dist = [0.0] * n
    for _ in range(n + 1):
        changed = False
        for e in edges:
            w = times[e["src"]] - lam * e["delay"]
            if dist[e["src"]] + w > dist[e["dst"]] + 1e-9 * (1 + abs(dist[e["dst"]])):
                dist[e["dst"]] = dist[e["src"]] + w
                changed = True
        if not changed:
            return False
    return True


def main():
    report = json.load(open(sys.argv[1]))
    dfg = json.load(open(sys.argv[2]))
    tasks, edges = dfg["tasks"], dfg["edges"]
    if report["dfg"]["tasks"] != len(tasks):
        fail("task count %d != %d" % (report["dfg"]["tasks"], len(tasks)))
    if report["dfg"]["edges"] != len(edges):
        fail("edge count %d != %d" % (report["dfg"]["edges"], len(edges)))
    times = [t["time_us"] for t in tasks]
    work = sum(times)
    if abs(work - report["totals"]["work"]) > 1e-6 * work:
        fail("work %g != sum of task times %g" % (report["totals"]["work"], work))
    for e in edges:
        if e["delay"] < 0:
            fail("negative delay on edge %s" % e)
        loop_edge = e["kind"] in ("weight", "update_state")
        if e["delay"] != (1 if loop_edge else 0):
            fail("unexpected delay on edge %s" % e)

    index = {t["name"]: i for i, t in enumerate(tasks)}
    loop = [index[name] for name in report["metrics"]["critical_loop"]]
    # Once a plan is made, the plain DFG's bound moves to
    # iteration_bound_initial and iteration_bound is the planned graph's.
    metrics = report["metrics"]
    bound = metrics.get("iteration_bound_initial", metrics["iteration_bound"])
    delays = 0
    for i, src in enumerate(loop):
        dst = loop[(i + 1) % len(loop)]
        cands = [e["delay"] for e in edges if e["src"] == src and e["dst"] == dst]
        if not cands:
            fail("critical loop: no edge %s -> %s" % (tasks[src]["name"], tasks[dst]["name"]))
        delays += min(cands)
    if delays != report["metrics"]["critical_loop_delays"]:
        fail("critical loop delays %d != %d" % (delays, report["metrics"]["critical_loop_delays"]))
    ratio = sum(times[t] for t in loop) / delays
    if abs(ratio - bound) > 1e-9 * bound:
        fail("critical loop ratio %.9g != iteration bound %.9g" % (ratio, bound))
    if has_positive_cycle(len(tasks), edges, times, bound * (1 + 1e-7)):
        fail("a cycle has a ratio above the iteration bound %g" % bound)
    if not has_positive_cycle(len(tasks), edges, times, bound * (1 - 1e-7)):
        fail("no cycle reaches the iteration bound %g" % bound)
    print("ok")


main()
