//===- PipelineTest.cpp - The delayed-pipeline oracle ---------------------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// PipelineTrainer against independent references: a plain SGD loop (no
// delays), a hand-computed delayed-SGD example, an independent delayed loop
// (stash), the ema reconstruction's exactness for constant updates, the
// hybrid switch, the memory report and the configuration checks.
//
//===----------------------------------------------------------------------===//

#include "TestNets.h"

#include "layerpipe/runtime/Data.h"
#include "layerpipe/runtime/Pipeline.h"
#include "layerpipe/runtime/Profile.h"

#include <cmath>

using namespace lptest;

namespace {

/// Mini-batch k of a fixed synthetic data set.
struct Batches {
  Dataset data;
  int64_t batch;
  std::vector<int64_t> order;
  Batches(const NetSpec &net, int64_t batch, uint64_t seed)
      : data(makeSyntheticBlobs(net.inputShape, net.numClasses, 16 * batch,
                                seed, 0)),
        batch(batch), order(epochOrder(data.count, seed, 0)) {}
  void get(int64_t k, Tensor &x, std::vector<int32_t> &labels) const {
    int64_t per = data.count / batch;
    gatherBatch(data, order, (k % per) * batch, batch, x, labels);
  }
  /// Runs steps [from, to) of \p trainer on batches from..to-1.
  void train(PipelineTrainer &trainer, int64_t from, int64_t to) const {
    Tensor x;
    std::vector<int32_t> labels;
    for (int64_t k = from; k < to; ++k) {
      get(k, x, labels);
      trainer.step(x, labels);
    }
  }
};

PipelineTrainer makeTrainer(const NetSpec &net, TrainConfig config) {
  PipelineTrainer t(net, std::move(config));
  std::string error;
  bool ok = t.check(error);
  INFO(error);
  REQUIRE(ok);
  return t;
}

/// m ← μ·m + (g + λ·w); w ← w − η·m, written out here independently.
void plainUpdate(std::vector<float> &w, std::vector<float> &m,
                 const std::vector<float> &g, float lr, float mu, float wd) {
  for (size_t i = 0; i < w.size(); ++i) {
    float d = g[i] + wd * w[i];
    m[i] = mu * m[i] + d;
    w[i] -= lr * m[i];
  }
}

TrainConfig sgd(float lr, float mu, float wd, uint64_t seed = 1) {
  TrainConfig c;
  c.sgd.lr = lr;
  c.sgd.momentum = mu;
  c.sgd.weightDecay = wd;
  c.seed = seed;
  return c;
}

/// dense(4) → relu → dense(4) → dense(3) → loss on 5 inputs; delays
/// {D, ·, D, 0} for the policy tests.
NetSpec threeDense() {
  return finalized({5}, {dense("d1", {}, 4), layer("r", LayerType::Relu, {0}),
                         dense("d2", {1}, 4), dense("d3", {2}, 3),
                         layer("loss", LayerType::SoftmaxCrossEntropy, {3})});
}

/// z = W·x with x = (1, 2), label 0, W(0) = [[0.1, 0.2], [0.3, 0.4]] (no
/// bias) and its softmax cross-entropy gradient g at W(0), by hand.
struct OneDense {
  NetSpec net = finalized({2}, {dense("fc", {}, 2, /*bias=*/false),
                                layer("loss", LayerType::SoftmaxCrossEntropy,
                                      {0})});
  Tensor x{{1, 2}};
  std::vector<int32_t> labels{0};
  double w0[4] = {0.1, 0.2, 0.3, 0.4};
  double g[4];
  OneDense() {
    x.data = {1.0f, 2.0f};
    double z0 = 0.1 + 0.2 * 2, z1 = 0.3 + 0.4 * 2;
    double p0 = std::exp(z0) / (std::exp(z0) + std::exp(z1)), p1 = 1 - p0;
    double grad[4] = {(p0 - 1) * 1, (p0 - 1) * 2, p1 * 1, p1 * 2};
    std::copy(grad, grad + 4, g);
  }
};

} // namespace

