//===- Headline.cpp - The short summary of a compilation ------------------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// What `layerpipe MODEL` prints by default: a handful of lines with the
// headline figures (bound, plan, period, speedup, throughput,
// communication, memory) in human-readable units, whatever the size of the
// model. The per-layer and per-stage tables are printed on request only
// (--verbose, --print=...).
//
//===----------------------------------------------------------------------===//

#include "layerpipe/Compilation.h"
#include "layerpipe/Schedule.h"
#include "layerpipe/Units.h"

#include "llvm/Support/FormatVariadic.h"

#include <algorithm>

using namespace llvm;

namespace layerpipe {

void printHeadline(const Compilation &C, raw_ostream &os) {
  const Model &model = C.model;
  os << formatv("{0}: {1} layers, batch {2}, {3} per iteration on one "
                "processor\n",
                model.name, model.layers.size(), model.batchSize,
                formatDuration(C.dfg.totalWorkUs()));
  const PipelinePlan &plan = C.plan;
  if (plan.planned)
    os << formatv("  bound:      {0} per iteration, {1} after gradient delays "
                  "({2} stage{3})\n",
                  formatDuration(C.initialBound.boundUs),
                  formatDuration(plan.retimedBound.boundUs), plan.numStages,
                  plan.numStages == 1 ? "" : "s");
  else
    os << formatv("  bound:      {0} per iteration\n",
                  formatDuration(C.initialBound.boundUs));
  const ScheduleResult &R = C.schedule;
  if (!R.scheduled)
    return;
  const ScheduleMetrics &M = R.metrics;
  const Schedule &S = R.schedule;
  const char *processors = M.procs == 1 ? "processor" : "processors";
  if (S.periodic)
    os << formatv("  schedule:   {0} on {1} {2}, asynchronous\n", S.name,
                  M.procs, processors);
  else
    os << formatv("  schedule:   {0} on {1} {2}, synchronous, {3} "
                  "micro-batches per step\n",
                  S.name, M.procs, processors, S.microBatches);
  os << formatv("  period:     {0} per iteration (lower bound {1})\n",
                formatDuration(M.period), formatDuration(M.lowerBound));
  if (M.exact.ran)
    os << formatv("  exact:      {0} ({1}; proven lower bound {2}), list "
                  "scheduler {3}\n",
                  M.exact.optimal ? "optimal" : "time limit",
                  M.exact.improved ? "CBC improved the list schedule"
                                   : "the list schedule kept",
                  formatDuration(M.exact.provenBound),
                  formatDuration(M.exact.listPeriod));
  os << formatv("  speedup:    {0:f2}x, utilization {1}\n", M.speedup,
                formatPercent(M.utilization));
  os << formatv("  throughput: {0} ({1} samples per {2})\n",
                formatRate(M.samplesPerSecond), M.samplesPerIteration,
                S.periodic ? "iteration" : "step");
  os << formatv("  transfers:  {0} per {1}", formatBytes(double(M.commBytes)),
                S.periodic ? "iteration" : "step");
  auto busiest =
      std::max_element(M.linkUtilization.begin(), M.linkUtilization.end());
  if (busiest != M.linkUtilization.end() && *busiest > 0)
    os << formatv(", busiest link {0} of the {1} (P{2}, {3} links)",
                  formatPercent(*busiest), S.periodic ? "period" : "step",
                  busiest - M.linkUtilization.begin(),
                  linkTopologyName(S.topology));
  os << "\n";
  auto peak = std::max_element(M.peakMemory.begin(), M.peakMemory.end());
  if (peak != M.peakMemory.end())
    os << formatv("  memory:     {0} activations at most (P{1}); plan total "
                  "{2}\n",
                  formatBytes(double(*peak)), peak - M.peakMemory.begin(),
                  formatBytes(double(plan.memory.total.total())));
}

} // namespace layerpipe
