//===- GradCheckTest.cpp - Finite-difference checks of B and G ------------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// Every kernel's activation gradient (B) and weight gradient (G) against
// central finite differences of its forward pass, through a random linear
// read-out L = Σ r·y; then whole networks (conv/pool/dense/loss, and a
// residual block with batchnorm and dropout) against differences of the loss.
//
//===----------------------------------------------------------------------===//

#include "TestNets.h"

#include <algorithm>
#include <array>
#include <cmath>

using namespace lptest;

namespace {

/// Checks B (for every input) and G of layer \p spec on a batch of \p batch.
/// Input values avoid 0 (ReLU's kink) by construction.
void checkLayer(const LayerSpec &spec,
                const std::vector<std::vector<int64_t>> &inputShapes,
                int64_t batch) {
  INFO("layer " << spec.name << " (" << std::string(layerTypeName(spec.type))
                << ")");
  std::vector<Tensor> inputs;
  for (size_t i = 0; i < inputShapes.size(); ++i) {
    std::vector<int64_t> shape{batch};
    shape.insert(shape.end(), inputShapes[i].begin(), inputShapes[i].end());
    Tensor t(shape);
    fillUniform(t.data, 11 + i, 0.1f, 1.0f);
    std::vector<float> sign(t.data.size());
    fillUniform(sign, 29 + i, -1.0f, 1.0f);
    for (size_t e = 0; e < t.data.size(); ++e) {
      // Max pooling: distinct values at least 1/size apart, so no
      // finite-difference step crosses a tie.
      if (spec.type == LayerType::MaxPool)
        t.data[e] = 0.05f + float((e * 37) % t.data.size()) /
                                float(t.data.size());
      if (sign[e] < 0)
        t.data[e] = -t.data[e];
    }
    inputs.push_back(std::move(t));
  }
  std::vector<float> params(size_t(spec.numParams));
  fillUniform(params, 5, -0.5f, 0.5f);
  if (spec.type == LayerType::BatchNorm)
    for (int64_t c = 0; c < spec.numWeights; ++c)
      params[size_t(c)] += 1.0f;
  std::vector<int32_t> labels(static_cast<size_t>(batch));
  for (int64_t s = 0; s < batch; ++s)
    labels[size_t(s)] = int32_t((s * 7 + 3) % spec.inShape[0]);
  Scratch scratch;
  ForwardContext ctx;
  ctx.seed = 42;
  ctx.batchIndex = 3;
  ctx.labels = labels.data();
  ctx.scratch = &scratch;

  std::vector<float> readout;
  auto objective = [&](Tensor &out, LayerCache &cache) {
    std::vector<const Tensor *> ins;
    for (const Tensor &t : inputs)
      ins.push_back(&t);
    layerForward(spec, params.data(), nullptr, ins, out, cache, ctx);
    if (readout.empty()) {
      readout.resize(out.data.size());
      fillUniform(readout, 77, -1.0f, 1.0f);
      if (spec.type == LayerType::SoftmaxCrossEntropy)
        readout.assign(1, 1.0f);
    }
    double sum = 0;
    for (size_t i = 0; i < out.data.size(); ++i)
      sum += double(readout[i]) * out.data[i];
    return sum;
  };

  Tensor out;
  LayerCache cache;
  objective(out, cache);
  Tensor outGrad(out.shape);
  outGrad.data.assign(readout.begin(), readout.end());
  std::vector<const Tensor *> ins;
  for (const Tensor &t : inputs)
    ins.push_back(&t);
  std::vector<Tensor> inputGrads;
  layerBackwardData(spec, params.data(), ins, out, cache, outGrad, inputGrads,
                    scratch);
  std::vector<float> paramGrad(size_t(spec.numParams));
  if (spec.hasParams())
    layerBackwardWeights(spec, ins, out, cache, outGrad, paramGrad.data(),
                         scratch);

  const float eps = 2e-3f;
  auto numeric = [&](float &value) {
    float saved = value;
    Tensor o;
    LayerCache c;
    value = saved + eps;
    double plus = objective(o, c);
    value = saved - eps;
    double minus = objective(o, c);
    value = saved;
    return (plus - minus) / (2.0 * double(eps));
  };
  REQUIRE(inputGrads.size() == inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i)
    for (size_t e : probes(inputs[i].data.size()))
      expectClose(inputGrads[i].data[e], numeric(inputs[i].data[e]),
                  "B input " + std::to_string(i) + "[" + std::to_string(e) +
                      "]");
  for (size_t e : probes(params.size()))
    expectClose(paramGrad[e], numeric(params[e]),
                "G param[" + std::to_string(e) + "]");
}

/// The finalized first layer of [spec, flatten, dense 3, loss] on \p input.
LayerSpec finalizedLayer(LayerSpec spec, std::vector<int64_t> input) {
  NetSpec net = finalized(
      input, {spec, layer("flat", LayerType::Flatten, {0}),
              dense("fc", {1}, 3),
              layer("loss", LayerType::SoftmaxCrossEntropy, {2})});
  return net.layers[0];
}

} // namespace

