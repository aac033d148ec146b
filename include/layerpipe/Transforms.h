//===- Transforms.h - Grouping, gradient delays, retiming -------*- C++ -*-===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// The planning half of the compiler (issue: layer grouping, gradient-delay
// insertion, retiming, staleness and memory report). Owned by the transforms
// work; other stages see only PlanOptions, PipelinePlan and the entry points
// below.
//
//===----------------------------------------------------------------------===//

#ifndef LAYERPIPE_TRANSFORMS_H
#define LAYERPIPE_TRANSFORMS_H

#include "layerpipe/CostModel.h"
#include "layerpipe/IterationBound.h"
#include "layerpipe/Model.h"

#include "llvm/Support/Error.h"
#include "llvm/Support/raw_ostream.h"

#include <nlohmann/json_fwd.hpp>

#include <array>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace layerpipe {

struct Compilation;

/// How layers are grouped into pipeline stages.
enum class GroupingMode {
  Optimal,  ///< --stages-count S: exact min-bottleneck contiguous partition
  PerLayer, ///< one layer (with its parameter-free followers) per stage
  Hints,    ///< "stage" fields of the model file
  Explicit, ///< --stages=0-3,4-9,...
};

/// What an optimal grouping charges a stage (--grouping-cost).
enum class GroupingCost {
  Max, ///< the larger of its work and its boundary link time (links are
       ///< resources of their own, as in the scheduler)
  Sum, ///< its work plus the transfers at its boundaries (latency included)
};

/// How many gradient delays each layer's weight-update loop gets.
enum class DelayRule {
  None,       ///< plain SGD
  LayerPipe2, ///< Delay(l) = 2 * (stages downstream of l's stage)
  Auto,       ///< fewest delays that reach the target period
  Uniform,    ///< --delays=uniform:K
  FromModel,  ///< "gradient_delay" fields of the model file
};

/// Which weight version the backward pass reads (reference.md section 3).
enum class WeightPolicy {
  Stash,  ///< forward and backward see the same (stashed) version
  Latest, ///< backward sees the current weights (TiMePReSt-style)
  Ema,    ///< backward sees weights reconstructed from a moving average
  Sync,   ///< synchronous: no staleness
};

/// How the delays are moved into place after insertion.
enum class RetimingMethod {
  Auto,      ///< Stages if the delays allow it, else MinPeriod if small
  Stages,    ///< linear-time cutset retiming by stage
  MinPeriod, ///< Leiserson-Saxe minimum clock period (W/D + Bellman-Ford)
  MinMemory, ///< fewest register bytes under a period bound (min-cost flow)
  None,      ///< leave the delays on the weight-gradient edges
};

/// Options of the planning passes (filled by the tool from its flags).
struct PlanOptions {
  GroupingMode grouping = GroupingMode::Optimal;
  /// What the optimal grouping charges a stage, and what the grouping's
  /// bottleneck reports for the other modes.
  GroupingCost groupingCost = GroupingCost::Max;
  /// --grouping-cost=auto: the driver compiles small graphs under both
  /// stage costs and keeps the shorter verified period (tools/layerpipe).
  bool bothGroupingCosts = false;
  /// Number of stages for GroupingMode::Optimal; 0 = one stage.
  unsigned stagesCount = 0;
  /// Inclusive layer-index ranges for GroupingMode::Explicit.
  std::vector<std::pair<unsigned, unsigned>> explicitStages;
  DelayRule delays = DelayRule::None;
  int64_t uniformDelay = 0;
  WeightPolicy weights = WeightPolicy::Stash;
  /// Processors the pipeline targets (DelayRule::Auto aims at the period
  /// max(total work / procs, largest task)).
  unsigned targetProcs = 1;
  RetimingMethod retiming = RetimingMethod::Auto;
  /// Clock-period bound for RetimingMethod::MinMemory, microseconds; 0 = the
  /// period the stage (or minimum-period) retiming reaches.
  double periodBoundUs = 0;
  /// The optimizer keeps a momentum buffer (then `ema` needs no extra one).
  bool momentum = true;
  /// --delays=schedule: plan with layerpipe2, then lower each layer's delay
  /// to what the schedule's start times need (tools/layerpipe).
  bool scheduleDelays = false;
};

/// Bytes held per kind of state.
struct MemoryBreakdown {
  int64_t parameters = 0;
  int64_t optimizerState = 0;
  int64_t weightVersions = 0; ///< stashed older weight versions
  int64_t activations = 0;    ///< stashed and in-flight activations
  int64_t gradients = 0;      ///< in-flight gradients and delayed updates
  int64_t movingAverage = 0;  ///< ema buffers (no momentum only)
  int64_t total() const {
    return parameters + optimizerState + weightVersions + activations +
           gradients + movingAverage;
  }
  MemoryBreakdown &operator+=(const MemoryBreakdown &other);
};

