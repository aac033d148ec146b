//===- Retiming.h - Leiserson-Saxe retiming of a training DFG ---*- C++ -*-===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// Retiming moves delays (pipeline registers) across tasks without changing the
// number of delays on any cycle: with an integer r(v) per task, an edge u->v
// gets w_r(e) = w(e) + r(v) - r(u), which must stay >= 0 (Leiserson & Saxe,
// 1991). The clock period of a graph is its longest zero-delay path. This file
// declares the problem's validators (legality, clock period, verifier) and the
// solvers: minimum period (W/D matrices + Bellman-Ford, or FEAS), minimum
// memory under a period bound (min-cost flow), and the linear-time cutset
// retiming of a staged pipeline. docs/retiming.md explains each.
//
//===----------------------------------------------------------------------===//

#ifndef LAYERPIPE_TRANSFORMS_RETIMING_H
#define LAYERPIPE_TRANSFORMS_RETIMING_H

#include "layerpipe/DFG.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <optional>
#include <vector>

namespace layerpipe {

/// A retiming: one lag per task of the DFG it was computed for.
using Retiming = std::vector<int64_t>;

/// The delay of \p edge after retiming by \p r.
inline int64_t retimedDelay(const Edge &edge, llvm::ArrayRef<int64_t> r) {
  return edge.delay + r[edge.dst] - r[edge.src];
}

/// Checks w_r(e) >= 0 on every edge; the error names the first bad edge.
llvm::Error checkRetimingLegal(const TrainingDFG &dfg,
                               llvm::ArrayRef<int64_t> r);

/// Rewrites every edge delay to w_r(e). Requires: \p r is legal.
void applyRetiming(TrainingDFG &dfg, llvm::ArrayRef<int64_t> r);

/// Longest zero-delay path (sum of task times), microseconds.
/// Fails: on a zero-delay cycle (deadlock) or a negative delay.
llvm::Expected<double> computeClockPeriod(const TrainingDFG &dfg);
/// The clock period of \p dfg retimed by \p r (empty: not retimed), without
/// copying the graph.
llvm::Expected<double> computeClockPeriod(const TrainingDFG &dfg,
                                          llvm::ArrayRef<int64_t> r);

/// Checks that \p after is a retiming of \p before: the same tasks and edge
/// endpoints, no negative delay, delays differing by r(dst) - r(src) for one
/// potential r (so every cycle keeps its delay count), and a clock period
/// equal to \p claimedPeriodUs. Fills \p potential with the r it found.
llvm::Error verifyRetiming(const TrainingDFG &before, const TrainingDFG &after,
                           double claimedPeriodUs,
                           Retiming *potential = nullptr);

/// Leiserson-Saxe FEAS: a retiming with clock period <= \p periodUs, or
/// std::nullopt if none exists. O(V * E) in the worst case; stops as soon as
/// the period is reached. With \p maxRounds below V - 1 it gives up early
/// (then std::nullopt only means "not found within that many rounds").
std::optional<Retiming> retimeFeasible(const TrainingDFG &dfg, double periodUs,
                                       size_t maxRounds = SIZE_MAX);

/// Largest graph (tasks) for which the W/D matrices are built.
constexpr size_t kMaxGeneralRetimingTasks = 2500;

/// Result of a general retiming.
struct RetimingResult {
  Retiming r;
  double periodUs = 0;
};

/// Minimum clock period retiming: W/D matrices, binary search over the
/// candidate periods D(u, v), Bellman-Ford on the constraint graph.
/// Fails: graphs above kMaxGeneralRetimingTasks tasks; zero-delay cycles.
llvm::Expected<RetimingResult> retimeMinPeriod(const TrainingDFG &dfg);

/// Memory cost of one register on each edge: edges in one group hold the same
/// tensor, so the group costs bytes * (largest delay in the group).
struct RegisterGroup {
  llvm::SmallVector<unsigned, 4> edges;
  int64_t bytes = 0;
};

/// Minimum-memory retiming with clock period <= \p periodBoundUs: minimizes
/// sum over \p groups of bytes * max delay, as the dual of a min-cost flow
/// (Boost successive_shortest_path_nonnegative_weights). \p start must be a
/// retiming that already meets the bound (it makes the flow's costs
/// non-negative). Fails like retimeMinPeriod.
llvm::Expected<RetimingResult>
retimeMinMemory(const TrainingDFG &dfg, double periodBoundUs,
                llvm::ArrayRef<RegisterGroup> groups,
                llvm::ArrayRef<int64_t> start);

/// Sum over \p groups of bytes * (largest delay of the group's edges).
int64_t registerBytes(const TrainingDFG &dfg,
                      llvm::ArrayRef<RegisterGroup> groups);

/// Cutset retiming of a staged pipeline in O(V + E): a layer in stage s of M
/// puts its forward at lag s and its backward at lag 2(M-1) - s, so each
/// stage boundary crossed forward or backward holds one register, the saved
/// activations of stage s hold 2(M-1-s), and the update of a layer with
/// gradient delay D (the delay on its G->U edge) sits at lag s
/// (D >= 2(M-1-s)) or s + 1 (D = 2(M-1-s) - 1: update and forward fused in
/// one stage step). Fails, naming the layer, if a layer has fewer delays than
/// that or the stages are not monotone along an edge.
llvm::Expected<Retiming>
retimeByStages(const TrainingDFG &dfg, const Model &model,
               llvm::ArrayRef<unsigned> stageOfLayer, unsigned numStages);

} // namespace layerpipe

#endif // LAYERPIPE_TRANSFORMS_RETIMING_H
