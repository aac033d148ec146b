//===- GanttHTML.cpp - An interactive Gantt chart page --------------------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// A self-contained HTML page: the headline figures, a chart drawn by a small
// script from the bars embedded as JSON, and the metrics with units. Zoom
// and pan act on the time axis only (buttons, ctrl + wheel at the pointer,
// drag, shift + wheel, keys + - 0 and the arrows), so the processor lanes
// and the time axis stay in view; the chart is redrawn at each step, with
// each bar labelled as soon as its label fits. Bars can be coloured by task
// kind or by stage (layer group). `page.html#zoom=3&colour=stage` opens at
// three zoom steps, coloured by stage.
//
// The view arithmetic lives in its own script (id "gantt-core") that needs
// no DOM, so that a test runs it under node (test/lit/schedule/Inputs/
// gantt-view.js). The static SVG is kept in a <noscript> block.
//
//===----------------------------------------------------------------------===//

#include "GanttLayout.h"

#include "layerpipe/Units.h"

#include "llvm/Support/FormatVariadic.h"

#include <nlohmann/json.hpp>

using namespace llvm;

namespace layerpipe {

using namespace gantt;

/// The view arithmetic: no DOM, exported for node.
static const char *const ganttCore = R"js(
'use strict';
var GanttCore = {
  ZOOM_STEP: 1.5,
  MIN_BAR_PX: 3,
  CHAR_PX: 6.5,
  reset: function (data) { return {t0: 0, t1: data.length}; },
  /// Keeps the view inside the window and at least a millionth of it wide.
  clamp: function (data, t0, t1) {
    var len = data.length;
    var span = Math.min(Math.max(t1 - t0, len * 1e-6), len);
    t0 = Math.min(Math.max(t0, 0), len - span);
    return {t0: t0, t1: t0 + span};
  },
  /// Zooms by `factor` (> 1: in) keeping time `anchor` (default: the
  /// centre) at the same place on the screen.
  zoom: function (data, view, factor, anchor) {
    var span = view.t1 - view.t0;
    if (anchor === undefined) anchor = view.t0 + span / 2;
    var frac = (anchor - view.t0) / span;
    var next = span / factor;
    return GanttCore.clamp(data, anchor - frac * next,
                           anchor - frac * next + next);
  },
  pan: function (data, view, dt) {
    return GanttCore.clamp(data, view.t0 + dt, view.t1 + dt);
  },
  /// The unit of an axis spanning `span` microseconds.
  unit: function (span) {
    if (span >= 2e6) return {us: 1e6, name: 's'};
    if (span >= 2e3) return {us: 1e3, name: 'ms'};
    return {us: 1, name: '\u00b5s'};
  },
  /// Ticks (window-relative times) at multiples of a 1-2-5 step in
  /// absolute time, and their labels.
  ticks: function (data, view, maxTicks) {
    var span = view.t1 - view.t0, unit = GanttCore.unit(span);
    var raw = span / Math.max(1, maxTicks);
    var power = Math.pow(10, Math.floor(Math.log10(raw)));
    var step = 10 * power;
    for (var m = 1; m <= 5; m = m === 2 ? 5 : m + 1)
      if (m * power >= raw) {
        step = m * power;
        break;
      }
    var out = [];
    if (!(step > 0) || !isFinite(step)) return out;
    var digits = Math.max(0, Math.min(6, -Math.floor(Math.log10(step / unit.us) + 1e-9)));
    var first = Math.ceil((data.origin + view.t0) / step - 1e-9);
    for (var k = 0; k <= 2 * maxTicks; ++k) {
      var abs = (first + k) * step;
      if (abs > data.origin + view.t1 + step * 1e-9) break;
      out.push({t: abs - data.origin, label: (abs / unit.us).toFixed(digits)});
    }
    return out;
  },
  /// The bars to draw in a plot `width` pixels wide: position, width (at
  /// least MIN_BAR_PX) and the longest label that fits the visible part.
  layout: function (data, view, width) {
    var scale = width / (view.t1 - view.t0), out = [];
    for (var i = 0; i < data.bars.length; ++i) {
      var b = data.bars[i];
      if (b[2] < view.t0 || b[1] > view.t1) continue;
      var x = (b[1] - view.t0) * scale, w = (b[2] - b[1]) * scale;
      if (w < GanttCore.MIN_BAR_PX) {
        x -= (GanttCore.MIN_BAR_PX - w) / 2;
        w = GanttCore.MIN_BAR_PX;
      }
      var v0 = Math.max(x, 0), v1 = Math.min(x + w, width), label = '';
      for (var k = 0; k < b[5].length; ++k)
        if (b[5][k].length * GanttCore.CHAR_PX + 6 <= v1 - v0) {
          label = b[5][k];
          break;
        }
      out.push({bar: i, proc: b[0], x: x, w: w, label: label,
                labelX: (v0 + v1) / 2});
    }
    return out;
  }
};
if (typeof module !== 'undefined') module.exports = GanttCore;
)js";

