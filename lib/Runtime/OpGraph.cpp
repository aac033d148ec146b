//===- OpGraph.cpp - Data flow between the per-layer ops of a run ---------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// The single statement of which op reads which value (StageProgram.h). The
// relations mirror PipelineTrainer::step: F of layer l at instance n reads
// its producers' activations of n and weight version step(n); B and G read
// the layer's inputs, output, cache and output-gradient parts of n; B reads
// the weight version its policy selects; U of step k reads version k and
// the gradient of the batch D_l steps older (all micro-batches of it).
//
//===----------------------------------------------------------------------===//

#include "layerpipe/runtime/StageProgram.h"

#include <algorithm>
#include <cassert>

namespace layerpipe {
namespace runtime {

const char *opKindPrefix(OpKind kind) {
  switch (kind) {
  case OpKind::Forward:
    return "F";
  case OpKind::Loss:
    return "L";
  case OpKind::ActivationGradient:
    return "B";
  case OpKind::WeightGradient:
    return "G";
  case OpKind::Update:
    return "U";
  }
  return "?";
}

uint64_t ValueRef::tag() const {
  assert(layer >= 0 && layer < (1 << 20) && slot >= 0 && slot < 256 &&
         instance >= 0 && instance < (int64_t(1) << 32));
  return (uint64_t(kind) << 60) | (uint64_t(layer) << 40) |
         (uint64_t(slot) << 32) | uint64_t(instance);
}

static bool isLoss(const LayerSpec &spec) {
  return spec.type == LayerType::SoftmaxCrossEntropy;
}

/// The distinct entries of \p v, in first-seen order.
static std::vector<int> unique(const std::vector<int> &v) {
  std::vector<int> out;
  for (int x : v)
    if (std::find(out.begin(), out.end(), x) == out.end())
      out.push_back(x);
  return out;
}

OpGraph::OpGraph(const NetSpec &net, std::vector<int64_t> delays,
                 WeightPolicy policy, unsigned microBatches, int64_t steps)
    : net_(&net), delays_(std::move(delays)), policy_(policy),
      microBatches_(std::max(1u, microBatches)), steps_(steps) {
  size_t numLayers = net.layers.size();
  assert(delays_.size() == numLayers && "one delay per layer");
  deltaParts_.assign(numLayers, {});
  // The trainer adds the parts of a producer's gradient as its consumers'
  // backward tasks run: step j + D_c, and within a step from the last layer
  // back, each consumer's input slots in order.
  std::vector<int> order(numLayers);
  for (size_t c = 0; c < numLayers; ++c)
    order[c] = int(c);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
    if (delays_[size_t(a)] != delays_[size_t(b)])
      return delays_[size_t(a)] < delays_[size_t(b)];
    return a > b;
  });
  for (int c : order) {
    const LayerSpec &spec = net.layers[size_t(c)];
    for (size_t s = 0; s < spec.inputs.size(); ++s)
      deltaParts_[size_t(spec.inputs[s])].push_back({c, int(s)});
  }
}

bool OpGraph::hasOp(OpKind kind, int layer) const {
  const LayerSpec &spec = net_->layers[size_t(layer)];
  switch (kind) {
  case OpKind::Forward:
    return !isLoss(spec);
  case OpKind::Loss:
    return isLoss(spec);
  case OpKind::ActivationGradient:
    return !isLoss(spec) && !spec.inputs.empty();
  case OpKind::WeightGradient:
  case OpKind::Update:
    return spec.hasParams();
  }
  return false;
}

bool OpGraph::exists(const OpRef &op) const {
  if (!hasOp(op.kind, op.layer) || op.instance < 0)
    return false;
  switch (op.kind) {
  case OpKind::Forward:
  case OpKind::Loss:
    return op.instance < instances();
  case OpKind::ActivationGradient:
  case OpKind::WeightGradient:
    return stepOf(op.instance) + delay(op.layer) < steps_;
  case OpKind::Update:
    return op.instance < steps_;
  }
  return false;
}

int64_t OpGraph::backwardWeightStep(int layer, int64_t instance) const {
  if (policy_ == WeightPolicy::Latest || policy_ == WeightPolicy::Ema)
    return stepOf(instance) + delay(layer);
  return stepOf(instance);
}

