//===- Network.h - A network the runtime can train --------------*- C++ -*-===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// The runtime's own description of a network (NetSpec: layers in topological
// order with their parameters), independent of the compiler's Model so that
// generated stage programs can build one from literals. finalizeNet() infers
// and checks shapes; the per-layer entry points run one task of the training
// DFG on one mini-batch: layerForward (F), layerBackwardData (B) and
// layerBackwardWeights (G). A layer's trainable parameters live in one flat
// float buffer (weight then bias, or γ then β), which is the unit the
// optimizer, the weight stash and the memory report work on.
//
//===----------------------------------------------------------------------===//

#ifndef LAYERPIPE_RUNTIME_NETWORK_H
#define LAYERPIPE_RUNTIME_NETWORK_H

#include "layerpipe/runtime/Kernels.h"
#include "layerpipe/runtime/Tensor.h"

#include <cstdint>
#include <string>
#include <vector>

namespace layerpipe {
namespace runtime {

/// Layer types, matching the model format's.
enum class LayerType {
  Conv2d,
  Dense,
  MaxPool,
  AvgPool,
  Relu,
  Tanh,
  Sigmoid,
  Flatten,
  Add,
  BatchNorm,
  Dropout,
  SoftmaxCrossEntropy,
  Concat,
  GlobalAvgPool,
  Relu6,
  // Transformer layers (TransformerKernels.h).
  Embedding,
  PositionEmbedding,
  LayerNorm,
  RmsNorm,
  Attention,
  Gelu,
  Silu,
  SwiGlu,
};

/// "conv2d", "dense", ...
const char *layerTypeName(LayerType type);

/// One layer. Parameters as in the model format; shapes are per sample and
/// filled by finalizeNet().
struct LayerSpec {
  std::string name;
  LayerType type = LayerType::Relu;
  /// Producer layers (indices smaller than this layer's); empty = the
  /// network input.
  std::vector<int> inputs;
  int64_t outChannels = 0; ///< conv2d
  int64_t units = 0;       ///< dense
  int64_t kernelH = 1, kernelW = 1, strideH = 1, strideW = 1;
  int64_t padH = 0, padW = 0;
  bool bias = true;
  int64_t groups = 1; ///< conv2d: channel groups
  float dropRate = 0.5f;
  float bnEps = 1e-5f, bnMomentum = 0.1f;
  // Transformer layers.
  int64_t vocab = 0, dim = 0; ///< embedding
  int64_t maxPositions = 0;   ///< position_embedding (0: the input's T)
  int64_t heads = 0, kvHeads = 0; ///< attention (kvHeads 0: heads)
  bool rope = false;              ///< attention
  float normEps = 1e-5f;          ///< layernorm, rmsnorm

  // Derived by finalizeNet().
  std::vector<int64_t> inShape, outShape;
  int64_t numWeights = 0; ///< weight (or γ) elements
  int64_t numParams = 0;  ///< numWeights + bias (or β) elements
  int64_t numState = 0;   ///< non-trainable state (batchnorm running stats)

  bool hasParams() const { return numParams > 0; }
};

/// A network; the last layer is the softmax cross-entropy loss.
struct NetSpec {
  std::vector<int64_t> inputShape; ///< per sample: {C, H, W}, {F} or ids {T}
  std::vector<LayerSpec> layers;
  int64_t numClasses = 0;
  /// Labels per sample: 1, or T for a token-level loss on {T, V} logits.
  int64_t labelsPerSample = 1;
  /// consumers[l]: layers that read layer l's output (filled by finalizeNet).
  std::vector<std::vector<int>> consumers;
};

/// Infers shapes and parameter counts and checks the network (layer order,
/// input counts, shapes of add inputs, a single final loss). On failure
/// returns false and sets \p error to a message naming the layer and the
/// numbers.
bool finalizeNet(NetSpec &net, std::string &error);

/// Initial parameters, PyTorch's default rule for conv2d/dense (weights and
/// biases uniform in ±1/sqrt(fan_in)), γ = 1 and β = 0 for batchnorm; a pure
/// function of \p seed. Also returns the initial non-trainable state.
void initParams(const NetSpec &net, uint64_t seed,
                std::vector<std::vector<float>> &params,
                std::vector<std::vector<float>> &state);

/// What one forward pass needs besides inputs and weights.
struct ForwardContext {
  bool training = true;
  uint64_t seed = 0;
  int64_t batchIndex = 0;        ///< seeds dropout masks
  const int32_t *labels = nullptr; ///< for the loss layer
  Scratch *scratch = nullptr;
};

/// Per-layer, per-batch values a forward pass leaves for its backward tasks
/// (max-pool arg-max, batchnorm x̂ and 1/σ, dropout mask, softmax
/// probabilities and labels).
struct LayerCache {
  Tensor aux;
  std::vector<float> channel;
  std::vector<int32_t> index;
  double loss = 0;
  int64_t correct = 0;
  int64_t bytes() const {
    return aux.bytes() + int64_t(channel.size() * sizeof(float)) +
           int64_t(index.size() * sizeof(int32_t));
  }
  void release() {
    aux.release();
    std::vector<float>().swap(channel);
    std::vector<int32_t>().swap(index);
  }
};

/// F: computes \p out from \p inputs (one per LayerSpec::inputs, or the
/// network input) with parameters \p params (null for parameter-free
/// layers) and fills \p cache. For the loss layer, out is {1} holding the
/// mean loss. \p state is updated in training mode (batchnorm running
/// statistics) and may be null otherwise.
void layerForward(const LayerSpec &layer, const float *params, float *state,
                  const std::vector<const Tensor *> &inputs, Tensor &out,
                  LayerCache &cache, const ForwardContext &ctx);

/// B: gradients with respect to each input, written into \p inputGrads
/// (resized; one per input). \p params are the weights the policy
/// selects for this task.
void layerBackwardData(const LayerSpec &layer, const float *params,
                       const std::vector<const Tensor *> &inputs,
                       const Tensor &out, const LayerCache &cache,
                       const Tensor &outGrad,
                       std::vector<Tensor> &inputGrads, Scratch &scratch);

/// G: the weight gradient (layout of the flat parameter buffer) into
/// \p paramGrad, which has numParams elements. Layers without parameters
/// must not be passed.
void layerBackwardWeights(const LayerSpec &layer,
                          const std::vector<const Tensor *> &inputs,
                          const Tensor &out, const LayerCache &cache,
                          const Tensor &outGrad, float *paramGrad,
                          Scratch &scratch);

} // namespace runtime
} // namespace layerpipe

#endif // LAYERPIPE_RUNTIME_NETWORK_H
