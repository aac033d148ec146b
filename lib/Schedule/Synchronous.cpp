//===- Synchronous.cpp - Micro-batch schedules with a flush ---------------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// One synchronous training step: M micro-batches flow through a pipeline of
// stages, each stage runs F, B (activation gradient) and G (weight gradient,
// the "W" of Zero Bubble) per micro-batch and one update U after the last G.
// A stage runs on processor procOfStage[s] (one stage per processor, or
// several virtual stages per processor: interleaved or V-shaped).
//
// GPipe, 1F1B and interleaved 1F1B are fixed per-processor orders timed as
// soon as possible. ZB-H1 and ZB-H2 are Zero Bubble's greedy heuristic
// (ZeroBubble.cpp) at p and 2p micro-batches of memory. ZB-V and LayerPipe's
// own synchronous mode come from a greedy list scheduler under a
// per-processor memory limit: whenever a processor is free it runs a ready
// F if the stage is not too far ahead of its backward and one more
// micro-batch fits, else a B (on the critical path back to the first
// stage), else a G (the bubble filler). LayerPipe runs the list scheduler
// with several priority rules and Zero Bubble's heuristic variants, all
// within its memory limit, and keeps the shortest step. A micro-batch holds
// its activations on a stage from the start of its F to the end of its G.
//
//===----------------------------------------------------------------------===//

#include "ScheduleInternal.h"
#include "ZeroBubble.h"

#include "llvm/Support/FormatVariadic.h"

#include <algorithm>
#include <cassert>
#include <functional>
#include <limits>
#include <map>

using namespace llvm;

