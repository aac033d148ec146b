//===- Synchronous.cpp - Micro-batch schedules with a flush ---------------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// One synchronous training step: M micro-batches flow through a pipeline of
// stages (one per processor), each stage runs F, B (activation gradient) and
// G (weight gradient, the "W" of Zero Bubble) per micro-batch and one update
// U after the last G. GPipe and 1F1B are fixed per-stage orders timed as soon
// as possible; ZB-H1 and LayerPipe's own synchronous mode are built by a
// greedy list scheduler under a per-stage memory limit: whenever a stage is
// free it runs a ready B (it is on the critical path back to the first
// stage), else an F if the memory of one more micro-batch in flight fits,
// else a G (the bubble filler). A micro-batch holds its activations on a
// stage from the start of its F to the end of its G.
//
//===----------------------------------------------------------------------===//

#include "ScheduleInternal.h"

#include "llvm/Support/FormatVariadic.h"

#include <algorithm>
#include <cassert>
#include <limits>

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
};

} // namespace

static unsigned addTask(StepGraph &G, TaskKind kind, unsigned stage, int mb,
                        double duration, const StagePipeline &P) {
  ScheduledTask task;
  task.kind = kind;
  task.name = (taskKindPrefix(kind) + "." + P.stageNames[stage]).str();
  task.stage = stage;
  task.microBatch = mb;
  task.proc = stage;
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
                           bool mergeBackward) {
  StepGraph G;
  unsigned p = P.numStages();
  G.schedule.periodic = false;
  G.schedule.procs = p;
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
            addTask(G, TaskKind::Backward, s, j,
                    P.backward[s] + P.weightGradient[s], P);
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
    }
  }
  return G;
}

