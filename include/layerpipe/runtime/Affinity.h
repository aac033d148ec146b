//===- Affinity.h - Binding threads to CPUs ---------------------*- C++ -*-===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// A schedule gives each processor a CPU of its own; the stage programs bind
// their processor threads to CPUs (--pin-threads), and the profiler binds the
// two ends of its cross-core measurements so that they do run on two cores.
// On systems without thread affinity these do nothing.
//
// The CPUs of a virtual machine need not run at one speed: a host that
// shares a core with another guest slows one of ours, for seconds at a
// time (measured on the 2-core VM of docs/results-stage-programs.md: one CPU
// 1.3-1.5x slower than the other, then both alike, a few seconds apart).
// timeCpus measures that, and cpusBySpeed gives the busiest processor the
// fastest CPU.
//
//===----------------------------------------------------------------------===//

#ifndef LAYERPIPE_RUNTIME_AFFINITY_H
#define LAYERPIPE_RUNTIME_AFFINITY_H

#include <vector>

namespace layerpipe {
namespace runtime {

/// The CPUs the calling thread may run on, in increasing order; empty where
/// the system does not say.
std::vector<int> allowedCpus();

/// Restricts the calling thread to \p cpus; false when the system refuses
/// (the thread then stays where it was allowed to run).
bool pinCurrentThread(const std::vector<int> &cpus);

/// Seconds per run of a fixed piece of training work (a small convolution's
/// forward and backward passes through the runtime's kernels) on each of
/// \p cpus, all timed at once by one bound thread per CPU, the median of
/// \p reps runs each. Empty when a thread cannot be bound.
std::vector<double> timeCpus(const std::vector<int> &cpus, int reps = 40);

/// CPUs for processor threads with \p load (predicted work per step, any
/// unit): the load.size() fastest of \p cpus by \p seconds (timeCpus), the
/// heaviest processor on the fastest one (ties keep the given orders).
/// Requires load.size() <= cpus.size() == seconds.size().
std::vector<int> cpusBySpeed(const std::vector<int> &cpus,
                             const std::vector<double> &seconds,
                             const std::vector<double> &load);

/// Binds the calling thread to one CPU while it lives, then gives it back
/// the CPUs it had.
class ScopedPin {
public:
  explicit ScopedPin(int cpu) : ScopedPin(std::vector<int>{cpu}) {}
  explicit ScopedPin(const std::vector<int> &cpus)
      : previous_(allowedCpus()) {
    pinCurrentThread(cpus);
  }
  ~ScopedPin() {
    if (!previous_.empty())
      pinCurrentThread(previous_);
  }
  ScopedPin(const ScopedPin &) = delete;
  ScopedPin &operator=(const ScopedPin &) = delete;

private:
  std::vector<int> previous_;
};

} // namespace runtime
} // namespace layerpipe

#endif // LAYERPIPE_RUNTIME_AFFINITY_H