TEST_CASE("conv2d B and G match finite differences") {
  checkLayer(finalizedLayer(conv("c", {}, 4, 3, 1, 1), {2, 5, 5}),
             {{2, 5, 5}}, 2);
  checkLayer(finalizedLayer(conv("strided", {}, 3, 3, 2, 1), {2, 7, 6}),
             {{2, 7, 6}}, 2);
  LayerSpec noBias = conv("nobias", {}, 2, 2, 1, 0);
  noBias.bias = false;
  checkLayer(finalizedLayer(noBias, {1, 4, 4}), {{1, 4, 4}}, 3);
}

TEST_CASE("dense B and G match finite differences") {
  checkLayer(finalizedLayer(dense("d", {}, 5), {7}), {{7}}, 3);
  checkLayer(finalizedLayer(dense("from-image", {}, 4), {2, 3, 3}),
             {{2, 3, 3}}, 2);
}

TEST_CASE("pooling B matches finite differences") {
  checkLayer(finalizedLayer(pool("max", LayerType::MaxPool, {}, 2, 2),
                            {2, 6, 6}),
             {{2, 6, 6}}, 2);
  checkLayer(finalizedLayer(pool("max-overlap", LayerType::MaxPool, {}, 3, 2,
                                 1),
                            {1, 7, 7}),
             {{1, 7, 7}}, 2);
  checkLayer(finalizedLayer(pool("avg", LayerType::AvgPool, {}, 3, 2, 1),
                            {2, 5, 5}),
             {{2, 5, 5}}, 2);
}

TEST_CASE("element-wise layers B match finite differences") {
  for (LayerType t : {LayerType::Relu, LayerType::Tanh, LayerType::Sigmoid,
                      LayerType::Flatten})
    checkLayer(finalizedLayer(layer("act", t, {}), {2, 3, 3}), {{2, 3, 3}},
               2);
  LayerSpec drop = finalizedLayer(layer("drop", LayerType::Dropout, {}), {10});
  drop.dropRate = 0.3f;
  checkLayer(drop, {{10}}, 4);
}

TEST_CASE("residual add passes the gradient to both inputs") {
  LayerSpec add = layer("add", LayerType::Add, {0, 1});
  add.inShape = add.outShape = {2, 3, 3};
  checkLayer(add, {{2, 3, 3}, {2, 3, 3}}, 2);
}

TEST_CASE("batchnorm B and G match finite differences (batch statistics)") {
  checkLayer(finalizedLayer(layer("bn", LayerType::BatchNorm, {}), {3, 4, 4}),
             {{3, 4, 4}}, 3);
  checkLayer(finalizedLayer(layer("bn-vec", LayerType::BatchNorm, {}), {5}),
             {{5}}, 6);
}

TEST_CASE("softmax cross-entropy B matches finite differences of the loss") {
  LayerSpec loss = layer("loss", LayerType::SoftmaxCrossEntropy, {});
  loss.inShape = {4};
  loss.outShape = {1};
  checkLayer(loss, {{4}}, 5);
}

