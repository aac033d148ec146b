//===- DelayCorrectionTest.cpp - Delay-aware optimizer corrections --------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// Each correction's formula on hand-computed numbers, its defining property
// (spike compensation: a delayed impulse lands where the undelayed one
// would be), the micro-batch rule, and PipelineTrainer under each correction
// against an independent delayed loop written out here, bit for bit.
//
//===----------------------------------------------------------------------===//

#include "TestNets.h"

#include "layerpipe/runtime/Data.h"
#include "layerpipe/runtime/DelayCorrection.h"
#include "layerpipe/runtime/Pipeline.h"
#include "layerpipe/runtime/StageProgram.h"

#include <cmath>

using namespace lptest;

namespace {

using DC = DelayCompensation;

TEST_CASE("spike compensation: coefficients and the delayed impulse") {
  float a = 0, b = 0;
  spikeCoefficients(0.9f, 2, a, b);
  CHECK(a == doctest::Approx(0.81).epsilon(1e-6));
  CHECK(b == doctest::Approx(1.9).epsilon(1e-6));
  spikeCoefficients(0.9f, 0, a, b);
  CHECK(a == 1.0f);
  CHECK(b == 0.0f);
  // One gradient g = 1 at step 0, nothing after. Undelayed heavy ball moves
  // w by −η·Σ_{i≤k} μ^i by step k; the spike-compensated update that
  // receives it D steps late must be at the same place from then on.
  const float mu = 0.9f, lr = 0.1f;
  const int64_t D = 3;
  DelayCorrection spike;
  spike.mode = DC::Spike;
  float w0 = 0, m0 = 0, w1 = 0, m1 = 0;
  for (int64_t k = 0; k < 12; ++k) {
    float g0 = k == 0 ? 1.0f : 0.0f, g1 = k == D ? 1.0f : 0.0f;
    applyLayerUpdate(1, lr, mu, 0, 0.9f, &w0, &m0, nullptr, &g0);
    correctedLayerUpdate(spike, D, 1, lr, mu, 0, 0.9f, &w1, &m1, nullptr,
                         &g1, nullptr);
    if (k < D)
      CHECK(w1 == 0.0f);
    else
      CHECK(w1 == doctest::Approx(w0).epsilon(1e-5));
  }
}

TEST_CASE("linear weight prediction: W - lr*D*m") {
  float w[2] = {1.0f, -2.0f}, m[2] = {0.5f, 0.25f}, out[2];
  predictWeights(2, 4, 0.125f, w, m, out);
  CHECK(out[0] == 1.0f - 0.5f * 0.5f);
  CHECK(out[1] == -2.0f - 0.5f * 0.25f);
}

TEST_CASE("DC-ASGD: g + lambda*g*g*(w - w_bak) then SGD") {
  DelayCorrection dc;
  dc.mode = DC::DcAsgd;
  dc.dcLambda = 0.5f;
  float w = 1.0f, back = 0.5f, g = 2.0f;
  // d = 2 + 0.5·4·0.5 = 3; plain SGD: w = 1 − 0.1·3.
  correctedLayerUpdate(dc, 2, 1, 0.1f, 0.0f, 0.0f, 0.9f, &w, nullptr, nullptr,
                       &g, &back);
  CHECK(w == 1.0f - 0.1f * 3.0f);
  // With momentum and weight decay: m = 0.9·1 + (3 + 0.01·1), w −= η·m.
  w = 1.0f;
  float m = 1.0f;
  correctedLayerUpdate(dc, 2, 1, 0.1f, 0.9f, 0.01f, 0.9f, &w, &m, nullptr, &g,
                       &back);
  CHECK(m == doctest::Approx(0.9 + 3.01).epsilon(1e-6));
  CHECK(w == doctest::Approx(1.0 - 0.1 * 3.91).epsilon(1e-6));
  // No delay: exactly the plain update.
  float w2 = 1.0f, w3 = 1.0f;
  correctedLayerUpdate(dc, 0, 1, 0.1f, 0.0f, 0.0f, 0.9f, &w2, nullptr,
                       nullptr, &g, nullptr);
  applyLayerUpdate(1, 0.1f, 0.0f, 0.0f, 0.9f, &w3, nullptr, nullptr, &g);
  CHECK(w2 == w3);
}

TEST_CASE("PipeMare warm-up and the lr rule") {
  DelayCorrection pm;
  pm.mode = DC::PipeMare;
  pm.warmupSteps = 100;
  CHECK(correctedLearningRate(pm, 0.7f, 6, 0) ==
        doctest::Approx(0.1).epsilon(1e-6));
  CHECK(correctedLearningRate(pm, 0.7f, 6, 50) ==
        doctest::Approx(0.7 / std::sqrt(7.0)).epsilon(1e-6));
  CHECK(correctedLearningRate(pm, 0.7f, 6, 100) == 0.7f);
  CHECK(correctedLearningRate(pm, 0.7f, 0, 0) == 0.7f);
  DelayCorrection lr;
  lr.mode = DC::Lr;
  CHECK(correctedLearningRate(lr, 0.5f, 1, 0) == 0.25f);
  DelayCorrection none;
  CHECK(correctedLearningRate(none, 0.5f, 6, 0) == 0.5f);
}

TEST_CASE("micro-batch rule: linear lr scaling and the auto choice") {
  CHECK(microBatchLearningRate(0.05f, 64, 64) == 0.05f);
  CHECK(microBatchLearningRate(0.05f, 64, 8) == float(0.05f * 8.0 / 64.0));
  CHECK(microBatchWarmupSteps(10, 64, 8) == 80);
  CHECK(microBatchWarmupSteps(3, 8, 3) == 8);
  CHECK(microBatchSchedule(LrSchedule::Constant, 64, 8) == LrSchedule::Cosine);
  CHECK(microBatchSchedule(LrSchedule::Constant, 64, 64) ==
        LrSchedule::Constant);
  CHECK(microBatchSchedule(LrSchedule::Step, 64, 8) == LrSchedule::Step);
  CHECK(autoMicroBatch(64, 0) == 64);
  CHECK(autoMicroBatch(64, 1) == 32);
  CHECK(autoMicroBatch(64, 2) == 16);
  CHECK(autoMicroBatch(64, 3) == 8);
  CHECK(autoMicroBatch(64, 6) == 4);
  CHECK(autoMicroBatch(64, 100) == 1);
  CHECK(autoMicroBatch(1, 6) == 1);
  for (const char *name : {"spike", "predict", "spike-predict", "pipemare",
                           "dcasgd"}) {
    DelayCompensation c;
    REQUIRE(parseDelayCompensation(name, c));
    CHECK(std::string(delayCompensationName(c)) == name);
  }
}

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
};

