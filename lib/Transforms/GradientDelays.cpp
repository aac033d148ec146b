//===- GradientDelays.cpp - Delayed-gradient adaptation -------------------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// The delay rules (none, layerpipe2, uniform:K, model fields, auto), the
// ordering check D_producer >= D_consumer, and the insertion of the delays
// on the weight-gradient edges. `auto` searches, stage by stage from the
// output back to the input, the fewest delays that still let FEAS retime the
// graph to the target period.
//
//===----------------------------------------------------------------------===//

#include "layerpipe/Transforms/GradientDelays.h"
#include "layerpipe/Transforms/Retiming.h"

#include "llvm/Support/FormatVariadic.h"

#include <algorithm>
#include <cassert>

using namespace llvm;

namespace layerpipe {

std::vector<int64_t> layerPipe2Delays(ArrayRef<unsigned> stageOfLayer,
                                      unsigned numStages) {
  std::vector<int64_t> delays(stageOfLayer.size());
  for (size_t l = 0; l < stageOfLayer.size(); ++l)
    delays[l] = 2 * int64_t(numStages - 1 - stageOfLayer[l]);
  return delays;
}

Error checkDelayOrder(const Model &model, ArrayRef<int64_t> delays) {
  for (unsigned v = 0; v < model.layers.size(); ++v) {
    if (delays[v] < 0 || delays[v] > kMaxGradientDelay)
      return createStringError(inconvertibleErrorCode(),
                               "layer '%s' has gradient delay %lld; delays "
                               "must be in [0, %lld]",
                               model.layers[v].name.c_str(),
                               (long long)delays[v],
                               (long long)kMaxGradientDelay);
    for (unsigned u : model.layers[v].inputs)
      if (delays[u] < delays[v])
        return createStringError(
            inconvertibleErrorCode(),
            "layer '%s' has gradient delay %lld but its producer '%s' has "
            "%lld; a producer's delay must be at least its consumer's (its "
            "backward runs after theirs)",
            model.layers[v].name.c_str(), (long long)delays[v],
            model.layers[u].name.c_str(), (long long)delays[u]);
  }
  return Error::success();
}

/// Parameter-free layers: the largest delay of their consumers, 0 if none.
static void fillParameterFree(const Model &model, std::vector<int64_t> &delays) {
  auto consumers = model.consumers();
  for (int l = int(model.layers.size()) - 1; l >= 0; --l) {
    if (model.layers[l].hasWeights())
      continue;
    int64_t d = 0;
    for (unsigned c : consumers[l])
      d = std::max(d, delays[c]);
    delays[l] = d;
  }
}

Expected<std::vector<int64_t>>
computeGradientDelays(const Model &model, ArrayRef<unsigned> stageOfLayer,
                      unsigned numStages, const PlanOptions &options) {
  size_t numLayers = model.layers.size();
  std::vector<int64_t> delays(numLayers, 0);
  switch (options.delays) {
  case DelayRule::None:
    return delays;
  case DelayRule::LayerPipe2:
    return layerPipe2Delays(stageOfLayer, numStages);
  case DelayRule::Uniform:
    if (options.uniformDelay < 0)
      return createStringError(inconvertibleErrorCode(),
                               "--delays=uniform:%lld: K must be >= 0",
                               (long long)options.uniformDelay);
    for (size_t l = 0; l < numLayers; ++l)
      if (model.layers[l].hasWeights())
        delays[l] = options.uniformDelay;
    break;
  case DelayRule::FromModel:
    for (size_t l = 0; l < numLayers; ++l)
      if (model.layers[l].hasWeights() && model.layers[l].gradientDelay)
        delays[l] = *model.layers[l].gradientDelay;
    break;
  case DelayRule::Auto:
    llvm_unreachable("auto delays need the DFG: autoGradientDelays");
  }
  fillParameterFree(model, delays);
  if (Error err = checkDelayOrder(model, delays))
    return err;
  return delays;
}

void addGradientDelay(TrainingDFG &dfg, unsigned edge, int64_t delays) {
  assert(dfg.edges[edge].kind == EdgeKind::WeightGradient &&
         "gradient delays go on weight-gradient edges only");
  assert(delays >= 0 && "delays are non-negative");
  dfg.edges[edge].delay += delays;
}

Error insertGradientDelays(TrainingDFG &dfg, const Model &model,
                           ArrayRef<int64_t> delays) {
  assert(delays.size() == model.layers.size());
  std::vector<int> weightEdge(model.layers.size(), -1);
  for (unsigned e = 0; e < dfg.edges.size(); ++e) {
    const Edge &edge = dfg.edges[e];
    if (edge.kind == EdgeKind::WeightGradient &&
        dfg.tasks[edge.dst].kind == TaskKind::Update)
      weightEdge[dfg.tasks[edge.dst].layer] = e;
  }
  for (unsigned l = 0; l < model.layers.size(); ++l) {
    if (delays[l] < 0)
      return createStringError(inconvertibleErrorCode(),
                               "layer '%s': gradient delay %lld is negative",
                               model.layers[l].name.c_str(),
                               (long long)delays[l]);
    if (weightEdge[l] >= 0) {
      addGradientDelay(dfg, weightEdge[l], delays[l]);
      continue;
    }
    // A parameter-free layer's delay only says when its backward runs.
    if (model.layers[l].hasWeights() && delays[l] > 0)
      return createStringError(
          inconvertibleErrorCode(),
          "layer '%s' has weights but no weight-gradient edge in the DFG to "
          "put its %lld gradient delays on",
          model.layers[l].name.c_str(), (long long)delays[l]);
  }
  return Error::success();
}

/// Per-stage delays to per-layer ones.
static std::vector<int64_t> spreadStageDelays(ArrayRef<unsigned> stageOfLayer,
                                              ArrayRef<int64_t> stageDelay) {
  std::vector<int64_t> delays(stageOfLayer.size());
  for (size_t l = 0; l < stageOfLayer.size(); ++l)
    delays[l] = stageDelay[stageOfLayer[l]];
  return delays;
}

Expected<std::vector<int64_t>>
autoGradientDelays(const TrainingDFG &plainDFG, const Model &model,
                   ArrayRef<unsigned> stageOfLayer, unsigned numStages,
                   double targetPeriodUs, double *achievedTargetUs) {
  std::vector<int64_t> stageDelay(numStages);
  for (unsigned s = 0; s < numStages; ++s)
    stageDelay[s] = 2 * int64_t(numStages - 1 - s);
  // FEAS moves each lag by at most one per round, and the lags a staged
  // pipeline needs stay below the largest loop delay plus a few; on graphs
  // too big for the general retiming, FEAS is cut off there (so a "no" may
  // keep a delay that was not needed, never the other way round).
  size_t maxRounds = SIZE_MAX;
  if (plainDFG.tasks.size() > kMaxGeneralRetimingTasks)
    maxRounds = 4 * (2 * size_t(numStages) + 2) + 16;
  auto feasible = [&](ArrayRef<int64_t> perStage, double period) {
    TrainingDFG dfg = plainDFG;
    if (Error err = insertGradientDelays(
            dfg, model, spreadStageDelays(stageOfLayer, perStage))) {
      consumeError(std::move(err));
      return false;
    }
    return retimeFeasible(dfg, period, maxRounds).has_value();
  };
  double target = targetPeriodUs;
  if (!feasible(stageDelay, target)) {
    // layerpipe2 cannot reach the target: aim at what its stage retiming
    // reaches instead (never more delays than layerpipe2).
    TrainingDFG dfg = plainDFG;
    if (Error err = insertGradientDelays(
            dfg, model, spreadStageDelays(stageOfLayer, stageDelay)))
      return err;
    auto r = retimeByStages(dfg, model, stageOfLayer, numStages);
    if (!r)
      return r.takeError();
    applyRetiming(dfg, *r);
    auto period = computeClockPeriod(dfg);
    if (!period)
      return period.takeError();
    target = *period;
  }
  // From the output stage back to the input: each stage's delay is at least
  // the next stage's (D_producer >= D_consumer) and feasibility is monotone
  // in it (an extra delay never lengthens a zero-delay path).
  for (int s = int(numStages) - 2; s >= 0; --s) {
    int64_t lo = stageDelay[s + 1], hi = stageDelay[s];
    while (lo < hi) {
      int64_t mid = lo + (hi - lo) / 2;
      std::vector<int64_t> trial = stageDelay;
      trial[s] = mid;
      if (feasible(trial, target))
        hi = mid;
      else
        lo = mid + 1;
    }
    stageDelay[s] = lo;
  }
  if (achievedTargetUs)
    *achievedTargetUs = target;
  return spreadStageDelays(stageOfLayer, stageDelay);
}

} // namespace layerpipe
