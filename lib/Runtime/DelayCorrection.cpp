//===- DelayCorrection.cpp - Delay-aware optimizer corrections ------------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// Spike compensation and linear weight prediction (Kosson et al. 2021,
// "Pipelined backpropagation at scale"), the PipeMare-style learning-rate
// warm-up (Yang et al. 2021), DC-ASGD's Taylor correction (Zheng et al.
// 2017) and the micro-batch rule. The float order of every loop is part of
// the specification (docs/training-semantics.md): the stage programs run the
// same functions.
//
//===----------------------------------------------------------------------===//

#include "layerpipe/runtime/DelayCorrection.h"
#include "layerpipe/runtime/Pipeline.h"

#include <cassert>
#include <cmath>

namespace layerpipe {
namespace runtime {

bool correctionPredicts(DelayCompensation mode) {
  return mode == DelayCompensation::Predict ||
         mode == DelayCompensation::SpikePredict;
}

bool correctionSpikes(DelayCompensation mode) {
  return mode == DelayCompensation::Spike ||
         mode == DelayCompensation::SpikePredict;
}

bool correctionNeedsForwardWeights(DelayCompensation mode) {
  return mode == DelayCompensation::DcAsgd;
}

float correctedLearningRate(const DelayCorrection &correction, float lr,
                            int64_t delay, int64_t step) {
  assert(delay >= 0 && step >= 0);
  if (delay == 0)
    return lr;
  if (correction.mode == DelayCompensation::Lr)
    return compensatedLearningRate(correction.mode, lr, delay);
  if (correction.mode != DelayCompensation::PipeMare ||
      step >= correction.warmupSteps)
    return lr;
  // η·(1 + D)^−(1 − k/K): η/(1 + D) at step 0, rising to η at step K.
  double p = 1.0 - double(step) / double(correction.warmupSteps);
  return float(double(lr) * std::pow(1.0 + double(delay), -p));
}

void spikeCoefficients(float momentum, int64_t delay, float &a, float &b) {
  assert(momentum >= 0.0f && momentum < 1.0f && delay >= 0);
  double mu = double(momentum);
  double muD = std::pow(mu, double(delay));
  a = float(muD);
  b = float((1.0 - muD) / (1.0 - mu));
}

void predictWeights(int64_t count, int64_t delay, float lr,
                    const float *weights, const float *momentum, float *out) {
  float scale = lr * float(delay);
  for (int64_t i = 0; i < count; ++i)
    out[i] = weights[i] - scale * momentum[i];
}

void correctedLayerUpdate(const DelayCorrection &correction, int64_t delay,
                          int64_t count, float lr, float momentum,
                          float weightDecay, float emaBeta, float *weights,
                          float *momentumBuf, float *average,
                          const float *grad, const float *forwardWeights) {
  bool spike = correctionSpikes(correction.mode) && momentumBuf;
  bool dc = correctionNeedsForwardWeights(correction.mode);
  if (delay == 0 || (!spike && !dc)) {
    applyLayerUpdate(count, lr, momentum, weightDecay, emaBeta, weights,
                     momentumBuf, average, grad);
    return;
  }
  if (spike) {
    float a = 0, b = 0;
    spikeCoefficients(momentum, delay, a, b);
    for (int64_t i = 0; i < count; ++i) {
      float d = grad[i] + weightDecay * weights[i];
      momentumBuf[i] = momentum * momentumBuf[i] + d;
      weights[i] -= lr * (a * momentumBuf[i] + b * d);
    }
    return;
  }
  assert(forwardWeights && "dcasgd needs the forward-time weights");
  float lambda = correction.dcLambda;
  for (int64_t i = 0; i < count; ++i) {
    float g = grad[i];
    float d = g + lambda * g * g * (weights[i] - forwardWeights[i]) +
              weightDecay * weights[i];
    if (momentumBuf) {
      momentumBuf[i] = momentum * momentumBuf[i] + d;
      d = momentumBuf[i];
    }
    float old = weights[i];
    weights[i] -= lr * d;
    if (average)
      average[i] =
          emaBeta * average[i] + (1.0f - emaBeta) * (weights[i] - old);
  }
}

float microBatchLearningRate(float lr, int64_t userBatch, int64_t microBatch) {
  assert(userBatch >= 1 && microBatch >= 1);
  if (microBatch == userBatch)
    return lr;
  return float(double(lr) * double(microBatch) / double(userBatch));
}

int64_t microBatchWarmupSteps(int64_t warmupSteps, int64_t userBatch,
                              int64_t microBatch) {
  assert(userBatch >= 1 && microBatch >= 1 && warmupSteps >= 0);
  return (warmupSteps * userBatch + microBatch - 1) / microBatch;
}

LrSchedule microBatchSchedule(LrSchedule schedule, int64_t userBatch,
                              int64_t microBatch) {
  if (microBatch < userBatch && schedule == LrSchedule::Constant)
    return LrSchedule::Cosine;
  return schedule;
}

int64_t autoMicroBatch(int64_t userBatch, int64_t maxDelay) {
  assert(userBatch >= 1 && maxDelay >= 0);
  if (maxDelay == 0)
    return userBatch;
  int64_t b = 1;
  while (b * 2 <= userBatch && maxDelay * b * 2 * 2 <= userBatch)
    b *= 2;
  return b;
}

} // namespace runtime
} // namespace layerpipe
