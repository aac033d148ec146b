#!/usr/bin/env python3
"""Stage programs across MPI ranks, checkpoints and resume, faults.

1. LeNet-5 and ResNet-20 stage programs (2 and 4 processors) are built twice,
   with -DLAYERPIPE_TRANSPORT=threads and =mpi; `mpirun -np P` must give the
   threaded program's per-epoch figures and final-weights checksum bit for
   bit, and the bytes the processors send for one step must equal the
   compiler's communication figure for the same schedule and batch.
2. mpirun with the wrong rank count: a clear error on every rank, exit 1.
3. Faults under MPI: an exception on rank 1 and a kill -9 of rank 1 stop the
   run within seconds with a message naming the rank, non-zero exit.
4. Checkpoints: a run killed with SIGKILL in the middle (threads, MPI, and
   the reference trainer) resumes and ends bit for bit like an uninterrupted
   run; corrupted, truncated and mismatched checkpoints are refused with an
   error naming the file, and the previous good one is used.

Usage: distributed.py BUILD_DIR SOURCE_DIR
"""

import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

LENET = "--data synthetic --train-limit 192 --test-limit 64 --epochs 2 " \
        "--batch 8 --lr 0.05 --momentum 0.9"
RESNET = "--data synthetic --train-limit 32 --test-limit 16 --epochs 2 " \
         "--batch 8 --lr 0.05 --momentum 0.9"
# name, model, compiler flags, training flags, ranks
CASES = [
    ("lenet-p2", "lenet5", "--procs 2 --micro-batch none", LENET, 2),
    ("lenet-p4", "lenet5", "--procs 4 --weights=ema", LENET, 4),
    ("resnet-p2", "resnet20-fmnist", "--procs 2 --micro-batch none", RESNET,
     2),
    ("resnet-p4", "resnet20-fmnist",
     "--procs 4 --schedule 1f1b --micro-batches 2", RESNET, 4),
]
FIELDS = ["final_loss", "test_loss", "test_accuracy", "train_accuracy",
          "weights_checksum"]


def run(cmd, **kw):
    return subprocess.run(cmd, shell=isinstance(cmd, str), text=True,
                          capture_output=True, **kw)


def mpirun(np):
    flags = "--oversubscribe"
    if os.getuid() == 0:
        flags += " --allow-run-as-root"
    return f"mpirun -np {np} {flags} --mca btl self,tcp --bind-to none"


def same(a, b):
    """Differences between two summary JSON files."""
    a, b = json.load(open(a)), json.load(open(b))
    diff = [k for k in FIELDS if a.get(k) != b.get(k)]
    if len(a["per_epoch"]) != len(b["per_epoch"]):
        diff.append("epoch count")
    for ea, eb in zip(a["per_epoch"], b["per_epoch"]):
        for k in ("loss", "train_accuracy", "test_accuracy"):
            if ea[k] != eb[k]:
                diff.append(f"epoch {ea['epoch']} {k}")
    return diff


def epoch_lines(text):
    """The figures of the epoch lines (not the times)."""
    return re.findall(r"^(epoch \d+/\d+: loss \S+  train-acc \S+  "
                      r"test-acc \S+)", text, re.M)


def kill_when(proc, directory, pattern, victim=None, timeout=60):
    """SIGKILLs \p victim (a pid; default the process) once a file matching
    \p pattern exists in \p directory; returns whether it did."""
    t0 = time.time()
    while time.time() - t0 < timeout and proc.poll() is None:
        if glob.glob(os.path.join(directory, pattern)):
            os.kill(victim() if victim else proc.pid, signal.SIGKILL)
            return True
        time.sleep(0.005)
    return False


