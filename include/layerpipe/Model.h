//===- Model.h - The layer graph of a network -------------------*- C++ -*-===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// The frontend's output: a network as a DAG of layers in topological order,
// with shapes, parameter counts and FLOPs already inferred. Everything after
// the frontend reads this and never the JSON file. The model file format is
// documented in docs/model-format.md.
//
//===----------------------------------------------------------------------===//

#ifndef LAYERPIPE_MODEL_H
#define LAYERPIPE_MODEL_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace layerpipe {

/// The layer types of the model format.
enum class LayerKind {
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
  // Transformer layers (docs/model-format.md, "Transformer layers").
  Embedding,
  PositionEmbedding,
  LayerNorm,
  RmsNorm,
  Attention,
  Gelu,
  Silu,
  SwiGlu,
};

/// The spelling of \p kind in model files ("conv2d", "dense", ...).
llvm::StringRef layerKindName(LayerKind kind);
/// Parses a model-file type name; std::nullopt if unknown.
std::optional<LayerKind> parseLayerKind(llvm::StringRef name);
/// Every LayerKind, in declaration order.
llvm::ArrayRef<LayerKind> allLayerKinds();

/// A per-sample tensor shape: {C, H, W} for images, {N} for vectors, {T, D}
/// for sequences of T tokens of width D (token ids: {T}).
/// The batch dimension is never part of a Shape.
struct Shape {
  llvm::SmallVector<int64_t, 3> dims;

  int64_t numElements() const;
  bool isImage() const { return dims.size() == 3; }
  bool isSequence() const { return dims.size() == 2; }
  /// "[6, 28, 28]".
  std::string str() const;
  bool operator==(const Shape &other) const { return dims == other.dims; }
  bool operator!=(const Shape &other) const { return !(*this == other); }
};

/// Task times measured by the user, in microseconds per mini-batch. They
/// override the cost model for the layer's tasks.
struct MeasuredTimes {
  std::optional<double> forward;
  std::optional<double> activationGradient;
  std::optional<double> weightGradient;
  std::optional<double> update;
  /// B and G of the layer as a merged BG task runs them, back to back (B
  /// alone for a layer without weights): they take less time there than
  /// activationGradient + weightGradient, which are timed as separate tasks
  /// run (docs/profile.md, "Two orders").
  std::optional<double> mergedBackward;
  /// A layer reading the model's input: the time to gather its batch of
  /// the training data again for G, which a plan with several steps in
  /// flight on a processor does (its F loaded other batches since;
  /// docs/profile.md, "Loading the batch"). Not counted elsewhere.
  std::optional<double> inputLoad;

  bool any() const {
    return forward || activationGradient || weightGradient || update ||
           mergedBackward || inputLoad;
  }
};

/// Work of one layer, in floating-point operations per mini-batch.
struct LayerFlops {
  double forward = 0;
  double activationGradient = 0;
  double weightGradient = 0;
  double update = 0;
  double total() const {
    return forward + activationGradient + weightGradient + update;
  }
};

/// One layer of the network. The fields under "parameters" are those of the
/// model file; which of them are meaningful depends on `kind`.
struct Layer {
  std::string name;
  LayerKind kind = LayerKind::Relu;
  /// Producers, as indices into Model::layers (always smaller than this
  /// layer's index). Empty means the layer reads the model input.
  llvm::SmallVector<unsigned, 2> inputs;

  // Parameters.
  int64_t outChannels = 0; ///< conv2d
  int64_t units = 0;       ///< dense
  int64_t kernelH = 0, kernelW = 0;
  int64_t strideH = 1, strideW = 1;
  int64_t padH = 0, padW = 0;
  bool bias = true;      ///< conv2d, dense
  double dropRate = 0.5; ///< dropout
  /// conv2d: input channels if the file states them ("in_channels"),
  /// checked against the inferred input; 0 if not stated.
  int64_t inChannels = 0;
  /// conv2d: channel groups (1: ordinary, C: depthwise); divides C and Cout.
  int64_t groups = 1;
  // Transformer layers.
  int64_t vocab = 0;        ///< embedding: rows of the table
  int64_t dim = 0;          ///< embedding: width D of a token
  int64_t maxPositions = 0; ///< position_embedding: rows (0: the input's T)
  int64_t heads = 0;        ///< attention: query heads H
  int64_t kvHeads = 0;      ///< attention: key/value heads (0: H)
  bool rope = false;        ///< attention: rotary positions on Q and K

