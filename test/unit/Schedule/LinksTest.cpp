//===- LinksTest.cpp - Links as a scheduled resource ----------------------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// Issue 10: every transfer holds its link channels (switch: out of the
// sender and into the receiver; point-to-point: the pair; bus: one for
// all) for bytes / bandwidth, one transfer at a time. The verifier rejects
// an overloaded or double-booked link, the list scheduler's schedules keep
// the links within a period, and the simulator runs the transfers on them.
//
//===----------------------------------------------------------------------===//

#include "layerpipe/Schedule.h"

#include <doctest/doctest.h>

#include <random>

using namespace layerpipe;

/// Two producers on P0 each sending 1 MB to a consumer on P1 (10 GB/s:
/// 100 us of link each, no latency), period \p T.
static Schedule twoTransfers(double T, double first, double second) {
  Schedule S;
  S.procs = 2;
  S.period = T;
  for (unsigned i = 0; i < 2; ++i) {
    ScheduledTask a;
    a.name = "F.a" + std::to_string(i);
    a.proc = 0;
    a.start = 10 * i;
    a.duration = 10;
    S.tasks.push_back(a);
  }
  ScheduledTask b;
  b.name = "F.b";
  b.proc = 1;
  b.start = 400;
  b.duration = 10;
  S.tasks.push_back(b);
  S.deps.push_back({0, 2, 0, 1000000, 100, first, 100});
  S.deps.push_back({1, 2, 0, 1000000, 100, second, 100});
  return S;
}

/// The verifier's message, "" when it accepts.
static std::string failure(llvm::Error err) {
  return err ? llvm::toString(std::move(err)) : std::string();
}

TEST_CASE("the verifier checks link slots and link load") {
  // Back to back on the link: valid.
  CHECK(failure(verifySchedule(twoTransfers(500, 10, 110))) == "");
  // Overlapping on P0's out channel (and P1's in): rejected.
  CHECK(failure(verifySchedule(twoTransfers(500, 10, 50)))
            .find("carries two transfers") != std::string::npos);
  // 200 us of transfers per period of 150: rejected as overloaded.
  CHECK(failure(verifySchedule(twoTransfers(150, 10, 110)))
            .find("busy 200.0 us per period") != std::string::npos);
  // A transfer that starts before its producer ends: rejected.
  CHECK(failure(verifySchedule(twoTransfers(500, 5, 110))) != "");
  // On a bus (and point-to-point: the same pair) they share one channel.
  for (LinkTopology topology : {LinkTopology::Bus, LinkTopology::PointToPoint}) {
    Schedule S = twoTransfers(500, 10, 50);
    S.topology = topology;
    CHECK(failure(verifySchedule(S)).find("carries two transfers") !=
          std::string::npos);
  }
}

TEST_CASE("list schedules keep the links within the period") {
  std::mt19937 rng(10);
  for (unsigned trial = 0; trial < 30; ++trial) {
    TrainingDFG dfg;
    unsigned n = 6 + rng() % 20;
    for (unsigned v = 0; v < n; ++v) {
      Task task;
      task.name = "t" + std::to_string(v);
      task.kind = TaskKind::Forward;
      task.timeUs = 1 + rng() % 9;
      task.layer = v;
      dfg.tasks.push_back(task);
    }
    for (unsigned v = 1; v < n; ++v) {
      unsigned k = 1 + rng() % 2;
      for (unsigned j = 0; j < k; ++j) {
        Edge edge;
        edge.src = rng() % v;
        edge.dst = v;
        edge.delay = 0;
        edge.bytes = int64_t(1 + rng() % 8) * 10000;
        dfg.edges.push_back(edge);
      }
      if (rng() % 4 == 0) {
        Edge back;
        back.src = v;
        back.dst = rng() % v;
        back.delay = 1 + rng() % 3;
        back.bytes = 20000;
        dfg.edges.push_back(back);
      }
    }
    for (LinkTopology topology :
         {LinkTopology::Switch, LinkTopology::PointToPoint,
          LinkTopology::Bus}) {
      MachineDesc machine;
      machine.linkBandwidth = 1e10; // 10 kB: 1 us on the link
      machine.linkLatencyUs = 1;
      machine.linkTopology = topology;
      unsigned procs = 2 + rng() % 4;
      // The small-graph search on every fourth trial: under the
      // sanitizers it costs seconds per graph (unit-exact covers it).
      auto result = scheduleModulo(dfg, procs, machine, 0, {}, 0,
                                   trial % 4 == 0 ? 1.0 : 0.0);
      REQUIRE(result);
      const Schedule &S = result->schedule;
      INFO("trial " << trial << " topology " <<
           linkTopologyName(topology).str());
      CHECK(failure(verifySchedule(S)) == "");
      for (double busy : computeLinkBusy(S))
        CHECK(busy <= S.period * (1 + 1e-9));
      for (const ScheduleDep &dep : S.deps)
        if (S.tasks[dep.src].proc != S.tasks[dep.dst].proc &&
            dep.occupancy() > 1e-9)
          CHECK(dep.linkStart >= 0);
      SimulationResult sim = simulateSchedule(S, 8);
      CHECK(sim.stuck == 0);
      CHECK(sim.period <= S.period * (1 + 1e-6) + 1e-6);
    }
  }
}
