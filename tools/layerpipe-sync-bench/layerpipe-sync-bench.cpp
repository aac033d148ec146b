//===- layerpipe-sync-bench.cpp - Synchronous schedules against ZB --------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// The Zero Bubble grid of docs/benchmarks.md: p = 2..8 stages of equal
// F, B, W times (several ratios of 1-6 units), m = p..24 micro-batches, a
// transfer latency of 0 or 1 per stage boundary. Per case it builds ZB-H1
// and ZB-H2 (Zero Bubble's heuristic at p and 2p micro-batches of memory)
// and our synchronous schedule at the same two memory limits, verifies all
// four, and prints the makespans and ratios, then a summary.
//
//   layerpipe-sync-bench [--sample N] [--candidates C] [--quiet] [--check]
//
// --candidates C limits ours to some of its candidates (1 list-scheduling
// rules, 2 Zero Bubble's variants, 4 local search; a sum; default 7: all),
// --sample N keeps every N-th case (the ctest runs a sample); --quiet prints
// the summary only; --check exits 1 if ours loses a case or any schedule
// fails verification.
//
//===----------------------------------------------------------------------===//

#include "layerpipe/Schedule.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

using namespace layerpipe;

namespace {

struct Ratio {
  double f, b, w;
};

struct Tally {
  unsigned cases = 0, wins = 0, ties = 0, losses = 0;
  double worst = 0, best = 1e300, sum = 0;
  void add(double ours, double ref) {
    double r = ours / ref;
    ++cases;
    sum += r;
    worst = std::max(worst, r);
    best = std::min(best, r);
    if (ours < ref - 1e-9)
      ++wins;
    else if (ours > ref + 1e-9)
      ++losses;
    else
      ++ties;
  }
  void print(const char *what) const {
    std::printf("%s: %u cases, %u wins, %u ties, %u losses; ratio ours/ref "
                "worst %.4f, best %.4f, mean %.4f\n",
                what, cases, wins, ties, losses, worst, best,
                cases ? sum / cases : 0.0);
  }
};

StagePipeline pipeline(unsigned p, Ratio r, double latency) {
  // One byte per micro-batch: the verifier checks the limit in
  // micro-batches.
  return uniformStagePipeline(p, r.f, r.b, r.w, latency, 1, 1);
}

/// No step is shorter: stage s cannot start before s (F + c) and has
/// m (F + B + W) of work; after its last F, the last micro-batch still
/// goes down and back up the stages below it, then its B and W here.
double lowerBound(unsigned p, unsigned m, Ratio r, double c) {
  double bound = 0;
  for (unsigned s = 0; s < p; ++s) {
    double first = s * (r.f + c);
    bound = std::max(bound, first + m * (r.f + r.b + r.w));
    bound = std::max(bound, first + m * r.f +
                                (p - 1 - s) * (r.f + r.b + 2 * c) + r.b +
                                r.w);
  }
  return bound;
}

bool failed = false;

unsigned candidates = AllCandidates;

double run(const StagePipeline &P, ScheduleKind kind, unsigned m, unsigned k,
           const char *what) {
  llvm::Expected<Schedule> S =
      scheduleSynchronous(P, kind, m, k, 0, candidates);
  if (!S) {
    std::printf("error: %s p=%u m=%u: %s\n", what, P.numStages(), m,
                llvm::toString(S.takeError()).c_str());
    failed = true;
    return 0;
  }
  if (llvm::Error err = verifySchedule(*S)) {
    std::printf("error: %s p=%u m=%u fails verification: %s\n", what,
                P.numStages(), m, llvm::toString(std::move(err)).c_str());
    failed = true;
  }
  return S->period;
}

} // namespace