std::vector<ValueRef> OpGraph::inputs(const OpRef &op) const {
  const LayerSpec &spec = net_->layers[size_t(op.layer)];
  std::vector<ValueRef> in;
  auto add = [&](ValueKind kind, int layer, int slot, int64_t instance) {
    in.push_back({kind, layer, slot, instance});
  };
  int64_t n = op.instance;
  if (op.kind == OpKind::Update) {
    add(ValueKind::Weights, op.layer, 0, n);
    int64_t from = n - delay(op.layer);
    if (updateReadsForward_ && delay(op.layer) > 0 && from >= 0)
      add(ValueKind::Weights, op.layer, 0, from);
    if (from >= 0)
      for (unsigned m = 0; m < microBatches_; ++m)
        add(ValueKind::WeightGradient, op.layer, 0,
            from * int64_t(microBatches_) + m);
    return in;
  }
  for (int p : unique(spec.inputs))
    add(ValueKind::Activation, p, 0, n);
  switch (op.kind) {
  case OpKind::Forward:
    if (spec.hasParams())
      add(ValueKind::Weights, op.layer, 0, stepOf(n));
    break;
  case OpKind::Loss:
  case OpKind::Update:
    break;
  case OpKind::ActivationGradient:
  case OpKind::WeightGradient:
    add(ValueKind::Activation, op.layer, 0, n);
    add(ValueKind::Cache, op.layer, 0, n);
    for (auto [c, s] : deltaParts(op.layer))
      add(ValueKind::DeltaPart, c, s, n);
    if (op.kind == OpKind::ActivationGradient && spec.hasParams())
      add(ValueKind::Weights, op.layer, 0,
          backwardWeightStep(op.layer, n));
    break;
  }
  return in;
}

bool OpGraph::producer(const ValueRef &value, OpRef &op) const {
  const LayerSpec &spec = net_->layers[size_t(value.layer)];
  switch (value.kind) {
  case ValueKind::Activation:
  case ValueKind::Cache:
    op = {isLoss(spec) ? OpKind::Loss : OpKind::Forward, value.layer,
          value.instance};
    return true;
  case ValueKind::DeltaPart:
    op = {isLoss(spec) ? OpKind::Loss : OpKind::ActivationGradient,
          value.layer, value.instance};
    return true;
  case ValueKind::WeightGradient:
    op = {OpKind::WeightGradient, value.layer, value.instance};
    return true;
  case ValueKind::Weights:
    if (value.instance == 0)
      return false;
    op = {OpKind::Update, value.layer, value.instance - 1};
    return true;
  case ValueKind::Result:
  case ValueKind::SnapshotWeights:
  case ValueKind::SnapshotState:
    return false;
  }
  return false;
}

std::vector<OpRef> OpGraph::readers(const ValueRef &value) const {
  std::vector<OpRef> out;
  auto add = [&](OpKind kind, int layer, int64_t instance) {
    OpRef op{kind, layer, instance};
    if (exists(op))
      out.push_back(op);
  };
  auto backward = [&](int layer, int64_t instance) {
    add(OpKind::ActivationGradient, layer, instance);
    add(OpKind::WeightGradient, layer, instance);
  };
  const NetSpec &net = *net_;
  int l = value.layer;
  int64_t n = value.instance;
  int64_t M = microBatches_;
  switch (value.kind) {
  case ValueKind::Activation:
    for (int c : unique(net.consumers[size_t(l)])) {
      bool loss = isLoss(net.layers[size_t(c)]);
      add(loss ? OpKind::Loss : OpKind::Forward, c, n);
      backward(c, n);
    }
    backward(l, n);
    break;
  case ValueKind::Cache:
    backward(l, n);
    break;
  case ValueKind::DeltaPart:
    backward(net.layers[size_t(l)].inputs[size_t(value.slot)], n);
    break;
  case ValueKind::WeightGradient:
    add(OpKind::Update, l, stepOf(n) + delay(l));
    break;
  case ValueKind::Weights:
    for (int64_t m = 0; m < M; ++m)
      add(OpKind::Forward, l, n * M + m);
    add(OpKind::Update, l, n);
    if (updateReadsForward_ && delay(l) > 0)
      add(OpKind::Update, l, n + delay(l));
    if (policy_ == WeightPolicy::Latest || policy_ == WeightPolicy::Ema) {
      if (n - delay(l) >= 0)
        for (int64_t m = 0; m < M; ++m)
          add(OpKind::ActivationGradient, l, (n - delay(l)) * M + m);
    } else {
      for (int64_t m = 0; m < M; ++m)
        add(OpKind::ActivationGradient, l, n * M + m);
    }
    break;
  case ValueKind::Result:
  case ValueKind::SnapshotWeights:
  case ValueKind::SnapshotState:
    break;
  }
  return out;
}

} // namespace runtime
} // namespace layerpipe
