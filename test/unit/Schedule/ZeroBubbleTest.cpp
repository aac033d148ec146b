//===- ZeroBubbleTest.cpp - ZB-H2, ZB-V, interleaved 1F1B, torch CSV ------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// The baselines of torch.distributed.pipelining and Zero Bubble beside our
// synchronous scheduler (ours never longer than ZB-H1 at 1F1B memory and
// ZB-H2 at twice it), and the torch action CSV with its checker.
//
//===----------------------------------------------------------------------===//

#include "layerpipe/Schedule.h"

#include <doctest/doctest.h>

#include <algorithm>

using namespace layerpipe;

static StagePipeline pipelineOf(unsigned stages, double f, double b, double w,
                                double send = 0,
                                std::vector<unsigned> procOfStage = {}) {
  StagePipeline P = uniformStagePipeline(stages, f, b, w, send, 10, 100);
  P.procOfStage = std::move(procOfStage);
  return P;
}

static Schedule build(const StagePipeline &P, ScheduleKind kind, unsigned m,
                      unsigned k = 0) {
  auto S = scheduleSynchronous(P, kind, m, k, 0);
  if (!S)
    FAIL(llvm::toString(S.takeError()));
  if (llvm::Error err = verifySchedule(*S))
    FAIL(llvm::toString(std::move(err)));
  return std::move(*S);
}

static int64_t peakOf(const Schedule &S) {
  std::vector<int64_t> peak = computePeakMemory(S);
  return *std::max_element(peak.begin(), peak.end());
}

TEST_CASE("schedule names parse in any case") {
  CHECK(parseScheduleKind("ZB-H1") == ScheduleKind::ZBH1);
  CHECK(parseScheduleKind("Zb-h2") == ScheduleKind::ZBH2);
  CHECK(parseScheduleKind("ZB-V") == ScheduleKind::ZBV);
  CHECK(parseScheduleKind("1F1B") == ScheduleKind::OneFOneB);
  CHECK(parseScheduleKind("Interleaved-1F1B") ==
        ScheduleKind::Interleaved1F1B);
  CHECK(parseScheduleKind("DualPipe-V") == ScheduleKind::DualPipeV);
  CHECK(!parseScheduleKind("zb-h3"));
}

TEST_CASE("Zero Bubble's heuristic: H1 at 1F1B memory, H2 at twice it") {
  StagePipeline P = pipelineOf(4, 1, 1, 1);
  Schedule h1 = build(P, ScheduleKind::ZBH1, 8);
  Schedule h2 = build(P, ScheduleKind::ZBH2, 8);
  CHECK(h1.period == 27);
  CHECK(h2.period <= h1.period);
  CHECK(peakOf(h1) <= 4 * 100);
  CHECK(peakOf(h2) <= 8 * 100);
  // A memory limit is Zero Bubble's own, never the user's.
  CHECK(!scheduleSynchronous(P, ScheduleKind::ZBH2, 8, 3, 0));
}

TEST_CASE("ours is never longer than ZB-H1 and ZB-H2 at their memory") {
  struct Case {
    unsigned p, m;
    double f, b, w, send;
  } cases[] = {{4, 8, 1, 2, 1, 0}, {4, 12, 2, 3, 1, 1}, {6, 9, 1, 6, 4, 0},
               {3, 7, 3, 2, 6, 1}, {8, 16, 6, 6, 1, 1}, {5, 5, 2, 1, 1, 0}};
  for (const Case &c : cases) {
    CAPTURE(c.p);
    CAPTURE(c.m);
    StagePipeline P = pipelineOf(c.p, c.f, c.b, c.w, c.send);
    Schedule ours1 = build(P, ScheduleKind::LayerPipe, c.m, c.p);
    Schedule ours2 = build(P, ScheduleKind::LayerPipe, c.m, 2 * c.p);
    CHECK(ours1.period <= build(P, ScheduleKind::ZBH1, c.m).period + 1e-9);
    CHECK(ours2.period <= build(P, ScheduleKind::ZBH2, c.m).period + 1e-9);
    CHECK(peakOf(ours1) <= int64_t(c.p) * 100);
    CHECK(peakOf(ours2) <= int64_t(2 * c.p) * 100);
  }
}