int main(int argc, char **argv) {
  unsigned sample = 1;
  bool quiet = false, check = false;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--sample") && i + 1 < argc) {
      sample = unsigned(std::max(1, std::atoi(argv[++i])));
    } else if (!std::strcmp(argv[i], "--candidates") && i + 1 < argc) {
      candidates = unsigned(std::atoi(argv[++i]));
    } else if (!std::strcmp(argv[i], "--quiet")) {
      quiet = true;
    } else if (!std::strcmp(argv[i], "--check")) {
      check = true;
    } else {
      std::fprintf(stderr,
                   "usage: layerpipe-sync-bench [--sample N] [--candidates "
                   "C] [--quiet] [--check]\n(unknown argument '%s')\n",
                   argv[i]);
      return 1;
    }
  }
  // F, B, W in units: equal, and the unequal ratios of transformer and
  // convolution layers (B about F to 2F, W from a sixth of B to above it).
  const Ratio ratios[] = {{1, 1, 1}, {2, 2, 2}, {1, 2, 1}, {1, 1, 2},
                          {1, 2, 2}, {2, 3, 1}, {3, 4, 2}, {2, 5, 3},
                          {1, 6, 4}, {4, 3, 2}, {6, 6, 1}, {2, 1, 1},
                          {5, 6, 6}, {3, 2, 6}};
  Tally h1, h2;
  unsigned atBound1 = 0, atBound2 = 0, zbAtBound1 = 0, zbAtBound2 = 0;
  unsigned index = 0;
  auto began = std::chrono::steady_clock::now();
  if (!quiet)
    std::printf("%2s %2s %3s %3s %3s %3s | %7s %7s %7s | %7s %7s %7s | "
                "%7s\n",
                "p", "m", "F", "B", "W", "lat", "zb-h1", "ours@p", "ratio",
                "zb-h2", "ours@2p", "ratio", "bound");
  for (unsigned p = 2; p <= 8; ++p)
    for (unsigned m = p; m <= 24; ++m)
      for (const Ratio &r : ratios)
        for (double latency : {0.0, 1.0}) {
          if (index++ % sample)
            continue;
          StagePipeline P = pipeline(p, r, latency);
          double zb1 = run(P, ScheduleKind::ZBH1, m, 0, "zb-h1");
          double zb2 = run(P, ScheduleKind::ZBH2, m, 0, "zb-h2");
          double ours1 = run(P, ScheduleKind::LayerPipe, m, p, "layerpipe@p");
          double ours2 =
              run(P, ScheduleKind::LayerPipe, m, 2 * p, "layerpipe@2p");
          if (zb1 <= 0 || zb2 <= 0 || ours1 <= 0 || ours2 <= 0)
            continue;
          h1.add(ours1, zb1);
          h2.add(ours2, zb2);
          double bound = lowerBound(p, m, r, latency);
          atBound1 += ours1 <= bound + 1e-9;
          atBound2 += ours2 <= bound + 1e-9;
          zbAtBound1 += zb1 <= bound + 1e-9;
          zbAtBound2 += zb2 <= bound + 1e-9;
          if (!quiet)
            std::printf("%2u %2u %3g %3g %3g %3g | %7g %7g %7.4f | %7g %7g "
                        "%7.4f | %7g\n",
                        p, m, r.f, r.b, r.w, latency, zb1, ours1, ours1 / zb1,
                        zb2, ours2, ours2 / zb2, bound);
        }
  double seconds = std::chrono::duration<double>(
                       std::chrono::steady_clock::now() - began)
                       .count();
  h1.print("1F1B memory (p micro-batches), ours vs zb-h1");
  h2.print("2x memory (2p micro-batches), ours vs zb-h2");
  std::printf("at the lower bound (optimal): zb-h1 %u, ours@p %u, zb-h2 %u, "
              "ours@2p %u of %u cases\n",
              zbAtBound1, atBound1, zbAtBound2, atBound2, h1.cases);
  std::printf("%.1f s\n", seconds);
  if (check && (failed || h1.losses || h2.losses)) {
    std::printf("FAILED: %s\n", failed ? "a schedule failed" : "ours loses");
    return 1;
  }
  return 0;
}
