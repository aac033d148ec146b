//===- IterationBound.h - Maximum cycle ratio of a DFG ----------*- C++ -*-===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// The iteration bound T_inf = max over cycles of (sum of task times) / (sum of
// delays): no schedule of the graph, on any number of processors, has a
// smaller period. Computed with Howard's policy iteration (linear-time steps;
// Boost.Graph's maximum_cycle_ratio as the fallback and reference). A cycle
// without delays is a deadlock and an error.
//
//===----------------------------------------------------------------------===//

#ifndef LAYERPIPE_ITERATIONBOUND_H
#define LAYERPIPE_ITERATIONBOUND_H

#include "layerpipe/DFG.h"

#include "llvm/ADT/SmallVector.h"
#include "llvm/Support/Error.h"

namespace layerpipe {

struct IterationBound {
  /// Microseconds per iteration; 0 if the graph has no cycle.
  double boundUs = 0;
  /// Tasks of one critical cycle, in order along the cycle.
  llvm::SmallVector<unsigned, 16> criticalLoop;
  double loopTimeUs = 0;
  int64_t loopDelays = 0;
};

/// Requires: every edge delay >= 0.
/// Fails: with the tasks of a zero-delay cycle (deadlock).
llvm::Expected<IterationBound> computeIterationBound(const TrainingDFG &dfg);

/// The same with Boost.Graph's maximum_cycle_ratio alone: the reference the
/// unit tests compare computeIterationBound with (quadratic on graphs with
/// many loops).
llvm::Expected<IterationBound>
computeIterationBoundWithBoost(const TrainingDFG &dfg);

/// Finds a cycle whose delays sum to zero; empty if there is none.
llvm::SmallVector<unsigned, 16> findZeroDelayCycle(const TrainingDFG &dfg);

} // namespace layerpipe

#endif // LAYERPIPE_ITERATIONBOUND_H