namespace layerpipe {

namespace {

/// The task instances and dependences of one synchronous step.
struct StepGraph {
  Schedule schedule;
  /// Indexed [stage][micro-batch]; -1 where absent.
  std::vector<std::vector<int>> forward, backward, weightGradient;
  std::vector<int> update;
  /// Task that frees each F's memory block (its G, or B without G).
  std::vector<int> releaseOf;
  std::vector<int> blockOfForward;
  /// Per memory block: its weight in the units of the limit.
  std::vector<double> blockWeight;
};

} // namespace

static unsigned procOf(const StagePipeline &P, unsigned stage) {
  return P.procOfStage.empty() ? stage : P.procOfStage[stage];
}

unsigned numPipelineProcs(const StagePipeline &P) {
  unsigned procs = 0;
  for (unsigned s = 0; s < P.numStages(); ++s)
    procs = std::max(procs, procOf(P, s) + 1);
  return procs;
}

StagePipeline uniformStagePipeline(unsigned stages, double f, double b,
                                   double w, double sendUs, int64_t sendBytes,
                                   int64_t activationBytes) {
  StagePipeline P;
  for (unsigned s = 0; s < stages; ++s) {
    bool next = s + 1 < stages;
    P.forward.push_back(f);
    P.backward.push_back(b);
    P.weightGradient.push_back(w);
    P.update.push_back(0);
    P.sendForwardUs.push_back(next ? sendUs : 0);
    P.sendBackwardUs.push_back(next ? sendUs : 0);
    P.sendForwardBytes.push_back(next ? sendBytes : 0);
    P.sendBackwardBytes.push_back(next ? sendBytes : 0);
    P.activationBytes.push_back(activationBytes);
    P.stageNames.push_back("s" + std::to_string(s));
  }
  return P;
}

static unsigned addTask(StepGraph &G, TaskKind kind, unsigned stage, int mb,
                        double duration, const StagePipeline &P) {
  ScheduledTask task;
  task.kind = kind;
  task.name = (taskKindPrefix(kind) + "." + P.stageNames[stage]).str();
  task.stage = stage;
  task.microBatch = mb;
  task.proc = procOf(P, stage);
  task.duration = duration;
  G.schedule.tasks.push_back(task);
  return G.schedule.tasks.size() - 1;
}

static void addDep(StepGraph &G, unsigned src, unsigned dst, double transfer,
                   int64_t bytes) {
  G.schedule.deps.push_back({src, dst, 0, bytes, transfer});
}

/// With \p mergeBackward, B and G form one Backward task whose gradient is
/// sent on only when both are done (GPipe and 1F1B as their papers run them).
static StepGraph buildStep(const StagePipeline &P, unsigned microBatches,
                           bool mergeBackward,
                           const std::vector<double> &weight) {
  StepGraph G;
  unsigned p = P.numStages();
  G.schedule.periodic = false;
  G.schedule.procs = numPipelineProcs(P);
  G.schedule.microBatches = microBatches;
  G.forward.assign(p, std::vector<int>(microBatches, -1));
  G.backward = G.forward;
  G.weightGradient = G.forward;
  G.update.assign(p, -1);
  for (unsigned s = 0; s < p; ++s) {
    for (unsigned j = 0; j < microBatches; ++j) {
      G.forward[s][j] = addTask(G, TaskKind::Forward, s, j, P.forward[s], P);
      if (mergeBackward) {
        G.backward[s][j] =
            addTask(G, TaskKind::Backward, s, j, P.mergedBackwardUs(s), P);
        continue;
      }
      G.backward[s][j] =
          addTask(G, TaskKind::ActivationGradient, s, j, P.backward[s], P);
      if (P.weightGradient[s] > 0)
        G.weightGradient[s][j] =
            addTask(G, TaskKind::WeightGradient, s, j, P.weightGradient[s], P);
    }
    G.update[s] = addTask(G, TaskKind::Update, s, -1, P.update[s], P);
  }
  G.releaseOf.assign(G.schedule.tasks.size(), -1);
  G.blockOfForward.assign(G.schedule.tasks.size(), -1);
  for (unsigned s = 0; s < p; ++s) {
    for (unsigned j = 0; j < microBatches; ++j) {
      unsigned f = G.forward[s][j], b = G.backward[s][j];
      if (s + 1 < p) {
        addDep(G, f, G.forward[s + 1][j], P.sendForwardUs[s],
               P.sendForwardBytes[s]);
        addDep(G, G.backward[s + 1][j], b, P.sendBackwardUs[s],
               P.sendBackwardBytes[s]);
      }
      addDep(G, f, b, 0, 0);
      int last = b;
      if (G.weightGradient[s][j] >= 0) {
        addDep(G, b, G.weightGradient[s][j], 0, 0);
        last = G.weightGradient[s][j];
      }
      addDep(G, last, G.update[s], 0, 0);
      G.releaseOf[f] = last;
      G.blockOfForward[f] = G.schedule.memory.size();
      G.schedule.memory.push_back(
          {f, unsigned(last), 0, P.activationBytes[s]});
      G.blockWeight.push_back(weight[s]);
    }
  }
  return G;
}

/// Times fixed per-processor orders as soon as possible; false if the order
/// deadlocks.
static bool timeOrders(StepGraph &G,
                       const std::vector<std::vector<unsigned>> &order) {
  Schedule &S = G.schedule;
  std::vector<InstanceTask> instances;
  for (const ScheduledTask &task : S.tasks)
    instances.push_back({task.proc, task.duration});
  std::vector<double> end;
  std::vector<double> start = runInOrder(instances, S.deps, order, end);
  for (size_t i = 0; i < S.tasks.size(); ++i) {
    if (start[i] < 0)
      return false;
    S.tasks[i].start = start[i];
  }
  return true;
}

static double makespanOf(const Schedule &S) {
  double span = 0;
  for (const ScheduledTask &task : S.tasks)
    span = std::max(span, task.end());
  return span;
}

static std::vector<std::vector<unsigned>> gpipeOrder(const StepGraph &G,
                                                     unsigned m) {
  std::vector<std::vector<unsigned>> order(G.schedule.procs);
  for (unsigned s = 0; s < G.schedule.procs; ++s) {
    for (unsigned j = 0; j < m; ++j)
      order[s].push_back(G.forward[s][j]);
    for (unsigned j = 0; j < m; ++j)
      order[s].push_back(G.backward[s][j]);
    order[s].push_back(G.update[s]);
  }
  return order;
}

static std::vector<std::vector<unsigned>> oneFOneBOrder(const StepGraph &G,
                                                        unsigned m) {
  unsigned p = G.schedule.procs;
  std::vector<std::vector<unsigned>> order(p);
  for (unsigned s = 0; s < p; ++s) {
    unsigned warmup = std::min(p - s - 1, m);
    unsigned nextF = 0, nextB = 0;
    for (; nextF < warmup; ++nextF)
      order[s].push_back(G.forward[s][nextF]);
    while (nextF < m) {
      order[s].push_back(G.forward[s][nextF++]);
      order[s].push_back(G.backward[s][nextB++]);
    }
    while (nextB < m)
      order[s].push_back(G.backward[s][nextB++]);
    order[s].push_back(G.update[s]);
  }
  return order;
}

/// Interleaved 1F1B (Megatron-LM, torch.distributed.pipelining): virtual
/// stage c * p + r on processor r. Micro-batches go in rounds of p: a
/// processor runs the round's forwards of chunk 0, then of chunk 1, ...;
/// backwards likewise from the last chunk. After a warm-up of
/// (v - 1) p + 2 (p - 1 - r) forwards it alternates one forward and one
/// backward.
static std::vector<std::vector<unsigned>>
interleavedOrder(const StepGraph &G, unsigned m, unsigned p, unsigned v) {
  std::vector<std::vector<unsigned>> order(p);
  unsigned round = std::min(p, m);
  // The k-th forward (or backward) of a processor: (chunk, micro-batch).
  std::vector<std::pair<unsigned, unsigned>> sequence;
  for (unsigned first = 0; first < m; first += round)
    for (unsigned c = 0; c < v; ++c)
      for (unsigned j = first; j < std::min(m, first + round); ++j)
        sequence.push_back({c, j});
  unsigned total = sequence.size();
  for (unsigned r = 0; r < p; ++r) {
    auto fwd = [&](unsigned k) {
      return unsigned(G.forward[sequence[k].first * p + r][sequence[k].second]);
    };
    auto bwd = [&](unsigned k) {
      unsigned c = v - 1 - sequence[k].first;
      return unsigned(G.backward[c * p + r][sequence[k].second]);
    };
    unsigned warmup = std::min(total, (v - 1) * round + 2 * (p - 1 - r));
    unsigned nextF = 0, nextB = 0;
    for (; nextF < warmup; ++nextF)
      order[r].push_back(fwd(nextF));
    while (nextF < total) {
      order[r].push_back(fwd(nextF++));
      order[r].push_back(bwd(nextB++));
    }
    while (nextB < total)
      order[r].push_back(bwd(nextB++));
    for (unsigned c = 0; c < v; ++c)
      order[r].push_back(G.update[c * p + r]);
  }
  return order;
}

/// DualPipe-V (DeepSeek's DualPipe folded into a V, as
/// torch.distributed.pipelining's ScheduleDualPipeV orders it): processor r
/// holds stages r and 2p - 1 - r. Its phases: forwards of the first chunk,
/// then pairs of both chunks, then input gradients of the second chunk with
/// pending weight gradients; the main phase pairs a forward of one chunk
/// with a backward of the other (overlapped on a GPU, one after the other
/// here); then the remaining backwards, the second half of them split into
/// input and weight gradient; the pending weight gradients last. A full
/// backward is our B followed at once by its G. Needs m >= 2p.
static std::vector<std::vector<unsigned>>
dualPipeVOrder(const StepGraph &G, unsigned m, unsigned p) {
  std::vector<std::vector<unsigned>> order(p);
  for (unsigned r = 0; r < p; ++r) {
    std::vector<unsigned> &row = order[r];
    unsigned first = r, second = 2 * p - 1 - r;
    std::map<unsigned, unsigned> nextF, nextB;
    std::vector<std::pair<unsigned, unsigned>> pendingW;
    auto weight = [&](unsigned s, unsigned j) {
      if (G.weightGradient[s][j] >= 0)
        row.push_back(G.weightGradient[s][j]);
    };
    auto forward = [&](unsigned s) { row.push_back(G.forward[s][nextF[s]++]); };
    auto input = [&](unsigned s) {
      unsigned j = nextB[s]++;
      row.push_back(G.backward[s][j]);
      pendingW.push_back({s, j});
    };
    auto full = [&](unsigned s) {
      unsigned j = nextB[s]++;
      row.push_back(G.backward[s][j]);
      weight(s, j);
    };
    auto pending = [&] {
      if (pendingW.empty())
        return;
      weight(pendingW.front().first, pendingW.front().second);
      pendingW.erase(pendingW.begin());
    };
    for (unsigned k = 0; k < 2 * (p - r - 1); ++k)
      forward(first);
    for (unsigned k = 0; k < r + 1; ++k) {
      forward(first);
      forward(second);
    }
    for (unsigned k = 0; k < p - r - 1; ++k) {
      input(second);
      pending();
      forward(second);
    }
    for (unsigned k = 0; k < m - 2 * p + r + 1; ++k) {
      forward(first);
      full(second);
      forward(second);
      full(first);
    }
    for (unsigned k = 0; k < p - r - 1; ++k) {
      full(second);
      forward(second);
      full(first);
    }
    bool split = false;
    for (unsigned k = 0; k < r + 1; ++k) {
      if (k == (r + 1) / 2 && r % 2 == 1)
        split = true;
      split ? input(second) : full(second);
      if (k == (r + 1) / 2 && r % 2 == 0)
        split = true;
      split ? input(first) : full(first);
    }
    for (unsigned k = 0; k < p - r - 1; ++k) {
      pending();
      split ? input(first) : full(first);
    }
    while (!pendingW.empty())
      pending();
    row.push_back(G.update[first]);
    row.push_back(G.update[second]);
  }
  return order;
}

/// Zero Bubble's heuristic: the best of its variants at \p maxMemory per
/// stage (in block weights), each timed in our model. One stage per
/// processor. Replaces \p best when shorter.
static void tryZeroBubble(const StepGraph &base, const StagePipeline &P,
                          unsigned m, const std::vector<double> &weight,
                          const std::vector<double> &maxMemory,
                          const std::function<void(StepGraph &&)> &keep) {
  unsigned p = P.numStages();
  ZeroBubbleInput in;
  in.stages = p;
  in.microBatches = m;
  in.forward = P.forward;
  in.backward = P.backward;
  in.weight = P.weightGradient;
  in.sendForward = P.sendForwardUs;
  in.sendBackward = P.sendBackwardUs;
  in.memory = weight;
  in.maxMemory = maxMemory;
  for (unsigned variant = 0; variant < 8; ++variant) {
    std::optional<ZeroBubbleOrder> order = zeroBubbleOrder(in, variant);
    if (!order)
      continue;
    std::vector<std::vector<unsigned>> tasks(p);
    for (unsigned s = 0; s < p; ++s) {
      for (const ZeroBubbleAction &a : (*order)[s]) {
        int task = a.kind == ZeroBubbleAction::F   ? base.forward[s][a.microBatch]
                   : a.kind == ZeroBubbleAction::B ? base.backward[s][a.microBatch]
                       : base.weightGradient[s][a.microBatch];
        if (task >= 0)
          tasks[s].push_back(unsigned(task));
      }
      tasks[s].push_back(base.update[s]);
    }
    StepGraph G = base;
    if (!timeOrders(G, tasks))
      continue;
    keep(std::move(G));
  }
}

/// Local search from \p G's per-processor orders: swaps two neighbours on a
/// processor when the order stays within the memory limit and can run, and
/// keeps the swap if the step gets shorter (or as long, with the
/// processors' last ends earlier in sum). At most \p budget orders are
/// timed. Returns true if it improved \p G.
static bool improveByLocalSearch(StepGraph &G,
                                 const std::vector<double> &limit,
                                 unsigned budget) {
  Schedule &S = G.schedule;
  unsigned procs = S.procs;
  size_t n = S.tasks.size();
  std::vector<std::vector<unsigned>> order(procs);
  for (unsigned i = 0; i < n; ++i)
    order[S.tasks[i].proc].push_back(i);
  for (auto &row : order)
    std::stable_sort(row.begin(), row.end(), [&](unsigned a, unsigned b) {
      return S.tasks[a].start < S.tasks[b].start;
    });
  std::vector<int> blockOfRelease(n, -1);
  for (unsigned b = 0; b < S.memory.size(); ++b)
    blockOfRelease[S.memory[b].freeTask] = int(b);
  // Same-processor dependences (F -> B -> G of a stage) never swap.
  std::vector<std::vector<unsigned>> localSucc(n);
  for (const ScheduleDep &dep : S.deps)
    if (S.tasks[dep.src].proc == S.tasks[dep.dst].proc)
      localSucc[dep.src].push_back(dep.dst);
  auto fitsMemory = [&](unsigned q) {
    if (limit[q] == std::numeric_limits<double>::infinity())
      return true;
    double live = 0;
    for (unsigned i : order[q]) {
      if (G.blockOfForward[i] >= 0) {
        live += G.blockWeight[G.blockOfForward[i]];
        if (live > limit[q] * (1 + 1e-12))
          return false;
      }
      if (blockOfRelease[i] >= 0)
        live -= G.blockWeight[blockOfRelease[i]];
    }
    return true;
  };
  std::vector<InstanceTask> instances;
  for (const ScheduledTask &task : S.tasks)
    instances.push_back({task.proc, task.duration});
  auto score = [&](std::vector<double> &start) {
    std::vector<double> end;
    start = runInOrder(instances, S.deps, order, end);
    double span = 0, tails = 0;
    for (unsigned q = 0; q < procs; ++q) {
      if (order[q].empty())
        continue;
      double last = end[order[q].back()];
      if (last < 0)
        return std::make_pair(std::numeric_limits<double>::infinity(), 0.0);
      span = std::max(span, last);
      tails += last;
    }
    for (double e : end)
      if (e < 0)
        return std::make_pair(std::numeric_limits<double>::infinity(), 0.0);
    return std::make_pair(span, tails);
  };
  std::vector<double> start, bestStart;
  std::pair<double, double> best = score(bestStart);
  double initial = best.first;
  unsigned timed = 0;
  for (bool improved = true; improved && timed < budget;) {
    improved = false;
    for (unsigned q = 0; q < procs && timed < budget; ++q) {
      std::vector<unsigned> &row = order[q];
      for (size_t k = 0; k + 1 < row.size() && timed < budget; ++k) {
        unsigned a = row[k], b = row[k + 1];
        if (S.tasks[a].kind == S.tasks[b].kind &&
            S.tasks[a].stage == S.tasks[b].stage)
          continue;
        if (std::find(localSucc[a].begin(), localSucc[a].end(), b) !=
            localSucc[a].end())
          continue;
        std::swap(row[k], row[k + 1]);
        if (!fitsMemory(q)) {
          std::swap(row[k], row[k + 1]);
          continue;
        }
        ++timed;
        std::pair<double, double> now = score(start);
        if (now.first < best.first - 1e-9 ||
            (now.first <= best.first + 1e-9 && now.second < best.second - 1e-9)) {
          best = now;
          bestStart = start;
          improved = true;
        } else {
          std::swap(row[k], row[k + 1]);
        }
      }
    }
  }
  if (best.first >= initial - 1e-9)
    return false;
  for (size_t i = 0; i < n; ++i)
    S.tasks[i].start = bestStart[i];
  return true;
}

namespace {
/// A priority rule of the greedy list scheduler.
struct GreedyRule {
  /// A stage may run ahead of its backward by (stages downstream) + extra
  /// forwards; -1: only the memory limit caps it.
  int extraWarmup = 0;
  /// Prefer a ready B over an allowed F.
  bool backwardFirst = false;
};
} // namespace

/// The greedy memory-aware list scheduler (ZB-V and LayerPipe): per
/// processor at most \p limit[proc] block weight in flight.
static Error scheduleGreedy(StepGraph &G, const std::vector<double> &limit,
                            GreedyRule rule) {
  Schedule &S = G.schedule;
  size_t n = S.tasks.size();
  unsigned procs = S.procs;
  unsigned stages = G.forward.size();
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<std::vector<unsigned>> succ(n);
  std::vector<unsigned> waiting(n, 0);
  for (unsigned d = 0; d < S.deps.size(); ++d) {
    succ[S.deps[d].src].push_back(d);
    ++waiting[S.deps[d].dst];
  }
  std::vector<double> readyAt(n, 0.0);
  std::vector<std::vector<unsigned>> candidates(procs);
  for (unsigned i = 0; i < n; ++i)
    if (waiting[i] == 0)
      candidates[S.tasks[i].proc].push_back(i);
  std::vector<double> procFree(procs, 0.0);
  // Memory blocks in flight per processor, and when each is freed.
  std::vector<std::vector<unsigned>> inFlight(procs);
  std::vector<double> blockEnd(S.memory.size(), inf);
  std::vector<int> blockOfRelease(n, -1);
  for (unsigned b = 0; b < S.memory.size(); ++b)
    blockOfRelease[S.memory[b].freeTask] = int(b);

  // Earliest time >= t at which processor q can admit a block of weight w.
  auto admitTime = [&](unsigned q, double t, double w) {
    if (limit[q] == inf)
      return t;
    std::vector<double> ends;
    double live = 0;
    for (unsigned b : inFlight[q])
      if (blockEnd[b] > t) {
        live += G.blockWeight[b];
        ends.push_back(blockEnd[b]);
      }
    std::sort(ends.begin(), ends.end());
    for (size_t k = 0;; ++k) {
      if (live + w <= limit[q] * (1 + 1e-12))
        return t;
      if (k >= ends.size() || ends[k] == inf)
        return inf;
      t = ends[k];
      live = 0;
      for (unsigned b : inFlight[q])
        if (blockEnd[b] > t)
          live += G.blockWeight[b];
    }
  };
  // A stage runs ahead of its backward by at most the 1F1B warm-up (plus
  // the rule's extra), so that forwards keep flowing to the last stage
  // without starving it of B.
  std::vector<unsigned> forwardsRun(stages, 0), backwardsRun(stages, 0);
  auto forwardAllowed = [&](unsigned s) {
    if (rule.extraWarmup < 0)
      return true;
    return forwardsRun[s] - backwardsRun[s] <
           stages - s + unsigned(rule.extraWarmup);
  };
  auto rank = [&](unsigned i) {
    switch (S.tasks[i].kind) {
    case TaskKind::Forward:
      if (!forwardAllowed(S.tasks[i].stage))
        return 2;
      return rule.backwardFirst ? 1 : 0;
    case TaskKind::ActivationGradient:
      return rule.backwardFirst ? 0 : 1;
    case TaskKind::WeightGradient:
      return 3;
    default:
      return 4;
    }
  };
  // An F keeps room for one micro-batch of each later stage on its
  // processor (the V's second chunk): those must run before any block of
  // this micro-batch can be freed, so filling the memory with early chunks
  // would deadlock.
  std::vector<double> reserve(stages, 0.0);
  for (unsigned s = 0; s < stages; ++s)
    for (unsigned t = s + 1; t < stages; ++t)
      if (S.tasks[G.forward[t][0]].proc == S.tasks[G.forward[s][0]].proc)
        reserve[s] += G.blockWeight[G.blockOfForward[G.forward[t][0]]];
  auto startTime = [&](unsigned q, unsigned i) {
    double t = std::max(procFree[q], readyAt[i]);
    if (G.blockOfForward[i] >= 0)
      t = admitTime(q, t,
                    G.blockWeight[G.blockOfForward[i]] +
                        reserve[S.tasks[i].stage]);
    return t;
  };
  std::vector<double> earliest(procs, inf);
  std::vector<bool> stale(procs, true);
  for (size_t scheduled = 0; scheduled < n; ++scheduled) {
    double bestTime = inf;
    unsigned q = 0;
    for (unsigned r = 0; r < procs; ++r) {
      if (stale[r]) {
        earliest[r] = inf;
        for (unsigned i : candidates[r])
          earliest[r] = std::min(earliest[r], startTime(r, i));
        stale[r] = false;
      }
      if (earliest[r] < bestTime) {
        bestTime = earliest[r];
        q = r;
      }
    }
    if (bestTime == inf)
      return createStringError(
          inconvertibleErrorCode(),
          "the memory limit admits no further micro-batch: deadlock after "
          "%zu of %zu tasks",
          scheduled, n);
    // Among the tasks this processor can start at bestTime, the best by
    // rank, then the earliest micro-batch, then the deepest stage.
    int pick = -1;
    for (unsigned i : candidates[q]) {
      if (startTime(q, i) > bestTime)
        continue;
      if (pick < 0 || rank(i) < rank(pick) ||
          (rank(i) == rank(pick) &&
           (S.tasks[i].microBatch < S.tasks[pick].microBatch ||
            (S.tasks[i].microBatch == S.tasks[pick].microBatch &&
             S.tasks[i].stage > S.tasks[pick].stage))))
        pick = i;
    }
    assert(pick >= 0 && "the best time has a task");
    ScheduledTask &task = S.tasks[pick];
    task.start = bestTime;
    procFree[q] = task.end();
    stale[q] = true;
    candidates[q].erase(
        std::find(candidates[q].begin(), candidates[q].end(), unsigned(pick)));
    if (G.blockOfForward[pick] >= 0) {
      inFlight[q].push_back(G.blockOfForward[pick]);
      ++forwardsRun[task.stage];
    }
    if (task.kind == TaskKind::ActivationGradient ||
        task.kind == TaskKind::Backward)
      ++backwardsRun[task.stage];
    if (blockOfRelease[pick] >= 0)
      blockEnd[blockOfRelease[pick]] = task.end();
    for (unsigned d : succ[pick]) {
      const ScheduleDep &dep = S.deps[d];
      unsigned to = S.tasks[dep.dst].proc;
      double transfer = to == q ? 0.0 : dep.transferUs;
      readyAt[dep.dst] = std::max(readyAt[dep.dst], task.end() + transfer);
      if (--waiting[dep.dst] == 0) {
        candidates[to].push_back(dep.dst);
        stale[to] = true;
      }
    }
  }
  return Error::success();
}

/// The greedy rules tried for a limit of about \p k micro-batches on
/// \p stages stages: the 1F1B warm-up cap with F or B first, and longer
/// warm-ups up to what the memory allows.
static std::vector<GreedyRule> greedyRules(unsigned stages, double k) {
  std::vector<GreedyRule> rules;
  std::vector<int> extras = {0, 1, 2};
  if (k > stages)
    for (int e : {int(k) - int(stages), (int(k) - int(stages)) / 2})
      if (e > 2)
        extras.push_back(e);
  extras.push_back(-1);
  for (int e : extras)
    for (bool b : {false, true})
      rules.push_back({e, b});
  return rules;
}

Expected<Schedule> scheduleSynchronous(const StagePipeline &P,
                                       ScheduleKind kind,
                                       unsigned microBatches,
                                       unsigned limitMicroBatches,
                                       int64_t limitBytes,
                                       unsigned candidates) {
  unsigned stages = P.numStages();
  if (stages == 0 || microBatches == 0)
    return createStringError(inconvertibleErrorCode(),
                             "a synchronous step needs at least one stage and "
                             "one micro-batch (got %u and %u)",
                             stages, microBatches);
  unsigned procs = numPipelineProcs(P);
  bool virtualStages = procs != stages;
  if (virtualStages && !hasVirtualStages(kind))
    return createStringError(
        inconvertibleErrorCode(),
        "--schedule=%s runs one stage per processor (got %u stages on %u "
        "processors)",
        scheduleKindName(kind).str().c_str(), stages, procs);
  if (kind == ScheduleKind::PipeDream)
    return createStringError(inconvertibleErrorCode(),
                             "pipedream is asynchronous: it has no "
                             "synchronous step (drop --micro-batches)");
  // Only the greedy layerpipe step schedules within a user's memory limit;
  // the baselines keep their own rules, and their schedules failed
  // verification against a limit they never looked at.
  if ((limitBytes > 0 || limitMicroBatches > 0) &&
      kind != ScheduleKind::LayerPipe)
    return createStringError(
        inconvertibleErrorCode(),
        "--memory-limit and --memory-limit-microbatches apply to the "
        "synchronous layerpipe schedule only, not --schedule=%s (its memory "
        "is fixed by its rules)",
        scheduleKindName(kind).str().c_str());
  if (limitBytes > 0)
    for (unsigned s = 0; s < stages; ++s)
      if (P.activationBytes[s] > limitBytes)
        return createStringError(
            inconvertibleErrorCode(),
            "memory limit %lld bytes is smaller than one micro-batch's "
            "activations on stage %u ('%s'): %lld bytes",
            static_cast<long long>(limitBytes), s, P.stageNames[s].c_str(),
            static_cast<long long>(P.activationBytes[s]));

  // Zero Bubble's and V's memory: K micro-batches of a processor's
  // activations (all its stages).
  unsigned k = limitMicroBatches;
  if (kind == ScheduleKind::ZBH1 || kind == ScheduleKind::ZBV)
    k = procs;
  if (kind == ScheduleKind::ZBH2)
    k = 2 * procs;

  // Block weights: the activation bytes (what the verifier checks; a stage
  // that saves nothing holds nothing), a count of micro-batches only when
  // no stage has bytes.
  bool anyBytes = false;
  for (unsigned s = 0; s < stages; ++s)
    anyBytes = anyBytes || P.activationBytes[s] > 0;
  std::vector<double> weight(stages, 1.0);
  if (limitBytes > 0 || anyBytes)
    for (unsigned s = 0; s < stages; ++s)
      weight[s] = double(P.activationBytes[s]);
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<double> limit(procs, inf);
  // The verifier's limit in bytes (0: none), saturating: K x bytes may
  // exceed int64, and then limits nothing.
  std::vector<int64_t> limits;
  if (limitBytes > 0) {
    limit.assign(procs, double(limitBytes));
    limits.assign(procs, limitBytes);
  } else if (k > 0) {
    limit.assign(procs, 0.0);
    limits.assign(procs, 0);
    for (unsigned s = 0; s < stages; ++s) {
      unsigned q = procOf(P, s);
      limit[q] += double(k) * weight[s];
      int64_t bytes = P.activationBytes[s];
      int64_t add = bytes > 0 && k > INT64_MAX / bytes ? INT64_MAX
                                                       : int64_t(k) * bytes;
      limits[q] = add > INT64_MAX - limits[q] ? INT64_MAX : limits[q] + add;
    }
  }

  bool merged = kind == ScheduleKind::GPipe ||
                kind == ScheduleKind::OneFOneB ||
                kind == ScheduleKind::Interleaved1F1B;
  StepGraph base = buildStep(P, microBatches, merged, weight);
  base.schedule.name = scheduleKindName(kind).str();
  std::optional<StepGraph> best;
  std::function<void(StepGraph &&)> keep = [&](StepGraph &&G) {
    if (!best || makespanOf(G.schedule) < makespanOf(best->schedule) - 1e-9)
      best = std::move(G);
  };
  auto fixedOrder = [&](const std::vector<std::vector<unsigned>> &order)
      -> Error {
    StepGraph G = base;
    if (!timeOrders(G, order))
      return createStringError(inconvertibleErrorCode(),
                               "the %s order deadlocks with %u micro-batches",
                               base.schedule.name.c_str(), microBatches);
    keep(std::move(G));
    return Error::success();
  };
  Error lastError = Error::success();
  // Large steps (the list scheduler grows as micro-batches^2 x stages) try
  // the first rule only.
  bool large = uint64_t(microBatches) * microBatches * stages > (1u << 18);
  auto greedy = [&](double kApprox) {
    std::vector<GreedyRule> rules = greedyRules(stages, kApprox);
    if (large)
      rules.resize(1);
    for (GreedyRule rule : rules) {
      StepGraph G = base;
      if (Error err = scheduleGreedy(G, limit, rule)) {
        consumeError(std::move(lastError));
        lastError = std::move(err);
        continue;
      }
      keep(std::move(G));
    }
  };
  switch (kind) {
  case ScheduleKind::GPipe:
    if (Error err = fixedOrder(gpipeOrder(base, microBatches)))
      return err;
    break;
  case ScheduleKind::OneFOneB:
    if (Error err = fixedOrder(oneFOneBOrder(base, microBatches)))
      return err;
    break;
  case ScheduleKind::Interleaved1F1B:
    if (Error err = fixedOrder(
            interleavedOrder(base, microBatches, procs, stages / procs)))
      return err;
    break;
  case ScheduleKind::ZBH1:
  case ScheduleKind::ZBH2:
  {
    tryZeroBubble(base, P, microBatches, weight, limit, keep);
    // Where none of the heuristic's variants completes within the memory,
    // the list scheduler's rules at the same memory keep the baseline
    // defined. A stage that holds no activations or has no work (a flatten
    // alone: AlexNet and LeNet-5 on 12-16 processors) is outside what the
    // heuristic was built for, and its orders there can be far from what
    // the memory allows; the baseline then is the better of both, so that
    // it is never a straw man.
    bool idleStage = false;
    for (unsigned s = 0; s < stages; ++s)
      idleStage |= P.activationBytes[s] <= 0 ||
                   P.forward[s] + P.backward[s] + P.weightGradient[s] <= 0;
    if (!best || idleStage) {
      greedy(double(k));
      if (best && !large)
        improveByLocalSearch(*best, limit, 4000);
    }
    break;
  }
  case ScheduleKind::ZBV:
    greedy(double(k) * stages / procs);
    if (best && !large)
      improveByLocalSearch(*best, limit, 4000);
    break;
  case ScheduleKind::DualPipeV:
    if (stages != 2 * procs)
      return createStringError(inconvertibleErrorCode(),
                               "--schedule=dualpipe-v needs 2 stages per "
                               "processor in a V (got %u stages on %u)",
                               stages, procs);
    if (microBatches < stages)
      return createStringError(
          inconvertibleErrorCode(),
          "--schedule=dualpipe-v needs at least as many micro-batches as "
          "stages: --micro-batches %u < %u stages (2 per processor)",
          microBatches, stages);
    if (Error err = fixedOrder(dualPipeVOrder(base, microBatches, procs)))
      return err;
    break;
  case ScheduleKind::LayerPipe: {
    double kApprox = k > 0 ? double(k) : double(microBatches);
    if (limitBytes > 0) {
      kApprox = inf;
      for (unsigned s = 0; s < stages; ++s)
        if (P.activationBytes[s] > 0)
          kApprox = std::min(kApprox, double(limitBytes / P.activationBytes[s]));
      if (kApprox == inf)
        kApprox = microBatches;
    }
    if (candidates & ListRules)
      greedy(std::min(kApprox, double(microBatches)));
    if (!virtualStages && (candidates & ZeroBubbleVariants)) {
      std::vector<double> zbLimit = limit;
      for (unsigned s = 0; s < stages; ++s)
        if (zbLimit[s] == inf)
          zbLimit[s] = weight[s] * microBatches;
      tryZeroBubble(base, P, microBatches, weight, zbLimit, keep);
    }
    // Polishing every candidate instead finds nothing more on the Zero
    // Bubble grid and takes seven times as long.
    if (best && (candidates & LocalSearch) && !large)
      improveByLocalSearch(*best, limit, 4000);
    break;
  }
  case ScheduleKind::PipeDream:
    llvm_unreachable("rejected above");
  }
  if (!best) {
    if (lastError)
      return lastError;
    return createStringError(
        inconvertibleErrorCode(),
        "--schedule=%s: no order of %u micro-batches on %u stages fits the "
        "memory limit",
        base.schedule.name.c_str(), microBatches, stages);
  }
  consumeError(std::move(lastError));
  Schedule &S = best->schedule;
  S.memoryLimit = limits;
  S.period = makespanOf(S);
  return std::move(S);
}

} // namespace layerpipe
