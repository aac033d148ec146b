//===- Gantt.cpp - Gantt charts of a schedule -----------------------------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// Draws a schedule with processors as rows and task instances as bars: SVG
// (self-contained, coloured by task kind, labels where a bar is wide enough,
// full names in <title> tooltips, a time axis, period markers and a legend),
// an HTML page around the SVG with zoom and the metrics, a Chrome trace
// (chrome://tracing, Perfetto) and a plain-text chart for terminals.
//
// A periodic schedule is drawn over three periods of its steady state (every
// processor then runs instances of several iterations, each labelled with
// its iteration); a synchronous schedule over its whole step.
//
//===----------------------------------------------------------------------===//

#include "layerpipe/Schedule.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/FormatVariadic.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <map>

using namespace llvm;

namespace layerpipe {

namespace {
/// One bar of the chart.
struct Bar {
  unsigned task;
  unsigned proc;
  double begin, end; ///< clipped to the window, relative to its start
  int iteration;     ///< periodic: the iteration; synchronous: micro-batch
};

/// The time window drawn and the bars in it.
struct Chart {
  double origin = 0, length = 0;
  unsigned periods = 0;
  std::vector<Bar> bars;
};
} // namespace

static Chart layoutChart(const Schedule &S, unsigned periods = 3) {
  Chart chart;
  if (!S.periodic) {
    chart.length = S.period;
    for (unsigned v = 0; v < S.tasks.size(); ++v) {
      const ScheduledTask &t = S.tasks[v];
      if (t.duration > 0)
        chart.bars.push_back({v, t.proc, t.start, t.end(), t.microBatch});
    }
    return chart;
  }
  double T = S.period;
  double latest = 0;
  for (const ScheduledTask &t : S.tasks)
    latest = std::max(latest, t.start);
  // From here on every task runs once per period: the steady state.
  chart.origin = std::ceil(latest / T) * T;
  chart.periods = periods;
  chart.length = periods * T;
  double windowEnd = chart.origin + chart.length;
  for (unsigned v = 0; v < S.tasks.size(); ++v) {
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
      chart.bars.push_back({v, t.proc, std::max(b, chart.origin) - chart.origin,
                            std::min(e, windowEnd) - chart.origin, i});
    }
  }
  return chart;
}

static std::string xmlEscape(StringRef text) {
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

static const char *kindColour(TaskKind kind) {
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

/// A tick step of 1, 2 or 5 times a power of ten giving about 10 ticks.
static double tickStep(double length) {
  if (!(length > 0))
    return 1;
  double raw = length / 10;
  double power = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0})
    if (m * power >= raw)
      return m * power;
  return 10 * power;
}

/// "20000", "12.5": a tick value without trailing zeros.
static std::string formatTick(double value) {
  std::string text = formatv("{0:f3}", value).str();
  while (text.back() == '0')
    text.pop_back();
  if (text.back() == '.')
    text.pop_back();
  return text == "-0" ? "0" : text;
}

/// The short label of a bar: layer (or stage) name and iteration.
static std::string barLabel(const Schedule &S, const Bar &bar) {
  const ScheduledTask &t = S.tasks[bar.task];
  if (S.periodic)
    return formatv("{0} i{1}", t.name, bar.iteration).str();
  if (t.microBatch >= 0)
    return formatv("{0}{1}", taskKindPrefix(t.kind), t.microBatch).str();
  return taskKindPrefix(t.kind).str();
}

static std::string barTitle(const Schedule &S, const Bar &bar,
                            double origin) {
  const ScheduledTask &t = S.tasks[bar.task];
  std::string what = S.periodic
                         ? formatv("iteration {0}", bar.iteration).str()
                         : (t.microBatch >= 0
                                ? formatv("micro-batch {0}", t.microBatch).str()
                                : std::string("step"));
  return formatv("{0} ({1}) on P{2}: [{3:f2}, {4:f2}) us, {5} {6:f2} us",
                 t.name, what, t.proc, bar.begin + origin, bar.end + origin,
                 taskKindName(t.kind), t.duration)
      .str();
}

