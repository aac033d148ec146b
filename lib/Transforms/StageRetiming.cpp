//===- StageRetiming.cpp - Linear-time cutset retiming by stage -----------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// The structured path for staged networks. Every stage boundary is a
// feed-forward cutset of the training DFG (forward edges cross it one way,
// gradient edges the other), so the lags below put exactly one register on
// each boundary crossing and the rest of each weight loop's delays on the
// saved activations and the weight edges. One pass over tasks and edges;
// this is what retimes 10,000-layer networks. docs/retiming.md derives it.
//
//===----------------------------------------------------------------------===//

#include "layerpipe/Transforms/Retiming.h"

#include "llvm/Support/FormatVariadic.h"

#include <algorithm>
#include <limits>

using namespace llvm;

namespace layerpipe {

Expected<Retiming> retimeByStages(const TrainingDFG &dfg, const Model &model,
                                  ArrayRef<unsigned> stageOfLayer,
                                  unsigned numStages) {
  assert(numStages >= 1 && stageOfLayer.size() == model.layers.size());
  const int64_t last = numStages - 1;
  // The delay on each layer's weight-gradient edge (the loop's extra delays).
  std::vector<int64_t> loopDelay(model.layers.size(),
                                 std::numeric_limits<int64_t>::max());
  for (const Edge &edge : dfg.edges)
    if (edge.kind == EdgeKind::WeightGradient) {
      unsigned layer = dfg.tasks[edge.dst].layer;
      loopDelay[layer] = std::min(loopDelay[layer], edge.delay);
    }
  Retiming r(dfg.tasks.size(), 0);
  for (unsigned v = 0; v < dfg.tasks.size(); ++v) {
    const Task &task = dfg.tasks[v];
    int64_t s = stageOfLayer[task.layer];
    int64_t downstream = last - s;
    switch (task.kind) {
    case TaskKind::Forward:
    case TaskKind::Loss:
      r[v] = s;
      break;
    case TaskKind::ActivationGradient:
    case TaskKind::WeightGradient:
    case TaskKind::Backward:
      r[v] = 2 * last - s;
      break;
    case TaskKind::Update: {
      int64_t d = loopDelay[task.layer];
      if (d == std::numeric_limits<int64_t>::max() || d >= 2 * downstream) {
        r[v] = s;
        break;
      }
      if (d == 2 * downstream - 1) {
        r[v] = s + 1;
        break;
      }
      return createStringError(
          inconvertibleErrorCode(),
          "layer '%s' (stage %lld of %u) has %lld gradient delays; the stage "
          "retiming needs at least %lld (2 per downstream stage, minus one)",
          model.layers[task.layer].name.c_str(), (long long)s, numStages,
          (long long)d, (long long)(2 * downstream - 1));
    }
    }
  }
  if (Error err = checkRetimingLegal(dfg, r))
    return err;
  return r;
}

} // namespace layerpipe
