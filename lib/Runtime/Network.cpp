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
    l.outShape = {l.units};
    l.numWeights = l.units * shapeElements(in);
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
    if (in.size() != 1 || in[0] < 2) {
      error = where + " needs a vector of at least 2 logits, got " +
              shapeToString(in);
      return false;
    }
    l.outShape = {1};
    return true;
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
  net.numClasses = net.layers.back().inShape[0];
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
    denseForward(n, x.perSample(), l.units, x.ptr(), params,
                 l.bias ? params + l.numWeights : nullptr, out.ptr());
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
    int64_t k = x.perSample();
    cache.aux.reshapeUninitialized(x.shape);
    cache.index.assign(ctx.labels, ctx.labels + n);
    cache.correct = 0;
    cache.loss = softmaxCrossEntropyForward(n, k, x.ptr(), ctx.labels,
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
    denseBackwardData(n, x.perSample(), l.units, dy, params, dx.ptr());
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
    softmaxCrossEntropyBackward(n, x.perSample(), cache.aux.ptr(),
                                cache.index.data(), dx.ptr());
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
    denseBackwardWeights(n, x.perSample(), l.units, x.ptr(), outGrad.ptr(),
                         paramGrad,
                         l.bias ? paramGrad + l.numWeights : nullptr);
    return;
  case LayerType::BatchNorm: {
    auto [c, plane] = bnChannels(l.inShape);
    batchNormBackwardWeights(n, c, plane, outGrad.ptr(), cache.aux.ptr(),
                             paramGrad, paramGrad + c);
    return;
  }
  default:
    assert(false && "layer type has no weights");
  }
}

} // namespace runtime
} // namespace layerpipe
