//===- Gantt.cpp - Gantt charts of a schedule -----------------------------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// The chart window and labels every format shares (GanttLayout.h), the SVG
// and the plain-text chart. The SVG is meant to be read without zooming:
// it is as wide as the bars need for their labels (within limits), every
// bar is at least a few pixels wide so short update and loss tasks show,
// idle time is hatched, period boundaries are marked and the title carries
// the model, schedule, processors, period and throughput. The HTML page
// (GanttHTML.cpp) and the Chrome trace (ChromeTrace.cpp) draw the same bars.
//
//===----------------------------------------------------------------------===//

#include "GanttLayout.h"

#include "layerpipe/OutputFile.h"
#include "layerpipe/Units.h"

#include "llvm/Support/FormatVariadic.h"

#include <algorithm>
#include <cmath>
#include <map>

using namespace llvm;

namespace layerpipe {
namespace gantt {

Chart layoutChart(const Schedule &S, unsigned periods) {
  Chart chart;
  chart.busy.assign(S.procs, 0);
  if (!S.periodic) {
    chart.length = S.period;
    for (unsigned v = 0; v < S.tasks.size(); ++v) {
      const ScheduledTask &t = S.tasks[v];
      if (t.duration > 0)
        chart.bars.push_back({v, t.proc, t.start, t.end(), t.microBatch});
    }
  } else {
    double T = S.period;
    double latest = 0;
    for (const ScheduledTask &t : S.tasks)
      latest = std::max(latest, t.start);
    // From here on every task runs once per period: the steady state.
    chart.origin = T > 0 ? std::ceil(latest / T) * T : 0;
    chart.periods = periods;
    chart.length = periods * T;
    double windowEnd = chart.origin + chart.length;
    for (unsigned v = 0; T > 0 && v < S.tasks.size(); ++v) {
      const ScheduledTask &t = S.tasks[v];
      if (t.duration <= 0)
        continue;
      int first = int(std::floor((chart.origin - t.end()) / T));
      for (int i = std::max(first, 0);; ++i) {
        double b = t.start + i * T, e = b + t.duration;
        if (b >= windowEnd)
          break;
        if (e <= chart.origin)
          continue;
        chart.bars.push_back({v, t.proc,
                              std::max(b, chart.origin) - chart.origin,
                              std::min(e, windowEnd) - chart.origin, i});
      }
    }
  }
  for (const Bar &bar : chart.bars)
    if (bar.proc < chart.busy.size())
      chart.busy[bar.proc] += bar.end - bar.begin;
  return chart;
}

std::vector<std::string> barLabels(const Schedule &S, const Bar &bar) {
  const ScheduledTask &t = S.tasks[bar.task];
  std::string prefix = taskKindPrefix(t.kind).str();
  if (S.periodic) {
    // Period n runs iteration n - floor(start / T) of this task, which is
    // training iteration n - floor(start / T) - lag.
    int64_t offset =
        (S.period > 0 ? int64_t(std::floor(t.start / S.period)) : 0) + t.lag;
    std::string withOffset = offset == 0
                                 ? t.name + " i"
                                 : formatv("{0} i-{1}", t.name, offset).str();
    return {withOffset, t.name, prefix};
  }
  if (t.microBatch >= 0)
    return {formatv("{0}{1}", prefix, t.microBatch).str(), prefix};
  return {prefix};
}

std::string barTitle(const Schedule &S, const Bar &bar, double origin,
                     const char *micro) {
  const ScheduledTask &t = S.tasks[bar.task];
  std::string what =
      S.periodic
          ? formatv("iteration {0}", bar.iteration - t.lag).str()
          : (t.microBatch >= 0 ? formatv("micro-batch {0}", t.microBatch).str()
                               : std::string("step"));
  std::string stage =
      t.stage >= 0 ? formatv(", stage {0}", t.stage).str() : std::string();
  return formatv("{0} ({1}{2}) on P{3}: {4} to {5}, {6} {7}", t.name, what,
                 stage, t.proc, formatDuration(bar.begin + origin, micro),
                 formatDuration(bar.end + origin, micro), taskKindName(t.kind),
                 formatDuration(t.duration, micro))
      .str();
}

std::string chartTitle(const ScheduleResult &R) {
  const Schedule &S = R.schedule;
  std::string model = R.metrics.model.empty() ? "" : R.metrics.model + ": ";
  return formatv("{0}{1} schedule on {2} processors", model, S.name, S.procs)
      .str();
}

std::string chartSubtitle(const ScheduleResult &R, const char *micro) {
  const Schedule &S = R.schedule;
  const ScheduleMetrics &M = R.metrics;
  std::string timing =
      S.periodic
          ? formatv("asynchronous, period {0}", formatDuration(S.period, micro))
                .str()
          : formatv("synchronous, {0} micro-batches, step {1}", S.microBatches,
                    formatDuration(S.period, micro))
                .str();
  std::string text = timing;
  if (M.samplesPerSecond > 0)
    text += " · " + formatRate(M.samplesPerSecond);
  if (M.speedup > 0)
    text += formatv(" · speedup {0:f2}x", M.speedup).str();
  if (M.utilization > 0)
    text += " · utilization " + formatPercent(M.utilization);
  return text;
}

const char *kindColour(TaskKind kind) {
  switch (kind) {
  case TaskKind::Forward:
    return "#4e79a7";
  case TaskKind::Loss:
    return "#e15759";
  case TaskKind::ActivationGradient:
    return "#f28e2b";
  case TaskKind::WeightGradient:
    return "#59a14f";
  case TaskKind::Backward:
    return "#b07aa1";
  case TaskKind::Update:
    return "#9c755f";
  }
  return "#888888";
}

static const char *const stagePalette[] = {
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

const char *stageColour(int stage) {
  if (stage < 0)
    return "#888888";
  return stagePalette[unsigned(stage) % numStageColours()];
}

unsigned numStageColours() { return std::size(stagePalette); }

std::string xmlEscape(StringRef text) {
  std::string out;
  for (char c : text) {
    switch (c) {
    case '&':
      out += "&amp;";
      break;
    case '<':
      out += "&lt;";
      break;
    case '>':
      out += "&gt;";
      break;
    case '"':
      out += "&quot;";
      break;
    case '\'':
      out += "&apos;";
      break;
    default:
      out += c;
    }
  }
  return out;
}

AxisUnit axisUnit(double spanUs) {
  if (spanUs >= 2e6)
    return {1e6, "s"};
  if (spanUs >= 2e3)
    return {1e3, "ms"};
  return {1, "µs"};
}

std::vector<double> axisTicks(double from, double to, unsigned maxTicks,
                              double &step) {
  std::vector<double> ticks;
  step = 0;
  double span = to - from;
  if (!(span > 0) || !std::isfinite(span) || maxTicks == 0)
    return ticks;
  double raw = span / maxTicks;
  double power = std::pow(10.0, std::floor(std::log10(raw)));
  step = 10 * power;
  for (double m : {1.0, 2.0, 5.0})
    if (m * power >= raw) {
      step = m * power;
      break;
    }
  // Ticks by index, never by repeated addition: with `from` huge next to
  // the step, t += step could stand still.
  double first = std::ceil(from / step - 1e-9);
  for (unsigned k = 0; k <= 2 * maxTicks; ++k) {
    double t = (first + k) * step;
    if (t > to + step * 1e-9)
      break;
    ticks.push_back(t);
  }
  return ticks;
}

std::string formatTick(double value) {
  std::string text = formatv("{0:f3}", value).str();
  while (text.back() == '0')
    text.pop_back();
  if (text.back() == '.')
    text.pop_back();
  return text == "-0" ? "0" : text;
}

} // namespace gantt

using namespace gantt;

/// Kinds present in the schedule, in TaskKind order.
static std::vector<TaskKind> kindsPresent(const Schedule &S) {
  std::map<int, TaskKind> kinds;
  for (const ScheduledTask &t : S.tasks)
    kinds[int(t.kind)] = t.kind;
  std::vector<TaskKind> out;
  for (auto &entry : kinds)
    out.push_back(entry.second);
  return out;
}

/// Plot width in pixels: wide enough that the median bar can carry its
/// middle label, between 1200 and 24000 pixels.
static double svgPlotWidth(const Schedule &S, const Chart &chart) {
  if (chart.bars.empty() || !(chart.length > 0))
    return 1200;
  std::vector<double> widths;
  size_t chars = 0;
  for (const Bar &bar : chart.bars) {
    widths.push_back(bar.end - bar.begin);
    std::vector<std::string> labels = barLabels(S, bar);
    chars += labels[labels.size() > 1 ? 1 : 0].size();
  }
  std::nth_element(widths.begin(), widths.begin() + widths.size() / 2,
                   widths.end());
  double median = widths[widths.size() / 2];
  double labelPx = 6.5 * double(chars) / chart.bars.size() + 8;
  if (!(median > 0))
    return 1200;
  return std::clamp(labelPx * chart.length / median, 1200.0, 24000.0);
}

void writeGanttSVG(const ScheduleResult &R, raw_ostream &os) {
  const Schedule &S = R.schedule;
  Chart chart = layoutChart(S);
  const double left = 96, top = 76, rowHeight = 30, rowGap = 6;
  const double minBarPx = 3;
  const double plotWidth = svgPlotWidth(S, chart);
  double scale = chart.length > 0 ? plotWidth / chart.length : 1;
  double plotHeight = S.procs * (rowHeight + rowGap);
  double width = left + plotWidth + 20;
  double height = top + plotHeight + 76;
  os << formatv("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" "
                "height=\"{1}\" viewBox=\"0 0 {0} {1}\" "
                "font-family=\"sans-serif\" font-size=\"11\">\n",
                width, height);
  os << "<style>.bar{stroke:#fff;stroke-width:0.5}"
        ".lbl{fill:#fff;pointer-events:none}"
        ".tick{stroke:#ccc;stroke-width:0.5}"
        ".period{stroke:#222;stroke-width:1.5;stroke-dasharray:6,3}"
        ".idle{fill:#888}</style>\n";
  os << "<defs><pattern id=\"idle\" width=\"6\" height=\"6\" "
        "patternUnits=\"userSpaceOnUse\" patternTransform=\"rotate(45)\">"
        "<rect width=\"6\" height=\"6\" fill=\"#f4f4f4\"/>"
        "<line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"6\" stroke=\"#d8d8d8\" "
        "stroke-width=\"2\"/></pattern></defs>\n";
  os << "<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n";
  os << formatv("<text x=\"{0}\" y=\"22\" font-size=\"16\" "
                "font-weight=\"bold\">{1}</text>\n",
                left, xmlEscape(chartTitle(R)));
  std::string window =
      S.periodic
          ? formatv(" · {0} periods of the steady state", chart.periods).str()
          : std::string();
  os << formatv("<text x=\"{0}\" y=\"42\" font-size=\"12\">{1}</text>\n", left,
                xmlEscape(chartSubtitle(R, "µs") + window));
  // Lanes: hatched where idle, named with their idle share.
  for (unsigned p = 0; p < S.procs; ++p) {
    double y = top + p * (rowHeight + rowGap);
    os << formatv("<rect x=\"{0}\" y=\"{1}\" width=\"{2}\" height=\"{3}\" "
                  "fill=\"url(#idle)\"/>\n",
                  left, y, plotWidth, rowHeight);
    double idle = chart.length > 0 ? 1 - chart.busy[p] / chart.length : 0;
    os << formatv("<text x=\"{0}\" y=\"{1}\" text-anchor=\"end\" "
                  "font-weight=\"bold\">P{2}</text>",
                  left - 8, y + 12, p);
    os << formatv("<text class=\"idle\" x=\"{0}\" y=\"{1}\" "
                  "text-anchor=\"end\" font-size=\"10\">idle {2}</text>\n",
                  left - 8, y + 25, formatPercent(std::max(0.0, idle)));
  }
  // Time axis below the lanes, in one unit for all ticks.
  AxisUnit unit = axisUnit(chart.length);
  double axisY = top + plotHeight;
  double step = 0;
  unsigned maxTicks = unsigned(std::max(2.0, plotWidth / 110));
  for (double t :
       axisTicks(chart.origin, chart.origin + chart.length, maxTicks, step)) {
    double x = left + (t - chart.origin) * scale;
    os << formatv("<line class=\"tick\" x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" "
                  "y2=\"{2}\"/>\n",
                  x, top, axisY + 4);
    os << formatv(
        "<text x=\"{0}\" y=\"{1}\" text-anchor=\"middle\">{2}</text>\n", x,
        axisY + 16, formatTick(t / unit.us));
  }
  os << formatv("<text x=\"{0}\" y=\"{1}\">time ({2})</text>\n", left,
                axisY + 34, unit.name);
  // Bars at least minBarPx wide, labelled with the longest label that fits
  // (about 6.5 px per character).
  for (const Bar &bar : chart.bars) {
    const ScheduledTask &t = S.tasks[bar.task];
    double x = left + bar.begin * scale;
    double w = (bar.end - bar.begin) * scale;
    if (w < minBarPx) {
      x -= (minBarPx - w) / 2;
      w = minBarPx;
    }
    double y = top + bar.proc * (rowHeight + rowGap);
    os << formatv("<g><title>{0}</title><rect class=\"bar\" x=\"{1}\" "
                  "y=\"{2}\" width=\"{3}\" height=\"{4}\" fill=\"{5}\"/>",
                  xmlEscape(barTitle(S, bar, chart.origin, "µs")), x, y, w,
                  rowHeight, kindColour(t.kind));
    for (const std::string &label : barLabels(S, bar))
      if (label.size() * 6.5 + 6 <= w) {
        os << formatv("<text class=\"lbl\" x=\"{0}\" y=\"{1}\" "
                      "text-anchor=\"middle\">{2}</text>",
                      x + w / 2, y + rowHeight / 2 + 4, xmlEscape(label));
        break;
      }
    os << "</g>\n";
  }
  // Period boundaries, numbered above the lanes.
  if (S.periodic)
    for (unsigned k = 0; k <= chart.periods; ++k) {
      double x = left + k * S.period * scale;
      os << formatv("<line class=\"period\" x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" "
                    "y2=\"{2}\"><title>period boundary t={3}</title>"
                    "</line>\n",
                    x, top - 14, axisY,
                    formatDuration(chart.origin + k * S.period, "µs"));
      if (k < chart.periods)
        os << formatv("<text x=\"{0}\" y=\"{1}\" text-anchor=\"middle\" "
                      "font-size=\"10\">period {2}</text>\n",
                      x + S.period * scale / 2, top - 5, k + 1);
    }
  // Legend of the kinds present, and of idle time.
  double lx = left;
  double ly = axisY + 46;
  for (TaskKind kind : kindsPresent(S)) {
    os << formatv("<rect x=\"{0}\" y=\"{1}\" width=\"12\" height=\"12\" "
                  "fill=\"{2}\"/><text x=\"{3}\" y=\"{4}\">{5} {6}</text>\n",
                  lx, ly, kindColour(kind), lx + 16, ly + 10,
                  taskKindPrefix(kind), taskKindName(kind));
    lx += 170;
  }
  os << formatv("<rect x=\"{0}\" y=\"{1}\" width=\"12\" height=\"12\" "
                "fill=\"url(#idle)\" stroke=\"#ccc\"/><text x=\"{2}\" "
                "y=\"{3}\">idle</text>\n",
                lx, ly, lx + 16, ly + 10);
  os << "</svg>\n";
}

void writeGanttText(const ScheduleResult &R, raw_ostream &os,
                    unsigned width) {
  const Schedule &S = R.schedule;
  Chart chart = layoutChart(S);
  width = std::max(width, 1u);
  double slot = chart.length > 0 ? chart.length / width : 1;
  os << formatv("{0}: {1} processors, {2} {3:f1} us, one column = {4:f2} us\n",
                S.name, S.procs, S.periodic ? "period" : "makespan", S.period,
                slot);
  std::vector<std::string> rows(S.procs, std::string(width, '.'));
  for (const Bar &bar : chart.bars) {
    char c = taskKindPrefix(S.tasks[bar.task].kind).back();
    if (S.tasks[bar.task].kind == TaskKind::Backward)
      c = 'X';
    // Every column whose middle the bar covers; at least one column.
    unsigned from = unsigned(std::floor(bar.begin / slot + 0.5));
    unsigned to = unsigned(std::floor(bar.end / slot + 0.5));
    if (to <= from)
      to = from + 1;
    for (unsigned k = from; k < to && k < width; ++k)
      rows[bar.proc][k] = c;
  }
  std::string marks(width, ' ');
  if (S.periodic)
    for (unsigned k = 0; k < chart.periods; ++k)
      marks[std::min<unsigned>(width - 1,
                               unsigned(k * S.period / slot + 0.5))] = '|';
  os << "     " << marks << "\n";
  for (unsigned p = 0; p < S.procs; ++p)
    os << formatv("P{0,-3} ", p) << rows[p] << "\n";
  os << formatv("     t={0:f1} us{1}t={2:f1} us\n", chart.origin,
                std::string(width > 24 ? width - 24 : 1, ' '),
                chart.origin + chart.length);
  os << "legend: F forward, L loss, B activation gradient, G weight "
        "gradient, X merged backward (BG), U update, . idle";
  if (S.periodic)
    os << ", | period boundary";
  os << "\n";
}

Error writeGantt(const ScheduleResult &R, StringRef path) {
  StringRef ext = path.rsplit('.').second;
  void (*writer)(const ScheduleResult &, raw_ostream &) = nullptr;
  if (ext == "svg")
    writer = writeGanttSVG;
  else if (ext == "html")
    writer = writeGanttHTML;
  else if (ext == "json")
    writer = writeGanttChromeTrace;
  else if (ext == "txt")
    writer = [](const ScheduleResult &R, raw_ostream &os) {
      writeGanttText(R, os);
    };
  else
    return createStringError(inconvertibleErrorCode(),
                             "--gantt %s: unknown chart format '.%s' "
                             "(expected .svg, .html, .json or .txt)",
                             path.str().c_str(), ext.str().c_str());
  return writeOutputFile(path, [&](raw_ostream &os) { writer(R, os); });
}

} // namespace layerpipe