/// Drawing and interaction.
static const char *const ganttUI = R"js(
(function () {
  'use strict';
  var C = GanttCore;
  var data = JSON.parse(document.getElementById('gantt-data').textContent);
  var LEFT = 96, RIGHT = 16, ROW = 30, GAP = 6;
  var IDLE_PATTERN = '<pattern id="idle" width="6" height="6" ' +
      'patternUnits="userSpaceOnUse" patternTransform="rotate(45)">' +
      '<rect width="6" height="6" fill="#f4f4f4"/><line x1="0" y1="0" ' +
      'x2="0" y2="6" stroke="#d8d8d8" stroke-width="2"/></pattern>';
  var box = document.getElementById('gantt');
  var axis = document.getElementById('gantt-axis');
  var lanes = document.getElementById('gantt-lanes');
  var view = C.reset(data), colourBy = 'kind', steps = 0;
  function esc(s) {
    return String(s).replace(/[&<>"']/g, function (c) {
      return {'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;',
              "'": '&#39;'}[c];
    });
  }
  function plotWidth() { return Math.max(100, box.clientWidth - LEFT - RIGHT); }
  function colour(b) {
    if (colourBy === 'stage' && b[4] >= 0)
      return data.stageColours[b[4] % data.stageColours.length];
    return data.kinds[b[3]].colour;
  }
  function legend() {
    var items = [];
    if (colourBy === 'stage') {
      for (var s = 0; s < data.stages; ++s)
        items.push([data.stageColours[s % data.stageColours.length],
                    'stage ' + s]);
    } else {
      data.kinds.forEach(function (k) {
        items.push([k.colour, k.prefix + ' ' + k.name]);
      });
    }
    var html = items.map(function (it) {
      return '<span><i style="background:' + it[0] + '"></i>' + esc(it[1]) +
             '</span>';
    }).join('');
    document.getElementById('legend').innerHTML =
        html + '<span><i class="idle"></i>idle</span>';
  }
  function draw() {
    var W = plotWidth(), scale = W / (view.t1 - view.t0);
    var H = data.procs * (ROW + GAP);
    var X = function (t) { return LEFT + (t - view.t0) * scale; };
    var ticks = C.ticks(data, view, Math.max(2, Math.floor(W / 100)));
    var unit = C.unit(view.t1 - view.t0);
    var a = '';
    ticks.forEach(function (tk) {
      a += '<line x1="' + X(tk.t) + '" y1="26" x2="' + X(tk.t) +
           '" y2="34" stroke="#888"/><text x="' + X(tk.t) +
           '" y="22" text-anchor="middle">' + tk.label + '</text>';
    });
    a += '<text x="4" y="22">time (' + unit.name + ')</text>';
    var s = '<defs>' + IDLE_PATTERN + '<clipPath id="plot"><rect x="' + LEFT + '" y="0" width="' +
            W + '" height="' + H + '"/></clipPath></defs>';
    if (data.periodic) {
      for (var k = 0; k < data.periods; ++k) {
        var p0 = Math.max(k * data.period, view.t0);
        var p1 = Math.min((k + 1) * data.period, view.t1);
        if (p1 > p0 && (p1 - p0) * scale > 60)
          a += '<text x="' + (X(p0) + X(p1)) / 2 + '" y="9" font-size="10" ' +
               'text-anchor="middle">period ' + (k + 1) + '</text>';
      }
    }
    for (var p = 0; p < data.procs; ++p) {
      var y = p * (ROW + GAP);
      s += '<rect x="' + LEFT + '" y="' + y + '" width="' + W + '" height="' +
           ROW + '" fill="url(#idle)"/>' +
           '<text x="' + (LEFT - 8) + '" y="' + (y + 12) +
           '" text-anchor="end" font-weight="bold">P' + p + '</text>' +
           '<text x="' + (LEFT - 8) + '" y="' + (y + 25) +
           '" text-anchor="end" font-size="10" fill="#888">idle ' +
           (100 * data.idle[p]).toFixed(1) + '%</text>';
    }
    s += '<g clip-path="url(#plot)">';
    C.layout(data, view, W).forEach(function (d) {
      var b = data.bars[d.bar], y = d.proc * (ROW + GAP);
      s += '<g><title>' + esc(b[6]) + '</title><rect class="bar" x="' +
           (LEFT + d.x) + '" y="' + y + '" width="' + d.w + '" height="' +
           ROW + '" fill="' + colour(b) + '"/>';
      if (d.label)
        s += '<text class="lbl" x="' + (LEFT + d.labelX) + '" y="' +
             (y + ROW / 2 + 4) + '" text-anchor="middle">' + esc(d.label) +
             '</text>';
      s += '</g>';
    });
    if (data.periodic)
      for (var q = 0; q <= data.periods; ++q) {
        var t = q * data.period;
        if (t >= view.t0 && t <= view.t1)
          s += '<line class="period" x1="' + X(t) + '" y1="0" x2="' + X(t) +
               '" y2="' + H + '"/>';
      }
    s += '</g>';
    axis.setAttribute('width', LEFT + W + RIGHT);
    lanes.setAttribute('width', LEFT + W + RIGHT);
    lanes.setAttribute('height', H);
    axis.innerHTML = a;
    lanes.innerHTML = s;
    document.getElementById('gantt-view').textContent =
        'zoom ' + (data.length / (view.t1 - view.t0)).toFixed(2) + 'x';
  }
  function zoomBy(factor, anchor) {
    view = C.zoom(data, view, factor, anchor);
    draw();
  }
  function timeAt(clientX) {
    var r = lanes.getBoundingClientRect();
    var scale = plotWidth() / (view.t1 - view.t0);
    return view.t0 + (clientX - r.left - LEFT) / scale;
  }
  document.getElementById('zin').onclick = function () { zoomBy(C.ZOOM_STEP); };
  document.getElementById('zout').onclick = function () {
    zoomBy(1 / C.ZOOM_STEP);
  };
  document.getElementById('zreset').onclick = function () {
    view = C.reset(data);
    draw();
  };
  document.getElementById('colour').onchange = function (e) {
    colourBy = e.target.value;
    legend();
    draw();
  };
  box.addEventListener('wheel', function (e) {
    var scale = plotWidth() / (view.t1 - view.t0);
    if (e.ctrlKey || e.metaKey) {
      e.preventDefault();
      zoomBy(e.deltaY < 0 ? 1.2 : 1 / 1.2, timeAt(e.clientX));
    } else if (e.shiftKey || Math.abs(e.deltaX) > Math.abs(e.deltaY)) {
      e.preventDefault();
      view = C.pan(data, view, (e.deltaX || e.deltaY) / scale);
      draw();
    }
  }, {passive: false});
  var drag = null;
  lanes.addEventListener('pointerdown', function (e) {
    drag = {x: e.clientX, view: view};
    lanes.setPointerCapture(e.pointerId);
    lanes.classList.add('dragging');
  });
  lanes.addEventListener('pointermove', function (e) {
    if (!drag) return;
    var scale = plotWidth() / (drag.view.t1 - drag.view.t0);
    view = C.pan(data, drag.view, (drag.x - e.clientX) / scale);
    draw();
  });
  function endDrag() { drag = null; lanes.classList.remove('dragging'); }
  lanes.addEventListener('pointerup', endDrag);
  lanes.addEventListener('pointercancel', endDrag);
  document.addEventListener('keydown', function (e) {
    if (e.target.tagName === 'SELECT') return;
    var span = view.t1 - view.t0;
    if (e.key === '+' || e.key === '=') zoomBy(C.ZOOM_STEP);
    else if (e.key === '-') zoomBy(1 / C.ZOOM_STEP);
    else if (e.key === '0') { view = C.reset(data); draw(); }
    else if (e.key === 'ArrowLeft') { view = C.pan(data, view, -span / 4); draw(); }
    else if (e.key === 'ArrowRight') { view = C.pan(data, view, span / 4); draw(); }
  });
  window.addEventListener('resize', draw);
  // page.html#zoom=3&colour=stage
  location.hash.replace(/^#/, '').split('&').forEach(function (kv) {
    var pair = kv.split('=');
    if (pair[0] === 'zoom') steps = Math.max(0, Math.min(40, +pair[1] || 0));
    if (pair[0] === 'colour' && (pair[1] === 'stage' || pair[1] === 'kind')) {
      colourBy = pair[1];
      document.getElementById('colour').value = colourBy;
    }
  });
  for (var i = 0; i < steps; ++i) view = C.zoom(data, view, C.ZOOM_STEP);
  legend();
  draw();
})();
)js";