/// Per-layer pipeline state after retiming.
struct LayerPipelineState {
  int64_t forwardStaleness = 0;
  int64_t backwardStaleness = 0;
  /// Registers on the layer's output activation (largest over consumers).
  int64_t activationRegisters = 0;
  /// Registers on what its backward keeps from its forward.
  int64_t savedRegisters = 0;
  /// Registers on the gradient its backward sends to its producers.
  int64_t gradientRegisters = 0;
  /// Older weight versions the retimed graph holds for its backward.
  int64_t weightVersions = 0;
};

/// The staleness and memory report of a plan.
struct MemoryReport {
  std::vector<MemoryBreakdown> perStage;
  MemoryBreakdown total;
  /// Total bytes under each weight policy, indexed by WeightPolicy.
  std::array<int64_t, 4> totalByPolicy{};
  /// Of that, the weight state: parameters, optimizer state, stashed
  /// versions and moving-average buffers.
  std::array<int64_t, 4> weightBytesByPolicy{};
  std::vector<LayerPipelineState> layers;
};

/// What the planning passes derive. Per-layer vectors are indexed like
/// Model::layers, per-task vectors like TrainingDFG::tasks.
struct PipelinePlan {
  bool planned = false;
  unsigned numStages = 1;
  std::vector<unsigned> stageOfLayer;
  /// Gradient delay D_l inserted on layer l's G->U edge (0 without weights).
  std::vector<int64_t> gradientDelay;
  /// Retiming r(v) applied to the DFG.
  std::vector<int64_t> retiming;
  /// Iteration bound of the DFG after delay insertion and retiming.
  IterationBound retimedBound;
  /// Clock period (longest zero-delay path) after retiming, microseconds.
  double retimedPeriodUs = 0;

  /// Bottleneck stage cost of the grouping (per stage, the larger of its
  /// work and the link time at its boundaries, or with GroupingCost::Sum
  /// their sum).
  double bottleneckUs = 0;
  /// The stage cost the grouping used (PlanOptions::groupingCost).
  GroupingCost groupingCost = GroupingCost::Max;
  /// When the driver compiled under both stage costs and kept this one
  /// (--grouping-cost=auto): the verified period the other reached, us (0
  /// when it did not schedule); -1 when only one cost was compiled.
  double otherCostPeriodUs = -1;
  /// Its samples per iteration (its micro-batch) and samples per second.
  int64_t otherCostBatch = 0;
  double otherCostSamplesPerSecond = 0;
  /// The delays each rule would give with this grouping, for comparison.
  std::vector<int64_t> layerPipe2Delay;
  /// --delays=auto: the period the delays were chosen for.
  double targetPeriodUs = 0;
  /// Which retiming produced `retiming` ("stages", "min-period", ...).
  std::string retimingMethod;
  MemoryReport memory;
};

/// Flag spellings: "optimal", "per-layer", "hints", "explicit"; "none",
/// "layerpipe2", "auto", "uniform", "model"; "stash", "latest", "ema",
/// "sync"; "auto", "stages", "min-period", "min-memory", "none".
llvm::StringRef groupingModeName(GroupingMode mode);
/// "max" or "sum" (--grouping-cost).
llvm::StringRef groupingCostName(GroupingCost cost);
llvm::StringRef delayRuleName(DelayRule rule);
llvm::StringRef weightPolicyName(WeightPolicy policy);
llvm::StringRef retimingMethodName(RetimingMethod method);

/// Stage assignment and per-layer gradient delays alone, without touching a
/// DFG: what the reference trainer needs to reproduce a plan's semantics.
llvm::Expected<std::pair<std::vector<unsigned>, std::vector<int64_t>>>
planStagesAndDelays(const Model &model, const MachineDesc &machine,
                    const PlanOptions &options);

/// The first pass of runPlanning alone: C.plan's stages and gradient delays
/// from C.dfg (not yet delayed), nothing else planned.
llvm::Error planStagesAndDelays(Compilation &C);

/// Runs grouping, gradient-delay insertion and retiming on C.dfg, filling
/// C.plan. A no-op until the planning passes exist.
llvm::Error runPlanning(Compilation &C);
/// Human-readable part of the summary.
void printPlanSummary(const Compilation &C, llvm::raw_ostream &os);
/// Adds the plan's fields to the report JSON: its own objects (`plan`,
/// `memory`) and its own keys of the shared `metrics`
/// (iteration_bound_initial, iteration_bound, clock_period, stages); it
/// never replaces what another stage wrote. The plan's fields of
/// `layers[i]` are written by writeReport (Summary.h).
void addPlanToReport(const Compilation &C, nlohmann::json &report);

} // namespace layerpipe

#endif // LAYERPIPE_TRANSFORMS_H