TEST_CASE("interleaved 1F1B and ZB-V: virtual stages per processor") {
  // 8 stages of a quarter processor's work... two per processor.
  const unsigned p = 4, m = 8;
  std::vector<unsigned> loop, vee;
  for (unsigned s = 0; s < 2 * p; ++s) {
    loop.push_back(s % p);
    vee.push_back(s < p ? s : 2 * p - 1 - s);
  }
  // The same model on p stages: 1F1B's makespan (m + p - 1) 3 = 33.
  Schedule onef = build(pipelineOf(p, 1, 1, 1), ScheduleKind::OneFOneB, m);
  CHECK(onef.period == 33);
  Schedule inter = build(pipelineOf(2 * p, 0.5, 0.5, 0.5, 0, loop),
                         ScheduleKind::Interleaved1F1B, m);
  CHECK(inter.procs == p);
  CHECK(inter.period < onef.period);
  // Its bubble shrinks by the number of chunks: (p - 1) (F + B) / 2 past
  // the ideal m (F + B + W).
  CHECK(inter.period >= 24);
  Schedule zbv = build(pipelineOf(2 * p, 0.5, 0.5, 0.5, 0, vee),
                       ScheduleKind::ZBV, m);
  CHECK(zbv.period <= inter.period);
  // ZB-V keeps 1F1B's memory: p micro-batches of a processor's two chunks.
  CHECK(peakOf(zbv) <= int64_t(p) * 2 * 100);
  // DualPipe-V on the same V: torch's phase order, every task once.
  Schedule dual = build(pipelineOf(2 * p, 0.5, 0.5, 0.5, 0, vee),
                        ScheduleKind::DualPipeV, m);
  CHECK(dual.period < onef.period);
  CHECK(!scheduleSynchronous(pipelineOf(2 * p, 0.5, 0.5, 0.5, 0, vee),
                             ScheduleKind::DualPipeV, 2 * p - 1, 0, 0));
  auto csv = formatTorchSchedule(dual);
  REQUIRE(csv);
  CHECK(!checkTorchScheduleCSV(*csv, p, 2 * p, m));
  // One stage per processor for the others.
  CHECK(!scheduleSynchronous(pipelineOf(2 * p, 1, 1, 1, 0, loop),
                             ScheduleKind::OneFOneB, m, 0, 0));
}

TEST_CASE("torch action CSV: 1F1B on two ranks") {
  Schedule S = build(pipelineOf(2, 1, 1, 1), ScheduleKind::OneFOneB, 2);
  auto csv = formatTorchSchedule(S);
  REQUIRE(csv);
  CHECK(*csv == "0F0,0F1,0B0,0B1\n1F0,1B0,1F1,1B1\n");
  // Split backward: I and W.
  Schedule zb = build(pipelineOf(2, 1, 1, 1), ScheduleKind::ZBH1, 3);
  auto split = formatTorchSchedule(zb);
  REQUIRE(split);
  CHECK(split->find("1I0") != std::string::npos);
  CHECK(split->find("0W2") != std::string::npos);
  CHECK(!checkTorchScheduleCSV(*split, 2, 2, 3));
}

TEST_CASE("torch action CSV: the checker's rules") {
  auto error = [](const char *csv, unsigned ranks = 2, unsigned stages = 2,
                  unsigned m = 1) {
    llvm::Error err = checkTorchScheduleCSV(csv, ranks, stages, m);
    return err ? llvm::toString(std::move(err)) : std::string();
  };
  CHECK(error("0F0,0B0\n1F0,1B0\n").empty());
  CHECK(error("0F0,0I0,0W0\n1F0,1I0,1W0\n").empty());
  CHECK(error("0F0,0B0\n").find("1 rows for 2 ranks") != std::string::npos);
  CHECK(error("0B0,0F0\n1F0,1B0\n").find("before the micro-batch's forward") !=
        std::string::npos);
  CHECK(error("0F0,0W0,0I0\n1F0,1B0\n").find("weight gradient before") !=
        std::string::npos);
  CHECK(error("0F0,0B0\n1F0,1B0,0F0\n").find("is on rank") != std::string::npos);
  CHECK(error("0F0,0B0\n1F0\n").find("runs F 1, B 0") != std::string::npos);
  CHECK(error("0F0,0F0,0B0\n1F0,1B0\n").find("twice") != std::string::npos);
  CHECK(error("0X0\n1F0,1B0\n").find("is not an action") != std::string::npos);
  // Rank 1 waits for F1 before its B0, rank 0 for B0 before sending F1.
  CHECK(error("0F0,0B0,0F1,0B1\n1F0,1F1,1B0,1B1\n", 2, 2, 2)
            .find("deadlock") != std::string::npos);
}

TEST_CASE("torch action CSV: no asynchronous schedule") {
  Schedule S;
  S.periodic = true;
  S.name = "layerpipe";
  auto csv = formatTorchSchedule(S);
  REQUIRE(!csv);
  CHECK(llvm::toString(csv.takeError()).find("asynchronous (periodic)") !=
        std::string::npos);
}

TEST_CASE("Zero Bubble's heuristic with a stage of zero time and memory") {
  // A flatten alone on a stage (AlexNet on 16 processors): its warm-up
  // must not take every F ahead of the B its predecessor waits for.
  StagePipeline P = pipelineOf(5, 2, 2, 1);
  P.forward[2] = P.backward[2] = P.weightGradient[2] = 0;
  P.activationBytes[2] = 0;
  for (unsigned m : {5u, 8u, 16u}) {
    CAPTURE(m);
    auto S = scheduleSynchronous(P, ScheduleKind::LayerPipe, m, 5, 0,
                                 ZeroBubbleVariants);
    if (!S)
      FAIL(llvm::toString(S.takeError()));
    if (llvm::Error err = verifySchedule(*S))
      FAIL(llvm::toString(std::move(err)));
  }
}
