#!/usr/bin/env python3
"""Flag-combination fuzzer for the layerpipe CLI (docs/reliability.md).

Runs the layerpipe binary of BUILD (ideally the sanitizer build, build-asan)
with random combinations of flags and values, ordinary and extreme, on the
models in models/ and the regression inputs, for SECONDS seconds. Each run
must end with exit status 0, or 1 with one 'error: ...' line that is not an
internal error; anything else (a signal, another status, 'LLVM ERROR', a
sanitizer report, an uncaught exception, more than 60 s) is a failure,
written to fuzz/out/cli/failures.txt with its command line.

Usage: scripts/fuzz-cli.py BUILD SECONDS [SEED]
"""
import glob
import os
import random
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NUMBERS = ["0", "1", "2", "3", "4", "7", "8", "16", "64", "65", "1023",
           "1024", "1025", "4096", "4097", "100000", "4294967295",
           "4294967296", "9223372036854775807", "-1", "1e300", "abc", ""]
FLAGS = {
    "--procs": NUMBERS,
    "--schedule": ["layerpipe", "pipedream", "gpipe", "1f1b", "zb-h1",
                   "ZB-H2", "zb-v", "Interleaved-1F1B", "dualpipe-v", "x"],
    "--virtual-stages": NUMBERS,
    "--placement": ["stages", "free", "auto", "x"],
    "--byte-budget": ["0", "1", "1.5", "-1", "nan", "1e300"],
    "--micro-batch": ["auto", "none", "1", "4", "64", "65", "0", "x"],
    "--scheduler": ["list", "exact", "x"],
    "--exact-time-limit": ["0.5", "1", "0", "-1", "nan", "x"],
    "--micro-batches": NUMBERS,
    "--unfold": NUMBERS,
    "--memory-limit": NUMBERS,
    "--memory-limit-microbatches": NUMBERS,
    "--simulate-iterations": NUMBERS,
    "--delays": ["none", "layerpipe2", "auto", "model", "uniform:0",
                 "uniform:3", "uniform:1048576", "uniform:1048577",
                 "uniform:-1", "uniform:x"],
    "--grouping": ["optimal", "per-layer", "hints", "explicit", "x"],
    "--stages": ["0-0", "0-1,2-3", "0-2,3-100", "1-0", "0-0,0-1", "x"],
    "--stages-count": NUMBERS,
    "--weights": ["stash", "latest", "ema", "sync", "x"],
    "--retiming": ["auto", "stages", "min-period", "min-memory", "none", "x"],
    "--period-bound": ["0", "1", "1e-300", "1e300", "-1", "nan", "inf"],
    "--momentum": ["true", "false"],
}
BOOLS = ["--merge-backward", "--no-verify", "--time-passes"]
OUTPUTS = ["-o", "--gantt", "--report-json", "--emit-dot", "--emit-dfg",
           "--emit-torch-schedule"]
GANTT = [".svg", ".html", ".json", ".txt", ".png"]


def random_command(rng, binary, models, machines, tmp):
    cmd = [binary, rng.choice(models)]
    for flag in rng.sample(sorted(FLAGS), rng.randint(0, 6)):
        cmd.append(f"{flag}={rng.choice(FLAGS[flag])}")
    for flag in BOOLS:
        if rng.random() < 0.1:
            cmd.append(flag)
    if rng.random() < 0.3:
        cmd.append("--machine=" + rng.choice(machines))
    for flag in OUTPUTS:
        if rng.random() < 0.15:
            target = rng.choice([os.path.join(tmp, "out"),
                                 os.path.join(tmp, "missing", "out"), tmp])
            if flag == "--gantt":
                target += rng.choice(GANTT)
            elif rng.random() < 0.3:
                # Never /dev/full + an extension: run as root, that would
                # create a file in /dev.
                target = "/dev/full"
            cmd.append(f"{flag}={target}")
    return cmd


def acceptable(status, stderr):
    if status == 0:
        return "LLVM ERROR" not in stderr and "runtime error" not in stderr
    if status != 1:
        return False
    lines = [l for l in stderr.splitlines() if l.strip()]
    # One error line, "layerpipe: error: ..." (tools name themselves).
    errors = [l for l in lines if l.startswith(("error:", "layerpipe: error:"))]
    return (len(errors) == 1 and "internal error" not in errors[0] and
            "Sanitizer" not in stderr and "LLVM ERROR" not in stderr)


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    build, seconds = sys.argv[1], float(sys.argv[2])
    rng = random.Random(int(sys.argv[3]) if len(sys.argv) > 3 else 1)
    binary = os.path.join(build, "bin", "layerpipe")
    models = sorted(glob.glob(os.path.join(ROOT, "models", "*.json")) +
                    glob.glob(os.path.join(ROOT, "fuzz", "regressions",
                                           "model", "*")))
    machines = sorted(glob.glob(os.path.join(ROOT, "fuzz", "seeds",
                                             "machine", "*")))
    out = os.path.join(ROOT, "fuzz", "out", "cli")
    os.makedirs(out, exist_ok=True)
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0:abort_on_error=1",
               UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1")
    runs = failures = slowest = 0
    slowest_cmd = ""
    deadline = time.time() + seconds
    with tempfile.TemporaryDirectory() as tmp, \
            open(os.path.join(out, "failures.txt"), "a") as log:
        while time.time() < deadline:
            cmd = random_command(rng, binary, models, machines, tmp)
            start = time.time()
            try:
                p = subprocess.run(cmd, capture_output=True, text=True,
                                   errors="replace", timeout=60, env=env)
                status, stderr = p.returncode, p.stderr
            except subprocess.TimeoutExpired:
                status, stderr = "timeout", ""
            took = time.time() - start
            if took > slowest:
                slowest, slowest_cmd = took, " ".join(cmd)
            runs += 1
            if not acceptable(status, stderr):
                failures += 1
                log.write(f"status {status}: {' '.join(cmd)}\n"
                          f"{stderr[-2000:]}\n\n")
                log.flush()
    print(f"fuzz-cli: {runs} runs, {failures} failures "
          f"(fuzz/out/cli/failures.txt); slowest {slowest:.1f}s: "
          f"{slowest_cmd}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
