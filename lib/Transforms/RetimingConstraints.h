//===- RetimingConstraints.h - Difference constraints of retiming -*- C++ -*-=//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// Private to lib/Transforms. Leiserson-Saxe turn "retiming r reaches clock
// period c" into difference constraints r(u) - r(v) <= k: one per edge
// (legality, k = w(e)) and one per pair with D(u,v) > c (k = W(u,v) - 1).
// WDMatrices holds W and D; periodConstraints emits the pairs, pruned of
// those implied by a tight predecessor's constraint plus legality.
//
//===----------------------------------------------------------------------===//

#ifndef LAYERPIPE_LIB_TRANSFORMS_RETIMINGCONSTRAINTS_H
#define LAYERPIPE_LIB_TRANSFORMS_RETIMINGCONSTRAINTS_H

#include "layerpipe/DFG.h"

#include <cstdint>
#include <limits>
#include <optional>
#include <vector>

namespace layerpipe {
namespace detail {

/// r(u) - r(v) <= bound.
struct DifferenceConstraint {
  unsigned u, v;
  int64_t bound;
};

/// W(u,v): fewest delays on a path u -> v; D(u,v): the longest time (t(u)
/// through t(v)) of such a path. Built per source in O(E log V).
class WDMatrices {
public:
  static constexpr int32_t kNoPath = std::numeric_limits<int32_t>::max();
  /// Requires: no zero-delay cycle.
  explicit WDMatrices(const TrainingDFG &dfg);
  int32_t w(unsigned u, unsigned v) const { return wMat[u * n + v]; }
  double d(unsigned u, unsigned v) const { return dMat[u * n + v]; }
  size_t size() const { return n; }
  /// Sorted distinct D values: the candidate clock periods.
  std::vector<double> candidatePeriods() const;

private:
  size_t n;
  std::vector<int32_t> wMat;
  std::vector<double> dMat;
  friend std::vector<DifferenceConstraint>
  periodConstraints(const TrainingDFG &, const WDMatrices &, double);
};

/// Legality constraints of every edge plus the (pruned) period constraints
/// for clock period \p period.
std::vector<DifferenceConstraint>
periodConstraints(const TrainingDFG &dfg, const WDMatrices &wd,
                  double period);

/// Solves the system over \p numVars variables with Bellman-Ford (all
/// variables start at 0, as from a virtual source); std::nullopt if the
/// system has a negative cycle (is infeasible).
std::optional<std::vector<int64_t>>
solveDifferenceConstraints(size_t numVars,
                           const std::vector<DifferenceConstraint> &cs);

} // namespace detail
} // namespace layerpipe

#endif // LAYERPIPE_LIB_TRANSFORMS_RETIMINGCONSTRAINTS_H
