#!/usr/bin/env python3
"""Stage programs measured: speed against the reference trainer, measured
period against the predicted one, and the ranking of schedules.

For LeNet-5 and ResNet-20 (Fashion-MNIST input) it profiles the model on this
machine (layerpipe-profile), compiles it with that profile for 1 and 2
processors, emits, builds and runs each stage program for one epoch on
Fashion-MNIST, and runs the single-thread reference trainer with the flags the
program's README gives. At 2 processors it also runs the layerpipe, pipedream,
1f1b and zb-h1 schedules to compare their ranking measured and predicted.
Writes docs/results-stage-programs.md and the matching section of
docs/results.md.

Usage: python3 scripts/stage_results.py [--build build] [--out DIR]
       [--lenet-limit N] [--resnet-limit N] [--repeats R]
Run it on an otherwise idle machine: two processor threads need both cores.
Every program runs R times (default 5), the runs of one table taking turns
(round robin, each round starting one later), and the tables give the median
run; the measured/predicted column also gives the lowest and highest run, so
the spread from run to run stands next to the error. Right before every run
the model is profiled again and the compiler prices the program's flags
with that profile, so the machine's drift between the first profile and a
run (up to 25% here) stands apart from the model's error. A run during which
a CPU of its processors probed more than 1.15x slower than the profile's CPU
(--slow-cpu) is set aside and repeated after a pause (--retries, --pause);
the tables say which runs were. Schedules predicted
within 1% of each other share a rank (--tie), as do their measured figures
when those lie within 1%: the ranking check counts the pairs of schedules
that are ordered apart in the prediction and the other way round measured.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time

MARKER = "<!-- stage programs: scripts/stage_results.py -->"
READING = "## Reading the figures"


def sh(cmd, **kw):
    out = subprocess.run(cmd, shell=True, text=True, capture_output=True, **kw)
    if out.returncode != 0:
        sys.exit(f"failed: {cmd}\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
    return out.stdout


def profile_step_us(path):
    """One training step on one thread by a profile: its tasks' sum (a
    layer's merged_backward times its B and G again, in another order)."""
    layers = json.load(open(path))["layers"]
    return sum(t for times in layers.values() for k, t in times.items()
               if t > 0 and k not in ("merged_backward", "input_load"))


def predicted_period(opts, model, profile, flags):
    """The compiler's period (report metric) for a model with a profile."""
    report = os.path.join(opts.out, "period.report.json")
    sh(f"{opts.build}/bin/layerpipe models/{model}.json --profile {profile} "
       f"{flags} --report-json {report}")
    return json.load(open(report))["metrics"]["period"]


def emit(opts, model, profile, flags, name):
    d = os.path.join(opts.out, name)
    sh(f"{opts.build}/bin/layerpipe models/{model}.json --profile {profile} "
       f"{flags} --emit-cpp {d} --force -o {d}.schedule.json")
    sh(f"cmake -S {d} -B {d}/build -DCMAKE_PREFIX_PATH={opts.build} "
       f"-DCMAKE_BUILD_TYPE=Release")
    sh(f"cmake --build {d}/build -j2")
    readme = open(f"{d}/README.md").read()
    ref = re.search(r"layerpipe-train MODEL\.json(.*) \[same options\]",
                    readme).group(1)
    return d, ref


def plan_of(schedule):
    """What a stage program is built from: every task's processor (and
    micro-batch or iteration offset)."""
    tasks = json.load(open(schedule))["tasks"]
    return sorted((t["name"], t["proc"], t.get("micro_batch", 0),
                   t.get("iteration_offset", 0)) for t in tasks)


def fresh_prediction(opts, model, d, flags, run):
    """Profiles the model again right before a run and prices the program's
    flags with that profile: the compiler's period (per step for a
    synchronous schedule), the profiled step, and whether the compiler
    lays out the same plan as the program was built from."""
    fresh = f"{d}.profile{run}.json"
    sh(f"{opts.build}/bin/layerpipe-profile models/{model}.json -o {fresh}")
    report, schedule = f"{d}.fresh{run}.report.json", f"{d}.fresh{run}.json"
    sh(f"{opts.build}/bin/layerpipe models/{model}.json --profile {fresh} "
       f"{flags} --report-json {report} -o {schedule}")
    metrics = json.load(open(report))["metrics"]
    return {"predicted_us": metrics.get("step_time") or metrics["period"],
            "step_us": profile_step_us(fresh),
            "same_plan": plan_of(schedule) == plan_of(f"{d}.schedule.json")}


