//===- Retiming.cpp - Leiserson-Saxe retiming: check, solve, verify -------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// The general retiming machinery: legality, clock period, the verifier, FEAS,
// the W/D matrices with their difference constraints, and minimum-period
// retiming by binary search over the candidate periods with Bellman-Ford
// (Boost.Graph) as the feasibility test. The structured cutset retiming is in
// StageRetiming.cpp, the minimum-memory flow in MinMemoryRetiming.cpp.
//
//===----------------------------------------------------------------------===//

#include "layerpipe/Transforms/Retiming.h"

#include "layerpipe/GraphWalks.h"
#include "RetimingConstraints.h"

#include "llvm/Support/FormatVariadic.h"

#include <boost/graph/adjacency_list.hpp>
#include <boost/graph/bellman_ford_shortest_paths.hpp>

#include <algorithm>
#include <cassert>
#include <cmath>
#include <queue>
#include <tuple>

using namespace llvm;

namespace layerpipe {

using namespace detail;

static std::string edgeName(const TrainingDFG &dfg, const Edge &edge) {
  return formatv("'{0}' -> '{1}'", dfg.tasks[edge.src].name,
                 dfg.tasks[edge.dst].name)
      .str();
}

Error checkRetimingLegal(const TrainingDFG &dfg, ArrayRef<int64_t> r) {
  if (r.size() != dfg.tasks.size())
    return createStringError(inconvertibleErrorCode(),
                             "retiming has %zu lags for %zu tasks", r.size(),
                             dfg.tasks.size());
  for (const Edge &edge : dfg.edges) {
    int64_t w = retimedDelay(edge, r);
    if (w < 0)
      return createStringError(
          inconvertibleErrorCode(),
          "illegal retiming: edge %s would get %lld delays (w = %lld, r(src) "
          "= %lld, r(dst) = %lld)",
          edgeName(dfg, edge).c_str(), (long long)w, (long long)edge.delay,
          (long long)r[edge.src], (long long)r[edge.dst]);
  }
  return Error::success();
}

void applyRetiming(TrainingDFG &dfg, ArrayRef<int64_t> r) {
  assert(r.size() == dfg.tasks.size() && "one lag per task");
  for (Edge &edge : dfg.edges) {
    edge.delay = retimedDelay(edge, r);
    assert(edge.delay >= 0 && "applyRetiming requires a legal retiming");
  }
}

Expected<double> computeClockPeriod(const TrainingDFG &dfg) {
  return computeClockPeriod(dfg, {});
}

Expected<double> computeClockPeriod(const TrainingDFG &dfg,
                                    ArrayRef<int64_t> r) {
  std::vector<int64_t> delays = edgeDelays(dfg, r);
  for (unsigned e = 0; e < dfg.edges.size(); ++e)
    if (delays[e] < 0)
      return createStringError(inconvertibleErrorCode(),
                               "edge %s has %lld delays",
                               edgeName(dfg, dfg.edges[e]).c_str(),
                               (long long)delays[e]);
  auto arrival = zeroDelayArrival(dfg, delays);
  if (!arrival)
    return createStringError(inconvertibleErrorCode(),
                             "the graph has a cycle without delays "
                             "(deadlock): no clock period");
  double period = 0;
  for (double a : *arrival)
    period = std::max(period, a);
  return period;
}

Error verifyRetiming(const TrainingDFG &before, const TrainingDFG &after,
                     double claimedPeriodUs, Retiming *potential) {
  auto fail = [](const Twine &msg) {
    return createStringError(inconvertibleErrorCode(),
                             "retiming verifier: " + msg.str());
  };
  if (before.tasks.size() != after.tasks.size() ||
      before.edges.size() != after.edges.size())
    return fail(formatv("graph shape changed: {0} tasks / {1} edges before, "
                        "{2} / {3} after",
                        before.tasks.size(), before.edges.size(),
                        after.tasks.size(), after.edges.size()));
  for (unsigned e = 0; e < before.edges.size(); ++e) {
    const Edge &a = before.edges[e], &b = after.edges[e];
    if (a.src != b.src || a.dst != b.dst)
      return fail(formatv("edge {0} changed endpoints", e));
    if (b.delay < 0)
      return fail(formatv("edge {0} has {1} delays", edgeName(after, b),
                          b.delay));
  }
  // Find a potential r with after = before + r(dst) - r(src) by a walk over
  // the undirected graph; any mismatch is a cycle whose delay count changed.
  size_t n = before.tasks.size();
  DFGAdjacency adj = buildAdjacency(before);
  Retiming r(n, 0);
  std::vector<bool> seen(n, false);
  for (unsigned root = 0; root < n; ++root) {
    if (seen[root])
      continue;
    seen[root] = true;
    std::vector<unsigned> stack = {root};
    while (!stack.empty()) {
      unsigned v = stack.back();
      stack.pop_back();
      auto visit = [&](unsigned e, unsigned other, bool forward) {
        int64_t diff = after.edges[e].delay - before.edges[e].delay;
        // forward edge v -> other: diff = r(other) - r(v).
        int64_t want = forward ? r[v] + diff : r[v] - diff;
        if (!seen[other]) {
          seen[other] = true;
          r[other] = want;
          stack.push_back(other);
        }
      };
      for (unsigned e : adj.out[v])
        visit(e, before.edges[e].dst, true);
      for (unsigned e : adj.in[v])
        visit(e, before.edges[e].src, false);
    }
  }
  for (unsigned e = 0; e < before.edges.size(); ++e) {
    const Edge &a = before.edges[e];
    if (after.edges[e].delay != retimedDelay(a, r))
      return fail(formatv("edge {0} has {1} delays, {2} before: some cycle "
                          "through it changed its delay count",
                          edgeName(after, after.edges[e]),
                          after.edges[e].delay, a.delay));
  }
  Expected<double> period = computeClockPeriod(after);
  if (!period)
    return period.takeError();
  if (std::fabs(*period - claimedPeriodUs) > 1e-9 * (1 + *period))
    return fail(formatv("clock period is {0} us, the retiming claims {1} us",
                        *period, claimedPeriodUs));
  if (potential)
    *potential = std::move(r);
  return Error::success();
}

std::optional<Retiming> retimeFeasible(const TrainingDFG &dfg, double periodUs,
                                       size_t maxRounds) {
  size_t n = dfg.tasks.size();
  for (const Task &task : dfg.tasks)
    if (!timeLE(task.timeUs, periodUs))
      return std::nullopt;
  DFGAdjacency adj = buildAdjacency(dfg);
  Retiming r(n, 0);
  for (size_t iter = 0; iter < std::min(n, maxRounds); ++iter) {
    std::vector<int64_t> delays = edgeDelays(dfg, r);
    if (std::any_of(delays.begin(), delays.end(),
                    [](int64_t w) { return w < 0; }))
      return std::nullopt;
    auto arrival = zeroDelayArrival(dfg, delays);
    if (!arrival)
      return std::nullopt;
    bool late = false;
    for (unsigned v = 0; v < n; ++v)
      if (!timeLE((*arrival)[v], periodUs)) {
        ++r[v];
        late = true;
      }
    if (!late)
      return r;
  }
  return std::nullopt;
}

//===----------------------------------------------------------------------===//
// W/D matrices and difference constraints
//===----------------------------------------------------------------------===//

WDMatrices::WDMatrices(const TrainingDFG &dfg) : n(dfg.tasks.size()) {
  wMat.assign(n * n, kNoPath);
  dMat.assign(n * n, 0);
  DFGAdjacency adj = buildAdjacency(dfg);
  // Within one W level, tight zero-delay edges follow the topological order
  // of the zero-delay subgraph (a DAG: there is no deadlock).
  std::vector<unsigned> topoIndex(n, 0);
  {
    std::vector<int64_t> delays = edgeDelays(dfg);
    std::vector<unsigned> pending(n, 0), ready;
    for (unsigned e = 0; e < dfg.edges.size(); ++e)
      if (delays[e] == 0)
        ++pending[dfg.edges[e].dst];
    for (unsigned v = 0; v < n; ++v)
      if (pending[v] == 0)
        ready.push_back(v);
    unsigned next = 0;
    while (!ready.empty()) {
      unsigned v = ready.back();
      ready.pop_back();
      topoIndex[v] = next++;
      for (unsigned e : adj.out[v])
        if (delays[e] == 0 && --pending[dfg.edges[e].dst] == 0)
          ready.push_back(dfg.edges[e].dst);
    }
    assert(next == n && "WDMatrices requires a graph without deadlock");
  }
  using Key = std::pair<int64_t, unsigned>; // (W, topo index)
  std::vector<int64_t> dist(n);
  std::vector<unsigned> order;
  for (unsigned s = 0; s < n; ++s) {
    std::fill(dist.begin(), dist.end(), std::numeric_limits<int64_t>::max());
    order.clear();
    std::priority_queue<std::pair<Key, unsigned>,
                        std::vector<std::pair<Key, unsigned>>, std::greater<>>
        queue;
    dist[s] = 0;
    queue.push({{0, topoIndex[s]}, s});
    while (!queue.empty()) {
      auto [key, v] = queue.top();
      queue.pop();
      if (key.first != dist[v])
        continue;
      order.push_back(v);
      for (unsigned e : adj.out[v]) {
        unsigned x = dfg.edges[e].dst;
        int64_t nd = dist[v] + dfg.edges[e].delay;
        if (nd < dist[x]) {
          dist[x] = nd;
          queue.push({{nd, topoIndex[x]}, x});
        }
      }
    }
    // `order` is sorted by (W, topo index); relax tight edges in that order.
    std::sort(order.begin(), order.end(), [&](unsigned a, unsigned b) {
      return std::make_pair(dist[a], topoIndex[a]) <
             std::make_pair(dist[b], topoIndex[b]);
    });
    int32_t *wRow = &wMat[s * n];
    double *dRow = &dMat[s * n];
    for (unsigned v : order) {
      wRow[v] = (int32_t)dist[v];
      dRow[v] = -1;
    }
    dRow[s] = dfg.tasks[s].timeUs;
    for (unsigned v : order) {
      assert(dRow[v] >= 0 && "tight predecessors come first");
      for (unsigned e : adj.out[v]) {
        unsigned x = dfg.edges[e].dst;
        if (x == s || dist[v] + dfg.edges[e].delay != dist[x])
          continue;
        dRow[x] = std::max(dRow[x], dRow[v] + dfg.tasks[x].timeUs);
      }
    }
  }
}

std::vector<double> WDMatrices::candidatePeriods() const {
  std::vector<double> values;
  for (size_t i = 0; i < n * n; ++i)
    if (wMat[i] != kNoPath)
      values.push_back(dMat[i]);
  std::sort(values.begin(), values.end());
  values.erase(std::unique(values.begin(), values.end()), values.end());
  return values;
}

std::vector<DifferenceConstraint>
detail::periodConstraints(const TrainingDFG &dfg, const WDMatrices &wd,
                          double period) {
  size_t n = wd.n;
  std::vector<DifferenceConstraint> cs;
  for (const Edge &edge : dfg.edges)
    cs.push_back({edge.src, edge.dst, edge.delay});
  DFGAdjacency adj = buildAdjacency(dfg);
  for (unsigned u = 0; u < n; ++u) {
    for (unsigned v = 0; v < n; ++v) {
      int32_t w = wd.w(u, v);
      if (w == WDMatrices::kNoPath || timeLE(wd.d(u, v), period))
        continue;
      // Implied by (u, x) and the legality of a tight edge x -> v?
      bool implied = false;
      for (unsigned e : adj.in[v]) {
        unsigned x = dfg.edges[e].src;
        if (x == v || wd.w(u, x) == WDMatrices::kNoPath)
          continue;
        if (int64_t(wd.w(u, x)) + dfg.edges[e].delay == w &&
            !timeLE(wd.d(u, x), period)) {
          implied = true;
          break;
        }
      }
      if (!implied)
        cs.push_back({u, v, int64_t(w) - 1});
    }
  }
  return cs;
}

std::optional<std::vector<int64_t>>
detail::solveDifferenceConstraints(size_t numVars,
                                   const std::vector<DifferenceConstraint> &cs) {
  // x_u - x_v <= k is the shortest-path inequality d(u) <= d(v) + k: an arc
  // v -> u of weight k.
  using Graph =
      boost::adjacency_list<boost::vecS, boost::vecS, boost::directedS,
                            boost::no_property,
                            boost::property<boost::edge_weight_t, int64_t>>;
  Graph g(numVars);
  for (const DifferenceConstraint &c : cs)
    boost::add_edge(c.v, c.u, c.bound, g);
  std::vector<int64_t> dist(numVars, 0);
  bool ok = boost::bellman_ford_shortest_paths(
      g, numVars,
      boost::weight_map(boost::get(boost::edge_weight, g))
          .distance_map(dist.data()));
  if (!ok)
    return std::nullopt;
  return dist;
}

static Error tooBig(const TrainingDFG &dfg) {
  return createStringError(
      inconvertibleErrorCode(),
      "general retiming builds %zu x %zu W/D matrices; it is limited to %zu "
      "tasks (use the structured stage retiming)",
      dfg.tasks.size(), dfg.tasks.size(), kMaxGeneralRetimingTasks);
}

Expected<RetimingResult> retimeMinPeriod(const TrainingDFG &dfg) {
  if (dfg.tasks.size() > kMaxGeneralRetimingTasks)
    return tooBig(dfg);
  Expected<double> current = computeClockPeriod(dfg);
  if (!current)
    return current.takeError();
  WDMatrices wd(dfg);
  std::vector<double> candidates = wd.candidatePeriods();
  double maxTask = 0;
  for (const Task &task : dfg.tasks)
    maxTask = std::max(maxTask, task.timeUs);
  // The smallest feasible candidate; the current period always is feasible.
  size_t lo = std::lower_bound(candidates.begin(), candidates.end(),
                               maxTask - 1e-9 * (1 + maxTask)) -
              candidates.begin();
  size_t hi = std::lower_bound(candidates.begin(), candidates.end(),
                               *current - 1e-9 * (1 + *current)) -
              candidates.begin();
  assert(hi < candidates.size() && "the current period is a candidate");
  RetimingResult best;
  best.r.assign(dfg.tasks.size(), 0);
  best.periodUs = *current;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    auto r = solveDifferenceConstraints(
        dfg.tasks.size(), periodConstraints(dfg, wd, candidates[mid]));
    if (r) {
      best.r = std::move(*r);
      hi = mid;
    } else {
      lo = mid + 1;
    }
  }
  // Normalize so the smallest lag is 0, then measure the achieved period.
  int64_t minLag = *std::min_element(best.r.begin(), best.r.end());
  for (int64_t &lag : best.r)
    lag -= minLag;
  TrainingDFG retimed = dfg;
  applyRetiming(retimed, best.r);
  Expected<double> period = computeClockPeriod(retimed);
  if (!period)
    return period.takeError();
  best.periodUs = *period;
  return best;
}

int64_t registerBytes(const TrainingDFG &dfg, ArrayRef<RegisterGroup> groups) {
  int64_t total = 0;
  for (const RegisterGroup &group : groups) {
    int64_t regs = 0;
    for (unsigned e : group.edges)
      regs = std::max(regs, dfg.edges[e].delay);
    total += regs * group.bytes;
  }
  return total;
}

} // namespace layerpipe