/// Gradient of the mean loss of a whole network against differences.
static void checkNetwork(const NetSpec &net, uint64_t seed) {
  std::vector<std::vector<float>> params, state, grads;
  initParams(net, seed, params, state);
  int64_t batch = 4;
  std::vector<int64_t> shape{batch};
  shape.insert(shape.end(), net.inputShape.begin(), net.inputShape.end());
  Tensor x(shape);
  fillUniform(x.data, seed + 1, -1.0f, 1.0f);
  std::vector<int32_t> labels;
  for (int64_t s = 0; s < batch; ++s)
    labels.push_back(int32_t(s % net.numClasses));
  forwardBackward(net, params, x, labels, 0, seed, &grads);
  const float eps = 5e-4f;
  for (size_t l = 0; l < net.layers.size(); ++l)
    for (size_t e : probes(params[l].size(), 8)) {
      float saved = params[l][e];
      params[l][e] = saved + eps;
      double plus = forwardBackward(net, params, x, labels, 0, seed, nullptr);
      params[l][e] = saved - eps;
      double minus = forwardBackward(net, params, x, labels, 0, seed, nullptr);
      params[l][e] = saved;
      expectClose(grads[l][e], (plus - minus) / (2.0 * double(eps)),
                  "layer " + net.layers[l].name + " param " +
                      std::to_string(e));
    }
}

TEST_CASE("whole network: conv + pool + dense + loss") {
  checkNetwork(convNet(), 3);
}

TEST_CASE("whole network: residual add + batchnorm + dropout") {
  checkNetwork(residualNet(), 4);
}

//===----------------------------------------------------------------------===//
// Layer types for imported models: grouped/depthwise convolution, concat,
// global average pooling, ReLU6.
//===----------------------------------------------------------------------===//

static LayerSpec grouped(const std::string &name, std::vector<int> inputs,
                         int64_t out, int64_t k, int64_t stride, int64_t pad,
                         int64_t groups) {
  LayerSpec l = conv(name, std::move(inputs), out, k, stride, pad);
  l.groups = groups;
  return l;
}

TEST_CASE("grouped and depthwise conv2d B and G match finite differences") {
  checkLayer(finalizedLayer(grouped("g2", {}, 4, 3, 1, 1, 2), {4, 5, 5}),
             {{4, 5, 5}}, 2);
  LayerSpec depthwise = grouped("dw", {}, 6, 3, 2, 1, 3); // multiplier 2
  depthwise.bias = false;
  LayerSpec dw = finalizedLayer(depthwise, {3, 6, 5});
  CHECK(dw.numParams == 6 * 1 * 3 * 3);
  checkLayer(dw, {{3, 6, 5}}, 2);
}

TEST_CASE("grouped conv2d equals separate convolutions of its groups") {
  // {input channels, output channels, groups}: two groups of 2 -> 3
  // channels (gathered groups), and a depthwise layer with two filters per
  // channel, stride 2 (direct loops), against ungrouped layers per group.
  for (auto [c, o, groups] : {std::array<int64_t, 3>{4, 6, 2},
                              std::array<int64_t, 3>{3, 6, 3}}) {
    CAPTURE(groups);
    int64_t cg = c / groups, og = o / groups;
    int64_t stride = groups == c ? 2 : 1;
    LayerSpec g = finalizedLayer(grouped("g", {}, o, 3, stride, 1, groups),
                                 {c, 5, 5});
    LayerSpec part =
        finalizedLayer(conv("part", {}, og, 3, stride, 1), {cg, 5, 5});
    REQUIRE(g.numParams == groups * part.numParams);
    int64_t plane = g.outShape[1] * g.outShape[2];
    std::vector<float> params(size_t(g.numParams));
    fillUniform(params, 9, -0.5f, 0.5f);
    Tensor x({2, c, 5, 5});
    fillUniform(x.data, 10, -1.0f, 1.0f);
    Tensor y;
    LayerCache cache;
    ForwardContext ctx;
    layerForward(g, params.data(), nullptr, {&x}, y, cache, ctx);
    int64_t weights = og * cg * 9;
    for (int64_t k = 0; k < groups; ++k) {
      // Group k: its input channels, weights block and bias block.
      Tensor xk({2, cg, 5, 5});
      for (int64_t s = 0; s < 2; ++s)
        std::copy_n(x.data.begin() + (s * c + k * cg) * 25, cg * 25,
                    xk.data.begin() + s * cg * 25);
      std::vector<float> pk(params.begin() + k * weights,
                            params.begin() + (k + 1) * weights);
      pk.insert(pk.end(), params.begin() + groups * weights + k * og,
                params.begin() + groups * weights + (k + 1) * og);
      Tensor yk;
      LayerCache ck;
      layerForward(part, pk.data(), nullptr, {&xk}, yk, ck, ctx);
      for (int64_t s = 0; s < 2; ++s)
        for (int64_t e = 0; e < og * plane; ++e)
          CHECK(y.data[size_t((s * o + k * og) * plane + e)] ==
                doctest::Approx(yk.data[size_t(s * og * plane + e)])
                    .epsilon(1e-5));
    }
  }
}