def closed_loop(opts, model, d, run, flags, profile):
    """Measured over the compiler's period from the run's own trace
    (--times-from-trace: every task's median measured work, a stage task's
    split over its layers), and whether the compiler keeps the plan the
    program was built from."""
    report, schedule = f"{d}.closed.report.json", f"{d}.closed.json"
    sh(f"{opts.build}/bin/layerpipe models/{model}.json --profile {profile} "
       f"--times-from-trace {run['trace']} {flags} --report-json {report} "
       f"-o {schedule}")
    metrics = json.load(open(report))["metrics"]
    predicted = metrics.get("step_time") or metrics["period"]
    return (run["measured_period_us"] / predicted,
            plan_of(schedule) == plan_of(f"{d}.schedule.json"))


def run_program(opts, model, d, name, flags, train, run, profile):
    """One run of a program, priced against a profile taken right before
    it. A run during which a CPU of its processors probed more than
    --slow-cpu times slower than the profile's CPU is set aside and
    repeated after a pause, up to --retries times: this host runs one of
    its two virtual CPUs 1.3-1.7x slower for minutes at a time
    (results-stage-programs.md), which no profile taken on the fast one
    predicts. The runs set aside are kept in the result ("set_aside")."""
    set_aside = []
    for attempt in range(opts.retries + 1):
        fresh = fresh_prediction(opts, model, d, flags, run)
        summary = f"{d}.summary{run}.json"
        sh(f"{d}/build/{name} {train} --summary-json {summary} "
           f"--trace {d}.trace{run}.json")
        result = json.load(open(summary))
        slowest = max(cpu_speeds(result, profile).values(), default=1.0)
        if slowest <= opts.slow_cpu or attempt == opts.retries:
            break
        set_aside.append((round(result["measured_period_us"] /
                                result["predicted_period_us"], 2),
                          round(slowest, 2)))
        print(f"{name}: run {run} set aside, a CPU at {slowest:.2f}x the "
              f"profile's; again in {opts.pause} s", file=sys.stderr)
        time.sleep(opts.pause)
    result["set_aside"] = set_aside
    result["fresh"] = fresh
    result["trace"] = f"{d}.trace{run}.json"
    result["fresh_ratio"] = result["measured_period_us"] / fresh[
        "predicted_us"]
    result["per_processor"] = processor_figures(f"{d}.trace{run}.json",
                                                result, profile)
    return result


def cpu_speeds(summary, profile):
    """{CPU: its probe during the run over the probe of the CPU the profile
    was timed on}, for the CPUs the run's processors were bound to; the
    slower of the probes before and after the run (above 1 is slower)."""
    ref = profile_probe_us(profile)
    if not ref:
        return {}
    return {cpu: max(us) / ref for cpu, us in run_probes_us(summary).items()
            if cpu in summary.get("processor_cpus", [])}


def run_probes_us(summary):
    """{CPU: (its probe before the run, after it)} from a run's summary."""
    probe = summary.get("cpu_probe", {})
    return {cpu: (probe["loop_us_before"][at], probe["loop_us_after"][at])
            for at, cpu in enumerate(probe.get("cpus", []))}


def profile_probe_us(profile):
    """The probe's time on the CPU the profile was timed on, or None."""
    prof = json.load(open(profile)).get("cpu")
    if not prof:
        return None
    return prof["probe_loop_us_before"][prof["cpus"].index(prof["timed_on"])]


def processor_figures(trace, summary, profile):
    """Per processor: its median work measured over predicted, and the
    speed of its CPU during the run (the program's probe before and after,
    averaged) over the speed of the CPU the profile was timed on (its probe
    then); above 1 is slower."""
    work = trace_work(trace)
    ref = profile_probe_us(profile)
    probes = run_probes_us(summary)
    parts = []
    for i, tid in enumerate(sorted({k[0] for k in work})):
        m = sum(w[1] for k, w in work.items() if k[0] == tid)
        p = sum(w[2] for k, w in work.items() if k[0] == tid)
        text = f"P{i} {m / p:.2f}"
        cpus = summary.get("processor_cpus", [])
        if ref and i < len(cpus) and cpus[i] in probes:
            run_us = sum(probes[cpus[i]]) / 2
            text += f" (CPU {cpus[i]} at {run_us / ref:.2f})"
        parts.append(text)
    return ", ".join(parts)