NetSpec threeDense() {
  return finalized({5}, {dense("d1", {}, 4), layer("r", LayerType::Relu, {0}),
                         dense("d2", {1}, 4), dense("d3", {2}, 3),
                         layer("loss", LayerType::SoftmaxCrossEntropy, {3})});
}

/// PipelineTrainer (stash) under \p mode against a loop written out here:
/// batch j's gradient is the exact one at the weights F read (W(j), or under
/// prediction W(j) − η·D·m(j) for delayed layers), layer l applies the one of
/// batch k − D_l at step k with the correction's update.
void checkAgainstLoop(DC mode, std::vector<int64_t> delays) {
  NetSpec net = threeDense();
  const float lr = 0.1f, mu = 0.9f, wd = 1e-4f, lambda = 0.3f;
  TrainConfig config;
  config.sgd.lr = lr;
  config.sgd.momentum = mu;
  config.sgd.weightDecay = wd;
  config.seed = 5;
  config.policy = WeightPolicy::Stash;
  config.delays = delays;
  config.compensation = mode;
  config.dcLambda = lambda;
  PipelineTrainer trainer(net, config);
  std::string error;
  REQUIRE(trainer.check(error));
  std::vector<std::vector<float>> params, state, mom;
  initParams(net, 5, params, state);
  for (auto &p : params)
    mom.emplace_back(p.size(), 0.0f);
  std::vector<std::vector<std::vector<float>>> grads, weights;
  Batches batches(net, 4, 9);
  Tensor x;
  std::vector<int32_t> labels;
  bool predict = mode == DC::Predict || mode == DC::SpikePredict;
  bool spike = mode == DC::Spike || mode == DC::SpikePredict;
  for (int64_t k = 0; k < 10; ++k) {
    batches.get(k, x, labels);
    trainer.step(x, labels);
    weights.push_back(params);
    std::vector<std::vector<float>> read = params, g;
    if (predict)
      for (size_t l = 0; l < params.size(); ++l)
        for (size_t i = 0; i < params[l].size(); ++i)
          read[l][i] = params[l][i] - (lr * float(delays[l])) * mom[l][i];
    forwardBackward(net, read, x, labels, k, 5, &g);
    grads.push_back(g);
    for (size_t l = 0; l < params.size(); ++l) {
      int64_t j = k - delays[l];
      if (params[l].empty() || j < 0)
        continue;
      double muD = std::pow(double(mu), double(delays[l]));
      float a = float(muD), b = float((1.0 - muD) / (1.0 - double(mu)));
      for (size_t i = 0; i < params[l].size(); ++i) {
        float gi = grads[size_t(j)][l][i], w = params[l][i];
        float d = gi;
        if (mode == DC::DcAsgd && delays[l] > 0)
          d = gi + lambda * gi * gi * (w - weights[size_t(j)][l][i]);
        d = d + wd * w;
        mom[l][i] = mu * mom[l][i] + d;
        if (spike && delays[l] > 0)
          params[l][i] = w - lr * (a * mom[l][i] + b * d);
        else
          params[l][i] = w - lr * mom[l][i];
      }
    }
  }
  for (size_t l = 0; l < params.size(); ++l) {
    INFO("layer " << net.layers[l].name);
    CHECK(trainer.params()[l] == params[l]);
  }
}

