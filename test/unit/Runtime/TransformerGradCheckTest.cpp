//===- TransformerGradCheckTest.cpp - FD checks of the Transformer layers -===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// Each Transformer layer's B (activation gradient) and G (weight gradient)
// against central finite differences of its forward pass through a random
// read-out L = Σ r·y, on tiny shapes; then whole tiny GPT and Llama networks
// (token-level loss) against differences of the mean loss, and the pipeline
// trainer's loss falling on a token task.
//
//===----------------------------------------------------------------------===//

#include "TestNets.h"

#include "layerpipe/runtime/Data.h"
#include "layerpipe/runtime/Pipeline.h"
#include "layerpipe/runtime/TransformerKernels.h"

#include <cmath>

using namespace lptest;

namespace {

/// Finalizes \p spec as the first layer of a network on \p input (the rest
/// of the network is irrelevant: only the layer's shapes are used).
LayerSpec finalizedFirst(LayerSpec spec, std::vector<int64_t> input) {
  NetSpec net;
  net.inputShape = std::move(input);
  net.layers.push_back(std::move(spec));
  LayerSpec head = dense("head", {0}, 3);
  net.layers.push_back(head);
  net.layers.push_back(layer("loss", LayerType::SoftmaxCrossEntropy, {1}));
  std::string error;
  bool ok = finalizeNet(net, error);
  INFO(error);
  REQUIRE(ok);
  return net.layers[0];
}

/// B and G of \p spec (finalized) on a batch of \p batch against finite
/// differences. \p ids: the input is token ids in [0, vocab) (no B).
void checkSeqLayer(const LayerSpec &spec, int64_t batch, int64_t ids = 0) {
  INFO("layer " << spec.name << " (" << layerTypeName(spec.type) << ")");
  std::vector<int64_t> shape{batch};
  shape.insert(shape.end(), spec.inShape.begin(), spec.inShape.end());
  Tensor x(shape);
  fillUniform(x.data, 13, -1.0f, 1.0f);
  if (ids)
    for (size_t i = 0; i < x.data.size(); ++i)
      x.data[i] = float((i * 5 + 1) % size_t(ids));
  std::vector<float> params(size_t(spec.numParams));
  fillUniform(params, 7, -0.5f, 0.5f);
  if (spec.type == LayerType::LayerNorm || spec.type == LayerType::RmsNorm)
    for (int64_t c = 0; c < spec.numWeights; ++c)
      params[size_t(c)] += 1.0f;
  int64_t classes = spec.inShape.back();
  std::vector<int32_t> labels(size_t(x.size() / classes));
  for (size_t r = 0; r < labels.size(); ++r)
    labels[r] = int32_t((r * 7 + 3) % size_t(classes));
  Scratch scratch;
  ForwardContext ctx;
  ctx.seed = 42;
  ctx.labels = labels.data();
  ctx.scratch = &scratch;
  std::vector<float> readout;
  auto objective = [&](Tensor &out, LayerCache &cache) {
    layerForward(spec, params.empty() ? nullptr : params.data(), nullptr,
                 {&x}, out, cache, ctx);
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
  std::vector<Tensor> inputGrads;
  layerBackwardData(spec, params.empty() ? nullptr : params.data(), {&x}, out,
                    cache, outGrad, inputGrads, scratch);
  std::vector<float> paramGrad(size_t(spec.numParams));
  if (spec.hasParams())
    layerBackwardWeights(spec, {&x}, out, cache, outGrad, paramGrad.data(),
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
  if (!ids)
    for (size_t e : probes(x.data.size(), 32))
      expectClose(inputGrads[0].data[e], numeric(x.data[e]),
                 "B input[" + std::to_string(e) + "]");
  for (size_t e : probes(params.size(), 32))
    expectClose(paramGrad[e], numeric(params[e]),
               "G param[" + std::to_string(e) + "]");
}

LayerSpec attention(const std::string &name, int64_t heads, int64_t kvHeads,
                    bool rope) {
  LayerSpec l = layer(name, LayerType::Attention, {});
  l.heads = heads;
  l.kvHeads = kvHeads;
  l.rope = rope;
  return l;
}

} // namespace

TEST_CASE("embedding G matches finite differences (ids have no B)") {
  LayerSpec e = layer("wte", LayerType::Embedding, {});
  e.vocab = 7;
  e.dim = 3;
  checkSeqLayer(finalizedFirst(e, {5}), 2, /*ids=*/7);
}

TEST_CASE("position embedding B and G match finite differences") {
  LayerSpec p = layer("wpe", LayerType::PositionEmbedding, {});
  p.maxPositions = 6;
  LayerSpec f = finalizedFirst(p, {4, 3});
  CHECK(f.numParams == 18);
  checkSeqLayer(f, 3);
}

TEST_CASE("layernorm and rmsnorm B and G match finite differences") {
  checkSeqLayer(finalizedFirst(layer("ln", LayerType::LayerNorm, {}), {3, 5}),
                2);
  checkSeqLayer(
      finalizedFirst(layer("rms", LayerType::RmsNorm, {}), {3, 5}), 2);
}

TEST_CASE("gelu, silu and swiglu B match finite differences") {
  checkSeqLayer(finalizedFirst(layer("gelu", LayerType::Gelu, {}), {3, 4}), 2);
  checkSeqLayer(finalizedFirst(layer("silu", LayerType::Silu, {}), {3, 4}), 2);
  LayerSpec sw = finalizedFirst(layer("swiglu", LayerType::SwiGlu, {}), {3, 6});
  CHECK(sw.outShape == std::vector<int64_t>{3, 3});
  checkSeqLayer(sw, 2);
}

TEST_CASE("dropout over a sequence: B matches finite differences") {
  LayerSpec drop = layer("drop", LayerType::Dropout, {});
  drop.dropRate = 0.25f;
  checkSeqLayer(finalizedFirst(drop, {3, 4}), 2);
}

TEST_CASE("dense over a sequence: B and G match finite differences") {
  LayerSpec d = finalizedFirst(dense("proj", {}, 4), {3, 5});
  CHECK(d.outShape == std::vector<int64_t>{3, 4});
  CHECK(d.numParams == 5 * 4 + 4);
  checkSeqLayer(d, 2);
}

TEST_CASE("causal attention B matches finite differences") {
  // 2 heads of width 2: input width (2 + 2·2)·2 = 12.
  checkSeqLayer(finalizedFirst(attention("mha", 2, 2, false), {4, 12}), 2);
  // Grouped-query: 4 query heads share 2 key/value heads; rotary positions.
  LayerSpec gqa = finalizedFirst(attention("gqa", 4, 2, true), {5, 16});
  CHECK(gqa.outShape == std::vector<int64_t>{5, 8});
  checkSeqLayer(gqa, 2);
}

TEST_CASE("causal attention: a token never sees later tokens") {
  AttentionGeom g;
  g.n = 1;
  g.t = 4;
  g.heads = g.kvHeads = 1;
  g.headDim = 2;
  std::vector<float> x(size_t(g.t * g.inWidth())), y(size_t(g.t * 2)),
      probs(size_t(g.t * g.t));
  fillUniform(x, 3, -1.0f, 1.0f);
  attentionForward(g, x.data(), y.data(), probs.data());
  std::vector<float> firstTwo(y.begin(), y.begin() + 4);
  // Change the last token: outputs at positions 0..2 stay the same.
  for (int64_t e = 0; e < g.inWidth(); ++e)
    x[size_t(3 * g.inWidth() + e)] += 1.0f;
  attentionForward(g, x.data(), y.data(), probs.data());
  CHECK(std::vector<float>(y.begin(), y.begin() + 4) == firstTwo);
  for (int64_t i = 0; i < g.t; ++i) {
    double row = 0;
    for (int64_t j = 0; j < g.t; ++j) {
      row += probs[size_t(i * g.t + j)];
      if (j > i)
        CHECK(probs[size_t(i * g.t + j)] == 0.0f);
    }
    CHECK(row == doctest::Approx(1.0));
  }
}

TEST_CASE("token-level softmax cross-entropy B matches finite differences") {
  LayerSpec loss = layer("loss", LayerType::SoftmaxCrossEntropy, {});
  loss.inShape = {3, 5};
  loss.outShape = {1};
  checkSeqLayer(loss, 2);
}

namespace {

/// wte → wpe → [ln → qkv → attention → proj → add → ln → fc → gelu → fc2 →
/// add] → ln → head → loss: a GPT with one block, T = 4, D = 8, V = 6.
NetSpec tinyGpt() {
  LayerSpec wte = layer("wte", LayerType::Embedding, {});
  wte.vocab = 6;
  wte.dim = 8;
  LayerSpec attn = attention("attn", 2, 2, false);
  attn.inputs = {3};
  return finalized(
      {4}, {wte,                                           // 0
            layer("wpe", LayerType::PositionEmbedding, {0}), // 1
            layer("ln1", LayerType::LayerNorm, {1}),       // 2
            dense("qkv", {2}, 24),                         // 3
            attn,                                          // 4
            dense("proj", {4}, 8),                         // 5
            layer("add1", LayerType::Add, {5, 1}),         // 6
            layer("ln2", LayerType::LayerNorm, {6}),       // 7
            dense("fc", {7}, 16),                          // 8
            layer("gelu", LayerType::Gelu, {8}),           // 9
            dense("fc2", {9}, 8),                          // 10
            layer("add2", LayerType::Add, {10, 6}),        // 11
            layer("lnf", LayerType::LayerNorm, {11}),      // 12
            dense("head", {12}, 6, false),                 // 13
            layer("loss", LayerType::SoftmaxCrossEntropy, {13})});
}

/// A Llama block: rmsnorm, grouped-query attention with rope, swiglu.
NetSpec tinyLlama() {
  LayerSpec embed = layer("embed", LayerType::Embedding, {});
  embed.vocab = 6;
  embed.dim = 8;
  LayerSpec attn = attention("attn", 4, 2, true); // dh 2: q 8, k 4, v 4
  attn.inputs = {2};
  return finalized(
      {5}, {embed,                                         // 0
            layer("norm1", LayerType::RmsNorm, {0}),       // 1
            dense("qkv", {1}, 16, false),                  // 2
            attn,                                          // 3
            dense("o", {3}, 8, false),                     // 4
            layer("add1", LayerType::Add, {4, 0}),         // 5
            layer("norm2", LayerType::RmsNorm, {5}),       // 6
            dense("gate_up", {6}, 12, false),              // 7
            layer("swiglu", LayerType::SwiGlu, {7}),       // 8
            dense("down", {8}, 8, false),                  // 9
            layer("add2", LayerType::Add, {9, 5}),         // 10
            layer("normf", LayerType::RmsNorm, {10}),      // 11
            dense("head", {11}, 6, false),                 // 12
            layer("loss", LayerType::SoftmaxCrossEntropy, {12})});
}

/// Token ids {batch, T} and next-token labels for a network on ids.
void tokenBatch(const NetSpec &net, int64_t batch, uint64_t seed, Tensor &x,
                std::vector<int32_t> &labels) {
  int64_t t = net.inputShape[0], v = net.numClasses;
  x.reshape({batch, t});
  labels.resize(size_t(batch * t));
  for (int64_t i = 0; i < batch * t; ++i) {
    x.data[size_t(i)] = float((uint64_t(i) * 3 + seed) % uint64_t(v));
    labels[size_t(i)] = int32_t((uint64_t(i) * 3 + seed + 1) % uint64_t(v));
  }
}

void checkTokenNetwork(const NetSpec &net, uint64_t seed) {
  CHECK(net.labelsPerSample == net.inputShape[0]);
  std::vector<std::vector<float>> params, state, grads;
  initParams(net, seed, params, state);
  // Larger weights than the initial 0.02 so every path matters.
  for (size_t l = 0; l < params.size(); ++l)
    if (net.layers[l].type == LayerType::Embedding ||
        net.layers[l].type == LayerType::PositionEmbedding)
      for (float &p : params[l])
        p *= 25.0f;
  Tensor x;
  std::vector<int32_t> labels;
  tokenBatch(net, 3, seed, x, labels);
  forwardBackward(net, params, x, labels, 0, seed, &grads);
  const float eps = 1e-3f;
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

} // namespace

TEST_CASE("whole network: a one-block GPT against finite differences") {
  NetSpec net = tinyGpt();
  CHECK(net.numClasses == 6);
  checkTokenNetwork(net, 5);
}

TEST_CASE("whole network: a one-block Llama against finite differences") {
  checkTokenNetwork(tinyLlama(), 6);
}

TEST_CASE("pipeline trainer: a GPT's token loss falls, also with delays") {
  for (int64_t delay : {0, 2}) {
    NetSpec net = tinyGpt();
    TrainConfig config;
    config.sgd.lr = 0.5f;
    config.seed = 1;
    if (delay) {
      config.policy = WeightPolicy::Stash;
      config.delays.assign(net.layers.size(), 0);
      // Two stages: the first half of the layers two steps behind.
      for (size_t l = 0; l < 7; ++l)
        config.delays[l] = delay;
    }
    PipelineTrainer trainer(net, config);
    std::string error;
    REQUIRE(trainer.check(error));
    Tensor x;
    std::vector<int32_t> labels;
    // One fixed pattern: the next id is (id + 1) mod 6.
    tokenBatch(net, 4, 0, x, labels);
    for (int64_t i = 0; i < x.size(); ++i)
      labels[size_t(i)] = (int32_t(x.data[size_t(i)]) + 1) % 6;
    double first = 0, last = 0;
    for (int step = 0; step < 60; ++step) {
      BatchResult r = trainer.step(x, labels);
      if (step == 0)
        first = r.lossSum / double(r.samples);
      last = r.lossSum / double(r.samples);
    }
    INFO("delay " << delay << ": loss " << first << " -> " << last);
    // Untrained: near or above the uniform guess ln 6 = 1.79.
    CHECK(first > 1.5);
    CHECK(last < 0.1 * first);
  }
}

TEST_CASE("fortunes: next-character windows and a 9:1 split by fortune") {
  Dataset train, valid;
  std::string error;
  if (!loadFortunes(defaultFortunesDir(), 16, true, train, error)) {
    MESSAGE("skipped: " << error);
    return;
  }
  REQUIRE(loadFortunes(defaultFortunesDir(), 16, false, valid, error));
  MESSAGE("T = 16: " << train.count << " training, " << valid.count
                     << " validation windows");
  CHECK(train.labelsPerSample == 16);
  CHECK(train.numClasses == kFortuneVocab);
  CHECK(train.labels.size() == size_t(train.count * 16));
  // Roughly one fortune in ten is held out.
  CHECK(valid.count * 6 < train.count);
  CHECK(valid.count * 15 > train.count);
  // Within a window the labels are the samples shifted by one.
  for (int64_t s = 0; s < 50; ++s)
    for (int64_t t = 0; t + 1 < 16; ++t)
      CHECK(train.labels[size_t(s * 16 + t)] ==
            int32_t(train.samples[size_t(s * 16 + t + 1)]));
  CHECK(fortuneCharId('\n') == 0);
  CHECK(fortuneIdChar(fortuneCharId('A')) == 'A');
  CHECK(fortuneCharId('\t') == fortuneCharId(' '));
  CHECK(fortuneCharId(0xc3) == 96);
  // A directory without databases is an error naming it.
  Dataset none;
  CHECK(!loadFortunes("/nonexistent-fortunes", 16, true, none, error));
  CHECK(error.find("/nonexistent-fortunes") != std::string::npos);
}
