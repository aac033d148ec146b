//===- Summary.h - The model/DFG part of the summary and report -*- C++ -*-===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// What `layerpipe MODEL.json` prints before the planning and scheduling
// parts: the layer table, totals, the DFG's size and the iteration bound of
// the plain DFG with its critical loop; and the same as the first keys of the
// report JSON (docs/report-json.md). The later stages append to both
// (printPlanSummary / addPlanToReport, printScheduleSummary /
// addScheduleToReport); writeReport writes the report with its `layers`.
//
//===----------------------------------------------------------------------===//

#ifndef LAYERPIPE_SUMMARY_H
#define LAYERPIPE_SUMMARY_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/Support/raw_ostream.h"

#include <nlohmann/json_fwd.hpp>

#include <string>

namespace layerpipe {

struct Compilation;
class TrainingDFG;

/// Prints the model, layer table, totals, DFG size and iteration bound of
/// C.dfg / C.initialBound. Requires: C.model, C.dfg and C.initialBound set.
void printModelSummary(const Compilation &C, llvm::raw_ostream &os);

/// Fills the report's `model`, `totals`, `dfg` and `metrics` keys; the
/// `layers` array is written by writeReport.
void addModelToReport(const Compilation &C, nlohmann::json &report);

/// Writes the report JSON (docs/report-json.md) as report.dump(2) and a
/// newline would: \p report holds the keys that the stages added
/// (add*ToReport), and `layers[i]`, describing Model::layers[i] with its
/// stage, delays and registers once planned, is written here straight to
/// \p os: at 10^5 layers, building those objects as a JSON tree took a
/// second.
void writeReport(const Compilation &C, const nlohmann::json &report,
                 llvm::raw_ostream &os);

/// "F.a -> F.b -> ... -> U.a -> F.a" for a loop of tasks; loops longer than
/// 2 * \p keep + 1 tasks show the first and last \p keep tasks around
/// "... (N more) ...".
std::string formatTaskLoop(const TrainingDFG &dfg,
                           llvm::ArrayRef<unsigned> loop, unsigned keep = 4);

} // namespace layerpipe

#endif // LAYERPIPE_SUMMARY_H