void writeGanttSVG(const ScheduleResult &R, raw_ostream &os) {
  const Schedule &S = R.schedule;
  Chart chart = layoutChart(S);
  const double left = 60, top = 40, rowHeight = 28, rowGap = 6;
  const double plotWidth = 1400;
  double scale = chart.length > 0 ? plotWidth / chart.length : 1;
  double plotHeight = S.procs * (rowHeight + rowGap);
  double width = left + plotWidth + 20;
  double height = top + plotHeight + 70;
  os << formatv("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" "
                "height=\"{1}\" viewBox=\"0 0 {0} {1}\" "
                "font-family=\"sans-serif\" font-size=\"11\">\n",
                width, height);
  os << "<style>.bar{stroke:#fff;stroke-width:0.5}"
        ".lbl{fill:#fff;pointer-events:none}"
        ".tick{stroke:#ccc;stroke-width:0.5}"
        ".period{stroke:#333;stroke-width:1;stroke-dasharray:4,3}</style>\n";
  os << "<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n";
  std::string heading =
      S.periodic
          ? formatv("{0}: period {1:f1} us on {2} processors, {3} periods of "
                    "the steady state",
                    S.name, S.period, S.procs, chart.periods)
                .str()
          : formatv("{0}: one step of {1} micro-batches, makespan {2:f1} us "
                    "on {3} processors",
                    S.name, S.microBatches, S.period, S.procs)
                .str();
  os << formatv("<text x=\"{0}\" y=\"20\" font-size=\"14\">{1}</text>\n",
                left, xmlEscape(heading));
  // Rows and the time axis.
  for (unsigned p = 0; p < S.procs; ++p) {
    double y = top + p * (rowHeight + rowGap);
    os << formatv("<rect x=\"{0}\" y=\"{1}\" width=\"{2}\" height=\"{3}\" "
                  "fill=\"#f3f3f3\"/>\n",
                  left, y, plotWidth, rowHeight);
    os << formatv("<text x=\"{0}\" y=\"{1}\" text-anchor=\"end\">P{2}</text>\n",
                  left - 8, y + rowHeight / 2 + 4, p);
  }
  double step = tickStep(chart.length);
  double axisY = top + plotHeight;
  // Ticks at multiples of the step in absolute time.
  double firstTick = std::ceil(chart.origin / step - 1e-9) * step - chart.origin;
  // Counted, not accumulated: at tiny scales t += step stops advancing
  // (the loop never ended for task times of 1e-300 us).
  for (unsigned k = 0; k <= 100; ++k) {
    double t = firstTick + k * step;
    if (t > chart.length * (1 + 1e-9))
      break;
    double x = left + t * scale;
    os << formatv("<line class=\"tick\" x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" "
                  "y2=\"{2}\"/>\n",
                  x, top, axisY + 4);
    os << formatv("<text x=\"{0}\" y=\"{1}\" text-anchor=\"middle\">{2}</text>\n",
                  x, axisY + 16, formatTick(t + chart.origin));
  }
  os << formatv("<text x=\"{0}\" y=\"{1}\" text-anchor=\"middle\">time "
                "(us)</text>\n",
                left + plotWidth / 2, axisY + 32);
  // Bars, labelled where the label fits (about 6.5 px per character).
  for (const Bar &bar : chart.bars) {
    const ScheduledTask &t = S.tasks[bar.task];
    double x = left + bar.begin * scale;
    double w = std::max(0.5, (bar.end - bar.begin) * scale);
    double y = top + bar.proc * (rowHeight + rowGap);
    os << formatv("<g><title>{0}</title><rect class=\"bar\" x=\"{1}\" "
                  "y=\"{2}\" width=\"{3}\" height=\"{4}\" fill=\"{5}\"/>",
                  xmlEscape(barTitle(S, bar, chart.origin)), x, y, w,
                  rowHeight, kindColour(t.kind));
    std::string label = barLabel(S, bar);
    if (label.size() * 6.5 + 4 <= w)
      os << formatv("<text class=\"lbl\" x=\"{0}\" y=\"{1}\" "
                    "text-anchor=\"middle\">{2}</text>",
                    x + w / 2, y + rowHeight / 2 + 4, xmlEscape(label));
    os << "</g>\n";
  }
  // Period markers.
  if (S.periodic)
    for (unsigned k = 0; k <= chart.periods; ++k) {
      double x = left + k * S.period * scale;
      os << formatv("<line class=\"period\" x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" "
                    "y2=\"{2}\"><title>period boundary t={3:f1} us</title>"
                    "</line>\n",
                    x, top - 6, axisY, chart.origin + k * S.period);
    }
  // Legend of the kinds present.
  std::map<int, TaskKind> kinds;
  for (const ScheduledTask &t : S.tasks)
    kinds[int(t.kind)] = t.kind;
  double lx = left;
  double ly = axisY + 46;
  for (auto &entry : kinds) {
    TaskKind kind = entry.second;
    os << formatv("<rect x=\"{0}\" y=\"{1}\" width=\"12\" height=\"12\" "
                  "fill=\"{2}\"/><text x=\"{3}\" y=\"{4}\">{5} {6}</text>\n",
                  lx, ly, kindColour(kind), lx + 16, ly + 10,
                  taskKindPrefix(kind), taskKindName(kind));
    lx += 170;
  }
  os << "</svg>\n";
}

