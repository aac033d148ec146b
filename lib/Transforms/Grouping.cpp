//===- Grouping.cpp - Partition layers into pipeline stages ---------------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// The exact grouping: with P the prefix sums of the layer work and c the cut
// costs (link time of the tensors crossing a cut), a stage k+1..j costs
// max(P(j) - P(k), c(k) + c(j)) (P(-1) = c(-1) = 0). For a bottleneck bound
// B, "layers 0..j fit in exactly s stages" holds iff some k < j that fits
// in s - 1 stages has P(j) - P(k) <= B and c(k) <= B - c(j). The first
// condition holds for a window of k that only moves right as j grows, so
// the least c(k) over the reached k in it (a sliding-window minimum) decides
// each j: O(S * L) per bound. Feasibility is monotone in B, so bisecting
// over the bit patterns of non-negative doubles finds the smallest feasible
// B exactly. docs/retiming.md has the argument.
//
// GroupingCost::Sum (the earlier model) charges k+1..j its work plus both
// cuts, A(j) - Bk(k) with A(j) = P(j) + c(j) and Bk(k) = P(k) - c(k): the
// same search, with the largest Bk(k) in the window deciding each j. It
// picks the same stages as the earlier search (the earliest k of the
// largest Bk among the reached ones).
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

/// The work and the link time of stage k+1..j (k = -1: the first stage),
/// as the search compares them with a bound; stageCost is their maximum.
static double stageWork(const GroupingProblem &p, int k, unsigned j) {
  return k < 0 ? p.prefixWork[j] : p.prefixWork[j] - p.prefixWork[k];
}
static double stageLinks(const GroupingProblem &p, int k, unsigned j) {
  return k < 0 ? p.cutCost[j] : p.cutCost[k] + p.cutCost[j];
}
/// A(j) and Bk(k) of the file comment (GroupingCost::Sum); Bk(-1) = 0.
static double endKey(const GroupingProblem &p, unsigned j) {
  return p.prefixWork[j] + p.cutCost[j];
}
static double startKey(const GroupingProblem &p, int k) {
  return k < 0 ? 0.0 : p.prefixWork[k] - p.cutCost[k];
}
/// The cost of stage k+1..j, as the search compares it with a bound.
static double stageCostAfter(const GroupingProblem &p, int k, unsigned j) {
  if (p.cost == GroupingCost::Sum)
    return endKey(p, j) - startKey(p, k);
  return std::max(stageWork(p, k, j), stageLinks(p, k, j));
}

double GroupingProblem::stageCost(unsigned first, unsigned last) const {
  assert(first <= last && last < layerWork.size());
  return stageCostAfter(*this, int(first) - 1, last);
}

GroupingProblem GroupingProblem::build(const Model &model,
                                       const TrainingDFG &dfg,
                                       const MachineDesc &machine,
                                       GroupingCost cost) {
  GroupingProblem p;
  p.cost = cost;
  size_t numLayers = model.layers.size();
  p.layerWork.assign(numLayers, 0);
  if (numLayers == 0)
    return p;
  for (const Task &task : dfg.tasks)
    p.layerWork[task.layer] += task.timeUs;
  // A tensor produced by u and last read by v crosses the cuts u..v-1.
  // Bytes are summed as integers, so a cut that nothing crosses costs
  // exactly 0.
  std::vector<int64_t> delta(numLayers + 1, 0);
  // assign, not the sized constructor: GCC 12 -O3 reports a false
  // -Walloc-size-larger-than on the constructor here.
  std::vector<size_t> lastUse;
  lastUse.assign(numLayers, 0);
  for (size_t v = 0; v < numLayers; ++v)
    for (unsigned u : model.layers[v].inputs)
      lastUse[u] = std::max(lastUse[u], v);
  if (cost == GroupingCost::Sum) {
    // The activation forward and its gradient backward, each a transfer of
    // its own (latency included), charged to the stages at the cut.
    std::vector<double> charge(numLayers + 1, 0);
    for (unsigned u = 0; u < numLayers; ++u) {
      if (lastUse[u] <= u)
        continue;
      double bytes = double(model.batchSize) *
                     double(model.layers[u].outputShape.numElements()) *
                     double(machine.bytesPerElement);
      double time = 2 * machine.transferTimeUs(bytes);
      charge[u] += time;
      charge[lastUse[u]] -= time;
    }
    p.cutCost.assign(numLayers, 0);
    double running = 0;
    for (unsigned k = 0; k < numLayers; ++k)
      p.cutCost[k] = running += charge[k];
    p.cutCost.back() = 0;
    p.finalize();
    return p;
  }
  for (unsigned u = 0; u < numLayers; ++u) {
    if (lastUse[u] <= u)
      continue;
    int64_t bytes = model.batchSize * model.layers[u].outputShape.numElements() *
                    machine.bytesPerElement;
    delta[u] += bytes;
    delta[lastUse[u]] -= bytes;
  }
  p.cutCost.assign(numLayers, 0);
  int64_t running = 0;
  for (unsigned k = 0; k < numLayers; ++k) {
    running += delta[k];
    // Link time only: the latency delays a transfer but holds no channel
    // (the delays and the retiming cover it), as in the scheduler.
    p.cutCost[k] = double(running) / machine.linkBandwidth * 1e6;
  }
  p.cutCost.back() = 0;
  p.finalize();
  return p;
}

