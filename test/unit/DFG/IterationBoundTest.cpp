//===- IterationBoundTest.cpp - Unit tests of computeIterationBound -------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// Hand-made graphs with known bounds, and random small graphs checked against
// brute-force enumeration of every simple cycle.
//
//===----------------------------------------------------------------------===//

#include "TestModels.h"

#include "layerpipe/IterationBound.h"

#include <doctest/doctest.h>

#include <cmath>
#include <random>
#include <string>

using namespace layerpipe;

/// A graph with tasks "t0".."t<n-1>" of the given times.
static TrainingDFG makeGraph(std::vector<double> times) {
  TrainingDFG dfg;
  for (unsigned i = 0; i < times.size(); ++i)
    dfg.addTask({"t" + std::to_string(i), TaskKind::Forward, 0, times[i]});
  return dfg;
}

static void addEdge(TrainingDFG &dfg, unsigned src, unsigned dst,
                    int64_t delay) {
  dfg.addEdge({src, dst, delay, 0, EdgeKind::Activation});
}

/// Checks that \p loop is a cycle of \p dfg whose ratio is \p bound's.
static void checkLoopIsCycle(const TrainingDFG &dfg,
                             const IterationBound &bound) {
  REQUIRE(!bound.criticalLoop.empty());
  double time = 0;
  for (size_t i = 0; i < bound.criticalLoop.size(); ++i) {
    unsigned from = bound.criticalLoop[i];
    unsigned to = bound.criticalLoop[(i + 1) % bound.criticalLoop.size()];
    bool found = false;
    for (const Edge &e : dfg.edges)
      found |= e.src == from && e.dst == to;
    CHECK_MESSAGE(found, "no edge " << from << " -> " << to);
    time += dfg.tasks[from].timeUs;
  }
  CHECK(time == doctest::Approx(bound.loopTimeUs));
  CHECK(bound.loopDelays > 0);
  CHECK(bound.boundUs == doctest::Approx(bound.loopTimeUs / bound.loopDelays));
}

TEST_CASE("hand-made graphs with known bounds") {
  SUBCASE("self-loop") {
    TrainingDFG g = makeGraph({5});
    addEdge(g, 0, 0, 1);
    IterationBound b = cantFail(computeIterationBound(g));
    CHECK(b.boundUs == 5);
    CHECK(b.criticalLoop.size() == 1);
  }
  SUBCASE("two loops, the one with fewer delays per time wins") {
    // Loop A: t0 -> t1 -> t0, time 2+3, 2 delays: 2.5.
    // Loop B: t1 -> t2 -> t1, time 3+4, 1 delay: 7.
    TrainingDFG g = makeGraph({2, 3, 4});
    addEdge(g, 0, 1, 1);
    addEdge(g, 1, 0, 1);
    addEdge(g, 1, 2, 0);
    addEdge(g, 2, 1, 1);
    IterationBound b = cantFail(computeIterationBound(g));
    CHECK(b.boundUs == doctest::Approx(7));
    CHECK(b.loopDelays == 1);
    CHECK(std::vector<unsigned>(b.criticalLoop.begin(), b.criticalLoop.end()) ==
          std::vector<unsigned>{1, 2});
    checkLoopIsCycle(g, b);
  }
  SUBCASE("parallel edges: the one with fewer delays counts") {
    TrainingDFG g = makeGraph({3, 3});
    addEdge(g, 0, 1, 0);
    addEdge(g, 1, 0, 3);
    addEdge(g, 1, 0, 2);
    IterationBound b = cantFail(computeIterationBound(g));
    CHECK(b.boundUs == doctest::Approx(3));
    CHECK(b.loopDelays == 2);
  }
  SUBCASE("acyclic graph: bound 0, no loop") {
    TrainingDFG g = makeGraph({1, 2, 3});
    addEdge(g, 0, 1, 0);
    addEdge(g, 1, 2, 4);
    IterationBound b = cantFail(computeIterationBound(g));
    CHECK(b.boundUs == 0);
    CHECK(b.criticalLoop.empty());
  }
  SUBCASE("correlator-shaped graph with tied loops") {
    // A host v0 (time 0), comparators v1..v4 (3) chained by delays, adders
    // v5..v7 (7) and taps v3->v5, v2->v6, v1->v7. Every cycle passes v7->v0:
    // the outer one has time 33 and 4 delays (8.25); the three tapped ones
    // 30/3, 20/2 and 10/1 tie at 10.
    TrainingDFG g = makeGraph({0, 3, 3, 3, 3, 7, 7, 7});
    addEdge(g, 0, 1, 1);
    addEdge(g, 1, 2, 1);
    addEdge(g, 2, 3, 1);
    addEdge(g, 3, 4, 1);
    addEdge(g, 4, 5, 0);
    addEdge(g, 5, 6, 0);
    addEdge(g, 6, 7, 0);
    addEdge(g, 7, 0, 0);
    addEdge(g, 3, 5, 0);
    addEdge(g, 2, 6, 0);
    addEdge(g, 1, 7, 0);
    IterationBound b = cantFail(computeIterationBound(g));
    CHECK(b.boundUs == doctest::Approx(10));
    checkLoopIsCycle(g, b);
  }
}

