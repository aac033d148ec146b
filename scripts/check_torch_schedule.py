#!/usr/bin/env python3
"""Checks a per-rank action CSV the way torch.distributed.pipelining's
compute-only loader does (torch >= 2.4: PipelineScheduleMulti._load_csv and
_PipelineScheduleRuntime._load_csv), for machines whose torch is older (Debian's
1.13 has no torch.distributed.pipelining). Written from the loader's documented
rules, independent of LayerPipe's own checker (lib/Emit/TorchSchedule.cpp):

  * one row per rank; a cell is <stage><F|I|W|B><micro-batch> or empty;
  * a stage's actions all sit on one rank;
  * per stage and micro-batch: F before I or B, I before W;
  * per stage: every micro-batch's F once, and B once or I and W once each;
  * lowering to sends and receives makes progress: an F (stage > 0) waits
    for the previous stage's F of its micro-batch, an I or B (not the last
    stage) for the next stage's I or B of it.

usage: check_torch_schedule.py FILE.csv RANKS STAGES MICROBATCHES
Prints "ok: ..." and exits 0, or prints the first broken rule and exits 1.
"""
import csv
import re
import sys

ACTION = re.compile(r"^(\d+)([FIWB])(\d+)$")


def check(path, ranks, stages, microbatches):
    with open(path, newline="") as f:
        rows = [[cell.strip() for cell in row] for row in csv.reader(f)]
    if len(rows) != ranks:
        return f"{len(rows)} rows for {ranks} ranks"
    orders = []
    rank_of = {}
    seen = {(s, t): set() for s in range(stages) for t in "FIWB"}
    for rank, row in enumerate(rows):
        order = []
        for step, cell in enumerate(row):
            if not cell:
                continue
            m = ACTION.match(cell)
            if not m:
                return f"rank {rank} step {step}: bad action '{cell}'"
            s, t, mb = int(m.group(1)), m.group(2), int(m.group(3))
            if s >= stages or mb >= microbatches:
                return f"rank {rank} step {step}: {cell} out of range"
            if rank_of.setdefault(s, rank) != rank:
                return f"stage {s} on ranks {rank_of[s]} and {rank}"
            if t in "IB" and mb not in seen[(s, "F")]:
                return f"rank {rank} step {step}: {cell} before its forward"
            if t == "W" and mb not in seen[(s, "I")]:
                return f"rank {rank} step {step}: {cell} before its I"
            if mb in seen[(s, t)]:
                return f"rank {rank} step {step}: {cell} twice"
            seen[(s, t)].add(mb)
            order.append((s, t, mb))
        orders.append(order)
    for s in range(stages):
        f, b, i, w = (len(seen[(s, t)]) for t in "FBIW")
        if f != microbatches or i != w or b + i != microbatches:
            return f"stage {s}: F={f} B={b} I={i} W={w} for {microbatches}"
    done = set()
    heads = [0] * ranks
    left = sum(len(o) for o in orders)
    while left:
        progress = False
        for rank in range(ranks):
            if heads[rank] >= len(orders[rank]):
                continue
            s, t, mb = orders[rank][heads[rank]]
            if t == "F" and s > 0 and (s - 1, "F", mb) not in done:
                continue
            if t in "IB" and s + 1 < stages and not (
                    (s + 1, "I", mb) in done or (s + 1, "B", mb) in done):
                continue
            done.add((s, t, mb))
            heads[rank] += 1
            left -= 1
            progress = True
        if not progress:
            return "the ranks' orders deadlock when sends and receives are added"
    return None


def main():
    if len(sys.argv) != 5:
        print(__doc__.strip().splitlines()[-3])
        return 2
    path, ranks, stages, mbs = sys.argv[1], *map(int, sys.argv[2:])
    error = check(path, ranks, stages, mbs)
    if error:
        print(f"error: {path}: {error}")
        return 1
    print(f"ok: {ranks} ranks, {stages} stages, {mbs} micro-batches")
    return 0


if __name__ == "__main__":
    sys.exit(main())
