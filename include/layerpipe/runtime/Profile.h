//===- Profile.h - Timing the runtime's tasks on this machine ---*- C++ -*-===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// What layerpipe-profile measures: every layer's F, B, G and U with the
// runtime's own kernels on one thread (the kernels the stage programs run),
// and the cost of one message of the threads transport. Each figure is the
// median of repeated runs after a warm-up, on a synthetic batch of the
// given size.
//
//===----------------------------------------------------------------------===//

#ifndef LAYERPIPE_RUNTIME_PROFILE_H
#define LAYERPIPE_RUNTIME_PROFILE_H

#include "layerpipe/runtime/Network.h"

#include <cstdint>
#include <vector>

namespace layerpipe {
namespace runtime {

/// Median task times of one layer, microseconds per mini-batch; -1 where
/// the layer has no such task.
struct LayerTimes {
  double forward = -1, activationGradient = -1, weightGradient = -1,
         update = -1;
  /// B and G of the layer run back to back, as a merged BG task runs them
  /// (profileThroughExecutor only; -1: not timed).
  double mergedBackward = -1;
  /// A layer reading the training data: the time to gather its batch again
  /// for its G, when the processor has loaded another batch since (every
  /// plan that keeps several steps in flight; profileThroughExecutor only,
  /// -1: not timed).
  double inputLoad = -1;
};

/// Times every task of \p net (finalized) on a batch of \p batch samples:
/// \p warmup untimed runs, then the median of \p repeats.
std::vector<LayerTimes> profileNetwork(const NetSpec &net, int64_t batch,
                                       int warmup, int repeats,
                                       uint64_t seed);

/// Times every task of \p net (finalized) as a stage program runs it: a
/// program of one processor thread (the whole network, no delays) trains
/// steps of \p batch samples through the stage programs' executor (SGD
/// with momentum, as the profiler's U), and each task's figure is its mean
/// measured work over the steps after the first \p warmup: at least
/// \p repeats of them, and as many as fill about a second (at most 5,000).
/// Unlike profileNetwork this includes what the executor does around the
/// kernels (new output tensors, the values' bookkeeping, the loss task's
/// labels and its result message). The steps draw their batches from a
/// synthetic training set of at least 64 MiB, so that a batch is gathered
/// from memory as from a real training set, not from the caches; before
/// the G of a layer reading the data the batch is gathered again, timed on
/// its own (inputLoad). The loss layer's L task is its forward
/// (activationGradient 0). The processor thread runs on \p cpu (-1:
/// unbound) and the host thread off it where another CPU is allowed; the
/// last step of each of the run's epochs, which the host's evaluation and
/// the weight snapshots may delay, is not counted. False, with \p error,
/// if the run fails (the program's message is on stderr; its standard
/// output is silenced).
bool profileThroughExecutor(const NetSpec &net, int64_t batch, int warmup,
                            int repeats, uint64_t seed,
                            std::vector<LayerTimes> &times,
                            std::string &error, int cpu = -1);

/// The extra time to read \p bytes that another thread has just written,
/// against reading them warm from this thread's own caches (median),
/// microseconds: what moving a tensor between processors costs the reader
/// even though the threads transport passes a pointer.
double measureCrossCoreReadUs(int repeats, int64_t bytes);

/// The one-way time of one message of \p bytes between two threads of the
/// threads transport (median of ping-pongs / 2), microseconds.
double measureThreadMessageUs(int repeats, int64_t bytes);

} // namespace runtime
} // namespace layerpipe

#endif // LAYERPIPE_RUNTIME_PROFILE_H
