//===- Unfolding.h - Unfold a training DFG by J -----------------*- C++ -*-===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// Unfolding by J turns a DFG that runs one iteration per period into one that
// runs J consecutive iterations per period: every task v becomes J copies
// v#0 .. v#J-1 (copy i does iteration J*k + i), and an edge u -> v with w
// delays becomes, for each i, the edge u#i -> v#((i + w) mod J) with
// floor((i + w) / J) delays (Parhi, VLSI Digital Signal Processing Systems,
// ch. 5). The unfolded graph's iteration bound is exactly J times the
// original's, and every cycle's delay count is kept in total. A scheduler can
// then place the copies of one long task on different processors and reach a
// period per iteration below that task's length, or a fractional iteration
// bound that one copy per period cannot.
//
//===----------------------------------------------------------------------===//

#ifndef LAYERPIPE_TRANSFORMS_UNFOLDING_H
#define LAYERPIPE_TRANSFORMS_UNFOLDING_H

#include "layerpipe/DFG.h"

namespace layerpipe {

/// The J-unfolded graph of \p dfg. Task i*V + v is copy i of task v, named
/// "<name>#<i>" (J = 1 returns an identical graph with unchanged names).
/// Edge i*E + e is copy i of edge e. layerTasks refers to copy 0.
/// Requires: J >= 1 and every delay >= 0.
TrainingDFG unfoldDFG(const TrainingDFG &dfg, unsigned J);

} // namespace layerpipe

#endif // LAYERPIPE_TRANSFORMS_UNFOLDING_H
