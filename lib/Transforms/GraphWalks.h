//===- GraphWalks.h - Graph walks shared by the planning passes -*- C++ -*-===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// Private to lib/Transforms: adjacency lists and the zero-delay longest-path
// walk that the clock period, FEAS and the verifiers all need, written once.
//
//===----------------------------------------------------------------------===//

#ifndef LAYERPIPE_LIB_TRANSFORMS_GRAPHWALKS_H
#define LAYERPIPE_LIB_TRANSFORMS_GRAPHWALKS_H

#include "layerpipe/DFG.h"

#include "llvm/ADT/ArrayRef.h"

#include <cstdint>
#include <optional>
#include <vector>

namespace layerpipe {
namespace detail {

/// Edge indices leaving (or entering) each task.
struct Adjacency {
  std::vector<std::vector<unsigned>> out, in;
};
Adjacency buildAdjacency(const TrainingDFG &dfg);

/// Delay of each edge, optionally after retiming by \p r.
std::vector<int64_t> edgeDelays(const TrainingDFG &dfg,
                                llvm::ArrayRef<int64_t> r = {});

/// Delta(v): the longest zero-delay path ending at v, including t(v), for the
/// edge delays \p delays. std::nullopt on a zero-delay cycle.
std::optional<std::vector<double>>
zeroDelayArrival(const TrainingDFG &dfg, const Adjacency &adj,
                 llvm::ArrayRef<int64_t> delays);

/// Relative tolerance for comparing sums of task times.
inline bool timeLE(double a, double b) { return a <= b + 1e-9 * (1 + b); }

} // namespace detail
} // namespace layerpipe

#endif // LAYERPIPE_LIB_TRANSFORMS_GRAPHWALKS_H
