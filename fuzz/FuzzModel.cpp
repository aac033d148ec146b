//===- FuzzModel.cpp - Fuzz target: model file through the compiler -------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// The input is a model file; options follow from its hash. Parses it and,
// if it is valid, compiles it with a verified schedule. With
// LAYERPIPE_FUZZ_EMIT also writes every output the tool can write (report,
// schedule JSON, Gantt charts, DFG DOT and JSON) to a discarding stream.
//
//===----------------------------------------------------------------------===//

#include "FuzzCompile.h"

#include "layerpipe/DFG.h"

#include <nlohmann/json.hpp>

using namespace layerpipe;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  llvm::StringRef text(reinterpret_cast<const char *>(data), size);
  llvm::Expected<Model> model = parseModel(text, "fuzz.json");
  if (!model) {
    llvm::consumeError(model.takeError());
    return 0;
  }
  Compilation C;
  C.model = std::move(*model);
  fuzz::chooseOptions(C.options, fuzz::hashBytes(data, size));
  if (!fuzz::compile(C))
    return 0;
#ifdef LAYERPIPE_FUZZ_EMIT
  llvm::raw_null_ostream os;
  printModelSummary(C, os);
  printPlanSummary(C, os);
  printScheduleSummary(C, os);
  nlohmann::json report = nlohmann::json::object();
  addModelToReport(C, report);
  addPlanToReport(C, report);
  addScheduleToReport(C, report);
  writeReport(C, report, os);
  writeScheduleJSON(C.schedule, os);
  writeGanttSVG(C.schedule, os);
  writeGanttHTML(C.schedule, os);
  writeGanttChromeTrace(C.schedule, os);
  writeGanttText(C.schedule, os);
  writeDFGDot(C.dfg, C.model, os);
  writeDFGJson(C.dfg, C.model, os);
#endif
  return 0;
}
