//===- ShapeInference.cpp - Shapes, parameters and FLOPs of layers --------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// Walks the layers in topological order and infers each one's output shape,
// trainable parameters and the FLOPs of its four training tasks per
// mini-batch. The formulas are documented in docs/model-format.md ("Shapes,
// parameters and FLOPs"); keep the two in step.
//
// All arithmetic on sizes is overflow-checked: a model whose tensors,
// parameters or FLOPs do not fit the limits is an input error naming the layer
// and the numbers, never a wrapped-around answer.
//
//===----------------------------------------------------------------------===//

#include "FrontendInternal.h"

#include "llvm/Support/ErrorHandling.h"
#include "llvm/Support/FormatVariadic.h"

#include <limits>

using namespace llvm;

namespace layerpipe {

namespace {

/// A non-negative int64 that remembers whether any step overflowed.
struct Checked {
  int64_t value = 0;
  bool overflow = false;

  Checked(int64_t v = 0) : value(v) {}
  Checked operator*(Checked o) const {
    Checked r;
    r.overflow = overflow || o.overflow ||
                 __builtin_mul_overflow(value, o.value, &r.value);
    return r;
  }
  Checked operator+(Checked o) const {
    Checked r;
    r.overflow = overflow || o.overflow ||
                 __builtin_add_overflow(value, o.value, &r.value);
    return r;
  }
  bool fits(int64_t limit) const { return !overflow && value <= limit; }
};

/// Element count of \p shape, overflow-checked.
Checked checkedElements(const Shape &shape) {
  Checked n(1);
  for (int64_t d : shape.dims)
    n = n * d;
  return n;
}

/// FLOPs per mini-batch of the four tasks, before they are checked.
struct CheckedFlops {
  Checked forward, activationGradient, weightGradient, update;
};

class ShapeInferrer {
public:
  ShapeInferrer(Model &model, StringRef fileName)
      : model(model), fileName(fileName) {}

  Error run();

private:
  Model &model;
  StringRef fileName;
  Checked modelFlops;

  Error inferLayer(Layer &layer);
  Error inferWindow(Layer &layer, const Shape &in, CheckedFlops &flops);
  Error inferTransformerLayer(Layer &layer, const Shape &in, Checked &params,
                              CheckedFlops &flops);
  Error checkLayerTotals(Layer &layer, Checked params,
                         const CheckedFlops &flops, const Checked &inputs);

