//===- SmallSearch.cpp - Randomised search for small periodic graphs ------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// The list scheduler makes one greedy choice per task and period; on small
// graphs with transfers that greedy choice is often far from the best (an
// 8-task graph on a bus: 16 us where 12 us is optimal). This search spends a
// fixed number of randomised tries of the same attempt on a bisection of
// the period between the lower bound and the list scheduler's result
// (SmallSearch.h).
//
//===----------------------------------------------------------------------===//

#include "SmallSearch.h"

#include "Links.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <tuple>

namespace layerpipe {

double unitRandom(std::mt19937_64 &rng) {
  return double(rng() >> 11) * 0x1.0p-53;
}

std::vector<unsigned> noisyOrder(const TrainingDFG &dfg,
                                 const std::vector<double> &key, double spread,
                                 std::mt19937_64 &rng) {
  size_t n = dfg.tasks.size();
  std::vector<double> noisy(n);
  for (size_t v = 0; v < n; ++v)
    noisy[v] = key[v] + spread * unitRandom(rng);
  std::vector<unsigned> waiting(n, 0);
  std::vector<std::vector<unsigned>> succ(n);
  for (const Edge &edge : dfg.edges)
    if (edge.delay == 0 && edge.src != edge.dst) {
      ++waiting[edge.dst];
      succ[edge.src].push_back(edge.dst);
    }
  std::vector<unsigned> ready, order;
  order.reserve(n);
  for (unsigned v = 0; v < n; ++v)
    if (waiting[v] == 0)
      ready.push_back(v);
  while (!ready.empty()) {
    auto it = std::min_element(ready.begin(), ready.end(),
                               [&](unsigned a, unsigned b) {
                                 return noisy[a] != noisy[b] ? noisy[a] < noisy[b]
                                                             : a < b;
                               });
    unsigned v = *it;
    *it = ready.back();
    ready.pop_back();
    order.push_back(v);
    for (unsigned w : succ[v])
      if (--waiting[w] == 0)
        ready.push_back(w);
  }
  return order;
}

namespace {
/// s(dst) >= s(src) + c - w * T.
struct Arc {
  unsigned src, dst;
  double c;
  int64_t w;
};
} // namespace

/// Longest paths from a virtual source (every node at 0 or later) with arc
/// weights c - w * T; false if a positive cycle makes them unbounded.
static bool longestPaths(unsigned nodes, const std::vector<Arc> &arcs,
                         double T, std::vector<double> &dist) {
  dist.assign(nodes, 0);
  double eps = 1e-12 * T;
  for (unsigned round = 0; round <= nodes; ++round) {
    bool changed = false;
    for (const Arc &a : arcs) {
      double d = dist[a.src] + a.c - double(a.w) * T;
      if (d > dist[a.dst] + eps) {
        dist[a.dst] = d;
        changed = true;
      }
    }
    if (!changed)
      return true;
  }
  return false;
}

namespace {
/// A periodic schedule's structure, explicit: nodes (the tasks, then one
/// per transfer held on the links), the dependence arcs, and each
/// resource's (processor's or link channel's) cyclic order with the
/// iteration offset of each holder there.
struct Structure {
  struct Holder {
    unsigned node;
    int64_t q;
  };
  unsigned nodes = 0;
  std::vector<Arc> fixed;
  std::vector<double> duration; // per node
  std::vector<std::vector<Holder>> orders;
  std::vector<unsigned> nodeOfEdge; // ~0u: no transfer node
  std::vector<double> nodeStart;    // the starts it was read from

