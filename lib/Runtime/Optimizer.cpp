//===- Optimizer.cpp - SGD with momentum and learning-rate schedules ------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// The update rule and the learning-rate schedules. The order of the float
// operations is part of the specification (stage programs must match the
// reference trainer bit for bit).
//
//===----------------------------------------------------------------------===//

#include "layerpipe/runtime/Optimizer.h"

#include <cassert>
#include <cmath>

namespace layerpipe {
namespace runtime {

const char *lrScheduleName(LrSchedule schedule) {
  switch (schedule) {
  case LrSchedule::Constant:
    return "constant";
  case LrSchedule::Step:
    return "step";
  case LrSchedule::Cosine:
    return "cosine";
  }
  return "?";
}

/// η_k of the schedule alone.
static float scheduledRate(const SgdConfig &config, int64_t step) {
  if (config.schedule == LrSchedule::Constant || config.totalSteps <= 0)
    return config.lr;
  double frac = double(step) / double(config.totalSteps);
  if (config.schedule == LrSchedule::Step) {
    if (frac >= 0.75)
      return config.lr * 0.01f;
    if (frac >= 0.5)
      return config.lr * 0.1f;
    return config.lr;
  }
  const double pi = 3.14159265358979323846;
  return float(0.5 * double(config.lr) * (1.0 + std::cos(pi * frac)));
}

float learningRate(const SgdConfig &config, int64_t step) {
  float lr = scheduledRate(config, step);
  if (step < config.warmupSteps)
    lr *= float(step + 1) / float(config.warmupSteps);
  return lr;
}

const char *delayCompensationName(DelayCompensation compensation) {
  switch (compensation) {
  case DelayCompensation::None:
    return "none";
  case DelayCompensation::Momentum:
    return "momentum";
  case DelayCompensation::Lr:
    return "lr";
  case DelayCompensation::Spike:
    return "spike";
  case DelayCompensation::Predict:
    return "predict";
  case DelayCompensation::SpikePredict:
    return "spike-predict";
  case DelayCompensation::PipeMare:
    return "pipemare";
  case DelayCompensation::DcAsgd:
    return "dcasgd";
  }
  return "?";
}

bool parseLrSchedule(const std::string &name, LrSchedule &out) {
  for (LrSchedule s :
       {LrSchedule::Constant, LrSchedule::Step, LrSchedule::Cosine})
    if (name == lrScheduleName(s)) {
      out = s;
      return true;
    }
  return false;
}

bool parseDelayCompensation(const std::string &name, DelayCompensation &out) {
  for (DelayCompensation c :
       {DelayCompensation::None, DelayCompensation::Momentum,
        DelayCompensation::Lr, DelayCompensation::Spike,
        DelayCompensation::Predict, DelayCompensation::SpikePredict,
        DelayCompensation::PipeMare, DelayCompensation::DcAsgd})
    if (name == delayCompensationName(c)) {
      out = c;
      return true;
    }
  return false;
}

float compensatedMomentum(DelayCompensation compensation, float momentum,
                          int64_t delay) {
  assert(delay >= 0 && momentum >= 0.0f && momentum < 1.0f);
  if (compensation != DelayCompensation::Momentum || delay == 0)
    return momentum;
  // Heavy ball applies Σ_i μ^i g(k − i): normalised, a geometric mix of
  // gradients whose mean age is μ/(1 − μ). The delay adds D to every age, so
  // the layer keeps the sequential mean age with a/(1 + a) where
  // a = μ/(1 − μ) − D (no momentum once the delay alone is as old).
  double mu = double(momentum);
  double age = mu / (1.0 - mu) - double(delay);
  if (age <= 0.0)
    return 0.0f;
  return float(age / (1.0 + age));
}

float compensatedLearningRate(DelayCompensation compensation, float lr,
                              int64_t delay) {
  assert(delay >= 0);
  if (compensation != DelayCompensation::Lr || delay == 0)
    return lr;
  return lr / float(1 + delay);
}

void sgdUpdate(int64_t count, float lr, float momentum, float weightDecay,
               float *weights, float *momentumBuf, const float *grad) {
  if (!momentumBuf) {
    assert(momentum == 0.0f && "momentum needs a buffer");
    for (int64_t i = 0; i < count; ++i) {
      float d = grad[i] + weightDecay * weights[i];
      weights[i] -= lr * d;
    }
    return;
  }
  for (int64_t i = 0; i < count; ++i) {
    float d = grad[i] + weightDecay * weights[i];
    momentumBuf[i] = momentum * momentumBuf[i] + d;
    weights[i] -= lr * momentumBuf[i];
  }
}

} // namespace runtime
} // namespace layerpipe
