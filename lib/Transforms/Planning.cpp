//===- Planning.cpp - Entry point of the planning passes ------------------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//

#include "layerpipe/Transforms.h"
#include "layerpipe/Compilation.h"

#include <nlohmann/json.hpp>

using namespace llvm;

namespace layerpipe {

Error runPlanning(Compilation &C) { return Error::success(); }

void printPlanSummary(const Compilation &C, raw_ostream &os) {}

void addPlanToReport(const Compilation &C, nlohmann::json &report) {}

} // namespace layerpipe
