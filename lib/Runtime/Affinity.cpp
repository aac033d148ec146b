//===- Affinity.cpp - Binding threads to CPUs -----------------------------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//

#include "layerpipe/runtime/Affinity.h"

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

} // namespace runtime
} // namespace layerpipe
