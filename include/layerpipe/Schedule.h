//===- Schedule.h - Multiprocessor scheduling -------------------*- C++ -*-===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// The scheduling half of the compiler (issue: list scheduling, verification,
// Gantt charts, baseline schedules). Other stages see only ScheduleOptions,
// ScheduleResult and the entry points below.
//
//===----------------------------------------------------------------------===//

#ifndef LAYERPIPE_SCHEDULE_H
#define LAYERPIPE_SCHEDULE_H

#include "llvm/Support/Error.h"
#include "llvm/Support/raw_ostream.h"

#include <nlohmann/json_fwd.hpp>

namespace layerpipe {

struct Compilation;

/// Options of the scheduler (filled by the tool from its flags).
struct ScheduleOptions {
  /// Number of identical processors (--procs). readScheduleOptions runs
  /// before readPlanOptions, so the planner may read it too.
  unsigned procs = 1;
};

/// The schedule and its metrics.
struct ScheduleResult {};

/// Schedules C.dfg (after planning) and verifies the result, filling
/// C.schedule. A no-op until the scheduler exists.
llvm::Error runScheduling(Compilation &C);
void printScheduleSummary(const Compilation &C, llvm::raw_ostream &os);
void addScheduleToReport(const Compilation &C, nlohmann::json &report);

} // namespace layerpipe

#endif // LAYERPIPE_SCHEDULE_H
