//===- ScheduleInternal.h - Helpers shared by the schedulers ----*- C++ -*-===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// Private to lib/Schedule: the order-driven timing engine that both the
// simulator and the order-based baseline schedules use, and the one way a
// periodic schedule is assembled from start times and processors.
//
//===----------------------------------------------------------------------===//

#ifndef LAYERPIPE_LIB_SCHEDULE_SCHEDULEINTERNAL_H
#define LAYERPIPE_LIB_SCHEDULE_SCHEDULEINTERNAL_H

#include "layerpipe/Schedule.h"

#include "llvm/ADT/ArrayRef.h"

#include <vector>

namespace layerpipe {

/// The periodic schedule of \p dfg with period \p period: task v on
/// processor \p proc[v] at \p start[v] (shifted so that the earliest task
/// starts at 0), and one dependence per edge with its transfer time from
/// \p machine (paid only where the processors differ); \p linkStart, if
/// given, the start of each edge's transfer on the links (-1: none).
Schedule makePeriodicSchedule(const TrainingDFG &dfg,
                              const MachineDesc &machine, unsigned procs,
                              double period, llvm::ArrayRef<double> start,
                              llvm::ArrayRef<unsigned> proc,
                              llvm::ArrayRef<double> linkStart = {});

/// One task instance to time: its processor and duration.
/// The time resolution of \p S: 1e-9 of its period (at least 1e-9 us). The
/// schedulers, the verifier and the simulator compare times within it, and
/// a task no longer than it takes no processor time.
double timeEpsilon(const Schedule &S);

struct InstanceTask {
  unsigned proc = 0;
  double duration = 0;
};

/// Times \p instances when each processor runs its instances in \p order
/// (every instance in exactly one list; lists beyond the processors hold
/// instances that need no processor) as soon as it is free and the inputs
/// have arrived (\p deps between instances; their distance is ignored).
/// Returns the start times and fills \p end; an instance that the order
/// deadlocks keeps start and end -1.
std::vector<double> runInOrder(const std::vector<InstanceTask> &instances,
                               const std::vector<ScheduleDep> &deps,
                               const std::vector<std::vector<unsigned>> &order,
                               std::vector<double> &end);

/// A dependence between two instances of a simulation: a third of a
/// ScheduleDep's bytes (the periodic simulation of 10^5 layers holds
/// millions).
struct InstanceDep {
  unsigned src = 0, dst = 0;
  /// Paid only when src and dst run on different processors.
  double transferUs = 0;
};
std::vector<double> runInOrder(const std::vector<InstanceTask> &instances,
                               const std::vector<InstanceDep> &deps,
                               const std::vector<std::vector<unsigned>> &order,
                               std::vector<double> &end);

} // namespace layerpipe

#endif // LAYERPIPE_LIB_SCHEDULE_SCHEDULEINTERNAL_H
