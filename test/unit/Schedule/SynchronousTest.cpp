//===- SynchronousTest.cpp - Synchronous schedules and the verifier -------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// The Zero Bubble cases (p stages with F = B = W = 1), the closed-form
// makespans of GPipe and 1F1B, memory limits, and the verifier's messages on
// broken schedules.
//
//===----------------------------------------------------------------------===//

#include "layerpipe/Schedule.h"

#include <doctest/doctest.h>

using namespace layerpipe;

static StagePipeline uniformPipeline(unsigned p, double f, double b, double w,
                                     double send = 0) {
  return uniformStagePipeline(p, f, b, w, send, 100, 1000);
}

static double makespan(const StagePipeline &P, ScheduleKind kind, unsigned m,
                       unsigned k = 0) {
  auto S = scheduleSynchronous(P, kind, m, k, 0);
  REQUIRE(S);
  llvm::Error err = verifySchedule(*S);
  if (err)
    FAIL(llvm::toString(std::move(err)));
  return S->period;
}

TEST_CASE("GPipe and 1F1B reach their closed forms") {
  for (unsigned p : {1u, 2u, 4u, 8u}) {
    for (unsigned m : {1u, 4u, 8u, 16u}) {
      StagePipeline P = uniformPipeline(p, 1, 1, 1);
      // (m + p - 1) (F + B + W): bubble (p - 1) / (m + p - 1).
      CHECK(makespan(P, ScheduleKind::GPipe, m) == doctest::Approx((m + p - 1) * 3.0));
      CHECK(makespan(P, ScheduleKind::OneFOneB, m) == doctest::Approx((m + p - 1) * 3.0));
    }
  }
}

TEST_CASE("Zero Bubble targets: ZB-H1 makespans at 1F1B memory") {
  CHECK(makespan(uniformPipeline(4, 1, 1, 1), ScheduleKind::ZBH1, 8) == 27);
  CHECK(makespan(uniformPipeline(8, 1, 1, 1), ScheduleKind::ZBH1, 16) == 55);
  CHECK(makespan(uniformPipeline(4, 1, 1, 1), ScheduleKind::LayerPipe, 8, 4) <= 27);
  CHECK(makespan(uniformPipeline(8, 1, 1, 1), ScheduleKind::LayerPipe, 16, 8) <= 55);
}

TEST_CASE("1F1B keeps at most p micro-batches in flight, GPipe m") {
  StagePipeline P = uniformPipeline(4, 1, 1, 1);
  auto one = scheduleSynchronous(P, ScheduleKind::OneFOneB, 8, 0, 0);
  auto gp = scheduleSynchronous(P, ScheduleKind::GPipe, 8, 0, 0);
  REQUIRE(one);
  REQUIRE(gp);
  CHECK(computePeakMemory(*one)[0] == 4 * 1000);
  CHECK(computePeakMemory(*gp)[0] == 8 * 1000);
  auto zb = scheduleSynchronous(P, ScheduleKind::ZBH1, 8, 0, 0);
  REQUIRE(zb);
  for (int64_t peak : computePeakMemory(*zb))
    CHECK(peak <= 4 * 1000);
}

TEST_CASE("memory limits are kept and too small ones are errors") {
  StagePipeline P = uniformPipeline(4, 1, 1, 1);
  for (unsigned k : {1u, 2u, 3u, 5u}) {
    auto S = scheduleSynchronous(P, ScheduleKind::LayerPipe, 8, k, 0);
    REQUIRE(S);
    CHECK(!verifySchedule(*S));
    for (int64_t peak : computePeakMemory(*S))
      CHECK(peak <= k * 1000);
  }
  auto S = scheduleSynchronous(P, ScheduleKind::LayerPipe, 8, 0, 999);
  REQUIRE(!S);
  std::string msg = llvm::toString(S.takeError());
  CHECK(msg.find("999 bytes") != std::string::npos);
  CHECK(msg.find("1000 bytes") != std::string::npos);
}

