//===- SmallSearch.h - Randomised search for small periodic graphs -*- C++ -*-//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// Private to lib/Schedule. After the periodic list scheduler has found a
// period, small graphs (at most SmallSearchMaxTasks tasks) get a bounded,
// seeded search for a shorter one: a bisection between the lower bound and
// that period where each candidate period gets randomised list-scheduling
// tries (noisy list orders, random processor choices among the near-best,
// the best placement so far with a few tasks moved, often next to a
// neighbour to save its transfer). Every try is the list scheduler's own
// attempt, with the same slots, links and deadlines; the result goes through
// the same verifier. docs/scheduling.md, "Small graphs: a randomised search".
//
//===----------------------------------------------------------------------===//

#ifndef LAYERPIPE_LIB_SCHEDULE_SMALLSEARCH_H
#define LAYERPIPE_LIB_SCHEDULE_SMALLSEARCH_H

#include "layerpipe/CostModel.h"
#include "layerpipe/DFG.h"

#include "llvm/ADT/STLFunctionalExtras.h"

#include <cstdint>
#include <random>
#include <vector>

namespace layerpipe {

/// Graphs of at most this many tasks get the search.
constexpr size_t SmallSearchMaxTasks = 60;

/// How a try randomises the list scheduler's attempt.
struct SearchNoise {
  std::mt19937_64 *rng = nullptr;
  /// Each task's list key is raised by a uniform amount in [0, keySpread *
  /// period) before the (zero-delay topological) list order is drawn.
  double keySpread = 0;
  /// Probability that a task goes to a random processor among those that
  /// start it within half a period of the best one.
  double pickOther = 0;
  /// Probability that a transfer's earliest link slot is searched from a
  /// uniform time in [0, period / 2) after its release.
  double linkLag = 0;
  /// Probability that a task's slot is searched from a uniform time in
  /// [0, period) after its earliest start.
  double taskLag = 0;
};

/// A uniform double in [0, 1) from \p rng (the same on every platform).
double unitRandom(std::mt19937_64 &rng);

/// A topological order of the zero-delay edges of \p dfg that takes, among
/// the ready tasks, the smallest key plus a uniform noise in [0, spread).
std::vector<unsigned> noisyOrder(const TrainingDFG &dfg,
                                 const std::vector<double> &key, double spread,
                                 std::mt19937_64 &rng);

/// One randomised try at period T: \p pinned (empty or one entry per task,
/// -1 = free) fixes processors. Fills the starts, processors and link starts
/// and returns true if every task found a slot.
using SmallTry = llvm::function_ref<bool(
    double T, std::mt19937_64 &rng, const std::vector<int> &pinned,
    std::vector<double> &start, std::vector<unsigned> &proc,
    std::vector<double> &linkStart)>;

/// Searches for a period below \p period (and at least \p lowerBound) with
/// randomised tries; on success replaces \p period, \p start, \p proc and
/// \p linkStart and returns true. Deterministic (a fixed seed) and bounded
/// (a fixed number of tries, times \p effort).
/// Each schedule found (the list scheduler's first) is compacted
/// (compactPeriod below) to the best period of its structure.
bool searchSmallPeriod(const TrainingDFG &dfg, unsigned procs,
                       LinkTopology topology,
                       const std::vector<double> &transfer,
                       const std::vector<double> &occupy,
                       double lowerBound, double &period,
                       std::vector<double> &start, std::vector<unsigned> &proc,
                       std::vector<double> &linkStart, SmallTry tryAt,
                       double effort = 1);

/// The shortest period of a periodic schedule's structure: with each
/// task's processor, the cyclic order of the tasks on every processor and
/// of the transfers on every link channel, and every iteration offset kept,
/// the constraints are differences s(b) - s(a) >= c - w * T, and the
/// smallest T that leaves no positive cycle (a maximum cycle ratio, found
/// by bisection with Bellman-Ford) is the structure's best period (what
/// the exact scheduler's "polish" LP computes). On success lowers
/// \p period (never below \p lowerBound) and moves \p start and
/// \p linkStart to the longest-path solution; false if nothing changed.
/// \p transfer and \p occupy are per edge (the transfer time and how long
/// it holds its link channels). With \p below > 0 the structure must also
/// hold at that period (a quick rejection), else nothing changes.
bool compactPeriod(const TrainingDFG &dfg, LinkTopology topology,
                   unsigned procs, const std::vector<double> &transfer,
                   const std::vector<double> &occupy, double lowerBound,
                   double &period, std::vector<double> &start,
                   const std::vector<unsigned> &proc,
                   std::vector<double> &linkStart, double below = 0);

} // namespace layerpipe

#endif // LAYERPIPE_LIB_SCHEDULE_SMALLSEARCH_H
