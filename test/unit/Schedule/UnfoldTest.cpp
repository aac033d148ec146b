//===- UnfoldTest.cpp - Scheduling an unfolded DFG ------------------------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// A loop of 10 us over 3 delays has iteration bound 10/3 us, but one copy per
// period cannot go below its longest task (6 us). Unfolded by 3, the copies of
// that task run on different processors and the period per iteration reaches
// the bound.
//
//===----------------------------------------------------------------------===//

#include "layerpipe/Schedule.h"
#include "layerpipe/Transforms/Unfolding.h"

#include <doctest/doctest.h>

using namespace layerpipe;

static TrainingDFG threeDelayLoop() {
  TrainingDFG dfg;
  dfg.tasks.push_back({"a", TaskKind::Forward, 0, 6});
  dfg.tasks.push_back({"b", TaskKind::Forward, 0, 4});
  dfg.edges.push_back({0, 1, 0, 0, EdgeKind::Activation});
  dfg.edges.push_back({1, 0, 3, 0, EdgeKind::Activation});
  return dfg;
}

TEST_CASE("unfolding by 3 reaches a bound below the longest task") {
  MachineDesc machine;
  machine.linkLatencyUs = 0;
  TrainingDFG dfg = threeDelayLoop();

  auto plain = scheduleModulo(dfg, 3, machine, 10.0 / 3);
  REQUIRE(static_cast<bool>(plain));
  CHECK(plain->schedule.period >= 6 - 1e-9); // one copy: the longest task
  CHECK_FALSE(static_cast<bool>(verifySchedule(plain->schedule)));

  auto unfolded = scheduleModulo(unfoldDFG(dfg, 3), 3, machine, 10);
  REQUIRE(static_cast<bool>(unfolded));
  CHECK_FALSE(static_cast<bool>(verifySchedule(unfolded->schedule)));
  // Three iterations per period: 10 us per period is 10/3 us per iteration.
  CHECK(unfolded->schedule.period / 3 == doctest::Approx(10.0 / 3));
  CHECK(unfolded->schedule.period / 3 < plain->schedule.period);
}