TEST_CASE("without delays the trainer equals a plain SGD loop, bit for bit") {
  for (const NetSpec &net : {convNet(), residualNet()}) {
    TrainConfig config = sgd(0.05f, 0.9f, 1e-3f, 7);
    PipelineTrainer trainer = makeTrainer(net, config);
    std::vector<std::vector<float>> params, state, grads, mom;
    initParams(net, 7, params, state);
    for (auto &p : params)
      mom.emplace_back(p.size(), 0.0f);
    Batches batches(net, 8, 3);
    Tensor x;
    std::vector<int32_t> labels;
    for (int64_t k = 0; k < 6; ++k) {
      batches.get(k, x, labels);
      BatchResult r = trainer.step(x, labels);
      double loss = forwardBackward(net, params, x, labels, k, 7, &grads);
      CHECK(r.lossSum == loss * 8);
      for (size_t l = 0; l < params.size(); ++l)
        if (!params[l].empty())
          plainUpdate(params[l], mom[l], grads[l], 0.05f, 0.9f, 1e-3f);
    }
    for (size_t l = 0; l < params.size(); ++l) {
      INFO("layer " << net.layers[l].name);
      CHECK(trainer.params()[l] == params[l]);
    }
  }
}

TEST_CASE("hand-computed delayed SGD: one dense layer, delay 2") {
  // z = W·x, x = (1, 2), label 0, W(0) = [[0.1, 0.2], [0.3, 0.4]]: every
  // step sees the same batch, the first D = 2 steps skip the update, and
  // the gradients of steps 0..2 are all taken at W(0) (W(1) = W(2) = W(0)),
  // so after 5 steps W = W(0) − 3·η·g(W(0)).
  OneDense ex;
  TrainConfig config = sgd(0.5f, 0.0f, 0.0f);
  config.policy = WeightPolicy::Stash;
  config.delays = {2, 0};
  PipelineTrainer trainer = makeTrainer(ex.net, config);
  trainer.params()[0] = {0.1f, 0.2f, 0.3f, 0.4f};
  const double *g = ex.g, *w0 = ex.w0;
  for (int k = 0; k < 5; ++k) {
    trainer.step(ex.x, ex.labels);
    int applied = std::max(0, k - 1); // updates applied after step k
    for (int i = 0; i < 4; ++i)
      CHECK(trainer.params()[0][size_t(i)] ==
            doctest::Approx(w0[i] - applied * 0.5 * g[i]).epsilon(1e-6));
  }
}

/// Trains \p net with \p delays under `stash` and checks the result against
/// an independent loop in which every gradient is the exact gradient at
/// W(j) of batch j and layer l applies the one of batch k − D_l at step k.
/// \p mus / \p lrs: the per-layer μ_l and η_l the loop uses (default: the
/// global 0.9 and 0.1) and \p compensation the trainer's mode that should
/// produce them.
static void checkStashAgainstDelayedLoop(
    const NetSpec &net, std::vector<int64_t> delays,
    DelayCompensation compensation = DelayCompensation::None,
    std::vector<float> mus = {}, std::vector<float> lrs = {}) {
  TrainConfig config = sgd(0.1f, 0.9f, 1e-4f, 5);
  config.policy = WeightPolicy::Stash;
  config.delays = delays;
  config.compensation = compensation;
  mus.resize(delays.size(), 0.9f);
  lrs.resize(delays.size(), 0.1f);
  PipelineTrainer trainer = makeTrainer(net, config);
  std::vector<std::vector<float>> params, state, mom;
  initParams(net, 5, params, state);
  for (auto &p : params)
    mom.emplace_back(p.size(), 0.0f);
  std::vector<std::vector<std::vector<float>>> history; // g(j), full network
  Batches batches(net, 4, 9);
  Tensor x;
  std::vector<int32_t> labels;
  for (int64_t k = 0; k < 9; ++k) {
    batches.get(k, x, labels);
    trainer.step(x, labels);
    std::vector<std::vector<float>> grads;
    forwardBackward(net, params, x, labels, k, 5, &grads);
    history.push_back(grads);
    for (size_t l = 0; l < params.size(); ++l) {
      if (params[l].empty())
        continue;
      int64_t j = k - delays[l];
      if (j >= 0)
        plainUpdate(params[l], mom[l], history[size_t(j)][l], lrs[l], mus[l],
                    1e-4f);
    }
  }
  for (size_t l = 0; l < params.size(); ++l) {
    INFO("layer " << net.layers[l].name);
    CHECK(trainer.params()[l] == params[l]);
  }
}