  // Optional hints from the model file.
  std::optional<unsigned> stageHint;
  std::optional<unsigned> gradientDelay;
  MeasuredTimes measured;

  /// Position of the layer in the model file's "layers" array, so later
  /// stages can point at it (/layers/<sourceIndex>) in their messages.
  unsigned sourceIndex = 0;

  // Inferred by the frontend.
  Shape inputShape; ///< shape of the (first) input
  Shape outputShape;
  int64_t params = 0; ///< trainable parameters (weights + biases)
  LayerFlops flops;

  bool hasWeights() const { return params > 0; }
  bool isLoss() const { return kind == LayerKind::SoftmaxCrossEntropy; }
};

/// A network: layers in topological order, each layer's inputs earlier.
struct Model {
  std::string name;
  Shape inputShape;
  int64_t batchSize = 1;
  /// The batch the machine's rates describe: the model file's batch_size,
  /// kept when --micro-batch prices the model at another batch (0: the
  /// model was never repriced, batchSize itself). The cost model's GEMM
  /// efficiency curve compares a task's rows at batchSize with those here.
  int64_t referenceBatch = 0;
  /// Number of classes, from the loss layer's input width.
  int64_t numClasses = 0;
  std::vector<Layer> layers;
  /// Index of the single softmax_cross_entropy layer (the last one).
  unsigned lossLayer = 0;

  int64_t totalParams() const;
  LayerFlops totalFlops() const;
  /// Index of the layer called \p name, or -1.
  int findLayer(llvm::StringRef name) const;
  /// Consumers of each layer (the inverse of Layer::inputs).
  std::vector<llvm::SmallVector<unsigned, 2>> consumers() const;
};

/// Tensor bytes of one layer per mini-batch, the one definition shared by
/// the cost model (bytes a task moves), the DFG (bytes on edges) and memory
/// reports. See docs/cost-model.md.
struct LayerBytes {
  /// All inputs of the layer (the model input for the first layer).
  int64_t inputActivations = 0;
  int64_t outputActivations = 0;
  /// Trainable parameters.
  int64_t weights = 0;
  /// What the activation-gradient task needs from the forward pass: the
  /// inputs for relu/relu6/tanh/sigmoid, max pooling, batchnorm and dropout (its
  /// mask); nothing for conv2d and dense (they need only the weights),
  /// average pooling, flatten, add, concat and the loss.
  int64_t savedForActivationGradient = 0;

  /// Bytes each task reads plus writes (docs/cost-model.md):
  /// F: inputs + weights -> outputs.
  int64_t forwardTask() const;
  /// B: output gradient + savedForActivationGradient + weights -> input
  /// gradient.
  int64_t activationGradientTask() const;
  /// G: output gradient + saved inputs -> weight gradient.
  int64_t weightGradientTask() const;
  /// U: weights + gradient + momentum -> weights + momentum.
  int64_t updateTask() const;
};

/// Bytes of layer \p layer of \p model with \p bytesPerElement per element.
LayerBytes layerBytes(const Model &model, unsigned layer,
                      int64_t bytesPerElement);

/// Reads and checks a model file. Errors name the layer or field (as a JSON
/// pointer) and the numbers involved.
llvm::Expected<Model> loadModel(llvm::StringRef path);
/// Same, from text; \p fileName is used in error messages.
llvm::Expected<Model> parseModel(llvm::StringRef text,
                                 llvm::StringRef fileName);

/// Prices \p model at mini-batch \p batch instead of its batch_size (the
/// planner's --micro-batch): shapes, FLOPs and bytes are inferred again.
/// Fails when a layer carries measured times (they are for the file's
/// batch: profile at the micro-batch instead) or the batch is below 1.
llvm::Error rebatchModel(Model &model, int64_t batch);

} // namespace layerpipe

#endif // LAYERPIPE_MODEL_H
