//===- PlanningTest.cpp - Delays and retiming on real and random models ---===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// The stage retiming against the general algorithms on every model of
// models/ and on random networks with skip connections: both verified, the
// general minimum period never worse, the minimum-memory retiming at the
// stage retiming's period never using more bytes. Plus the delay rules.
//
//===----------------------------------------------------------------------===//

#include "layerpipe/Transforms.h"
#include "layerpipe/Transforms/GradientDelays.h"
#include "layerpipe/Transforms/Grouping.h"
#include "layerpipe/Transforms/Memory.h"
#include "layerpipe/Transforms/Retiming.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"

#include <doctest/doctest.h>

#include <random>

using namespace layerpipe;

static std::vector<std::string> zooModels() {
  std::vector<std::string> paths;
  std::error_code ec;
  for (llvm::sys::fs::directory_iterator it(LAYERPIPE_SOURCE_DIR "/models",
                                            ec),
       end;
       it != end && !ec; it.increment(ec))
    if (llvm::sys::path::extension(it->path()) == ".json")
      paths.push_back(it->path());
  std::sort(paths.begin(), paths.end());
  return paths;
}

/// A random network: dense/relu layers of width 16 with skip additions.
static Model randomModel(std::mt19937 &rng, unsigned numLayers) {
  std::string json = R"({"name":"random","input":{"shape":[16]},)"
                     R"("batch_size":8,"layers":[)";
  std::uniform_int_distribution<int> pick(0, 2);
  for (unsigned l = 0; l < numLayers; ++l) {
    int kind = l < 2 ? int(l % 2) : pick(rng);
    std::string name = "l" + std::to_string(l);
    if (kind == 2) {
      std::uniform_int_distribution<unsigned> earlier(0, l - 2);
      json += R"({"name":")" + name + R"(","type":"add","inputs":["l)" +
              std::to_string(l - 1) + R"(","l)" +
              std::to_string(earlier(rng)) + R"("]},)";
    } else {
      json += R"({"name":")" + name + R"(","type":")" +
              (kind == 0 ? R"(dense","units":16)" : R"(relu")") + "},";
    }
  }
  json += R"({"name":"out","type":"dense","units":4},)"
          R"({"name":"loss","type":"softmax_cross_entropy"}]})";
  auto model = parseModel(json, "random.json");
  REQUIRE_MESSAGE(static_cast<bool>(model), llvm::toString(model.takeError()));
  return std::move(*model);
}

/// Groups optimally into \p numStages, inserts layerpipe2 delays, and checks
/// the stage retiming against the general algorithms.
static void crossCheck(const Model &model, unsigned numStages,
                       bool general = true) {
  MachineDesc machine;
  auto plain = buildTrainingDFG(model, machine);
  REQUIRE(static_cast<bool>(plain));
  auto grouping = groupOptimal(
      GroupingProblem::build(model, *plain, machine), numStages);
  REQUIRE(static_cast<bool>(grouping));
  std::vector<int64_t> delays =
      layerPipe2Delays(grouping->stageOfLayer, numStages);
  for (size_t l = 0; l < model.layers.size(); ++l)
    CHECK(delays[l] == 2 * int64_t(numStages - 1 - grouping->stageOfLayer[l]));
  CHECK(!checkDelayOrder(model, delays));
  TrainingDFG dfg = *plain;
  REQUIRE(!insertGradientDelays(dfg, model, delays));

  auto stages = retimeByStages(dfg, model, grouping->stageOfLayer, numStages);
  REQUIRE_MESSAGE(static_cast<bool>(stages),
                  llvm::toString(stages.takeError()));
  TrainingDFG staged = dfg;
  applyRetiming(staged, *stages);
  auto stagePeriod = computeClockPeriod(staged);
  REQUIRE(static_cast<bool>(stagePeriod));
  CHECK(!verifyRetiming(dfg, staged, *stagePeriod));
  // Every forward edge crossing k stage boundaries holds k registers.
  for (const Edge &e : staged.edges)
    if (e.kind == EdgeKind::Activation)
      CHECK(e.delay == grouping->stageOfLayer[staged.tasks[e.dst].layer] -
                           grouping->stageOfLayer[staged.tasks[e.src].layer]);
  if (!general)
    return;

  auto fastest = retimeMinPeriod(dfg);
  REQUIRE(static_cast<bool>(fastest));
  CHECK(fastest->periodUs <= *stagePeriod * (1 + 1e-12));
  TrainingDFG best = dfg;
  applyRetiming(best, fastest->r);
  CHECK(!verifyRetiming(dfg, best, fastest->periodUs));

  auto groups = registerGroups(dfg, WeightPolicy::Stash);
  auto frugal = retimeMinMemory(dfg, *stagePeriod, groups, *stages);
  REQUIRE(static_cast<bool>(frugal));
  TrainingDFG small = dfg;
  applyRetiming(small, frugal->r);
  CHECK(!verifyRetiming(dfg, small, frugal->periodUs));
  CHECK(frugal->periodUs <= *stagePeriod * (1 + 1e-12));
  CHECK(registerBytes(small, groups) <= registerBytes(staged, groups));
}

