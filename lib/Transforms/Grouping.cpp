//===- Grouping.cpp - Partition layers into pipeline stages ---------------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// The exact grouping: with P the prefix sums of the layer work and c the cut
// costs, a stage first..last costs A(last) - Bk(first - 1), where
// A(j) = P(j) + c(j) and Bk(k) = P(k) - c(k). For a bottleneck bound B,
// "layers 0..j fit in exactly s stages" holds iff some k < j fits in s - 1
// stages with Bk(k) >= A(j) - B, i.e. iff the largest such Bk does: one
// prefix maximum per stage count, O(S * L) per bound. Feasibility is monotone
// in B, so bisecting over the bit patterns of non-negative doubles finds the
// smallest feasible B exactly. docs/retiming.md has the argument.
//
//===----------------------------------------------------------------------===//

#include "layerpipe/Transforms/Grouping.h"

#include "llvm/Support/FormatVariadic.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstring>
#include <limits>

using namespace llvm;

namespace layerpipe {

void GroupingProblem::finalize() {
  assert(cutCost.size() == layerWork.size());
  prefixWork.resize(layerWork.size());
  double sum = 0;
  for (size_t i = 0; i < layerWork.size(); ++i)
    prefixWork[i] = sum += layerWork[i];
}

/// A(j) and Bk(k) of the file comment; Bk(-1) = 0.
static double endKey(const GroupingProblem &p, unsigned j) {
  return p.prefixWork[j] + p.cutCost[j];
}
static double startKey(const GroupingProblem &p, int k) {
  return k < 0 ? 0.0 : p.prefixWork[k] - p.cutCost[k];
}

double GroupingProblem::stageCost(unsigned first, unsigned last) const {
  assert(first <= last && last < layerWork.size());
  return endKey(*this, last) - startKey(*this, int(first) - 1);
}

GroupingProblem GroupingProblem::build(const Model &model,
                                       const TrainingDFG &dfg,
                                       const MachineDesc &machine) {
  GroupingProblem p;
  size_t numLayers = model.layers.size();
  p.layerWork.assign(numLayers, 0);
  if (numLayers == 0)
    return p;
  for (const Task &task : dfg.tasks)
    p.layerWork[task.layer] += task.timeUs;
  // A tensor produced by u and last read by v crosses the cuts u..v-1.
  std::vector<double> delta(numLayers + 1, 0);
  // assign, not the sized constructor: GCC 12 -O3 reports a false
  // -Walloc-size-larger-than on the constructor here.
  std::vector<size_t> lastUse;
  lastUse.assign(numLayers, 0);
  for (size_t v = 0; v < numLayers; ++v)
    for (unsigned u : model.layers[v].inputs)
      lastUse[u] = std::max(lastUse[u], v);
  for (unsigned u = 0; u < numLayers; ++u) {
    if (lastUse[u] <= u)
      continue;
    double bytes = double(model.batchSize) *
                   double(model.layers[u].outputShape.numElements()) *
                   double(machine.bytesPerElement);
    // The activation forward and its gradient backward.
    double cost = 2 * machine.transferTimeUs(bytes);
    delta[u] += cost;
    delta[lastUse[u]] -= cost;
  }
  p.cutCost.assign(numLayers, 0);
  double running = 0;
  for (unsigned k = 0; k < numLayers; ++k)
    p.cutCost[k] = running += delta[k];
  p.cutCost.back() = 0;
  p.finalize();
  return p;
}

/// Partitions layers 0..L-1 into exactly \p numStages stages of cost <=
/// \p bound; fills \p stageOf if possible.
static bool fitsInStages(const GroupingProblem &p, unsigned numStages,
                         double bound, std::vector<unsigned> *stageOf) {
  assert(p.numLayers() > 0 && numStages > 0);
  const int numLayers = int(p.numLayers());
  const size_t width = p.numLayers();
  const double none = -std::numeric_limits<double>::infinity();
  // reach[s][j]: layers 0..j fit in s+1 stages; from[s][j]: end of stage s-1.
  std::vector<std::vector<char>> reach(numStages,
                                       std::vector<char>(width, 0));
  std::vector<std::vector<int>> from(numStages, std::vector<int>(width, 0));
  for (int j = 0; j < numLayers; ++j)
    reach[0][j] = endKey(p, j) - startKey(p, -1) <= bound;
  for (unsigned s = 1; s < numStages; ++s) {
    double best = none;
    int bestK = -1;
    for (int j = 1; j < numLayers; ++j) {
      int k = j - 1;
      if (reach[s - 1][k] && startKey(p, k) > best) {
        best = startKey(p, k);
        bestK = k;
      }
      if (bestK >= 0 && endKey(p, j) - best <= bound) {
        reach[s][j] = 1;
        from[s][j] = bestK;
      }
    }
  }
  if (!reach[numStages - 1][numLayers - 1])
    return false;
  if (stageOf) {
    stageOf->assign(width, 0);
    int j = numLayers - 1;
    for (int s = numStages - 1; s >= 0; --s) {
      int start = s == 0 ? 0 : from[s][j] + 1;
      for (int l = start; l <= j; ++l)
        (*stageOf)[l] = s;
      j = start - 1;
    }
    assert(j == -1 && "the stages cover every layer");
  }
  return true;
}

static double bottleneck(const GroupingProblem &p,
                         const std::vector<unsigned> &stageOf) {
  double worst = 0;
  unsigned first = 0;
  for (unsigned l = 0; l < stageOf.size(); ++l)
    if (l + 1 == stageOf.size() || stageOf[l + 1] != stageOf[l]) {
      worst = std::max(worst, p.stageCost(first, l));
      first = l + 1;
    }
  return worst;
}

static Grouping makeGrouping(const GroupingProblem &p,
                             std::vector<unsigned> stageOf) {
  Grouping g;
  g.numStages = stageOf.empty() ? 1 : stageOf.back() + 1;
  g.bottleneckUs = bottleneck(p, stageOf);
  g.stageOfLayer = std::move(stageOf);
  return g;
}

Expected<Grouping> groupOptimal(const GroupingProblem &p, unsigned numStages) {
  if (numStages == 0)
    return createStringError(inconvertibleErrorCode(),
                             "--stages-count must be at least 1, got 0");
  if (numStages > p.numLayers())
    return createStringError(inconvertibleErrorCode(),
                             "--stages-count %u is more than the %zu layers of "
                             "the model",
                             numStages, p.numLayers());
  assert(p.prefixWork.size() == p.numLayers() && "call finalize()");
  double maxCut = 0;
  for (double c : p.cutCost)
    maxCut = std::max(maxCut, c);
  double upper = p.prefixWork.back() + 2 * maxCut;
  auto bits = [](double d) {
    uint64_t b;
    std::memcpy(&b, &d, sizeof b);
    return b;
  };
  auto value = [](uint64_t b) {
    double d;
    std::memcpy(&d, &b, sizeof d);
    return d;
  };
  // Every stage costs at most upper in exact arithmetic, but a stage cost
  // is a difference of prefix sums and may round above it (times of 1e-3
  // beside transfers of microseconds left the search without a grouping):
  // widen the bound until it is feasible in floating point too.
  for (int widen = 0; !fitsInStages(p, numStages, upper, nullptr); ++widen) {
    if (widen == 64 || !std::isfinite(upper))
      return createStringError(
          inconvertibleErrorCode(),
          "cannot group %zu layers into %u stages: the stage costs are not "
          "finite (total work %g us, largest cut %g us)",
          p.numLayers(), numStages, p.prefixWork.back(), maxCut);
    upper = upper * 2 + std::numeric_limits<double>::min();
  }
  // Non-negative doubles order like their bit patterns.
  uint64_t lo = 0, hi = bits(upper);
  while (lo < hi) {
    uint64_t mid = lo + (hi - lo) / 2;
    if (fitsInStages(p, numStages, value(mid), nullptr))
      hi = mid;
    else
      lo = mid + 1;
  }
  std::vector<unsigned> stageOf;
  if (!fitsInStages(p, numStages, value(lo), &stageOf))
    return createStringError(inconvertibleErrorCode(),
                             "internal error: no grouping of %zu layers into "
                             "%u stages at the bound the search found",
                             p.numLayers(), numStages);
  return makeGrouping(p, std::move(stageOf));
}

static Expected<std::vector<unsigned>> groupByHints(const Model &model) {
  std::vector<unsigned> stageOf(model.layers.size(), 0);
  bool any = false;
  unsigned current = 0;
  for (unsigned l = 0; l < model.layers.size(); ++l) {
    const Layer &layer = model.layers[l];
    if (layer.stageHint) {
      unsigned hint = *layer.stageHint;
      if (!any && hint != 0)
        return createStringError(
            inconvertibleErrorCode(),
            "layer '%s' (at /layers/%u/stage) opens the first stage with "
            "stage %u; stages are numbered from 0",
            layer.name.c_str(), l, hint);
      if (hint < current)
        return createStringError(
            inconvertibleErrorCode(),
            "layer '%s' (at /layers/%u/stage) has stage %u after a layer of "
            "stage %u; stages must be non-decreasing in layer order",
            layer.name.c_str(), l, hint, current);
      if (hint > current + 1)
        return createStringError(
            inconvertibleErrorCode(),
            "layer '%s' (at /layers/%u/stage) jumps from stage %u to %u; "
            "stages must be contiguous (no empty stage)",
            layer.name.c_str(), l, current, hint);
      current = hint;
      any = true;
    }
    stageOf[l] = current;
  }
  if (!any)
    return createStringError(inconvertibleErrorCode(),
                             "--grouping=hints: no layer of model '%s' has a "
                             "\"stage\" field",
                             model.name.c_str());
  return stageOf;
}

static Expected<std::vector<unsigned>>
groupExplicit(const Model &model,
              const std::vector<std::pair<unsigned, unsigned>> &ranges) {
  size_t numLayers = model.layers.size();
  std::vector<unsigned> stageOf(numLayers, 0);
  unsigned next = 0;
  for (unsigned s = 0; s < ranges.size(); ++s) {
    auto [first, last] = ranges[s];
    if (first > last)
      return createStringError(inconvertibleErrorCode(),
                               "--stages: range %u-%u (stage %u) is empty",
                               first, last, s);
    if (first != next)
      return createStringError(
          inconvertibleErrorCode(),
          "--stages: range %u-%u (stage %u) should start at layer %u; the "
          "ranges must cover the layers in order without gaps or overlaps",
          first, last, s, next);
    if (last >= numLayers)
      return createStringError(inconvertibleErrorCode(),
                               "--stages: range %u-%u (stage %u) goes past "
                               "the last layer %zu",
                               first, last, s, numLayers - 1);
    for (unsigned l = first; l <= last; ++l)
      stageOf[l] = s;
    next = last + 1;
  }
  if (next != numLayers)
    return createStringError(inconvertibleErrorCode(),
                             "--stages: the ranges end at layer %d; the model "
                             "has layers 0-%zu",
                             int(next) - 1, numLayers - 1);
  return stageOf;
}

Expected<Grouping> groupLayers(const Model &model,
                               const GroupingProblem &problem,
                               const PlanOptions &options) {
  switch (options.grouping) {
  case GroupingMode::Optimal:
    return groupOptimal(problem, std::max(1u, options.stagesCount));
  case GroupingMode::PerLayer: {
    std::vector<unsigned> stageOf(model.layers.size(), 0);
    int current = -1;
    for (unsigned l = 0; l < model.layers.size(); ++l) {
      if (model.layers[l].hasWeights())
        ++current;
      stageOf[l] = std::max(current, 0);
    }
    return makeGrouping(problem, std::move(stageOf));
  }
  case GroupingMode::Hints: {
    auto stageOf = groupByHints(model);
    if (!stageOf)
      return stageOf.takeError();
    return makeGrouping(problem, std::move(*stageOf));
  }
  case GroupingMode::Explicit: {
    auto stageOf = groupExplicit(model, options.explicitStages);
    if (!stageOf)
      return stageOf.takeError();
    return makeGrouping(problem, std::move(*stageOf));
  }
  }
  llvm_unreachable("unknown grouping mode");
}

} // namespace layerpipe
