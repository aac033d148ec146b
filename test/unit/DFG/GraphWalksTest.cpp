//===- GraphWalksTest.cpp - Unit tests of the shared graph walks ----------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//

#include "layerpipe/GraphWalks.h"

#include <doctest/doctest.h>

#include <random>

using namespace layerpipe;

TEST_CASE("topological order: deterministic, nullopt on a cycle") {
  std::vector<GraphEdge> dag = {{2, 0}, {0, 1}, {2, 1}, {3, 1}};
  auto order = topologicalOrder(4, dag);
  REQUIRE(order);
  CHECK(*order == std::vector<unsigned>{2, 0, 3, 1});
  dag.push_back({1, 2});
  CHECK(!topologicalOrder(4, dag));
  CHECK(!topologicalOrder(1, {{0, 0}}));
  CHECK(topologicalOrder(0, {})->empty());
}

TEST_CASE("findCycle returns a closed walk of edges, or nothing") {
  std::vector<GraphEdge> edges = {{0, 1}, {1, 2}, {2, 3}, {3, 1}, {0, 3}};
  std::vector<unsigned> cycle = findCycle(4, edges);
  REQUIRE(cycle.size() == 3);
  for (size_t i = 0; i < cycle.size(); ++i)
    CHECK(edges[cycle[i]].second ==
          edges[cycle[(i + 1) % cycle.size()]].first);
  CHECK(findCycle(3, {{0, 1}, {1, 2}, {0, 2}}).empty());
  CHECK(findCycle(2, {{0, 1}, {1, 1}}) == std::vector<unsigned>{1});
}

TEST_CASE("deep chains do not overflow the stack") {
  const unsigned n = 200000;
  std::vector<GraphEdge> chain;
  for (unsigned i = 0; i + 1 < n; ++i)
    chain.push_back({i, i + 1});
  CHECK(findCycle(n, chain).empty());
  CHECK(topologicalOrder(n, chain)->size() == n);
  std::vector<unsigned> scc = stronglyConnectedComponents(n, chain);
  CHECK(scc[0] != scc[1]);
  chain.push_back({n - 1, 0});
  CHECK(findCycle(n, chain).size() == n);
  scc = stronglyConnectedComponents(n, chain);
  CHECK(scc[0] == scc[n - 1]);
}

TEST_CASE("strongly connected components agree with mutual reachability") {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 100; ++trial) {
    unsigned n = std::uniform_int_distribution<unsigned>(1, 8)(rng);
    std::uniform_int_distribution<unsigned> node(0, n - 1);
    std::vector<GraphEdge> edges;
    unsigned m = std::uniform_int_distribution<unsigned>(0, 2 * n)(rng);
    for (unsigned i = 0; i < m; ++i)
      edges.push_back({node(rng), node(rng)});
    // Transitive closure by Floyd-Warshall.
    std::vector<std::vector<bool>> reach(n, std::vector<bool>(n, false));
    for (unsigned v = 0; v < n; ++v)
      reach[v][v] = true;
    for (const GraphEdge &e : edges)
      reach[e.first][e.second] = true;
    for (unsigned k = 0; k < n; ++k)
      for (unsigned i = 0; i < n; ++i)
        for (unsigned j = 0; j < n; ++j)
          if (reach[i][k] && reach[k][j])
            reach[i][j] = true;
    std::vector<unsigned> scc = stronglyConnectedComponents(n, edges);
    for (unsigned i = 0; i < n; ++i)
      for (unsigned j = 0; j < n; ++j) {
        CHECK((scc[i] == scc[j]) == (reach[i][j] && reach[j][i]));
        // Successor components have smaller numbers.
        if (reach[i][j] && scc[i] != scc[j])
          CHECK(scc[j] < scc[i]);
      }
    CHECK(findCycle(n, edges).empty() == topologicalOrder(n, edges).has_value());
  }
}

TEST_CASE("longest path finish times") {
  std::vector<double> w = {1, 2, 3, 4};
  std::vector<GraphEdge> edges = {{0, 1}, {0, 2}, {1, 3}, {2, 3}};
  CHECK(longestPathFinish(w, edges) == std::vector<double>{1, 3, 4, 8});
}
