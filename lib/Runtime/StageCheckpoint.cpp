//===- StageCheckpoint.cpp - Cuts of a stage program's run ---------------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//

#include "StageCheckpoint.h"

#include <algorithm>

namespace layerpipe {
namespace runtime {

std::vector<ValueRef> Cut::outputs(const OpRef &op) const {
  const LayerSpec &spec = graph_.net().layers[size_t(op.layer)];
  std::vector<ValueRef> out;
  switch (op.kind) {
  case OpKind::Forward:
    out.push_back({ValueKind::Activation, op.layer, 0, op.instance});
    out.push_back({ValueKind::Cache, op.layer, 0, op.instance});
    break;
  case OpKind::Loss:
  case OpKind::ActivationGradient:
    for (size_t s = 0; s < spec.inputs.size(); ++s)
      out.push_back({ValueKind::DeltaPart, op.layer, int(s), op.instance});
    break;
  case OpKind::WeightGradient:
    out.push_back({ValueKind::WeightGradient, op.layer, 0, op.instance});
    break;
  case OpKind::Update:
    out.push_back({ValueKind::Weights, op.layer, 0, op.instance + 1});
    break;
  }
  return out;
}

bool Cut::runs(const OpRef &op) {
  if (!graph_.exists(op))
    return false;
  if (K_ < 0)
    return true;
  int64_t step = op.kind == OpKind::Update ? op.instance
                                           : graph_.stepOf(op.instance);
  switch (op.kind) {
  case OpKind::Update:
    return step > K_;
  case OpKind::Forward:
    // A layer's forward passes run from the first one still needed on: a
    // batchnorm layer's running statistics must see every one of them in
    // order, even one whose outputs nobody reads any more (near the run's
    // end, batches in flight have no backward pass).
    return step > K_ || op.instance >= firstForward(op.layer);
  case OpKind::Loss:
    if (step > K_)
      return true;
    break;
  case OpKind::WeightGradient:
    return step + graph_.delay(op.layer) > K_;
  case OpKind::ActivationGradient:
    break;
  }
  return needed(op);
}

int64_t Cut::firstForward(int layer) {
  auto it = firstForward_.find(layer);
  if (it != firstForward_.end())
    return it->second;
  int64_t M = graph_.microBatches(), maxDelay = 0;
  for (size_t l = 0; l < graph_.net().layers.size(); ++l)
    maxDelay = std::max(maxDelay, graph_.delay(int(l)));
  int64_t first = (K_ + 1) * M;
  for (int64_t n = std::max<int64_t>(0, (K_ - maxDelay - 1) * M);
       n < (K_ + 1) * M; ++n) {
    OpRef op{OpKind::Forward, layer, n};
    if (graph_.exists(op) && needed(op)) {
      first = n;
      break;
    }
  }
  firstForward_[layer] = first;
  return first;
}

bool Cut::needed(const OpRef &op) {
  // Needed only if a reader runs; readers are ops of the same instance on
  // later layers or backward ops, so the recursion ends.
  uint64_t key = ValueRef{ValueKind(uint8_t(op.kind)), op.layer, 0,
                          op.instance}
                     .tag();
  auto it = memo_.find(key);
  if (it != memo_.end())
    return it->second;
  bool needed = false;
  for (const ValueRef &v : outputs(op)) {
    for (const OpRef &r : graph_.readers(v))
      if (runs(r)) {
        needed = true;
        break;
      }
    if (needed)
      break;
  }
  memo_[key] = needed;
  return needed;
}

CutPlan planCut(const OpGraph &graph, const ProgramPlan &plan, unsigned me,
                int64_t K, const std::vector<bool> &stateful) {
  CutPlan cp;
  cp.K = K;
  Cut cut(graph, K);
  const NetSpec &net = graph.net();
  int64_t maxDelay = 0;
  for (size_t l = 0; l < net.layers.size(); ++l)
    maxDelay = std::max(maxDelay, graph.delay(int(l)));
  int64_t M = graph.microBatches();
  int64_t first = std::max<int64_t>(0, K - maxDelay - 2);
  int64_t last = std::min<int64_t>(graph.steps() - 1, K + maxDelay + 2);
  const OpKind kinds[] = {OpKind::Forward, OpKind::Loss,
                          OpKind::ActivationGradient, OpKind::WeightGradient,
                          OpKind::Update};
  for (int64_t step = first; step <= last; ++step)
    for (size_t l = 0; l < net.layers.size(); ++l)
      for (OpKind kind : kinds) {
        if (plan.placement[l][size_t(kind)] != int(me) ||
            !graph.hasOp(kind, int(l)))
          continue;
        int64_t count = kind == OpKind::Update ? 1 : M;
        for (int64_t m = 0; m < count; ++m) {
          OpRef op{kind, int(l),
                   kind == OpKind::Update ? step : step * M + m};
          if (!cut.runs(op))
            continue;
          for (const ValueRef &v : graph.inputs(op))
            if (cut.restored(v))
              cp.weights.insert(v.tag());
          if (kind == OpKind::Forward && stateful[l] &&
              !cp.stateBefore.count(int(l)))
            cp.stateBefore[int(l)] = op.instance;
        }
      }
  return cp;
}

} // namespace runtime
} // namespace layerpipe
