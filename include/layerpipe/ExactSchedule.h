//===- ExactSchedule.h - Optimal periodic schedules with CBC ----*- C++ -*-===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// The exact reference of the periodic (modulo) scheduling problem that the
// list scheduler (scheduleModulo) solves heuristically: same tasks, same
// dependences and iteration distances, same transfer times and the same link
// channels (switch, point-to-point, bus; one transfer at a time per
// channel). For a fixed period T the problem is a mixed-integer feasibility
// problem; the smallest feasible T is found by bisection between the lower
// bound and the list scheduler's period, each step solved by the CBC solver
// (the `cbc` program, run as a process with a time limit). The result is an
// ordinary Schedule that goes through the same verifier. docs/scheduling.md,
// "Exact scheduling", gives the formulation.
//
// Requires: the `cbc` program (Debian coinor-cbc) on PATH, or at
// $LAYERPIPE_CBC. Fails on graphs above MaxExactTasks tasks, on a missing
// solver, on a time limit <= 0.
//
//===----------------------------------------------------------------------===//

#ifndef LAYERPIPE_EXACTSCHEDULE_H
#define LAYERPIPE_EXACTSCHEDULE_H

#include "layerpipe/Schedule.h"

#include "llvm/Support/Error.h"

#include <cstdint>
#include <string>
#include <vector>

namespace layerpipe {

/// Graphs above this many tasks are refused: the model grows with the
/// square of the tasks (and of the transfers times the processors).
constexpr unsigned MaxExactTasks = 60;
/// Processors above this are refused (the link pairs grow with their square).
constexpr unsigned MaxExactProcs = 16;

/// Pairs of possible transfers (tensors x processors, squared / 2) above
/// which the model is refused: each pair is a disjunction of four rows.
constexpr uint64_t MaxExactLinkPairs = 100000;

struct ExactOptions {
  /// Wall-clock seconds for the whole search (every CBC call together).
  double timeLimitSec = 10;
  /// The bisection stops when the period is within this relative distance
  /// of the proven bound.
  double tolerance = 1e-3;
};

struct ExactResult {
  Schedule schedule;
  /// The proven lower bound: the caller's bound, or the largest period CBC
  /// proved infeasible, whichever is larger. The optimum lies in
  /// [provenBound, schedule.period].
  double provenBound = 0;
  /// The warm start's period (the list scheduler's).
  double warmPeriod = 0;
  /// schedule.period <= provenBound * (1 + tolerance).
  bool optimal = false;
  /// CBC found a schedule shorter than the warm start (else the warm start
  /// is returned).
  bool improved = false;
  /// Ran out of time before the bisection closed.
  bool timedOut = false;
  unsigned solverCalls = 0;
  double seconds = 0;
  /// Non-empty if a solution of CBC failed the verifier (a bug of the
  /// model; the search then treats that period as undecided).
  std::string rejected;
};

/// Searches the shortest period of \p dfg on \p procs processors with the
/// transfers and link topology of \p machine, starting from the feasible
/// schedule \p warm (its period is the upper bound; it is returned if
/// nothing shorter is found). \p lowerBound must be a valid lower bound
/// (e.g. max(iteration bound, work / procs, largest task)). \p pinned, if
/// not empty, fixes each task's processor (-1: free).
llvm::Expected<ExactResult>
scheduleExact(const TrainingDFG &dfg, unsigned procs,
              const MachineDesc &machine, double lowerBound,
              const Schedule &warm, const std::vector<int> &pinned,
              const ExactOptions &options);

/// The path of the cbc program, or an error saying how to install it.
llvm::Expected<std::string> findCbc();

} // namespace layerpipe

#endif // LAYERPIPE_EXACTSCHEDULE_H
