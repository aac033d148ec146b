//===- TransferBound.cpp - A lower bound on the period with transfers ----===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// A placement that uses k >= 2 processors splits the tasks into k non-empty
// parts, and every part's boundary carries at least the global minimum cut
// lambda of the task graph weighted by link time (bytes / bandwidth). The
// link channels carry one transfer at a time, at most a period per period,
// so each topology turns lambda into a bound on the period:
//   switch          T >= lambda / 2        (out + in channel of one part)
//   point-to-point  T >= lambda / (2(k-1)) (a part's 2(k-1) pair channels)
//   bus             T >= k lambda / 2      (every crossing on one channel)
// and one processor does all the work. The bound is
//   min(work, min over 2 <= k <= p of max(work / k, link(k))).
// docs/scheduling.md ("A lower bound that counts transfers") has the proof.
//
// lambda comes from Nagamochi and Ibaraki's algorithm: a maximum-adjacency
// order bounds every edge's local connectivity from below (q(e)); edges
// whose q reaches the best cut found so far, and the last two vertices of
// the order, are contracted, until one vertex is left.
//
//===----------------------------------------------------------------------===//

#include "layerpipe/Schedule.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <queue>
#include <tuple>
#include <utility>

namespace layerpipe {

double globalMinCut(unsigned numVertices,
                    const std::vector<WeightedEdge> &input) {
  const double inf = std::numeric_limits<double>::infinity();
  if (numVertices < 2)
    return inf;
  // Current graph: vertices 0..n-1, parallel edges merged.
  unsigned n = numVertices;
  std::vector<WeightedEdge> edges;
  auto merge = [](std::vector<WeightedEdge> &list) {
    for (WeightedEdge &e : list)
      if (e.a > e.b)
        std::swap(e.a, e.b);
    std::sort(list.begin(), list.end(),
              [](const WeightedEdge &x, const WeightedEdge &y) {
                return std::tie(x.a, x.b) < std::tie(y.a, y.b);
              });
    std::vector<WeightedEdge> out;
    for (const WeightedEdge &e : list) {
      if (e.a == e.b || !(e.weight > 0))
        continue;
      if (!out.empty() && out.back().a == e.a && out.back().b == e.b)
        out.back().weight += e.weight;
      else
        out.push_back(e);
    }
    list = std::move(out);
  };
  edges = input;
  merge(edges);
  double best = inf;
  std::vector<unsigned> offset, adjacent, edgeOf;
  std::vector<double> r, q, degree;
  std::vector<char> visited;
  std::vector<unsigned> parent;
  while (n > 1) {
    // Adjacency lists (CSR).
    offset.assign(n + 1, 0);
    for (const WeightedEdge &e : edges) {
      ++offset[e.a + 1];
      ++offset[e.b + 1];
    }
    for (unsigned v = 0; v < n; ++v)
      offset[v + 1] += offset[v];
    adjacent.resize(2 * edges.size());
    edgeOf.resize(2 * edges.size());
    {
      std::vector<unsigned> fill(offset.begin(), offset.end() - 1);
      for (unsigned i = 0; i < edges.size(); ++i) {
        adjacent[fill[edges[i].a]] = edges[i].b;
        edgeOf[fill[edges[i].a]++] = i;
        adjacent[fill[edges[i].b]] = edges[i].a;
        edgeOf[fill[edges[i].b]++] = i;
      }
    }
    // Every vertex's weighted degree is a cut.
    degree.assign(n, 0);
    for (const WeightedEdge &e : edges) {
      degree[e.a] += e.weight;
      degree[e.b] += e.weight;
    }
    best = std::min(best, *std::min_element(degree.begin(), degree.end()));
    // A maximum-adjacency order from vertex 0.
    r.assign(n, 0);
    q.assign(edges.size(), 0);
    visited.assign(n, 0);
    std::priority_queue<std::pair<double, unsigned>> heap;
    heap.push({0.0, 0});
    unsigned seen = 0, last = 0, beforeLast = 0;
    while (seen < n) {
      if (heap.empty())
        return 0; // disconnected: a cut of weight 0
      auto [key, v] = heap.top();
      heap.pop();
      if (visited[v] || key < r[v])
        continue;
      visited[v] = 1;
      ++seen;
      beforeLast = last;
      last = v;
      for (unsigned i = offset[v]; i < offset[v + 1]; ++i) {
        unsigned u = adjacent[i];
        if (visited[u])
          continue;
        r[u] += edges[edgeOf[i]].weight;
        q[edgeOf[i]] = r[u];
        heap.push({r[u], u});
      }
    }
    // The cut of the phase (the last vertex alone) is a minimum cut between
    // the last two vertices: both may be merged.
    best = std::min(best, r[last]);
    parent.resize(n);
    std::iota(parent.begin(), parent.end(), 0u);
    auto find = [&](unsigned v) {
      while (parent[v] != v)
        v = parent[v] = parent[parent[v]];
      return v;
    };
    auto unite = [&](unsigned a, unsigned b) { parent[find(a)] = find(b); };
    unite(last, beforeLast);
    // q(e) is at most the local connectivity of e's ends: at or above the
    // best cut found, no cut below it separates them. (A small margin
    // against rounding only leaves an edge uncontracted.)
    for (unsigned i = 0; i < edges.size(); ++i)
      if (q[i] >= best * (1 + 1e-9))
        unite(edges[i].a, edges[i].b);
    std::vector<unsigned> label(n, ~0u);
    unsigned next = 0;
    for (unsigned v = 0; v < n; ++v) {
      unsigned root = find(v);
      if (label[root] == ~0u)
        label[root] = next++;
    }
    for (WeightedEdge &e : edges) {
      e.a = label[find(e.a)];
      e.b = label[find(e.b)];
    }
    n = next;
    merge(edges);
  }
  return best;
}

/// The least period T that leaves every group of tasks joined by tensors
/// longer than T on the links (their link time, bytes / bandwidth, more
/// than T) at most T of work. Valid: such a tensor cannot cross
/// processors (one transfer of it would hold a channel for more than a
/// period, and the verifier allows a channel at most a period per period),
/// so the group runs on one processor, T >= its work. The edges are added
/// longest first (union-find); between two link times c' < c the heavy
/// edges are those of at least c, and the least T there is max(c', the
/// largest group's work) if that lies below c.
static double unsplittableBound(const TrainingDFG &dfg,
                                const MachineDesc &machine) {
  size_t n = dfg.tasks.size();
  if (n == 0)
    return 0;
  std::vector<std::pair<double, unsigned>> byLink;
  for (unsigned e = 0; e < dfg.edges.size(); ++e) {
    const Edge &edge = dfg.edges[e];
    if (edge.src == edge.dst || edge.bytes <= 0)
      continue;
    double link = double(edge.bytes) / machine.linkBandwidth * 1e6;
    if (link > 0 && std::isfinite(link))
      byLink.push_back({link, e});
  }
  std::sort(byLink.begin(), byLink.end(),
            [](const auto &a, const auto &b) { return a.first > b.first; });
  std::vector<unsigned> parent(n);
  std::iota(parent.begin(), parent.end(), 0u);
  std::vector<double> groupWork(n);
  double heaviest = 0;
  for (unsigned v = 0; v < n; ++v) {
    groupWork[v] = dfg.tasks[v].timeUs;
    heaviest = std::max(heaviest, groupWork[v]);
  }
  auto find = [&](unsigned v) {
    while (parent[v] != v)
      v = parent[v] = parent[parent[v]];
    return v;
  };
  const double inf = std::numeric_limits<double>::infinity();
  double best = inf, above = inf; // the interval [c, above)
  for (size_t i = 0; i < byLink.size();) {
    double c = byLink[i].first;
    // T in [c, above): the heavy edges are those already joined.
    double t = std::max(c, heaviest);
    if (t < above)
      best = std::min(best, t);
    for (; i < byLink.size() && byLink[i].first == c; ++i) {
      const Edge &edge = dfg.edges[byLink[i].second];
      unsigned a = find(edge.src), b = find(edge.dst);
      if (a == b)
        continue;
      parent[a] = b;
      groupWork[b] += groupWork[a];
      heaviest = std::max(heaviest, groupWork[b]);
    }
    above = c;
  }
  // T below the shortest tensor: every edge joins.
  if (heaviest < above)
    best = std::min(best, heaviest);
  // Rounding in the sums: stay a hair below.
  return best * (1 - 1e-9);
}

TransferBound transferLowerBound(const TrainingDFG &dfg, unsigned procs,
                                 const MachineDesc &machine) {
  TransferBound result;
  double work = 0;
  for (const Task &task : dfg.tasks)
    work += task.timeUs;
  result.work = work;
  // A tensor sent to a processor serves every consumer there (Links.h):
  // the m edges of one (producer, bytes) pay its link time once between
  // two processors, so each edge carries 1/m of it. A cut crossing some of
  // them then weighs at most what the links carry.
  std::map<std::pair<unsigned, int64_t>, unsigned> fanOut;
  for (const Edge &edge : dfg.edges)
    if (edge.src != edge.dst && edge.bytes > 0)
      ++fanOut[{edge.src, edge.bytes}];
  std::vector<WeightedEdge> edges;
  for (const Edge &edge : dfg.edges) {
    if (edge.src == edge.dst || edge.bytes <= 0)
      continue;
    double link = double(edge.bytes) / machine.linkBandwidth * 1e6;
    edges.push_back(
        {edge.src, edge.dst, link / fanOut[{edge.src, edge.bytes}]});
  }
  double lambda = globalMinCut(unsigned(dfg.tasks.size()), edges);
  // Rounding in the sums: stay a hair below.
  result.minCutUs = std::isfinite(lambda) ? lambda * (1 - 1e-9) : lambda;
  double bound = work; // one processor
  unsigned most = std::min<size_t>(procs, dfg.tasks.size());
  for (unsigned k = 2; k <= most; ++k) {
    double link = 0;
    switch (machine.linkTopology) {
    case LinkTopology::Switch:
      link = result.minCutUs / 2;
      break;
    case LinkTopology::PointToPoint:
      link = result.minCutUs / (2.0 * (k - 1));
      break;
    case LinkTopology::Bus:
      link = result.minCutUs * k / 2;
      break;
    }
    bound = std::min(bound, std::max(work / k, link));
  }
  result.unsplittableUs = unsplittableBound(dfg, machine);
  result.bound = std::max(bound, result.unsplittableUs);
  return result;
}

} // namespace layerpipe
