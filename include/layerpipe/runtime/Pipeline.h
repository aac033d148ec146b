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

#include "layerpipe/runtime/Data.h"
#include "layerpipe/runtime/DelayCorrection.h"
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
  /// λ of `dcasgd` (DelayCorrection::dcLambda).
  float dcLambda = 0.04f;
  /// K of `pipemare`'s warm-up (DelayCorrection::warmupSteps).
  int64_t correctionWarmupSteps = 0;
  /// The correction these fields make.
  DelayCorrection correction() const {
    DelayCorrection c;
    c.mode = compensation;
    c.dcLambda = dcLambda;
    c.warmupSteps = correctionWarmupSteps;
    return c;
  }
  /// M: each mini-batch is split into M micro-batches (microBatchRange)
  /// whose weight gradients are summed in order and scaled by 1/M before
  /// the one update of the step (synchronous schedules; needs no delays).
  /// Batchnorm statistics and dropout masks are per micro-batch.
  unsigned microBatches = 1;
};

/// Loss and accuracy of one mini-batch (or a sum over many).
struct BatchResult {
  double lossSum = 0; ///< loss × samples
  /// Labels whose arg-max prediction is right; a token-level loss scores
  /// samples × NetSpec::labelsPerSample labels.
  int64_t correct = 0;
  int64_t samples = 0;
};

/// The effective delay of every layer: a layer with parameters keeps
/// \p delays[l] (empty = all 0), a parameter-free one takes the largest delay
/// of its consumers. Fails (naming the layers) on a negative delay or a
/// producer whose delay is below a consumer's.
bool effectiveDelays(const NetSpec &net, const std::vector<int64_t> &delays,
                     std::vector<int64_t> &out, std::string &error);

/// Micro-batch \p m of \p microBatches splits a mini-batch of \p batch
/// samples at m·batch/M: samples [begin, begin + size).
void microBatchRange(int64_t batch, unsigned microBatches, unsigned m,
                     int64_t &begin, int64_t &size);

/// The update U of one layer, the arithmetic both the trainer and the stage
/// programs run: SGD with momentum (\p momentumBuf may be null when μ = 0);
/// with an explicit moving average \p average (ema without momentum) plain
/// SGD plus v ← β·v + (1 − β)·ΔW.
void applyLayerUpdate(int64_t count, float lr, float momentum,
                      float weightDecay, float emaBeta, float *weights,
                      float *momentumBuf, float *average, const float *grad);

/// Scales \p count floats by 1/\p microBatches (no-op for 1): the sum of
/// the micro-batch gradients becomes their mean.
void averageMicroBatchGradient(int64_t count, unsigned microBatches,
                               float *grad);

/// Inference-mode loss and accuracy of a network with parameters \p params
/// and state \p state on one batch. \p outs and \p cache are reused buffers.
BatchResult evaluateBatch(const NetSpec &net,
                          const std::vector<std::vector<float>> &params,
                          std::vector<std::vector<float>> &state, uint64_t seed,
                          const Tensor &x, const std::vector<int32_t> &labels,
                          std::vector<Tensor> &outs, LayerCache &cache,
                          Scratch &scratch);

/// evaluateBatch over a whole data set, in chunks of 500 samples in file
/// order (the per-epoch test figures of the trainer and the stage programs).
BatchResult evaluateDataset(const NetSpec &net,
                            const std::vector<std::vector<float>> &params,
                            std::vector<std::vector<float>> &state,
                            uint64_t seed, const Dataset &data);

/// FNV-1a (64 bit) over the bytes of every parameter and state buffer, in
/// layer order: the final-weights checksum both summaries print.
uint64_t weightsChecksum(const std::vector<std::vector<float>> &params,
                         const std::vector<std::vector<float>> &state);

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
  /// {N, input...}, \p labels N × labelsPerSample entries. Returns the loss and accuracy of
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
  const std::vector<std::vector<float>> &params() const { return params_; }
  const std::vector<std::vector<float>> &state() const { return state_; }
  /// Momentum buffers (empty vectors when momentum is 0).
  std::vector<std::vector<float>> &momentum() { return momentum_; }
  int64_t stepsDone() const { return step_; }
  MemoryStats memory() const;
  const MemoryStats &peakMemory() const { return peak_; }

  /// The whole training state (weights, optimizer buffers, stashed
  /// versions, the in-flight batches' tensors, delays, step) as bytes, and
  /// back; a trainer restored from saveState continues bit for bit
  /// (checkpoints: TrainerCheckpoint.cpp).
  std::string saveState() const;
  /// False with \p error if \p bytes is not a state of this network.
  bool loadState(const std::string &bytes, std::string &error);

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
  /// The weights F of \p layer reads this step (predicted under `predict`).
  const float *forwardWeights(size_t layer) const;
  void update(size_t layer, float lr);
  void notePeak();
  BatchResult stepMicroBatches(const Tensor &x,
                               const std::vector<int32_t> &labels);
  void forwardBatch(InFlight &b, int64_t batchIndex);
  void backwardLayer(size_t l, InFlight &b, int64_t weightStep,
                     float *paramGrad);

  NetSpec net_;
  TrainConfig config_;
  std::vector<int64_t> delays_;
  int64_t maxDelay_ = 0;
  std::vector<std::vector<float>> params_, state_, grads_, momentum_, ema_;
  /// stash: per layer, (k, W(k)) for the D_l most recent steps.
  std::vector<std::deque<std::pair<int64_t, std::vector<float>>>> versions_;
  /// dcasgd: per layer, (k, W(k)) until the update of step k + D_l.
  std::vector<std::deque<std::pair<int64_t, std::vector<float>>>>
      forwardVersions_;
  /// predict: per layer, the weights F reads in the current step.
  std::vector<std::vector<float>> predicted_;
  std::deque<InFlight> inFlight_;
  std::vector<InFlight> recycled_;
  std::vector<float> reconstructed_;
  std::vector<Tensor> inputGrads_;
  std::vector<Tensor> evalOut_;
  std::vector<float> microGrad_;
  Tensor microX_;
  std::vector<int32_t> microLabels_;
  LayerCache evalCache_;
  Scratch scratch_;
  int64_t step_ = 0;
  bool checked_ = false;
  MemoryStats peak_;
};

} // namespace runtime
} // namespace layerpipe

#endif // LAYERPIPE_RUNTIME_PIPELINE_H