TEST_CASE("a cycle without delays is a deadlock, named task by task") {
  TrainingDFG g = makeGraph({1, 1, 1});
  addEdge(g, 0, 1, 0);
  addEdge(g, 1, 2, 0);
  addEdge(g, 2, 1, 0);
  addEdge(g, 2, 0, 1);
  CHECK(findZeroDelayCycle(g).size() == 2);
  llvm::Expected<IterationBound> b = computeIterationBound(g);
  REQUIRE(!b);
  CHECK(llvm::toString(b.takeError()) ==
        "deadlock: cycle without delays: t1 -> t2 -> t1");

  TrainingDFG self = makeGraph({1});
  addEdge(self, 0, 0, 0);
  llvm::Expected<IterationBound> s = computeIterationBound(self);
  REQUIRE(!s);
  CHECK(llvm::toString(s.takeError()) ==
        "deadlock: cycle without delays: t0 -> t0");
}

namespace {
/// Brute force: every simple cycle (as a sequence of edges, so parallel
/// edges give different cycles), started at its smallest node.
struct BruteForce {
  const TrainingDFG &g;
  double best = 0;
  bool anyCycle = false, zeroDelayCycle = false;
  std::vector<bool> onPath;

  explicit BruteForce(const TrainingDFG &g)
      : g(g), onPath(g.numTasks(), false) {
    for (unsigned s = 0; s < g.numTasks(); ++s)
      walk(s, s, 0, 0);
  }
  void walk(unsigned start, unsigned v, double time, int64_t delays) {
    onPath[v] = true;
    time += g.tasks[v].timeUs;
    for (const Edge &e : g.edges) {
      if (e.src != v || e.dst < start)
        continue;
      if (e.dst == start) {
        anyCycle = true;
        int64_t w = delays + e.delay;
        if (w == 0)
          zeroDelayCycle = true;
        else
          best = std::max(best, time / w);
        continue;
      }
      if (!onPath[e.dst])
        walk(start, e.dst, time, delays + e.delay);
    }
    onPath[v] = false;
  }
};
} // namespace