TEST_CASE("stash equals an independent delayed-SGD loop, bit for bit") {
  NetSpec dense3 = threeDense();
  {
    PipelineTrainer t(dense3, [] {
      TrainConfig c;
      c.policy = WeightPolicy::Stash;
      c.delays = {2, 0, 2, 0, 0};
      return c;
    }());
    std::string error;
    REQUIRE(t.check(error));
    CHECK(t.delays() == std::vector<int64_t>{2, 2, 2, 0, 0});
  }
  checkStashAgainstDelayedLoop(dense3, {2, 0, 2, 0, 0});
  NetSpec cnn = convNet(); // conv relu pool flat fc1 tanh fc2 loss
  checkStashAgainstDelayedLoop(cnn, {1, 0, 0, 0, 1, 0, 1, 0});
  checkStashAgainstDelayedLoop(cnn, {3, 0, 0, 0, 2, 0, 1, 0});
}

TEST_CASE("weight policies: equal without delays, different with them") {
  NetSpec net = threeDense();
  Batches batches(net, 4, 2);
  auto run = [&](WeightPolicy policy, std::vector<int64_t> delays,
                 float mu) {
    TrainConfig config = sgd(0.2f, mu, 0.0f, 3);
    config.policy = policy;
    config.delays = delays;
    PipelineTrainer trainer = makeTrainer(net, config);
    batches.train(trainer, 0, 8);
    return trainer.params();
  };
  std::vector<int64_t> none{0, 0, 0, 0, 0}, delayed{3, 0, 3, 0, 0};
  auto sync = run(WeightPolicy::Sync, none, 0.9f);
  for (WeightPolicy p :
       {WeightPolicy::Stash, WeightPolicy::Latest, WeightPolicy::Ema})
    CHECK(run(p, none, 0.9f) == sync);
  for (float mu : {0.9f, 0.0f}) {
    auto stash = run(WeightPolicy::Stash, delayed, mu);
    auto latest = run(WeightPolicy::Latest, delayed, mu);
    auto ema = run(WeightPolicy::Ema, delayed, mu);
    CHECK(stash != latest);
    CHECK(stash != ema);
    CHECK(latest != ema);
  }
}

TEST_CASE("ema reconstruction is exact when the updates are constant") {
  // Dyadic numbers keep every operation exact in float.
  const int64_t d = 3;
  const float lr = 0.5f, mu = 0.5f;
  std::vector<float> w0{0.25f, -1.5f, 2.0f, 0.125f};
  std::vector<float> m{0.25f, -0.5f, 1.0f, 0.0f};
  std::vector<float> g(4);
  for (size_t i = 0; i < 4; ++i)
    g[i] = (1 - mu) * m[i]; // keeps m constant: m = μ·m + g
  std::vector<float> w = w0;
  for (int64_t s = 0; s < d; ++s)
    sgdUpdate(4, lr, mu, 0.0f, w.data(), m.data(), g.data());
  std::vector<float> rebuilt(4);
  reconstructForwardWeights(4, d, lr, w.data(), m.data(), nullptr,
                            rebuilt.data());
  CHECK(rebuilt == w0);
  // Without momentum: Ŵ = W − D·v with v the (constant) update.
  std::vector<float> v{-0.125f, 0.75f, -1.0f, 0.0f}, w2 = w0;
  for (int64_t s = 0; s < d; ++s)
    for (size_t i = 0; i < 4; ++i)
      w2[i] += v[i];
  reconstructForwardWeights(4, d, lr, w2.data(), nullptr, v.data(),
                            rebuilt.data());
  CHECK(rebuilt == w0);
}

TEST_CASE("hybrid: after the switch, training is plain synchronous SGD") {
  NetSpec net = convNet();
  TrainConfig config = sgd(0.05f, 0.9f, 0.0f, 4);
  config.policy = WeightPolicy::Latest;
  config.delays = {2, 0, 0, 0, 1, 0, 0, 0};
  PipelineTrainer trainer = makeTrainer(net, config);
  Batches batches(net, 8, 6);
  batches.train(trainer, 0, 4);
  trainer.switchToSynchronous();
  CHECK(trainer.memory().activations == 0);
  auto params = trainer.params();
  auto mom = trainer.momentum();
  std::vector<std::vector<float>> grads;
  Tensor x;
  std::vector<int32_t> labels;
  for (int64_t k = 4; k < 7; ++k) {
    batches.get(k, x, labels);
    trainer.step(x, labels);
    forwardBackward(net, params, x, labels, k, 4, &grads);
    for (size_t l = 0; l < params.size(); ++l)
      if (!params[l].empty())
        plainUpdate(params[l], mom[l], grads[l], 0.05f, 0.9f, 0.0f);
  }
  CHECK(trainer.params() == params);
}

