//===- GraphWalks.cpp - Graph walks shared by the planning passes ---------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// Adjacency lists and the zero-delay arrival times (Kahn's order on the
// subgraph of zero-delay edges), used by every retiming routine.
//
//===----------------------------------------------------------------------===//

#include "GraphWalks.h"

#include <algorithm>

namespace layerpipe {
namespace detail {

Adjacency buildAdjacency(const TrainingDFG &dfg) {
  Adjacency adj;
  adj.out.resize(dfg.tasks.size());
  adj.in.resize(dfg.tasks.size());
  for (unsigned e = 0; e < dfg.edges.size(); ++e) {
    adj.out[dfg.edges[e].src].push_back(e);
    adj.in[dfg.edges[e].dst].push_back(e);
  }
  return adj;
}

std::vector<int64_t> edgeDelays(const TrainingDFG &dfg,
                                llvm::ArrayRef<int64_t> r) {
  std::vector<int64_t> delays(dfg.edges.size());
  for (unsigned e = 0; e < dfg.edges.size(); ++e) {
    const Edge &edge = dfg.edges[e];
    delays[e] = edge.delay + (r.empty() ? 0 : r[edge.dst] - r[edge.src]);
  }
  return delays;
}

std::optional<std::vector<double>>
zeroDelayArrival(const TrainingDFG &dfg, const Adjacency &adj,
                 llvm::ArrayRef<int64_t> delays) {
  size_t n = dfg.tasks.size();
  std::vector<unsigned> pending(n, 0);
  for (unsigned e = 0; e < dfg.edges.size(); ++e)
    if (delays[e] == 0)
      ++pending[dfg.edges[e].dst];
  std::vector<unsigned> ready;
  for (unsigned v = 0; v < n; ++v)
    if (pending[v] == 0)
      ready.push_back(v);
  std::vector<double> arrival(n, 0);
  size_t done = 0;
  while (!ready.empty()) {
    unsigned v = ready.back();
    ready.pop_back();
    ++done;
    arrival[v] += dfg.tasks[v].timeUs;
    for (unsigned e : adj.out[v]) {
      if (delays[e] != 0)
        continue;
      unsigned w = dfg.edges[e].dst;
      arrival[w] = std::max(arrival[w], arrival[v]);
      if (--pending[w] == 0)
        ready.push_back(w);
    }
  }
  if (done != n)
    return std::nullopt;
  return arrival;
}

} // namespace detail
} // namespace layerpipe