TEST_CASE("random small graphs against brute-force cycle enumeration") {
  std::mt19937 rng(20261122);
  int deadlocks = 0, acyclic = 0, checked = 0;
  for (int trial = 0; trial < 1000; ++trial) {
    std::uniform_int_distribution<unsigned> numNodes(1, 7);
    unsigned n = numNodes(rng);
    std::vector<double> times;
    for (unsigned i = 0; i < n; ++i)
      times.push_back(std::uniform_int_distribution<int>(0, 20)(rng) * 0.5);
    TrainingDFG g = makeGraph(times);
    unsigned m = std::uniform_int_distribution<unsigned>(0, 2 * n + 2)(rng);
    std::uniform_int_distribution<unsigned> node(0, n - 1);
    std::discrete_distribution<int> delay({5, 3, 1, 1});
    for (unsigned i = 0; i < m; ++i) {
      // One draw after another (gcc's order), not as unsequenced arguments:
      // the same graphs from every compiler.
      int d = delay(rng);
      unsigned b = node(rng), a = node(rng);
      addEdge(g, a, b, d);
    }
    BruteForce expected(g);
    CAPTURE(trial);
    llvm::Expected<IterationBound> b = computeIterationBound(g);
    if (expected.zeroDelayCycle) {
      ++deadlocks;
      REQUIRE(!b);
      std::string msg = llvm::toString(b.takeError());
      CHECK(msg.rfind("deadlock: cycle without delays: ", 0) == 0);
      // The named cycle really has no delays.
      llvm::SmallVector<unsigned, 16> cycle = findZeroDelayCycle(g);
      for (size_t i = 0; i < cycle.size(); ++i) {
        bool found = false;
        for (const Edge &e : g.edges)
          found |= e.src == cycle[i] &&
                   e.dst == cycle[(i + 1) % cycle.size()] && e.delay == 0;
        CHECK(found);
      }
      continue;
    }
    REQUIRE(static_cast<bool>(b));
    CHECK(findZeroDelayCycle(g).empty());
    if (!expected.anyCycle) {
      ++acyclic;
      CHECK(b->boundUs == 0);
      CHECK(b->criticalLoop.empty());
      continue;
    }
    ++checked;
    CHECK(b->boundUs == doctest::Approx(expected.best).epsilon(1e-12));
    checkLoopIsCycle(g, *b);
  }
  // The generator must exercise every path.
  CHECK(deadlocks > 50);
  CHECK(acyclic > 25);
  CHECK(checked > 200);
}

/// Whether some cycle has sum(t(src) - lambda * delay) > 0 (Bellman-Ford on
/// longest paths): true iff the iteration bound exceeds lambda.
static bool hasCycleAbove(const TrainingDFG &dfg, double lambda) {
  std::vector<double> dist(dfg.numTasks(), 0);
  for (size_t round = 0; round <= dfg.numTasks(); ++round) {
    bool changed = false;
    for (const Edge &e : dfg.edges) {
      double w = dfg.tasks[e.src].timeUs - lambda * e.delay;
      if (dist[e.src] + w > dist[e.dst] + 1e-12 * (1 + std::abs(dist[e.dst]))) {
        dist[e.dst] = dist[e.src] + w;
        changed = true;
      }
    }
    if (!changed)
      return false;
  }
  return true;
}

TEST_CASE("planned-like graphs: random gradient delays and task times") {
  // Gradient delays on the G->U edges (as the planner inserts them) give
  // many loops of similar ratio with different delay counts; Howard's answer
  // is checked against the parametric Bellman-Ford test.
  std::mt19937 rng(5);
  for (int trial = 0; trial < 24; ++trial) {
    CAPTURE(trial);
    // Mostly small graphs; every fourth one deep (600 tasks).
    unsigned depth = trial % 4 == 3 ? 100 : 20;
    TrainingDFG dfg = cantFail(
        buildTrainingDFG(layerpipe::test::deepMlp(depth), MachineDesc()));
    std::uniform_real_distribution<double> time(0.1, 10);
    for (Task &t : dfg.tasks)
      t.timeUs = time(rng);
    std::uniform_int_distribution<int> delay(0, 6);
    for (Edge &e : dfg.edges)
      if (e.kind == EdgeKind::WeightGradient)
        e.delay = delay(rng);
    IterationBound b = cantFail(computeIterationBound(dfg));
    checkLoopIsCycle(dfg, b);
    CHECK(!hasCycleAbove(dfg, b.boundUs * (1 + 1e-7)));
    CHECK(hasCycleAbove(dfg, b.boundUs * (1 - 1e-7)));
  }
}