/// The bars and what the script needs to draw them.
static nlohmann::json chartData(const ScheduleResult &R, const Chart &chart) {
  const Schedule &S = R.schedule;
  nlohmann::json kinds = nlohmann::json::array();
  std::vector<int> kindIndex(int(TaskKind::Update) + 1, -1);
  for (const ScheduledTask &t : S.tasks)
    kindIndex[int(t.kind)] = 0;
  for (int k = 0; k < int(kindIndex.size()); ++k)
    if (kindIndex[k] >= 0) {
      kindIndex[k] = int(kinds.size());
      TaskKind kind = TaskKind(k);
      kinds.push_back({{"prefix", taskKindPrefix(kind).str()},
                       {"name", taskKindName(kind).str()},
                       {"colour", kindColour(kind)}});
    }
  int stages = 0;
  nlohmann::json bars = nlohmann::json::array();
  for (const Bar &bar : chart.bars) {
    const ScheduledTask &t = S.tasks[bar.task];
    stages = std::max(stages, t.stage + 1);
    bars.push_back({bar.proc, bar.begin, bar.end, kindIndex[int(t.kind)],
                    t.stage, barLabels(S, bar),
                    barTitle(S, bar, chart.origin, "µs")});
  }
  nlohmann::json stageColours = nlohmann::json::array();
  for (unsigned s = 0; s < numStageColours(); ++s)
    stageColours.push_back(stageColour(int(s)));
  nlohmann::json idle = nlohmann::json::array();
  for (unsigned p = 0; p < S.procs; ++p)
    idle.push_back(chart.length > 0
                       ? std::max(0.0, 1 - chart.busy[p] / chart.length)
                       : 0.0);
  return {{"origin", chart.origin},
          {"length", chart.length},
          {"period", S.period},
          {"periods", chart.periods},
          {"periodic", S.periodic},
          {"procs", S.procs},
          {"kinds", std::move(kinds)},
          {"stages", stages},
          {"stageColours", std::move(stageColours)},
          {"idle", std::move(idle)},
          {"bars", std::move(bars)}};
}