  Error layerError(const Layer &layer, StringRef field, const Twine &message) {
    std::string pointer = layerPointer(layer);
    if (!field.empty())
      pointer += "/" + field.str();
    return modelError(fileName, pointer,
                      "layer '" + layer.name + "': " + message);
  }
  /// Name of the producer of input \p i of \p layer, for messages.
  std::string producerName(const Layer &layer, unsigned i) const {
    if (layer.inputs.empty())
      return "the model input";
    return "'" + model.layers[layer.inputs[i]].name + "'";
  }
};

} // namespace

/// Output size of a sliding window along one axis; 0 if it does not fit.
static int64_t windowOutput(int64_t in, int64_t kernel, int64_t stride,
                            int64_t pad) {
  // All operands are at most 2^31 - 1, so this cannot overflow.
  int64_t padded = in + 2 * pad;
  if (kernel > padded)
    return 0;
  return (padded - kernel) / stride + 1;
}

Error ShapeInferrer::inferWindow(Layer &layer, const Shape &in,
                                 CheckedFlops &flops) {
  StringRef kind = layerKindName(layer.kind);
  if (!in.isImage())
    return layerError(layer, "",
                      Twine(kind) + " needs an image input [C, H, W], " +
                          producerName(layer, 0) + " gives " + in.str());
  int64_t c = in.dims[0], h = in.dims[1], w = in.dims[2];
  bool isConv = layer.kind == LayerKind::Conv2d;
  if (!isConv && (2 * layer.padH > layer.kernelH ||
                  2 * layer.padW > layer.kernelW))
    return layerError(layer, "padding",
                      formatv("padding {0}x{1} is more than half the kernel "
                              "{2}x{3}",
                              layer.padH, layer.padW, layer.kernelH,
                              layer.kernelW));
  int64_t outH = windowOutput(h, layer.kernelH, layer.strideH, layer.padH);
  int64_t outW = windowOutput(w, layer.kernelW, layer.strideW, layer.padW);
  if (outH == 0 || outW == 0)
    return layerError(layer, "kernel",
                      formatv("kernel {0}x{1} larger than padded input "
                              "{2}x{3} (input {4}x{5}, padding {6}x{7})",
                              layer.kernelH, layer.kernelW, h + 2 * layer.padH,
                              w + 2 * layer.padW, h, w, layer.padH,
                              layer.padW));
  int64_t batch = model.batchSize;
  Checked windowSize = Checked(layer.kernelH) * layer.kernelW;
  if (!isConv) {
    layer.outputShape.dims = {c, outH, outW};
    Checked outputs = Checked(c) * outH * outW * batch;
    flops.forward = outputs * windowSize;
    // Max pooling routes one gradient per output; average spreads it.
    flops.activationGradient =
        layer.kind == LayerKind::MaxPool ? outputs : outputs * windowSize;
    return Error::success();
  }

  if (layer.inChannels != 0 && layer.inChannels != c)
    return layerError(layer, "in_channels",
                      formatv("expects {0} input channels, {1} gives {2}",
                              layer.inChannels, producerName(layer, 0), c));
  int64_t cout = layer.outChannels;
  if (c % layer.groups != 0 || cout % layer.groups != 0)
    return layerError(layer, "groups",
                      formatv("{0} groups must divide both the {1} input "
                              "channels ({2}) and the {3} output channels",
                              layer.groups, c, producerName(layer, 0), cout));
  layer.outputShape.dims = {cout, outH, outW};
  Checked outputs = Checked(cout) * outH * outW * batch;
  // Each output channel sees the C / groups channels of its group.
  Checked macs = outputs * (c / layer.groups) * windowSize;
  Checked biasWork = layer.bias ? outputs : Checked(0);
  flops.forward = Checked(2) * macs + biasWork;
  flops.activationGradient = Checked(2) * macs;
  flops.weightGradient = Checked(2) * macs + biasWork;
  return Error::success();
}

/// Shapes, parameters and FLOPs of the Transformer layers; the formulas are
/// those of docs/model-format.md ("Transformer layers").
Error ShapeInferrer::inferTransformerLayer(Layer &layer, const Shape &in,
                                           Checked &params,
                                           CheckedFlops &flops) {
  StringRef kind = layerKindName(layer.kind);
  int64_t batch = model.batchSize;
  Checked elements = Checked(in.numElements()) * batch;
  if (layer.kind == LayerKind::Embedding) {
    if (in.dims.size() != 1)
      return layerError(layer, "",
                        "embedding needs token ids [T], " +
                            producerName(layer, 0) + " gives " + in.str());
    if (!layer.inputs.empty())
      return layerError(layer, "inputs",
                        "embedding reads token ids, so it must read the "
                        "model input, not " +
                            producerName(layer, 0));
    layer.outputShape.dims = {in.dims[0], layer.dim};
    params = Checked(layer.vocab) * layer.dim;
    // F copies rows; G adds each token's gradient into its row. No B: the
    // input is integer ids.
    flops.weightGradient = elements * layer.dim;
    return Error::success();
  }
  if (!in.isSequence())
    return layerError(layer, "",
                      Twine(kind) + " needs a sequence [T, D], " +
                          producerName(layer, 0) + " gives " + in.str());
  int64_t t = in.dims[0], d = in.dims[1];
  switch (layer.kind) {
  case LayerKind::PositionEmbedding: {
    int64_t rows = layer.maxPositions ? layer.maxPositions : t;
    if (rows < t)
      return layerError(layer, "max_positions",
                        formatv("max_positions {0} is less than the "
                                "sequence length {1} of {2}",
                                rows, t, producerName(layer, 0)));
    params = Checked(rows) * d;
    flops.forward = elements;
    flops.weightGradient = elements;
    break;
  }
  case LayerKind::LayerNorm:
    // Per token over D: mean, variance, normalise, scale and shift.
    params = Checked(2) * d;
    flops.forward = elements * 8;
    flops.activationGradient = elements * 8;
    flops.weightGradient = elements * 3;
    break;
  case LayerKind::RmsNorm:
    params = Checked(d);
    flops.forward = elements * 4;
    flops.activationGradient = elements * 6;
    flops.weightGradient = elements * 2;
    break;
  case LayerKind::Gelu:
    // tanh approximation: ~8 operations forward, ~12 for the derivative.
    flops.forward = elements * 8;
    flops.activationGradient = elements * 12;
    break;
  case LayerKind::Silu:
    flops.forward = elements * 5;
    flops.activationGradient = elements * 7;
    break;
  case LayerKind::SwiGlu:
    if (d % 2 != 0)
      return layerError(layer, "",
                        formatv("swiglu splits its input into gate and "
                                "value halves, but {0} gives an odd width {1}",
                                producerName(layer, 0), d));
    layer.outputShape.dims = {t, d / 2};
    flops.forward = Checked(in.numElements() / 2) * batch * 6;
    flops.activationGradient = Checked(in.numElements() / 2) * batch * 10;
    break;
  case LayerKind::Attention: {
    int64_t h = layer.heads, kv = layer.kvHeads;
    int64_t parts = h + 2 * kv;
    if (d % parts != 0)
      return layerError(
          layer, "heads",
          formatv("the input width {0} from {1} is not (heads + 2 x "
                  "kv_heads) x head width = ({2} + 2 x {3}) x "
                  "head width; feed it a dense of {2}+2x{3} heads' "
                  "queries, keys and values",
                  d, producerName(layer, 0), h, kv));
    int64_t dh = d / parts;
    layer.outputShape.dims = {t, h * dh};
    // Scores Q K^T and the weighted sum P V: 2 T^2 dh each per head; the
    // causal softmax ~5 per score (full T x T, the mask is applied, not
    // skipped). Backward: dP, dV, dQ, dK (4 matmuls) and ~3 per score.
    Checked perHead = Checked(t) * t * dh;
    Checked scores = Checked(h) * t * t * batch;
    flops.forward = Checked(4) * perHead * h * batch + scores * 5;
    flops.activationGradient = Checked(8) * perHead * h * batch + scores * 3;
    if (layer.rope) {
      Checked rotated = Checked(t) * (h + kv) * dh * batch * 3;
      flops.forward = flops.forward + rotated;
      flops.activationGradient = flops.activationGradient + rotated;
    }
    break;
  }
  default:
    llvm_unreachable("not a Transformer layer");
  }
  return Error::success();
}

Error ShapeInferrer::checkLayerTotals(Layer &layer, Checked params,
                                      const CheckedFlops &flops,
                                      const Checked &inputs) {
  const int64_t maxInt = std::numeric_limits<int64_t>::max();
  Checked outputs = checkedElements(layer.outputShape) * model.batchSize;
  if (!outputs.fits(kMaxElements) || !inputs.fits(kMaxElements))
    return layerError(
        layer, "",
        formatv("output {0} x batch {1} exceeds the limit of 2^56 elements "
                "per tensor",
                layer.outputShape.str(), model.batchSize));
  if (!params.fits(kMaxElements))
    return layerError(layer, "",
                      "more than 2^56 parameters (the limit)");
  layer.params = params.value;
  CheckedFlops all = flops;
  all.update = Checked(4) * params;
  Checked total =
      all.forward + all.activationGradient + all.weightGradient + all.update;
  if (!total.fits(maxInt))
    return layerError(layer, "",
                      formatv("FLOPs per mini-batch overflow int64 (output "
                              "{0}, batch {1}, {2} parameters)",
                              layer.outputShape.str(), model.batchSize,
                              layer.params));
  modelFlops = modelFlops + total;
  if (!modelFlops.fits(maxInt))
    return layerError(layer, "",
                      "the model's total FLOPs per mini-batch overflow int64 "
                      "at this layer");
  layer.flops.forward = all.forward.value;
  layer.flops.activationGradient = all.activationGradient.value;
  layer.flops.weightGradient = all.weightGradient.value;
  layer.flops.update = all.update.value;
  return Error::success();
}

Error ShapeInferrer::inferLayer(Layer &layer) {
  // Shapes of all inputs; the model input if the layer has no producer.
  SmallVector<const Shape *, 2> ins;
  if (layer.inputs.empty())
    ins.push_back(&model.inputShape);
  for (unsigned producer : layer.inputs)
    ins.push_back(&model.layers[producer].outputShape);
  const Shape &in = *ins.front();
  layer.inputShape = in;
  Checked inputs;
  for (const Shape *shape : ins)
    inputs = inputs + Checked(shape->numElements()) * model.batchSize;

  int64_t batch = model.batchSize;
  int64_t n = in.numElements();
  Checked elements = Checked(n) * batch;
  Checked params;
  CheckedFlops flops;
  layer.outputShape = in;
  // Element-wise layers: FLOPs per element of forward and backward.
  auto elementwise = [&](int64_t forward, int64_t backward) {
    flops.forward = elements * forward;
    flops.activationGradient = elements * backward;
  };

  switch (layer.kind) {
  case LayerKind::Conv2d:
    if (Error err = inferWindow(layer, in, flops))
      return err;
    params = Checked(layer.outChannels) * (in.dims[0] / layer.groups) *
                 layer.kernelH * layer.kernelW +
             (layer.bias ? layer.outChannels : 0);
    break;
  case LayerKind::MaxPool:
  case LayerKind::AvgPool:
    if (Error err = inferWindow(layer, in, flops))
      return err;
    break;
  case LayerKind::Dense: {
    if (in.isImage())
      return layerError(layer, "",
                        "dense needs a vector input, " +
                            producerName(layer, 0) + " gives the image " +
                            in.str() + ": insert a flatten layer before it");
    // On a sequence {T, D} the same weights apply to every token.
    int64_t tokens = in.isSequence() ? in.dims[0] : 1;
    int64_t width = in.isSequence() ? in.dims[1] : n;
    if (in.isSequence())
      layer.outputShape.dims = {tokens, layer.units};
    else
      layer.outputShape.dims = {layer.units};
    Checked macs = elements * layer.units;
    Checked biasWork =
        layer.bias ? Checked(layer.units) * tokens * batch : Checked(0);
    params = Checked(width) * layer.units + (layer.bias ? layer.units : 0);
    flops.forward = Checked(2) * macs + biasWork;
    flops.activationGradient = Checked(2) * macs;
    flops.weightGradient = Checked(2) * macs + biasWork;
    break;
  }
  case LayerKind::Relu:
    elementwise(1, 1);
    break;
  case LayerKind::Tanh:
  case LayerKind::Sigmoid:
    elementwise(4, 3);
    break;
  case LayerKind::Flatten:
    layer.outputShape.dims = {n};
    break;
  case LayerKind::Dropout:
    elementwise(2, 1);
    break;
  case LayerKind::Add:
    for (unsigned i = 1; i < ins.size(); ++i)
      if (*ins[i] != in)
        return layerError(layer, "inputs",
                          "add needs inputs of equal shape, " +
                              producerName(layer, 0) + " gives " + in.str() +
                              " but " + producerName(layer, i) + " gives " +
                              ins[i]->str());
    // The gradient reaches every input unchanged: no backward arithmetic.
    flops.forward = elements * static_cast<int64_t>(ins.size() - 1);
    break;
  case LayerKind::BatchNorm:
    // Per channel of an image, per feature of a vector: scale and shift.
    params = Checked(2) * in.dims[0];
    elementwise(8, 6);
    flops.weightGradient = elements * 3;
    break;
  case LayerKind::Concat: {
    // Along the first dimension: channels of images, features of vectors.
    int64_t joined = 0;
    for (unsigned i = 0; i < ins.size(); ++i) {
      const Shape &s = *ins[i];
      bool sameRest = s.dims.size() == in.dims.size();
      for (size_t d = 1; sameRest && d < s.dims.size(); ++d)
        sameRest = s.dims[d] == in.dims[d];
      if (!sameRest)
        return layerError(
            layer, "inputs",
            "concat joins along the first dimension (channels) and needs "
            "the other dimensions equal, " +
                producerName(layer, 0) + " gives " + in.str() + " but " +
                producerName(layer, i) + " gives " + s.str());
      joined += s.dims[0]; // each at most 2^31 - 1, at most 10^5 inputs
    }
    layer.outputShape.dims[0] = joined;
    // A copy: no arithmetic; its cost is the bytes it moves.
    break;
  }
  case LayerKind::GlobalAvgPool:
    if (!in.isImage())
      return layerError(layer, "",
                        "global_avgpool needs an image input [C, H, W], " +
                            producerName(layer, 0) + " gives " + in.str());
    layer.outputShape.dims = {in.dims[0], 1, 1};
    // A sum per input element; the gradient spreads back the same way.
    elementwise(1, 1);
    break;
  case LayerKind::Relu6:
    elementwise(2, 2);
    break;
  case LayerKind::SoftmaxCrossEntropy:
    if (in.isImage())
      return layerError(layer, "",
                        "softmax_cross_entropy needs a vector of class "
                        "scores, " +
                            producerName(layer, 0) + " gives the image " +
                            in.str() + ": insert flatten and dense layers");
    if (n < 2)
      return layerError(layer, "",
                        formatv("softmax_cross_entropy needs at least 2 "
                                "classes, {0} gives {1}",
                                producerName(layer, 0), n));
    // A sequence {T, V} is one classification per token (labels {T}).
    model.numClasses = in.dims.back();
    if (model.numClasses < 2)
      return layerError(layer, "",
                        formatv("softmax_cross_entropy needs at least 2 "
                                "classes, {0} gives {1}",
                                producerName(layer, 0), in.str()));
    layer.outputShape.dims = {1};
    elementwise(5, 2);
    break;
  case LayerKind::Embedding:
  case LayerKind::PositionEmbedding:
  case LayerKind::LayerNorm:
  case LayerKind::RmsNorm:
  case LayerKind::Attention:
  case LayerKind::Gelu:
  case LayerKind::Silu:
  case LayerKind::SwiGlu:
    if (Error err = inferTransformerLayer(layer, in, params, flops))
      return err;
    break;
  }
  return checkLayerTotals(layer, params, flops, inputs);
}

Error ShapeInferrer::run() {
  if (!(checkedElements(model.inputShape) * model.batchSize).fits(kMaxElements))
    return modelError(fileName, "/input/shape",
                      formatv("input {0} x batch {1} exceeds the limit of "
                              "2^56 elements per tensor",
                              model.inputShape.str(), model.batchSize));
  for (Layer &layer : model.layers)
    if (Error err = inferLayer(layer))
      return err;
  return Error::success();
}

Error inferShapes(Model &model, StringRef fileName) {
  return ShapeInferrer(model, fileName).run();
}

} // namespace layerpipe
