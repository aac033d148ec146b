//===- TestNets.h - Small networks and a plain SGD loop for tests -*- C++ -*-//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// Helpers shared by the runtime's unit tests: builders for tiny networks, a
// deterministic random fill, and a straightforward forward/backward pass
// over a whole network written without any pipeline machinery (the
// reference the PipelineTrainer is compared against).
//
//===----------------------------------------------------------------------===//

#ifndef LAYERPIPE_TEST_RUNTIME_TESTNETS_H
#define LAYERPIPE_TEST_RUNTIME_TESTNETS_H

#include "layerpipe/runtime/Network.h"

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace lptest {

using namespace layerpipe::runtime;

inline LayerSpec layer(const std::string &name, LayerType type,
                       std::vector<int> inputs) {
  LayerSpec l;
  l.name = name;
  l.type = type;
  l.inputs = std::move(inputs);
  return l;
}

inline LayerSpec conv(const std::string &name, std::vector<int> inputs,
                      int64_t out, int64_t k, int64_t stride = 1,
                      int64_t pad = 0) {
  LayerSpec l = layer(name, LayerType::Conv2d, std::move(inputs));
  l.outChannels = out;
  l.kernelH = l.kernelW = k;
  l.strideH = l.strideW = stride;
  l.padH = l.padW = pad;
  return l;
}

inline LayerSpec pool(const std::string &name, LayerType type,
                      std::vector<int> inputs, int64_t k, int64_t stride,
                      int64_t pad = 0) {
  LayerSpec l = layer(name, type, std::move(inputs));
  l.kernelH = l.kernelW = k;
  l.strideH = l.strideW = stride;
  l.padH = l.padW = pad;
  return l;
}

inline LayerSpec dense(const std::string &name, std::vector<int> inputs,
                       int64_t units, bool bias = true) {
  LayerSpec l = layer(name, LayerType::Dense, std::move(inputs));
  l.units = units;
  l.bias = bias;
  return l;
}

inline NetSpec finalized(std::vector<int64_t> inputShape,
                         std::vector<LayerSpec> layers) {
  NetSpec net;
  net.inputShape = std::move(inputShape);
  net.layers = std::move(layers);
  std::string error;
  bool ok = finalizeNet(net, error);
  INFO(error);
  REQUIRE(ok);
  return net;
}

/// Deterministic values in [lo, hi).
template <typename Vector>
void fillUniform(Vector &v, uint64_t seed, float lo, float hi) {
  uint64_t s = seed * 2862933555777941757ULL + 3037000493ULL;
  for (float &x : v) {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    float u = float(s >> 40) * (1.0f / 16777216.0f);
    x = lo + (hi - lo) * u;
  }
}

/// conv → relu → maxpool → flatten → dense → tanh → dense → loss.
inline NetSpec convNet() {
  return finalized(
      {1, 8, 8},
      {conv("conv", {}, 3, 3, 1, 1), layer("relu", LayerType::Relu, {0}),
       pool("pool", LayerType::MaxPool, {1}, 2, 2),
       layer("flat", LayerType::Flatten, {2}), dense("fc1", {3}, 6),
       layer("tanh", LayerType::Tanh, {4}), dense("fc2", {5}, 3),
       layer("loss", LayerType::SoftmaxCrossEntropy, {6})});
}

/// A residual block with batchnorm, average pooling, sigmoid and dropout.
inline NetSpec residualNet() {
  LayerSpec drop = layer("drop", LayerType::Dropout, {8});
  drop.dropRate = 0.25f;
  return finalized(
      {2, 6, 6},
      {conv("conv1", {}, 3, 3, 1, 1),                     // 0
       layer("bn1", LayerType::BatchNorm, {0}),           // 1
       layer("relu1", LayerType::Relu, {1}),              // 2
       conv("conv2", {2}, 3, 3, 1, 1),                    // 3
       layer("bn2", LayerType::BatchNorm, {3}),           // 4
       layer("add", LayerType::Add, {4, 2}),              // 5
       pool("avg", LayerType::AvgPool, {5}, 2, 2),        // 6
       layer("flat", LayerType::Flatten, {6}),            // 7
       dense("fc1", {7}, 5),                              // 8
       drop,                                              // 9
       layer("sig", LayerType::Sigmoid, {9}),             // 10
       dense("fc2", {10}, 4),                             // 11
       layer("loss", LayerType::SoftmaxCrossEntropy, {11})});
}

/// One plain forward and backward pass over the whole network with weights
/// \p params; returns the mean loss and fills \p grads (one buffer per
/// layer). No delays, no queues: the textbook algorithm.
inline double forwardBackward(const NetSpec &net,
                              const std::vector<std::vector<float>> &params,
                              const Tensor &x,
                              const std::vector<int32_t> &labels,
                              int64_t batchIndex, uint64_t seed,
                              std::vector<std::vector<float>> *grads) {
  size_t n = net.layers.size();
  std::vector<Tensor> out(n), delta(n);
  std::vector<LayerCache> cache(n);
  Scratch scratch;
  ForwardContext ctx;
  ctx.seed = seed;
  ctx.batchIndex = batchIndex;
  ctx.labels = labels.data();
  ctx.scratch = &scratch;
  auto inputsOf = [&](size_t l) {
    std::vector<const Tensor *> ins;
    if (net.layers[l].inputs.empty())
      ins.push_back(&x);
    for (int p : net.layers[l].inputs)
      ins.push_back(&out[size_t(p)]);
    return ins;
  };
  for (size_t l = 0; l < n; ++l)
    layerForward(net.layers[l], params[l].empty() ? nullptr : params[l].data(),
                 nullptr, inputsOf(l), out[l], cache[l], ctx);
  double loss = cache.back().loss;
  if (!grads)
    return loss;
  grads->assign(n, {});
  for (size_t l = n; l-- > 0;) {
    const LayerSpec &spec = net.layers[l];
    auto ins = inputsOf(l);
    if (spec.hasParams()) {
      (*grads)[l].assign(size_t(spec.numParams), 0.0f);
      layerBackwardWeights(spec, ins, out[l], cache[l], delta[l],
                           (*grads)[l].data(), scratch);
    }
    if (spec.inputs.empty())
      continue;
    std::vector<Tensor> dIn;
    layerBackwardData(spec, params[l].empty() ? nullptr : params[l].data(),
                      ins, out[l], cache[l], delta[l], dIn, scratch);
    for (size_t i = 0; i < spec.inputs.size(); ++i) {
      Tensor &d = delta[size_t(spec.inputs[i])];
      if (d.empty())
        d = dIn[i];
      else
        accumulate(d.size(), dIn[i].ptr(), d.ptr());
    }
  }
  return loss;
}

/// Compares an analytic derivative with a numeric (finite-difference) one.
inline void expectClose(double analytic, double numeric,
                        const std::string &what) {
  double tol = 2e-3 + 3e-2 * std::fabs(numeric);
  INFO(what << ": analytic " << analytic << ", numeric " << numeric);
  CHECK(std::fabs(analytic - numeric) <= tol);
}

/// Indices to probe: all of a small buffer, an even spread of a large one.
inline std::vector<size_t> probes(size_t n, size_t most = 24) {
  std::vector<size_t> idx;
  size_t step = n > most ? n / most : 1;
  for (size_t i = 0; i < n; i += step)
    idx.push_back(i);
  return idx;
}

} // namespace lptest

#endif // LAYERPIPE_TEST_RUNTIME_TESTNETS_H
