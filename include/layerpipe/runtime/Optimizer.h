//===- Optimizer.h - SGD with momentum and learning-rate schedules -*- C++ -*-//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// The update task U of the training DFG: SGD with momentum μ and weight
// decay λ, exactly as docs/training-semantics.md states it:
//
//     m ← μ·m + (g + λ·w);   w ← w − η_k·m
//
// with the element operations in that order (the stage programs must repeat
// them bit for bit). With μ = 0 no momentum buffer is kept.
//
// Opt-in delay compensation makes μ and η per-layer parameters that depend
// on the layer's gradient delay D (docs/training-semantics.md, "Delay
// compensation"); with D = 0 they are exactly μ and η.
//
//===----------------------------------------------------------------------===//

#ifndef LAYERPIPE_RUNTIME_OPTIMIZER_H
#define LAYERPIPE_RUNTIME_OPTIMIZER_H

#include <cstdint>
#include <string>

namespace layerpipe {
namespace runtime {

enum class LrSchedule {
  Constant, ///< η_k = η
  Step,     ///< η, then η/10 from 50% of the steps, η/100 from 75%
  Cosine,   ///< η_k = η/2 · (1 + cos(π k / K))
};

/// "constant", "step", "cosine".
const char *lrScheduleName(LrSchedule schedule);
/// The schedule a name means; false for an unknown name.
bool parseLrSchedule(const std::string &name, LrSchedule &out);

struct SgdConfig {
  float lr = 0.01f;
  float momentum = 0.0f;
  float weightDecay = 0.0f;
  LrSchedule schedule = LrSchedule::Constant;
  /// K: the number of optimizer steps of the whole run (for step/cosine).
  int64_t totalSteps = 0;
  /// Linear warm-up: η_k is scaled by (k + 1) / warmupSteps for the first
  /// warmupSteps steps (0 = none), on top of the schedule.
  int64_t warmupSteps = 0;
};

/// η_k, the learning rate of optimizer step \p step (0-based).
float learningRate(const SgdConfig &config, int64_t step);

/// How a layer's optimizer parameters account for its gradient delay D.
enum class DelayCompensation {
  None,     ///< μ_l = μ, η_l = η
  Momentum, ///< μ_l so that the mean age of the applied gradient stays
            ///< μ/(1 − μ): μ_l/(1 − μ_l) = max(0, μ/(1 − μ) − D)
  Lr,       ///< η_l = η / (1 + D)
  // Delay-aware corrections (DelayCorrection.h, docs/training-semantics.md).
  Spike,        ///< spike compensation (Kosson et al. 2021)
  Predict,      ///< linear weight prediction for F (SpecTrain, Kosson)
  SpikePredict, ///< both
  PipeMare,     ///< per-delay learning-rate warm-up (PipeMare's T1)
  DcAsgd,       ///< DC-ASGD's Taylor correction (Zheng et al. 2017)
};

/// "none", "momentum", "lr", "spike", "predict", "spike-predict",
/// "pipemare", "dcasgd".
const char *delayCompensationName(DelayCompensation compensation);
/// The mode a name means; false for an unknown name.
bool parseDelayCompensation(const std::string &name, DelayCompensation &out);

/// μ_l of a layer with gradient delay \p delay (exactly \p momentum when
/// the delay is 0 or the mode is not Momentum).
float compensatedMomentum(DelayCompensation compensation, float momentum,
                          int64_t delay);

/// η_l of a layer with gradient delay \p delay at a step whose global rate
/// is \p lr (exactly \p lr when the delay is 0 or the mode is not Lr).
float compensatedLearningRate(DelayCompensation compensation, float lr,
                              int64_t delay);

/// One update of \p count parameters. \p momentumBuf may be null only when
/// \p momentum is 0 (plain SGD); when given it is updated even for μ = 0
/// (m ← 0·m + d: the last step direction, which `ema` reads).
void sgdUpdate(int64_t count, float lr, float momentum, float weightDecay,
               float *weights, float *momentumBuf, const float *grad);

} // namespace runtime
} // namespace layerpipe

#endif // LAYERPIPE_RUNTIME_OPTIMIZER_H