TEST_CASE("memory report: stashed versions, activations, optimizer state") {
  NetSpec net = threeDense();
  auto peak = [&](WeightPolicy policy, float mu, std::vector<int64_t> delays) {
    TrainConfig config = sgd(0.1f, mu, 0.0f);
    config.policy = policy;
    config.delays = delays;
    PipelineTrainer trainer = makeTrainer(net, config);
    Batches batches(net, 4, 1);
    batches.train(trainer, 0, 6);
    return trainer.peakMemory();
  };
  int64_t w1 = 4 * (5 * 4 + 4), w2 = 4 * (4 * 4 + 4), w3 = 4 * (4 * 3 + 3);
  MemoryStats sync = peak(WeightPolicy::Sync, 0.9f, {});
  CHECK(sync.weights == w1 + w2 + w3);
  CHECK(sync.optimizer == w1 + w2 + w3);
  CHECK(sync.stashedWeights == 0);
  CHECK(sync.activations > 0);
  MemoryStats stash = peak(WeightPolicy::Stash, 0.9f, {2, 0, 2, 0, 0});
  // d1 reads the network input: it has no B, so no version is stashed.
  CHECK(stash.stashedWeights == 2 * w2);
  CHECK(stash.activations > sync.activations);
  CHECK(peak(WeightPolicy::Latest, 0.9f, {2, 0, 2, 0, 0}).stashedWeights == 0);
  MemoryStats ema = peak(WeightPolicy::Ema, 0.9f, {2, 0, 2, 0, 0});
  CHECK(ema.stashedWeights == 0);
  CHECK(ema.optimizer == w1 + w2 + w3);
  // Without momentum, ema keeps one moving-average buffer per delayed layer.
  CHECK(peak(WeightPolicy::Ema, 0.0f, {2, 0, 2, 0, 0}).optimizer == w1 + w2);
}

TEST_CASE("configuration errors name the layers and numbers") {
  NetSpec net = threeDense();
  std::string error;
  TrainConfig config;
  config.delays = {1, 0, 2, 0, 0};
  config.policy = WeightPolicy::Stash;
  PipelineTrainer bad(net, config);
  CHECK_FALSE(bad.check(error));
  // The relu between them inherits d2's delay 2.
  CHECK(error == "layer 'd1' has gradient delay 1 but its consumer 'r' has "
                 "2: a producer's delay must be at least its consumers'");
  config.delays = {2, 0, 2, 0, 0};
  config.policy = WeightPolicy::Sync;
  PipelineTrainer sync(net, config);
  CHECK_FALSE(sync.check(error));
  CHECK(error.find("largest delay is 2") != std::string::npos);
  config.delays = {1, 2};
  PipelineTrainer shortDelays(net, config);
  CHECK_FALSE(shortDelays.check(error));
  CHECK(error == "expected 5 per-layer gradient delays, got 2");
}

TEST_CASE("a short synthetic run reaches a low loss") {
  NetSpec net = finalized(
      {1, 8, 8},
      {conv("conv", {}, 4, 3, 1, 1), layer("relu", LayerType::Relu, {0}),
       pool("pool", LayerType::MaxPool, {1}, 2, 2),
       layer("flat", LayerType::Flatten, {2}), dense("fc", {3}, 4),
       layer("loss", LayerType::SoftmaxCrossEntropy, {4})});
  Dataset train = makeSyntheticBlobs({1, 8, 8}, 4, 512, 21, 0);
  Dataset test = makeSyntheticBlobs({1, 8, 8}, 4, 256, 21, 1);
  TrainConfig config = sgd(0.05f, 0.9f, 0.0f, 2);
  config.policy = WeightPolicy::Stash;
  config.delays = {2, 0, 0, 0, 0, 0};
  PipelineTrainer trainer = makeTrainer(net, config);
  Tensor x;
  std::vector<int32_t> labels;
  double lastEpochLoss = 0;
  for (int64_t epoch = 0; epoch < 8; ++epoch) {
    auto order = epochOrder(train.count, 2, epoch);
    BatchResult sum;
    for (int64_t b = 0; b + 32 <= train.count; b += 32) {
      gatherBatch(train, order, b, 32, x, labels);
      BatchResult r = trainer.step(x, labels);
      sum.lossSum += r.lossSum;
      sum.samples += r.samples;
    }
    lastEpochLoss = sum.lossSum / double(sum.samples);
  }
  CHECK(lastEpochLoss < 0.05);
  auto order = epochOrder(test.count, 0, 0);
  gatherBatch(test, order, 0, test.count, x, labels);
  BatchResult r = trainer.evaluate(x, labels);
  CHECK(double(r.correct) / double(r.samples) > 0.95);
}