/// Partitions layers 0..L-1 into exactly \p numStages stages of cost <=
/// \p bound; fills \p stageOf if possible.
///
/// A stage's work is at most the bound, so layers 0..j can end stage s only
/// if their work fits (s + 1) * bound, and the layers after j fit
/// (numStages - 1 - s) * bound: level s needs only the band of j between
/// those limits (widened by a rounding margin). Near the optimal bound the
/// bands are narrow, and a level with no reachable layer ends the search
/// early, so a test costs about O(S + L * (S * bound / work - 1)) rather
/// than O(S * L).
///
/// Within its band, level s looks only at the layers that can follow one
/// the previous level reached: after the first of them, and with a prefix
/// work within the bound of the largest one reached. Those bands are far
/// narrower (100,000 layers in 1,024 stages: the prefix band is about 2,800
/// layers wide at every level, the layers reached from 2,400 at the first
/// levels down to a few hundred at the last), and no reachable layer is
/// left out, so the answer and the stages are the same.
///
/// Stage k+1..j fits when its work P(j) - P(k) and its link time c(k) +
/// c(j) are within the bound, compared exactly as stageCost computes them.
/// The k whose work fits form a window k0(j)..j-1 (P(j) - P(k) does not
/// grow with k, in floating point too), and k0 does not fall as j grows: a
/// deque of the reached k in the window, by increasing k and increasing
/// c(k), gives the least c(k) at its front. With GroupingCost::Sum the
/// deque keeps decreasing Bk(k) instead (the earliest of equal ones): a k
/// outside the window costs more than its work, so the largest Bk(k) in it
/// decides as the largest reached one did in the earlier search.
///
/// On success \p tight (if given) is the largest stage cost, as compared
/// with the bound, of the grouping found: a feasible bound itself, <= \p
/// bound.
static bool fitsInStages(const GroupingProblem &p, unsigned numStages,
                         double bound, std::vector<unsigned> *stageOf,
                         double *tight = nullptr) {
  assert(p.numLayers() > 0 && numStages > 0);
  const int numLayers = int(p.numLayers());
  const double none = -std::numeric_limits<double>::infinity();
  const double total = p.prefixWork.back();
  const double margin = 1e-9 * (total + std::fabs(bound)) +
                        std::numeric_limits<double>::min();
  const double *work = p.prefixWork.data(), *cut = p.cutCost.data();
  // Level s reaches the layers first..first + reach.size() - 1 (reach[i]:
  // layers 0..first + i fit in s + 1 stages; from[i]: where stage s - 1
  // ended, kept only to rebuild the stages; worst[i]: the largest stage
  // cost on that way, kept only for \p tight).
  struct Level {
    int first = 0;
    std::vector<char> reach;
    std::vector<int> from;
    std::vector<double> worst;
  };
  std::vector<Level> levels;
  Level previous, current;
  // The band of level s: the smallest j whose suffix work fits the stages
  // left, the largest j whose prefix work fits s + 1 stages.
  auto band = [&](unsigned s, int &lo, int &hi) {
    double rest = double(numStages - 1 - s) * bound;
    double reachable = double(s + 1) * bound;
    // prefixWork is non-decreasing: binary searches.
    auto begin = p.prefixWork.begin(), end = p.prefixWork.end();
    // suffix(j) = total - P(j) <= rest  <=>  P(j) >= total - rest.
    lo = int(std::lower_bound(begin, end, total - rest - margin) - begin);
    hi = int(std::upper_bound(begin, end, reachable + margin) - begin) - 1;
    lo = std::max(lo, int(s));
    hi = std::min(hi, numLayers - 1 - int(numStages - 1 - s));
  };
  const bool sum = p.cost == GroupingCost::Sum;
  auto cost = [&](int k, int j) { return stageCostAfter(p, k, j); };
  int lo = 0, hi = 0;
  band(0, lo, hi);
  if (lo > hi)
    return false;
  previous.first = lo;
  previous.reach.assign(hi - lo + 1, 0);
  if (tight)
    previous.worst.assign(hi - lo + 1, 0);
  // The first layer the previous level reached and its largest prefix work.
  int reachedFirst = -1;
  double reachedBest = none;
  for (int j = lo; j <= hi; ++j)
    if ((previous.reach[j - lo] = cost(-1, j) <= bound)) {
      if (tight)
        previous.worst[j - lo] = cost(-1, j);
      if (reachedFirst < 0)
        reachedFirst = j;
      reachedBest = std::max(reachedBest, work[j]);
    }
  if (reachedFirst < 0)
    return false;
  if (stageOf)
    levels.push_back(previous);
  // The sliding window's deque: window[head..] are reached k.
  std::vector<int> window;
  for (unsigned s = 1; s < numStages; ++s) {
    band(s, lo, hi);
    // P(j) - P(k) <= bound needs a reached k < j, and P(j) <= bound +
    // reachedBest (up to rounding, which the margin covers many times
    // over).
    lo = std::max(lo, reachedFirst + 1);
    double farthest = bound + reachedBest;
    double slack = 1e-9 * (total + std::fabs(bound) + std::fabs(reachedBest)) +
                   std::numeric_limits<double>::min();
    hi = std::min(hi, int(std::upper_bound(p.prefixWork.begin(),
                                           p.prefixWork.end(),
                                           farthest + slack) -
                          p.prefixWork.begin()) -
                          1);
    if (lo > hi)
      return false;
    current.first = lo;
    current.reach.assign(hi - lo + 1, 0);
    if (stageOf)
      current.from.assign(hi - lo + 1, 0);
    if (tight)
      current.worst.assign(hi - lo + 1, 0);
    bool any = false;
    reachedBest = none;
    window.clear();
    size_t head = 0;
    int k = previous.first;
    const int kEnd = previous.first + int(previous.reach.size());
    const char *reached = previous.reach.data() - previous.first;
    for (int j = lo; j <= hi; ++j) {
      for (; k < j && k < kEnd; ++k) {
        if (!reached[k])
          continue;
        if (sum)
          while (window.size() > head &&
                 startKey(p, window.back()) < startKey(p, k))
            window.pop_back();
        else
          while (window.size() > head && cut[window.back()] >= cut[k])
            window.pop_back();
        window.push_back(k);
      }
      while (window.size() > head && work[j] - work[window[head]] > bound)
        ++head;
      if (window.size() == head)
        continue;
      int from = window[head];
      if (sum ? !(endKey(p, j) - startKey(p, from) <= bound)
              : !(cut[from] + cut[j] <= bound))
        continue;
      current.reach[j - lo] = 1;
      if (stageOf)
        current.from[j - lo] = from;
      if (tight)
        current.worst[j - lo] =
            std::max(previous.worst[from - previous.first], cost(from, j));
      if (!any)
        reachedFirst = j;
      any = true;
      reachedBest = std::max(reachedBest, work[j]);
    }
    if (!any)
      return false;
    std::swap(previous, current);
    if (stageOf)
      levels.push_back(previous);
  }
  int lastFirst = previous.first;
  if (numLayers - 1 < lastFirst ||
      numLayers - 1 >= lastFirst + int(previous.reach.size()) ||
      !previous.reach[numLayers - 1 - lastFirst])
    return false;
  if (tight)
    *tight = previous.worst[numLayers - 1 - lastFirst];
  if (stageOf) {
    stageOf->assign(p.numLayers(), 0);
    int j = numLayers - 1;
    for (int s = numStages - 1; s >= 0; --s) {
      const Level &level = levels[s];
      int start = s == 0 ? 0 : level.from[j - level.first] + 1;
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
  double upper = p.cost == GroupingCost::Sum
                     ? p.prefixWork.back() + 2 * maxCut
                     : std::max(p.prefixWork.back(), 2 * maxCut);
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
  bool feasible = false;
  // A grouping that splits the work evenly is feasible at its bottleneck:
  // a much tighter start for the search than all the work (the test's
  // bands are narrow near the optimum, and testing all the work would
  // cost O(S * L)). Its cost is computed as the test
  // computes it, and checked.
  {
    const size_t L = p.numLayers();
    const double total = p.prefixWork.back();
    std::vector<unsigned> even(L, 0);
    size_t next = 0;
    for (unsigned s = 0; s < numStages; ++s) {
      // Stage s ends at the first layer whose prefix reaches (s+1)/S of
      // the work, leaving one layer for each later stage.
      double target = total * double(s + 1) / numStages;
      size_t last = next;
      while (last + 1 < L && p.prefixWork[last] < target)
        ++last;
      last = std::min(last, L - (numStages - s));
      if (s + 1 == numStages)
        last = L - 1;
      for (size_t l = next; l <= last; ++l)
        even[l] = s;
      next = last + 1;
    }
    double cost = bottleneck(p, even);
    if (std::isfinite(cost) && cost < upper &&
        fitsInStages(p, numStages, cost, nullptr)) {
      upper = cost;
      feasible = true;
    }
  }
  // Every stage costs at most upper in exact arithmetic, but a stage cost
  // is a difference of prefix sums and may round above it (times of 1e-3
  // beside transfers of microseconds left the search without a grouping):
  // widen the bound until it is feasible in floating point too.
  for (int widen = 0;
       !feasible && !fitsInStages(p, numStages, upper, nullptr); ++widen) {
    if (widen == 64 || !std::isfinite(upper))
      return createStringError(
          inconvertibleErrorCode(),
          "cannot group %zu layers into %u stages: the stage costs are not "
          "finite (total work %g us, largest cut %g us)",
          p.numLayers(), numStages, p.prefixWork.back(), maxCut);
    upper = upper * 2 + std::numeric_limits<double>::min();
  }
  // Non-negative doubles order like their bit patterns; no stage costs
  // less than work / stages.
  uint64_t lo = 0, hi = bits(upper);
  {
    double least = p.prefixWork.back() / numStages * (1 - 1e-9);
    if (least > 0 && least < upper && !fitsInStages(p, numStages, least,
                                                    nullptr))
      lo = bits(least) + 1; // infeasible: the answer lies above
  }
  // The even split's bottleneck is often the least feasible bound, or
  // within rounding of it (layers of equal work: 100,000 layers in 1,024
  // stages took about 50 failing tests to climb up to it from the work
  // bound). So first test 1, 4096 and 2^24 representable doubles below it
  // (2^24 is about 2e-9 relative): at the first that fails, the bisection
  // only searches the range above it. Where the answer lies farther below,
  // that costs three tests more than the bisection alone.
  //
  // A bound that fits also gives the largest stage cost of the grouping it
  // found, a feasible bound itself and often far below: the search goes on
  // from there, and after a bisection step that fits it first tests the
  // next double below, which fails when that grouping is optimal (100,000
  // layers into 4,096 stages: some 30 tests of the whole band became a
  // handful). The smallest feasible bound is the same, and so the stages.
  auto fits = [&](uint64_t probe) {
    double tight;
    if (!fitsInStages(p, numStages, value(probe), nullptr, &tight))
      return false;
    // tight <= value(probe); one below zero (cut costs of -1e-18) means
    // that zero fits too.
    hi = std::min(probe, tight > 0 ? bits(tight) : uint64_t(0));
    return true;
  };
  if (feasible) {
    for (uint64_t step = 1; lo < hi && step <= (uint64_t(1) << 24);
         step *= 4096) {
      uint64_t probe = hi - std::min(step, hi - lo);
      if (!fits(probe)) {
        lo = probe + 1;
        break;
      }
    }
  }
  for (bool justBelow = false; lo < hi;) {
    uint64_t probe = justBelow ? hi - 1 : lo + (hi - lo) / 2;
    bool found = fits(probe);
    if (!found)
      lo = probe + 1;
    justBelow = found && !justBelow;
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
