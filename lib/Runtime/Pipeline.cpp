//===- Pipeline.cpp - The sequential oracle of a delayed pipeline ---------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// One training step of a delayed pipeline, run sequentially: forward of the
// newest batch, then the backward tasks each layer owes for the batch D_l
// steps old, then the updates. Tensors of finished batches are recycled (their
// allocations kept), so after the first steps a step allocates nothing; the
// memory report counts only live tensors.
//
//===----------------------------------------------------------------------===//

#include "layerpipe/runtime/Pipeline.h"

#include <algorithm>
#include <cassert>

namespace layerpipe {
namespace runtime {

const char *weightPolicyName(WeightPolicy policy) {
  switch (policy) {
  case WeightPolicy::Sync:
    return "sync";
  case WeightPolicy::Stash:
    return "stash";
  case WeightPolicy::Latest:
    return "latest";
  case WeightPolicy::Ema:
    return "ema";
  }
  return "?";
}

static int64_t vectorBytes(const std::vector<std::vector<float>> &v) {
  int64_t bytes = 0;
  for (const auto &x : v)
    bytes += int64_t(x.size() * sizeof(float));
  return bytes;
}

void reconstructForwardWeights(int64_t count, int64_t delay, float lr,
                               const float *weights, const float *momentum,
                               const float *average, float *out) {
  if (momentum) {
    // The momentum buffer is itself the moving average of the updates.
    float scale = lr * float(delay);
    for (int64_t i = 0; i < count; ++i)
      out[i] = weights[i] + scale * momentum[i];
    return;
  }
  assert(average && "ema without momentum needs its moving average");
  float fd = float(delay);
  for (int64_t i = 0; i < count; ++i)
    out[i] = weights[i] - fd * average[i];
}

bool effectiveDelays(const NetSpec &net, const std::vector<int64_t> &delays,
                     std::vector<int64_t> &out, std::string &error) {
  size_t numLayers = net.layers.size();
  if (net.consumers.size() != numLayers) {
    error = "the network was not finalized";
    return false;
  }
  if (!delays.empty() && delays.size() != numLayers) {
    error = "expected " + std::to_string(numLayers) +
            " per-layer gradient delays, got " + std::to_string(delays.size());
    return false;
  }
  out.assign(numLayers, 0);
  for (size_t l = numLayers; l-- > 0;) {
    const LayerSpec &spec = net.layers[l];
    if (spec.hasParams()) {
      int64_t d = delays.empty() ? 0 : delays[l];
      if (d < 0) {
        error = "layer '" + spec.name + "': gradient delay " +
                std::to_string(d) + " is negative";
        return false;
      }
      out[l] = d;
      continue;
    }
    for (int c : net.consumers[l])
      out[l] = std::max(out[l], out[size_t(c)]);
  }
  for (size_t l = 0; l < numLayers; ++l)
    for (int c : net.consumers[l])
      if (out[l] < out[size_t(c)]) {
        error = "layer '" + net.layers[l].name + "' has gradient delay " +
                std::to_string(out[l]) + " but its consumer '" +
                net.layers[size_t(c)].name + "' has " +
                std::to_string(out[size_t(c)]) +
                ": a producer's delay must be at least its consumers'";
        return false;
      }
  return true;
}

void microBatchRange(int64_t batch, unsigned microBatches, unsigned m,
                     int64_t &begin, int64_t &size) {
  assert(microBatches >= 1 && m < microBatches);
  begin = batch * int64_t(m) / int64_t(microBatches);
  size = batch * int64_t(m + 1) / int64_t(microBatches) - begin;
}

void applyLayerUpdate(int64_t count, float lr, float momentum,
                      float weightDecay, float emaBeta, float *weights,
                      float *momentumBuf, float *average, const float *grad) {
  if (!average) {
    sgdUpdate(count, lr, momentum, weightDecay, weights, momentumBuf, grad);
    return;
  }
  // ema without momentum: the same update, plus v ← β·v + (1 − β)·ΔW.
  for (int64_t i = 0; i < count; ++i) {
    float old = weights[i];
    float step = grad[i] + weightDecay * weights[i];
    weights[i] -= lr * step;
    average[i] = emaBeta * average[i] + (1.0f - emaBeta) * (weights[i] - old);
  }
}

void averageMicroBatchGradient(int64_t count, unsigned microBatches,
                               float *grad) {
  if (microBatches <= 1)
    return;
  float scale = 1.0f / float(microBatches);
  for (int64_t i = 0; i < count; ++i)
    grad[i] *= scale;
}

BatchResult evaluateBatch(const NetSpec &net,
                          const std::vector<std::vector<float>> &params,
                          std::vector<std::vector<float>> &state, uint64_t seed,
                          const Tensor &x, const std::vector<int32_t> &labels,
                          std::vector<Tensor> &outs, LayerCache &cache,
                          Scratch &scratch) {
  initRuntime();
  size_t numLayers = net.layers.size();
  outs.resize(numLayers);
  ForwardContext ctx;
  ctx.training = false;
  ctx.seed = seed;
  ctx.labels = labels.data();
  ctx.scratch = &scratch;
  std::vector<const Tensor *> ins;
  for (size_t l = 0; l < numLayers; ++l) {
    const LayerSpec &spec = net.layers[l];
    ins.clear();
    if (spec.inputs.empty())
      ins.push_back(&x);
    for (int p : spec.inputs)
      ins.push_back(&outs[size_t(p)]);
    layerForward(spec, spec.hasParams() ? params[l].data() : nullptr,
                 state[l].empty() ? nullptr : state[l].data(), ins, outs[l],
                 cache, ctx);
  }
  BatchResult result;
  result.samples = x.batch();
  result.lossSum = cache.loss * double(x.batch());
  result.correct = cache.correct;
  return result;
}

BatchResult evaluateDataset(const NetSpec &net,
                            const std::vector<std::vector<float>> &params,
                            std::vector<std::vector<float>> &state,
                            uint64_t seed, const Dataset &data) {
  BatchResult sum;
  std::vector<int64_t> order(static_cast<size_t>(data.count));
  for (int64_t i = 0; i < data.count; ++i)
    order[size_t(i)] = i;
  Tensor x;
  std::vector<int32_t> labels;
  std::vector<Tensor> outs;
  LayerCache cache;
  Scratch scratch;
  const int64_t chunk = 500;
  for (int64_t b = 0; b < data.count; b += chunk) {
    int64_t n = std::min(chunk, data.count - b);
    gatherBatch(data, order, b, n, x, labels);
    BatchResult r = evaluateBatch(net, params, state, seed, x, labels, outs,
                                  cache, scratch);
    sum.lossSum += r.lossSum;
    sum.correct += r.correct;
    sum.samples += r.samples;
  }
  return sum;
}

uint64_t weightsChecksum(const std::vector<std::vector<float>> &params,
                         const std::vector<std::vector<float>> &state) {
  uint64_t h = 0xcbf29ce484222325ULL;
  auto add = [&](const std::vector<float> &v) {
    const unsigned char *p = reinterpret_cast<const unsigned char *>(v.data());
    for (size_t i = 0; i < v.size() * sizeof(float); ++i) {
      h ^= p[i];
      h *= 0x100000001b3ULL;
    }
  };
  for (size_t l = 0; l < params.size(); ++l) {
    add(params[l]);
    if (l < state.size())
      add(state[l]);
  }
  return h;
}

PipelineTrainer::PipelineTrainer(NetSpec net, TrainConfig config)
    : net_(std::move(net)), config_(std::move(config)) {
  initParams(net_, config_.seed, params_, state_);
  size_t numLayers = net_.layers.size();
  grads_.assign(numLayers, {});
  momentum_.assign(numLayers, {});
  ema_.assign(numLayers, {});
  versions_.assign(numLayers, {});
  forwardVersions_.assign(numLayers, {});
  predicted_.assign(numLayers, {});
  for (size_t l = 0; l < numLayers; ++l) {
    const LayerSpec &spec = net_.layers[l];
    if (!spec.hasParams())
      continue;
    grads_[l].assign(size_t(spec.numParams), 0.0f);
    if (config_.sgd.momentum != 0.0f)
      momentum_[l].assign(size_t(spec.numParams), 0.0f);
  }
}

bool PipelineTrainer::check(std::string &error) {
  size_t numLayers = net_.layers.size();
  if (net_.consumers.size() != numLayers) {
    error = "the network was not finalized";
    return false;
  }
  if (!config_.delays.empty() && config_.delays.size() != numLayers) {
    error = "expected " + std::to_string(numLayers) +
            " per-layer gradient delays, got " +
            std::to_string(config_.delays.size());
    return false;
  }
  if (!effectiveDelays(net_, config_.delays, delays_, error))
    return false;
  maxDelay_ = *std::max_element(delays_.begin(), delays_.end());
  if (config_.microBatches < 1) {
    error = "micro-batches must be at least 1";
    return false;
  }
  if (config_.microBatches > 1 && maxDelay_ > 0) {
    error = "micro-batches (" + std::to_string(config_.microBatches) +
            ") need a synchronous run without gradient delays, but the "
            "largest delay is " +
            std::to_string(maxDelay_);
    return false;
  }
  if (correctionPredicts(config_.compensation) &&
      config_.sgd.momentum == 0.0f && maxDelay_ > 0) {
    error = std::string("delay compensation '") +
            delayCompensationName(config_.compensation) +
            "' predicts weights from the momentum buffer and needs momentum "
            "> 0";
    return false;
  }
  if (config_.compensation == DelayCompensation::PipeMare &&
      config_.correctionWarmupSteps < 0) {
    error = "the pipemare warm-up must be >= 0 steps, got " +
            std::to_string(config_.correctionWarmupSteps);
    return false;
  }
  if (config_.policy == WeightPolicy::Sync && maxDelay_ > 0) {
    error = "weight policy 'sync' needs no gradient delays, but the largest "
            "delay is " +
            std::to_string(maxDelay_);
    return false;
  }
  for (size_t l = 0; l < numLayers; ++l)
    if (config_.policy == WeightPolicy::Ema && config_.sgd.momentum == 0.0f &&
        delays_[l] > 0 && net_.layers[l].hasParams())
      ema_[l].assign(params_[l].size(), 0.0f);
  checked_ = true;
  return true;
}

PipelineTrainer::InFlight &PipelineTrainer::batch(int64_t index) {
  assert(!inFlight_.empty() && index >= inFlight_.front().index &&
         index <= inFlight_.back().index && "batch not in flight");
  InFlight &b = inFlight_[size_t(index - inFlight_.front().index)];
  assert(b.index == index);
  return b;
}

/// Gathers the input tensors of layer \p spec in batch \p b.
template <typename Batch>
static void gatherInputs(const LayerSpec &spec, const Batch &b,
                         std::vector<const Tensor *> &ins) {
  ins.clear();
  if (spec.inputs.empty()) {
    ins.push_back(&b.input);
    return;
  }
  for (int p : spec.inputs)
    ins.push_back(&b.out[size_t(p)]);
}

void PipelineTrainer::forwardBatch(InFlight &b, int64_t batchIndex) {
  ForwardContext ctx;
  ctx.training = true;
  ctx.seed = config_.seed;
  ctx.batchIndex = batchIndex;
  ctx.labels = b.labels.data();
  ctx.scratch = &scratch_;
  std::vector<const Tensor *> ins;
  for (size_t l = 0; l < net_.layers.size(); ++l) {
    const LayerSpec &spec = net_.layers[l];
    gatherInputs(spec, b, ins);
    layerForward(spec, spec.hasParams() ? forwardWeights(l) : nullptr,
                 state_[l].empty() ? nullptr : state_[l].data(), ins,
                 b.out[l], b.cache[l], ctx);
  }
}

void PipelineTrainer::backwardLayer(size_t l, InFlight &b, int64_t weightStep,
                                    float *paramGrad) {
  const LayerSpec &spec = net_.layers[l];
  const Tensor &outGrad = b.delta[l];
  assert((spec.type == LayerType::SoftmaxCrossEntropy || !outGrad.empty()) &&
         "output gradient missing");
  std::vector<const Tensor *> ins;
  gatherInputs(spec, b, ins);
  if (spec.hasParams())
    layerBackwardWeights(spec, ins, b.out[l], b.cache[l], outGrad, paramGrad,
                         scratch_);
  if (!spec.inputs.empty()) {
    const float *w =
        spec.hasParams()
            ? backwardWeights(l, b.index, layerLearningRate(l, weightStep))
            : nullptr;
    // A producer's first gradient is written straight into its slot of
    // this batch (which keeps its allocation across steps); later ones
    // are added to it.
    inputGrads_.resize(spec.inputs.size());
    std::vector<bool> direct(spec.inputs.size());
    for (size_t i = 0; i < spec.inputs.size(); ++i) {
      Tensor &dst = b.delta[size_t(spec.inputs[i])];
      direct[i] = dst.empty() &&
                  std::find(spec.inputs.begin(), spec.inputs.begin() + i,
                            spec.inputs[i]) == spec.inputs.begin() + i;
      if (direct[i])
        std::swap(dst, inputGrads_[i]);
    }
    layerBackwardData(spec, w, ins, b.out[l], b.cache[l], outGrad,
                      inputGrads_, scratch_);
    for (size_t i = 0; i < spec.inputs.size(); ++i) {
      Tensor &dst = b.delta[size_t(spec.inputs[i])];
      if (direct[i])
        std::swap(dst, inputGrads_[i]);
      else
        accumulate(dst.size(), inputGrads_[i].ptr(), dst.ptr());
    }
  }
  // Every consumer of l has finished with this batch (D_consumer ≤ D_l).
  b.out[l].clear();
  b.delta[l].clear();
  b.cache[l].aux.clear();
  b.cache[l].channel.clear();
  b.cache[l].index.clear();
}

BatchResult PipelineTrainer::step(const Tensor &x,
                                  const std::vector<int32_t> &labels) {
  assert(checked_ && "check() must succeed before step()");
  assert(x.batch() * net_.labelsPerSample == int64_t(labels.size()) &&
         "labelsPerSample labels per sample");
  initRuntime();
  if (config_.microBatches > 1)
    return stepMicroBatches(x, labels);
  size_t numLayers = net_.layers.size();
  // 1. Forward of batch k on W(k) (predict: on the predicted weights).
  if (correctionPredicts(config_.compensation))
    for (size_t l = 0; l < numLayers; ++l) {
      if (!net_.layers[l].hasParams() || delays_[l] == 0) {
        std::vector<float>().swap(predicted_[l]);
        continue;
      }
      predicted_[l].resize(params_[l].size());
      predictWeights(int64_t(params_[l].size()), delays_[l],
                     layerLearningRate(l, step_), params_[l].data(),
                     momentum_[l].data(), predicted_[l].data());
    }
  InFlight fresh;
  if (!recycled_.empty()) {
    fresh = std::move(recycled_.back());
    recycled_.pop_back();
  }
  fresh.index = step_;
  fresh.input.shape = x.shape;
  fresh.input.data.assign(x.data.begin(), x.data.end());
  fresh.labels = labels;
  fresh.out.resize(numLayers);
  fresh.delta.resize(numLayers);
  fresh.cache.resize(numLayers);
  inFlight_.push_back(std::move(fresh));
  InFlight &cur = inFlight_.back();
  forwardBatch(cur, step_);
  const LayerCache &lossCache = cur.cache.back();
  BatchResult result;
  result.samples = x.batch();
  result.lossSum = lossCache.loss * double(x.batch());
  result.correct = lossCache.correct;
  notePeak();

  // 2. Backward tasks for batch k − D_l, consumers before producers.
  for (size_t l = numLayers; l-- > 0;) {
    int64_t j = step_ - delays_[l];
    if (j < 0)
      continue;
    backwardLayer(l, batch(j), step_,
                  net_.layers[l].hasParams() ? grads_[l].data() : nullptr);
  }

  // 3. Updates W(k+1) = opt(W(k), g(k − D_l)).
  for (size_t l = 0; l < numLayers; ++l)
    if (net_.layers[l].hasParams())
      update(l, layerLearningRate(l, step_));

  while (!inFlight_.empty() && inFlight_.front().index <= step_ - maxDelay_) {
    InFlight &done = inFlight_.front();
    done.input.clear();
    recycled_.push_back(std::move(done));
    inFlight_.pop_front();
  }
  notePeak();
  ++step_;
  return result;
}

BatchResult PipelineTrainer::stepMicroBatches(
    const Tensor &x, const std::vector<int32_t> &labels) {
  // No delays: every micro-batch runs forward and backward within the step;
  // its weight gradients are added to the step's in micro-batch order.
  size_t numLayers = net_.layers.size();
  unsigned M = config_.microBatches;
  BatchResult result;
  result.samples = x.batch();
  if (inFlight_.empty())
    inFlight_.emplace_back();
  InFlight &b = inFlight_.back();
  b.out.resize(numLayers);
  b.delta.resize(numLayers);
  b.cache.resize(numLayers);
  int64_t perSample = x.perSample();
  for (unsigned m = 0; m < M; ++m) {
    int64_t begin = 0, size = 0;
    microBatchRange(x.batch(), M, m, begin, size);
    b.index = step_;
    b.input.shape = x.shape;
    b.input.shape[0] = size;
    b.input.data.assign(x.data.begin() + begin * perSample,
                        x.data.begin() + (begin + size) * perSample);
    int64_t lps = net_.labelsPerSample;
    b.labels.assign(labels.begin() + begin * lps,
                    labels.begin() + (begin + size) * lps);
    forwardBatch(b, step_ * int64_t(M) + m);
    result.lossSum += b.cache.back().loss * double(size);
    result.correct += b.cache.back().correct;
    notePeak();
    for (size_t l = numLayers; l-- > 0;) {
      float *grad = nullptr;
      if (net_.layers[l].hasParams()) {
        microGrad_.resize(grads_[l].size());
        grad = m == 0 ? grads_[l].data() : microGrad_.data();
      }
      backwardLayer(l, b, step_, grad);
      if (grad && m > 0)
        accumulate(int64_t(grads_[l].size()), microGrad_.data(),
                   grads_[l].data());
    }
  }
  b.input.clear();
  for (size_t l = 0; l < numLayers; ++l)
    if (net_.layers[l].hasParams()) {
      averageMicroBatchGradient(int64_t(grads_[l].size()), M,
                                grads_[l].data());
      update(l, layerLearningRate(l, step_));
    }
  notePeak();
  ++step_;
  return result;
}

float PipelineTrainer::layerMomentum(size_t layer) const {
  assert(checked_ && layer < delays_.size());
  return compensatedMomentum(config_.compensation, config_.sgd.momentum,
                             delays_[layer]);
}

float PipelineTrainer::layerLearningRate(size_t layer, int64_t step) const {
  assert(checked_ && layer < delays_.size());
  return correctedLearningRate(config_.correction(),
                               learningRate(config_.sgd, step), delays_[layer],
                               step);
}

const float *PipelineTrainer::forwardWeights(size_t layer) const {
  if (!predicted_[layer].empty())
    return predicted_[layer].data();
  return params_[layer].data();
}

const float *PipelineTrainer::backwardWeights(size_t layer, int64_t batchIndex,
                                              float lr) {
  int64_t d = delays_[layer];
  const std::vector<float> &w = params_[layer];
  if (d == 0)
    return w.data();
  // Prediction aims F at W(j + D): under `ema` B reads that directly.
  if (config_.policy == WeightPolicy::Ema &&
      correctionPredicts(config_.compensation))
    return w.data();
  switch (config_.policy) {
  case WeightPolicy::Sync:
  case WeightPolicy::Latest:
    return w.data();
  case WeightPolicy::Stash: {
    for (const auto &version : versions_[layer])
      if (version.first == batchIndex)
        return version.second.data();
    assert(false && "stashed weight version missing");
    return w.data();
  }
  case WeightPolicy::Ema: {
    reconstructed_.resize(w.size());
    bool withMomentum = config_.sgd.momentum != 0.0f;
    reconstructForwardWeights(
        int64_t(w.size()), d, lr, w.data(),
        withMomentum ? momentum_[layer].data() : nullptr,
        withMomentum ? nullptr : ema_[layer].data(), reconstructed_.data());
    return reconstructed_.data();
  }
  }
  return w.data();
}

void PipelineTrainer::update(size_t layer, float lr) {
  int64_t d = delays_[layer];
  std::vector<float> &w = params_[layer];
  // Only layers whose B runs read a stashed version; a layer reading the
  // network input has no B, so nothing to stash.
  bool readsStash = config_.policy == WeightPolicy::Stash && d > 0 &&
                    !net_.layers[layer].inputs.empty();
  if (readsStash) {
    // Keep W(k) for the batch that entered this step; drop versions no
    // later step will read (those older than k + 1 − D).
    auto &versions = versions_[layer];
    std::vector<float> storage;
    while (!versions.empty() && versions.front().first < step_ + 1 - d) {
      storage = std::move(versions.front().second);
      versions.pop_front();
    }
    // The version F read: the predicted weights under `predict`.
    const float *read = forwardWeights(layer);
    storage.assign(read, read + w.size());
    versions.emplace_back(step_, std::move(storage));
  }
  // dcasgd: keep W(k) until the update of step k + D reads it.
  bool keepsForward =
      correctionNeedsForwardWeights(config_.compensation) && d > 0;
  if (keepsForward)
    forwardVersions_[layer].emplace_back(step_, w);
  if (step_ < d)
    return; // no gradient yet: the step is skipped entirely
  const float *forward = nullptr;
  if (keepsForward) {
    assert(forwardVersions_[layer].front().first == step_ - d &&
           "forward-time weights missing");
    forward = forwardVersions_[layer].front().second.data();
  }
  std::vector<float> &v = ema_[layer];
  correctedLayerUpdate(config_.correction(), d, int64_t(w.size()), lr,
                       layerMomentum(layer), config_.sgd.weightDecay,
                       config_.emaBeta, w.data(),
                       momentum_[layer].empty() ? nullptr
                                                : momentum_[layer].data(),
                       v.empty() ? nullptr : v.data(), grads_[layer].data(),
                       forward);
  if (keepsForward)
    forwardVersions_[layer].pop_front();
}

void PipelineTrainer::switchToSynchronous() {
  while (!inFlight_.empty()) {
    InFlight &b = inFlight_.front();
    b.input.clear();
    for (size_t l = 0; l < b.out.size(); ++l) {
      b.out[l].clear();
      b.delta[l].clear();
      b.cache[l].aux.clear();
      b.cache[l].channel.clear();
      b.cache[l].index.clear();
    }
    recycled_.push_back(std::move(b));
    inFlight_.pop_front();
  }
  for (auto &v : versions_)
    v.clear();
  for (auto &v : forwardVersions_)
    v.clear();
  for (auto &v : predicted_)
    std::vector<float>().swap(v);
  for (auto &v : ema_)
    std::vector<float>().swap(v);
  std::fill(delays_.begin(), delays_.end(), 0);
  maxDelay_ = 0;
}

BatchResult PipelineTrainer::evaluate(const Tensor &x,
                                      const std::vector<int32_t> &labels) {
  return evaluateBatch(net_, params_, state_, config_.seed, x, labels,
                       evalOut_, evalCache_, scratch_);
}

MemoryStats PipelineTrainer::memory() const {
  MemoryStats m;
  m.weights = vectorBytes(params_) + vectorBytes(state_);
  m.gradients = vectorBytes(grads_);
  m.optimizer = vectorBytes(momentum_) + vectorBytes(ema_);
  for (const auto &layerVersions : versions_)
    for (const auto &version : layerVersions)
      m.stashedWeights += int64_t(version.second.size() * sizeof(float));
  for (const auto &layerVersions : forwardVersions_)
    for (const auto &version : layerVersions)
      m.stashedWeights += int64_t(version.second.size() * sizeof(float));
  m.stashedWeights += vectorBytes(predicted_);
  for (const InFlight &b : inFlight_) {
    m.activations += b.input.bytes();
    for (size_t l = 0; l < b.out.size(); ++l)
      m.activations +=
          b.out[l].bytes() + b.delta[l].bytes() + b.cache[l].bytes();
  }
  return m;
}

void PipelineTrainer::notePeak() {
  MemoryStats m = memory();
  if (m.total() > peak_.total())
    peak_ = m;
}

} // namespace runtime
} // namespace layerpipe
