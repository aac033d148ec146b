//===- ZeroBubble.h - Zero Bubble's greedy stage orders ---------*- C++ -*-===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// Internal to lib/Schedule. The per-stage orders that Zero Bubble's
// automatic scheduler (its greedy heuristic, the ILP being switched off)
// builds for one stage per processor under a per-stage memory limit. The
// caller times the orders in its own model; docs/scheduling.md describes the
// rules.
//
//===----------------------------------------------------------------------===//

#ifndef LAYERPIPE_LIB_SCHEDULE_ZEROBUBBLE_H
#define LAYERPIPE_LIB_SCHEDULE_ZEROBUBBLE_H

#include <optional>
#include <vector>

namespace layerpipe {

/// The problem the heuristic sees: per stage the F, B, W times, the
/// transfer to the next stage (forward) and from it (backward), the memory
/// one F allocates (its W frees it) and the stage's limit.
struct ZeroBubbleInput {
  unsigned stages = 0, microBatches = 0;
  std::vector<double> forward, backward, weight;
  std::vector<double> sendForward, sendBackward;
  std::vector<double> memory, maxMemory;
};

/// One action of a stage's order.
struct ZeroBubbleAction {
  enum Kind { F = 0, B = 1, W = 2 } kind;
  unsigned microBatch;
};

using ZeroBubbleOrder = std::vector<std::vector<ZeroBubbleAction>>;

/// The order of one of the heuristic's eight variants (bit 0: allow a bubble
/// before the first B, bit 1: prioritise B, bit 2: fill small bubbles with
/// W greedily); nullopt where the variant cannot fit the memory.
std::optional<ZeroBubbleOrder> zeroBubbleOrder(const ZeroBubbleInput &input,
                                               unsigned variant);

} // namespace layerpipe

#endif // LAYERPIPE_LIB_SCHEDULE_ZEROBUBBLE_H
