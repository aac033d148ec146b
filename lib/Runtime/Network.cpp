//===- Network.cpp - Shapes, initial parameters, per-layer tasks ----------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// Shape inference and checking of a NetSpec, the initial parameters, and the
// dispatch from a layer's type to its kernels for the three tasks F, B and G
// of the training DFG.
//
//===----------------------------------------------------------------------===//

#include "layerpipe/runtime/Network.h"
#include "layerpipe/runtime/Random.h"
#include "layerpipe/runtime/TransformerKernels.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstring>

namespace layerpipe {
namespace runtime {

const char *layerTypeName(LayerType type) {
  switch (type) {
  case LayerType::Conv2d:
    return "conv2d";
  case LayerType::Dense:
    return "dense";
  case LayerType::MaxPool:
    return "maxpool";
  case LayerType::AvgPool:
    return "avgpool";
  case LayerType::Relu:
    return "relu";
  case LayerType::Tanh:
    return "tanh";
  case LayerType::Sigmoid:
    return "sigmoid";
  case LayerType::Flatten:
    return "flatten";
  case LayerType::Add:
    return "add";
  case LayerType::BatchNorm:
    return "batchnorm";
  case LayerType::Dropout:
    return "dropout";
  case LayerType::SoftmaxCrossEntropy:
    return "softmax_cross_entropy";
  case LayerType::Concat:
    return "concat";
  case LayerType::GlobalAvgPool:
    return "global_avgpool";
  case LayerType::Relu6:
    return "relu6";
  case LayerType::Embedding:
    return "embedding";
  case LayerType::PositionEmbedding:
    return "position_embedding";
  case LayerType::LayerNorm:
    return "layernorm";
  case LayerType::RmsNorm:
    return "rmsnorm";
  case LayerType::Attention:
    return "attention";
  case LayerType::Gelu:
    return "gelu";
  case LayerType::Silu:
    return "silu";
  case LayerType::SwiGlu:
    return "swiglu";
  }
  return "?";
}

/// Window geometry of a conv/pool layer applied to a batch of \p n samples
/// of shape \p in ({C, H, W}).
static WindowGeom windowOf(const LayerSpec &l, const std::vector<int64_t> &in,
                           int64_t n) {
  WindowGeom g;
  g.n = n;
  g.c = in[0];
  g.h = in[1];
  g.w = in[2];
  g.kh = l.kernelH;
  g.kw = l.kernelW;
  g.sh = l.strideH;
  g.sw = l.strideW;
  g.ph = l.padH;
  g.pw = l.padW;
  g.finish();
  return g;
}

/// Channels and plane size batchnorm normalises over: {C, H·W} for images,
/// {F, 1} for vectors.
static std::pair<int64_t, int64_t> bnChannels(const std::vector<int64_t> &in) {
  if (in.size() == 3)
    return {in[0], in[1] * in[2]};
  return {shapeElements(in), 1};
}

static std::string layerRef(const LayerSpec &l, size_t index) {
  return "layer '" + l.name + "' (#" + std::to_string(index) + ", " +
         layerTypeName(l.type) + ")";
}

/// Features a dense layer reads per row: D of a sequence [T, D], else every
/// element of a sample (a vector, or an image read whole).
static int64_t denseWidth(const LayerSpec &l) {
  return l.inShape.size() == 2 ? l.inShape[1] : shapeElements(l.inShape);
}

/// Attention geometry of a layer on \p n samples (finalized shapes).
static AttentionGeom attentionOf(const LayerSpec &l, int64_t n) {
  AttentionGeom g;
  g.n = n;
  g.t = l.inShape[0];
  g.heads = l.heads;
  g.kvHeads = l.kvHeads ? l.kvHeads : l.heads;
  g.headDim = l.inShape[1] / (g.heads + 2 * g.kvHeads);
  g.rope = l.rope;
  return g;
}

/// The Transformer layers' part of inferLayer.
static bool inferTransformerLayer(LayerSpec &l, const std::string &where,
                                  std::string &error) {
  const std::vector<int64_t> &in = l.inShape;
  auto fail = [&](const std::string &message) {
    error = where + message;
    return false;
  };
  if (l.type == LayerType::Embedding) {
    if (in.size() != 1)
      return fail(" needs token ids [T], got " + shapeToString(in));
    if (!l.inputs.empty())
      return fail(" must read the network input (token ids)");
    if (l.vocab <= 0 || l.dim <= 0)
      return fail(": vocab and dim must be positive, got " +
                  std::to_string(l.vocab) + " and " + std::to_string(l.dim));
    l.outShape = {in[0], l.dim};
    l.numWeights = l.numParams = l.vocab * l.dim;
    return true;
  }
  if (in.size() != 2)
    return fail(" needs a sequence [T, D], got " + shapeToString(in));
  l.outShape = in;
  switch (l.type) {
  case LayerType::PositionEmbedding: {
    int64_t rows = l.maxPositions ? l.maxPositions : in[0];
    if (rows < in[0])
      return fail(": max_positions " + std::to_string(rows) +
                  " is less than the sequence length " +
                  std::to_string(in[0]));
    l.numWeights = l.numParams = rows * in[1];
    return true;
  }
  case LayerType::LayerNorm:
    l.numWeights = in[1];
    l.numParams = 2 * in[1];
    return true;
  case LayerType::RmsNorm:
    l.numWeights = l.numParams = in[1];
    return true;
  case LayerType::SwiGlu:
    if (in[1] % 2 != 0)
      return fail(": input width " + std::to_string(in[1]) +
                  " is odd; swiglu needs gate and value halves");
    l.outShape = {in[0], in[1] / 2};
    return true;
  case LayerType::Attention: {
    int64_t kv = l.kvHeads ? l.kvHeads : l.heads;
    if (l.heads <= 0 || kv <= 0 || l.heads % kv != 0)
      return fail(": heads " + std::to_string(l.heads) +
                  " must be a positive multiple of kv_heads " +
                  std::to_string(kv));
    if (in[1] % (l.heads + 2 * kv) != 0)
      return fail(": input width " + std::to_string(in[1]) +
                  " is not (heads + 2 kv_heads) x head width");
    AttentionGeom g = attentionOf(l, 1);
    if (l.rope && g.headDim % 2 != 0)
      return fail(": rope needs an even head width, got " +
                  std::to_string(g.headDim));
    l.outShape = {in[0], g.outWidth()};
    return true;
  }
  default:
    return true; // gelu, silu: element-wise
  }
}

/// Infers one layer's output shape and parameter counts; false with
/// \p error on a shape the layer cannot take.
static bool inferLayer(LayerSpec &l, size_t index, std::string &error) {
  const std::vector<int64_t> &in = l.inShape;
  std::string where = layerRef(l, index);
  l.numWeights = l.numParams = l.numState = 0;
  switch (l.type) {
  case LayerType::Conv2d:
  case LayerType::MaxPool:
  case LayerType::AvgPool: {
    if (in.size() != 3) {
      error = where + " needs an image input [C, H, W], got " +
              shapeToString(in);
      return false;
    }
    if (l.type == LayerType::Conv2d && l.outChannels <= 0) {
      error = where + ": out_channels must be positive, got " +
              std::to_string(l.outChannels);
      return false;
    }
    if (l.type != LayerType::Conv2d &&
        (2 * l.padH > l.kernelH || 2 * l.padW > l.kernelW)) {
      error = where + ": padding " + std::to_string(l.padH) + "x" +
              std::to_string(l.padW) + " is more than half the kernel " +
              std::to_string(l.kernelH) + "x" + std::to_string(l.kernelW) +
              " (a window could lie entirely in the padding)";
      return false;
    }
    WindowGeom g = windowOf(l, in, 1);
    if (!g.finish()) {
      error = where + ": kernel " + std::to_string(l.kernelH) + "x" +
              std::to_string(l.kernelW) + " (stride " +
              std::to_string(l.strideH) + "x" + std::to_string(l.strideW) +
              ", padding " + std::to_string(l.padH) + "x" +
              std::to_string(l.padW) + ") does not fit input " +
              shapeToString(in);
      return false;
    }
    if (l.type == LayerType::Conv2d) {
      if (l.groups < 1 || in[0] % l.groups != 0 ||
          l.outChannels % l.groups != 0) {
        error = where + ": " + std::to_string(l.groups) +
                " groups must divide the " + std::to_string(in[0]) +
                " input and " + std::to_string(l.outChannels) +
                " output channels";
        return false;
      }
      l.outShape = {l.outChannels, g.oh, g.ow};
      l.numWeights =
          l.outChannels * (in[0] / l.groups) * l.kernelH * l.kernelW;
      l.numParams = l.numWeights + (l.bias ? l.outChannels : 0);
    } else {
      l.outShape = {in[0], g.oh, g.ow};
    }
    return true;
  }
  case LayerType::Dense:
    if (l.units <= 0) {
      error = where + ": units must be positive, got " +
              std::to_string(l.units);
      return false;
    }
    if (in.size() == 2) {
      // A sequence {T, D}: the same weights for every token.
      l.outShape = {in[0], l.units};
      l.numWeights = l.units * in[1];
    } else {
      l.outShape = {l.units};
      l.numWeights = l.units * shapeElements(in);
    }
    l.numParams = l.numWeights + (l.bias ? l.units : 0);
    return true;
  case LayerType::Flatten:
    l.outShape = {shapeElements(in)};
    return true;
  case LayerType::BatchNorm:
    l.outShape = in;
    l.numWeights = bnChannels(in).first;
    l.numParams = 2 * l.numWeights;
    l.numState = 2 * l.numWeights;
    return true;
  case LayerType::Dropout:
    if (!(l.dropRate >= 0.0f && l.dropRate < 1.0f)) {
      error = where + ": drop rate must be in [0, 1), got " +
              std::to_string(l.dropRate);
      return false;
    }
    l.outShape = in;
    return true;
  case LayerType::SoftmaxCrossEntropy:
    // {V}: one label per sample; {T, V}: one per token.
    if (in.empty() || in.size() > 2 || in.back() < 2) {
      error = where + " needs a vector of at least 2 logits (or a sequence "
                      "of them), got " +
              shapeToString(in);
      return false;
    }
    l.outShape = {1};
    return true;
  case LayerType::Embedding:
  case LayerType::PositionEmbedding:
  case LayerType::LayerNorm:
  case LayerType::RmsNorm:
  case LayerType::Attention:
  case LayerType::Gelu:
  case LayerType::Silu:
  case LayerType::SwiGlu:
    return inferTransformerLayer(l, where, error);
  case LayerType::Relu:
  case LayerType::Tanh:
  case LayerType::Sigmoid:
  case LayerType::Add:
    l.outShape = in;
    return true;
  case LayerType::Concat:
    // The first dimension is summed by finalizeNet, which sees all inputs.
    l.outShape = in;
    return true;
  case LayerType::GlobalAvgPool:
    if (in.size() != 3) {
      error = where + " needs an image input [C, H, W], got " +
              shapeToString(in);
      return false;
    }
    l.outShape = {in[0], 1, 1};
    return true;
  case LayerType::Relu6:
    l.outShape = in;
    return true;
  }
  return true;
}

/// Concat: every input has the first input's shape except in the first
/// dimension, which the output sums. False with \p error otherwise.
static bool inferConcat(const NetSpec &net, LayerSpec &l, size_t index,
                        std::string &error) {
  int64_t joined = 0;
  for (int p : l.inputs) {
    const std::vector<int64_t> &s = net.layers[size_t(p)].outShape;
    if (s.size() != l.inShape.size() ||
        !std::equal(s.begin() + 1, s.end(), l.inShape.begin() + 1)) {
      error = layerRef(l, index) + " joins " + shapeToString(l.inShape) +
              " and " + shapeToString(s) +
              ": all but the first dimension must agree";
      return false;
    }
    joined += s[0];
  }
  l.outShape[0] = joined;
  return true;
}

bool finalizeNet(NetSpec &net, std::string &error) {
  if (net.layers.empty()) {
    error = "the network has no layers";
    return false;
  }
  if (net.inputShape.empty() || shapeElements(net.inputShape) <= 0) {
    error = "the network input shape " + shapeToString(net.inputShape) +
            " is empty";
    return false;
  }
  net.consumers.assign(net.layers.size(), {});
  for (size_t i = 0; i < net.layers.size(); ++i) {
    LayerSpec &l = net.layers[i];
    std::string where = layerRef(l, i);
    size_t wanted = l.type == LayerType::Add ? 2 : 1;
    if (l.type == LayerType::Concat) {
      if (l.inputs.size() < 2) {
        error = where + " takes at least 2 inputs, got " +
                std::to_string(l.inputs.size());
        return false;
      }
    } else if (l.inputs.size() > wanted || (l.type == LayerType::Add &&
                                            l.inputs.size() != wanted)) {
      error = where + " takes " + std::to_string(wanted) + " input(s), got " +
              std::to_string(l.inputs.size());
      return false;
    }
    for (int p : l.inputs) {
      if (p < 0 || size_t(p) >= i) {
        error = where + " reads layer #" + std::to_string(p) +
                ", which is not an earlier layer";
        return false;
      }
      net.consumers[size_t(p)].push_back(int(i));
    }
    l.inShape = l.inputs.empty() ? net.inputShape
                                 : net.layers[size_t(l.inputs[0])].outShape;
    if (l.type == LayerType::Add) {
      const auto &other = net.layers[size_t(l.inputs[1])].outShape;
      if (other != l.inShape) {
        error = where + " adds " + shapeToString(l.inShape) + " and " +
                shapeToString(other) + ": shapes differ";
        return false;
      }
    }
    bool isLast = i + 1 == net.layers.size();
    if ((l.type == LayerType::SoftmaxCrossEntropy) != isLast) {
      error = isLast ? where + ": the last layer must be "
                               "softmax_cross_entropy"
                     : where + ": softmax_cross_entropy must be the last "
                               "layer";
      return false;
    }
    if (!inferLayer(l, i, error))
      return false;
    if (l.type == LayerType::Concat && !inferConcat(net, l, i, error))
      return false;
  }
  for (size_t i = 0; i + 1 < net.layers.size(); ++i)
    if (net.consumers[i].empty()) {
      error = layerRef(net.layers[i], i) + " has no consumer";
      return false;
    }
  net.numClasses = net.layers.back().inShape.back();
  net.labelsPerSample =
      net.layers.back().inShape.size() == 2 ? net.layers.back().inShape[0] : 1;
  return true;
}


void initParams(const NetSpec &net, uint64_t seed,
                std::vector<std::vector<float>> &params,
                std::vector<std::vector<float>> &state) {
  params.assign(net.layers.size(), {});
  state.assign(net.layers.size(), {});
  for (size_t i = 0; i < net.layers.size(); ++i) {
    const LayerSpec &l = net.layers[i];
    std::vector<float> &p = params[i];
    p.assign(size_t(l.numParams), 0.0f);
    SplitMix64 rng{seed * 0x100000001b3ULL + i};
    if (l.type == LayerType::Conv2d || l.type == LayerType::Dense) {
      int64_t outs = l.type == LayerType::Conv2d ? l.outChannels : l.units;
      float bound = 1.0f / std::sqrt(float(l.numWeights / outs));
      for (float &v : p)
        v = -bound + 2 * bound * rng.uniformFloat();
    } else if (l.type == LayerType::Embedding ||
               l.type == LayerType::PositionEmbedding) {
      // GPT-2's rule: normal with standard deviation 0.02 (Box-Muller).
      for (size_t j = 0; j < p.size(); ++j) {
        float u1 = std::max(rng.uniformFloat(), 1e-7f), u2 = rng.uniformFloat();
        p[j] = 0.02f * std::sqrt(-2.0f * std::log(u1)) *
               std::cos(6.2831853f * u2);
      }
    } else if (l.type == LayerType::LayerNorm ||
               l.type == LayerType::RmsNorm) {
      std::fill(p.begin(), p.begin() + l.numWeights, 1.0f);
    } else if (l.type == LayerType::BatchNorm) {
      std::fill(p.begin(), p.begin() + l.numWeights, 1.0f);
      state[i].assign(size_t(l.numState), 0.0f);
      std::fill(state[i].begin() + l.numWeights, state[i].end(), 1.0f);
    }
  }
}

/// FNV-1a of a layer name: a stable per-layer stream for dropout masks.
static uint64_t nameHash(const std::string &name) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char ch : name)
    h = (h ^ ch) * 0x100000001b3ULL;
  return h;
}

