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

/// Binds the calling thread to one CPU while it lives, then gives it back
/// the CPUs it had.
class ScopedPin {
public:
  explicit ScopedPin(int cpu) : previous_(allowedCpus()) {
    pinCurrentThread({cpu});
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