void writeGanttHTML(const ScheduleResult &R, raw_ostream &os) {
  std::string svg;
  raw_string_ostream svgOs(svg);
  writeGanttSVG(R, svgOs);
  svgOs.flush();
  os << "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">\n<title>"
     << xmlEscape("LayerPipe schedule: " + R.schedule.name)
     << "</title>\n<style>body{font-family:sans-serif;margin:16px}"
        "#chart{overflow:auto;border:1px solid #ccc;max-height:80vh}"
        "table{border-collapse:collapse;margin-top:12px}"
        "td{border:1px solid #ddd;padding:2px 8px}"
        "button{margin-right:4px}</style></head><body>\n";
  os << "<h2>" << xmlEscape("Schedule " + R.schedule.name) << "</h2>\n";
  os << "<div><button id=\"zin\">zoom in</button><button id=\"zout\">zoom "
        "out</button><button id=\"zreset\">reset</button> (or ctrl + "
        "mouse wheel over the chart)</div>\n";
  os << "<div id=\"chart\">" << svg << "</div>\n<table>\n";
  nlohmann::json metrics = scheduleMetricsJSON(R);
  for (auto &item : metrics.items()) {
    const nlohmann::json &value = item.value();
    std::string text = value.is_number_float()
                           ? formatv("{0}", format("%.4g", value.get<double>()))
                                 .str()
                           : value.is_string() ? value.get<std::string>()
                                               : value.dump();
    os << "<tr><td>" << xmlEscape(item.key()) << "</td><td>"
       << xmlEscape(text) << "</td></tr>\n";
  }
  os << "</table>\n<script>\n"
        "const svg = document.querySelector('#chart svg');\n"
        "const w0 = svg.width.baseVal.value, h0 = svg.height.baseVal.value;\n"
        "let zoom = 1;\n"
        "function apply() { svg.setAttribute('width', w0 * zoom); "
        "svg.setAttribute('height', h0 * Math.max(1, Math.sqrt(zoom))); }\n"
        "document.getElementById('zin').onclick = () => { zoom *= 1.5; "
        "apply(); };\n"
        "document.getElementById('zout').onclick = () => { zoom /= 1.5; "
        "apply(); };\n"
        "document.getElementById('zreset').onclick = () => { zoom = 1; "
        "apply(); };\n"
        "document.getElementById('chart').addEventListener('wheel', e => {\n"
        "  if (!e.ctrlKey) return;\n"
        "  e.preventDefault(); zoom *= e.deltaY < 0 ? 1.2 : 1 / 1.2; apply();\n"
        "}, {passive: false});\n"
        "</script>\n</body></html>\n";
}

void writeGanttChromeTrace(const ScheduleResult &R, raw_ostream &os) {
  const Schedule &S = R.schedule;
  Chart chart = layoutChart(S);
  nlohmann::json events = nlohmann::json::array();
  for (unsigned p = 0; p < S.procs; ++p)
    events.push_back({{"name", "process_name"},
                      {"ph", "M"},
                      {"pid", p},
                      {"tid", p},
                      {"args", {{"name", formatv("P{0}", p).str()}}}});
  for (const Bar &bar : chart.bars) {
    const ScheduledTask &t = S.tasks[bar.task];
    nlohmann::json args = {{"task", t.name}};
    if (S.periodic)
      args["iteration"] = bar.iteration;
    else if (t.microBatch >= 0)
      args["micro_batch"] = t.microBatch;
    events.push_back({{"name", barLabel(S, bar)},
                      {"cat", taskKindName(t.kind).str()},
                      {"ph", "X"},
                      {"ts", bar.begin + chart.origin},
                      {"dur", bar.end - bar.begin},
                      {"pid", bar.proc},
                      {"tid", bar.proc},
                      {"args", std::move(args)}});
  }
  nlohmann::json root = {{"traceEvents", std::move(events)},
                         {"displayTimeUnit", "ms"},
                         {"otherData", scheduleMetricsJSON(R)}};
  os << root.dump() << "\n";
}

void writeGanttText(const ScheduleResult &R, raw_ostream &os,
                    unsigned width) {
  const Schedule &S = R.schedule;
  Chart chart = layoutChart(S);
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
  std::error_code ec;
  raw_fd_ostream os(path, ec, sys::fs::OF_Text);
  if (ec)
    return createStringError(ec, "cannot write %s: %s", path.str().c_str(),
                             ec.message().c_str());
  writer(R, os);
  return Error::success();
}

} // namespace layerpipe