static std::vector<int64_t> withBatch(int64_t n,
                                      const std::vector<int64_t> &shape) {
  std::vector<int64_t> s{n};
  s.insert(s.end(), shape.begin(), shape.end());
  return s;
}

void layerForward(const LayerSpec &l, const float *params, float *state,
                  const std::vector<const Tensor *> &inputs, Tensor &out,
                  LayerCache &cache, const ForwardContext &ctx) {
  assert(!inputs.empty() && inputs[0] && "missing input");
  const Tensor &x = *inputs[0];
  int64_t n = x.batch();
  int64_t count = x.size();
  assert(x.perSample() == shapeElements(l.inShape) && "input shape mismatch");
  if (l.type != LayerType::SoftmaxCrossEntropy)
    out.reshapeUninitialized(withBatch(n, l.outShape));
  Scratch localScratch;
  Scratch &scratch = ctx.scratch ? *ctx.scratch : localScratch;
  switch (l.type) {
  case LayerType::Conv2d:
    conv2dGroupedForward(windowOf(l, l.inShape, n), l.outChannels, l.groups,
                         x.ptr(), params,
                         l.bias ? params + l.numWeights : nullptr, out.ptr(),
                         scratch);
    return;
  case LayerType::Dense:
    denseForward(count / denseWidth(l), denseWidth(l), l.units, x.ptr(),
                 params, l.bias ? params + l.numWeights : nullptr, out.ptr());
    return;
  case LayerType::MaxPool: {
    cache.index.resize(size_t(out.size()));
    maxPoolForward(windowOf(l, l.inShape, n), x.ptr(), out.ptr(),
                   cache.index.data());
    return;
  }
  case LayerType::AvgPool:
    avgPoolForward(windowOf(l, l.inShape, n), x.ptr(), out.ptr());
    return;
  case LayerType::Relu:
    reluForward(count, x.ptr(), out.ptr());
    return;
  case LayerType::Tanh:
    tanhForward(count, x.ptr(), out.ptr());
    return;
  case LayerType::Sigmoid:
    sigmoidForward(count, x.ptr(), out.ptr());
    return;
  case LayerType::Flatten:
    std::memcpy(out.ptr(), x.ptr(), sizeof(float) * size_t(count));
    return;
  case LayerType::Add:
    assert(inputs.size() == 2 && inputs[1]->size() == count);
    addForward(count, x.ptr(), inputs[1]->ptr(), out.ptr());
    return;
  case LayerType::BatchNorm: {
    auto [c, plane] = bnChannels(l.inShape);
    const float *gamma = params, *beta = params + c;
    if (!ctx.training) {
      assert(state && "batchnorm inference needs running statistics");
      batchNormForwardInfer(n, c, plane, x.ptr(), gamma, beta, state,
                            state + c, l.bnEps, out.ptr());
      return;
    }
    cache.aux.reshapeUninitialized(x.shape);
    cache.channel.resize(size_t(c));
    batchNormForwardTrain(n, c, plane, x.ptr(), gamma, beta, l.bnEps,
                          out.ptr(), cache.aux.ptr(), cache.channel.data(),
                          state, state ? state + c : nullptr, l.bnMomentum);
    return;
  }
  case LayerType::Dropout:
    if (!ctx.training || l.dropRate == 0.0f) {
      std::memcpy(out.ptr(), x.ptr(), sizeof(float) * size_t(count));
      cache.aux.release();
      return;
    }
    cache.aux.reshapeUninitialized(x.shape);
    dropoutMask(count, l.dropRate, ctx.seed,
                nameHash(l.name) ^ uint64_t(ctx.batchIndex), cache.aux.ptr());
    multiply(count, x.ptr(), cache.aux.ptr(), out.ptr());
    return;
  case LayerType::SoftmaxCrossEntropy: {
    assert(ctx.labels && "the loss needs labels");
    // Rows: samples, or tokens of a sequence (one label each).
    int64_t k = denseWidth(l), rows = count / k;
    cache.aux.reshapeUninitialized(x.shape);
    cache.index.assign(ctx.labels, ctx.labels + rows);
    cache.correct = 0;
    cache.loss = softmaxCrossEntropyForward(rows, k, x.ptr(), ctx.labels,
                                            cache.aux.ptr(), &cache.correct);
    out.reshapeUninitialized({1});
    out.data[0] = float(cache.loss);
    return;
  }
  case LayerType::Concat: {
    // Per sample, the inputs' blocks one after the other.
    int64_t outPer = out.perSample(), offset = 0;
    for (const Tensor *in : inputs) {
      int64_t per = in->perSample();
      for (int64_t s = 0; s < n; ++s)
        std::memcpy(out.ptr() + s * outPer + offset, in->ptr() + s * per,
                    sizeof(float) * size_t(per));
      offset += per;
    }
    return;
  }
  case LayerType::GlobalAvgPool:
    globalAvgPoolForward(n, l.inShape[0], l.inShape[1] * l.inShape[2],
                         x.ptr(), out.ptr());
    return;
  case LayerType::Relu6:
    relu6Forward(count, x.ptr(), out.ptr());
    return;
  case LayerType::Embedding:
    embeddingForward(count, l.dim, l.vocab, x.ptr(), params, out.ptr());
    return;
  case LayerType::PositionEmbedding:
    positionEmbeddingForward(n, l.inShape[0], l.inShape[1], x.ptr(), params,
                             out.ptr());
    return;
  case LayerType::LayerNorm: {
    int64_t d = l.inShape[1], rows = count / d;
    cache.aux.reshapeUninitialized(x.shape);
    cache.channel.resize(size_t(rows));
    layerNormForward(rows, d, x.ptr(), params, params + d, l.normEps,
                     out.ptr(), cache.aux.ptr(), cache.channel.data());
    return;
  }
  case LayerType::RmsNorm: {
    int64_t d = l.inShape[1], rows = count / d;
    cache.channel.resize(size_t(rows));
    rmsNormForward(rows, d, x.ptr(), params, l.normEps, out.ptr(),
                   cache.channel.data());
    return;
  }
  case LayerType::Attention: {
    AttentionGeom g = attentionOf(l, n);
    cache.aux.reshapeUninitialized({n, g.heads, g.t, g.t});
    attentionForward(g, x.ptr(), out.ptr(), cache.aux.ptr());
    return;
  }
  case LayerType::Gelu:
    geluForward(count, x.ptr(), out.ptr());
    return;
  case LayerType::Silu:
    siluForward(count, x.ptr(), out.ptr());
    return;
  case LayerType::SwiGlu:
    swigluForward(count / l.inShape[1], l.inShape[1] / 2, x.ptr(), out.ptr());
    return;
  }
}

