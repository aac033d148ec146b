//===- GradientDelays.h - Delayed-gradient adaptation -----------*- C++ -*-===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// Gradient-delay insertion: the one change of training semantics a pipeline
// makes (docs/training-semantics.md). Layer l's update uses the gradient of
// D_l mini-batches ago, which adds D_l delays to its G_l -> U_l edge and
// nowhere else; retiming then moves them where the pipeline needs them.
//
//===----------------------------------------------------------------------===//

#ifndef LAYERPIPE_TRANSFORMS_GRADIENTDELAYS_H
#define LAYERPIPE_TRANSFORMS_GRADIENTDELAYS_H

#include "layerpipe/DFG.h"
#include "layerpipe/Model.h"
#include "layerpipe/Transforms.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <vector>

namespace layerpipe {

/// Largest gradient delay a plan accepts (delay sums must fit the retiming's
/// 32-bit W matrix with room to spare).
constexpr int64_t kMaxGradientDelay = 1 << 20;

/// LayerPipe2's rule: every layer of stage s of M gets 2 * (M - 1 - s)
/// (grouped layers share their stage's delay; the last stage gets 0).
std::vector<int64_t> layerPipe2Delays(llvm::ArrayRef<unsigned> stageOfLayer,
                                      unsigned numStages);

/// Delays for the rules that need no DFG (none, layerpipe2, uniform:K,
/// model). Parameter-free layers get the largest delay of their consumers
/// (0 for the loss), except under layerpipe2 where they share their stage's.
/// Fails on negative or badly ordered user delays, naming the layer.
llvm::Expected<std::vector<int64_t>>
computeGradientDelays(const Model &model, llvm::ArrayRef<unsigned> stageOfLayer,
                      unsigned numStages, const PlanOptions &options);

/// The fewest delays per stage (shared by the stage's layers, never more
/// than layerpipe2's) for which a legal retiming of \p plainDFG (one delay per
/// weight loop, none inserted yet) reaches clock period \p targetPeriodUs;
/// if layerpipe2's delays cannot reach it, the period layerpipe2 reaches is
/// the target. Writes the period aimed at to \p achievedTargetUs.
llvm::Expected<std::vector<int64_t>>
autoGradientDelays(const TrainingDFG &plainDFG, const Model &model,
                   llvm::ArrayRef<unsigned> stageOfLayer, unsigned numStages,
                   double targetPeriodUs, double *achievedTargetUs = nullptr);

/// Checks D_producer >= D_consumer on every edge of the layer graph.
llvm::Error checkDelayOrder(const Model &model, llvm::ArrayRef<int64_t> delays);

/// Adds delays[l] delays to layer l's weight-gradient edge (G_l -> U_l, or
/// BG_l -> U_l with a merged backward). Fails, naming the layer, for a
/// positive delay on a layer without such an edge.
llvm::Error insertGradientDelays(TrainingDFG &dfg, const Model &model,
                                 llvm::ArrayRef<int64_t> delays);

/// Adds \p delays to one edge. Rejects (asserts) any edge that is not a
/// weight-gradient edge: no other edge may get delays that retiming did not
/// move there.
void addGradientDelay(TrainingDFG &dfg, unsigned edge, int64_t delays);

} // namespace layerpipe

#endif // LAYERPIPE_TRANSFORMS_GRADIENTDELAYS_H
