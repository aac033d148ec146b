//===- Grouping.h - Partition layers into pipeline stages -------*- C++ -*-===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// Layer grouping: the layers, in the model's topological order, are cut into
// contiguous stages. A cut after layer k crosses every tensor produced at or
// before k and read after k (for a DAG, all parallel branches at once). A
// stage's processor runs its work; the transfers at its boundaries run on
// the links (the scheduler's model: a link is a resource of its own, one
// transfer at a time per channel), so a stage costs the larger of its work
// and the link time at its two boundaries. The optimal grouping minimizes
// the bottleneck stage cost exactly, in O(64 * S * L).
//
// GroupingCost::Sum is the earlier model, kept because the scheduler's
// layout does not always follow the max: where the links carry about as
// much as the processors, link contention can make the max grouping's
// stages slower than those of the sum (work plus the transfers at both
// boundaries, latency included). The driver compiles small graphs under
// both and keeps the shorter verified period (--grouping-cost=auto).
//
//===----------------------------------------------------------------------===//

#ifndef LAYERPIPE_TRANSFORMS_GROUPING_H
#define LAYERPIPE_TRANSFORMS_GROUPING_H

#include "layerpipe/CostModel.h"
#include "layerpipe/DFG.h"
#include "layerpipe/Model.h"
#include "layerpipe/Transforms.h"

#include "llvm/Support/Error.h"

#include <vector>

namespace layerpipe {

/// The numbers the grouping minimizes over.
struct GroupingProblem {
  /// Sum of each layer's task times (F + B + G + U), microseconds.
  std::vector<double> layerWork;
  /// cutCost[k]: link time (bytes over bandwidth, no latency) of the
  /// tensors crossing the cut after layer k, in one direction (the
  /// activations forward; their gradients, as many bytes, go backward);
  /// cutCost.back() = 0. With GroupingCost::Sum: the transfer time of
  /// those tensors forward plus their gradients backward, latency included.
  std::vector<double> cutCost;
  /// How a stage's work and its cut costs combine (stageCost).
  GroupingCost cost = GroupingCost::Max;

  size_t numLayers() const { return layerWork.size(); }
  /// Cost of a stage holding layers first..last: the larger of their work
  /// and the link time at both of its boundaries (on a switch, the stage's
  /// channel out carries the activations at its end and the gradients at
  /// its start, its channel in the others: both carry cutCost[first - 1] +
  /// cutCost[last]). With GroupingCost::Sum: the work plus both cuts.
  double stageCost(unsigned first, unsigned last) const;

  /// Builds the problem from a model, its DFG (task times) and the machine
  /// (link speed), for the stage cost \p cost.
  static GroupingProblem build(const Model &model, const TrainingDFG &dfg,
                               const MachineDesc &machine,
                               GroupingCost cost = GroupingCost::Max);

  std::vector<double> prefixWork; ///< filled by finalize()
  /// Computes prefixWork; call after filling layerWork and cutCost by hand.
  void finalize();
};

/// A stage assignment.
struct Grouping {
  std::vector<unsigned> stageOfLayer;
  unsigned numStages = 1;
  /// Largest stageCost over the stages.
  double bottleneckUs = 0;
};

/// Exact minimum-bottleneck partition into exactly \p numStages non-empty
/// contiguous stages. Fails if numStages is 0 or above the number of layers.
llvm::Expected<Grouping> groupOptimal(const GroupingProblem &problem,
                                      unsigned numStages);

/// Runs the grouping that \p options select (optimal, per layer, model hints,
/// explicit ranges). Errors name the layer or the range and the numbers.
llvm::Expected<Grouping> groupLayers(const Model &model,
                                     const GroupingProblem &problem,
                                     const PlanOptions &options);

} // namespace layerpipe

#endif // LAYERPIPE_TRANSFORMS_GROUPING_H
