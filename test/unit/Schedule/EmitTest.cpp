//===- EmitTest.cpp - Gantt charts and schedule JSON ----------------------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// Every chart format from a small periodic schedule whose task name needs
// escaping, and the static memory of a periodic schedule against the
// simulator's.
//
//===----------------------------------------------------------------------===//

#include "layerpipe/Schedule.h"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <map>
#include <set>

using namespace layerpipe;

static ScheduleResult tinySchedule() {
  ScheduleResult R;
  Schedule &S = R.schedule;
  S.name = "layerpipe";
  S.procs = 2;
  S.period = 4;
  auto task = [](std::string name, TaskKind kind, unsigned proc, double start,
                 double dur) {
    ScheduledTask t;
    t.name = std::move(name);
    t.kind = kind;
    t.proc = proc;
    t.start = start;
    t.duration = dur;
    return t;
  };
  S.tasks = {task("F.a<b&\"c'", TaskKind::Forward, 0, 0, 3),
             task("B.x", TaskKind::ActivationGradient, 1, 3, 2),
             task("G.x", TaskKind::WeightGradient, 1, 5.5, 1),
             task("U.x", TaskKind::Update, 0, 7, 1)};
  S.deps = {{0, 1, 0, 1000, 0}, {1, 2, 0, 0, 0}, {2, 3, 0, 0, 0},
            {3, 0, 2, 0, 0}};
  S.memory = {{0, 2, 0, 100}};
  R.scheduled = true;
  R.metrics.procs = 2;
  R.metrics.period = 4;
  return R;
}

TEST_CASE("the tiny schedule verifies; static memory equals the simulator's") {
  ScheduleResult R = tinySchedule();
  llvm::Error err = verifySchedule(R.schedule);
  CHECK(!err);
  llvm::consumeError(std::move(err));
  // F at [0, 3) to G ending at 6.5: 6.5 / 4 -> one instance always, a
  // second during 2.5 of every 4.
  CHECK(computePeakMemory(R.schedule) == std::vector<int64_t>{200, 0});
  SimulationResult sim = simulateSchedule(R.schedule, 40);
  CHECK(sim.peakMemory == std::vector<int64_t>{200, 0});
  // ASAP execution first uses up the schedule's slack, then settles at the
  // period P0's load (F + U = 4) forces.
  CHECK(sim.period <= 4 + 1e-9);
  CHECK(sim.period == doctest::Approx(4).epsilon(0.02));
  CHECK(computeCommBytes(R.schedule) == 1000);
  CHECK(sim.commBytes == std::vector<int64_t>{1000, 0});
}