TEST_CASE("corrections in the trainer equal an independent delayed loop") {
  for (DC mode : {DC::None, DC::Spike, DC::Predict, DC::SpikePredict,
                  DC::DcAsgd}) {
    INFO("mode " << delayCompensationName(mode));
    checkAgainstLoop(mode, {3, 2, 2, 1, 0});
  }
}

TEST_CASE("corrections change nothing without delays, bit for bit") {
  NetSpec net = threeDense();
  Batches batches(net, 4, 2);
  auto run = [&](DC mode) {
    TrainConfig config;
    config.sgd.lr = 0.05f;
    config.sgd.momentum = 0.9f;
    config.sgd.weightDecay = 1e-4f;
    config.compensation = mode;
    config.correctionWarmupSteps = 5;
    PipelineTrainer trainer(net, config);
    std::string error;
    REQUIRE(trainer.check(error));
    Tensor x;
    std::vector<int32_t> labels;
    for (int64_t k = 0; k < 6; ++k) {
      batches.get(k, x, labels);
      trainer.step(x, labels);
    }
    return trainer.params();
  };
  auto none = run(DC::None);
  for (DC mode : {DC::Spike, DC::Predict, DC::SpikePredict, DC::PipeMare,
                  DC::DcAsgd})
    CHECK(run(mode) == none);
}

TEST_CASE("prediction needs momentum") {
  TrainConfig config;
  config.sgd.lr = 0.1f;
  config.policy = WeightPolicy::Stash;
  config.delays = {2, 2, 2, 0, 0};
  config.compensation = DC::Predict;
  PipelineTrainer trainer(threeDense(), config);
  std::string error;
  CHECK_FALSE(trainer.check(error));
  CHECK(error.find("momentum") != std::string::npos);
}

} // namespace

namespace {

TEST_CASE("dcasgd in the stage programs' data flow: U(k) reads W(k - D)") {
  NetSpec net = threeDense(); // d1 r d2 d3 loss
  OpGraph graph(net, {2, 2, 2, 0, 0}, WeightPolicy::Ema, 1, 10);
  auto reads = [&](int64_t k) {
    int n = 0;
    for (const ValueRef &v : graph.inputs({OpKind::Update, 0, k}))
      if (v.kind == ValueKind::Weights && v.instance == k - 2)
        ++n;
    return n;
  };
  auto readBy = [&](int64_t version, int64_t step) {
    for (const OpRef &op :
         graph.readers({ValueKind::Weights, 0, 0, version}))
      if (op.kind == OpKind::Update && op.instance == step)
        return true;
    return false;
  };
  CHECK(reads(5) == 0);
  CHECK_FALSE(readBy(3, 5));
  graph.setUpdateReadsForwardWeights(true);
  CHECK(reads(5) == 1);
  CHECK(reads(1) == 0); // no gradient yet: U(1) applies nothing
  CHECK(readBy(3, 5));
  CHECK(readBy(3, 3));  // its own update still reads it
  CHECK_FALSE(readBy(8, 10)); // beyond the run's 10 steps
  // Undelayed layers read no older version.
  for (const ValueRef &v : graph.inputs({OpKind::Update, 3, 5}))
    CHECK(v.instance != 3);
}

} // namespace