void layerBackwardData(const LayerSpec &l, const float *params,
                       const std::vector<const Tensor *> &inputs,
                       const Tensor &out, const LayerCache &cache,
                       const Tensor &outGrad, std::vector<Tensor> &inputGrads,
                       Scratch &scratch) {
  const Tensor &x = *inputs[0];
  int64_t n = x.batch(), count = x.size();
  inputGrads.resize(inputs.size());
  Tensor &dx = inputGrads[0];
  dx.reshapeUninitialized(x.shape);
  const float *dy = outGrad.ptr();
  switch (l.type) {
  case LayerType::Conv2d:
    conv2dGroupedBackwardData(windowOf(l, l.inShape, n), l.outChannels,
                              l.groups, dy, params, dx.ptr(), scratch);
    return;
  case LayerType::Dense:
    denseBackwardData(count / denseWidth(l), denseWidth(l), l.units, dy,
                      params, dx.ptr());
    return;
  case LayerType::MaxPool:
    maxPoolBackward(windowOf(l, l.inShape, n), dy, cache.index.data(),
                    dx.ptr());
    return;
  case LayerType::AvgPool:
    avgPoolBackward(windowOf(l, l.inShape, n), dy, dx.ptr());
    return;
  case LayerType::Relu:
    reluBackward(count, out.ptr(), dy, dx.ptr());
    return;
  case LayerType::Tanh:
    tanhBackward(count, out.ptr(), dy, dx.ptr());
    return;
  case LayerType::Sigmoid:
    sigmoidBackward(count, out.ptr(), dy, dx.ptr());
    return;
  case LayerType::Flatten:
    std::memcpy(dx.ptr(), dy, sizeof(float) * size_t(count));
    return;
  case LayerType::Add:
    std::memcpy(dx.ptr(), dy, sizeof(float) * size_t(count));
    inputGrads[1] = dx;
    return;
  case LayerType::BatchNorm: {
    auto [c, plane] = bnChannels(l.inShape);
    batchNormBackwardData(n, c, plane, dy, cache.aux.ptr(),
                          cache.channel.data(), params, dx.ptr());
    return;
  }
  case LayerType::Dropout:
    if (cache.aux.empty())
      std::memcpy(dx.ptr(), dy, sizeof(float) * size_t(count));
    else
      multiply(count, dy, cache.aux.ptr(), dx.ptr());
    return;
  case LayerType::SoftmaxCrossEntropy:
    softmaxCrossEntropyBackward(count / denseWidth(l), denseWidth(l),
                                cache.aux.ptr(), cache.index.data(), dx.ptr());
    return;
  case LayerType::Embedding:
    // Token ids have no gradient; a network never asks (it is first).
    std::fill(dx.ptr(), dx.ptr() + count, 0.0f);
    return;
  case LayerType::PositionEmbedding:
    std::memcpy(dx.ptr(), dy, sizeof(float) * size_t(count));
    return;
  case LayerType::LayerNorm: {
    int64_t d = l.inShape[1];
    layerNormBackwardData(count / d, d, dy, cache.aux.ptr(),
                          cache.channel.data(), params, dx.ptr());
    return;
  }
  case LayerType::RmsNorm: {
    int64_t d = l.inShape[1];
    rmsNormBackwardData(count / d, d, dy, x.ptr(), cache.channel.data(),
                        params, dx.ptr());
    return;
  }
  case LayerType::Attention:
    attentionBackward(attentionOf(l, n), x.ptr(), cache.aux.ptr(), dy,
                      dx.ptr());
    return;
  case LayerType::Gelu:
    geluBackward(count, x.ptr(), dy, dx.ptr());
    return;
  case LayerType::Silu:
    siluBackward(count, x.ptr(), dy, dx.ptr());
    return;
  case LayerType::SwiGlu:
    swigluBackward(count / l.inShape[1], l.inShape[1] / 2, x.ptr(), dy,
                   dx.ptr());
    return;
  case LayerType::Concat: {
    // Each input gets its block of the output gradient back.
    int64_t outPer = outGrad.perSample(), offset = 0;
    for (size_t i = 0; i < inputs.size(); ++i) {
      int64_t per = inputs[i]->perSample();
      Tensor &g = inputGrads[i];
      g.reshapeUninitialized(inputs[i]->shape);
      for (int64_t s = 0; s < n; ++s)
        std::memcpy(g.ptr() + s * per, dy + s * outPer + offset,
                    sizeof(float) * size_t(per));
      offset += per;
    }
    return;
  }
  case LayerType::GlobalAvgPool:
    globalAvgPoolBackward(n, l.inShape[0], l.inShape[1] * l.inShape[2], dy,
                          dx.ptr());
    return;
  case LayerType::Relu6:
    relu6Backward(count, out.ptr(), dy, dx.ptr());
    return;
  }
}

