//===- MemoryTest.cpp - The staleness and memory report -------------------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// The report's figures recomputed by hand from the model and the stage
// retiming's closed form (docs/memory.md): weight versions = D_l for layers
// whose B reads weights, 2S(l) saved registers, policies side by side.
//
//===----------------------------------------------------------------------===//

#include "layerpipe/Transforms/GradientDelays.h"
#include "layerpipe/Transforms/Grouping.h"
#include "layerpipe/Transforms/Memory.h"
#include "layerpipe/Transforms/Retiming.h"

#include <doctest/doctest.h>

using namespace layerpipe;

TEST_CASE("memory report of a layerpipe2 stage retiming, by hand") {
  auto model = loadModel(LAYERPIPE_SOURCE_DIR "/models/lenet5.json");
  REQUIRE(static_cast<bool>(model));
  MachineDesc machine;
  auto plain = buildTrainingDFG(*model, machine);
  REQUIRE(static_cast<bool>(plain));
  const unsigned M = 3;
  auto grouping =
      groupOptimal(GroupingProblem::build(*model, *plain, machine), M);
  REQUIRE(static_cast<bool>(grouping));
  PipelinePlan plan;
  plan.numStages = M;
  plan.stageOfLayer = grouping->stageOfLayer;
  plan.gradientDelay = layerPipe2Delays(plan.stageOfLayer, M);
  TrainingDFG dfg = *plain;
  REQUIRE(!insertGradientDelays(dfg, *model, plan.gradientDelay));
  auto r = retimeByStages(dfg, *model, plan.stageOfLayer, M);
  REQUIRE(static_cast<bool>(r));
  applyRetiming(dfg, *r);

  PlanOptions options;
  options.weights = WeightPolicy::Stash;
  MemoryReport stash = computeMemoryReport(*model, dfg, plan, options, machine);
  options.weights = WeightPolicy::Ema;
  MemoryReport ema = computeMemoryReport(*model, dfg, plan, options, machine);
  options.momentum = false;
  MemoryReport emaBuffer =
      computeMemoryReport(*model, dfg, plan, options, machine);

  int64_t params = 0, versions = 0, buffers = 0, saved = 0;
  for (unsigned l = 0; l < model->layers.size(); ++l) {
    const Layer &layer = model->layers[l];
    int64_t p = layer.params * machine.bytesPerElement;
    int64_t d = plan.gradientDelay[l];
    int64_t downstream = M - 1 - plan.stageOfLayer[l];
    params += p;
    const LayerTasks &lt = dfg.layerTasks[l];
    bool backwardReadsWeights =
        layer.hasWeights() && lt.activationGradient >= 0;
    CHECK(stash.layers[l].weightVersions == (backwardReadsWeights ? d : 0));
    CHECK(stash.layers[l].backwardStaleness == (layer.hasWeights() ? d : 0));
    CHECK(stash.layers[l].forwardStaleness == 0);
    if (backwardReadsWeights)
      versions += p * d;
    if (layer.hasWeights() && d > 0)
      buffers += p;
    // The largest saved tensor of the layer, held 2S + 1 batches.
    int64_t savedBytes = 0;
    for (const Edge &e : dfg.edges)
      if (e.kind == EdgeKind::Saved && dfg.tasks[e.src].layer == l)
        savedBytes = std::max(savedBytes, e.bytes);
    if (savedBytes > 0) {
      CHECK(stash.layers[l].savedRegisters == 2 * downstream);
      saved += savedBytes * (2 * downstream + 1);
    }
  }
  CHECK(stash.total.parameters == params);
  CHECK(stash.total.optimizerState == params);
  CHECK(stash.total.weightVersions == versions);
  CHECK(versions > 0);
  CHECK(ema.total.weightVersions == 0);
  CHECK(ema.total.movingAverage == 0);
  CHECK(emaBuffer.total.movingAverage == buffers);
  CHECK(emaBuffer.total.optimizerState == 0);
  // Forward registers: one per boundary crossed, so at least the saved part.
  CHECK(stash.total.activations >= saved);
  CHECK(stash.totalByPolicy[size_t(WeightPolicy::Stash)] ==
        stash.totalByPolicy[size_t(WeightPolicy::Latest)] + versions);
  CHECK(stash.totalByPolicy[size_t(WeightPolicy::Ema)] ==
        stash.totalByPolicy[size_t(WeightPolicy::Latest)]);
  CHECK(stash.totalByPolicy[size_t(WeightPolicy::Sync)] <
        stash.totalByPolicy[size_t(WeightPolicy::Latest)]);
  CHECK(stash.total.total() == stash.totalByPolicy[size_t(WeightPolicy::Stash)]);
  CHECK(ema.total.total() == ema.totalByPolicy[size_t(WeightPolicy::Ema)]);
  int64_t stageSum = 0;
  for (const MemoryBreakdown &m : stash.perStage)
    stageSum += m.total();
  CHECK(stageSum == stash.total.total());
}
