//===- Affinity.cpp - Binding threads to CPUs -----------------------------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//

#include "layerpipe/runtime/Affinity.h"

#include "layerpipe/runtime/Kernels.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <numeric>
#include <thread>

#ifdef __linux__
#include <pthread.h>
#include <sched.h>
#endif

namespace layerpipe {
namespace runtime {

std::vector<int> allowedCpus() {
  std::vector<int> cpus;
#ifdef __linux__
  cpu_set_t set;
  CPU_ZERO(&set);
  if (pthread_getaffinity_np(pthread_self(), sizeof set, &set) == 0)
    for (int c = 0; c < CPU_SETSIZE; ++c)
      if (CPU_ISSET(c, &set))
        cpus.push_back(c);
#endif
  return cpus;
}

bool pinCurrentThread(const std::vector<int> &cpus) {
#ifdef __linux__
  cpu_set_t set;
  CPU_ZERO(&set);
  for (int c : cpus)
    if (c >= 0 && c < CPU_SETSIZE)
      CPU_SET(c, &set);
  return !cpus.empty() &&
         pthread_setaffinity_np(pthread_self(), sizeof set, &set) == 0;
#else
  (void)cpus;
  return false;
#endif
}

namespace {

/// The probe's work: forward, input-gradient and weight-gradient passes of
/// a small convolution (LeNet-5's second: 6 -> 16 channels, 5x5, 14x14
/// inputs, batch 8) through the runtime's own kernels, so that the probe
/// meets the caches, vector units and memory traffic the tasks meet. A
/// loop on a few registers did not: while one CPU ran the tasks 1.35x
/// slower than the other, it timed that CPU 1.6x faster.
class ProbeWork {
public:
  ProbeWork() {
    g.n = 8;
    g.c = 6;
    g.h = g.w = 14;
    g.kh = g.kw = 5;
    g.finish();
    x.resize(size_t(g.n * g.c * g.inPlane()));
    weight.resize(size_t(outChannels * g.c * g.kh * g.kw));
    bias.assign(size_t(outChannels), 0.1f);
    y.resize(size_t(g.n * outChannels * g.outPlane()));
    dx.resize(x.size());
    dWeight.resize(weight.size());
    dBias.resize(bias.size());
    for (size_t i = 0; i < x.size(); ++i)
      x[i] = float(i % 13) * 0.01f;
    for (size_t i = 0; i < weight.size(); ++i)
      weight[i] = float(i % 7) * 0.02f - 0.06f;
  }

  void run() {
    conv2dForward(g, outChannels, x.data(), weight.data(), bias.data(),
                  y.data(), scratch);
    conv2dBackwardData(g, outChannels, y.data(), weight.data(), dx.data(),
                       scratch);
    conv2dBackwardWeights(g, outChannels, x.data(), y.data(), dWeight.data(),
                          dBias.data(), scratch);
  }

  /// A value that depends on every output, so that no pass is dropped.
  float sum() const {
    return std::accumulate(dx.begin(), dx.end(), 0.0f) +
           std::accumulate(dWeight.begin(), dWeight.end(), 0.0f);
  }

private:
  static constexpr int64_t outChannels = 16;
  WindowGeom g;
  Scratch scratch;
  std::vector<float> x, weight, bias, y, dx, dWeight, dBias;
};

} // namespace

std::vector<double> timeCpus(const std::vector<int> &cpus, int reps) {
  using Clock = std::chrono::steady_clock;
  initRuntime();
  std::vector<double> seconds(cpus.size(), 0.0);
  std::atomic<size_t> pinned{0};
  std::atomic<bool> failed{false};
  std::vector<std::thread> threads;
  for (size_t i = 0; i < cpus.size(); ++i)
    threads.emplace_back([&, i] {
      if (!pinCurrentThread({cpus[i]}))
        failed.store(true);
      // All threads time at once: the speed of a CPU while its neighbours
      // work is the one a stage program sees.
      ++pinned;
      while (pinned.load() < cpus.size())
        std::this_thread::yield();
      ProbeWork work;
      work.run(); // warm the caches
      std::vector<double> runs;
      for (int r = 0; r < std::max(1, reps); ++r) {
        auto t0 = Clock::now();
        work.run();
        runs.push_back(
            std::chrono::duration<double>(Clock::now() - t0).count());
      }
      std::nth_element(runs.begin(), runs.begin() + runs.size() / 2,
                       runs.end());
      seconds[i] = runs[runs.size() / 2];
      volatile float sink = work.sum();
      (void)sink;
    });
  for (std::thread &t : threads)
    t.join();
  if (failed.load())
    return {};
  return seconds;
}

std::vector<int> cpusBySpeed(const std::vector<int> &cpus,
                             const std::vector<double> &seconds,
                             const std::vector<double> &load) {
  std::vector<size_t> byCpu(cpus.size()), byLoad(load.size());
  std::iota(byCpu.begin(), byCpu.end(), 0);
  std::iota(byLoad.begin(), byLoad.end(), 0);
  std::stable_sort(byCpu.begin(), byCpu.end(),
                   [&](size_t x, size_t y) { return seconds[x] < seconds[y]; });
  std::stable_sort(byLoad.begin(), byLoad.end(),
                   [&](size_t x, size_t y) { return load[x] > load[y]; });
  std::vector<int> out(load.size(), -1);
  for (size_t r = 0; r < byLoad.size(); ++r)
    out[byLoad[r]] = cpus[byCpu[r]];
  return out;
}

} // namespace runtime
} // namespace layerpipe