void layerBackwardWeights(const LayerSpec &l,
                          const std::vector<const Tensor *> &inputs,
                          const Tensor &out, const LayerCache &cache,
                          const Tensor &outGrad, float *paramGrad,
                          Scratch &scratch) {
  assert(l.hasParams() && "G of a parameter-free layer");
  const Tensor &x = *inputs[0];
  int64_t n = x.batch();
  switch (l.type) {
  case LayerType::Conv2d:
    conv2dGroupedBackwardWeights(windowOf(l, l.inShape, n), l.outChannels,
                                 l.groups, x.ptr(), outGrad.ptr(), paramGrad,
                                 l.bias ? paramGrad + l.numWeights : nullptr,
                                 scratch);
    return;
  case LayerType::Dense:
    denseBackwardWeights(x.size() / denseWidth(l), denseWidth(l),
                         l.units, x.ptr(), outGrad.ptr(), paramGrad,
                         l.bias ? paramGrad + l.numWeights : nullptr);
    return;
  case LayerType::BatchNorm: {
    auto [c, plane] = bnChannels(l.inShape);
    batchNormBackwardWeights(n, c, plane, outGrad.ptr(), cache.aux.ptr(),
                             paramGrad, paramGrad + c);
    return;
  }
  case LayerType::Embedding:
    embeddingBackwardWeights(x.size(), l.dim, l.vocab, x.ptr(), outGrad.ptr(),
                             paramGrad);
    return;
  case LayerType::PositionEmbedding:
    positionEmbeddingBackwardWeights(n, l.inShape[0], l.inShape[1],
                                     l.numParams / l.inShape[1], outGrad.ptr(),
                                     paramGrad);
    return;
  case LayerType::LayerNorm: {
    int64_t d = l.inShape[1];
    layerNormBackwardWeights(x.size() / d, d, outGrad.ptr(), cache.aux.ptr(),
                             paramGrad, paramGrad + d);
    return;
  }
  case LayerType::RmsNorm: {
    int64_t d = l.inShape[1];
    rmsNormBackwardWeights(x.size() / d, d, outGrad.ptr(), x.ptr(),
                           cache.channel.data(), paramGrad);
    return;
  }
  default:
    assert(false && "layer type has no weights");
  }
}

} // namespace runtime
} // namespace layerpipe
