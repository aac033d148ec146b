//===- GanttLayout.h - What every Gantt chart format shares -----*- C++ -*-===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// The window of a schedule that a chart shows, its bars with their labels
// and tooltips, the title with the headline figures, the colours and the
// time axis. The SVG, HTML, Chrome-trace and text writers all draw from
// here, so that they agree on what a bar is called and how it is coloured.
//
//===----------------------------------------------------------------------===//

#ifndef LAYERPIPE_LIB_EMIT_GANTTLAYOUT_H
#define LAYERPIPE_LIB_EMIT_GANTTLAYOUT_H

#include "layerpipe/Schedule.h"

#include "llvm/ADT/StringRef.h"

#include <string>
#include <vector>

namespace layerpipe {
namespace gantt {

/// One bar of the chart: a task instance clipped to the window.
struct Bar {
  unsigned task;
  unsigned proc;
  double begin, end; ///< clipped to the window, relative to its start
  int iteration;     ///< periodic: the iteration; synchronous: micro-batch
};

/// The time window drawn and the bars in it. A periodic schedule is shown
/// over \c periods periods of its steady state, a synchronous one over its
/// whole step.
struct Chart {
  double origin = 0, length = 0;
  unsigned periods = 0;
  std::vector<Bar> bars;
  /// Busy time of each processor inside the window.
  std::vector<double> busy;
};

Chart layoutChart(const Schedule &S, unsigned periods = 3);

/// Labels of a bar, longest first, for the widest one that fits: periodic
/// "F.conv1 i-2" (the bar runs the training iteration two before the one
/// the period started, from its start time and retiming lag), then
/// "F.conv1", then "F"; synchronous "F3" (micro-batch 3), then "F".
std::vector<std::string> barLabels(const Schedule &S, const Bar &bar);
/// The tooltip of a bar: full name, iteration, processor, times, kind.
std::string barTitle(const Schedule &S, const Bar &bar, double origin,
                     const char *micro);

/// "resnet20: layerpipe schedule on 8 processors".
std::string chartTitle(const ScheduleResult &R);
/// The headline figures: period (or step), throughput, speedup,
/// utilization.
std::string chartSubtitle(const ScheduleResult &R, const char *micro);

const char *kindColour(TaskKind kind);
/// A colour per stage (layer group), cycling through ten.
const char *stageColour(int stage);
unsigned numStageColours();

std::string xmlEscape(llvm::StringRef text);

/// The unit of a time axis spanning \p spanUs microseconds.
struct AxisUnit {
  double us;        ///< microseconds per unit
  const char *name; ///< "µs", "ms", "s"
};
AxisUnit axisUnit(double spanUs);

/// Axis ticks: multiples of a 1-2-5 step inside [from, to), at most about
/// \p maxTicks of them; none for a degenerate span.
std::vector<double> axisTicks(double from, double to, unsigned maxTicks,
                              double &step);
/// A tick value without trailing zeros ("20", "12.5").
std::string formatTick(double value);

} // namespace gantt
} // namespace layerpipe

#endif // LAYERPIPE_LIB_EMIT_GANTTLAYOUT_H
