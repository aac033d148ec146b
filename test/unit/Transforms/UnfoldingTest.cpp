//===- UnfoldingTest.cpp - Unfolding by J: structure and iteration bound --===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//

#include "layerpipe/Transforms/Unfolding.h"
#include "layerpipe/IterationBound.h"

#include "TestGraphs.h"

#include <doctest/doctest.h>

#include <numeric>

using namespace layerpipe;
using namespace layerpipe::test;

TEST_CASE("unfolding keeps every dependence distance") {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 200; ++trial) {
    TrainingDFG dfg = randomGraph(rng, 2 + trial % 5, 3 + trial % 7);
    for (Edge &e : dfg.edges)
      e.delay = std::uniform_int_distribution<int>(0, 4)(rng);
    for (unsigned J = 1; J <= 4; ++J) {
      TrainingDFG unfolded = unfoldDFG(dfg, J);
      const unsigned V = dfg.numTasks(), E = dfg.numEdges();
      REQUIRE(unfolded.numTasks() == size_t(V) * J);
      REQUIRE(unfolded.numEdges() == size_t(E) * J);
      int64_t before = 0, after = 0;
      for (const Edge &e : dfg.edges)
        before += e.delay;
      for (size_t k = 0; k < unfolded.numEdges(); ++k) {
        const Edge &copy = unfolded.edges[k];
        const Edge &orig = dfg.edges[k % E];
        after += copy.delay;
        // Copy c of task v runs original iteration J*n + c; the edge must
        // connect iterations exactly w(e) apart.
        int64_t srcCopy = copy.src / V, dstCopy = copy.dst / V;
        CHECK(copy.src % V == orig.src);
        CHECK(copy.dst % V == orig.dst);
        CHECK(int64_t(J) * copy.delay + dstCopy - srcCopy == orig.delay);
        CHECK(copy.delay >= 0);
      }
      CHECK(after == before);
    }
  }
}

TEST_CASE("the J-unfolded iteration bound is J times the original") {
  std::mt19937 rng(11);
  int compared = 0;
  for (int trial = 0; trial < 300; ++trial) {
    TrainingDFG dfg = randomGraph(rng, 2 + trial % 6, 3 + trial % 8);
    for (Edge &e : dfg.edges)
      e.delay = std::uniform_int_distribution<int>(0, 3)(rng);
    auto bound = computeIterationBound(dfg);
    if (!bound) {
      llvm::consumeError(bound.takeError());
      continue; // a deadlock stays a deadlock; checked below
    }
    for (unsigned J = 2; J <= 4; ++J) {
      auto unfolded = computeIterationBound(unfoldDFG(dfg, J));
      REQUIRE(static_cast<bool>(unfolded));
      CHECK(unfolded->boundUs == doctest::Approx(J * bound->boundUs));
    }
    ++compared;
  }
  CHECK(compared > 100);
}

TEST_CASE("unfolding a deadlocked graph keeps the deadlock") {
  TrainingDFG dfg = plainGraph({1, 2});
  addEdge(dfg, 0, 1, 0);
  addEdge(dfg, 1, 0, 0);
  auto bound = computeIterationBound(unfoldDFG(dfg, 3));
  CHECK_FALSE(static_cast<bool>(bound));
  llvm::consumeError(bound.takeError());
}

TEST_CASE("a three-delay loop unfolds into three one-delay loops") {
  // Loop time 10 over 3 delays: bound 10/3, below the longest task (6).
  TrainingDFG dfg = plainGraph({6, 4});
  addEdge(dfg, 0, 1, 0);
  addEdge(dfg, 1, 0, 3);
  TrainingDFG unfolded = unfoldDFG(dfg, 3);
  CHECK(unfolded.tasks[2].name == "v0#1");
  auto bound = computeIterationBound(unfolded);
  REQUIRE(static_cast<bool>(bound));
  CHECK(bound->boundUs == doctest::Approx(10.0));
  CHECK(bound->loopDelays == 1);
}