/// Times fixed per-stage orders (GPipe, 1F1B).
static void timeOrders(StepGraph &G,
                       const std::vector<std::vector<unsigned>> &order) {
  Schedule &S = G.schedule;
  std::vector<InstanceTask> instances;
  for (const ScheduledTask &task : S.tasks)
    instances.push_back({task.proc, task.duration});
  std::vector<double> end;
  std::vector<double> start = runInOrder(instances, S.deps, order, end);
  for (size_t i = 0; i < S.tasks.size(); ++i) {
    assert(start[i] >= 0 && "baseline order deadlocks");
    S.tasks[i].start = start[i];
  }
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

/// The greedy memory-aware list scheduler (ZB-H1 and LayerPipe).
static Error scheduleGreedy(StepGraph &G, const StagePipeline &P,
                            unsigned limitMicroBatches,
                            const std::vector<int64_t> &limitBytes) {
  Schedule &S = G.schedule;
  size_t n = S.tasks.size();
  unsigned p = S.procs;
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<std::vector<unsigned>> succ(n);
  std::vector<unsigned> waiting(n, 0);
  for (unsigned d = 0; d < S.deps.size(); ++d) {
    succ[S.deps[d].src].push_back(d);
    ++waiting[S.deps[d].dst];
  }
  std::vector<double> readyAt(n, 0.0);
  std::vector<bool> done(n, false);
  std::vector<std::vector<unsigned>> candidates(p);
  for (unsigned i = 0; i < n; ++i)
    if (waiting[i] == 0)
      candidates[S.tasks[i].proc].push_back(i);
  std::vector<double> procFree(p, 0.0);
  // Memory blocks in flight per stage: (F start, release end or +inf).
  std::vector<std::vector<unsigned>> inFlight(p);
  std::vector<double> blockEnd(S.memory.size(), inf);

  auto liveAt = [&](unsigned s, double t, int64_t &bytes) {
    unsigned count = 0;
    bytes = 0;
    for (unsigned b : inFlight[s])
      if (blockEnd[b] > t) {
        ++count;
        bytes += S.memory[b].bytes;
      }
    return count;
  };
  // Earliest time >= t at which stage s can admit one more micro-batch.
  auto admitTime = [&](unsigned s, double t) {
    int64_t limit = limitBytes.empty() ? 0 : limitBytes[s];
    std::vector<double> ends;
    for (unsigned b : inFlight[s])
      if (blockEnd[b] > t)
        ends.push_back(blockEnd[b]);
    std::sort(ends.begin(), ends.end());
    for (size_t k = 0;; ++k) {
      int64_t bytes;
      unsigned count = liveAt(s, t, bytes);
      bool fits = (limitMicroBatches == 0 || count < limitMicroBatches) &&
                  (limit <= 0 || bytes + P.activationBytes[s] <= limit);
      if (fits)
        return t;
      if (k >= ends.size() || ends[k] == inf)
        return inf;
      t = std::max(t, ends[k]);
    }
  };
  // A stage runs ahead of its backward by at most the 1F1B warm-up, so that
  // forwards keep flowing to the last stage without starving it of B.
  std::vector<unsigned> forwardsRun(p, 0), backwardsRun(p, 0);
  auto forwardAllowed = [&](unsigned s) {
    return forwardsRun[s] - backwardsRun[s] < p - s;
  };
  auto rank = [&](unsigned i) {
    switch (S.tasks[i].kind) {
    case TaskKind::Forward:
      return forwardAllowed(S.tasks[i].stage) ? 0 : 2;
    case TaskKind::ActivationGradient:
      return 1;
    case TaskKind::WeightGradient:
      return 3;
    default:
      return 4;
    }
  };
  for (size_t scheduled = 0; scheduled < n; ++scheduled) {
    double bestTime = inf;
    unsigned bestProc = 0;
    for (unsigned s = 0; s < p; ++s) {
      for (unsigned i : candidates[s]) {
        double t = std::max(procFree[s], readyAt[i]);
        if (S.tasks[i].kind == TaskKind::Forward)
          t = admitTime(s, t);
        if (t < bestTime) {
          bestTime = t;
          bestProc = s;
        }
      }
    }
    if (bestTime == inf)
      return createStringError(
          inconvertibleErrorCode(),
          "the memory limit admits no further micro-batch: deadlock after "
          "%zu of %zu tasks",
          scheduled, n);
    // Among the tasks this stage can start at bestTime, the best by rank.
    unsigned s = bestProc;
    int pick = -1;
    for (unsigned i : candidates[s]) {
      double t = std::max(procFree[s], readyAt[i]);
      if (t > bestTime)
        continue;
      if (S.tasks[i].kind == TaskKind::Forward && admitTime(s, t) > bestTime)
        continue;
      if (pick < 0 || rank(i) < rank(pick) ||
          (rank(i) == rank(pick) &&
           S.tasks[i].microBatch < S.tasks[pick].microBatch))
        pick = i;
    }
    assert(pick >= 0 && "the best time has a task");
    ScheduledTask &task = S.tasks[pick];
    task.start = bestTime;
    procFree[s] = task.end();
    done[pick] = true;
    candidates[s].erase(
        std::find(candidates[s].begin(), candidates[s].end(), unsigned(pick)));
    if (G.blockOfForward[pick] >= 0) {
      inFlight[s].push_back(G.blockOfForward[pick]);
      ++forwardsRun[s];
    }
    if (task.kind == TaskKind::ActivationGradient)
      ++backwardsRun[s];
    for (unsigned b = 0; b < S.memory.size(); ++b)
      if (S.memory[b].freeTask == unsigned(pick))
        blockEnd[b] = task.end();
    for (unsigned d : succ[pick]) {
      const ScheduleDep &dep = S.deps[d];
      double transfer = S.tasks[dep.dst].proc == s ? 0.0 : dep.transferUs;
      readyAt[dep.dst] = std::max(readyAt[dep.dst], task.end() + transfer);
      if (--waiting[dep.dst] == 0)
        candidates[S.tasks[dep.dst].proc].push_back(dep.dst);
    }
  }
  return Error::success();
}

Expected<Schedule> scheduleSynchronous(const StagePipeline &P,
                                       ScheduleKind kind,
                                       unsigned microBatches,
                                       unsigned limitMicroBatches,
                                       int64_t limitBytes) {
  unsigned p = P.numStages();
  if (p == 0 || microBatches == 0)
    return createStringError(inconvertibleErrorCode(),
                             "a synchronous step needs at least one stage and "
                             "one micro-batch (got %u and %u)",
                             p, microBatches);
  std::vector<int64_t> limits;
  if (limitBytes > 0) {
    for (unsigned s = 0; s < p; ++s)
      if (P.activationBytes[s] > limitBytes)
        return createStringError(
            inconvertibleErrorCode(),
            "memory limit %lld bytes is smaller than one micro-batch's "
            "activations on stage %u ('%s'): %lld bytes",
            static_cast<long long>(limitBytes), s, P.stageNames[s].c_str(),
            static_cast<long long>(P.activationBytes[s]));
    limits.assign(p, limitBytes);
  } else if (limitMicroBatches > 0) {
    for (unsigned s = 0; s < p; ++s) {
      // Saturates: K × bytes may exceed int64, and then limits nothing.
      int64_t bytes = P.activationBytes[s];
      limits.push_back(bytes > 0 && limitMicroBatches > INT64_MAX / bytes
                           ? INT64_MAX
                           : int64_t(limitMicroBatches) * bytes);
    }
  }

  // Only the greedy layerpipe step schedules within a memory limit; the
  // baselines keep their fixed orders, and their schedules failed
  // verification against a limit they never looked at.
  if (!limits.empty() && kind != ScheduleKind::LayerPipe)
    return createStringError(
        inconvertibleErrorCode(),
        "--memory-limit and --memory-limit-microbatches apply to the "
        "synchronous layerpipe schedule only, not --schedule=%s (its order "
        "is fixed)",
        scheduleKindName(kind).str().c_str());
  bool merged =
      kind == ScheduleKind::GPipe || kind == ScheduleKind::OneFOneB;
  StepGraph G = buildStep(P, microBatches, merged);
  G.schedule.name = scheduleKindName(kind).str();
  switch (kind) {
  case ScheduleKind::GPipe:
    timeOrders(G, gpipeOrder(G, microBatches));
    break;
  case ScheduleKind::OneFOneB:
    timeOrders(G, oneFOneBOrder(G, microBatches));
    break;
  case ScheduleKind::ZBH1:
    // Zero Bubble H1 keeps 1F1B's memory: p micro-batches in flight.
    if (Error err = scheduleGreedy(G, P, p, {}))
      return err;
    break;
  case ScheduleKind::LayerPipe:
    if (Error err = scheduleGreedy(G, P, limitMicroBatches, limits))
      return err;
    break;
  case ScheduleKind::PipeDream:
    return createStringError(inconvertibleErrorCode(),
                             "pipedream is asynchronous: it has no "
                             "synchronous step (drop --micro-batches)");
  }
  Schedule &S = G.schedule;
  S.memoryLimit = limits;
  S.period = 0;
  for (const ScheduledTask &task : S.tasks)
    S.period = std::max(S.period, task.end());
  return std::move(S);
}

} // namespace layerpipe