TEST_CASE("deep chain: the bound is the first layer's loop, exactly") {
  // Checked against a parametric test independent of Howard's algorithm:
  // with lambda slightly above the bound no cycle has positive
  // sum(t - lambda * w); slightly below, one does (Bellman-Ford).
  TrainingDFG dfg = cantFail(
      buildTrainingDFG(layerpipe::test::deepMlp(60), MachineDesc()));
  IterationBound b = cantFail(computeIterationBound(dfg));
  checkLoopIsCycle(dfg, b);
  CHECK(!hasCycleAbove(dfg, b.boundUs * (1 + 1e-7)));
  CHECK(hasCycleAbove(dfg, b.boundUs * (1 - 1e-7)));
  // fc0 reads the input (no B.fc0): every task but G/U of the other dense
  // layers lies on the loop U.fc0 -> F.fc0 -> ... -> L -> ... -> G.fc0.
  double offLoop = 0;
  for (const Task &t : dfg.tasks)
    if ((t.kind == TaskKind::WeightGradient ||
         t.kind == TaskKind::Update) &&
        t.name != "G.fc0" && t.name != "U.fc0")
      offLoop += t.timeUs;
  CHECK(b.boundUs == doctest::Approx(dfg.totalWorkUs() - offLoop));
}

/// Both bounds, and both loops real cycles of that ratio.
static void checkAgainstBoost(const TrainingDFG &dfg) {
  llvm::Expected<IterationBound> fast = computeIterationBound(dfg);
  llvm::Expected<IterationBound> boost = computeIterationBoundWithBoost(dfg);
  REQUIRE(static_cast<bool>(fast) == static_cast<bool>(boost));
  if (!fast) {
    CHECK(llvm::toString(fast.takeError()) ==
          llvm::toString(boost.takeError()));
    return;
  }
  CHECK(fast->boundUs == doctest::Approx(boost->boundUs).epsilon(1e-9));
  if (fast->boundUs > 0) {
    checkLoopIsCycle(dfg, *fast);
    checkLoopIsCycle(dfg, *boost);
  }
}

TEST_CASE("linear-time Howard against Boost's: random graphs") {
  // Sparse and dense random graphs of up to 300 tasks, many loops of close
  // ratios (integer times), some acyclic parts and some deadlocks.
  std::mt19937 rng(20261202);
  for (int trial = 0; trial < 300; ++trial) {
    CAPTURE(trial);
    unsigned n = std::uniform_int_distribution<unsigned>(1, 300)(rng);
    std::vector<double> times;
    for (unsigned i = 0; i < n; ++i)
      times.push_back(std::uniform_int_distribution<int>(0, 9)(rng));
    TrainingDFG g = makeGraph(times);
    unsigned m = std::uniform_int_distribution<unsigned>(0, 4 * n)(rng);
    std::uniform_int_distribution<unsigned> node(0, n - 1);
    // Mostly forward edges without delays, back edges with some.
    for (unsigned i = 0; i < m; ++i) {
      unsigned a = node(rng), b = node(rng);
      int64_t d = a < b ? 0 : std::uniform_int_distribution<int>(1, 5)(rng);
      if (trial % 10 == 9 && i == 0)
        d = 0; // now and then a deadlock
      addEdge(g, a, b, d);
    }
    checkAgainstBoost(g);
  }
}

TEST_CASE("linear-time Howard against Boost's: planned-like deep graphs") {
  // Training DFGs of up to 1,200 layers with the planner's kind of delays:
  // stages of consecutive layers, 2 (p - 1 - s) on stage s's G -> U edges
  // (or random ones), random task times.
  std::mt19937 rng(7);
  for (int trial = 0; trial < 12; ++trial) {
    CAPTURE(trial);
    unsigned depth = trial < 10 ? 40 + 20 * trial : 600;
    TrainingDFG dfg = cantFail(
        buildTrainingDFG(layerpipe::test::deepMlp(depth), MachineDesc()));
    std::uniform_real_distribution<double> time(0.1, 10);
    for (Task &t : dfg.tasks)
      t.timeUs = trial % 3 == 0 ? std::round(time(rng)) : time(rng);
    unsigned numLayers = 0;
    for (const Task &t : dfg.tasks)
      numLayers = std::max(numLayers, t.layer + 1);
    unsigned p = std::uniform_int_distribution<unsigned>(2, 64)(rng);
    for (Edge &e : dfg.edges) {
      if (e.kind != EdgeKind::WeightGradient)
        continue;
      unsigned s = dfg.tasks[e.src].layer * p / numLayers;
      e.delay = trial % 4 == 1 ? std::uniform_int_distribution<int>(0, 6)(rng)
                               : 2 * int64_t(p - 1 - s);
    }
    checkAgainstBoost(dfg);
  }
}
