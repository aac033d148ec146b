//===- TestGraphs.h - Hand-made DFGs for the transforms tests ---*- C++ -*-===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//

#ifndef LAYERPIPE_TEST_UNIT_TRANSFORMS_TESTGRAPHS_H
#define LAYERPIPE_TEST_UNIT_TRANSFORMS_TESTGRAPHS_H

#include "layerpipe/DFG.h"

#include <random>
#include <string>

namespace layerpipe::test {

/// A DFG of plain tasks (kind Forward, layer 0) with the given times.
inline TrainingDFG plainGraph(std::initializer_list<double> times) {
  TrainingDFG dfg;
  unsigned i = 0;
  for (double t : times)
    dfg.tasks.push_back({"v" + std::to_string(i++), TaskKind::Forward, 0, t});
  return dfg;
}

inline void addEdge(TrainingDFG &dfg, unsigned src, unsigned dst,
                    int64_t delay, int64_t bytes = 1) {
  dfg.edges.push_back({src, dst, delay, bytes, EdgeKind::Activation});
}

/// Leiserson and Saxe's digital correlator (1991, figure 1): host v0 (time
/// 0), comparators v1..v4 (time 3), adders v5..v7 (time 7). Clock period 24;
/// the best retiming reaches 13.
inline TrainingDFG correlator() {
  TrainingDFG dfg = plainGraph({0, 3, 3, 3, 3, 7, 7, 7});
  addEdge(dfg, 0, 1, 1);
  addEdge(dfg, 1, 2, 1);
  addEdge(dfg, 2, 3, 1);
  addEdge(dfg, 3, 4, 1);
  addEdge(dfg, 4, 5, 0);
  addEdge(dfg, 3, 5, 0);
  addEdge(dfg, 5, 6, 0);
  addEdge(dfg, 2, 6, 0);
  addEdge(dfg, 6, 7, 0);
  addEdge(dfg, 1, 7, 0);
  addEdge(dfg, 7, 0, 0);
  return dfg;
}

/// A random graph of \p n tasks with delays 0..1 (no zero-delay cycle is
/// guaranteed by the caller's check).
inline TrainingDFG randomGraph(std::mt19937 &rng, unsigned n, unsigned m) {
  TrainingDFG dfg;
  std::uniform_int_distribution<int> time(1, 9), node(0, n - 1), bit(0, 1),
      bytes(1, 5);
  for (unsigned i = 0; i < n; ++i)
    dfg.tasks.push_back(
        {"v" + std::to_string(i), TaskKind::Forward, 0, double(time(rng))});
  for (unsigned e = 0; e < m; ++e) {
    // One draw after another (gcc's order), not as unsequenced arguments:
    // the same graphs from every compiler.
    auto b = bytes(rng);
    auto d = bit(rng);
    unsigned dst = node(rng), src = node(rng);
    addEdge(dfg, src, dst, d, b);
  }
  return dfg;
}

} // namespace layerpipe::test

#endif // LAYERPIPE_TEST_UNIT_TRANSFORMS_TESTGRAPHS_H
