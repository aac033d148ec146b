//===- AffinityTest.cpp - CPU speeds and the choice of CPUs ---------------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// cpusBySpeed on made-up speeds (the busiest processor gets the fastest CPU,
// the slowest CPUs are left over, ties keep the given order), and timeCpus
// on this machine's CPUs (one positive figure per CPU).
//
//===----------------------------------------------------------------------===//

#include "layerpipe/runtime/Affinity.h"

#include <doctest/doctest.h>

using namespace layerpipe::runtime;

TEST_CASE("cpusBySpeed gives the busiest processor the fastest CPU") {
  std::vector<int> cpus = {4, 5, 6};
  // CPU 5 is the fastest, then 6, then 4.
  std::vector<double> seconds = {3e-5, 1e-5, 2e-5};
  CHECK(cpusBySpeed(cpus, seconds, {1.0, 9.0}) == std::vector<int>{6, 5});
  CHECK(cpusBySpeed(cpus, seconds, {9.0, 1.0}) == std::vector<int>{5, 6});
  CHECK(cpusBySpeed(cpus, seconds, {2.0, 3.0, 1.0}) ==
        std::vector<int>{6, 5, 4});
  // Equal speeds and loads: processor i on the i-th CPU.
  CHECK(cpusBySpeed(cpus, {1e-5, 1e-5, 1e-5}, {1.0, 1.0, 1.0}) ==
        std::vector<int>{4, 5, 6});
  CHECK(cpusBySpeed(cpus, seconds, {}).empty());
}

TEST_CASE("timeCpus times every CPU this process may use") {
  std::vector<int> cpus = allowedCpus();
  if (cpus.empty())
    return; // no affinity on this system
  std::vector<double> seconds = timeCpus(cpus, 20);
  REQUIRE(seconds.size() == cpus.size());
  for (double s : seconds) {
    CHECK(s > 0.0);
    CHECK(s < 0.1); // a 64x64 product, even on a loaded core
  }
  // The threads give the caller its CPUs back untouched.
  CHECK(allowedCpus() == cpus);
}