TEST_CASE("SVG and HTML escape names; JSON formats parse") {
  ScheduleResult R = tinySchedule();
  std::string svg, html, trace, text, sched;
  llvm::raw_string_ostream svgOs(svg), htmlOs(html), traceOs(trace),
      textOs(text), schedOs(sched);
  writeGanttSVG(R, svgOs);
  writeGanttHTML(R, htmlOs);
  writeGanttChromeTrace(R, traceOs);
  writeGanttText(R, textOs, 40);
  writeScheduleJSON(R, schedOs);
  svgOs.flush();
  htmlOs.flush();
  traceOs.flush();
  textOs.flush();
  schedOs.flush();
  CHECK(svg.find("F.a&lt;b&amp;&quot;c&apos;") != std::string::npos);
  CHECK(svg.find("F.a<b") == std::string::npos);
  CHECK(html.find("F.a<b") == std::string::npos);
  CHECK(html.find("<svg") != std::string::npos);

  // Chrome trace: the structure Perfetto's JSON importer expects.
  auto events = nlohmann::json::parse(trace)["traceEvents"];
  unsigned bars = 0, counters = 0;
  std::set<int> named, threadNamed;
  std::map<uint64_t, std::string> flowPhases;
  for (auto &e : events) {
    REQUIRE(e.contains("ph"));
    REQUIRE(e.contains("pid"));
    CHECK(e["pid"].get<int>() >= 1);
    std::string ph = e["ph"];
    if (ph != "C" && ph != "M") {
      CHECK(e["ts"].is_number());
    }
    if (ph == "M") {
      if (e["name"] == "process_name")
        named.insert(e["pid"].get<int>());
      if (e["name"] == "thread_name")
        threadNamed.insert(e["pid"].get<int>());
      CHECK(e["args"].is_object());
    } else if (ph == "X") {
      ++bars;
      CHECK(e["tid"].get<int>() >= 1);
      CHECK(e["dur"].get<double>() > 0);
    } else if (ph == "s" || ph == "f") {
      flowPhases[e["id"].get<uint64_t>()] += ph;
      CHECK(e["cat"] == "transfer");
    } else if (ph == "C") {
      ++counters;
      CHECK(e["args"]["bytes"].get<int64_t>() >= 0);
    } else {
      FAIL("unexpected phase " << ph);
    }
  }
  CHECK(named == std::set<int>{1, 2});
  CHECK(threadNamed == std::set<int>{1, 2});
  // Three periods of four tasks, clipped at the window's edges.
  CHECK(bars >= 12);
  // F on P0 feeds B on P1 every period: flows, each an s then an f.
  CHECK(!flowPhases.empty());
  for (auto &[id, phases] : flowPhases)
    CHECK(phases == "sf");
  // P0 holds the F -> G block of 100 bytes; its counter reaches 200.
  int64_t most = 0;
  for (auto &e : events)
    if (e["ph"] == "C" && e["pid"] == 1)
      most = std::max<int64_t>(most, e["args"]["bytes"].get<int64_t>());
  CHECK(most == 200);
  CHECK(counters >= 4);

  auto json = nlohmann::json::parse(sched);
  CHECK(json["tasks"][0]["name"] == "F.a<b&\"c'");
  CHECK(json["tasks"][3]["iteration_offset"] == 1);
  CHECK(json["edges"][0]["transfer"] == 0.0);

  CHECK(text.find("P0   ") != std::string::npos);
  CHECK(text.find("legend:") != std::string::npos);
}

TEST_CASE("unknown chart extensions are errors") {
  ScheduleResult R = tinySchedule();
  llvm::Error err = writeGantt(R, "chart.pdf");
  REQUIRE(bool(err));
  CHECK(llvm::toString(std::move(err)).find("unknown chart format '.pdf'") !=
        std::string::npos);
}

TEST_CASE("bar labels carry the training iteration offset") {
  ScheduleResult R = tinySchedule();
  // U.x starts in the second period (offset 1); a retiming lag of 2 puts
  // it three training iterations behind the period's own.
  R.schedule.tasks[3].lag = 2;
  R.schedule.tasks[3].duration = 3.9;
  std::string svg;
  llvm::raw_string_ostream os(svg);
  writeGanttSVG(R, os);
  os.flush();
  CHECK(svg.find(">U.x i-3</text>") != std::string::npos);
  CHECK(svg.find(">B.x i</text>") != std::string::npos);
}

TEST_CASE("charts of tiny and huge periods finish with bounded ticks") {
  for (double period : {1e-9, 1e-3, 1e12}) {
    ScheduleResult R = tinySchedule();
    Schedule &S = R.schedule;
    double scale = period / S.period;
    S.period = period;
    for (ScheduledTask &t : S.tasks) {
      t.start *= scale;
      t.duration *= scale;
    }
    std::string svg, html;
    llvm::raw_string_ostream svgOs(svg), htmlOs(html);
    writeGanttSVG(R, svgOs);
    writeGanttHTML(R, htmlOs);
    svgOs.flush();
    size_t ticks = 0;
    for (size_t at = svg.find("class=\"tick\""); at != std::string::npos;
         at = svg.find("class=\"tick\"", at + 1))
      ++ticks;
    CHECK(ticks <= 60);
    CHECK(svg.find("</svg>") != std::string::npos);
  }
}
