//===- Memory.h - Staleness and memory of a retimed pipeline ----*- C++ -*-===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// What a plan costs: per layer its staleness and the registers retiming put
// on its tensors; per stage the bytes of parameters, optimizer state, stashed
// weight versions, activations, in-flight gradients and moving-average
// buffers; totals under each weight policy. The formulas are in
// docs/memory.md and follow docs/training-semantics.md.
//
//===----------------------------------------------------------------------===//

#ifndef LAYERPIPE_TRANSFORMS_MEMORY_H
#define LAYERPIPE_TRANSFORMS_MEMORY_H

#include "layerpipe/DFG.h"
#include "layerpipe/Model.h"
#include "layerpipe/Transforms.h"
#include "layerpipe/Transforms/Retiming.h"

#include <vector>

namespace layerpipe {

/// The tensors that registers hold, one group per tensor: a task's output
/// activation (all its consumers), what a forward saves for its backward,
/// the gradient a backward sends to one producer, a layer's weights (read by
/// F and B; free under every policy but `stash`), a delayed weight gradient.
/// The minimum-memory retiming minimizes registerBytes over these groups.
std::vector<RegisterGroup> registerGroups(const TrainingDFG &dfg,
                                          WeightPolicy policy);

/// The report for a retimed DFG. Requires: plan.stageOfLayer and
/// plan.gradientDelay filled; \p retimed is the DFG after retiming.
MemoryReport computeMemoryReport(const Model &model,
                                 const TrainingDFG &retimed,
                                 const PipelinePlan &plan,
                                 const PlanOptions &options,
                                 const MachineDesc &machine);

} // namespace layerpipe

#endif // LAYERPIPE_TRANSFORMS_MEMORY_H