TEST_CASE("finalizeNet rejects malformed networks with the numbers") {
  auto error = [](std::vector<int64_t> input, std::vector<LayerSpec> layers) {
    NetSpec net;
    net.inputShape = std::move(input);
    net.layers = std::move(layers);
    std::string message;
    CHECK_FALSE(finalizeNet(net, message));
    return message;
  };
  LayerSpec loss = layer("loss", LayerType::SoftmaxCrossEntropy, {0});
  CHECK(error({8}, {conv("c", {}, 2, 3), loss}) ==
        "layer 'c' (#0, conv2d) needs an image input [C, H, W], got [8]");
  CHECK(error({1, 4, 4}, {conv("c", {}, 2, 5), loss}) ==
        "layer 'c' (#0, conv2d): kernel 5x5 (stride 1x1, padding 0x0) does "
        "not fit input [1, 4, 4]");
  CHECK(error({1, 4, 4}, {pool("p", LayerType::MaxPool, {}, 2, 2, 2), loss}) ==
        "layer 'p' (#0, maxpool): padding 2x2 is more than half the kernel "
        "2x2 (a window could lie entirely in the padding)");
  CHECK(error({4}, {dense("a", {}, 3), dense("b", {}, 2),
                    layer("add", LayerType::Add, {0, 1}),
                    layer("loss", LayerType::SoftmaxCrossEntropy, {2})}) ==
        "layer 'add' (#2, add) adds [3] and [2]: shapes differ");
  CHECK(error({4}, {dense("a", {}, 3)}) ==
        "layer 'a' (#0, dense): the last layer must be softmax_cross_entropy");
  CHECK(error({4}, {dense("a", {}, 3), dense("b", {}, 3),
                    layer("loss", LayerType::SoftmaxCrossEntropy, {1})}) ==
        "layer 'a' (#0, dense) has no consumer");
}

TEST_CASE("two runs with the same configuration agree bit for bit") {
  NetSpec net = residualNet();
  auto run = [&] {
    TrainConfig config = sgd(0.05f, 0.9f, 1e-4f, 8);
    config.policy = WeightPolicy::Ema;
    config.delays.assign(net.layers.size(), 0);
    config.delays[0] = config.delays[1] = 2; // conv1, bn1
    PipelineTrainer trainer = makeTrainer(net, config);
    Batches batches(net, 8, 5);
    batches.train(trainer, 0, 5);
    return std::make_pair(trainer.params(), trainer.state());
  };
  CHECK(run() == run());
}

TEST_CASE("learning-rate schedules and warm-up") {
  SgdConfig c;
  c.lr = 0.8f;
  c.totalSteps = 100;
  CHECK(learningRate(c, 99) == 0.8f);
  c.schedule = LrSchedule::Step;
  CHECK(learningRate(c, 49) == 0.8f);
  CHECK(learningRate(c, 50) == doctest::Approx(0.08f));
  CHECK(learningRate(c, 75) == doctest::Approx(0.008f));
  c.schedule = LrSchedule::Cosine;
  CHECK(learningRate(c, 0) == 0.8f);
  CHECK(learningRate(c, 50) == doctest::Approx(0.4f));
  CHECK(learningRate(c, 100) == doctest::Approx(0.0f));
  c.schedule = LrSchedule::Constant;
  c.warmupSteps = 4;
  CHECK(learningRate(c, 0) == 0.2f);
  CHECK(learningRate(c, 2) == doctest::Approx(0.6f));
  CHECK(learningRate(c, 3) == 0.8f);
  CHECK(learningRate(c, 10) == 0.8f);
}

