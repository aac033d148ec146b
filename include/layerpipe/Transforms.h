//===- Transforms.h - Grouping, gradient delays, retiming -------*- C++ -*-===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// The planning half of the compiler (issue: layer grouping, gradient-delay
// insertion, retiming, staleness and memory report). Owned by the transforms
// work; other stages see only PlanOptions, PipelinePlan and the entry points
// below.
//
//===----------------------------------------------------------------------===//

#ifndef LAYERPIPE_TRANSFORMS_H
#define LAYERPIPE_TRANSFORMS_H

#include "llvm/Support/Error.h"
#include "llvm/Support/raw_ostream.h"

#include <nlohmann/json_fwd.hpp>

namespace layerpipe {

struct Compilation;

/// Options of the planning passes (filled by the tool from its flags).
struct PlanOptions {};

/// What the planning passes derive.
struct PipelinePlan {};

/// Runs grouping, gradient-delay insertion and retiming on C.dfg, filling
/// C.plan. A no-op until the planning passes exist.
llvm::Error runPlanning(Compilation &C);
/// Human-readable part of the summary.
void printPlanSummary(const Compilation &C, llvm::raw_ostream &os);
/// Adds the plan's fields to the report JSON.
void addPlanToReport(const Compilation &C, nlohmann::json &report);

} // namespace layerpipe

#endif // LAYERPIPE_TRANSFORMS_H
