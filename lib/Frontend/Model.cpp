//===- Model.cpp - The layer graph of a network ---------------------------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// The small pieces of the layer graph that every stage uses: shapes, layer
// kind names, totals, lookups, and the tensor bytes of a layer. Parsing and
// shape inference live in ModelParser.cpp and ShapeInference.cpp.
//
//===----------------------------------------------------------------------===//

#include "layerpipe/Model.h"
#include "layerpipe/InputFile.h"

#include "FrontendInternal.h"

#include <cassert>

using namespace llvm;

namespace layerpipe {

namespace {
struct KindSpelling {
  LayerKind kind;
  const char *name;
};
} // namespace

static const KindSpelling kindSpellings[] = {
    {LayerKind::Conv2d, "conv2d"},
    {LayerKind::Dense, "dense"},
    {LayerKind::MaxPool, "maxpool"},
    {LayerKind::AvgPool, "avgpool"},
    {LayerKind::Relu, "relu"},
    {LayerKind::Tanh, "tanh"},
    {LayerKind::Sigmoid, "sigmoid"},
    {LayerKind::Flatten, "flatten"},
    {LayerKind::Add, "add"},
    {LayerKind::BatchNorm, "batchnorm"},
    {LayerKind::Dropout, "dropout"},
    {LayerKind::SoftmaxCrossEntropy, "softmax_cross_entropy"},
    {LayerKind::Concat, "concat"},
    {LayerKind::GlobalAvgPool, "global_avgpool"},
    {LayerKind::Relu6, "relu6"},
    {LayerKind::Embedding, "embedding"},
    {LayerKind::PositionEmbedding, "position_embedding"},
    {LayerKind::LayerNorm, "layernorm"},
    {LayerKind::RmsNorm, "rmsnorm"},
    {LayerKind::Attention, "attention"},
    {LayerKind::Gelu, "gelu"},
    {LayerKind::Silu, "silu"},
    {LayerKind::SwiGlu, "swiglu"},
};

StringRef layerKindName(LayerKind kind) {
  for (const KindSpelling &s : kindSpellings)
    if (s.kind == kind)
      return s.name;
  llvm_unreachable("unknown LayerKind");
}

ArrayRef<LayerKind> allLayerKinds() {
  static const std::vector<LayerKind> kinds = [] {
    std::vector<LayerKind> all;
    for (const KindSpelling &s : kindSpellings)
      all.push_back(s.kind);
    return all;
  }();
  return kinds;
}

std::optional<LayerKind> parseLayerKind(StringRef name) {
  for (const KindSpelling &s : kindSpellings)
    if (name == s.name)
      return s.kind;
  return std::nullopt;
}

int64_t Shape::numElements() const {
  // The frontend guarantees that the product fits in int64.
  int64_t n = 1;
  for (int64_t d : dims)
    n *= d;
  return n;
}

std::string Shape::str() const {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) {
    if (i)
      s += ", ";
    s += std::to_string(dims[i]);
  }
  return s + "]";
}

int64_t Model::totalParams() const {
  int64_t total = 0;
  for (const Layer &layer : layers)
    total += layer.params;
  return total;
}

LayerFlops Model::totalFlops() const {
  LayerFlops total;
  for (const Layer &layer : layers) {
    total.forward += layer.flops.forward;
    total.activationGradient += layer.flops.activationGradient;
    total.weightGradient += layer.flops.weightGradient;
    total.update += layer.flops.update;
  }
  return total;
}

int Model::findLayer(StringRef layerName) const {
  for (size_t i = 0; i < layers.size(); ++i)
    if (layers[i].name == layerName)
      return static_cast<int>(i);
  return -1;
}

std::vector<SmallVector<unsigned, 2>> Model::consumers() const {
  std::vector<SmallVector<unsigned, 2>> result(layers.size());
  for (unsigned i = 0; i < layers.size(); ++i)
    for (unsigned producer : layers[i].inputs) {
      assert(producer < i && "layers must be in topological order");
      result[producer].push_back(i);
    }
  return result;
}

int64_t LayerBytes::forwardTask() const {
  return inputActivations + weights + outputActivations;
}

int64_t LayerBytes::activationGradientTask() const {
  // Writes the input gradient, which has the size of the inputs.
  return outputActivations + savedForActivationGradient + weights +
         inputActivations;
}

int64_t LayerBytes::weightGradientTask() const {
  return outputActivations + inputActivations + weights;
}

int64_t LayerBytes::updateTask() const {
  // Momentum SGD: reads W, grad W and the momentum, writes W and momentum.
  return 5 * weights;
}

LayerBytes layerBytes(const Model &model, unsigned index,
                      int64_t bytesPerElement) {
  assert(index < model.layers.size() && "layer index out of range");
  const Layer &layer = model.layers[index];
  int64_t batch = model.batchSize;
  LayerBytes bytes;
  if (layer.inputs.empty())
    bytes.inputActivations = model.inputShape.numElements();
  for (unsigned producer : layer.inputs)
    bytes.inputActivations += model.layers[producer].outputShape.numElements();
  bytes.inputActivations *= batch * bytesPerElement;
  bytes.outputActivations =
      layer.outputShape.numElements() * batch * bytesPerElement;
  bytes.weights = layer.params * bytesPerElement;
  switch (layer.kind) {
  case LayerKind::Relu:
  case LayerKind::Tanh:
  case LayerKind::Sigmoid:
  case LayerKind::MaxPool:
  case LayerKind::BatchNorm:
  case LayerKind::Dropout:
  case LayerKind::Relu6:
  case LayerKind::LayerNorm:
  case LayerKind::RmsNorm:
  case LayerKind::Gelu:
  case LayerKind::Silu:
  case LayerKind::SwiGlu:
    bytes.savedForActivationGradient = bytes.inputActivations;
    break;
  case LayerKind::Attention: {
    // Queries, keys, values and the H x T x T probabilities.
    int64_t t = layer.inputShape.dims[0];
    bytes.savedForActivationGradient =
        bytes.inputActivations + layer.heads * t * t * batch * bytesPerElement;
    break;
  }
  default:
    break;
  }
  return bytes;
}

Error rebatchModel(Model &model, int64_t batch) {
  if (batch < 1)
    return createStringError(inconvertibleErrorCode(),
                             "--micro-batch must be at least 1, got %lld",
                             (long long)batch);
  if (batch == model.batchSize)
    return Error::success();
  for (const Layer &layer : model.layers) {
    if (layer.measured.any())
      return createStringError(
          inconvertibleErrorCode(),
          "layer '%s' carries measured times for batch %lld; they cannot "
          "price micro-batch %lld (profile at that batch instead)",
          layer.name.c_str(), (long long)model.batchSize, (long long)batch);
  }
  if (model.referenceBatch == 0)
    model.referenceBatch = model.batchSize;
  model.batchSize = batch;
  return inferShapes(model, "<micro-batch " + std::to_string(batch) + ">");
}

Expected<Model> loadModel(StringRef path) {
  Expected<std::unique_ptr<MemoryBuffer>> buffer =
      readInputFile(path, "model file");
  if (!buffer)
    return buffer.takeError();
  return parseModel((*buffer)->getBuffer(), path);
}

} // namespace layerpipe