def rank_pid(exe, rank):
    """The pid of \p exe's MPI rank \p rank."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            if os.readlink(f"/proc/{pid}/exe") != exe:
                continue
            env = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")
        except OSError:
            continue
        if f"OMPI_COMM_WORLD_RANK={rank}".encode() in env:
            return int(pid)
    return None


def main():
    build, source = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    bindir = os.path.join(build, "bin")
    work = os.path.join(build, "test", "distributed")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    failures = []
    passed = 0

    def check(ok, what, detail=""):
        nonlocal passed
        if ok:
            passed += 1
            print("ok:", what)
        else:
            failures.append(f"{what}: {detail}")

    # Build: one project per transport, every case a subdirectory.
    t0 = time.time()
    for name, model, cflags, _, _ in CASES:
        out = run(f"{bindir}/layerpipe {source}/models/{model}.json {cflags} "
                  f"--emit-cpp {work}/src/{name}")
        if out.returncode != 0:
            print(out.stderr)
            return 1
    with open(f"{work}/src/CMakeLists.txt", "w") as f:
        f.write("cmake_minimum_required(VERSION 3.20)\n"
                "project(distributed LANGUAGES C CXX)\n")
        for name, *_ in CASES:
            f.write(f"add_subdirectory({name})\n")
    for transport in ("threads", "mpi"):
        out = run(["cmake", "-S", f"{work}/src", "-B", f"{work}/{transport}",
                   f"-DCMAKE_PREFIX_PATH={build}", "-DCMAKE_BUILD_TYPE=Release",
                   f"-DLAYERPIPE_TRANSPORT={transport}"])
        if out.returncode == 0:
            out = run(["cmake", "--build", f"{work}/{transport}", "-j",
                       str(os.cpu_count() or 2)])
        if out.returncode != 0:
            print(out.stdout[-4000:], out.stderr[-4000:])
            return 1
    print(f"built {len(CASES)} programs twice in {time.time() - t0:.1f} s")

    def exe(transport, name):
        return f"{work}/{transport}/{name}/{name}"

    # 1. MPI equals threads, bit for bit; the bytes of one step.
    for name, model, cflags, tflags, np in CASES:
        th = run(f"{exe('threads', name)} {tflags} "
                 f"--summary-json {work}/{name}.threads.json")
        mp = run(f"{mpirun(np)} {exe('mpi', name)} {tflags} "
                 f"--summary-json {work}/{name}.mpi.json", timeout=300)
        if th.returncode or mp.returncode:
            check(False, f"{name} mpirun -np {np}",
                  f"exit {th.returncode}/{mp.returncode}: {th.stderr} "
                  f"{mp.stderr[-2000:]}")
            continue
        diff = same(f"{work}/{name}.threads.json", f"{work}/{name}.mpi.json")
        if epoch_lines(th.stdout) != epoch_lines(mp.stdout):
            diff.append("epoch lines")
        check(not diff, f"{name}: mpirun -np {np} equals the threads "
              f"program bit for bit", str(diff))
        if not name.startswith("lenet"):
            continue
        # The compiler's communication per iteration at the model's batch
        # equals the bytes sent for one steady step once the layers' own
        # outputs are left out (docs/distributed.md).
        comp = run(f"{bindir}/layerpipe {source}/models/{model}.json {cflags} "
                   f"--verbose")
        m = re.search(r"communication: (\d+) bytes per", comp.stdout)
        batch = json.load(open(f"{source}/models/{model}.json"))["batch_size"]
        micro = re.search(r"--micro-batches (\d+)", cflags)
        batch *= int(micro[1]) if micro else 1
        flags = re.sub(r"--batch \d+", f"--batch {batch}", tflags)
        # 24 steps: the middle one (12) is in the steady state, all of its
        # backward passes run (the largest delay here is 6; a step whose
        # update would land after the last step skips its backward pass).
        flags = re.sub(r"--train-limit \d+", f"--train-limit {batch * 24}",
                       flags).replace("--momentum 0.9", "--momentum 0")
        meas = run(f"{mpirun(np)} {exe('mpi', name)} {flags} --epochs 1",
                   timeout=300)
        t = re.search(r"(\d+) bytes without them", meas.stdout)
        print(f"{name}: compiler {m and m[1]} bytes per iteration, measured "
              f"{t and t[1]} bytes per step without own outputs")
        check(m and t and int(m[1]) == int(t[1]),
              f"{name}: bytes sent for one step equal the compiler's "
              f"communication figure",
              f"compiler {m and m[1]}, measured {t and t[1]}: "
              f"{meas.stderr[-500:]} {comp.stderr[-500:]}")

    lenet2 = exe("mpi", "lenet-p2")
    # 2. The wrong rank count.
    t0 = time.time()
    out = run(f"{mpirun(3)} {lenet2} {LENET}", timeout=120)
    errors = len(re.findall(r"started on 3 MPI ranks, but the schedule has 2 "
                            r"processors", out.stderr))
    check(out.returncode != 0 and errors == 3 and time.time() - t0 < 60,
          "mpirun -np 3 of a 2-processor program: an error on every rank",
          f"exit {out.returncode}, {errors} errors: {out.stderr[-1000:]}")

    # 3. Faults: an exception on rank 1; kill -9 of rank 1.
    t0 = time.time()
    out = run(f"{mpirun(2)} {lenet2} {LENET}", timeout=120,
              env=dict(os.environ, LAYERPIPE_INJECT_FAULT="1:5"))
    took = time.time() - t0
    check(out.returncode != 0 and "rank 1: processor 1: injected fault" in
          out.stderr and took < 30,
          f"an exception on rank 1 stops the run ({took:.1f} s)",
          f"exit {out.returncode}: {out.stderr[-1500:]}")
    long = LENET.replace("--epochs 2", "--epochs 400")
    proc = subprocess.Popen(f"exec {mpirun(2)} {lenet2} {long}", shell=True,
                            text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    victim = None
    t0 = time.time()
    while victim is None and time.time() - t0 < 30 and proc.poll() is None:
        time.sleep(0.5)
        victim = rank_pid(lenet2, 1)
    time.sleep(1)
    if victim:
        os.kill(victim, signal.SIGKILL)
    t0 = time.time()
    try:
        text, _ = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        text, _ = proc.communicate()
    took = time.time() - t0
    check(victim and proc.returncode != 0 and took < 20 and
          re.search(r"rank 1\b.*(signal 9|Killed)", text, re.S),
          f"kill -9 of rank 1 stops the run ({took:.1f} s)",
          f"pid {victim}, exit {proc.returncode}: {text[-1500:]}")

    # 4. Checkpoints: SIGKILL in the middle, resume, compare.
    ck = "--checkpoint-every 5"
    # Long enough (144 steps) that the kill after step 15 lands mid-run.
    LONG = LENET.replace("--epochs 2", "--epochs 6")
    ref = f"{work}/lenet-p2.long.json"
    run(f"{exe('threads', 'lenet-p2')} {LONG} --summary-json {ref}")

    def resume_case(label, cmd, directory, victim=None, reference=ref):
        shutil.rmtree(directory, ignore_errors=True)
        proc = subprocess.Popen(f"exec {cmd} --checkpoint-dir {directory} "
                                f"{ck}", shell=True, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        killed = kill_when(proc, directory, "ckpt-*15.manifest", victim)
        proc.communicate(timeout=120)
        out = run(f"{cmd} --checkpoint-dir {directory} {ck} --resume "
                  f"--summary-json {directory}.json", timeout=300)
        resumed = re.search(r"resumed from (\S+) after step (\d+)",
                            out.stdout)
        diff = same(reference, f"{directory}.json") \
            if out.returncode == 0 else ["exit status"]
        check(killed and resumed and not diff,
              f"{label}: killed with SIGKILL after a checkpoint, resumed "
              f"({resumed and resumed[2]} steps done), equal to the "
              f"uninterrupted run",
              f"killed {killed}, {diff}: {out.stdout[-800:]} "
              f"{out.stderr[-800:]}")
        return out

    resume_case("threads", f"{exe('threads', 'lenet-p2')} {LONG}",
                f"{work}/ck-threads")
    resume_case("mpi -np 2", f"{mpirun(2)} {lenet2} {LONG}",
                f"{work}/ck-mpi", victim=lambda: rank_pid(lenet2, 1) or 0)
    trainer_ref = f"{work}/trainer.json"
    readme = open(f"{work}/src/lenet-p2/README.md").read()
    rflags = re.search(r"layerpipe-train MODEL\.json(.*) \[same options\]",
                       readme).group(1)
    rflags = re.sub(r" --batch \d+", "", rflags)
    trainer = f"{bindir}/layerpipe-train {source}/models/lenet5.json " \
              f"{rflags} {LENET.replace('--epochs 2', '--epochs 6')}"
    run(f"{trainer} --summary-json {trainer_ref}")
    resume_case("layerpipe-train", trainer, f"{work}/ck-trainer",
                reference=trainer_ref)

    # Resume from other cuts, without a kill: a run leaves its newest
    # checkpoints; step 7 of 8 is the case where batches in flight have no
    # backward pass left but batchnorm statistics must still see them.
    for every in (3, 7):
        d = f"{work}/ck-resnet-{every}"
        cmd = f"{exe('threads', 'resnet-p2')} {RESNET} --checkpoint-dir {d} " \
              f"--checkpoint-every {every}"
        first = run(cmd)
        # The finished run's own checkpoint: --resume repeats its results.
        finals = glob.glob(f"{d}/ckpt-*.final")
        if every == 3:
            again = run(f"{cmd} --resume --summary-json {d}-again.json")
            check(len(finals) == 1 and again.returncode == 0 and
                  "the run had finished" in again.stdout and
                  not same(f"{work}/resnet-p2.threads.json",
                           f"{d}-again.json"),
                  "a finished run leaves a final checkpoint; --resume "
                  "repeats its results", f"{finals} {again.stdout[-400:]} "
                  f"{again.stderr[-400:]}")
        # Resume from the newest cut before the end.
        for f in glob.glob(finals[0].replace(".final", ".*")) if finals else []:
            os.remove(f)
        out = run(f"{cmd} --resume --summary-json {d}.json")
        resumed = re.search(r"after step (\d+)", out.stdout)
        diff = same(f"{work}/resnet-p2.threads.json", f"{d}.json") \
            if first.returncode == 0 and out.returncode == 0 else ["exit"]
        check(resumed and not diff, f"resnet-p2 resumed after step "
              f"{resumed and resumed[1]} equals the uninterrupted run",
              f"{diff}: {out.stderr[-500:]}")

    # Refusals: a corrupted newest part, a truncated manifest, another plan.
    d = f"{work}/ck-threads"
    # (The checkpoints of cuts, not the finished run's.)
    manifests = sorted(m for m in glob.glob(f"{d}/ckpt-*.manifest")
                       if os.path.exists(m.replace(".manifest", ".p1")))
    for m in glob.glob(f"{d}/ckpt-*.final"):
        os.remove(m)
        os.remove(m.replace(".final", ".manifest"))
    if len(manifests) >= 2:
        newest = manifests[-1]
        part = newest.replace(".manifest", ".p1")
        data = bytearray(open(part, "rb").read())
        data[-3] ^= 0xFF
        open(part, "wb").write(bytes(data))
        out = run(f"{exe('threads', 'lenet-p2')} {LONG} --checkpoint-dir {d} "
                  f"{ck} --resume --summary-json {d}-corrupt.json")
        used = re.search(r"resumed from (\S+)", out.stdout)
        check(out.returncode == 0 and f"{part}: checksum mismatch" in
              out.stderr and used and used[1] == manifests[-2] and
              not same(ref, f"{d}-corrupt.json"),
              "a corrupted part is refused, naming the file; the previous "
              "checkpoint is used", f"{out.stderr[-800:]} {out.stdout[-300:]}")
        manifests = sorted(glob.glob(f"{d}/ckpt-*.manifest"))
        with open(manifests[-1], "r+b") as f:
            f.truncate(20)
        out = run(f"{exe('threads', 'lenet-p2')} {LENET} --checkpoint-dir {d} "
                  f"--resume --epochs 3")
        check(out.returncode == 0 and "does not match this run: it was "
              "written with different training options" in out.stderr,
              "a checkpoint of other training options is refused",
              out.stderr[-800:])
        out = run(f"{exe('threads', 'lenet-p4')} {LENET} --checkpoint-dir {d} "
                  f"--resume")
        check(out.returncode == 0 and "it was written for 2 processors, this "
              "run has 4" in out.stderr and "truncated" in out.stderr,
              "a truncated manifest and a checkpoint of another processor "
              "count are refused", out.stderr[-800:])
    else:
        check(False, "refusals", f"too few checkpoints in {d}")

    # 5. The MPI transport's link figures, as a machine file the compiler
    # and the profiler read.
    links = f"{work}/mpi-links.json"
    out = run(f"{mpirun(2)} {bindir}/layerpipe-mpi-probe --repeats 10 "
              f"-o {links}")
    comp = run(f"{bindir}/layerpipe {source}/models/lenet5.json --procs 2 "
                f"--machine {links}")
    fig = json.load(open(links)) if os.path.exists(links) else {}
    check(out.returncode == 0 and comp.returncode == 0 and
          fig.get("link_latency_us", -1) >= 0 and
          fig.get("link_bandwidth", 0) > 0,
          "layerpipe-mpi-probe writes a machine file the compiler reads",
          f"{out.stdout[-400:]} {out.stderr[-400:]} {comp.stderr[-400:]}")
    prof = run(f"{bindir}/layerpipe-profile {source}/models/lenet5.json "
               f"--repeats 1 --warmup 0 --links {links} -o {work}/mpi.prof")
    comp = run(f"{bindir}/layerpipe {source}/models/lenet5.json --procs 2 "
               f"--profile {work}/mpi.prof")
    check(prof.returncode == 0 and comp.returncode == 0 and
          json.load(open(f"{work}/mpi.prof"))["machine"]["link_bandwidth"]
          == fig.get("link_bandwidth"),
          "layerpipe-profile --links takes the probe's link figures",
          f"{prof.stderr[-400:]} {comp.stderr[-400:]}")
    out = run(f"{mpirun(1)} {bindir}/layerpipe-mpi-probe")
    check(out.returncode != 0 and "run it with mpirun -np 2" in out.stderr,
          "the probe on one rank is a clear error", out.stderr[-400:])

    for f in failures:
        print("FAIL:", f)
    print(f"{passed} passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