TEST_CASE("concat passes each input its block of the gradient") {
  LayerSpec images = layer("cat", LayerType::Concat, {0, 1, 2});
  images.inShape = {2, 3, 3};
  images.outShape = {6, 3, 3};
  checkLayer(images, {{2, 3, 3}, {1, 3, 3}, {3, 3, 3}}, 2);
  LayerSpec vectors = layer("cat-vec", LayerType::Concat, {0, 1});
  vectors.inShape = {4};
  vectors.outShape = {6};
  checkLayer(vectors, {{4}, {2}}, 3);
}

TEST_CASE("concat shapes: channels summed, other dimensions must agree") {
  NetSpec ok = finalized(
      {2, 4, 4}, {conv("a", {}, 3, 3, 1, 1), conv("b", {0}, 5, 1),
                  layer("cat", LayerType::Concat, {0, 1}),
                  layer("flat", LayerType::Flatten, {2}), dense("fc", {3}, 2),
                  layer("loss", LayerType::SoftmaxCrossEntropy, {4})});
  CHECK(ok.layers[2].outShape == std::vector<int64_t>{8, 4, 4});
  NetSpec bad;
  bad.inputShape = {2, 4, 4};
  bad.layers = {conv("a", {}, 3, 3, 1, 1), conv("b", {0}, 5, 3, 2, 1),
                layer("cat", LayerType::Concat, {0, 1}),
                layer("flat", LayerType::Flatten, {2}), dense("fc", {3}, 2),
                layer("loss", LayerType::SoftmaxCrossEntropy, {4})};
  std::string error;
  CHECK_FALSE(finalizeNet(bad, error));
  CHECK(error.find("layer 'cat'") != std::string::npos);
  CHECK(error.find("[3, 4, 4] and [5, 2, 2]") != std::string::npos);
}

TEST_CASE("global average pooling and relu6 B match finite differences") {
  LayerSpec gap = finalizedLayer(layer("gap", LayerType::GlobalAvgPool, {}),
                                 {3, 4, 5});
  CHECK(gap.outShape == std::vector<int64_t>{3, 1, 1});
  checkLayer(gap, {{3, 4, 5}}, 2);
  checkLayer(finalizedLayer(layer("r6", LayerType::Relu6, {}), {2, 3, 3}),
             {{2, 3, 3}}, 2);
}

TEST_CASE("relu6 clamps at 0 and 6 and passes gradients only between") {
  const float x[] = {-1.0f, 0.5f, 5.5f, 6.5f, 9.0f};
  float y[5], dx[5];
  const float dy[] = {1.0f, 2.0f, 3.0f, 4.0f, 5.0f};
  relu6Forward(5, x, y);
  relu6Backward(5, y, dy, dx);
  const float wantY[] = {0.0f, 0.5f, 5.5f, 6.0f, 6.0f};
  const float wantDx[] = {0.0f, 2.0f, 3.0f, 0.0f, 0.0f};
  for (int i = 0; i < 5; ++i) {
    CHECK(y[i] == wantY[i]);
    CHECK(dx[i] == wantDx[i]);
  }
}

TEST_CASE("whole network: depthwise + grouped conv, concat, global pooling") {
  LayerSpec dw = conv("dw", {1}, 4, 3, 1, 1);
  dw.groups = 4;
  LayerSpec g2 = conv("g2", {4}, 4, 3, 2, 1);
  g2.groups = 2;
  checkNetwork(
      finalized({3, 6, 6},
                {conv("stem", {}, 4, 3, 1, 1),                // 0
                 layer("r6", LayerType::Relu6, {0}),           // 1
                 dw,                                           // 2
                 conv("pw", {1}, 2, 1),                        // 3
                 layer("cat", LayerType::Concat, {2, 3}),      // 4
                 g2,                                           // 5
                 layer("gap", LayerType::GlobalAvgPool, {5}),  // 6
                 layer("flat", LayerType::Flatten, {6}),       // 7
                 dense("fc", {7}, 3),                          // 8
                 layer("loss", LayerType::SoftmaxCrossEntropy, {8})}),
      5);
}