  /// The arcs: consecutive holders a, b give s(b) - s(a) >= t(a) - (q(b) -
  /// q(a)) * T, and the last to the first wraps one period more.
  void arcs(std::vector<Arc> &out) const {
    out = fixed;
    for (const std::vector<Holder> &order : orders)
      for (size_t i = 0; i < order.size(); ++i) {
        const Holder &a = order[i], &b = order[(i + 1) % order.size()];
        int64_t w = a.q - b.q + (i + 1 == order.size() ? 1 : 0);
        out.push_back({a.node, b.node, duration[a.node], w});
      }
  }
};
} // namespace

/// The structure of a schedule at period T (compactPeriod); false where
/// there is none to keep (a transfer without a slot, extreme times).
static bool readStructure(const TrainingDFG &dfg, LinkTopology topology,
                          unsigned procs, const std::vector<double> &transfer,
                          const std::vector<double> &occupy, double T,
                          const std::vector<double> &start,
                          const std::vector<unsigned> &proc,
                          const std::vector<double> &linkStart,
                          Structure &S) {
  size_t n = dfg.tasks.size();
  double eps = 1e-9 * T;
  // Iteration offsets must fit an int64_t (extreme times: leave as is).
  if (!(T > 0))
    return false;
  for (double s : start)
    if (!(std::abs(s / T) < 1e15))
      return false;
  for (double x : linkStart)
    if (!(std::abs(x / T) < 1e15))
      return false;
  S = Structure();
  std::vector<Arc> &arcs = S.fixed;
  // Nodes: the tasks, then one per transfer placed on the links (a tensor
  // sent to a processor serves every consumer there).
  std::vector<double> &time = S.duration;
  time.resize(n);
  for (size_t v = 0; v < n; ++v)
    time[v] = dfg.tasks[v].timeUs;
  std::map<std::tuple<unsigned, unsigned, int64_t, double>, unsigned> node;
  std::vector<unsigned> &nodeOfEdge = S.nodeOfEdge;
  nodeOfEdge.assign(dfg.edges.size(), ~0u);
  std::vector<double> &nodeStart = S.nodeStart;
  nodeStart.assign(start.begin(), start.end());
  struct Held {
    unsigned node;
    double duration;
  };
  std::map<int64_t, std::vector<Held>> channel;
  for (unsigned e = 0; e < dfg.edges.size(); ++e) {
    const Edge &edge = dfg.edges[e];
    unsigned from = proc[edge.src], to = proc[edge.dst];
    double ready = time[edge.src];
    if (from == to) {
      arcs.push_back({edge.src, edge.dst, ready, edge.delay});
      continue;
    }
    if (!(occupy[e] > eps)) {
      arcs.push_back({edge.src, edge.dst, ready + transfer[e], edge.delay});
      continue;
    }
    if (e >= linkStart.size() || linkStart[e] < 0)
      return false; // a transfer without a slot: nothing to keep
    auto [it, added] = node.try_emplace(
        {edge.src, to, edge.bytes, linkStart[e]}, unsigned(nodeStart.size()));
    unsigned x = it->second;
    if (added) {
      nodeStart.push_back(linkStart[e]);
      time.push_back(occupy[e]);
      arcs.push_back({edge.src, x, ready, 0});
      LinkChannels ch = linkChannels(topology, procs, from, to);
      channel[ch.first].push_back({x, occupy[e]});
      if (ch.second >= 0)
        channel[ch.second].push_back({x, occupy[e]});
    }
    nodeOfEdge[e] = x;
    arcs.push_back({x, edge.dst, transfer[e], edge.delay});
  }
  // Every resource in the cyclic order of its offsets modulo T, with the
  // iteration offsets of its users.
  auto cyclic = [&](std::vector<Held> held) {
    std::vector<std::pair<double, Held>> by;
    for (const Held &h : held)
      if (h.duration > eps)
        by.push_back({nodeStart[h.node], h});
    if (by.empty())
      return;
    auto q = [&](double s) { return int64_t(std::floor((s + eps) / T)); };
    auto offset = [&](double s) { return s - double(q(s)) * T; };
    std::stable_sort(by.begin(), by.end(), [&](const auto &a, const auto &b) {
      return offset(a.first) < offset(b.first);
    });
    std::vector<Structure::Holder> order;
    for (const auto &[s, h] : by)
      order.push_back({h.node, q(s)});
    S.orders.push_back(std::move(order));
  };
  std::vector<std::vector<Held>> onProc(procs);
  for (unsigned v = 0; v < n; ++v)
    onProc[proc[v]].push_back({v, time[v]});
  for (auto &held : onProc)
    cyclic(held);
  for (auto &[id, held] : channel)
    cyclic(held);
  S.nodes = unsigned(nodeStart.size());
  return true;
}

/// The shortest period in [lo, hi] at which \p arcs leave no positive
/// cycle (bisection), with the longest paths there in \p best; -1 if none
/// (not even at hi).
static double shortestPeriod(unsigned nodes, const std::vector<Arc> &arcs,
                             double lo, double hi, std::vector<double> &best,
                             std::vector<double> &dist) {
  if (!longestPaths(nodes, arcs, hi, dist))
    return -1;
  best = dist;
  if (longestPaths(nodes, arcs, lo, dist)) {
    best = dist;
    return lo;
  }
  for (unsigned k = 0; k < 60 && hi - lo > 1e-7 * hi; ++k) {
    double mid = 0.5 * (lo + hi);
    if (longestPaths(nodes, arcs, mid, dist)) {
      hi = mid;
      best = dist;
    } else {
      lo = mid;
    }
  }
  return hi;
}

/// Writes the longest paths \p best of structure \p S as starts.
static void writeStarts(const Structure &S, const std::vector<double> &best,
                        std::vector<double> &start,
                        std::vector<double> &linkStart) {
  for (size_t v = 0; v < start.size(); ++v)
    start[v] = best[v];
  for (unsigned e = 0; e < S.nodeOfEdge.size(); ++e)
    if (S.nodeOfEdge[e] != ~0u)
      linkStart[e] = best[S.nodeOfEdge[e]];
}

bool compactPeriod(const TrainingDFG &dfg, LinkTopology topology,
                   unsigned procs, const std::vector<double> &transfer,
                   const std::vector<double> &occupy, double lowerBound,
                   double &period, std::vector<double> &start,
                   const std::vector<unsigned> &proc,
                   std::vector<double> &linkStart, double below) {
  double T = period;
  Structure S;
  if (!readStructure(dfg, topology, procs, transfer, occupy, T, start, proc,
                     linkStart, S))
    return false;
  std::vector<Arc> arcs;
  S.arcs(arcs);
  std::vector<double> dist, best;
  // The structure holds at T itself (up to rounding); bisect below it.
  if (below > 0 && !longestPaths(S.nodes, arcs, below, dist))
    return false;
  double hi = shortestPeriod(S.nodes, arcs, std::max(lowerBound, 0.0), T,
                             best, dist);
  if (!(hi > 0 && hi < T * (1 - 1e-9)))
    return false;
  period = hi;
  writeStarts(S, best, start, linkStart);
  return true;
}

/// What a kick of refineStructure costs, in structures tried (it bisects
/// for the kicked structure's period where a move needs one pass).
static constexpr unsigned KickCost = 10;

/// A local search over a schedule's structure with its placement kept: a
/// holder of a resource moves to another place in that resource's cyclic
/// order, at its iteration offset there or one either way, and the move is
/// kept when the structure's shortest period falls; from the local optimum,
/// random kicks (two such moves, kept if the descent from them ends
/// shorter). The list attempt fixes a layout's orders greedily and
/// compaction keeps them; this searches the orders and offsets of the
/// layout itself. At most \p evaluations structures are tried; on success
/// lowers \p period and rewrites \p start and \p linkStart.
static bool refineStructure(const TrainingDFG &dfg, LinkTopology topology,
                            unsigned procs, const std::vector<double> &transfer,
                            const std::vector<double> &occupy,
                            double lowerBound, double &period,
                            std::vector<double> &start,
                            const std::vector<unsigned> &proc,
                            std::vector<double> &linkStart,
                            unsigned evaluations, std::mt19937_64 &rng) {
  Structure S;
  if (!readStructure(dfg, topology, procs, transfer, occupy, period, start,
                     proc, linkStart, S))
    return false;
  double lo = std::max(lowerBound, 0.0);
  std::vector<Arc> arcs;
  std::vector<double> dist, best;
  S.arcs(arcs);
  double T = shortestPeriod(S.nodes, arcs, lo, period, best, dist);
  if (T < 0)
    return false;
  using Order = std::vector<Structure::Holder>;
  // Holder i of order r moved to place j (of the others) with its offset
  // changed by dq.
  auto moved = [](const Order &order, size_t i, size_t j, int64_t dq) {
    Order out = order;
    Structure::Holder h = out[i];
    h.q += dq;
    out.erase(out.begin() + long(i));
    out.insert(out.begin() + long(j), h);
    return out;
  };
  // First-improvement descent from S at its period T: a move is kept as
  // soon as the structure holds below T (one Bellman-Ford pass), then
  // bisected for its own period.
  auto descend = [&](Structure &S, double &T) {
    bool better = true;
    while (better && evaluations > 0 && T > lo * (1 + 1e-4)) {
      better = false;
      for (size_t r = 0; r < S.orders.size() && !better; ++r) {
        size_t k = S.orders[r].size();
        if (k < 2)
          continue;
        Order keep = S.orders[r];
        for (size_t i = 0; i < k && !better; ++i)
          for (size_t j = 0; j < k && !better; ++j)
            for (int64_t dq : {0, -1, 1}) {
              if (j == i && dq == 0)
                continue;
              if (evaluations == 0)
                break;
              --evaluations;
              S.orders[r] = moved(keep, i, j, dq);
              S.arcs(arcs);
              double below = T * (1 - 1e-4);
              if (!longestPaths(S.nodes, arcs, below, dist))
                continue;
              T = shortestPeriod(S.nodes, arcs, lo, below, best, dist);
              better = true;
              break;
            }
        if (!better)
          S.orders[r] = keep;
      }
    }
  };
  descend(S, T);
  Structure bestS = S;
  double bestT = T;
  // Kicks: two random moves from the best, then a descent.
  std::vector<size_t> movable;
  for (size_t r = 0; r < bestS.orders.size(); ++r)
    if (bestS.orders[r].size() >= 2)
      movable.push_back(r);
  while (evaluations > 0 && !movable.empty() && bestT > lo * (1 + 1e-4)) {
    S = bestS;
    for (unsigned m = 0; m < 2; ++m) {
      size_t r = movable[rng() % movable.size()];
      size_t k = S.orders[r].size();
      // One draw per statement: function arguments have no evaluation
      // order, and gcc and clang drew these three the other way round
      // (gcc's order, last argument first, is kept).
      int64_t dq = int64_t(rng() % 3) - 1;
      size_t j = rng() % k;
      size_t i = rng() % k;
      S.orders[r] = moved(S.orders[r], i, j, dq);
    }
    // A full bisection: charged as KickCost structures.
    evaluations -= std::min(evaluations, KickCost);
    S.arcs(arcs);
    T = shortestPeriod(S.nodes, arcs, lo, 2 * bestT, best, dist);
    if (T < 0)
      continue;
    descend(S, T);
    if (T < bestT * (1 - 1e-4)) {
      bestS = S;
      bestT = T;
    }
  }
  if (!(bestT < period * (1 - 1e-9)))
    return false;
  bestS.arcs(arcs);
  bestT = shortestPeriod(bestS.nodes, arcs, lo, bestT, best, dist);
  if (bestT < 0)
    return false;
  period = bestT;
  writeStarts(bestS, best, start, linkStart);
  return true;
}

/// Tries per candidate period and in all: a graph of n tasks on p
/// processors gets about TryWork / (n * p) tries in all (each try places n
/// tasks on up to p processors), at most MaxTries.
static constexpr double TryWork = 200000;
/// At most this many contiguous stage splits are enumerated; beyond it
/// each stage count gets its balanced split only.
static constexpr size_t MaxStageSplits = 256;
/// Structures tried by the structure search (refineStructure): at most
/// RefinePerLayout for one layout, RefineWork for all the stage splits.
static constexpr unsigned RefinePerLayout = 3000;
static constexpr unsigned RefineWork = 12000;
static constexpr double RefineFullTasks = 30;
/// Single-task moves of the best layout are tried while there are at most
/// this many (tasks times other processors).
static constexpr size_t MaxSingleMoves = 64;
/// Structures tried for each single-task move.
static constexpr unsigned RefinePerMove = 300;

/// Pinned placements (one processor per task) that cut the layers, in model
/// order, into k = 2..procs contiguous stages: every split while there are
/// at most MaxStageSplits, else for each k the split that minimises the
/// largest stage's work.
static std::vector<std::vector<int>> stageSplits(const TrainingDFG &dfg,
                                                 unsigned procs) {
  std::vector<unsigned> layers;
  for (const Task &task : dfg.tasks)
    layers.push_back(task.layer);
  std::sort(layers.begin(), layers.end());
  layers.erase(std::unique(layers.begin(), layers.end()), layers.end());
  size_t L = layers.size();
  std::vector<double> work(L, 0);
  std::vector<size_t> indexOf(dfg.tasks.size());
  for (size_t v = 0; v < dfg.tasks.size(); ++v) {
    indexOf[v] = size_t(std::lower_bound(layers.begin(), layers.end(),
                                         dfg.tasks[v].layer) -
                        layers.begin());
    work[indexOf[v]] += dfg.tasks[v].timeUs;
  }
  std::vector<std::vector<int>> splits;
  // A split as the stage of each layer, turned into the tasks' processors.
  auto add = [&](const std::vector<int> &stageOf) {
    std::vector<int> pinned(dfg.tasks.size());
    for (size_t v = 0; v < dfg.tasks.size(); ++v)
      pinned[v] = stageOf[indexOf[v]];
    splits.push_back(std::move(pinned));
  };
  unsigned most = unsigned(std::min<size_t>(procs, L));
  // Every split: compositions of L into k parts, C(L - 1, k - 1) of them.
  double count = 0;
  for (unsigned k = 2; k <= most; ++k) {
    double c = 1;
    for (unsigned i = 1; i < k; ++i)
      c = c * double(L - i) / double(i);
    count += c;
  }
  if (count <= double(MaxStageSplits)) {
    std::vector<int> stageOf(L, 0);
    // Layers [0, l) are placed, the last in stage s.
    std::function<void(size_t, unsigned, unsigned)> place =
        [&](size_t l, unsigned s, unsigned k) {
          if (l == L) {
            if (s + 1 == k)
              add(stageOf);
            return;
          }
          // Layer l stays in stage s, or opens stage s + 1.
          if (L - l > k - 1 - s) {
            stageOf[l] = int(s);
            place(l + 1, s, k);
          }
          if (s + 1 < k) {
            stageOf[l] = int(s + 1);
            place(l + 1, s + 1, k);
          }
        };
    for (unsigned k = 2; k <= most; ++k) {
      stageOf[0] = 0;
      place(1, 0, k);
    }
    return splits;
  }
  // Balanced: best[k][l] = the least largest stage over splits of the
  // first l layers into k stages.
  std::vector<double> prefix(L + 1, 0);
  for (size_t l = 0; l < L; ++l)
    prefix[l + 1] = prefix[l] + work[l];
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<std::vector<double>> best(most + 1,
                                        std::vector<double>(L + 1, inf));
  std::vector<std::vector<size_t>> cut(most + 1, std::vector<size_t>(L + 1));
  best[0][0] = 0;
  for (unsigned k = 1; k <= most; ++k)
    for (size_t l = k; l <= L; ++l)
      for (size_t j = k - 1; j < l; ++j) {
        double m = std::max(best[k - 1][j], prefix[l] - prefix[j]);
        if (m < best[k][l]) {
          best[k][l] = m;
          cut[k][l] = j;
        }
      }
  for (unsigned k = 2; k <= most; ++k) {
    std::vector<int> stageOf(L, 0);
    size_t l = L;
    for (unsigned s = k; s > 0; --s) {
      size_t j = cut[s][l];
      for (size_t i = j; i < l; ++i)
        stageOf[i] = int(s - 1);
      l = j;
    }
    add(stageOf);
  }
  return splits;
}

static constexpr unsigned MaxTries = 12000;
static constexpr unsigned Probes = 8;
static constexpr size_t MaxPlacements = 400;

bool searchSmallPeriod(const TrainingDFG &dfg, unsigned procs,
                       LinkTopology topology,
                       const std::vector<double> &transfer,
                       const std::vector<double> &occupy,
                       double lowerBound, double &period,
                       std::vector<double> &start, std::vector<unsigned> &proc,
                       std::vector<double> &linkStart, SmallTry tryAt,
                       double effort) {
  size_t n = dfg.tasks.size();
  if (n == 0 || n > SmallSearchMaxTasks)
    return false;
  bool improved = compactPeriod(dfg, topology, procs, transfer, occupy,
                                lowerBound, period, start, proc, linkStart,
                                0);
  if (procs < 2 || !(period > lowerBound * (1 + 1e-4)))
    return improved;
  // Makes a schedule found the best so far.
  auto adopt = [&](double T, const std::vector<double> &s,
                   const std::vector<unsigned> &p,
                   const std::vector<double> &l) {
    improved = true;
    period = T;
    start = s;
    proc = p;
    linkStart = l;
  };
  // The seed depends only on the problem's shape: same input, same output.
  std::mt19937_64 rng(0x9e3779b97f4a7c15ull ^ (uint64_t(n) << 32) ^
                      (uint64_t(dfg.edges.size()) << 8) ^ procs);
  unsigned tries = unsigned(
      effort *
      std::min<double>(MaxTries, TryWork / (double(n) * double(std::max(procs, 4u)))));
  unsigned reserve = tries * 3 / 10;
  tries -= reserve;

  // Neighbours, for the moves that co-locate a task with one of them.
  std::vector<std::vector<unsigned>> near(n);
  for (const Edge &edge : dfg.edges)
    if (edge.src != edge.dst && edge.bytes > 0) {
      near[edge.src].push_back(edge.dst);
      near[edge.dst].push_back(edge.src);
    }
  std::vector<double> trial, trialLink;
  std::vector<unsigned> trialProc;
  std::vector<int> pinned;
  double lo = lowerBound, hi = period;
  // The best placement so far with \p moves tasks moved: to a random
  // processor, swapped with another task, or next to a neighbour.
  auto perturb = [&](unsigned moves) {
    pinned.assign(proc.begin(), proc.end());
    for (unsigned m = 0; m < moves; ++m) {
      unsigned v = rng() % n;
      unsigned how = rng() % 3;
      if (how == 0 && !near[v].empty())
        pinned[v] = int(proc[near[v][rng() % near[v].size()]]);
      else if (how == 1)
        std::swap(pinned[v], pinned[rng() % n]);
      else
        pinned[v] = int(rng() % procs);
    }
  };
  for (unsigned probe = 0; probe < Probes && hi > lo * (1 + 5e-3); ++probe) {
    // The lower bound itself first (often the optimum), then bisection.
    double T = probe == 0 ? lo : 0.5 * (lo + hi);
    if (tries == 0)
      break;
    bool found = false;
    // The tries a probe leaves go to the later ones.
    unsigned perProbe = std::max(1u, tries / (Probes - probe));
    for (unsigned k = 0; k < perProbe && tries > 0 && !found; ++k) {
      --tries;
      unsigned mode = rng() % 10;
      pinned.clear();
      if (mode >= 4) {
        // The best placement so far with 1-3 tasks moved (half the time
        // next to a neighbour), every task pinned, or (modes 8-9) a random
        // half of them.
        perturb(1 + rng() % 3);
        if (mode >= 8)
          for (unsigned v = 0; v < n; ++v)
            if (rng() % 2)
              pinned[v] = -1;
      }
      if (tryAt(T, rng, pinned, trial, trialProc, trialLink)) {
        found = true;
        compactPeriod(dfg, topology, procs, transfer, occupy, lowerBound, T,
                      trial, trialProc, trialLink, 0);
        hi = T;
        adopt(T, trial, trialProc, trialLink);
      }
    }
    if (!found)
      lo = T;
  }
  // The tries left (a share kept for this) run at the best period, where
  // they usually succeed; a schedule whose structure compacts to a shorter
  // period replaces the best.
  tries += reserve;
  // Tiny graphs: every placement up to renaming the processors (restricted
  // growth strings), when there are at most MaxPlacements, takes every
  // other try of this phase in turn.
  std::vector<std::vector<int>> placements;
  {
    std::vector<int> code(n, 0);
    std::vector<int> top(n, 0); // top[v] = max(code[0..v])
    bool tooMany = false;
    std::function<void(size_t)> grow = [&](size_t v) {
      if (tooMany)
        return;
      if (v == n) {
        if (placements.size() >= MaxPlacements)
          tooMany = true;
        else
          placements.push_back(code);
        return;
      }
      int most = v == 0 ? 0 : std::min<int>(top[v - 1] + 1, int(procs) - 1);
      for (int c = 0; c <= most && !tooMany; ++c) {
        code[v] = c;
        top[v] = v == 0 ? c : std::max(top[v - 1], c);
        grow(v + 1);
      }
    };
    grow(0);
    if (tooMany)
      placements.clear();
  }
  for (unsigned k = 0; tries > 0; --tries, ++k) {
    // Half the tries a little below the best period (tighter packing).
    double T = rng() % 2 ? period : period * (1 - 0.05 * unitRandom(rng));
    T = std::max(T, lowerBound);
    unsigned mode = rng() % 10;
    bool tiny = !placements.empty() && k % 2 == 0;
    if (mode == 0 && !tiny) {
      // A move of the structure itself: one or two tasks or transfers
      // shifted by up to a period either way (another place in their
      // resource's cyclic order, another iteration offset), the rest kept;
      // kept if the new structure compacts below the best period.
      trial = start;
      trialLink = linkStart;
      for (unsigned m = 1 + rng() % 2; m > 0; --m) {
        size_t item = rng() % (n + dfg.edges.size());
        double delta = (2 * unitRandom(rng) - 1) * period;
        if (item < n) {
          trial[item] += delta;
          continue;
        }
        const Edge &edge = dfg.edges[item - n];
        double x = linkStart.empty() ? -1 : linkStart[item - n];
        if (x < 0)
          continue;
        // Every dependence that shares this transfer moves with it.
        for (unsigned e = 0; e < dfg.edges.size(); ++e)
          if (linkStart[e] == x && dfg.edges[e].src == edge.src &&
              dfg.edges[e].bytes == edge.bytes &&
              proc[dfg.edges[e].dst] == proc[edge.dst])
            trialLink[e] = x + delta;
      }
      double shorter = period;
      if (compactPeriod(dfg, topology, procs, transfer, occupy, lowerBound,
                        shorter, trial, proc, trialLink,
                        period * (1 - 1e-4))) {
        improved = true;
        period = shorter;
        start = trial;
        linkStart = trialLink;
      }
      continue;
    }
    pinned.clear();
    if (tiny) {
      pinned = placements[(k / 2) % placements.size()];
    } else if (mode >= 4) {
      perturb(1 + rng() % 2);
      if (mode >= 8)
        for (unsigned w = 0; w < n; ++w)
          if (rng() % 2)
            pinned[w] = -1;
    }
    if (!tryAt(T, rng, pinned, trial, trialProc, trialLink))
      continue;
    // Found below the best period: better already; else only if its
    // structure compacts below it.
    bool better = T < period * (1 - 1e-4);
    bool compacted =
        compactPeriod(dfg, topology, procs, transfer, occupy, lowerBound, T,
                      trial, trialProc, trialLink,
                      better ? 0 : period * (1 - 1e-4));
    if (better || compacted)
      adopt(T, trial, trialProc, trialLink);
  }
  // Pipeline stages: the layers in model order cut into k = 2..procs
  // contiguous runs, one per processor, each layer's tasks with it (its
  // weights and saved activations stay local). Random moves from a list
  // schedule that packs most tasks on one processor rarely reach such a
  // layout (cnn1 on 4 processors: 2.82 us against the two-stage optimum
  // of 1.90). Last, with a generator of its own, so the search before it
  // runs as it would without it and this can only shorten its result.
  std::mt19937_64 splitRng(rng());
  // A structure costs a Bellman-Ford pass, about n^2: graphs of more than
  // RefineFullTasks tasks get budgets scaled down by that much.
  double refineScale =
      effort * std::min(1.0, std::pow(RefineFullTasks / double(n), 2));
  unsigned refineLeft = unsigned(refineScale * double(RefineWork));
  for (const std::vector<int> &split : stageSplits(dfg, procs)) {
    // The list scheduler fits a pinned layout less tightly than its best
    // structure allows, so each layout gets its own bisection from the
    // first period it fits at (up to 3x the best), a few noisy tries per
    // probe, each success compacted.
    double hi = -1;
    std::vector<double> bestTrial, bestTrialLink;
    std::vector<unsigned> bestTrialProc;
    auto fits = [&](double T, unsigned attempts) {
      for (unsigned k = 0; k < attempts; ++k) {
        if (!tryAt(T, splitRng, split, trial, trialProc, trialLink))
          continue;
        compactPeriod(dfg, topology, procs, transfer, occupy, lowerBound, T,
                      trial, trialProc, trialLink, 0);
        if (hi < 0 || T < hi) {
          hi = T;
          bestTrial = trial;
          bestTrialProc = trialProc;
          bestTrialLink = trialLink;
        }
        return true;
      }
      return false;
    };
    for (double stretch : {1.0, 1.5, 2.0, 3.0})
      if (fits(period * stretch, 2))
        break;
    if (hi < 0)
      continue;
    double lo = lowerBound;
    for (unsigned probe = 0; probe < 6 && hi > lo * (1 + 5e-3); ++probe) {
      double T = 0.5 * (lo + hi);
      if (!fits(T, 3))
        lo = T;
    }
    // The structure search for the splits near the best, within a budget
    // shared by all of them.
    if (hi < period * 1.25 && refineLeft > 0) {
      unsigned budget =
          std::min(refineLeft, unsigned(refineScale * RefinePerLayout));
      refineLeft -= budget;
      refineStructure(dfg, topology, procs, transfer, occupy, lowerBound, hi,
                      bestTrial, bestTrialProc, bestTrialLink, budget,
                      splitRng);
    }
    if (hi < period * (1 - 1e-4))
      adopt(hi, bestTrial, bestTrialProc, bestTrialLink);
  }
  // One task of the best layout moved to another processor, pinned, fitted
  // by the attempt and its structure searched (small graphs only).
  if (n * (procs - 1) <= MaxSingleMoves) {
    std::vector<unsigned> base = proc;
    for (unsigned v = 0; v < n; ++v)
      for (unsigned p = 0; p < procs; ++p) {
        if (p == base[v])
          continue;
        pinned.assign(base.begin(), base.end());
        pinned[v] = int(p);
        for (double stretch : {1.0, 1.5}) {
          double T = period * stretch;
          if (!tryAt(T, splitRng, pinned, trial, trialProc, trialLink))
            continue;
          compactPeriod(dfg, topology, procs, transfer, occupy, lowerBound, T,
                        trial, trialProc, trialLink, 0);
          refineStructure(dfg, topology, procs, transfer, occupy, lowerBound,
                          T, trial, trialProc, trialLink,
                          unsigned(refineScale * RefinePerMove), splitRng);
          if (T < period * (1 - 1e-4))
            adopt(T, trial, trialProc, trialLink);
          break;
        }
      }
  }
  // Last, the best schedule's own structure searched (the phases above
  // refine only what each split found).
  if (refineStructure(dfg, topology, procs, transfer, occupy, lowerBound,
                      period, start, proc, linkStart,
                      unsigned(refineScale * RefinePerLayout), splitRng))
    improved = true;
  return improved;
}

} // namespace layerpipe