TEST_CASE("latest: B reads the current weights, checked by hand-written "
          "kernel calls") {
  // d1 → relu → d2 → d3 → loss with D = {2, ·, 2, 0}: d2's B for batch j
  // runs at step j + 2 with W2(j + 2), on the δ that d3's B produced at
  // step j with W3(j).
  NetSpec net = threeDense();
  const int64_t d = 2, n = 4;
  const float lr = 0.1f, mu = 0.9f;
  TrainConfig config = sgd(lr, mu, 0.0f, 6);
  config.policy = WeightPolicy::Latest;
  config.delays = {d, 0, d, 0, 0};
  PipelineTrainer trainer = makeTrainer(net, config);
  std::vector<std::vector<float>> w, state, m;
  initParams(net, 6, w, state);
  for (auto &p : w)
    m.emplace_back(p.size(), 0.0f);
  struct Saved {
    std::vector<float> x, a1, delta2;
  };
  std::vector<Saved> saved;
  Batches batches(net, n, 4);
  Tensor x;
  std::vector<int32_t> labels;
  auto bias = [](std::vector<float> &p, int64_t weights) {
    return p.data() + weights;
  };
  for (int64_t k = 0; k < 8; ++k) {
    batches.get(k, x, labels);
    trainer.step(x, labels);
    // Forward of batch k with W(k) and d3's tasks (delay 0).
    std::vector<float> z1(n * 4), a1(n * 4), z2(n * 4), z3(n * 3), p(n * 3),
        d3(n * 3), delta2(n * 4), g3(w[3].size()), g2(w[2].size()),
        g1(w[0].size());
    denseForward(n, 5, 4, x.ptr(), w[0].data(), bias(w[0], 20), z1.data());
    reluForward(n * 4, z1.data(), a1.data());
    denseForward(n, 4, 4, a1.data(), w[2].data(), bias(w[2], 16), z2.data());
    denseForward(n, 4, 3, z2.data(), w[3].data(), bias(w[3], 12), z3.data());
    softmaxCrossEntropyForward(n, 3, z3.data(), labels.data(), p.data(),
                               nullptr);
    softmaxCrossEntropyBackward(n, 3, p.data(), labels.data(), d3.data());
    denseBackwardWeights(n, 4, 3, z2.data(), d3.data(), g3.data(),
                         bias(g3, 12));
    denseBackwardData(n, 4, 3, d3.data(), w[3].data(), delta2.data());
    saved.push_back({std::vector<float>(x.data.begin(), x.data.end()), a1,
                     delta2});
    // d2 and d1 for batch k − 2, d2's B on the current W2.
    int64_t j = k - d;
    if (j >= 0) {
      const Saved &s = saved[size_t(j)];
      std::vector<float> da1(n * 4), dz1(n * 4);
      denseBackwardWeights(n, 4, 4, s.a1.data(), s.delta2.data(), g2.data(),
                           bias(g2, 16));
      denseBackwardData(n, 4, 4, s.delta2.data(), w[2].data(), da1.data());
      reluBackward(n * 4, s.a1.data(), da1.data(), dz1.data());
      denseBackwardWeights(n, 5, 4, s.x.data(), dz1.data(), g1.data(),
                           bias(g1, 20));
    }
    plainUpdate(w[3], m[3], g3, lr, mu, 0.0f);
    if (j >= 0) {
      plainUpdate(w[0], m[0], g1, lr, mu, 0.0f);
      plainUpdate(w[2], m[2], g2, lr, mu, 0.0f);
    }
  }
  for (size_t l : {0, 2, 3}) {
    INFO("layer " << net.layers[l].name);
    CHECK(trainer.params()[l] == w[l]);
  }
}

TEST_CASE("delay compensation: the documented per-layer μ_l and η_l") {
  using DC = DelayCompensation;
  // Without a delay, or without compensation, the global values exactly.
  for (DC c : {DC::None, DC::Momentum, DC::Lr}) {
    CHECK(compensatedMomentum(c, 0.9f, 0) == 0.9f);
    CHECK(compensatedLearningRate(c, 0.05f, 0) == 0.05f);
  }
  CHECK(compensatedMomentum(DC::None, 0.9f, 6) == 0.9f);
  CHECK(compensatedMomentum(DC::Lr, 0.9f, 6) == 0.9f);
  CHECK(compensatedLearningRate(DC::None, 0.05f, 6) == 0.05f);
  CHECK(compensatedLearningRate(DC::Momentum, 0.05f, 6) == 0.05f);
  // momentum: μ_l/(1 − μ_l) = μ/(1 − μ) − D; μ = 0.9 has mean age 9.
  CHECK(compensatedMomentum(DC::Momentum, 0.9f, 2) ==
        doctest::Approx(7.0 / 8).epsilon(1e-6));
  CHECK(compensatedMomentum(DC::Momentum, 0.9f, 4) ==
        doctest::Approx(5.0 / 6).epsilon(1e-6));
  CHECK(compensatedMomentum(DC::Momentum, 0.9f, 6) ==
        doctest::Approx(0.75).epsilon(1e-6));
  CHECK(compensatedMomentum(DC::Momentum, 0.5f, 1) == 0.0f); // age 1 − 1
  CHECK(compensatedMomentum(DC::Momentum, 0.9f, 12) == 0.0f);
  CHECK(compensatedMomentum(DC::Momentum, 0.0f, 3) == 0.0f);
  // lr: η/(1 + D).
  CHECK(compensatedLearningRate(DC::Lr, 0.05f, 6) == 0.05f / 7.0f);
  CHECK(compensatedLearningRate(DC::Lr, 0.5f, 1) == 0.25f);
  CHECK(std::string(delayCompensationName(DC::Momentum)) == "momentum");
}

