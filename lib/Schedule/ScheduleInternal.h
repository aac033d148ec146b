//===- ScheduleInternal.h - Helpers shared by the schedulers ----*- C++ -*-===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// Private to lib/Schedule: the order-driven timing engine that both the
// simulator and the order-based baseline schedules use.
//
//===----------------------------------------------------------------------===//

#ifndef LAYERPIPE_LIB_SCHEDULE_SCHEDULEINTERNAL_H
#define LAYERPIPE_LIB_SCHEDULE_SCHEDULEINTERNAL_H

#include "layerpipe/Schedule.h"

#include <vector>

namespace layerpipe {

/// One task instance to time: its processor and duration.
struct InstanceTask {
  unsigned proc = 0;
  double duration = 0;
};

/// Times \p instances when each processor runs its instances in \p order
/// (every instance in exactly one list) as soon as it is free and the inputs
/// have arrived (\p deps between instances; their distance is ignored). Returns the start times and fills \p end; an instance that
/// the order deadlocks keeps start and end -1.
std::vector<double> runInOrder(const std::vector<InstanceTask> &instances,
                               const std::vector<ScheduleDep> &deps,
                               const std::vector<std::vector<unsigned>> &order,
                               std::vector<double> &end);

} // namespace layerpipe

#endif // LAYERPIPE_LIB_SCHEDULE_SCHEDULEINTERNAL_H
