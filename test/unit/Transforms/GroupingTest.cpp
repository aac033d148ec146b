//===- GroupingTest.cpp - Exact layer grouping against brute force --------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//

#include "layerpipe/Transforms/Grouping.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <random>

using namespace layerpipe;

/// The best bottleneck over every way to place numStages - 1 cuts.
static double bruteForce(const GroupingProblem &p, unsigned numStages) {
  unsigned n = p.numLayers();
  double best = 1e300;
  std::vector<unsigned> cuts; // stage ends (last layer of each stage)
  std::function<void(unsigned)> place = [&](unsigned first) {
    if (cuts.size() == numStages - 1) {
      double worst = 0;
      unsigned start = 0;
      for (unsigned end : cuts) {
        worst = std::max(worst, p.stageCost(start, end));
        start = end + 1;
      }
      worst = std::max(worst, p.stageCost(start, n - 1));
      best = std::min(best, worst);
      return;
    }
    for (unsigned end = first; end + 1 < n; ++end) {
      cuts.push_back(end);
      place(end + 1);
      cuts.pop_back();
    }
  };
  place(0);
  return best;
}

/// The stages the earlier work-plus-transfers search picked at bound \p B:
/// level by level, j ends a stage from the reached k < j with the largest
/// P(k) - c(k) (the earliest of equal ones) if that stage fits.
static std::vector<unsigned> earlierSumStages(const GroupingProblem &p,
                                              unsigned numStages, double B) {
  int n = int(p.numLayers());
  auto startKey = [&](int k) {
    return k < 0 ? 0.0 : p.prefixWork[k] - p.cutCost[k];
  };
  auto endKey = [&](int j) { return p.prefixWork[j] + p.cutCost[j]; };
  std::vector<std::vector<char>> reach(numStages, std::vector<char>(n, 0));
  std::vector<std::vector<int>> from(numStages, std::vector<int>(n, -1));
  for (int j = 0; j < n; ++j)
    reach[0][j] = endKey(j) - startKey(-1) <= B;
  for (unsigned s = 1; s < numStages; ++s) {
    int bestK = -1;
    for (int j = 1; j < n; ++j) {
      int k = j - 1;
      if (reach[s - 1][k] && (bestK < 0 || startKey(k) > startKey(bestK)))
        bestK = k;
      if (bestK >= 0 && endKey(j) - startKey(bestK) <= B) {
        reach[s][j] = 1;
        from[s][j] = bestK;
      }
    }
  }
  std::vector<unsigned> stageOf(n, 0);
  if (!reach[numStages - 1][n - 1])
    return {};
  int j = n - 1;
  for (int s = int(numStages) - 1; s >= 0; --s) {
    int start = s == 0 ? 0 : from[s][j] + 1;
    for (int l = start; l <= j; ++l)
      stageOf[l] = s;
    j = start - 1;
  }
  return stageOf;
}

TEST_CASE("optimal grouping equals brute force over all cut positions") {
  std::mt19937 rng(4242);
  std::uniform_real_distribution<double> work(0.0, 10.0), cut(0.0, 8.0);
  for (int trial = 0; trial < 800; ++trial) {
    unsigned n = 1 + trial % 9;
    GroupingProblem p;
    // Half the trials charge a stage its work plus both cuts (the earlier
    // model, --grouping-cost=sum).
    bool sum = trial % 2;
    p.cost = sum ? GroupingCost::Sum : GroupingCost::Max;
    for (unsigned i = 0; i < n; ++i) {
      // Some tiny layers with big cuts make the cost non-monotone; whole
      // numbers make ties.
      bool whole = trial % 5 == 1;
      p.layerWork.push_back(trial % 3 == 0 && i % 2 ? 0.1
                            : whole             ? std::floor(work(rng))
                                                : work(rng));
      p.cutCost.push_back(i + 1 == n ? 0
                          : whole    ? std::floor(cut(rng) / 2)
                                     : cut(rng));
    }
    p.finalize();
    for (unsigned s = 1; s <= n; ++s) {
      auto g = groupOptimal(p, s);
      REQUIRE(static_cast<bool>(g));
      CHECK(g->numStages == s);
      CHECK(g->bottleneckUs == doctest::Approx(bruteForce(p, s)).epsilon(1e-12));
      // Contiguous, non-decreasing, every stage used.
      CHECK(g->stageOfLayer.front() == 0);
      for (unsigned l = 1; l < n; ++l)
        CHECK(g->stageOfLayer[l] - g->stageOfLayer[l - 1] <= 1);
      CHECK(g->stageOfLayer.back() == s - 1);
      // The sum model picks the stages the earlier search picked.
      if (sum)
        CHECK(g->stageOfLayer == earlierSumStages(p, s, g->bottleneckUs));
    }
  }
}