def set_aside_text(programs):
    """The runs set aside for a slow CPU, per program: (label, run)."""
    parts = [f"{label}: " + ", ".join(f"{ratio:.2f} (a CPU at {cpu:.2f}x)"
                                      for ratio, cpu in prog["set_aside"])
             for label, prog in programs if prog["set_aside"]]
    if not parts:
        return "No run was set aside for a slow CPU."
    return ("Runs set aside for a slow CPU and repeated (their "
            "measured/predicted period, and the slowest CPU's probe against "
            "the profile's): " + "; ".join(parts) + ".")


def median_run(runs):
    """The run with the median measured period, with the spread of all."""
    if any(r["measured_period_us"] <= 0 for r in runs):
        sys.exit(f"{runs[0]['schedule']}: a run measured no steady-state "
                 f"period; train on more samples (--lenet-limit, "
                 f"--resnet-limit)")
    ordered = sorted(runs, key=lambda r: r["measured_period_us"])
    pick = dict(ordered[len(ordered) // 2])
    pick["low_ratio"] = ordered[0]["measured_period_us"] / \
        ordered[0]["predicted_period_us"]
    pick["high_ratio"] = ordered[-1]["measured_period_us"] / \
        ordered[-1]["predicted_period_us"]
    pick["runs"] = len(ordered)
    pick["set_aside"] = [a for r in runs for a in r["set_aside"]]
    fresh = sorted(r["fresh_ratio"] for r in runs)
    pick["fresh_low"], pick["fresh_high"] = fresh[0], fresh[-1]
    pick["fresh_median"] = fresh[len(fresh) // 2]
    pick["fresh_steps"] = [r["fresh"]["step_us"] for r in runs]
    pick["fresh_same_plan"] = all(r["fresh"]["same_plan"] for r in runs)
    pick["fresh_predicted"] = sorted(
        r["fresh"]["predicted_us"] for r in runs)[len(runs) // 2]
    return pick


def ranks(value, tie):
    """1-based ranks, highest value first; values within the fraction tie
    of the best of a group share its rank."""
    order = sorted(value, key=lambda s: -value[s])
    rank, lead = {}, None
    for i, s in enumerate(order):
        if lead is None or value[s] < value[lead] * (1 - tie):
            lead, r = s, i + 1
        rank[s] = r
    return rank


def discordant(pred, meas, tie):
    """Pairs ordered apart (by more than tie) predicted and the other way
    round (by more than tie) measured."""
    names = sorted(pred)
    bad = []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            if pred[a] > pred[b] * (1 + tie) and meas[b] > meas[a] * (1 + tie):
                bad.append((a, b))
            if pred[b] > pred[a] * (1 + tie) and meas[a] > meas[b] * (1 + tie):
                bad.append((b, a))
    return bad


def verdict(pred, meas, tie):
    """Whether measured figures keep the predicted order (pair by pair)."""
    bad = discordant(pred, meas, tie)
    if not bad:
        return "measured in the predicted order"
    return "ordered the other way round measured: " + ", ".join(
        f"{a} ahead of {b} predicted" for a, b in bad)


def fresh_text(run):
    """Measured over predicted from the profiles taken right before each
    run: the median of the runs' ratios and their range; a dagger where
    the compiler laid out another plan from such a profile."""
    return (f"{run['fresh_median']:.2f} ({run['fresh_low']:.2f}-"
            f"{run['fresh_high']:.2f})" +
            ("" if run["fresh_same_plan"] else " †"))


def fresh_steps(speed, ranking):
    """Per model, the profiled step times taken right before each run."""
    steps = {}
    for model, _, prog, _, _, _ in speed:
        steps.setdefault(model, []).extend(prog["fresh_steps"])
    for model, _, prog in ranking:
        steps.setdefault(model, []).extend(prog["fresh_steps"])
    return sorted(steps.items())


def trace_work(path):
    """Per task of a program's trace, keyed by (processor thread, name):
    its kind, its median measured work and its predicted work."""
    events = json.load(open(path))["traceEvents"]
    measured, predicted = {}, {}
    for e in events:
        if e.get("ph") != "X":
            continue
        key = (e["tid"], e["name"])
        if e["pid"] == 2:
            measured.setdefault(key, []).append(e["dur"])
        else:
            predicted[key] = (e["cat"], e["dur"])
    work = {}
    for key, durations in measured.items():
        kind, pred = predicted[key]
        durations.sort()
        work[key] = (kind, durations[len(durations) // 2], pred)
    return work


def trace_breakdown(path):
    """Measured over predicted median work, summed per task kind."""
    by_kind = {}
    for kind, m, p in trace_work(path).values():
        sm, sp = by_kind.get(kind, (0.0, 0.0))
        by_kind[kind] = (sm + m, sp + p)
    return ", ".join(f"{k} {m / p:.2f}" for k, (m, p) in sorted(
        by_kind.items()) if p > 0)


def run_reference(opts, model, ref, train, name):
    summary = os.path.join(opts.out, f"{name}.reference.json")
    sh(f"{opts.build}/bin/layerpipe-train models/{model}.json {ref} {train} "
       f"--summary-json {summary}")
    return json.load(open(summary))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--out", default="out/stage-results")
    ap.add_argument("--lenet-limit", type=int, default=0)
    ap.add_argument("--resnet-limit", type=int, default=6400)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--tie", type=float, default=0.01)
    ap.add_argument("--slow-cpu", type=float, default=1.15,
                    help="set a run aside when a CPU of its processors "
                    "probed this much slower than the profile's")
    ap.add_argument("--retries", type=int, default=3)
    ap.add_argument("--pause", type=int, default=30,
                    help="seconds to wait before repeating a run set aside")
    opts = ap.parse_args()
    opts.build = os.path.abspath(opts.build)
    shutil.rmtree(opts.out, ignore_errors=True)
    os.makedirs(opts.out)
    cpu = sh("lscpu | sed -n 's/^Model name: *//p'").strip()
    models = [("lenet5", opts.lenet_limit), ("resnet20-fmnist",
                                              opts.resnet_limit)]
    speed, ranking, drift = [], [], []
    for model, limit in models:
        profile = os.path.join(opts.out, f"{model}.profile.json")
        sh(f"{opts.build}/bin/layerpipe-profile models/{model}.json "
           f"-o {profile}")
        train = "--epochs 1 --lr 0.05 --momentum 0.9 --seed 1"
        if limit:
            train += f" --train-limit {limit}"
        built = []
        for p in (1, 2):
            name = f"{model}-p{p}"
            # The profile is at the model's batch: plans keep it.
            flags = f"--procs {p} --micro-batch none"
            d, ref = emit(opts, model, profile, flags, name)
            built.append((p, name, d, ref, flags))
        progs = {name: [] for _, name, _, _, _ in built}
        bases = {name: [] for _, name, _, _, _ in built}
        for r in range(opts.repeats):
            for p, name, d, ref, flags in built[r % 2:] + built[:r % 2]:
                progs[name].append(run_program(opts, model, d, name, flags,
                                               train, r, profile))
                bases[name].append(run_reference(opts, model, ref, train,
                                                 name))
        for p, name, d, ref, flags in built:
            prog = median_run(progs[name])
            prog["flags"] = flags
            base = sorted(bases[name],
                          key=lambda b: b["samples_per_s"])[opts.repeats // 2]
            same = all(pr["weights_checksum"] == b["weights_checksum"]
                       for pr, b in zip(progs[name], bases[name]))
            speed.append((model, p, prog, base, same, ref))
        scheds = ("layerpipe", "pipedream", "1f1b", "zb-h1")
        built = []
        for sched in scheds:
            flags = f"--procs 2 --schedule {sched}"
            if sched in ("1f1b", "zb-h1"):
                flags += " --micro-batches 4"
            else:
                flags += " --micro-batch none"
            name = f"{model}-{sched}-p2"
            d, _ = emit(opts, model, profile, flags, name)
            built.append((sched, name, d, flags))
        runs = {sched: [] for sched in scheds}
        for r in range(opts.repeats):
            k = r % len(built)
            for sched, name, d, flags in built[k:] + built[:k]:
                prog = run_program(opts, model, d, name, flags, train, r,
                                   profile)
                prog["by_kind"] = trace_breakdown(f"{d}.trace{r}.json")
                runs[sched].append(prog)
        for sched, name, d, flags in built:
            pick = median_run(runs[sched])
            pick["closed"] = closed_loop(opts, model, d, pick, flags, profile)
            ranking.append((model, sched, pick))
        # The machine's speed may drift while the programs run: profile
        # again and compare the step times.
        again = os.path.join(opts.out, f"{model}.profile-after.json")
        sh(f"{opts.build}/bin/layerpipe-profile models/{model}.json "
           f"-o {again}")
        drift.append((model, profile_step_us(profile),
                      profile_step_us(again)))
        # What the compiler predicts with the later profile: the programs'
        # prediction scaled by the ratio of the compiler's two periods.
        for m, _, prog, _, _, _ in speed:
            if m == model:
                scale = (predicted_period(opts, model, again, prog["flags"]) /
                         predicted_period(opts, model, profile,
                                          prog["flags"]))
                prog["after_ratio"] = prog["measured_period_us"] / (
                    prog["predicted_period_us"] * scale)

    out = [MARKER, "",
           "## Stage programs: measured against predicted", "",
           f"Regenerate with `python3 scripts/stage_results.py` (on an idle "
           f"machine); this run: {cpu}, {os.cpu_count()} cores. Each model is "
           f"profiled on this machine (`layerpipe-profile`), compiled with "
           f"`--profile` for P processors, emitted (`--emit-cpp`), built and "
           f"run for one epoch of Fashion-MNIST (lr 0.05, momentum 0.9, seed "
           f"1; ResNet-20 on its first {opts.resnet_limit} samples"
           + (f", LeNet-5 on its first {opts.lenet_limit}" if opts.lenet_limit
              else "") +
           "). The reference is `layerpipe-train`, one thread, with the flags "
           "the program's README gives (same numbers: the weights checksum "
           "column, for every run). Every program ran "
           f"{opts.repeats} times, taking turns with the others of its table; "
           "the tables give the run with the median period, and the "
           "measured/predicted column the lowest and highest run in "
           "brackets. Right before each run the model is profiled again "
           "and the compiler prices the program's flags with that profile "
           "(the columns \"profiled right before each run\": the median of "
           "the runs' ratios and their range; † where the compiler then "
           "lays out another plan than the one built). In the ranking "
           "table the compiler also prices each schedule from its median "
           "run's own trace (`--times-from-trace`: every task's median "
           "measured work), which sets the schedule's own error (waits, "
           "fill and drain) apart from its tasks'. "
           "Samples/s are over the epoch (fill and drain "
           "included); periods per step are the steady state (median), the "
           "task error is |measured − predicted| over the predicted work, "
           "weighted by time (and per task). How to read these figures, "
           "their spread from run to run on this machine and what explains "
           "each difference: "
           "[results-stage-programs.md](results-stage-programs.md).", "",
           "| model | P | stage program samples/s | reference samples/s | "
           "speedup | predicted period (µs/step) | measured period | "
           "measured/predicted (runs) | measured/predicted, profiled "
           "right before each run (runs) | measured/predicted with the "
           "profile taken after the runs | task error weighted (per task) | "
           "per processor: work measured/predicted (its CPU's probe "
           "against the profile's) | same weights |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    within = within_after = within_fresh = 0
    for model, p, prog, base, same, _ in speed:
        ratio = prog['measured_period_us'] / prog['predicted_period_us']
        within += abs(ratio - 1) <= 0.10
        within_after += abs(prog['after_ratio'] - 1) <= 0.10
        within_fresh += abs(prog['fresh_median'] - 1) <= 0.10
        out.append(
            f"| {model} | {p} | {prog['samples_per_s']:.0f} | "
            f"{base['samples_per_s']:.0f} | "
            f"{prog['samples_per_s'] / base['samples_per_s']:.2f}x | "
            f"{prog['predicted_period_us']:.0f} | "
            f"{prog['measured_period_us']:.0f} | "
            f"{ratio:.2f} ({prog['low_ratio']:.2f}-{prog['high_ratio']:.2f}) "
            f"| {fresh_text(prog)} | {prog['after_ratio']:.2f} "
            f"| {100 * prog['task_time_error_weighted']:.1f}% "
            f"({100 * prog['task_time_error']:.0f}%) | "
            f"{prog['per_processor']} | "
            f"{'yes' if same else 'NO'} |")
    out += ["", f"Within 10% of the prediction (median run): {within} of "
            f"{len(speed)}; profiled right before each run (median of the "
            f"runs' ratios): {within_fresh} of {len(speed)}; with the "
            f"profile taken after the runs: "
            f"{within_after} of {len(speed)}. The machine's drift over the "
            "runs, as one "
            "profiled step before and after them: " +
            "; ".join(f"{m} {a / 1000:.2f} ms, then {b / 1000:.2f} ms "
                      f"({100 * (b / a - 1):+.0f}%)" for m, a, b in drift) +
            "; and right before each run: " +
            "; ".join(f"{m} {min(steps) / 1000:.2f}-{max(steps) / 1000:.2f} "
                      f"ms" for m, steps in fresh_steps(speed, ranking)) +
            ". " + set_aside_text([(f"{m} on {p}", prog)
                                   for m, p, prog, _, _, _ in speed]),
            "",
            "Schedules at 2 processors (synchronous ones with 4 "
            "micro-batches per step), predicted and measured samples/s "
            "(batch over period per step) and their rank (figures within "
            f"{100 * opts.tie:.0f}% of each other share one):", "",
            "| model | schedule | predicted samples/s | rank | measured "
            "samples/s | rank | measured/predicted period (runs) | "
            "profiled right before each run: predicted samples/s, rank, "
            "measured/predicted (runs) | measured/predicted from the median "
            "run's own trace | median "
            "work measured/predicted by task kind |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    verdicts, fresh_verdicts = [], []
    for model, _ in models:
        rows = [(s, pr) for m, s, pr in ranking if m == model]
        pred = {s: pr["batch"] / pr["predicted_period_us"] * 1e6
                for s, pr in rows}
        meas = {s: pr["batch"] / pr["measured_period_us"] * 1e6
                for s, pr in rows}
        fresh = {s: pr["batch"] / pr["fresh_predicted"] * 1e6
                 for s, pr in rows}
        prank = ranks(pred, opts.tie)
        mrank = ranks(meas, opts.tie)
        frank = ranks(fresh, opts.tie)
        for s, _ in rows:
            pr = dict(rows)[s]
            out.append(f"| {model} | {s} | {pred[s]:.0f} | {prank[s]} | "
                       f"{meas[s]:.0f} | {mrank[s]} | "
                       f"{pr['measured_period_us'] / pr['predicted_period_us']:.2f}"
                       f" ({pr['low_ratio']:.2f}-{pr['high_ratio']:.2f})"
                       f" | {fresh[s]:.0f}, {frank[s]}, {fresh_text(pr)}"
                       f" | {pr['closed'][0]:.2f}"
                       f"{'' if pr['closed'][1] else ' †'}"
                       f" | {pr['by_kind']} |")
        verdicts.append(f"{model}: " + verdict(pred, meas, opts.tie))
        fresh_verdicts.append(f"{model}: " + verdict(fresh, meas, opts.tie))
    out += ["", "Ranking: " + "; ".join(verdicts) + ". Against the "
            "predictions from the profiles taken right before each run "
            "(the median over the runs): " + "; ".join(fresh_verdicts) +
            ". " + set_aside_text([(f"{m} {sched}", pr)
                                   for m, sched, pr in ranking])]
    text = "\n".join(out) + "\n"
    # The page keeps its hand-written reading below the generated tables.
    page = "docs/results-stage-programs.md"
    reading = ""
    if os.path.exists(page):
        old = open(page).read()
        at = old.find(READING)
        if at >= 0:
            reading = "\n" + old[at:]
    with open(page, "w") as f:
        f.write("# Stage programs measured\n\n" + "\n".join(out[2:]) + "\n" +
                reading)
    results = open("docs/results.md").read()
    at = results.find(MARKER)
    results = (results[:at] if at >= 0 else results.rstrip() + "\n\n") + text
    with open("docs/results.md", "w") as f:
        f.write(results)
    print(text)


if __name__ == "__main__":
    main()