TEST_CASE("delay compensation changes nothing without delays, bit for bit") {
  NetSpec net = convNet();
  Batches batches(net, 4, 2);
  auto run = [&](DelayCompensation c, WeightPolicy policy) {
    TrainConfig config = sgd(0.05f, 0.9f, 1e-4f, 3);
    config.policy = policy;
    config.compensation = c;
    config.sgd.schedule = LrSchedule::Cosine;
    config.sgd.totalSteps = 8;
    PipelineTrainer trainer = makeTrainer(net, config);
    batches.train(trainer, 0, 8);
    return std::make_pair(trainer.params(), trainer.momentum());
  };
  for (WeightPolicy p : {WeightPolicy::Sync, WeightPolicy::Ema}) {
    auto none = run(DelayCompensation::None, p);
    CHECK(run(DelayCompensation::Momentum, p) == none);
    CHECK(run(DelayCompensation::Lr, p) == none);
  }
}

TEST_CASE("delay compensation: per-layer values in the trainer, hybrid "
          "restores the global ones") {
  NetSpec net = threeDense(); // d1 r d2 d3 loss
  TrainConfig config = sgd(0.2f, 0.9f, 0.0f, 3);
  config.policy = WeightPolicy::Ema;
  config.delays = {6, 0, 4, 2, 0};
  config.compensation = DelayCompensation::Momentum;
  PipelineTrainer mom = makeTrainer(net, config);
  CHECK(mom.layerMomentum(0) == doctest::Approx(0.75).epsilon(1e-6));
  CHECK(mom.layerMomentum(2) == doctest::Approx(5.0 / 6).epsilon(1e-6));
  CHECK(mom.layerMomentum(3) == doctest::Approx(7.0 / 8).epsilon(1e-6));
  CHECK(mom.layerLearningRate(0, 5) == 0.2f);
  config.compensation = DelayCompensation::Lr;
  PipelineTrainer lr = makeTrainer(net, config);
  CHECK(lr.layerMomentum(0) == 0.9f);
  CHECK(lr.layerLearningRate(0, 5) == 0.2f / 7.0f);
  CHECK(lr.layerLearningRate(2, 5) == 0.2f / 5.0f);
  CHECK(lr.layerLearningRate(3, 5) == 0.2f / 3.0f);
  Batches batches(net, 4, 2);
  batches.train(lr, 0, 8);
  lr.switchToSynchronous();
  CHECK(lr.layerLearningRate(0, 8) == 0.2f);
  CHECK(lr.layerLearningRate(3, 8) == 0.2f);
  // Compensated ema training differs from uncompensated ema training.
  config.compensation = DelayCompensation::None;
  PipelineTrainer plain = makeTrainer(net, config);
  batches.train(plain, 0, 8);
  batches.train(mom, 0, 8);
  PipelineTrainer lr2 = makeTrainer(net, [&] {
    TrainConfig c = config;
    c.compensation = DelayCompensation::Lr;
    return c;
  }());
  batches.train(lr2, 0, 8);
  CHECK(mom.params() != plain.params());
  CHECK(lr2.params() != plain.params());
}

