//===- PlanOptions.cpp - Flags of the planning passes ---------------------===//
//
// Part of LayerPipe. The grouping, delay and retiming flags live here.
//
//===----------------------------------------------------------------------===//

#include "Options.h"

using namespace llvm;

namespace layerpipe {

Error readPlanOptions(CompileOptions &options) { return Error::success(); }

} // namespace layerpipe
