//===- Compilation.h - State carried through the compiler -------*- C++ -*-===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// One compilation: the options and each stage's output, in pipeline order.
// A stage reads the fields above its own and fills its own; it never rewrites
// an earlier stage's output except the DFG, which the planning passes
// transform in place (after the iteration bound of the plain graph is kept).
//
//===----------------------------------------------------------------------===//

#ifndef LAYERPIPE_COMPILATION_H
#define LAYERPIPE_COMPILATION_H

#include "layerpipe/CostModel.h"
#include "layerpipe/DFG.h"
#include "layerpipe/IterationBound.h"
#include "layerpipe/Model.h"
#include "layerpipe/Schedule.h"
#include "layerpipe/Transforms.h"

#include <string>
#include <vector>

namespace layerpipe {

struct CompileOptions {
  std::string modelPath;
  std::string machinePath; ///< empty: default machine
  DFGOptions dfg;
  PlanOptions plan;
  ScheduleOptions schedule;
  bool verify = true;
  bool printAfterAll = false;
  bool timePasses = false;
};

/// One micro-batch size b the driver priced for --micro-batch auto: the
/// whole plan and schedule at b samples per step.
struct MicroBatchCandidate {
  int64_t microBatch = 0;
  /// Whether a plan was scheduled at b (false: no profile at b, or the
  /// compilation failed; `note` says which).
  bool priced = false;
  double periodUs = 0;
  double samplesPerSecond = 0;
  /// Largest gradient delay of b's plan, and D_max·b: the staleness in
  /// samples of the oldest gradient.
  int64_t maxDelay = 0;
  int64_t stalenessSamples = 0;
  /// D_max·b <= B/2 (the staleness rule, docs/training-semantics.md).
  bool allowed = false;
  std::string note;
};

/// How the micro-batch of an asynchronous pipelined step was chosen.
struct MicroBatchChoice {
  /// "auto" (--micro-batch auto), "default" (auto, because the plan is
  /// asynchronous, pipelined and delayed and no --micro-batch was given),
  /// "explicit" (--micro-batch N); empty: no micro-batch rule ran.
  std::string rule;
  int64_t userBatch = 0;
  int64_t chosen = 0;
  /// Every candidate priced, largest b first (auto and default only).
  std::vector<MicroBatchCandidate> candidates;
};

struct Compilation {
  CompileOptions options;
  Model model;
  MachineDesc machine;
  /// The training DFG; the planning passes transform it in place.
  TrainingDFG dfg;
  /// Iteration bound of the untransformed DFG.
  IterationBound initialBound;
  PipelinePlan plan;
  ScheduleResult schedule;
  /// --micro-batch: the model file's batch B when the model was priced at a
  /// micro-batch b = model.batchSize < B (0: not repriced).
  int64_t userBatch = 0;
  /// The micro-batch choice and its priced candidates.
  MicroBatchChoice microBatch;
};

} // namespace layerpipe

#endif // LAYERPIPE_COMPILATION_H
