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

Expected<std::pair<std::vector<unsigned>, std::vector<int64_t>>>
planStagesAndDelays(const Model &model, const MachineDesc &machine,
                    const PlanOptions &options) {
  // Placeholder until grouping exists: one stage, no delays.
  return std::make_pair(std::vector<unsigned>(model.layers.size(), 0),
                        std::vector<int64_t>(model.layers.size(), 0));
}

void printPlanSummary(const Compilation &C, raw_ostream &os) {}

void addPlanToReport(const Compilation &C, nlohmann::json &report) {}

} // namespace layerpipe
