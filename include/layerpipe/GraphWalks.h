//===- GraphWalks.h - Shared walks over directed multigraphs ----*- C++ -*-===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// The graph walks every stage needs (topological order, cycle search, strongly
// connected components, longest paths), written once. A graph is given as a
// node count and an edge list, so a caller picks the edges that matter (for
// instance only the zero-delay edges of a DFG) without building a copy of the
// graph type. All walks are iterative: graphs of 10^5 nodes do not overflow
// the stack.
//
//===----------------------------------------------------------------------===//

#ifndef LAYERPIPE_GRAPHWALKS_H
#define LAYERPIPE_GRAPHWALKS_H

#include "llvm/ADT/ArrayRef.h"

#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

namespace layerpipe {

/// A directed edge src -> dst between nodes 0 .. numNodes-1.
using GraphEdge = std::pair<unsigned, unsigned>;

/// Nodes in an order in which every edge goes forward (Kahn's algorithm,
/// smallest ready index first, so the order is deterministic).
/// std::nullopt if the edges form a cycle (self-loops included).
std::optional<std::vector<unsigned>>
topologicalOrder(unsigned numNodes, llvm::ArrayRef<GraphEdge> edges);

/// One directed cycle, as indices into \p edges in order along the cycle
/// (edge i ends where edge i+1 starts, the last ends where the first
/// starts); empty if the graph is acyclic. A self-loop is a cycle of one edge.
std::vector<unsigned> findCycle(unsigned numNodes,
                                llvm::ArrayRef<GraphEdge> edges);

/// Strongly connected components (Tarjan). Returns the component of each
/// node; components are numbered in reverse topological order of the
/// condensation (a component's successors have smaller numbers).
std::vector<unsigned>
stronglyConnectedComponents(unsigned numNodes,
                            llvm::ArrayRef<GraphEdge> edges);

/// Longest path ending at each node of a DAG, counting node weights
/// (the path's first node included): finish[v] = weight[v] + max over
/// predecessors u of finish[u]. Requires: \p edges acyclic.
std::vector<double> longestPathFinish(llvm::ArrayRef<double> nodeWeights,
                                      llvm::ArrayRef<GraphEdge> edges);

//===----------------------------------------------------------------------===//
// Walks over a training DFG (the clock period, FEAS and the verifiers)
//===----------------------------------------------------------------------===//

class TrainingDFG;

/// Edge indices leaving (or entering) each task of a DFG.
struct DFGAdjacency {
  std::vector<std::vector<unsigned>> out, in;
};
DFGAdjacency buildAdjacency(const TrainingDFG &dfg);

/// Delay of each edge, optionally after retiming by \p r.
std::vector<int64_t> edgeDelays(const TrainingDFG &dfg,
                                llvm::ArrayRef<int64_t> r = {});

/// Delta(v): the longest zero-delay path ending at v, including t(v), for the
/// edge delays \p delays. std::nullopt on a zero-delay cycle.
std::optional<std::vector<double>>
zeroDelayArrival(const TrainingDFG &dfg, llvm::ArrayRef<int64_t> delays);

/// Relative tolerance for comparing sums of task times.
inline bool timeLE(double a, double b) { return a <= b + 1e-9 * (1 + b); }

} // namespace layerpipe

#endif // LAYERPIPE_GRAPHWALKS_H
