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
};

} // namespace layerpipe

#endif // LAYERPIPE_COMPILATION_H
