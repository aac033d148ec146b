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

  auto events = nlohmann::json::parse(trace)["traceEvents"];
  unsigned bars = 0;
  for (auto &e : events)
    if (e["ph"] == "X") {
      ++bars;
      CHECK(e["pid"] == e["tid"]);
      CHECK(e["dur"].get<double>() > 0);
    }
  // Three periods of four tasks, clipped at the window's edges.
  CHECK(bars >= 12);

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
