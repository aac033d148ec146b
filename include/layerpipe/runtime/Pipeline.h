//===- Pipeline.h - The sequential oracle of a delayed pipeline -*- C++ -*-===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// PipelineTrainer runs training one mini-batch step at a time with exactly
// the semantics of a pipelined training DFG whose layers carry gradient
// delays D_l (docs/training-semantics.md): in step k the forward of batch k
// runs on the current weights W(k); then, in reverse topological order, each
// layer runs its backward tasks B and G for batch k − D_l, reading the
// weight version its policy selects; then every layer with weights applies
// g(k − D_l). Per-layer queues hold what is in flight: the activations and
// forward caches of every batch between its F and its last backward task,
// the output gradients δ between a consumer's B and the producer's, and (for
// the stash policy) the D_l older weight versions. Memory is measured as the
// bytes of the live tensors, and its peak over the run is kept.
//
//===----------------------------------------------------------------------===//

#ifndef LAYERPIPE_RUNTIME_PIPELINE_H
#define LAYERPIPE_RUNTIME_PIPELINE_H

#include "layerpipe/runtime/Network.h"
#include "layerpipe/runtime/Optimizer.h"

#include <deque>
#include <string>
#include <vector>

namespace layerpipe {
namespace runtime {

/// Which weight version B reads (docs/training-semantics.md).
enum class WeightPolicy { Sync, Stash, Latest, Ema };

/// "sync", "stash", "latest", "ema".
const char *weightPolicyName(WeightPolicy policy);

struct TrainConfig {
  SgdConfig sgd;
  WeightPolicy policy = WeightPolicy::Sync;
  /// Gradient delay per layer (indexed like NetSpec::layers); only the
  /// entries of layers with parameters are read. Empty = no delays.
  std::vector<int64_t> delays;
  /// Initial weights and dropout masks.
  uint64_t seed = 0;
  /// β of the explicit moving average `ema` keeps when momentum is 0.
  float emaBeta = 0.9f;
  /// Per-layer μ_l / η_l from the layer's delay (none: the global ones).
  DelayCompensation compensation = DelayCompensation::None;
};

/// Bytes held, by kind.
struct MemoryStats {
  int64_t weights = 0;        ///< current parameters (+ batchnorm state)
  int64_t gradients = 0;      ///< one weight-gradient buffer per layer
  int64_t optimizer = 0;      ///< momentum buffers (+ ema averages)
  int64_t stashedWeights = 0; ///< older weight versions (stash)
  int64_t activations = 0;    ///< in-flight inputs, outputs, caches, δ
  int64_t total() const {
    return weights + gradients + optimizer + stashedWeights + activations;
  }
};

/// Loss and accuracy of one mini-batch (or a sum over many).
struct BatchResult {
  double lossSum = 0; ///< loss × samples
  int64_t correct = 0;
  int64_t samples = 0;
};

/// The `ema` policy's forward-time weights Ŵ = W + η·D·m (momentum SGD,
/// \p momentum is the momentum buffer) or Ŵ = W − D·v (no momentum, \p
/// average is v) into \p out. Exact when the last D updates were equal.
void reconstructForwardWeights(int64_t count, int64_t delay, float lr,
                               const float *weights, const float *momentum,
                               const float *average, float *out);

class PipelineTrainer {
public:
  /// \p net must have been finalized. Parameters start from
  /// initParams(net, config.seed).
  PipelineTrainer(NetSpec net, TrainConfig config);

  /// Checks the configuration: delays non-negative, D_producer ≥
  /// D_consumer along every edge, `sync` only without delays. Must be
  /// called (and succeed) before step().
  bool check(std::string &error);

  /// One step k (see the file comment) on mini-batch k: \p x has shape
  /// {N, input...}, \p labels N entries. Returns the loss and accuracy of
  /// batch k's forward pass.
  BatchResult step(const Tensor &x, const std::vector<int32_t> &labels);

  /// The hybrid scheme's switch: drops the in-flight gradients and
  /// batches, sets every delay to 0 (training is synchronous from now on).
  void switchToSynchronous();

  /// Inference-mode loss and accuracy of the current weights.
  BatchResult evaluate(const Tensor &x, const std::vector<int32_t> &labels);

  const NetSpec &net() const { return net_; }
  const TrainConfig &config() const { return config_; }
  /// Effective delay of every layer (parameter-free layers take the largest
  /// delay of their consumers).
  const std::vector<int64_t> &delays() const { return delays_; }
  /// μ_l of layer \p layer under the current delays and compensation.
  float layerMomentum(size_t layer) const;
  /// η_l of layer \p layer at optimizer step \p step.
  float layerLearningRate(size_t layer, int64_t step) const;
  std::vector<std::vector<float>> &params() { return params_; }
  std::vector<std::vector<float>> &state() { return state_; }
  /// Momentum buffers (empty vectors when momentum is 0).
  std::vector<std::vector<float>> &momentum() { return momentum_; }
  int64_t stepsDone() const { return step_; }
  MemoryStats memory() const;
  const MemoryStats &peakMemory() const { return peak_; }

private:
  struct InFlight {
    int64_t index = 0;
    Tensor input;
    std::vector<int32_t> labels;
    std::vector<Tensor> out, delta;
    std::vector<LayerCache> cache;
  };

  InFlight &batch(int64_t index);
  const float *backwardWeights(size_t layer, int64_t batchIndex, float lr);
  void update(size_t layer, float lr);
  void notePeak();

  NetSpec net_;
  TrainConfig config_;
  std::vector<int64_t> delays_;
  int64_t maxDelay_ = 0;
  std::vector<std::vector<float>> params_, state_, grads_, momentum_, ema_;
  /// stash: per layer, (k, W(k)) for the D_l most recent steps.
  std::vector<std::deque<std::pair<int64_t, std::vector<float>>>> versions_;
  std::deque<InFlight> inFlight_;
  std::vector<InFlight> recycled_;
  std::vector<float> reconstructed_;
  std::vector<Tensor> inputGrads_;
  std::vector<Tensor> evalOut_;
  LayerCache evalCache_;
  Scratch scratch_;
  int64_t step_ = 0;
  bool checked_ = false;
  MemoryStats peak_;
};

} // namespace runtime
} // namespace layerpipe

#endif // LAYERPIPE_RUNTIME_PIPELINE_H