TEST_CASE("the verifier names broken dependences, overlaps and memory") {
  StagePipeline P = uniformPipeline(2, 1, 1, 1, 0.5);
  auto S = scheduleSynchronous(P, ScheduleKind::OneFOneB, 2, 0, 0);
  REQUIRE(S);
  CHECK(!verifySchedule(*S));

  Schedule broken = *S;
  // Move the last stage's first F before its input arrives.
  for (ScheduledTask &t : broken.tasks)
    if (t.kind == TaskKind::Forward && t.stage == 1 && t.microBatch == 0)
      t.start = 1.0;
  std::string msg = llvm::toString(verifySchedule(broken));
  CHECK(msg.find("precedence violated: 'F.s0' (micro-batch 0) ends at t=1.0 "
                 "on P0, 'F.s1' (micro-batch 0) starts at t=1.0 on P1 "
                 "(transfer 0.5)") != std::string::npos);

  broken = *S;
  broken.tasks[1].start = broken.tasks[0].start + 0.5;
  broken.deps.clear();
  msg = llvm::toString(verifySchedule(broken));
  CHECK(msg.find("processor P0 overlap") != std::string::npos);

  broken = *S;
  broken.memoryLimit.assign(2, 1500);
  msg = llvm::toString(verifySchedule(broken));
  CHECK(msg.find("memory limit exceeded on P0: peak 2000 bytes, limit 1500") !=
        std::string::npos);
}

TEST_CASE("periodic verifier: dependences across iterations, wrap-around") {
  Schedule S;
  S.procs = 2;
  S.period = 4;
  auto task = [](const char *name, unsigned proc, double start, double dur) {
    ScheduledTask t;
    t.name = name;
    t.proc = proc;
    t.start = start;
    t.duration = dur;
    return t;
  };
  S.tasks = {task("F.a", 0, 0, 3), task("B.a", 1, 3, 2), task("U.a", 1, 5, 1)};
  S.deps = {{0, 1, 0, 8, 0}, {1, 2, 0, 0, 0}, {2, 0, 1, 0, 0}};
  // U.a of iteration 0 ends at 6 but F.a of iteration 1 starts at 4.
  std::string msg = llvm::toString(verifySchedule(S));
  CHECK(msg.find("precedence violated: 'U.a' ends at t=6.0 on P1, 'F.a' of "
                 "iteration +1") != std::string::npos);
  S.deps[2].distance = 2;
  CHECK(!verifySchedule(S));
  // On P0, U.a at [5, 6) is [1, 2) modulo 4: it overlaps F.a at [0, 3).
  S.tasks[2].proc = 0;
  msg = llvm::toString(verifySchedule(S));
  CHECK(msg.find("processor P0 overlap") != std::string::npos);
  // Wrapping task: B.a at [3, 5) is [3, 4) and [0, 1) on P1.
  S.tasks[2].proc = 1;
  S.tasks[2].start = 5.5;
  CHECK(!verifySchedule(S));
  S.tasks[2].start = 4.5;
  CHECK(verifySchedule(S).operator bool());
}

TEST_CASE("steps back to back: 2x memory reaches the ideal step time") {
  struct Case {
    unsigned p, m, k;
    double makespan, step;
  } cases[] = {{4, 8, 4, 27, 27}, {4, 8, 8, 27, 24},
               {8, 16, 8, 55, 55}, {8, 16, 16, 55, 48}};
  for (const Case &c : cases) {
    CAPTURE(c.p);
    CAPTURE(c.k);
    auto S = scheduleSynchronous(uniformPipeline(c.p, 1, 1, 1),
                                 ScheduleKind::LayerPipe, c.m, c.k, 0);
    REQUIRE(S);
    CHECK(!verifySchedule(*S));
    CHECK(S->period == c.makespan);
    SimulationResult sim = simulateSchedule(*S, 12);
    CHECK(sim.period == doctest::Approx(c.step));
    // Repeating the step keeps the memory limit.
    for (int64_t peak : sim.peakMemory)
      CHECK(peak <= int64_t(c.k) * 1000);
  }
}

TEST_CASE("the simulator reproduces a synchronous step") {
  StagePipeline P = uniformPipeline(4, 1.5, 1, 0.5, 0.25);
  for (ScheduleKind kind : {ScheduleKind::GPipe, ScheduleKind::OneFOneB,
                            ScheduleKind::ZBH1, ScheduleKind::LayerPipe}) {
    auto S = scheduleSynchronous(P, kind, 8, 0, 0);
    REQUIRE(S);
    CHECK(!verifySchedule(*S));
    SimulationResult sim = simulateSchedule(*S, 2);
    // The first step runs exactly as scheduled; a step never takes longer
    // than one isolated step.
    CHECK(sim.period <= S->period + 1e-9);
    CHECK(sim.commBytes[0] == 8 * 100);
    CHECK(computeCommBytes(*S) == 8 * 100 * 3 * 2);
  }
}
