//===- ScheduleOptions.cpp - Flags of the scheduler -----------------------===//
//
// Part of LayerPipe. The scheduling and schedule-output flags live here.
//
//===----------------------------------------------------------------------===//

#include "Options.h"

using namespace llvm;

namespace layerpipe {

Error readScheduleOptions(CompileOptions &options) { return Error::success(); }

Error writeScheduleOutputs(const Compilation &C) { return Error::success(); }

} // namespace layerpipe