/// The metrics table: names, values with units, what they mean.
static void writeMetricsTable(const ScheduleResult &R, raw_ostream &os) {
  const Schedule &S = R.schedule;
  const ScheduleMetrics &M = R.metrics;
  const char *per = S.periodic ? "iteration" : "step";
  auto row = [&](StringRef name, const std::string &value, StringRef note) {
    os << "<tr><td>" << xmlEscape(name) << "</td><td class=\"num\">"
       << xmlEscape(value) << "</td><td>" << xmlEscape(note) << "</td></tr>\n";
  };
  auto time = [](double us) { return formatDuration(us, "µs"); };
  os << "<table>\n<tr><th>metric</th><th>value</th><th></th></tr>\n";
  row("schedule", S.name,
      S.periodic ? "asynchronous (periodic)" : "synchronous, flush every step");
  row("processors", std::to_string(M.procs), "");
  row("throughput", formatRate(M.samplesPerSecond),
      S.periodic ? formatv("{0} samples (one mini-batch) per period",
                           M.samplesPerIteration)
                       .str()
                 : formatv("{0} samples ({1} micro-batches) per step",
                           M.samplesPerIteration, S.microBatches)
                       .str());
  row("period", time(M.period), "per iteration (synchronous: per micro-batch)");
  if (!S.periodic) {
    row("makespan", time(M.makespan), "one step with its flush");
    row("step time", time(M.stepTime), "steps back to back (simulated)");
  }
  row("lower bound", time(M.lowerBound), "no schedule has a shorter period");
  row("iteration bound", time(M.iterationBound), "longest loop / its delays");
  row("sequential time", time(M.sequentialTime),
      "the same work on one processor");
  row("speedup", formatv("{0:f2}x", M.speedup).str(),
      "sequential time / period");
  row("utilization", formatPercent(M.utilization),
      "busy share of the processors");
  row("bubble", formatPercent(M.bubbleFraction), "idle share");
  row("communication", formatBytes(double(M.commBytes)),
      formatv("between processors per {0}", per).str());
  std::string peak, simulatedPeak;
  for (size_t p = 0; p < M.peakMemory.size(); ++p)
    peak += (p ? ", " : "") + formatBytes(double(M.peakMemory[p]));
  for (size_t p = 0; p < M.simulatedPeakMemory.size(); ++p)
    simulatedPeak +=
        (p ? ", " : "") + formatBytes(double(M.simulatedPeakMemory[p]));
  row("peak memory", peak, "activations held, per processor P0, P1, ...");
  row("simulated period", time(M.simulatedPeriod),
      formatv("per {0}, over {1} {0}s", per, M.simulatedIterations).str());
  row("simulated peak memory", simulatedPeak, "per processor");
  os << "</table>\n";
}