TEST_CASE("delay compensation: hand-computed steps, one dense layer, "
          "delay 2") {
  // As in "hand-computed delayed SGD": the gradients applied at steps 2, 3
  // and 4 are all g = g(W(0)). lr: η_l = 0.5/3, so W(5) = W(0) − 3·η_l·g =
  // W(0) − 0.5·g. momentum (μ = 0.9 → μ_l = 7/8): m = g, g(1 + μ_l),
  // g(1 + μ_l + μ_l²), so W(5) = W(0) − η·g·(3 + 2μ_l + μ_l²).
  OneDense ex;
  const double *g = ex.g, *w0 = ex.w0;
  auto train = [&](DelayCompensation c, float mu) {
    TrainConfig config = sgd(0.5f, mu, 0.0f);
    config.policy = WeightPolicy::Stash;
    config.delays = {2, 0};
    config.compensation = c;
    PipelineTrainer trainer = makeTrainer(ex.net, config);
    trainer.params()[0] = {0.1f, 0.2f, 0.3f, 0.4f};
    for (int k = 0; k < 5; ++k)
      trainer.step(ex.x, ex.labels);
    return trainer.params()[0];
  };
  std::vector<float> lr = train(DelayCompensation::Lr, 0.0f);
  std::vector<float> mom = train(DelayCompensation::Momentum, 0.9f);
  double ml = 7.0 / 8, factor = 3 + 2 * ml + ml * ml;
  for (int i = 0; i < 4; ++i) {
    CHECK(lr[size_t(i)] ==
          doctest::Approx(w0[i] - 0.5 * g[i]).epsilon(1e-6));
    CHECK(mom[size_t(i)] ==
          doctest::Approx(w0[i] - 0.5 * factor * g[i]).epsilon(1e-6));
  }
}

TEST_CASE("compensated stash equals an independent delayed loop with "
          "per-layer μ_l / η_l, bit for bit") {
  NetSpec cnn = convNet(); // conv relu pool flat fc1 tanh fc2 loss
  std::vector<int64_t> delays{3, 0, 0, 0, 2, 0, 1, 0};
  // μ = 0.9 (mean age 9): D = 3 → ≈ 6/7, 2 → ≈ 7/8, 1 → ≈ 8/9, from the
  // float μ in double and rounded once, as the rule states.
  auto rule = [](int64_t d) {
    double mu = double(0.9f), a = mu / (1 - mu) - double(d);
    return float(a / (1 + a));
  };
  CHECK(rule(3) == doctest::Approx(6.0 / 7).epsilon(1e-6));
  checkStashAgainstDelayedLoop(cnn, delays, DelayCompensation::Momentum,
                               {rule(3), 0.9f, 0.9f, 0.9f, rule(2), 0.9f,
                                rule(1), 0.9f});
  checkStashAgainstDelayedLoop(cnn, delays, DelayCompensation::Lr, {},
                               {0.1f / 4, 0.1f, 0.1f, 0.1f, 0.1f / 3, 0.1f,
                                0.1f / 2, 0.1f});
}

TEST_CASE("the profiler times every task of a network with shared inputs") {
  // relu1 is read by conv2 and by add: its B adds two gradient parts, as a
  // stage program's task does; every task the network has gets a time.
  NetSpec net = residualNet();
  std::vector<LayerTimes> times = profileNetwork(net, 4, 1, 3, 7);
  REQUIRE(times.size() == net.layers.size());
  for (size_t l = 0; l < net.layers.size(); ++l) {
    const LayerSpec &spec = net.layers[l];
    CAPTURE(spec.name);
    CHECK(times[l].forward >= 0);
    if (!spec.inputs.empty())
      CHECK(times[l].activationGradient >= 0);
    if (spec.hasParams()) {
      CHECK(times[l].weightGradient >= 0);
      CHECK(times[l].update >= 0);
    } else {
      CHECK(times[l].weightGradient < 0);
    }
  }
}

TEST_CASE("the profiler times every task through the stage programs' "
          "executor") {
  // The same network run as a one-processor stage program: every op gets
  // its median work; the loss layer's L task is its forward.
  NetSpec net = residualNet();
  std::vector<LayerTimes> times;
  std::string error;
  REQUIRE_MESSAGE(profileThroughExecutor(net, 4, 1, 3, 7, times, error),
                  error);
  REQUIRE(times.size() == net.layers.size());
  for (size_t l = 0; l < net.layers.size(); ++l) {
    const LayerSpec &spec = net.layers[l];
    CAPTURE(spec.name);
    CHECK(times[l].forward > 0);
    if (spec.type == LayerType::SoftmaxCrossEntropy) {
      CHECK(times[l].activationGradient == 0);
      CHECK(times[l].mergedBackward == -1);
      continue;
    }
    if (!spec.inputs.empty())
      CHECK(times[l].activationGradient > 0);
    CHECK((times[l].weightGradient > 0) == spec.hasParams());
    CHECK((times[l].update > 0) == spec.hasParams());
    // B and G back to back, timed in the other order's rounds.
    bool backward = !spec.inputs.empty() || spec.hasParams();
    CHECK((times[l].mergedBackward > 0) == backward);
    // The batch gathered again for G, for a layer reading the data.
    CHECK((times[l].inputLoad > 0) ==
          (spec.inputs.empty() && spec.hasParams()));
  }
}
