//===- Scheduling.cpp - Entry point of the scheduler ----------------------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// runScheduling picks the schedule the options ask for, builds it from the
// compilation (the retimed DFG for layerpipe; the plan's stages, one per
// processor, for the baselines), verifies it, simulates it and computes the
// metrics that the summary and the JSON report print.
//
//===----------------------------------------------------------------------===//

#include "layerpipe/Compilation.h"
#include "layerpipe/ExactSchedule.h"
#include "layerpipe/Schedule.h"
#include "layerpipe/Transforms/Grouping.h"
#include "layerpipe/Transforms/Unfolding.h"
#include "layerpipe/Units.h"

#include "Links.h"
#include "ScheduleInternal.h"

#include "llvm/Support/FormatVariadic.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <limits>
#include <set>

using namespace llvm;

namespace layerpipe {

StringRef scheduleKindName(ScheduleKind kind) {
  switch (kind) {
  case ScheduleKind::LayerPipe:
    return "layerpipe";
  case ScheduleKind::PipeDream:
    return "pipedream";
  case ScheduleKind::GPipe:
    return "gpipe";
  case ScheduleKind::OneFOneB:
    return "1f1b";
  case ScheduleKind::ZBH1:
    return "zb-h1";
  case ScheduleKind::ZBH2:
    return "zb-h2";
  case ScheduleKind::ZBV:
    return "zb-v";
  case ScheduleKind::Interleaved1F1B:
    return "interleaved-1f1b";
  case ScheduleKind::DualPipeV:
    return "dualpipe-v";
  }
  llvm_unreachable("unknown schedule kind");
}

bool hasVirtualStages(ScheduleKind kind) {
  return kind == ScheduleKind::Interleaved1F1B || kind == ScheduleKind::ZBV ||
         kind == ScheduleKind::DualPipeV;
}

std::optional<ScheduleKind> parseScheduleKind(StringRef name) {
  for (ScheduleKind kind :
       {ScheduleKind::LayerPipe, ScheduleKind::PipeDream, ScheduleKind::GPipe,
        ScheduleKind::OneFOneB, ScheduleKind::ZBH1, ScheduleKind::ZBH2,
        ScheduleKind::ZBV, ScheduleKind::Interleaved1F1B,
        ScheduleKind::DualPipeV})
    if (scheduleKindName(kind).equals_insensitive(name))
      return kind;
  return std::nullopt;
}

StringRef placementModeName(PlacementMode mode) {
  switch (mode) {
  case PlacementMode::Stages:
    return "stages";
  case PlacementMode::Free:
    return "free";
  case PlacementMode::Auto:
    return "auto";
  }
  llvm_unreachable("unknown placement mode");
}

std::optional<PlacementMode> parsePlacementMode(StringRef name) {
  for (PlacementMode mode :
       {PlacementMode::Stages, PlacementMode::Free, PlacementMode::Auto})
    if (placementModeName(mode).equals_insensitive(name))
      return mode;
  return std::nullopt;
}

namespace {
/// The activations layer l's forward saves for its backward.
struct SavedActivation {
  int forward = -1, release = -1; ///< tasks
  int64_t distance = 0, bytes = 0;
};
} // namespace

/// Per layer: the Saved edges out of F, the block freed by the last consumer
/// (G if there is one) and its size.
static std::vector<SavedActivation> savedActivations(const Compilation &C) {
  std::vector<SavedActivation> saved(C.model.layers.size());
  for (const Edge &edge : C.dfg.edges) {
    if (edge.kind != EdgeKind::Saved)
      continue;
    const Task &dst = C.dfg.tasks[edge.dst];
    SavedActivation &s = saved[dst.layer];
    bool later = s.release < 0 ||
                 dst.kind == TaskKind::WeightGradient ||
                 edge.delay > s.distance;
    s.forward = edge.src;
    s.bytes = std::max(s.bytes, edge.bytes);
    if (later) {
      s.release = edge.dst;
      s.distance = edge.delay;
    }
  }
  return saved;
}

/// One stage per processor: the plan's stages if it has as many, else the
/// planner's optimal grouping into min(procs, layers) stages.
static Expected<std::vector<unsigned>>
stagesForBaselines(const Compilation &C, unsigned &count, unsigned procs);

static Expected<std::vector<unsigned>> stagesForBaselines(const Compilation &C,
                                                          unsigned &count) {
  return stagesForBaselines(C, count, C.options.schedule.procs);
}

/// The same for \p procs processors (the auto placement tries fewer).
static Expected<std::vector<unsigned>>
stagesForBaselines(const Compilation &C, unsigned &count, unsigned procs) {
  if (C.plan.planned && C.plan.numStages == procs &&
      C.plan.stageOfLayer.size() == C.model.layers.size()) {
    count = C.plan.numStages;
    return C.plan.stageOfLayer;
  }
  PlanOptions options;
  options.grouping = GroupingMode::Optimal;
  options.stagesCount =
      std::min<unsigned>(procs, std::max<size_t>(1, C.model.layers.size()));
  options.delays = DelayRule::None;
  options.weights = WeightPolicy::Sync;
  options.targetProcs = procs;
  auto planned = planStagesAndDelays(C.model, C.machine, options);
  if (!planned)
    return planned.takeError();
  count = 0;
  for (unsigned s : planned->first)
    count = std::max(count, s + 1);
  return std::move(planned->first);
}

/// Stage-level times, transfers and activation memory from the DFG.
static StagePipeline buildStagePipeline(const Compilation &C,
                                        const std::vector<unsigned> &stage,
                                        unsigned count) {
  StagePipeline P;
  P.forward.assign(count, 0);
  P.backward = P.weightGradient = P.update = P.sendForwardUs =
      P.sendBackwardUs = P.mergedBackward = P.forward;
  P.sendForwardBytes.assign(count, 0);
  P.sendBackwardBytes = P.activationBytes = P.sendForwardBytes;
  // Each layer's B and G (or merged BG) task time, for the merged stage
  // task below.
  std::vector<double> layerBackward(C.model.layers.size(), 0.0);
  for (const Task &task : C.dfg.tasks) {
    unsigned s = stage[task.layer];
    if (task.kind == TaskKind::ActivationGradient ||
        task.kind == TaskKind::WeightGradient ||
        task.kind == TaskKind::Backward)
      layerBackward[task.layer] += task.timeUs;
    switch (task.kind) {
    case TaskKind::Forward:
    case TaskKind::Loss:
      P.forward[s] += task.timeUs;
      break;
    case TaskKind::ActivationGradient:
    case TaskKind::Backward:
      P.backward[s] += task.timeUs;
      break;
    case TaskKind::WeightGradient:
      P.weightGradient[s] += task.timeUs;
      break;
    case TaskKind::Update:
      P.update[s] += task.timeUs;
      break;
    }
  }
  // Merged, each layer's B and G take their time measured back to back
  // where the profile has it (a DFG built merged already holds it).
  for (unsigned l = 0; l < C.model.layers.size(); ++l) {
    const std::optional<double> &merged =
        C.model.layers[l].measured.mergedBackward;
    P.mergedBackward[stage[l]] +=
        merged && !C.options.dfg.mergeBackward
            ? *merged + inputReloadUs(C.model.layers[l], C.options.dfg)
            : layerBackward[l];
  }
  // A tensor crossing several stage boundaries is sent over each of them;
  // a gradient read by both B and G of a layer is sent once.
  std::set<std::pair<unsigned, unsigned>> sent;
  for (const Edge &edge : C.dfg.edges) {
    unsigned a = stage[C.dfg.tasks[edge.src].layer];
    unsigned b = stage[C.dfg.tasks[edge.dst].layer];
    if (a == b || !sent.insert({edge.src, C.dfg.tasks[edge.dst].layer}).second)
      continue;
    if (edge.kind == EdgeKind::Activation && a < b)
      for (unsigned s = a; s < b; ++s)
        P.sendForwardBytes[s] += edge.bytes;
    if (edge.kind == EdgeKind::Gradient && a > b)
      for (unsigned s = b; s < a; ++s)
        P.sendBackwardBytes[s] += edge.bytes;
  }
  for (unsigned s = 0; s < count; ++s) {
    P.sendForwardUs[s] = C.machine.transferTimeUs(P.sendForwardBytes[s]);
    P.sendBackwardUs[s] = C.machine.transferTimeUs(P.sendBackwardBytes[s]);
  }
  for (const SavedActivation &saved : savedActivations(C))
    if (saved.forward >= 0)
      P.activationBytes[stage[C.dfg.tasks[saved.forward].layer]] +=
          saved.bytes;
  P.stageNames.assign(count, "");
  for (unsigned l = 0; l < C.model.layers.size(); ++l) {
    std::string &name = P.stageNames[stage[l]];
    if (name.empty())
      name = C.model.layers[l].name;
    else if (name.find("..") == std::string::npos)
      name += ".." + C.model.layers[l].name;
    else
      name = name.substr(0, name.find("..")) + ".." + C.model.layers[l].name;
  }
  return P;
}

/// PipeDream: per stage one F, one merged backward BG and one update, pinned
/// to the stage's processor; stage s keeps 2 (p - 1 - s) gradient delays
/// (its p - s weight versions), so only the stage loads bound the period.
/// PipeDream's steady state built directly: stage s runs F, then BG, then U
/// back to back once per period on its own processor, its F at the time the
/// activation arrives and its BG at the first moment, after the gradient
/// arrives, that falls in the slot right after its F (mod T). Returns the
/// schedule only if the verifier accepts it at period \p T; the loop
/// constraints (U -> F with one delay, BG -> U with the stage's gradient
/// delay) are what can fail, and then a larger T is tried by the caller.
static std::optional<Schedule>
buildOneFOneBPeriodic(const TrainingDFG &dfg, const MachineDesc &machine,
                      ArrayRef<unsigned> F, ArrayRef<unsigned> BG,
                      ArrayRef<unsigned> U, ArrayRef<int64_t> gradientDelay,
                      double T) {
  unsigned p = F.size();
  std::vector<double> start(dfg.tasks.size(), 0);
  auto time = [&](unsigned v) { return dfg.tasks[v].timeUs; };
  auto transfer = [&](unsigned from, unsigned to) {
    for (const Edge &e : dfg.edges)
      if (e.src == from && e.dst == to)
        return machine.transferTimeUs(double(e.bytes));
    return 0.0;
  };
  for (unsigned s = 0; s < p; ++s)
    start[F[s]] = s == 0 ? 0
                         : start[F[s - 1]] + time(F[s - 1]) +
                               transfer(F[s - 1], F[s]);
  for (unsigned s = p; s-- > 0;) {
    double ready = start[F[s]] + time(F[s]);
    if (s + 1 < p)
      ready = std::max(ready, start[BG[s + 1]] + time(BG[s + 1]) +
                                  transfer(BG[s + 1], BG[s]));
    // The slot after F: phase start(F) + t(F) (mod T).
    double slot = start[F[s]] + time(F[s]);
    double waits = std::ceil((ready - slot) / T - 1e-9);
    start[BG[s]] = slot + std::max(0.0, waits) * T;
    start[U[s]] = start[BG[s]] + time(BG[s]) - double(gradientDelay[s]) * T;
  }
  std::vector<unsigned> proc;
  for (const Task &task : dfg.tasks)
    proc.push_back(task.layer); // the stage
  Schedule S = makePeriodicSchedule(dfg, machine, p, T, start, proc);
  if (Error err = scheduleLinks(S)) {
    consumeError(std::move(err));
    return std::nullopt;
  }
  if (Error err = verifySchedule(S)) {
    consumeError(std::move(err));
    return std::nullopt;
  }
  return S;
}

/// The stage placement laid out the way PipeDream runs a stage, on the
/// layer-level DFG: per stage and period one block of its forward tasks (in
/// layer order), one of its backward tasks (B then G per layer, in reverse
/// layer order) right after it, then its updates. The blocks' phases follow
/// the forward chain (each stage's forward starts when the previous one's
/// tensors have arrived); which iteration each task runs in a period is then
/// the smallest integer offset k(v) that meets every dependence,
/// k(v) - k(u) >= ceil((phase(u) + t(u) + transfer - phase(v)) / T) - delay,
/// a longest-path problem (infeasible on a cycle of positive weight). T
/// grows from the largest stage load in 0.3% steps until the dependences
/// and the links (Links.h) fit and the verifier accepts.
///
/// With \p blocks (per stage: when its forward, backward and update blocks
/// start, e.g. PipeDream's own schedule of the same stages) the blocks
/// start there instead, and its period \p hint is tried first.
///
/// With \p stageOfTask, each task runs on that stage (a stage boundary
/// that splits a layer's tasks, shedTails below) instead of its layer's.
static std::optional<Schedule>
layOutStages(const TrainingDFG &dfg, const MachineDesc &machine,
             unsigned procs, ArrayRef<unsigned> stageOf, unsigned stages,
             double from, double upTo,
             ArrayRef<std::array<double, 3>> blocks = {}, double hint = 0,
             ArrayRef<unsigned> stageOfTask = {}) {
  size_t n = dfg.tasks.size();
  std::vector<unsigned> proc(n);
  std::vector<double> work(stages, 0);
  for (unsigned v = 0; v < n; ++v) {
    proc[v] = stageOfTask.empty() ? stageOf[dfg.tasks[v].layer]
                                  : stageOfTask[v];
    work[proc[v]] += dfg.tasks[v].timeUs;
  }
  auto isForward = [&](unsigned v) {
    TaskKind k = dfg.tasks[v].kind;
    return k == TaskKind::Forward || k == TaskKind::Loss;
  };
  // Block order per stage.
  std::vector<std::vector<unsigned>> fwd(stages), bwd(stages), upd(stages);
  for (unsigned v = 0; v < n; ++v) {
    unsigned s = proc[v];
    if (isForward(v))
      fwd[s].push_back(v);
    else if (dfg.tasks[v].kind == TaskKind::Update)
      upd[s].push_back(v);
    else
      bwd[s].push_back(v);
  }
  auto byLayer = [&](bool reverse) {
    return [&, reverse](unsigned a, unsigned b) {
      const Task &x = dfg.tasks[a], &y = dfg.tasks[b];
      if (x.layer != y.layer)
        return reverse ? x.layer > y.layer : x.layer < y.layer;
      // B before G of one layer; Loss after F of its layer.
      return int(x.kind) < int(y.kind);
    };
  };
  for (unsigned s = 0; s < stages; ++s) {
    std::stable_sort(fwd[s].begin(), fwd[s].end(), byLayer(false));
    std::stable_sort(bwd[s].begin(), bwd[s].end(), byLayer(true));
    std::stable_sort(upd[s].begin(), upd[s].end(), byLayer(false));
  }
  // Forward hand-over between consecutive stages: the link time of all the
  // tensors crossing, one latency.
  std::vector<double> handOver(stages, 0);
  std::vector<double> transfer(dfg.edges.size());
  for (unsigned e = 0; e < dfg.edges.size(); ++e) {
    const Edge &edge = dfg.edges[e];
    transfer[e] = machine.transferTimeUs(double(edge.bytes));
    unsigned a = proc[edge.src], b = proc[edge.dst];
    if (a + 1 == b && isForward(edge.src) && isForward(edge.dst))
      handOver[a] += double(edge.bytes) / machine.linkBandwidth * 1e6;
  }
  std::vector<double> phase(n, 0);
  double at = 0;
  for (unsigned s = 0; s < stages; ++s) {
    if (s > 0)
      at += machine.linkLatencyUs + handOver[s - 1];
    double t = at;
    unsigned b = 0;
    for (const std::vector<unsigned> *block : {&fwd[s], &bwd[s], &upd[s]}) {
      if (!blocks.empty())
        t = blocks[s][b++];
      for (unsigned v : *block) {
        phase[v] = t;
        t += dfg.tasks[v].timeUs;
      }
    }
    double f = 0;
    for (unsigned v : fwd[s])
      f += dfg.tasks[v].timeUs;
    at += f;
  }
  double lowest = std::max(from, *std::max_element(work.begin(), work.end()));
  // Per processor: its tasks by phase (the order they run in a period).
  std::vector<std::vector<unsigned>> sequence(stages);
  for (unsigned v = 0; v < n; ++v)
    sequence[proc[v]].push_back(v);
  for (std::vector<unsigned> &seq : sequence)
    std::stable_sort(seq.begin(), seq.end(), [&](unsigned a, unsigned b) {
      return phase[a] < phase[b];
    });
  std::vector<double> shifted;
  std::vector<int64_t> slack(dfg.edges.size());
  // The edges in a topological order of the training graph without its
  // feedback (weights back to F and B, the optimizer state; by their
  // source): forward in layer order, the loss, the backward down the
  // layers, the updates. One round of the offset relaxation below then
  // carries an offset along every chain, whichever way it runs through the
  // layers and wherever retiming put the delays, and the feedback edges
  // settle in the next round or two. (By the zero-delay subgraph alone, as
  // before, a chain whose delays lie inside a stage, as in the balanced
  // grouping, was cut into pieces that crossed one stage per round: the
  // 10,000-layer MLP on 1,024 processors needed 999 rounds, more than the
  // 16 large graphs allow, and its balanced layout failed at every period
  // up to 15.4 us.) A graph whose non-feedback edges hold a cycle falls
  // back to the zero-delay subgraph.
  std::vector<unsigned> edgeOrder(dfg.edges.size());
  {
    std::vector<unsigned> topo, rankOf(n, 0);
    auto order = [&](auto keep) {
      std::vector<unsigned> waiting(n, 0);
      std::vector<std::vector<unsigned>> out(n);
      topo.clear();
      for (const Edge &edge : dfg.edges)
        if (keep(edge)) {
          ++waiting[edge.dst];
          out[edge.src].push_back(edge.dst);
        }
      for (unsigned v = 0; v < n; ++v)
        if (!waiting[v])
          topo.push_back(v);
      for (size_t i = 0; i < topo.size(); ++i)
        for (unsigned w : out[topo[i]])
          if (--waiting[w] == 0)
            topo.push_back(w);
      return topo.size() == n;
    };
    if (!order([](const Edge &edge) {
          return edge.src != edge.dst && edge.kind != EdgeKind::Weight &&
                 edge.kind != EdgeKind::UpdateState;
        }))
      order([](const Edge &edge) { return edge.delay == 0; });
    for (size_t i = 0; i < topo.size(); ++i)
      rankOf[topo[i]] = unsigned(i);
    std::iota(edgeOrder.begin(), edgeOrder.end(), 0u);
    std::stable_sort(edgeOrder.begin(), edgeOrder.end(),
                     [&](unsigned a, unsigned b) {
                       return rankOf[dfg.edges[a].src] <
                              rankOf[dfg.edges[b].src];
                     });
  }
  auto layOut = [&](double T) -> std::optional<Schedule> {
   // A transfer whose window is too tight for the links (its consumer
   // starts right when it could arrive, while the channel carries another
   // tensor) moves its consumer, and what follows it on its processor,
   // later by its link time while the processor's tasks still fit in a
   // period, else gets a period of slack; a few times at most.
   shifted = phase;
   std::fill(slack.begin(), slack.end(), 0);
   for (unsigned retry = 0;; ++retry) {
    const std::vector<double> &phase = shifted;
    std::vector<int64_t> k(n, 0);
    bool changed = true, tooShort = false;
    // In the edge order above, the offsets of a layout that fits settle in
    // a few rounds (at most 3 for a 10,000-layer MLP on 64 to 1,024
    // stages, the plan's grouping or the balanced one); on a cycle that
    // needs more delays they grow every round. Graphs of more than 5,000
    // tasks stop after 16 rounds (the layout then counts as failed at this
    // T), smaller ones after n (the least offsets, whatever the order).
    size_t rounds = n <= 5000 ? n : 16;
    for (size_t round = 0; changed && !tooShort && round <= rounds;
         ++round) {
      changed = false;
      for (unsigned e : edgeOrder) {
        const Edge &edge = dfg.edges[e];
        double tr = proc[edge.src] == proc[edge.dst] ? 0.0 : transfer[e];
        double need = phase[edge.src] + dfg.tasks[edge.src].timeUs + tr -
                      phase[edge.dst];
        // With a period far below the tasks' times (1e-300 us beside
        // microsecond transfers) the offset is beyond int64: no layout at
        // this T.
        double periods = std::ceil(need / T - 1e-9);
        if (!(std::fabs(periods) < 1e15)) {
          tooShort = true;
          break;
        }
        int64_t c = int64_t(periods) - edge.delay + slack[e];
        if (k[edge.dst] < k[edge.src] + c) {
          k[edge.dst] = k[edge.src] + c;
          changed = true;
        }
      }
    }
    if (changed || tooShort)
      return std::nullopt; // a cycle needs more delays than it has at T
    std::vector<double> start(n);
    for (unsigned v = 0; v < n; ++v)
      start[v] = phase[v] + double(k[v]) * T;
    Schedule S = makePeriodicSchedule(dfg, machine, procs, T, start, proc);
    size_t failed = SIZE_MAX;
    if (Error err = scheduleLinks(S, &failed)) {
      consumeError(std::move(err));
      if (failed >= slack.size() || retry >= 16)
        return std::nullopt;
      const Edge &edge = dfg.edges[failed];
      double by = double(edge.bytes) / machine.linkBandwidth * 1e6;
      const std::vector<unsigned> &seq = sequence[proc[edge.dst]];
      double span = shifted[seq.back()] + dfg.tasks[seq.back()].timeUs -
                    shifted[seq.front()];
      if (slack[failed] == 0 && span + by <= T * (1 - 1e-9)) {
        bool after = false;
        for (unsigned v : seq)
          if ((after |= v == edge.dst))
            shifted[v] += by;
      } else {
        ++slack[failed];
      }
      continue;
    }
    if (Error err = verifySchedule(S)) {
      consumeError(std::move(err));
      return std::nullopt;
    }
    return S;
   }
  };
  std::optional<Schedule> hinted;
  if (hint >= lowest && hint <= upTo * (1 + 1e-9))
    if ((hinted = layOut(hint)))
      upTo = hint;
  unsigned step = 0;
  double failed = 0;
  // Graphs of more than 5,000 tasks step 1% at a time (each try verifies
  // the whole graph); the bisection below recovers the precision.
  const double fine = n > 5000 ? 1.01 : 1.003;
  for (double T = lowest; T <= upTo * (1 + 1e-9);
       T *= step++ < 60 ? fine : 1.03) {
    std::optional<Schedule> found = layOut(T);
    if (!found) {
      failed = T;
      continue;
    }
    // The steps are 0.3% (then 3%) wide: bisect back towards the last
    // period that failed (a period between may fit: PipeDream's own 1F1B
    // layout of the same stages often lies there), keeping the shortest
    // verified layout.
    for (unsigned k = 0; failed > 0 && k < 8; ++k) {
      double mid = 0.5 * (failed + found->period);
      if (std::optional<Schedule> better = layOut(mid))
        found = std::move(better);
      else
        failed = mid;
    }
    if (hinted && hinted->period <= found->period)
      return hinted;
    return found;
  }
  return hinted;
}

/// Stage boundaries that split a layer's tasks: a stage whose work is
/// above \p target * (1 + 1e-9) hands the weight-gradient and update tasks
/// (G, U) of its last layer with weights to the next stage, which then
/// runs them after its own backward tasks. Left to right, a stage counts
/// what it received; the smallest target for which every stage fits is
/// found by bisection. The loop of a layer so split crosses the boundary
/// as often as before (its weights come back from the next stage instead
/// of its activation gradient), so the layer's gradient delay (its stage's)
/// still covers it; the layout and the verifier check that, and the link
/// time of the weights, the weight gradient and the saved input that now
/// cross. Whole layers cannot balance the work below one layer's grain (a
/// 10,000-layer MLP on 256 stages: 40 layers where the average is 39.06,
/// 1.023 x work / p). Returns each task's stage; empty if nothing moves.
static std::vector<unsigned> shedTails(const TrainingDFG &dfg,
                                       ArrayRef<unsigned> stageOf,
                                       unsigned stages) {
  std::vector<double> work(stages, 0), tail(stages, 0);
  std::vector<int> tailLayer(stages, -1);
  for (const Task &task : dfg.tasks) {
    unsigned s = stageOf[task.layer];
    work[s] += task.timeUs;
    if (task.kind == TaskKind::Update)
      tailLayer[s] = std::max(tailLayer[s], int(task.layer));
  }
  for (const Task &task : dfg.tasks) {
    unsigned s = stageOf[task.layer];
    if (int(task.layer) == tailLayer[s] &&
        (task.kind == TaskKind::WeightGradient ||
         task.kind == TaskKind::Update))
      tail[s] += task.timeUs;
  }
  double total = 0, most = 0;
  for (double w : work) {
    total += w;
    most = std::max(most, w);
  }
  // Which stages hand their tail on at \p target; false if one does not
  // fit.
  std::vector<char> moved(stages, 0);
  auto fits = [&](double target) {
    double limit = target * (1 + 1e-9), received = 0;
    for (unsigned s = 0; s < stages; ++s) {
      double load = work[s] + received;
      received = 0;
      moved[s] = 0;
      if (load > limit && s + 1 < stages && tailLayer[s] >= 0) {
        load -= tail[s];
        received = tail[s];
        moved[s] = 1;
      }
      if (load > limit)
        return false;
    }
    return true;
  };
  double lo = total / std::max(1u, stages), hi = most;
  if (!(lo < hi) || !fits(hi * (1 - 1e-6)))
    return {};
  for (int step = 0; step < 40 && hi - lo > 1e-9 * hi; ++step) {
    double mid = 0.5 * (lo + hi);
    (fits(mid) ? hi : lo) = mid;
  }
  fits(hi);
  std::vector<unsigned> stageOfTask(dfg.tasks.size());
  for (unsigned v = 0; v < dfg.tasks.size(); ++v) {
    const Task &task = dfg.tasks[v];
    unsigned s = stageOf[task.layer];
    bool isTail = task.kind == TaskKind::WeightGradient ||
                  task.kind == TaskKind::Update;
    stageOfTask[v] =
        s + (moved[s] && isTail && int(task.layer) == tailLayer[s]);
  }
  return stageOfTask;
}

static Expected<ModuloResult> schedulePipeDream(const StagePipeline &P,
                                                const MachineDesc &machine) {
  unsigned p = P.numStages();
  TrainingDFG dfg;
  std::vector<int> pinned;
  auto add = [&](TaskKind kind, unsigned s, double time) {
    Task task;
    task.kind = kind;
    task.name = (taskKindPrefix(kind) + "." + P.stageNames[s]).str();
    task.layer = s;
    task.timeUs = time;
    dfg.tasks.push_back(task);
    pinned.push_back(s);
    return unsigned(dfg.tasks.size() - 1);
  };
  auto edge = [&](unsigned a, unsigned b, int64_t delay, int64_t bytes,
                  EdgeKind kind) {
    Edge e;
    e.src = a;
    e.dst = b;
    e.delay = delay;
    e.bytes = bytes;
    e.kind = kind;
    dfg.edges.push_back(e);
  };
  std::vector<unsigned> F, BG, U;
  for (unsigned s = 0; s < p; ++s) {
    F.push_back(add(TaskKind::Forward, s, P.forward[s]));
    BG.push_back(add(TaskKind::Backward, s, P.mergedBackwardUs(s)));
    U.push_back(add(TaskKind::Update, s, P.update[s]));
  }
  for (unsigned s = 0; s < p; ++s) {
    if (s + 1 < p) {
      edge(F[s], F[s + 1], 0, P.sendForwardBytes[s], EdgeKind::Activation);
      edge(BG[s + 1], BG[s], 0, P.sendBackwardBytes[s], EdgeKind::Gradient);
    }
    edge(F[s], BG[s], 0, P.activationBytes[s], EdgeKind::Saved);
    edge(BG[s], U[s], 2 * (p - 1 - s), 0, EdgeKind::WeightGradient);
    edge(U[s], F[s], 1, 0, EdgeKind::Weight);
    edge(U[s], BG[s], 1, 0, EdgeKind::Weight);
    edge(U[s], U[s], 1, 0, EdgeKind::UpdateState);
  }
  Expected<IterationBound> bound = computeIterationBound(dfg);
  if (!bound)
    return bound.takeError();
  Expected<ModuloResult> result =
      scheduleModulo(dfg, p, machine, bound->boundUs, pinned);
  if (!result)
    return result.takeError();
  result->iterationBound = bound->boundUs;
  // The list scheduler can leave a fully loaded stage short of its own
  // bound; PipeDream's 1F1B steady state, built directly, is tried from the
  // lower bound up in 0.5% steps and kept if it verifies with a shorter
  // period (so the baseline is not handicapped by our heuristic).
  std::vector<int64_t> gradientDelay;
  for (unsigned s = 0; s < p; ++s)
    gradientDelay.push_back(2 * int64_t(p - 1 - s));
  for (double T = result->lowerBound; T < result->schedule.period * (1 - 1e-9);
       T *= 1.005) {
    if (std::optional<Schedule> direct = buildOneFOneBPeriodic(
            dfg, machine, F, BG, U, gradientDelay, T)) {
      result->schedule = std::move(*direct);
      break;
    }
  }
  for (unsigned v = 0; v < dfg.tasks.size(); ++v) {
    result->schedule.tasks[v].stage = dfg.tasks[v].layer;
    result->schedule.tasks[v].layer = -1;
  }
  for (unsigned s = 0; s < p; ++s)
    result->schedule.memory.push_back(
        {F[s], BG[s], 0, P.activationBytes[s]});
  return result;
}

static double totalWork(const Schedule &S) {
  double work = 0;
  for (const ScheduledTask &task : S.tasks)
    work += task.duration;
  return work;
}

/// A V placement (ZB-V, DualPipe-V) runs stages s and 2p - 1 - s on one
/// processor: contiguous stages of the layers in model order whose pairs
/// have the smallest largest load (a dynamic program from both ends
/// inwards over the layers' task times). Empty when the model is too large
/// for it (L^4 p above 2e8) or has fewer than 2p layers.
static std::vector<unsigned> balancedVStages(const Compilation &C,
                                             unsigned p) {
  size_t L = C.model.layers.size();
  if (L < 2 * p || double(L) * L * L * L * p > 2e8)
    return {};
  // prefix[l]: the task times of layers 0..l-1.
  std::vector<double> prefix(L + 1, 0.0);
  for (const Task &task : C.dfg.tasks)
    if (task.layer < L)
      prefix[task.layer + 1] += task.timeUs;
  for (size_t l = 0; l < L; ++l)
    prefix[l + 1] += prefix[l];
  auto sum = [&](size_t a, size_t b) { return prefix[b] - prefix[a]; };
  const double inf = std::numeric_limits<double>::infinity();
  // best[r][i][j]: pairs 0..r-1 cover layers [0, i) and [j, L).
  std::vector<std::vector<std::vector<double>>> best(
      p + 1, std::vector<std::vector<double>>(L + 1,
                                              std::vector<double>(L + 1, inf)));
  std::vector<std::vector<std::vector<std::pair<uint16_t, uint16_t>>>> from(
      p + 1, std::vector<std::vector<std::pair<uint16_t, uint16_t>>>(
                 L + 1, std::vector<std::pair<uint16_t, uint16_t>>(L + 1)));
  best[0][0][L] = 0;
  for (unsigned r = 0; r < p; ++r)
    for (size_t i = r; i <= L; ++i)
      for (size_t j = i; j <= L; ++j) {
        double now = best[r][i][j];
        if (now == inf)
          continue;
        // Stage r takes [i, a), stage 2p - 1 - r takes [b, j); the stages
        // still to come need a layer each.
        size_t left = 2 * (p - r - 1);
        for (size_t a = i + 1; a <= j; ++a)
          for (size_t b = j - 1; b >= a + left && b < j; --b) {
            double v = std::max(now, sum(i, a) + sum(b, j));
            if (v < best[r + 1][a][b]) {
              best[r + 1][a][b] = v;
              from[r + 1][a][b] = {uint16_t(i), uint16_t(j)};
            }
            if (b == 0)
              break;
          }
      }
  size_t mid = L + 1;
  double value = inf;
  for (size_t i = 0; i <= L; ++i)
    if (best[p][i][i] < value) {
      value = best[p][i][i];
      mid = i;
    }
  if (mid > L)
    return {};
  std::vector<unsigned> stage(L, 0);
  size_t a = mid, b = mid;
  for (unsigned r = p; r > 0; --r) {
    auto [i, j] = from[r][a][b];
    for (size_t l = i; l < a; ++l)
      stage[l] = r - 1;
    for (size_t l = b; l < j; ++l)
      stage[l] = 2 * p - r;
    a = i;
    b = j;
  }
  return stage;
}

static Error scheduleSynchronousStep(Compilation &C, ScheduleResult &R) {
  const ScheduleOptions &opts = C.options.schedule;
  for (unsigned l = 0; l < C.plan.gradientDelay.size(); ++l)
    if (C.plan.gradientDelay[l] != 0)
      return createStringError(
          inconvertibleErrorCode(),
          "synchronous schedule '%s' needs --delays=none, but layer '%s' has "
          "gradient delay %lld",
          scheduleKindName(opts.kind).str().c_str(),
          C.model.layers[l].name.c_str(),
          static_cast<long long>(C.plan.gradientDelay[l]));
  unsigned count = 0;
  // Interleaved 1F1B (V stages per processor, round robin), ZB-V and
  // DualPipe-V (2 per processor, in a V): the model cut into more stages.
  unsigned virtualStages = opts.kind == ScheduleKind::Interleaved1F1B
                               ? opts.virtualStages
                           : hasVirtualStages(opts.kind) ? 2
                                                         : 1;
  Expected<std::vector<unsigned>> stages =
      stagesForBaselines(C, count, opts.procs * virtualStages);
  if (!stages)
    return stages.takeError();
  // A V placement also tries the stages balanced for its pairs and keeps
  // the shorter step (below).
  std::vector<unsigned> balanced;
  if (opts.kind == ScheduleKind::ZBV || opts.kind == ScheduleKind::DualPipeV)
    balanced = balancedVStages(C, opts.procs);
  if (virtualStages > 1 && count != opts.procs * virtualStages)
    return createStringError(
        inconvertibleErrorCode(),
        "--schedule=%s needs %u virtual stages per processor, %u in all on "
        "%u processors, but the model has only %zu layers",
        scheduleKindName(opts.kind).str().c_str(), virtualStages,
        opts.procs * virtualStages, opts.procs, C.model.layers.size());
  auto pipelineOf = [&](const std::vector<unsigned> &stageOfLayer) {
    StagePipeline P = buildStagePipeline(C, stageOfLayer, count);
    if (virtualStages > 1) {
      unsigned p = opts.procs;
      for (unsigned s = 0; s < count; ++s)
        P.procOfStage.push_back(opts.kind != ScheduleKind::Interleaved1F1B &&
                                        s >= p
                                    ? 2 * p - 1 - s
                                    : s % p);
    }
    return P;
  };
  StagePipeline P = pipelineOf(*stages);
  // The synchronous schedulers' time grows as micro-batches² × stages
  // (16 stages × 1024² took 90 s): the default of 4 per stage is capped to
  // the budget, and a larger --micro-batches is an error.
  auto work = [&](uint64_t m) { return m * m * count; };
  uint64_t m = opts.microBatches;
  if (!m) {
    m = 4 * uint64_t(count / virtualStages);
    while (m > 1 && work(m) > MaxSynchronousWork)
      --m;
  }
  if (work(m) > MaxSynchronousWork)
    return createStringError(
        inconvertibleErrorCode(),
        "--micro-batches %llu with %u stages: micro-batches^2 x stages = %llu "
        "exceeds the limit of %llu (at most %llu micro-batches with %u "
        "stages)",
        static_cast<unsigned long long>(m), count,
        static_cast<unsigned long long>(work(m)),
        static_cast<unsigned long long>(MaxSynchronousWork),
        static_cast<unsigned long long>(
            std::sqrt(double(MaxSynchronousWork / count))),
        count);
  Expected<Schedule> S =
      scheduleSynchronous(P, opts.kind, unsigned(m),
                          opts.memoryLimitMicroBatches, opts.memoryLimitBytes);
  if (!S)
    return S.takeError();
  if (!balanced.empty() && balanced != *stages) {
    StagePipeline Q = pipelineOf(balanced);
    Expected<Schedule> T = scheduleSynchronous(Q, opts.kind, unsigned(m), 0, 0);
    if (!T) {
      consumeError(T.takeError());
    } else if (T->period < S->period - 1e-9) {
      S = std::move(T);
      P = std::move(Q);
      *stages = std::move(balanced);
    }
  }
  S->procs = opts.procs; // stages beyond the layers leave processors idle
  S->stageOfLayer = *stages;
  if (!S->memoryLimit.empty())
    S->memoryLimit.resize(opts.procs, S->memoryLimit.back());
  R.schedule = std::move(*S);
  ScheduleMetrics &M = R.metrics;
  // The busiest processor's work per micro-batch (all its stages; B and G
  // at the lesser of their separate and merged times, whichever the
  // schedule ran).
  std::vector<double> procWork(opts.procs, 0.0);
  for (unsigned s = 0; s < count; ++s)
    procWork[P.procOfStage.empty() ? s : P.procOfStage[s]] +=
        P.forward[s] +
        std::min(P.backward[s] + P.weightGradient[s], P.mergedBackwardUs(s)) +
        P.update[s];
  double stageMax = *std::max_element(procWork.begin(), procWork.end());
  M.makespan = R.schedule.period;
  M.period = M.makespan / m;
  M.lowerBound = M.lowerBoundNoTransfers = stageMax;
  M.iterationBound = C.initialBound.boundUs;
  return Error::success();
}

static Error scheduleAsynchronous(Compilation &C, ScheduleResult &R) {
  const ScheduleOptions &opts = C.options.schedule;
  // The bound with transfers of the graph the layerpipe schedule places.
  std::optional<TransferBound> transfers;
  ExactSummary exactSummary;
  Expected<ModuloResult> result = [&]() -> Expected<ModuloResult> {
    if (opts.kind == ScheduleKind::PipeDream) {
      unsigned count = 0;
      Expected<std::vector<unsigned>> stages = stagesForBaselines(C, count);
      if (!stages)
        return stages.takeError();
      Expected<ModuloResult> result = schedulePipeDream(
          buildStagePipeline(C, *stages, count), C.machine);
      if (result)
        result->schedule.stageOfLayer = *stages;
      return result;
    }
    double bound = C.plan.planned ? C.plan.retimedBound.boundUs
                                  : C.initialBound.boundUs;
    // --unfold J schedules J iterations per period: the unfolded graph's
    // iteration bound is exactly J times the original's.
    const unsigned J = opts.unfold;
    TrainingDFG unfolded;
    if (J > 1)
      unfolded = unfoldDFG(C.dfg, J);
    const TrainingDFG &graph = J > 1 ? unfolded : C.dfg;
    bound *= J;
    // --placement: free places every task anywhere; stages pins each
    // layer's tasks to its plan stage's processor (the retimed pipeline as
    // planned: weights and saved activations stay local, only the
    // activations and gradients between stages cross); auto tries both and
    // keeps the shorter period with the links' contention counted, within
    // 1% the fewer bytes. Large graphs in auto try the stages only when the
    // free placement stays more than 2% above the lower bound.
    bool canStage = C.plan.planned && C.plan.numStages <= opts.procs &&
                    C.plan.stageOfLayer.size() == C.model.layers.size();
    if (opts.placement == PlacementMode::Stages && !canStage)
      return createStringError(
          inconvertibleErrorCode(),
          "--placement=stages needs a plan of at most %u stages (the plan "
          "has %u)",
          opts.procs, C.plan.planned ? C.plan.numStages : 0u);
    double work = 0, largest = 0;
    for (const Task &task : graph.tasks) {
      work += task.timeUs;
      largest = std::max(largest, task.timeUs);
    }
    double problemBound = std::max({bound, work / opts.procs, largest});
    transfers = transferLowerBound(graph, opts.procs, C.machine);
    Expected<ModuloResult> modulo = createStringError(
        inconvertibleErrorCode(), "no placement was tried");
    // Large graphs (> 5,000 tasks) in auto start from the stages: the free
    // placement's one list variant crosses processors on most edges and
    // saturates the links (a 10,000-layer MLP on 64 processors: 969 us and
    // 24 s free, 525 us and 1 s on the stages); it runs only if they fail.
    bool large = graph.tasks.size() > 5000;
    if (opts.placement == PlacementMode::Free ||
        (opts.placement == PlacementMode::Auto && !large)) {
      consumeError(modulo.takeError());
      modulo = scheduleModulo(graph, opts.procs, C.machine, bound);
      if (modulo) {
        modulo->iterationBound = bound;
        modulo->placement = "free";
      }
    }
    // Auto keeps another placement than the stages only within the byte
    // budget (a multiple of the stages' bytes per iteration).
    std::optional<int64_t> stageBytes;
    // The most bytes per iteration another placement may send once the
    // stages' are known; -1 for no limit.
    auto byteCap = [&]() -> int64_t {
      if (!stageBytes || opts.placement != PlacementMode::Auto ||
          opts.byteBudget <= 0)
        return -1;
      return int64_t(opts.byteBudget * double(*stageBytes) + 0.5);
    };
    auto overBudget = [&](const Schedule &other) {
      return byteCap() >= 0 && computeCommBytes(other) > byteCap();
    };
    bool tryPinned =
        opts.placement == PlacementMode::Stages ||
        (opts.placement == PlacementMode::Auto &&
         (!modulo || graph.tasks.size() <= 5000 ||
          modulo->schedule.period > 1.02 * modulo->lowerBound));
    if (tryPinned && canStage) {
      std::vector<int> pinned;
      for (const Task &task : graph.tasks)
        pinned.push_back(C.plan.stageOfLayer[task.layer]);
      // Within 1% of the free period the stages may still win on bytes.
      // (With a byte budget the stages are needed whatever their period.)
      bool budget = opts.placement == PlacementMode::Auto &&
                    opts.byteBudget > 0;
      double limit = modulo && !budget ? modulo->schedule.period * 1.01 : 0;
      // Large graphs (> 5,000 tasks) lay the plan's stages out directly
      // first (one pass per period tried, and shorter than the list
      // scheduler's: a 10,000-layer MLP on 1,024 processors 51.7 ->
      // 45.5 us); the list scheduler runs only if the layout fails.
      Expected<ModuloResult> staged = createStringError(
          inconvertibleErrorCode(), "the stage layout failed");
      bool laidOut = false;
      if (large) {
        double all = 0;
        for (const Task &task : graph.tasks)
          all += task.timeUs;
        double upTo = limit > 0 ? limit : 2 * all;
        std::optional<Schedule> direct =
            layOutStages(graph, C.machine, opts.procs, C.plan.stageOfLayer,
                         C.plan.numStages, bound, upTo);
        // The stage layout's period is at least the largest stage's work;
        // the grouping that balances the work alone (same stage count) is
        // laid out too, within the same delays, and the shorter verified
        // layout is kept. The plan's optimal grouping already balances the
        // work where the links do not bind (its stages cost the larger of
        // work and link time), so this helps hints, explicit stages and
        // groupings shaped by the links.
        if (J == 1) {
          GroupingProblem work =
              GroupingProblem::build(C.model, C.dfg, C.machine);
          std::fill(work.cutCost.begin(), work.cutCost.end(), 0.0);
          work.finalize();
          if (Expected<Grouping> even = groupOptimal(work, C.plan.numStages)) {
            if (even->stageOfLayer != C.plan.stageOfLayer)
              if (std::optional<Schedule> balanced = layOutStages(
                      graph, C.machine, opts.procs, even->stageOfLayer,
                      C.plan.numStages, bound,
                      direct ? direct->period : upTo))
                if (!direct ||
                    balanced->period < direct->period * (1 - 1e-9))
                  direct = std::move(balanced);
          } else {
            consumeError(even.takeError());
          }
          // The plan's stages with the tails of the heaviest handed on
          // (shedTails): below the grain of whole layers.
          std::vector<unsigned> split =
              shedTails(graph, C.plan.stageOfLayer, C.plan.numStages);
          if (!split.empty())
            if (std::optional<Schedule> finer = layOutStages(
                    graph, C.machine, opts.procs, C.plan.stageOfLayer,
                    C.plan.numStages, bound, direct ? direct->period : upTo,
                    {}, 0, split))
              if (!direct || finer->period < direct->period * (1 - 1e-9))
                direct = std::move(finer);
        }
        if (direct) {
          consumeError(staged.takeError());
          ModuloResult laid;
          laid.schedule = std::move(*direct);
          laid.attempts = 1;
          staged = std::move(laid);
          laidOut = true;
        }
      }
      if (!laidOut) {
        consumeError(staged.takeError());
        staged = scheduleModulo(graph, opts.procs, C.machine, bound, pinned,
                                limit);
      }
      // The free placement wins only if it shortens the period by more
      // than the link time per period it adds (on the busiest link).
      auto busiest = [](const Schedule &S) {
        std::vector<double> busy = computeLinkBusy(S);
        return busy.empty() ? 0.0 : *std::max_element(busy.begin(), busy.end());
      };
      auto freeWins = [&](const Schedule &free, const Schedule &stages) {
        double a = stages.period, b = free.period;
        double added = busiest(free) - busiest(stages);
        return b < a * (1 - 1e-9) && a - b > std::max(0.0, added);
      };
      // Whether the stages replace the free placement.
      auto better = [&]() {
        if (!modulo || overBudget(modulo->schedule))
          return true;
        return !freeWins(modulo->schedule, staged->schedule);
      };
      // The PipeDream-like layout of the same stages, when it is shorter.
      {
        double upTo = staged            ? staged->schedule.period
                      : modulo && !budget ? modulo->schedule.period * 1.01
                                          : 0;
        if (upTo <= 0) {
          double all = 0;
          for (const Task &task : graph.tasks)
            all += task.timeUs;
          upTo = 2 * all;
        }
        // The plan's stages, and the baselines' (PipeDream's) when they
        // differ: the same stages as PipeDream reach its period.
        std::vector<std::pair<std::vector<unsigned>, unsigned>> groupings = {
            {C.plan.stageOfLayer, C.plan.numStages}};
        // Auto on small graphs: the optimal groupings into fewer stages
        // too (the plan's delays cover fewer stages), so that more
        // processors never give a longer period.
        unsigned fewest = opts.procs;
        if (opts.placement == PlacementMode::Auto &&
            graph.tasks.size() * opts.procs <= 20000)
          fewest = 2;
        for (unsigned k = opts.procs; k >= fewest && k >= 1; --k) {
          unsigned count = 0;
          if (Expected<std::vector<unsigned>> theirs =
                  stagesForBaselines(C, count, k)) {
            bool seen = false;
            for (auto &g : groupings)
              seen |= g.first == *theirs;
            if (!seen && count <= opts.procs)
              groupings.push_back({std::move(*theirs), count});
          } else {
            consumeError(theirs.takeError());
          }
        }
        // Groupings into fewer stages than processors stay within the byte
        // budget of the first (the plan's stages).
        double referenceBytes = staged ? double(computeCommBytes(
                                             staged->schedule))
                                       : -1;
        for (size_t g = 0; g < groupings.size(); ++g) {
          auto &[stageOf, stages] = groupings[g];
          if (large)
            break;
          double most = staged ? staged->schedule.period : upTo;
          std::optional<Schedule> direct = layOutStages(
              graph, C.machine, opts.procs, stageOf, stages, bound, most);
          // The same stages with PipeDream's own steady state (its F and
          // merged B/G blocks where PipeDream runs them, at its period):
          // with the same delays it reaches PipeDream's period where the
          // layout above, backward right after forward, makes transfers
          // collide on a link.
          if (J == 1) {
            Expected<ModuloResult> theirs = schedulePipeDream(
                buildStagePipeline(C, stageOf, stages), C.machine);
            if (theirs) {
              std::vector<std::array<double, 3>> blocks(stages);
              for (unsigned st = 0; st < stages; ++st)
                for (unsigned b = 0; b < 3; ++b)
                  blocks[st][b] = theirs->schedule.tasks[3 * st + b].start;
              double limit = direct ? direct->period : most;
              if (std::optional<Schedule> like = layOutStages(
                      graph, C.machine, opts.procs, stageOf, stages, bound,
                      limit, blocks, theirs->schedule.period))
                if (!direct || like->period < direct->period * (1 - 1e-9))
                  direct = std::move(like);
            } else {
              consumeError(theirs.takeError());
            }
          }
          if (direct && g == 0)
            referenceBytes = double(computeCommBytes(*direct));
          if (direct && stages < opts.procs && budget && referenceBytes >= 0 &&
              double(computeCommBytes(*direct)) >
                  opts.byteBudget * referenceBytes + 0.5)
            continue;
          if (direct)
            if (!staged ||
                direct->period < staged->schedule.period * (1 - 1e-9)) {
              if (!staged)
                consumeError(staged.takeError());
              ModuloResult laid;
              laid.schedule = std::move(*direct);
              laid.attempts = 1;
              staged = std::move(laid);
            }
        }
      }
      if (staged)
        stageBytes = computeCommBytes(staged->schedule);
      bool freeOverBudget =
          staged && modulo && overBudget(modulo->schedule);
      if (staged && better()) {
        if (!modulo)
          consumeError(modulo.takeError());
        // The lower bound of the problem, not of the pinned one.
        staged->lowerBound = problemBound;
        staged->iterationBound = bound;
        staged->placement = "stages";
        modulo = std::move(staged);
      } else {
        consumeError(staged.takeError());
      }
      // The free placement lost on bytes alone: search it once more held
      // to the budget, and keep it on the same terms as above (LeNet-5 on
      // 4 processors of the cpu machine: 1,849.7 us on the stages, 1,232.9
      // free within the budget).
      if (freeOverBudget && !large && modulo &&
          modulo->placement == "stages") {
        Expected<ModuloResult> held = scheduleModulo(
            graph, opts.procs, C.machine, bound, {}, 0, 1, byteCap());
        if (held) {
          if (freeWins(held->schedule, modulo->schedule)) {
            held->lowerBound = problemBound;
            held->iterationBound = bound;
            held->placement = "free";
            modulo = std::move(held);
          }
        } else {
          consumeError(held.takeError());
        }
      }
    }
    if (!modulo && large && opts.placement == PlacementMode::Auto) {
      consumeError(modulo.takeError());
      modulo = scheduleModulo(graph, opts.procs, C.machine, bound);
      if (modulo) {
        modulo->iterationBound = bound;
        modulo->placement = "free";
      }
    }
    // More processors must never give a longer period: a schedule on fewer
    // of them (the rest idle) is one on all of them too. Auto tries the free
    // placement on p - 1 and on halves of p (small graphs) and keeps the
    // shortest period (equal periods: the fewest bytes).
    if (opts.placement == PlacementMode::Auto && opts.procs > 1 &&
        graph.tasks.size() <= 5000) {
      // Every smaller count when the graph is small enough, else p - 1
      // and halves of p.
      std::vector<unsigned> counts = {opts.procs - 1};
      if (graph.tasks.size() * opts.procs <= 20000)
        for (unsigned k = opts.procs - 1; k-- > 1;)
          counts.push_back(k);
      else
        for (unsigned k = opts.procs / 2; k >= 1; k /= 2)
          if (k != counts.back())
            counts.push_back(k);
      for (unsigned k : counts) {
        if (modulo && modulo->schedule.period <= 1.0001 * problemBound)
          break;
        // The small-graph search of all these counts together costs about
        // as much as the one on p processors.
        double effort = 1.0 / double(counts.size());
        Expected<ModuloResult> fewer =
            scheduleModulo(graph, k, C.machine, bound, {}, 0, effort);
        if (!fewer) {
          consumeError(fewer.takeError());
          continue;
        }
        // Over auto's byte budget: once more, held to it.
        if (overBudget(fewer->schedule)) {
          fewer = scheduleModulo(graph, k, C.machine, bound, {}, 0, effort,
                                 byteCap());
          if (!fewer) {
            consumeError(fewer.takeError());
            continue;
          }
        }
        bool better = !modulo;
        if (modulo && overBudget(modulo->schedule))
          better = true; // cannot happen: the stages won above
        else if (modulo) {
          double a = fewer->schedule.period, b = modulo->schedule.period;
          better = std::abs(a - b) > 1e-9 * std::min(a, b)
                       ? a < b
                       : computeCommBytes(fewer->schedule) <
                             computeCommBytes(modulo->schedule);
        }
        if (!better)
          continue;
        if (!modulo)
          consumeError(modulo.takeError());
        fewer->lowerBound = problemBound;
        fewer->iterationBound = bound;
        fewer->placement = formatv("free on {0} of {1} processors", k,
                                   opts.procs)
                               .str();
        fewer->schedule.procs = opts.procs;
        modulo = std::move(fewer);
      }
    }
    if (!modulo)
      return modulo;
    // --scheduler=exact: the schedule above is the warm start and upper
    // bound of the exact search (the same placement rule: pinned to the
    // stages with --placement=stages, else free).
    if (opts.scheduler == SchedulerAlgorithm::Exact) {
      std::vector<int> pinned;
      if (opts.placement == PlacementMode::Stages)
        for (const Task &task : graph.tasks)
          pinned.push_back(int(C.plan.stageOfLayer[task.layer]));
      ExactOptions exactOptions;
      exactOptions.timeLimitSec = opts.exactTimeLimitSec;
      Expected<ExactResult> exact =
          scheduleExact(graph, opts.procs, C.machine, problemBound,
                        modulo->schedule, pinned, exactOptions);
      if (!exact)
        return exact.takeError();
      exactSummary.ran = true;
      exactSummary.listPeriod = exact->warmPeriod / J;
      exactSummary.provenBound = exact->provenBound / J;
      exactSummary.optimal = exact->optimal;
      exactSummary.improved = exact->improved;
      exactSummary.solverCalls = exact->solverCalls;
      exactSummary.seconds = exact->seconds;
      if (exact->improved) {
        modulo->schedule = std::move(exact->schedule);
        modulo->placement =
            (pinned.empty() ? "free" : "stages") + std::string(", exact (CBC)");
      }
    }
    // Copy i of a saved activation lives from copy i of its forward task to
    // the copy of its release task that runs `distance` iterations later.
    const unsigned V = C.dfg.numTasks();
    for (const SavedActivation &saved : savedActivations(C))
      if (saved.forward >= 0)
        for (unsigned i = 0; i < J; ++i) {
          int64_t later = int64_t(i) + saved.distance;
          modulo->schedule.memory.push_back(
              {i * V + unsigned(saved.forward),
               unsigned(later % J) * V + unsigned(saved.release), later / J,
               saved.bytes});
        }
    return modulo;
  }();
  if (!result)
    return result.takeError();
  R.schedule = std::move(result->schedule);
  R.schedule.procs = opts.procs;
  // Metrics are per iteration; an unfolded period runs J iterations.
  const unsigned J =
      opts.kind == ScheduleKind::PipeDream ? 1 : std::max(1u, opts.unfold);
  R.schedule.unfolding = J;
  ScheduleMetrics &M = R.metrics;
  M.period = R.schedule.period / J;
  M.lowerBound = M.lowerBoundNoTransfers = result->lowerBound / J;
  if (transfers) {
    M.transferBound = transfers->bound / J;
    M.minCutUs = transfers->minCutUs / J;
    M.lowerBound = std::max(M.lowerBound, M.transferBound);
  }
  M.attempts = result->attempts;
  M.placement = result->placement;
  M.exact = exactSummary;
  M.iterationBound = result->iterationBound / J;
  int64_t limit = opts.memoryLimitBytes;
  if (limit > 0) {
    // The asynchronous schedulers do not schedule within a limit; one they
    // cannot keep is the user's error, not a schedule failing verification.
    std::vector<int64_t> peak = computePeakMemory(R.schedule);
    for (unsigned p = 0; p < peak.size(); ++p)
      if (peak[p] > limit)
        return createStringError(
            inconvertibleErrorCode(),
            "--memory-limit %lld bytes: the asynchronous %s schedule holds "
            "%lld bytes on processor %u (asynchronous schedules are not "
            "fitted to a limit; use --micro-batches for a synchronous one)",
            static_cast<long long>(limit),
            scheduleKindName(opts.kind).str().c_str(),
            static_cast<long long>(peak[p]), p);
    R.schedule.memoryLimit.assign(opts.procs, limit);
  }
  return Error::success();
}

/// The invariants of the figures the tool prints; a violation is a bug of
/// the schedulers or the simulator, reported instead of a wrong figure.
static Error checkFigures(const ScheduleResult &R, const SimulationResult &sim) {
  const ScheduleMetrics &M = R.metrics;
  const Schedule &S = R.schedule;
  auto g = [](double value) {
    char text[32];
    std::snprintf(text, sizeof(text), "%g", value);
    return std::string(text);
  };
  auto bug = [&](const Twine &what) {
    return createStringError(inconvertibleErrorCode(),
                             ("internal error: schedule '" + S.name + "': " +
                              what + " (please report this model and flags)")
                                 .str());
  };
  if (sim.stuck)
    return bug("the simulator deadlocks: " + Twine(sim.stuck) +
               " task instances never run in the schedule's order");
  for (auto [name, value] :
       {std::pair<const char *, double>{"period", M.period},
        {"lower bound", M.lowerBound},
        {"simulated period", M.simulatedPeriod},
        {"utilization", M.utilization}})
    if (!std::isfinite(value) || value < 0)
      return bug(Twine(name) + " is " + g(value));
  const double eps = 1e-9;
  // (A synchronous step's "ideal" is the stage bound, which a schedule that
  // splits stages across processors may beat; utilization bounds it.)
  if (S.periodic && M.period < M.lowerBound * (1 - eps))
    return bug("period " + g(M.period) + " us is below the lower bound " +
               g(M.lowerBound) + " us");
  if (M.utilization > 1 + eps)
    return bug("utilization " + g(M.utilization) + " exceeds 1");
  // Running the schedule's order as soon as possible is never later than
  // the schedule itself.
  double first = 0, last = 0;
  for (const ScheduledTask &t : S.tasks) {
    first = std::min(first, t.start);
    last = std::max(last, t.end());
  }
  double latest = last - first + (sim.iterations - 1) * S.period;
  if (sim.totalTime > latest * (1 + eps) + eps)
    return bug("the simulation takes " + g(sim.totalTime) +
               " us, more than the schedule's " + g(latest) + " us");
  // Tasks within the time resolution run in no time in the simulator; a
  // schedule of only such tasks may simulate to a period of 0.
  bool timed = std::any_of(S.tasks.begin(), S.tasks.end(),
                           [&](const ScheduledTask &t) {
                             return t.duration > timeEpsilon(S);
                           });
  if (timed && !(M.simulatedPeriod > 0))
    return bug("simulated period " + g(M.simulatedPeriod) +
               " us for a static period of " + g(M.period) + " us");
  return Error::success();
}

/// The resource limits of ScheduleOptions (Schedule.h), checked here so that
/// every client, not only the tool's flags, stays within them.
static Error checkScheduleLimits(const ScheduleOptions &opts) {
  auto check = [](const char *flag, uint64_t value, uint64_t lo,
                  uint64_t hi) -> Error {
    if (value >= lo && value <= hi)
      return Error::success();
    return createStringError(inconvertibleErrorCode(),
                             "--%s must be between %llu and %llu (got %llu)",
                             flag, static_cast<unsigned long long>(lo),
                             static_cast<unsigned long long>(hi),
                             static_cast<unsigned long long>(value));
  };
  if (Error err = check("procs", opts.procs, 1, MaxProcs))
    return err;
  if (Error err = check("unfold", opts.unfold, 1, MaxUnfold))
    return err;
  if (Error err = check("micro-batches", opts.microBatches, 0, MaxMicroBatches))
    return err;
  if (Error err = check("memory-limit-microbatches",
                        opts.memoryLimitMicroBatches, 0, MaxMicroBatches))
    return err;
  return check("simulate-iterations", opts.simulateIterations, 2,
               MaxSimulateIterations);
}

Error runScheduling(Compilation &C) {
  const ScheduleOptions &opts = C.options.schedule;
  ScheduleResult &R = C.schedule;
  if (Error err = checkScheduleLimits(opts))
    return err;
  bool synchronous = opts.microBatches > 0 ||
                     opts.kind == ScheduleKind::GPipe ||
                     opts.kind == ScheduleKind::OneFOneB ||
                     opts.kind == ScheduleKind::ZBH1 ||
                     opts.kind == ScheduleKind::ZBH2 ||
                     opts.kind == ScheduleKind::ZBV ||
                     opts.kind == ScheduleKind::Interleaved1F1B ||
                     opts.kind == ScheduleKind::DualPipeV;
  if (opts.scheduler == SchedulerAlgorithm::Exact &&
      (synchronous || opts.kind != ScheduleKind::LayerPipe))
    return createStringError(
        inconvertibleErrorCode(),
        "--scheduler=exact builds the asynchronous layerpipe schedule; "
        "--schedule=%s%s is not one",
        scheduleKindName(opts.kind).str().c_str(),
        opts.microBatches ? " with --micro-batches" : "");
  if (opts.scheduler == SchedulerAlgorithm::Exact &&
      !(opts.exactTimeLimitSec > 0 && std::isfinite(opts.exactTimeLimitSec)))
    return createStringError(inconvertibleErrorCode(),
                             "--exact-time-limit must be a number of seconds "
                             "> 0 (got %g)",
                             opts.exactTimeLimitSec);
  if (opts.memoryLimitMicroBatches > 0 && !synchronous)
    return createStringError(inconvertibleErrorCode(),
                             "--memory-limit-microbatches needs a synchronous "
                             "schedule (--micro-batches M)");
  if (Error err = synchronous ? scheduleSynchronousStep(C, R)
                              : scheduleAsynchronous(C, R))
    return err;
  R.schedule.name = scheduleKindName(opts.kind).str();
  R.schedule.topology = C.machine.linkTopology;
  if (C.options.verify)
    if (Error err = verifySchedule(R.schedule))
      return createStringError(inconvertibleErrorCode(),
                               "schedule '%s' fails verification: %s",
                               R.schedule.name.c_str(),
                               toString(std::move(err)).c_str());

  ScheduleMetrics &M = R.metrics;
  const Schedule &S = R.schedule;
  M.procs = opts.procs;
  // Work per iteration (per micro-batch when synchronous, where a step
  // updates the weights once for all its micro-batches). The sequential
  // time is that same work on one processor.
  double work = totalWork(S) / (S.periodic ? S.unfolding : S.microBatches);
  M.sequentialTime = work;
  if (S.periodic && S.name == "layerpipe") {
    M.sequentialTime = 0;
    for (const Task &task : C.dfg.tasks)
      M.sequentialTime += task.timeUs;
  }
  M.speedup = M.period > 0 ? M.sequentialTime / M.period : 0;
  M.utilization = M.period > 0 ? work / (M.procs * M.period) : 0;
  M.bubbleFraction = 1 - M.utilization;
  M.commBytes = computeCommBytes(S) / (S.periodic ? S.unfolding : 1);
  {
    double span = S.period;
    if (!S.periodic)
      for (const ScheduledTask &task : S.tasks)
        span = std::max(span, task.end());
    M.linkUtilization.clear();
    for (double busy : computeLinkBusy(S))
      M.linkUtilization.push_back(span > 0 ? busy / span : 0);
  }
  M.peakMemory = computePeakMemory(S);
  // Large graphs simulate fewer iterations: about 300,000 instances keep
  // the simulation well under a second.
  unsigned affordable = unsigned(std::max<size_t>(
      4, 300000 / std::max<size_t>(1, S.tasks.size())));
  unsigned iterations =
      std::max(2u, std::min(opts.simulateIterations, affordable));
  SimulationResult sim = simulateSchedule(S, iterations);
  M.simulatedIterations = iterations;
  M.simulatedPeriod = sim.period / (S.periodic ? S.unfolding : 1);
  M.simulatedPeakMemory = sim.peakMemory;
  if (!S.periodic)
    M.stepTime = sim.period;
  M.model = C.model.name;
  if (S.periodic) {
    M.samplesPerIteration = C.model.batchSize;
    M.samplesPerSecond = samplesPerSecond(double(C.model.batchSize), M.period);
  } else {
    M.samplesPerIteration = C.model.batchSize * S.microBatches;
    M.samplesPerSecond =
        samplesPerSecond(double(M.samplesPerIteration),
                         M.stepTime > 0 ? M.stepTime : M.makespan);
  }
  // Charts label bars with the training iteration they run: the retiming
  // lag of their task (an unfolded schedule holds J copies of each task).
  const size_t V = C.dfg.numTasks();
  if (S.periodic && opts.kind == ScheduleKind::LayerPipe &&
      C.plan.retiming.size() == V && V > 0)
    for (size_t v = 0; v < R.schedule.tasks.size(); ++v)
      R.schedule.tasks[v].lag = C.plan.retiming[v % V];
  // Charts colour layer tasks by the stage (layer group) of the plan.
  if (C.plan.stageOfLayer.size() == C.model.layers.size())
    for (ScheduledTask &task : R.schedule.tasks)
      if (task.stage < 0 && task.layer >= 0 &&
          unsigned(task.layer) < C.plan.stageOfLayer.size())
        task.stage = int(C.plan.stageOfLayer[task.layer]);
  if (Error err = checkFigures(R, sim))
    return err;
  R.scheduled = true;
  return Error::success();
}

/// Synchronous schedules: each processor's peak memory in micro-batches of
/// its activations (the blocks of micro-batch 0 on it; 0 where it holds
/// none).
static std::vector<double> peakMicroBatches(const Schedule &S,
                                            const std::vector<int64_t> &peak) {
  std::vector<double> perMicroBatch(S.procs, 0);
  for (const MemoryBlock &block : S.memory) {
    const ScheduledTask &task = S.tasks[block.allocTask];
    if (task.microBatch == 0 && task.proc < S.procs)
      perMicroBatch[task.proc] += double(block.bytes);
  }
  std::vector<double> result(S.procs, 0);
  for (unsigned q = 0; q < S.procs && q < peak.size(); ++q)
    if (perMicroBatch[q] > 0)
      result[q] = double(peak[q]) / perMicroBatch[q];
  return result;
}

static std::string formatList(const std::vector<int64_t> &values) {
  std::string s = "[";
  for (size_t i = 0; i < values.size(); ++i)
    s += (i ? ", " : "") + std::to_string(values[i]);
  return s + "]";
}

void printScheduleSummary(const Compilation &C, raw_ostream &os) {
  const ScheduleResult &R = C.schedule;
  if (!R.scheduled)
    return;
  const ScheduleMetrics &M = R.metrics;
  const Schedule &S = R.schedule;
  os << formatv("schedule: {0} on {1} processors ({2})\n", S.name, M.procs,
                S.periodic ? "asynchronous, periodic"
                           : formatv("synchronous, {0} micro-batches",
                                     S.microBatches)
                                 .str());
  if (S.periodic) {
    os << formatv("  period: {0:f1} us (lower bound {1:f1} us, iteration "
                  "bound {2:f1} us, {3} attempts)\n",
                  M.period, M.lowerBound, M.iterationBound, M.attempts);
    if (M.transferBound > 0)
      os << formatv("  lower bounds: {0:f1} us without transfers, {1:f1} us "
                    "with them ({2})\n",
                    M.lowerBoundNoTransfers, M.transferBound,
                    std::isfinite(M.minCutUs)
                        ? formatv("minimum cut {0:f1} us of link time per "
                                  "iteration",
                                  M.minCutUs)
                              .str()
                        : std::string("one task: no cut"));
    if (S.unfolding > 1)
      os << formatv("  unfolded by {0}: {0} iterations every {1:f1} us; "
                    "figures are per iteration\n",
                    S.unfolding, S.period);
  } else {
    os << formatv("  makespan: {0:f1} us per step (ideal {1:f1} us)\n",
                  M.makespan, M.lowerBound * S.microBatches);
    os << formatv("  step time: {0:f1} us with steps back to back\n",
                  M.stepTime);
    os << formatv("  period: {0:f1} us per micro-batch\n", M.period);
  }
  os << formatv("  sequential time: {0:f1} us, speedup {1:f2}x, utilization "
                "{2:f1}%, bubble {3:f1}%\n",
                M.sequentialTime, M.speedup, 100 * M.utilization,
                100 * M.bubbleFraction);
  os << formatv("  throughput: {0} ({1} samples per {2})\n",
                formatRate(M.samplesPerSecond), M.samplesPerIteration,
                S.periodic ? "iteration" : "step");
  os << formatv("  communication: {0} bytes per {1}\n", M.commBytes,
                S.periodic ? "iteration" : "step");
  if (!M.linkUtilization.empty()) {
    os << formatv("  link busy per processor ({0} links, % of the {1}): [",
                  linkTopologyName(S.topology),
                  S.periodic ? "period" : "step");
    for (size_t p = 0; p < M.linkUtilization.size(); ++p)
      os << (p ? ", " : "") << formatv("{0:f1}", 100 * M.linkUtilization[p]);
    os << "]\n";
  }
  if (!M.placement.empty())
    os << "  placement: " << M.placement << "\n";
  if (M.exact.ran) {
    const ExactSummary &X = M.exact;
    double gap = X.provenBound > 0 ? M.period / X.provenBound - 1 : 0;
    os << formatv("  exact (CBC): period {0:f1} us, proven lower bound "
                  "{1:f1} us, gap {2:f2}% ({3}); list scheduler {4:f1} us "
                  "({5:f3}x the exact period); {6} solver calls, {7:f1} s\n",
                  M.period, X.provenBound, 100 * gap,
                  X.optimal ? "optimal" : "time limit", X.listPeriod,
                  M.period > 0 ? X.listPeriod / M.period : 0, X.solverCalls,
                  X.seconds);
  }
  os << "  peak memory per processor (bytes): " << formatList(M.peakMemory)
     << "\n";
  if (!S.periodic) {
    os << "  peak activations per processor (micro-batches): [";
    std::vector<double> peaks = peakMicroBatches(S, M.peakMemory);
    for (size_t q = 0; q < peaks.size(); ++q) {
      double v = peaks[q];
      bool whole = std::fabs(v - std::round(v)) < 1e-9;
      os << (q ? ", " : "")
         << (whole ? formatv("{0}", int64_t(std::round(v))).str()
                   : formatv("{0:f1}", v).str());
    }
    os << "]\n";
  }
  os << formatv("  simulated: {0:f1} us per {1} over {2} {1}s\n",
                M.simulatedPeriod, S.periodic ? "iteration" : "step",
                M.simulatedIterations);
  if (C.options.verify)
    os << "  verified: dependences, processor overlap, link contention, "
          "memory limit\n";
}

nlohmann::json scheduleMetricsJSON(const ScheduleResult &R) {
  const ScheduleMetrics &M = R.metrics;
  nlohmann::json metrics = {
      {"schedule", R.schedule.name},
      {"mode", R.schedule.periodic ? "asynchronous" : "synchronous"},
      {"procs", M.procs},
      {"period", M.period},
      {"unfolding", R.schedule.unfolding},
      {"lower_bound", M.lowerBound},
      {"lower_bound_no_transfers", M.lowerBoundNoTransfers},
      {"iteration_bound", M.iterationBound},
      {"sequential_time", M.sequentialTime},
      {"speedup", M.speedup},
      {"utilization", M.utilization},
      {"bubble_fraction", M.bubbleFraction},
      {"comm_bytes", M.commBytes},
      {"link_utilization", M.linkUtilization},
      {"link_topology", linkTopologyName(R.schedule.topology)},
      {"peak_memory", M.peakMemory},
      {"peak_activations_microbatches",
       R.schedule.periodic ? std::vector<double>()
                           : peakMicroBatches(R.schedule, M.peakMemory)},
      {"simulated_period", M.simulatedPeriod},
      {"simulated_peak_memory", M.simulatedPeakMemory},
      {"simulated_iterations", M.simulatedIterations},
  };
  metrics["samples_per_second"] = M.samplesPerSecond;
  metrics[R.schedule.periodic ? "samples_per_iteration" : "samples_per_step"] =
      M.samplesPerIteration;
  if (R.schedule.periodic) {
    metrics["attempts"] = M.attempts;
    if (M.transferBound > 0) {
      metrics["transfer_bound"] = M.transferBound;
      if (std::isfinite(M.minCutUs))
        metrics["min_cut_us"] = M.minCutUs;
    }
    if (!M.placement.empty())
      metrics["placement"] = M.placement;
    if (M.exact.ran)
      metrics["exact"] = {
          {"list_period", M.exact.listPeriod},
          {"proven_lower_bound", M.exact.provenBound},
          {"gap", M.exact.provenBound > 0
                      ? M.period / M.exact.provenBound - 1
                      : 0.0},
          {"optimal", M.exact.optimal},
          {"improved", M.exact.improved},
          {"solver_calls", M.exact.solverCalls},
          {"seconds", M.exact.seconds}};
  } else {
    metrics["makespan"] = M.makespan;
    metrics["step_time"] = M.stepTime;
    metrics["micro_batches"] = R.schedule.microBatches;
  }
  return metrics;
}

void addScheduleToReport(const Compilation &C, nlohmann::json &report) {
  if (!C.schedule.scheduled)
    return;
  // Other stages put their figures in `metrics` too: add, never replace.
  nlohmann::json &metrics = report["metrics"];
  nlohmann::json ours = scheduleMetricsJSON(C.schedule);
  for (auto &item : ours.items())
    metrics[item.key()] = item.value();
  metrics["verified"] = C.options.verify;
}

} // namespace layerpipe
