//===- Planning.cpp - The planning pipeline and its report ----------------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// runPlanning reads as the list of passes it runs: layer grouping, gradient-
// delay insertion, retiming, verification, the memory report; each pass can
// dump the DFG after it (--print-after-all) and be timed (--time-passes).
// planStagesAndDelays is the same without the retiming, for the trainer.
// The summary table and the report JSON keys are written here too.
//
//===----------------------------------------------------------------------===//

#include "layerpipe/Compilation.h"
#include "layerpipe/Transforms.h"
#include "layerpipe/Transforms/GradientDelays.h"
#include "layerpipe/Transforms/Grouping.h"
#include "layerpipe/Transforms/Memory.h"
#include "layerpipe/Transforms/Retiming.h"
#include "layerpipe/Units.h"

#include "llvm/Support/FormatVariadic.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>

using namespace llvm;

namespace layerpipe {

// Flag spellings, indexed by the enums' values (their order in Transforms.h).
StringRef weightPolicyName(WeightPolicy policy) {
  static const char *const names[] = {"stash", "latest", "ema", "sync"};
  return names[size_t(policy)];
}

StringRef delayRuleName(DelayRule rule) {
  static const char *const names[] = {"none", "layerpipe2", "auto", "uniform",
                                      "model"};
  return names[size_t(rule)];
}

StringRef groupingModeName(GroupingMode mode) {
  static const char *const names[] = {"optimal", "per-layer", "hints",
                                      "explicit"};
  return names[size_t(mode)];
}

StringRef groupingCostName(GroupingCost cost) {
  return cost == GroupingCost::Sum ? "sum" : "max";
}

StringRef retimingMethodName(RetimingMethod method) {
  static const char *const names[] = {"auto", "stages", "min-period",
                                      "min-memory", "none"};
  return names[size_t(method)];
}

/// The stage count of an optimal grouping: --stages-count, else one stage
/// per processor (at most one per layer), else 1.
static PlanOptions resolveOptions(const PlanOptions &options,
                                  const Model &model) {
  PlanOptions resolved = options;
  if (resolved.grouping == GroupingMode::Optimal &&
      resolved.stagesCount == 0)
    resolved.stagesCount = std::max<unsigned>(
        1, std::min<size_t>(options.targetProcs, model.layers.size()));
  return resolved;
}

/// The period --delays=auto aims at on \p procs processors.
static double targetPeriod(const TrainingDFG &dfg, unsigned procs) {
  double total = 0, largest = 0;
  for (const Task &task : dfg.tasks) {
    total += task.timeUs;
    largest = std::max(largest, task.timeUs);
  }
  return std::max(total / std::max(1u, procs), largest);
}

/// Grouping and per-layer delays on the plain DFG (one delay per loop).
static Error planGroupsAndDelays(const Model &model, const TrainingDFG &plain,
                                 const MachineDesc &machine,
                                 const PlanOptions &options,
                                 PipelinePlan &plan) {
  GroupingProblem problem =
      GroupingProblem::build(model, plain, machine, options.groupingCost);
  Expected<Grouping> grouping = groupLayers(model, problem, options);
  if (!grouping)
    return grouping.takeError();
  plan.groupingCost = options.groupingCost;
  plan.numStages = grouping->numStages;
  plan.stageOfLayer = grouping->stageOfLayer;
  plan.bottleneckUs = grouping->bottleneckUs;
  plan.layerPipe2Delay = layerPipe2Delays(plan.stageOfLayer, plan.numStages);
  if (options.delays == DelayRule::Auto) {
    auto delays = autoGradientDelays(plain, model, plan.stageOfLayer,
                                     plan.numStages,
                                     targetPeriod(plain, options.targetProcs),
                                     &plan.targetPeriodUs);
    if (!delays)
      return delays.takeError();
    plan.gradientDelay = std::move(*delays);
  } else {
    auto delays = computeGradientDelays(model, plan.stageOfLayer,
                                        plan.numStages, options);
    if (!delays)
      return delays.takeError();
    plan.gradientDelay = std::move(*delays);
  }
  if (options.weights == WeightPolicy::Sync)
    for (unsigned l = 0; l < model.layers.size(); ++l)
      if (plan.gradientDelay[l] != 0)
        return createStringError(
            inconvertibleErrorCode(),
            "--weights=sync trains without staleness, but layer '%s' gets "
            "gradient delay %lld from --delays=%s (use --delays=none)",
            model.layers[l].name.c_str(), (long long)plan.gradientDelay[l],
            delayRuleName(options.delays).str().c_str());
  return Error::success();
}

Expected<std::pair<std::vector<unsigned>, std::vector<int64_t>>>
planStagesAndDelays(const Model &model, const MachineDesc &machine,
                    const PlanOptions &options) {
  Expected<TrainingDFG> plain = buildTrainingDFG(model, machine);
  if (!plain)
    return plain.takeError();
  PipelinePlan plan;
  if (Error err = planGroupsAndDelays(model, *plain, machine,
                                      resolveOptions(options, model), plan))
    return err;
  return std::make_pair(std::move(plan.stageOfLayer),
                        std::move(plan.gradientDelay));
}

Error planStagesAndDelays(Compilation &C) {
  C.plan = PipelinePlan();
  return planGroupsAndDelays(C.model, C.dfg, C.machine,
                             resolveOptions(C.options.plan, C.model), C.plan);
}

/// \p r with the clock period it reaches on \p dfg.
static Expected<RetimingResult> withPeriod(const TrainingDFG &dfg,
                                           Retiming r) {
  Expected<double> period = computeClockPeriod(dfg, r);
  if (!period)
    return period.takeError();
  return RetimingResult{std::move(r), *period};
}

/// The retiming `--retiming=min-memory` asks for: fewest register bytes
/// under the period bound, starting from the stage retiming (or the minimum
/// period), which meets the default bound and makes the flow's costs
/// non-negative.
static Expected<RetimingResult> retimeForMemory(const Compilation &C,
                                                const TrainingDFG &dfg,
                                                const PlanOptions &options,
                                                const PipelinePlan &plan) {
  auto start = retimeByStages(dfg, C.model, plan.stageOfLayer, plan.numStages);
  Expected<RetimingResult> begin =
      start ? withPeriod(dfg, std::move(*start)) : start.takeError();
  if (!begin) {
    consumeError(begin.takeError());
    begin = retimeMinPeriod(dfg);
    if (!begin)
      return begin.takeError();
  }
  double bound =
      options.periodBoundUs > 0 ? options.periodBoundUs : begin->periodUs;
  if (begin->periodUs > bound * (1 + 1e-12)) {
    auto fastest = retimeMinPeriod(dfg);
    if (!fastest)
      return fastest.takeError();
    if (fastest->periodUs > bound * (1 + 1e-12))
      return createStringError(
          inconvertibleErrorCode(),
          "--period-bound=%g us is below the minimum clock period %g us "
          "that retiming can reach",
          bound, fastest->periodUs);
    begin = std::move(fastest);
  }
  return retimeMinMemory(dfg, bound, registerGroups(dfg, options.weights),
                         begin->r);
}

/// Chooses and runs the retiming; fills plan.retiming, retimingMethod and
/// retimedPeriodUs for the delayed (not yet retimed) \p dfg.
static Error retime(const Compilation &C, const TrainingDFG &dfg,
                    const PlanOptions &options, PipelinePlan &plan) {
  auto stages = [&]() -> Expected<RetimingResult> {
    auto r = retimeByStages(dfg, C.model, plan.stageOfLayer, plan.numStages);
    if (!r)
      return r.takeError();
    return withPeriod(dfg, std::move(*r));
  };
  auto identity = [&] { return withPeriod(dfg, Retiming(dfg.tasks.size())); };
  Expected<RetimingResult> result = RetimingResult();
  std::string method = retimingMethodName(options.retiming).str();
  switch (options.retiming) {
  case RetimingMethod::None:
    result = identity();
    break;
  case RetimingMethod::Stages:
    result = stages();
    break;
  case RetimingMethod::MinPeriod:
    result = retimeMinPeriod(dfg);
    break;
  case RetimingMethod::MinMemory:
    result = retimeForMemory(C, dfg, options, plan);
    break;
  case RetimingMethod::Auto:
    // The stage retiming if the delays allow it, else the minimum period;
    // too big for the W/D matrices, FEAS at the period auto aimed at.
    result = stages();
    method = retimingMethodName(RetimingMethod::Stages).str();
    if (result)
      break;
    consumeError(result.takeError());
    if (dfg.tasks.size() <= kMaxGeneralRetimingTasks) {
      result = retimeMinPeriod(dfg);
      method = retimingMethodName(RetimingMethod::MinPeriod).str();
      break;
    }
    if (options.delays == DelayRule::Auto)
      if (auto r = retimeFeasible(dfg, plan.targetPeriodUs)) {
        result = withPeriod(dfg, std::move(*r));
        method = "feas";
        break;
      }
    result = identity();
    method = retimingMethodName(RetimingMethod::None).str();
    break;
  }
  if (!result)
    return result.takeError();
  plan.retiming = std::move(result->r);
  plan.retimedPeriodUs = result->periodUs;
  plan.retimingMethod = method;
  return Error::success();
}

namespace {
/// --print-after-all and --time-passes for the planning passes.
class PassInstrumentation {
public:
  explicit PassInstrumentation(const Compilation &C) : C(C) {}
  void passDone(StringRef name) {
    auto now = std::chrono::steady_clock::now();
    times.emplace_back(name.str(),
                       std::chrono::duration<double>(now - last).count());
    last = now;
    if (C.options.printAfterAll) {
      errs() << "*** DFG after " << name << " ***\n";
      C.dfg.print(errs());
    }
  }
  ~PassInstrumentation() {
    if (!C.options.timePasses)
      return;
    // --grouping-cost=auto and --micro-batch auto plan more than once: each
    // table says which planning it timed.
    errs() << "===-------------------------------------------===\n"
           << formatv("  planning pass timing (wall clock; grouping cost "
                      "{0}, batch {1})\n",
                      groupingCostName(C.options.plan.groupingCost),
                      C.model.batchSize)
           << "===-------------------------------------------===\n";
    for (const auto &[name, seconds] : times)
      errs() << formatv("  {0,10:f4}  {1}\n", seconds, name);
  }

private:
  const Compilation &C;
  std::chrono::steady_clock::time_point last =
      std::chrono::steady_clock::now();
  std::vector<std::pair<std::string, double>> times;
};
} // namespace

Error runPlanning(Compilation &C) {
  PlanOptions options = resolveOptions(C.options.plan, C.model);
  PipelinePlan &plan = C.plan;
  PassInstrumentation passes(C);

  if (Error err =
          planGroupsAndDelays(C.model, C.dfg, C.machine, options, plan))
    return err;
  passes.passDone(formatv("layer grouping ({0} stages)", plan.numStages).str());

  if (Error err = insertGradientDelays(C.dfg, C.model, plan.gradientDelay))
    return err;
  Expected<IterationBound> bound = computeIterationBound(C.dfg);
  if (!bound)
    return bound.takeError();
  plan.retimedBound = std::move(*bound);
  passes.passDone(
      formatv("gradient-delay insertion (--delays={0})",
              delayRuleName(options.delays))
          .str());

  TrainingDFG delayed = C.dfg;
  if (Error err = retime(C, delayed, options, plan))
    return err;
  if (Error err = checkRetimingLegal(delayed, plan.retiming))
    return createStringError(inconvertibleErrorCode(),
                             "internal error: " + toString(std::move(err)));
  applyRetiming(C.dfg, plan.retiming);
  if (C.options.verify)
    if (Error err = verifyRetiming(delayed, C.dfg, plan.retimedPeriodUs))
      return createStringError(inconvertibleErrorCode(),
                               "internal error: " + toString(std::move(err)));
  passes.passDone(formatv("retiming ({0})", plan.retimingMethod).str());

  plan.memory = computeMemoryReport(C.model, C.dfg, plan, options, C.machine);
  plan.planned = true;
  return Error::success();
}

//===----------------------------------------------------------------------===//
// Summary and report
//===----------------------------------------------------------------------===//

/// "1.5 MiB" style sizes for the table: one decimal, so columns align.
static std::string formatTableBytes(int64_t bytes) {
  return formatBytes(double(bytes), 1);
}

/// Delay of each stage: the largest of its layers'.
static std::vector<int64_t> stageDelays(const PipelinePlan &plan,
                                        ArrayRef<int64_t> delays) {
  std::vector<int64_t> perStage(plan.numStages, 0);
  for (size_t l = 0; l < delays.size(); ++l)
    perStage[plan.stageOfLayer[l]] =
        std::max(perStage[plan.stageOfLayer[l]], delays[l]);
  return perStage;
}

static std::string joinInts(ArrayRef<int64_t> values) {
  std::string text;
  for (size_t i = 0; i < values.size(); ++i)
    text += (i ? "/" : "") + std::to_string(values[i]);
  return text;
}

/// The candidates --micro-batch auto priced (docs/training-semantics.md).
static void printMicroBatchCandidates(const MicroBatchChoice &mb,
                                      raw_ostream &os) {
  if (mb.candidates.empty())
    return;
  os << formatv("  micro-batch choice: --micro-batch auto{0}: the best "
                "predicted samples/s with staleness D_max*b <= {1} samples; "
                "lr x b/{2} (linear), cosine when b < {2}\n",
                mb.rule == "default" ? " (the default here)" : "",
                mb.userBatch / 2, mb.userBatch);
  os << formatv("  {0,20} {1,12} {2,14} {3,6} {4,10}  {5}\n", "b", "period",
                "samples/s", "D_max", "staleness", "");
  for (const MicroBatchCandidate &cand : mb.candidates) {
    bool planned = cand.priced || cand.maxDelay > 0 ||
                   StringRef(cand.note).startswith("not scheduled");
    if (!planned) {
      os << formatv("  {0,20} {1}\n", cand.microBatch,
                    cand.note.empty() ? "not scheduled" : cand.note);
      continue;
    }
    std::string verdict = cand.microBatch == mb.chosen ? "chosen"
                          : !cand.allowed              ? "too stale"
                                                       : "";
    if (!cand.priced && !cand.note.empty() &&
        cand.note != "not scheduled: too stale")
      verdict = cand.note;
    else if (!cand.priced)
      verdict += " (not scheduled)";
    std::string period = cand.priced ? formatv("{0:f2} us", cand.periodUs).str()
                                     : std::string("-");
    std::string rate = cand.priced
                           ? formatv("{0:f0}", cand.samplesPerSecond).str()
                           : std::string("-");
    os << formatv("  {0,20} {1,12} {2,14} {3,6} {4,10}  {5}\n",
                  cand.microBatch, period, rate, cand.maxDelay,
                  cand.stalenessSamples, verdict);
  }
}

void printPlanSummary(const Compilation &C, raw_ostream &os) {
  const PipelinePlan &plan = C.plan;
  if (!plan.planned)
    return;
  const PlanOptions &options = C.options.plan;
  const Model &model = C.model;
  os << "\nPipeline plan\n";
  os << formatv("  stages:             {0} (grouping {1}, bottleneck stage "
                "{2:f2} us, {3})\n",
                plan.numStages, groupingModeName(options.grouping),
                plan.bottleneckUs,
                plan.groupingCost == GroupingCost::Sum
                    ? "work plus boundary transfers"
                    : "work or boundary link time");
  if (plan.otherCostPeriodUs >= 0) {
    bool sum = plan.groupingCost == GroupingCost::Sum;
    // At another micro-batch the periods do not compare: samples/s do.
    std::string other =
        plan.otherCostPeriodUs <= 0 ? std::string("no schedule")
        : plan.otherCostBatch == C.model.batchSize
            ? formatv("{0:f2} us", plan.otherCostPeriodUs).str()
            : formatv("{0:f2} us at micro-batch {1}, {2:f0} samples/s",
                      plan.otherCostPeriodUs, plan.otherCostBatch,
                      plan.otherCostSamplesPerSecond)
                  .str();
    os << formatv("  grouping cost:      {0} kept (--grouping-cost=auto; the "
                  "{1} grouping scheduled to {2})\n",
                  groupingCostName(plan.groupingCost),
                  groupingCostName(sum ? GroupingCost::Max : GroupingCost::Sum),
                  other);
  }
  std::vector<int64_t> delays = stageDelays(plan, plan.gradientDelay);
  os << formatv("  gradient delays:    {0} by stage (--delays={1})\n",
                joinInts(delays), delayRuleName(options.delays));
  if (options.delays == DelayRule::Auto)
    os << formatv("  side by side:       auto {0} vs layerpipe2 {1} (auto: "
                  "fewest delays reaching clock period {2:f2} us on {3} "
                  "procs)\n",
                  joinInts(delays),
                  joinInts(stageDelays(plan, plan.layerPipe2Delay)),
                  plan.targetPeriodUs, options.targetProcs);
  if (C.userBatch > 0)
    os << formatv("  micro-batch:        {0} samples per step of the model's "
                  "batch {1} (lr x {0}/{1}; staleness {2} samples)\n",
                  model.batchSize, C.userBatch,
                  model.batchSize * *std::max_element(
                                        plan.gradientDelay.begin(),
                                        plan.gradientDelay.end()));
  printMicroBatchCandidates(C.microBatch, os);
  os << formatv("  weights:            {0}\n", weightPolicyName(options.weights));
  os << formatv("  iteration bound:    {0:f2} us -> {1:f2} us after gradient "
                "delays\n",
                C.initialBound.boundUs, plan.retimedBound.boundUs);
  os << formatv("  retiming:           {0}, clock period {1:f2} us{2}\n",
                plan.retimingMethod, plan.retimedPeriodUs,
                C.options.verify ? " (verified)" : "");

  const MemoryReport &mem = plan.memory;
  os << "\n  Memory per stage\n";
  os << formatv("  {0,5} {1,7} {2,6} {3,11} {4,11} {5,11} {6,11} {7,11} "
                "{8,11} {9,11}\n",
                "stage", "layers", "delay", "params", "optimizer",
                "w.versions", "activations", "gradients", "ema-buffer",
                "total");
  std::vector<unsigned> layerCount(plan.numStages, 0);
  for (unsigned s : plan.stageOfLayer)
    ++layerCount[s];
  auto row = [&](StringRef name, StringRef layers, StringRef delay,
                 const MemoryBreakdown &m) {
    os << formatv(
        "  {0,5} {1,7} {2,6} {3,11} {4,11} {5,11} {6,11} {7,11} "
        "{8,11} {9,11}\n",
        name, layers, delay, formatTableBytes(m.parameters),
        formatTableBytes(m.optimizerState), formatTableBytes(m.weightVersions),
        formatTableBytes(m.activations), formatTableBytes(m.gradients),
        formatTableBytes(m.movingAverage), formatTableBytes(m.total()));
  };
  for (unsigned s = 0; s < plan.numStages; ++s)
    row(std::to_string(s), std::to_string(layerCount[s]),
        std::to_string(delays[s]), mem.perStage[s]);
  row("total", std::to_string(model.layers.size()), "", mem.total);
  os << "\n  Memory by weight policy (same stages and retiming)\n";
  os << formatv("  {0,-7} {1,11} {2,11}  {3}\n", "policy", "weights",
                "total", "total bytes");
  for (WeightPolicy p : {WeightPolicy::Stash, WeightPolicy::Latest,
                         WeightPolicy::Ema, WeightPolicy::Sync})
    os << formatv("  {0,-7} {1,11} {2,11}  {3}{4}\n", weightPolicyName(p),
                  formatTableBytes(mem.weightBytesByPolicy[size_t(p)]),
                  formatTableBytes(mem.totalByPolicy[size_t(p)]),
                  mem.totalByPolicy[size_t(p)],
                  p == options.weights ? "  (selected)" : "");

  const size_t maxRows = 256;
  os << "\n  Per layer (staleness in optimizer steps, registers after "
        "retiming)\n";
  os << formatv("  {0,-20} {1,5} {2,5} {3,9} {4,9} {5,5} {6,5} {7,5} "
                "{8,9}\n",
                "layer", "stage", "delay", "stale.fwd", "stale.bwd", "act",
                "saved", "grad", "w.version");
  for (size_t l = 0; l < model.layers.size() && l < maxRows; ++l) {
    const LayerPipelineState &st = mem.layers[l];
    os << formatv("  {0,-20} {1,5} {2,5} {3,9} {4,9} {5,5} {6,5} {7,5} "
                  "{8,9}\n",
                  model.layers[l].name, plan.stageOfLayer[l],
                  plan.gradientDelay[l], st.forwardStaleness,
                  st.backwardStaleness, st.activationRegisters,
                  st.savedRegisters, st.gradientRegisters,
                  st.weightVersions);
  }
  if (model.layers.size() > maxRows)
    os << formatv("  ... {0} more layers in the report JSON\n",
                  model.layers.size() - maxRows);
}

static nlohmann::json breakdownJson(const MemoryBreakdown &m) {
  return {{"parameters", m.parameters},
          {"optimizer_state", m.optimizerState},
          {"weight_versions", m.weightVersions},
          {"activations", m.activations},
          {"gradients", m.gradients},
          {"moving_average", m.movingAverage},
          {"total", m.total()}};
}

void addPlanToReport(const Compilation &C, nlohmann::json &report) {
  const PipelinePlan &plan = C.plan;
  if (!plan.planned)
    return;
  const PlanOptions &options = C.options.plan;
  nlohmann::json perStage = nlohmann::json::array();
  for (unsigned s = 0; s < plan.numStages; ++s) {
    nlohmann::json j = breakdownJson(plan.memory.perStage[s]);
    j["stage"] = s;
    perStage.push_back(std::move(j));
  }
  const auto &byPolicy = plan.memory.totalByPolicy;
  const auto &weightsByPolicy = plan.memory.weightBytesByPolicy;
  report["memory"] = {
      {"policy", weightPolicyName(options.weights)},
      {"per_stage", std::move(perStage)},
      {"total", breakdownJson(plan.memory.total)},
      {"total_bytes", plan.memory.total.total()},
      {"by_policy",
       {{"stash", byPolicy[size_t(WeightPolicy::Stash)]},
        {"latest", byPolicy[size_t(WeightPolicy::Latest)]},
        {"ema", byPolicy[size_t(WeightPolicy::Ema)]},
        {"sync", byPolicy[size_t(WeightPolicy::Sync)]}}},
      {"weights_by_policy",
       {{"stash", weightsByPolicy[size_t(WeightPolicy::Stash)]},
        {"latest", weightsByPolicy[size_t(WeightPolicy::Latest)]},
        {"ema", weightsByPolicy[size_t(WeightPolicy::Ema)]},
        {"sync", weightsByPolicy[size_t(WeightPolicy::Sync)]}}}};
  // Each stage adds its own keys to `metrics`; the bound of the graph as it
  // now stands replaces the untransformed one, which stays under its own key.
  nlohmann::json &metrics = report["metrics"];
  metrics["iteration_bound_initial"] = C.initialBound.boundUs;
  metrics["iteration_bound"] = plan.retimedBound.boundUs;
  metrics["clock_period"] = plan.retimedPeriodUs;
  metrics["stages"] = plan.numStages;
  report["plan"] = {
      {"grouping", groupingModeName(options.grouping)},
      {"grouping_cost", groupingCostName(plan.groupingCost)},
      {"delays", delayRuleName(options.delays)},
      {"weights", weightPolicyName(options.weights)},
      {"retiming", plan.retimingMethod},
      {"bottleneck_us", plan.bottleneckUs},
      {"stages", plan.numStages},
      {"iteration_bound_initial", C.initialBound.boundUs},
      {"iteration_bound", plan.retimedBound.boundUs},
      {"clock_period", plan.retimedPeriodUs},
      {"verified", C.options.verify},
      {"stage_delays", stageDelays(plan, plan.gradientDelay)},
      {"layerpipe2_stage_delays", stageDelays(plan, plan.layerPipe2Delay)}};
  if (options.delays == DelayRule::Auto)
    report["plan"]["target_period_us"] = plan.targetPeriodUs;
  if (plan.otherCostPeriodUs >= 0) {
    report["plan"]["grouping_cost_other_period_us"] = plan.otherCostPeriodUs;
    report["plan"]["grouping_cost_other_batch"] = plan.otherCostBatch;
    report["plan"]["grouping_cost_other_samples_per_second"] =
        plan.otherCostSamplesPerSecond;
  }
}

} // namespace layerpipe
