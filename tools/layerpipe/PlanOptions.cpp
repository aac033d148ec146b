//===- PlanOptions.cpp - Flags of the planning passes ---------------------===//
//
// Part of LayerPipe. The grouping, delay, weight-policy and retiming flags
// live here; readPlanOptions turns them into PlanOptions and checks them
// (errors name the flag and the value). docs/retiming.md explains them.
//
//===----------------------------------------------------------------------===//

#include "Options.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringExtras.h"

using namespace llvm;

namespace layerpipe {

static cl::opt<unsigned> stagesCountFlag(
    "stages-count", cl::init(0), cl::value_desc("S"),
    cl::desc("Group the layers into S stages, minimizing the bottleneck "
             "stage time (default: one stage per --procs processor)"),
    cl::cat(planCategory()));

static cl::opt<std::string> stagesFlag(
    "stages", cl::value_desc("a-b,c-d,..."),
    cl::desc("Explicit stages as inclusive layer-index ranges covering all "
             "layers in order, e.g. 0-3,4-9,10-12 (default: grouped by "
             "--grouping)"),
    cl::cat(planCategory()));

static cl::opt<std::string> groupingFlag(
    "grouping", cl::init(""), cl::value_desc("optimal|per-layer|hints"),
    cl::desc("How layers form stages: optimal (default; --stages-count), "
             "per-layer (each weight layer starts a stage), hints (the "
             "model's \"stage\" fields)"),
    cl::cat(planCategory()));

static cl::opt<std::string> groupingCostFlag(
    "grouping-cost", cl::init("auto"), cl::value_desc("auto|max|sum"),
    cl::desc("What the optimal grouping charges a stage: max (the larger "
             "of its work and its boundary link time), sum (its work plus "
             "its boundary transfers), auto (default: on graphs of at most "
             "1,250 layers with --schedule=layerpipe, compile under both "
             "and keep the shorter verified period, max on a tie; else "
             "max)"),
    cl::cat(planCategory()));

static cl::opt<std::string> delaysFlag(
    "delays", cl::init("none"),
    cl::value_desc("none|layerpipe2|auto|schedule|uniform:K|model"),
    cl::desc("Gradient delays on the weight-update loops: none (plain SGD), "
             "layerpipe2 (2 per downstream stage), auto (fewest that reach "
             "the --procs target period), schedule (layerpipe2's schedule, "
             "then per layer the fewest delays its start times need, "
             "planned and verified again while the period does not grow), "
             "uniform:K, model (the "
             "\"gradient_delay\" fields). Default: layerpipe2 when the "
             "plan has more than one stage, --schedule=layerpipe and no "
             "--micro-batches (asynchronous) and --weights is not sync; "
             "none otherwise"),
    cl::cat(planCategory()));

static cl::opt<std::string> weightsFlag(
    "weights", cl::init("stash"), cl::value_desc("stash|latest|ema|sync"),
    cl::desc("Weight version the backward pass reads (default stash)"),
    cl::cat(planCategory()));

static cl::opt<std::string> retimingFlag(
    "retiming", cl::init("auto"),
    cl::value_desc("auto|stages|min-period|min-memory|none"),
    cl::desc("How delays are moved after insertion: auto (default: stage "
             "cutsets if the delays allow, else minimum period), stages, "
             "min-period, min-memory (fewest register bytes under "
             "--period-bound), none"),
    cl::cat(planCategory()));

static cl::opt<double> periodBoundFlag(
    "period-bound", cl::init(0), cl::value_desc("us"),
    cl::desc("Clock-period bound of --retiming=min-memory, microseconds "
             "(default: the period the stage retiming reaches)"),
    cl::cat(planCategory()));

static cl::opt<bool> momentumFlag(
    "momentum", cl::init(true),
    cl::desc("The optimizer keeps a momentum buffer (default true; with "
             "--momentum=false, --weights=ema needs its own buffer)"),
    cl::cat(planCategory()));

/// The enum value whose name (by \p nameOf) is \p text.
template <typename Enum, size_t N>
static std::optional<Enum> parseName(StringRef text,
                                     const Enum (&values)[N],
                                     StringRef (*nameOf)(Enum)) {
  for (Enum value : values)
    if (nameOf(value) == text)
      return value;
  return std::nullopt;
}

static Error flagError(const Twine &msg) {
  return createStringError(inconvertibleErrorCode(), msg.str());
}

/// "0-3,4-9,10" -> {{0,3},{4,9},{10,10}}.
static Error parseRanges(StringRef text,
                         std::vector<std::pair<unsigned, unsigned>> &ranges) {
  SmallVector<StringRef, 8> parts;
  text.split(parts, ',');
  for (StringRef part : parts) {
    StringRef trimmed = part.trim();
    auto [first, last] = trimmed.split('-');
    if (last.empty() && !trimmed.contains('-'))
      last = first;
    unsigned a, b;
    if (first.trim().getAsInteger(10, a) || last.trim().getAsInteger(10, b))
      return flagError("--stages: '" + part +
                       "' is not a layer-index range like 4-9");
    ranges.emplace_back(a, b);
  }
  return Error::success();
}

/// Whether --delays, not given, means layerpipe2: an asynchronous layerpipe
/// schedule of a plan with more than one stage (without delays it cannot
/// pipeline). The stage count is known only after grouping; from the flags,
/// explicit stages and --stages-count give it, optimal grouping makes one
/// stage per processor, and hints / per-layer grouping are taken as several
/// (a single stage gets no delays from layerpipe2 anyway).
static bool defaultsToLayerPipe2(const CompileOptions &options,
                                 const PlanOptions &plan, StringRef weights) {
  const ScheduleOptions &schedule = options.schedule;
  if (schedule.kind != ScheduleKind::LayerPipe || schedule.microBatches > 0 ||
      weights == "sync")
    return false;
  switch (plan.grouping) {
  case GroupingMode::Explicit:
    return plan.explicitStages.size() > 1;
  case GroupingMode::Optimal:
    return (plan.stagesCount ? plan.stagesCount : schedule.procs) > 1;
  case GroupingMode::Hints:
  case GroupingMode::PerLayer:
    return true;
  }
  return false;
}

Error readPlanOptions(CompileOptions &options) {
  PlanOptions &plan = options.plan;
  plan.targetProcs = std::max(1u, options.schedule.procs);

  static const GroupingMode groupings[] = {
      GroupingMode::Optimal, GroupingMode::PerLayer, GroupingMode::Hints,
      GroupingMode::Explicit};
  if (!groupingFlag.empty()) {
    auto mode = parseName(StringRef(groupingFlag), groupings, groupingModeName);
    if (!mode)
      return flagError("--grouping=" + groupingFlag +
                       ": expected optimal, per-layer, hints or explicit");
    plan.grouping = *mode;
  }
  if (stagesFlag.getNumOccurrences()) {
    if (stagesCountFlag.getNumOccurrences())
      return flagError("--stages and --stages-count exclude each other");
    if (!groupingFlag.empty() && plan.grouping != GroupingMode::Explicit)
      return flagError("--stages gives explicit stages; it cannot be "
                       "combined with --grouping=" +
                       groupingFlag);
    plan.grouping = GroupingMode::Explicit;
    if (Error err = parseRanges(stagesFlag, plan.explicitStages))
      return err;
  } else if (plan.grouping == GroupingMode::Explicit) {
    return flagError("--grouping=explicit needs --stages=a-b,c-d,...");
  }
  if (stagesCountFlag.getNumOccurrences()) {
    if (plan.grouping != GroupingMode::Optimal)
      return flagError("--stages-count applies to --grouping=optimal, not "
                       "--grouping=" +
                       groupingModeName(plan.grouping));
    if (stagesCountFlag == 0)
      return flagError("--stages-count must be at least 1, got 0");
    plan.stagesCount = stagesCountFlag;
  }

  StringRef delays = delaysFlag;
  if (!delaysFlag.getNumOccurrences() &&
      defaultsToLayerPipe2(options, plan, weightsFlag))
    delays = "layerpipe2";
  static const DelayRule rules[] = {DelayRule::None, DelayRule::LayerPipe2,
                                    DelayRule::Auto, DelayRule::FromModel};
  if (delays == "schedule") {
    // layerpipe2 first; the compiler then lowers each delay to what the
    // schedule's start times need and plans again (model fields).
    plan.delays = DelayRule::LayerPipe2;
    plan.scheduleDelays = true;
  } else if (delays.consume_front("uniform:")) {
    long long k;
    if (delays.getAsInteger(10, k) || k < 0)
      return flagError("--delays=uniform:K needs a non-negative integer K, "
                       "got '" +
                       delays + "'");
    plan.delays = DelayRule::Uniform;
    plan.uniformDelay = k;
  } else if (auto rule = parseName(delays, rules, delayRuleName)) {
    plan.delays = *rule;
  } else {
    return flagError("--delays=" + delays +
                     ": expected none, layerpipe2, auto, schedule, uniform:K "
                     "or model");
  }

  static const WeightPolicy policies[] = {
      WeightPolicy::Stash, WeightPolicy::Latest, WeightPolicy::Ema,
      WeightPolicy::Sync};
  auto policy = parseName(StringRef(weightsFlag), policies, weightPolicyName);
  if (!policy)
    return flagError("--weights=" + weightsFlag +
                     ": expected stash, latest, ema or sync");
  plan.weights = *policy;
  if (plan.weights == WeightPolicy::Sync && plan.delays != DelayRule::None)
    return flagError("--weights=sync trains without staleness; it needs "
                     "--delays=none, not --delays=" +
                     delaysFlag);

  static const RetimingMethod methods[] = {
      RetimingMethod::Auto, RetimingMethod::Stages, RetimingMethod::MinPeriod,
      RetimingMethod::MinMemory, RetimingMethod::None};
  auto method =
      parseName(StringRef(retimingFlag), methods, retimingMethodName);
  if (!method)
    return flagError("--retiming=" + retimingFlag +
                     ": expected auto, stages, min-period, min-memory or "
                     "none");
  plan.retiming = *method;
  if (periodBoundFlag.getNumOccurrences()) {
    if (!(periodBoundFlag > 0))
      return flagError("--period-bound must be a positive time in "
                       "microseconds, got " +
                       std::to_string(periodBoundFlag.getValue()));
    if (plan.retiming != RetimingMethod::MinMemory)
      return flagError("--period-bound applies to --retiming=min-memory");
    plan.periodBoundUs = periodBoundFlag;
  }
  plan.momentum = momentumFlag;

  StringRef cost = groupingCostFlag;
  plan.bothGroupingCosts = cost == "auto";
  if (cost == "max" || cost == "auto")
    plan.groupingCost = GroupingCost::Max;
  else if (cost == "sum")
    plan.groupingCost = GroupingCost::Sum;
  else
    return flagError("--grouping-cost=" + cost +
                     ": expected auto, max or sum");
  return Error::success();
}

} // namespace layerpipe