TEST_CASE("stage retiming vs general retiming on every model in models/") {
  auto paths = zooModels();
  REQUIRE(paths.size() >= 3);
  for (const std::string &path : paths) {
    CAPTURE(path);
    auto model = loadModel(path);
    REQUIRE_MESSAGE(static_cast<bool>(model),
                    llvm::toString(model.takeError()));
    bool big = model->layers.size() > 300; // resnet110: general once
    for (unsigned s : {2u, 4u})
      if (s <= model->layers.size())
        crossCheck(*model, s, !big || s == 4);
  }
}

TEST_CASE("stage retiming vs general retiming on random networks") {
  std::mt19937 rng(99);
  for (int trial = 0; trial < 25; ++trial) {
    Model model = randomModel(rng, 4 + trial % 12);
    unsigned s = 1 + trial % std::min<unsigned>(5, model.layers.size());
    CAPTURE(trial);
    crossCheck(model, s);
  }
}

TEST_CASE("delays go only on weight-gradient edges") {
  auto model = loadModel(LAYERPIPE_SOURCE_DIR "/models/lenet5.json");
  REQUIRE(static_cast<bool>(model));
  auto plain = buildTrainingDFG(*model, MachineDesc());
  REQUIRE(static_cast<bool>(plain));
  TrainingDFG dfg = *plain;
  std::vector<int64_t> delays(model->layers.size(), 3);
  REQUIRE(!insertGradientDelays(dfg, *model, delays));
  int changed = 0;
  for (size_t e = 0; e < dfg.edges.size(); ++e) {
    if (dfg.edges[e].delay == plain->edges[e].delay)
      continue;
    ++changed;
    CHECK(dfg.edges[e].kind == EdgeKind::WeightGradient);
    CHECK(dfg.edges[e].delay == plain->edges[e].delay + 3);
  }
  int weightLayers = 0;
  for (const Layer &layer : model->layers)
    weightLayers += layer.hasWeights();
  CHECK(changed == weightLayers);
}

TEST_CASE("delay rules: order check, model fields, uniform, planStagesAndDelays") {
  auto model = loadModel(LAYERPIPE_SOURCE_DIR "/models/mlp.json");
  REQUIRE(static_cast<bool>(model));
  std::vector<unsigned> oneStage(model->layers.size(), 0);
  PlanOptions options;
  options.delays = DelayRule::FromModel;
  model->layers[0].gradientDelay = 1; // fc1
  model->layers[2].gradientDelay = 2; // fc2 after fc1: breaks the order
  auto bad = computeGradientDelays(*model, oneStage, 1, options);
  REQUIRE(!bad);
  std::string msg = llvm::toString(bad.takeError());
  CHECK(msg.find("producer") != std::string::npos);
  CHECK(msg.find("has 1") != std::string::npos);

  options.delays = DelayRule::Uniform;
  options.uniformDelay = 3;
  auto uniform = computeGradientDelays(*model, oneStage, 1, options);
  REQUIRE(static_cast<bool>(uniform));
  // fc3 feeds the loss: the relu before it takes fc3's delay.
  CHECK(*uniform == std::vector<int64_t>{3, 3, 3, 3, 3, 0});

  auto resnet = loadModel(LAYERPIPE_SOURCE_DIR "/models/resnet56.json");
  REQUIRE(static_cast<bool>(resnet));
  options = PlanOptions();
  options.stagesCount = 4;
  options.delays = DelayRule::LayerPipe2;
  auto plan = planStagesAndDelays(*resnet, MachineDesc(), options);
  REQUIRE(static_cast<bool>(plan));
  for (size_t l = 0; l < resnet->layers.size(); ++l)
    CHECK(plan->second[l] == 2 * (3 - int64_t(plan->first[l])));
  CHECK(plan->first.back() == 3);
}

TEST_CASE("auto delays: never more than layerpipe2, and reach the target") {
  auto model = loadModel(LAYERPIPE_SOURCE_DIR "/models/resnet20.json");
  REQUIRE(static_cast<bool>(model));
  MachineDesc machine;
  auto plain = buildTrainingDFG(*model, machine);
  REQUIRE(static_cast<bool>(plain));
  for (unsigned procs : {2u, 4u}) {
    auto grouping =
        groupOptimal(GroupingProblem::build(*model, *plain, machine), procs);
    REQUIRE(static_cast<bool>(grouping));
    double total = 0;
    for (const Task &t : plain->tasks)
      total += t.timeUs;
    double target = 0;
    auto delays = autoGradientDelays(*plain, *model, grouping->stageOfLayer,
                                     procs, total / procs, &target);
    REQUIRE(static_cast<bool>(delays));
    auto lp2 = layerPipe2Delays(grouping->stageOfLayer, procs);
    int64_t sumAuto = 0, sumLp2 = 0;
    for (size_t l = 0; l < delays->size(); ++l) {
      CHECK((*delays)[l] <= lp2[l]);
      sumAuto += (*delays)[l];
      sumLp2 += lp2[l];
    }
    CHECK(sumAuto < sumLp2);
    CHECK(!checkDelayOrder(*model, *delays));
    TrainingDFG dfg = *plain;
    REQUIRE(!insertGradientDelays(dfg, *model, *delays));
    auto fastest = retimeMinPeriod(dfg);
    REQUIRE(static_cast<bool>(fastest));
    CHECK(fastest->periodUs <= target * (1 + 1e-9));
  }
}
