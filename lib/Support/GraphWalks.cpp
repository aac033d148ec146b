//===- GraphWalks.cpp - Shared walks over directed multigraphs ------------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// Topological order, cycle search, strongly connected components and longest
// paths over an edge list, and the zero-delay walks of a training DFG built
// on them. Each walk first builds a compressed out-edge table
// (CSR) and then runs without recursion, so deep networks (10^5 tasks in a
// chain) are safe.
//
//===----------------------------------------------------------------------===//

#include "layerpipe/GraphWalks.h"

#include "layerpipe/DFG.h"

#include <algorithm>
#include <cassert>
#include <functional>
#include <queue>

using namespace llvm;

namespace layerpipe {

namespace {
/// Out-edges of every node as a compressed table: the edges leaving node v
/// are edgeOf[first[v] .. first[v+1]).
struct OutEdgeTable {
  std::vector<unsigned> first;
  std::vector<unsigned> edgeOf;

  OutEdgeTable(unsigned numNodes, ArrayRef<GraphEdge> edges)
      : first(numNodes + 1, 0), edgeOf(edges.size()) {
    for (const GraphEdge &e : edges) {
      assert(e.first < numNodes && e.second < numNodes && "edge out of range");
      ++first[e.first + 1];
    }
    for (unsigned v = 0; v < numNodes; ++v)
      first[v + 1] += first[v];
    std::vector<unsigned> next(first.begin(), first.end() - 1);
    for (unsigned i = 0, n = edges.size(); i < n; ++i)
      edgeOf[next[edges[i].first]++] = i;
  }
  ArrayRef<unsigned> out(unsigned v) const {
    return makeArrayRef(edgeOf).slice(first[v], first[v + 1] - first[v]);
  }
};
} // namespace

std::optional<std::vector<unsigned>>
topologicalOrder(unsigned numNodes, ArrayRef<GraphEdge> edges) {
  OutEdgeTable table(numNodes, edges);
  std::vector<unsigned> inDegree(numNodes, 0);
  for (const GraphEdge &e : edges)
    ++inDegree[e.second];
  std::priority_queue<unsigned, std::vector<unsigned>, std::greater<unsigned>>
      ready;
  for (unsigned v = 0; v < numNodes; ++v)
    if (inDegree[v] == 0)
      ready.push(v);
  std::vector<unsigned> order;
  order.reserve(numNodes);
  while (!ready.empty()) {
    unsigned v = ready.top();
    ready.pop();
    order.push_back(v);
    for (unsigned e : table.out(v))
      if (--inDegree[edges[e].second] == 0)
        ready.push(edges[e].second);
  }
  if (order.size() != numNodes)
    return std::nullopt;
  return order;
}

std::vector<unsigned> findCycle(unsigned numNodes, ArrayRef<GraphEdge> edges) {
  OutEdgeTable table(numNodes, edges);
  enum Color : unsigned char { White, Grey, Black };
  std::vector<Color> color(numNodes, White);
  // The DFS stack holds, per grey node, the position of the next out-edge to
  // try; the edge that entered each grey node is kept beside it so that a
  // back edge can be unwound into the cycle.
  struct Frame {
    unsigned node, nextEdge, enteredBy;
  };
  std::vector<Frame> stack;
  for (unsigned root = 0; root < numNodes; ++root) {
    if (color[root] != White)
      continue;
    stack.push_back({root, 0, ~0u});
    color[root] = Grey;
    while (!stack.empty()) {
      Frame &top = stack.back();
      ArrayRef<unsigned> out = table.out(top.node);
      if (top.nextEdge == out.size()) {
        color[top.node] = Black;
        stack.pop_back();
        continue;
      }
      unsigned e = out[top.nextEdge++];
      unsigned dst = edges[e].second;
      if (color[dst] == White) {
        color[dst] = Grey;
        stack.push_back({dst, 0, e});
        continue;
      }
      if (color[dst] != Grey)
        continue;
      // Back edge: the cycle is dst ... top.node -> dst on the stack.
      std::vector<unsigned> cycle;
      for (size_t i = stack.size(); i-- > 0 && stack[i].node != dst;)
        cycle.push_back(stack[i].enteredBy);
      std::reverse(cycle.begin(), cycle.end());
      cycle.push_back(e);
      return cycle;
    }
  }
  return {};
}

std::vector<unsigned> stronglyConnectedComponents(unsigned numNodes,
                                                  ArrayRef<GraphEdge> edges) {
  OutEdgeTable table(numNodes, edges);
  const unsigned unvisited = ~0u;
  std::vector<unsigned> index(numNodes, unvisited), lowLink(numNodes, 0),
      component(numNodes, unvisited);
  std::vector<unsigned> sccStack;
  struct Frame {
    unsigned node, nextEdge;
  };
  std::vector<Frame> dfs;
  unsigned nextIndex = 0, numComponents = 0;
  for (unsigned root = 0; root < numNodes; ++root) {
    if (index[root] != unvisited)
      continue;
    dfs.push_back({root, 0});
    index[root] = lowLink[root] = nextIndex++;
    sccStack.push_back(root);
    while (!dfs.empty()) {
      Frame &top = dfs.back();
      unsigned v = top.node;
      ArrayRef<unsigned> out = table.out(v);
      if (top.nextEdge < out.size()) {
        unsigned w = edges[out[top.nextEdge++]].second;
        if (index[w] == unvisited) {
          index[w] = lowLink[w] = nextIndex++;
          sccStack.push_back(w);
          dfs.push_back({w, 0});
        } else if (component[w] == unvisited) {
          lowLink[v] = std::min(lowLink[v], index[w]);
        }
        continue;
      }
      dfs.pop_back();
      if (!dfs.empty())
        lowLink[dfs.back().node] =
            std::min(lowLink[dfs.back().node], lowLink[v]);
      if (lowLink[v] != index[v])
        continue;
      unsigned w;
      do {
        w = sccStack.back();
        sccStack.pop_back();
        component[w] = numComponents;
      } while (w != v);
      ++numComponents;
    }
  }
  return component;
}

/// longestPathFinish, or std::nullopt if \p edges have a cycle. Any
/// topological order gives the same maxima, so the nodes are visited in
/// Kahn's order with a plain queue: topologicalOrder's heap (smallest index
/// first) cost as much again as the walk on 300,000 tasks.
static std::optional<std::vector<double>>
longestPathsIfAcyclic(ArrayRef<double> nodeWeights, ArrayRef<GraphEdge> edges) {
  unsigned numNodes = nodeWeights.size();
  OutEdgeTable table(numNodes, edges);
  std::vector<unsigned> inDegree(numNodes, 0);
  for (const GraphEdge &e : edges)
    ++inDegree[e.second];
  std::vector<unsigned> queue;
  queue.reserve(numNodes);
  for (unsigned v = 0; v < numNodes; ++v)
    if (inDegree[v] == 0)
      queue.push_back(v);
  std::vector<double> finish(nodeWeights.begin(), nodeWeights.end());
  // finish[v] is final when v leaves the queue: all its predecessors have.
  for (size_t i = 0; i < queue.size(); ++i) {
    unsigned v = queue[i];
    for (unsigned e : table.out(v)) {
      unsigned w = edges[e].second;
      finish[w] = std::max(finish[w], finish[v] + nodeWeights[w]);
      if (--inDegree[w] == 0)
        queue.push_back(w);
    }
  }
  if (queue.size() != numNodes)
    return std::nullopt;
  return finish;
}

std::vector<double> longestPathFinish(ArrayRef<double> nodeWeights,
                                      ArrayRef<GraphEdge> edges) {
  std::optional<std::vector<double>> finish =
      longestPathsIfAcyclic(nodeWeights, edges);
  assert(finish && "longestPathFinish needs an acyclic graph");
  return std::move(*finish);
}

DFGAdjacency buildAdjacency(const TrainingDFG &dfg) {
  DFGAdjacency adj;
  size_t n = dfg.tasks.size();
  adj.out.resize(n);
  adj.in.resize(n);
  // Each list at its final size at once: growing 600,000 lists by
  // push_back reallocated most of them twice.
  std::vector<unsigned> outDegree(n, 0), inDegree(n, 0);
  for (const Edge &edge : dfg.edges) {
    ++outDegree[edge.src];
    ++inDegree[edge.dst];
  }
  for (size_t v = 0; v < n; ++v) {
    adj.out[v].reserve(outDegree[v]);
    adj.in[v].reserve(inDegree[v]);
  }
  for (unsigned e = 0; e < dfg.edges.size(); ++e) {
    adj.out[dfg.edges[e].src].push_back(e);
    adj.in[dfg.edges[e].dst].push_back(e);
  }
  return adj;
}

std::vector<int64_t> edgeDelays(const TrainingDFG &dfg, ArrayRef<int64_t> r) {
  std::vector<int64_t> delays(dfg.edges.size());
  for (unsigned e = 0; e < dfg.edges.size(); ++e) {
    const Edge &edge = dfg.edges[e];
    delays[e] = edge.delay + (r.empty() ? 0 : r[edge.dst] - r[edge.src]);
  }
  return delays;
}

std::optional<std::vector<double>>
zeroDelayArrival(const TrainingDFG &dfg, ArrayRef<int64_t> delays) {
  std::vector<GraphEdge> zero;
  for (unsigned e = 0; e < dfg.edges.size(); ++e)
    if (delays[e] == 0)
      zero.push_back({dfg.edges[e].src, dfg.edges[e].dst});
  unsigned n = dfg.tasks.size();
  std::vector<double> times(n);
  for (unsigned v = 0; v < n; ++v)
    times[v] = dfg.tasks[v].timeUs;
  return longestPathsIfAcyclic(times, zero);
}

} // namespace layerpipe
