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

void sgdUpdate(int64_t count, float lr, float momentum, float weightDecay,
               float *weights, float *momentumBuf, const float *grad) {
  if (momentum == 0.0f) {
    for (int64_t i = 0; i < count; ++i) {
      float d = grad[i] + weightDecay * weights[i];
      weights[i] -= lr * d;
    }
    return;
  }
  assert(momentumBuf && "momentum needs a buffer");
  for (int64_t i = 0; i < count; ++i) {
    float d = grad[i] + weightDecay * weights[i];
    momentumBuf[i] = momentum * momentumBuf[i] + d;
    weights[i] -= lr * momentumBuf[i];
  }
}

} // namespace runtime
} // namespace layerpipe