TEST_CASE("the sum model charges the work plus both cuts") {
  // The first case of the test below, summed. Three stages: 1 | 1 1 | 1
  // costs 1.5, 3, 1.5; 1 | 1 | 1 1 costs 1.5, 4.5, 5; 1 1 | 1 | 1 costs 5,
  // 4.5, 1.5.
  GroupingProblem p;
  p.cost = GroupingCost::Sum;
  p.layerWork = {1, 1, 1, 1};
  p.cutCost = {0.5, 3, 0.5, 0};
  p.finalize();
  CHECK(p.stageCost(0, 0) == 1.5);
  CHECK(p.stageCost(1, 2) == 3);
  CHECK(p.stageCost(0, 1) == 5);
  CHECK(p.stageCost(0, 3) == 4);
  auto three = groupOptimal(p, 3);
  REQUIRE(static_cast<bool>(three));
  CHECK(three->bottleneckUs == 3);
  CHECK(three->stageOfLayer == std::vector<unsigned>{0, 1, 1, 2});
  // Two stages: any cut pays its cost on both sides; after layer 0 or 2:
  // 1.5 and 3.5.
  auto two = groupOptimal(p, 2);
  REQUIRE(static_cast<bool>(two));
  CHECK(two->bottleneckUs == 3.5);
}

TEST_CASE("transfers cost link time beside the work, not on top of it") {
  // Four layers of work 1; the cut after layer 1 carries 3 us of link time,
  // the others 0.5 us. Two stages: cutting after layer 1 makes each stage
  // cost max(2, 3) = 3; after layer 0 or 2 a stage works 3 (links 0.5):
  // also 3. Three stages: 1 | 1 1 | 1 costs max(2, 0.5 + 0.5) = 2, while any
  // grouping that cuts after layer 1 pays 3.
  GroupingProblem p;
  p.layerWork = {1, 1, 1, 1};
  p.cutCost = {0.5, 3, 0.5, 0};
  p.finalize();
  CHECK(p.stageCost(0, 1) == 3);
  CHECK(p.stageCost(2, 3) == 3);
  CHECK(p.stageCost(1, 2) == 2);
  CHECK(p.stageCost(0, 3) == 4);
  auto three = groupOptimal(p, 3);
  REQUIRE(static_cast<bool>(three));
  CHECK(three->bottleneckUs == 2);
  CHECK(three->stageOfLayer == std::vector<unsigned>{0, 1, 1, 2});
  // Transfers that take less than the work do not change the grouping: the
  // bottleneck is the work alone (the former model, work + transfers at
  // both boundaries, gave the last stage more layers than the others).
  GroupingProblem q;
  q.layerWork.assign(10, 1);
  q.cutCost.assign(10, 0.25);
  q.cutCost.back() = 0;
  q.finalize();
  auto five = groupOptimal(q, 5);
  REQUIRE(static_cast<bool>(five));
  CHECK(five->bottleneckUs == 2);
}

TEST_CASE("grouping errors name the numbers") {
  GroupingProblem p;
  p.layerWork = {1, 2, 3};
  p.cutCost = {0.5, 0.5, 0};
  p.finalize();
  auto zero = groupOptimal(p, 0);
  REQUIRE(!zero);
  CHECK(llvm::toString(zero.takeError()).find("at least 1") !=
        std::string::npos);
  auto many = groupOptimal(p, 4);
  REQUIRE(!many);
  CHECK(llvm::toString(many.takeError()).find("--stages-count 4 is more than "
                                              "the 3 layers") !=
        std::string::npos);
}

TEST_CASE("explicit ranges and hints are checked") {
  Model model;
  for (int i = 0; i < 5; ++i) {
    Layer layer;
    layer.name = "l" + std::to_string(i);
    model.layers.push_back(layer);
  }
  GroupingProblem p;
  p.layerWork.assign(5, 1);
  p.cutCost.assign(5, 0);
  p.finalize();
  PlanOptions options;
  options.grouping = GroupingMode::Explicit;
  options.explicitStages = {{0, 1}, {2, 4}};
  auto ok = groupLayers(model, p, options);
  REQUIRE(static_cast<bool>(ok));
  CHECK(ok->stageOfLayer == std::vector<unsigned>{0, 0, 1, 1, 1});

  options.explicitStages = {{0, 1}, {3, 4}};
  auto gap = groupLayers(model, p, options);
  REQUIRE(!gap);
  CHECK(llvm::toString(gap.takeError()).find("range 3-4 (stage 1) should "
                                             "start at layer 2") !=
        std::string::npos);
  options.explicitStages = {{0, 1}, {2, 3}};
  auto shortRanges = groupLayers(model, p, options);
  REQUIRE(!shortRanges);
  CHECK(llvm::toString(shortRanges.takeError()).find("end at layer 3") !=
        std::string::npos);

  options.grouping = GroupingMode::Hints;
  model.layers[0].stageHint = 0;
  model.layers[2].stageHint = 1;
  model.layers[4].stageHint = 0;
  auto back = groupLayers(model, p, options);
  REQUIRE(!back);
  CHECK(llvm::toString(back.takeError()).find("layer 'l4'") !=
        std::string::npos);
  model.layers[4].stageHint = 3;
  auto jump = groupLayers(model, p, options);
  REQUIRE(!jump);
  CHECK(llvm::toString(jump.takeError()).find("jumps from stage 1 to 3") !=
        std::string::npos);
  model.layers[4].stageHint = 2;
  auto hints = groupLayers(model, p, options);
  REQUIRE(static_cast<bool>(hints));
  CHECK(hints->stageOfLayer == std::vector<unsigned>{0, 0, 1, 1, 2});
}