void writeGanttHTML(const ScheduleResult &R, raw_ostream &os) {
  const Schedule &S = R.schedule;
  Chart chart = layoutChart(S);
  std::string svg;
  raw_string_ostream svgOs(svg);
  writeGanttSVG(R, svgOs);
  svgOs.flush();
  // JSON inside <script>: no "</script>" may appear, so every '<' (only
  // ever inside strings) is escaped.
  std::string json = chartData(R, chart).dump();
  std::string safe;
  for (char c : json)
    safe += c == '<' ? std::string("\\u003c") : std::string(1, c);

  os << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
     << "<meta name=\"viewport\" content=\"width=device-width\">\n<title>"
     << xmlEscape(chartTitle(R)) << "</title>\n";
  os << R"css(<style>
body{font-family:sans-serif;margin:16px;color:#222}
h1{font-size:20px;margin:0 0 4px}.sub{margin:0 0 10px;color:#444}
.toolbar{margin:8px 0;display:flex;gap:6px;align-items:center;flex-wrap:wrap}
.hint,#gantt-view{color:#666;font-size:12px}
#gantt{border:1px solid #ccc;font-size:11px;user-select:none}
#gantt svg{display:block;font-family:sans-serif;font-size:11px}
#gantt-scroll{max-height:70vh;overflow-y:auto;overflow-x:hidden}
#gantt-lanes{cursor:grab}#gantt-lanes.dragging{cursor:grabbing}
.bar{stroke:#fff;stroke-width:0.5}.lbl{fill:#fff;pointer-events:none}
.period{stroke:#222;stroke-width:1.5;stroke-dasharray:6,3}
#legend{margin:8px 0;font-size:12px}#legend span{margin-right:14px}
#legend i{display:inline-block;width:12px;height:12px;margin-right:4px;
vertical-align:-2px}
#legend i.idle{background:repeating-linear-gradient(45deg,#f4f4f4 0 3px,
#d8d8d8 3px 5px);border:1px solid #ccc}
table{border-collapse:collapse;margin-top:12px}
td,th{border:1px solid #ddd;padding:2px 8px;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums}
</style></head><body>
)css";
  os << "<h1>" << xmlEscape(chartTitle(R)) << "</h1>\n<p class=\"sub\">"
     << xmlEscape(chartSubtitle(R, "µs"));
  if (S.periodic)
    os << xmlEscape(
        formatv(" · {0} periods of the steady state", chart.periods).str());
  os << "</p>\n";
  os << "<div class=\"toolbar\"><button id=\"zin\" title=\"zoom in (+)\">"
        "zoom in</button><button id=\"zout\" title=\"zoom out (-)\">zoom "
        "out</button><button id=\"zreset\" title=\"whole window (0)\">reset"
        "</button><label>colour by <select id=\"colour\"><option "
        "value=\"kind\">task kind</option><option value=\"stage\">stage "
        "(layer group)</option></select></label><span class=\"hint\">ctrl + "
        "wheel: zoom at the pointer · drag, shift + wheel or arrows: pan"
        "</span><span id=\"gantt-view\"></span></div>\n";
  os << "<div id=\"gantt\"><svg id=\"gantt-axis\" height=\"36\" "
        "xmlns=\"http://www.w3.org/2000/svg\"></svg><div id=\"gantt-scroll\">"
        "<svg id=\"gantt-lanes\" xmlns=\"http://www.w3.org/2000/svg\">"
        "</svg></div></div>\n<div id=\"legend\"></div>\n";
  os << "<noscript>" << svg << "</noscript>\n";
  os << "<h2>Metrics</h2>\n";
  writeMetricsTable(R, os);
  os << "<script id=\"gantt-data\" type=\"application/json\">" << safe
     << "</script>\n<script id=\"gantt-core\">" << ganttCore
     << "</script>\n<script>" << ganttUI << "</script>\n</body></html>\n";
}

} // namespace layerpipe
