//===- FuzzCompile.h - The compile pipeline for fuzz targets ----*- C++ -*-===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// Shared by the fuzz targets: the whole compile pipeline of the layerpipe
// tool (model, training DFG, iteration bound, planning, scheduling with
// verification) on a model text, with options drawn from a seed within the
// ranges the flags accept. A library error is a fine outcome; a crash, a
// sanitizer report, an exception or a wrong figure is a bug, and checkRun
// turns the last two into an abort the fuzzer keeps.
//
//===----------------------------------------------------------------------===//

#ifndef LAYERPIPE_FUZZ_FUZZCOMPILE_H
#define LAYERPIPE_FUZZ_FUZZCOMPILE_H

#include "layerpipe/Compilation.h"
#include "layerpipe/Schedule.h"
#include "layerpipe/Summary.h"
#include "layerpipe/Transforms.h"

#include "llvm/Support/raw_ostream.h"

#include <cstdio>
#include <cstdlib>

namespace layerpipe {
namespace fuzz {

/// Options from \p seed: every schedule kind, 1-16 processors, grouping,
/// delays and retiming modes, micro-batches and unfolding.
inline void chooseOptions(CompileOptions &O, uint32_t seed) {
  auto take = [&](unsigned n) {
    unsigned v = seed % n;
    seed /= n;
    return v;
  };
  ScheduleOptions &S = O.schedule;
  static const ScheduleKind kinds[] = {
      ScheduleKind::LayerPipe, ScheduleKind::PipeDream, ScheduleKind::GPipe,
      ScheduleKind::OneFOneB, ScheduleKind::ZBH1};
  S.kind = kinds[take(5)];
  S.procs = 1 + take(16);
  unsigned mb = take(4);
  S.microBatches = mb == 3 ? 1 + take(12) : 0;
  if (S.kind == ScheduleKind::PipeDream)
    S.microBatches = 0;
  if (S.kind == ScheduleKind::LayerPipe && S.microBatches == 0 && take(3) == 0)
    S.unfold = 1 + take(4);
  if (take(4) == 0 && S.microBatches > 0)
    S.memoryLimitMicroBatches = 1 + take(4);
  S.simulateIterations = 2 + take(8);
  O.dfg.mergeBackward = take(4) == 0;
  PlanOptions &P = O.plan;
  P.targetProcs = S.procs;
  P.stagesCount = std::min(S.procs, 1u + take(8));
  static const DelayRule delays[] = {DelayRule::None, DelayRule::LayerPipe2,
                                     DelayRule::Auto, DelayRule::Uniform};
  P.delays = delays[take(4)];
  if (P.delays == DelayRule::Uniform)
    P.uniformDelay = take(4);
  if (S.microBatches > 0)
    P.delays = DelayRule::None;
  static const RetimingMethod methods[] = {RetimingMethod::Auto,
                                           RetimingMethod::MinMemory};
  P.retiming = methods[take(2)];
}

/// FNV-1a of \p data: options that follow the input deterministically.
inline uint32_t hashBytes(const uint8_t *data, size_t size) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < size; ++i)
    h = (h ^ data[i]) * 16777619u;
  return h;
}

/// Aborts (so the fuzzer keeps the input) when \p message is set.
inline void bug(const std::string &message) {
  std::fprintf(stderr, "fuzz: BUG: %s\n", message.c_str());
  std::abort();
}

/// Runs the pipeline; false on an ordinary (user-input) error. A schedule
/// that fails verification is a scheduler bug, never the user's error.
inline bool compile(Compilation &C) {
  auto ok = [&](llvm::Error err) {
    if (!err)
      return true;
    std::string text = llvm::toString(std::move(err));
    if (text.find("fails verification") != std::string::npos ||
        text.find("internal error") != std::string::npos)
      bug(text);
    return false;
  };
  llvm::Expected<TrainingDFG> dfg =
      buildTrainingDFG(C.model, C.machine, C.options.dfg);
  if (!ok(dfg.takeError()))
    return false;
  C.dfg = std::move(*dfg);
  llvm::Expected<IterationBound> bound = computeIterationBound(C.dfg);
  if (!ok(bound.takeError()))
    return false;
  C.initialBound = std::move(*bound);
  return ok(runPlanning(C)) && ok(runScheduling(C));
}

} // namespace fuzz
} // namespace layerpipe

#endif // LAYERPIPE_FUZZ_FUZZCOMPILE_H
