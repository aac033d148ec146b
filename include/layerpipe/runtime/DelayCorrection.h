//===- DelayCorrection.h - Delay-aware optimizer corrections -*- C++ -*-===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// The arithmetic of the delay-aware corrections that `--delay-compensation`
// selects beyond none/momentum/lr, and the micro-batch rule of a pipelined
// run. The reference trainer (PipelineTrainer) and the stage programs call
// exactly these functions, so a correction gives the same bits in both.
// docs/training-semantics.md states every formula with its float order.
//
//===----------------------------------------------------------------------===//

#ifndef LAYERPIPE_RUNTIME_DELAYCORRECTION_H
#define LAYERPIPE_RUNTIME_DELAYCORRECTION_H

#include "layerpipe/runtime/Optimizer.h"

#include <cstdint>
#include <string>

namespace layerpipe {
namespace runtime {

/// A run's correction: the mode and its parameters.
struct DelayCorrection {
  DelayCompensation mode = DelayCompensation::None;
  /// λ of DC-ASGD's Taylor term (MXNet's default 0.04).
  float dcLambda = 0.04f;
  /// K of the PipeMare warm-up: steps over which a delayed layer's rate
  /// rises from η/(1 + D) to η (0: no warm-up).
  int64_t warmupSteps = 0;
};

/// True for the modes whose F reads predicted weights (predict,
/// spike-predict).
bool correctionPredicts(DelayCompensation mode);
/// True for the modes whose update spreads the gradient (spike,
/// spike-predict).
bool correctionSpikes(DelayCompensation mode);
/// True when the update of step k needs W(k − D) (dcasgd).
bool correctionNeedsForwardWeights(DelayCompensation mode);

/// η_l,k: the layer's rate at step \p step whose global (scheduled) rate is
/// \p lr: lr / (1 + D) for `lr`, the PipeMare warm-up for `pipemare`, \p lr
/// otherwise (and always for D = 0).
float correctedLearningRate(const DelayCorrection &correction, float lr,
                            int64_t delay, int64_t step);

/// Spike compensation's coefficients for momentum μ and delay D:
/// a = μ^D, b = (1 − μ^D)/(1 − μ) (computed in double, rounded once).
void spikeCoefficients(float momentum, int64_t delay, float &a, float &b);

/// The weights F reads under linear weight prediction:
/// out = W − (η·D)·m (\p momentum is the layer's momentum buffer m).
void predictWeights(int64_t count, int64_t delay, float lr,
                    const float *weights, const float *momentum, float *out);

/// The update U of a layer with gradient delay \p delay under \p
/// correction. Modes without an update change (and D = 0) run
/// applyLayerUpdate unchanged. spike: d = g + λ·w; m ← μ·m + d;
/// w ← w − η·(a·m + b·d). dcasgd: d = g + λ_dc·g·g·(w − w_bak) + λ·w, then the
/// usual momentum update; \p forwardWeights is w_bak = W(k − D), the weights
/// the gradient was computed with (required for dcasgd with D > 0).
void correctedLayerUpdate(const DelayCorrection &correction, int64_t delay,
                          int64_t count, float lr, float momentum,
                          float weightDecay, float emaBeta, float *weights,
                          float *momentumBuf, float *average,
                          const float *grad, const float *forwardWeights);

/// The micro-batch rule of a pipelined run. The user states the sequential
/// batch B and rate η; a run with micro-batch b takes steps of b samples at
/// the linearly scaled rate η·b/B (float(double(η)·b/B)), and a warm-up of
/// N steps at B becomes ⌈N·B/b⌉ steps at b (the same number of samples).
float microBatchLearningRate(float lr, int64_t userBatch, int64_t microBatch);
int64_t microBatchWarmupSteps(int64_t warmupSteps, int64_t userBatch,
                              int64_t microBatch);
/// The schedule of a run at micro-batch b: a constant schedule becomes
/// cosine when b < B (steps of fewer samples are noisier; decaying the rate
/// to 0 over the run removes the noise of the final weights); others stay.
LrSchedule microBatchSchedule(LrSchedule schedule, int64_t userBatch,
                              int64_t microBatch);

/// `--micro-batch auto`: the largest power of two b ≤ B whose staleness in
/// samples, D_max·b, is at most B/2 (b = B when D_max = 0; at least 1).
int64_t autoMicroBatch(int64_t userBatch, int64_t maxDelay);

} // namespace runtime
} // namespace layerpipe

#endif // LAYERPIPE_RUNTIME_DELAYCORRECTION_H
