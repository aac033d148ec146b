//===- RetimingTest.cpp - Retiming: correlator, brute force, verifier -----===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//

#include "layerpipe/Transforms/Retiming.h"

#include "TestGraphs.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <functional>

using namespace layerpipe;
using namespace layerpipe::test;

static double periodAfter(const TrainingDFG &dfg, const Retiming &r) {
  TrainingDFG g = dfg;
  applyRetiming(g, r);
  auto p = computeClockPeriod(g);
  REQUIRE(static_cast<bool>(p));
  return *p;
}

TEST_CASE("correlator: clock period 24 retimes to 13") {
  TrainingDFG dfg = correlator();
  auto period = computeClockPeriod(dfg);
  REQUIRE(static_cast<bool>(period));
  CHECK(*period == 24);

  auto best = retimeMinPeriod(dfg);
  REQUIRE(static_cast<bool>(best));
  CHECK(best->periodUs == 13);
  TrainingDFG retimed = dfg;
  applyRetiming(retimed, best->r);
  CHECK(!verifyRetiming(dfg, retimed, 13));

  // FEAS agrees: 13 is feasible, 12 is not.
  auto feas = retimeFeasible(dfg, 13);
  REQUIRE(feas.has_value());
  CHECK(periodAfter(dfg, *feas) <= 13);
  CHECK(!retimeFeasible(dfg, 12).has_value());
}

TEST_CASE("legality check and verifier reject bad retimings") {
  TrainingDFG dfg = correlator();
  Retiming r(dfg.tasks.size(), 0);
  r[1] = 1; // takes a delay from v1 -> v7, which has none
  auto err = checkRetimingLegal(dfg, r);
  REQUIRE(static_cast<bool>(err));
  CHECK(llvm::toString(std::move(err)).find("'v1' -> 'v7'") !=
        std::string::npos);

  // A changed cycle delay count is caught.
  TrainingDFG bad = dfg;
  bad.edges[0].delay = 2;
  auto verr = verifyRetiming(dfg, bad, 24);
  REQUIRE(static_cast<bool>(verr));
  CHECK(llvm::toString(std::move(verr)).find("delay count") !=
        std::string::npos);

  // A wrong period claim is caught.
  auto perr = verifyRetiming(dfg, dfg, 23);
  REQUIRE(static_cast<bool>(perr));
  CHECK(llvm::toString(std::move(perr)).find("claims 23") !=
        std::string::npos);

  // A negative delay is caught.
  TrainingDFG negative = dfg;
  negative.edges[0].delay = -1;
  auto nerr = verifyRetiming(dfg, negative, 24);
  CHECK(static_cast<bool>(nerr));
  llvm::consumeError(std::move(nerr));
}

/// Calls \p visit with every r in [lo, hi]^n.
static void forEachRetiming(size_t n, int lo, int hi,
                            const std::function<void(const Retiming &)> &visit) {
  Retiming r(n, lo);
  while (true) {
    visit(r);
    size_t i = 0;
    while (i < n && r[i] == hi)
      r[i++] = lo;
    if (i == n)
      return;
    ++r[i];
  }
}

static bool legal(const TrainingDFG &dfg, const Retiming &r) {
  for (const Edge &e : dfg.edges)
    if (retimedDelay(e, r) < 0)
      return false;
  return true;
}

TEST_CASE("minimum period matches brute force on random graphs") {
  std::mt19937 rng(12345);
  int checked = 0;
  for (int trial = 0; trial < 300 && checked < 60; ++trial) {
    unsigned n = 2 + trial % 4;
    TrainingDFG dfg = randomGraph(rng, n, n + 3);
    if (!computeClockPeriod(dfg)) // deadlock: not a retiming instance
      continue;
    ++checked;
    // Bellman-Ford solutions lie in [-(n-1), 0] (arc weights >= -1).
    double brute = 1e300;
    forEachRetiming(n, -int(n - 1), 0, [&](const Retiming &r) {
      if (legal(dfg, r))
        brute = std::min(brute, periodAfter(dfg, r));
    });
    auto best = retimeMinPeriod(dfg);
    REQUIRE(static_cast<bool>(best));
    CHECK(best->periodUs == doctest::Approx(brute));
    TrainingDFG retimed = dfg;
    applyRetiming(retimed, best->r);
    CHECK(!verifyRetiming(dfg, retimed, best->periodUs));
    // FEAS reaches the same period and no smaller one.
    CHECK(retimeFeasible(dfg, brute).has_value());
    CHECK(!retimeFeasible(dfg, brute - 0.5).has_value());
  }
  CHECK(checked >= 30);
}

/// One group per edge (no sharing) or per source task (sharing).
static std::vector<RegisterGroup> groupsOf(const TrainingDFG &dfg,
                                           bool share) {
  std::vector<RegisterGroup> groups;
  for (unsigned v = 0; v < dfg.tasks.size(); ++v) {
    RegisterGroup shared;
    for (unsigned e = 0; e < dfg.edges.size(); ++e) {
      if (dfg.edges[e].src != v)
        continue;
      if (share) {
        shared.edges.push_back(e);
        shared.bytes = std::max(shared.bytes, dfg.edges[e].bytes);
      } else {
        groups.push_back({{e}, dfg.edges[e].bytes});
      }
    }
    if (share && !shared.edges.empty())
      groups.push_back(shared);
  }
  return groups;
}

TEST_CASE("minimum memory matches brute force on random graphs") {
  std::mt19937 rng(777);
  int checked = 0, exact = 0;
  for (int trial = 0; trial < 300 && checked < 40; ++trial) {
    unsigned n = 2 + trial % 4;
    TrainingDFG dfg = randomGraph(rng, n, n + 3);
    auto current = computeClockPeriod(dfg);
    if (!current)
      continue;
    ++checked;
    auto fastest = retimeMinPeriod(dfg);
    REQUIRE(static_cast<bool>(fastest));
    // Bound: halfway between the fastest and the current period.
    double bound = (fastest->periodUs + *current) / 2;
    for (bool share : {false, true}) {
      auto groups = groupsOf(dfg, share);
      auto best = retimeMinMemory(dfg, bound, groups, fastest->r);
      REQUIRE(static_cast<bool>(best));
      TrainingDFG retimed = dfg;
      applyRetiming(retimed, best->r);
      CHECK(!verifyRetiming(dfg, retimed, best->periodUs));
      CHECK(best->periodUs <= bound + 1e-9);
      int64_t flow = registerBytes(retimed, groups);
      int64_t brute = INT64_MAX;
      Retiming r(n);
      forEachRetiming(n, -4, 4, [&](const Retiming &r) {
        if (r[0] != 0 || !legal(dfg, r))
          return;
        TrainingDFG g = dfg;
        applyRetiming(g, r);
        auto p = computeClockPeriod(g);
        if (p && *p <= bound + 1e-9)
          brute = std::min(brute, registerBytes(g, groups));
      });
      // The flow is optimal: never worse than any enumerated retiming, and
      // equal when its own (shifted) lags lie in the enumerated box.
      CHECK(flow <= brute);
      Retiming shifted = best->r;
      for (int64_t &lag : shifted)
        lag -= best->r[0];
      if (std::all_of(shifted.begin(), shifted.end(),
                      [](int64_t l) { return l >= -4 && l <= 4; })) {
        CHECK(flow == brute);
        ++exact;
      }
    }
  }
  CHECK(checked >= 30);
  CHECK(exact >= 30);
}
