//===- TransferBoundTest.cpp - The lower bound that counts transfers -----===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// Issue 10: the global minimum cut against every subset of small graphs,
// and the bound against brute force: on random graphs of at most 8 tasks
// and 2-3 processors, for every placement, the period can be no shorter
// than its busiest processor and its busiest link channel; the bound must
// stay at or below the least of those over all placements, and below every
// period the list scheduler finds and the verifier accepts.
//
//===----------------------------------------------------------------------===//

#include "layerpipe/Schedule.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <tuple>

using namespace layerpipe;

TEST_CASE("the global minimum cut matches every subset on small graphs") {
  std::mt19937 rng(7);
  for (unsigned trial = 0; trial < 300; ++trial) {
    unsigned n = 2 + rng() % 9;
    std::vector<WeightedEdge> edges;
    unsigned m = rng() % (2 * n + 1);
    for (unsigned i = 0; i < m; ++i)
      edges.push_back({unsigned(rng() % n), unsigned(rng() % n),
                       double(rng() % 5) * 0.5});
    double brute = std::numeric_limits<double>::infinity();
    for (unsigned set = 1; set + 1 < (1u << n); ++set) {
      double cut = 0;
      for (const WeightedEdge &e : edges)
        if (((set >> e.a) & 1) != ((set >> e.b) & 1))
          cut += e.weight;
      brute = std::min(brute, cut);
    }
    INFO("trial " << trial << " n " << n);
    CHECK(globalMinCut(n, edges) == doctest::Approx(brute));
  }
  CHECK(std::isinf(globalMinCut(1, {})));
  // A long chain: the lightest link.
  std::vector<WeightedEdge> chain;
  for (unsigned v = 0; v + 1 < 5000; ++v)
    chain.push_back({v, v + 1, v == 2500 ? 0.25 : 1.0 + v % 7});
  CHECK(globalMinCut(5000, chain) == doctest::Approx(0.25));
}

namespace {
/// A random graph of \p n tasks: zero-delay edges forward, a few delayed
/// ones back, tensors from 0 to 4 us of link time.
TrainingDFG randomGraph(std::mt19937 &rng, unsigned n) {
  TrainingDFG dfg;
  for (unsigned v = 0; v < n; ++v) {
    Task task;
    task.name = "t" + std::to_string(v);
    task.timeUs = 1 + rng() % 8;
    task.layer = v;
    dfg.tasks.push_back(task);
  }
  auto add = [&](unsigned a, unsigned b, int64_t delay) {
    Edge edge;
    edge.src = a;
    edge.dst = b;
    edge.delay = delay;
    edge.bytes = int64_t(rng() % 5) * 10000; // 10 kB: 1 us
    dfg.edges.push_back(edge);
  };
  for (unsigned v = 1; v < n; ++v) {
    add(rng() % v, v, 0);
    if (rng() % 3 == 0)
      add(rng() % v, v, 0);
    if (rng() % 4 == 0)
      add(v, rng() % v, 1 + rng() % 3);
  }
  // A tensor read by two consumers (sent once per processor).
  if (n >= 3) {
    Edge shared = dfg.edges[0];
    shared.dst = n - 1;
    if (shared.src != shared.dst)
      dfg.edges.push_back(shared);
  }
  return dfg;
}

/// The least period a placement allows: its busiest processor and its
/// busiest link channel (one transfer per tensor and receiving processor).
double placementBound(const TrainingDFG &dfg, const std::vector<int> &proc,
                      unsigned procs, const MachineDesc &machine) {
  std::vector<double> load(procs, 0);
  for (unsigned v = 0; v < dfg.tasks.size(); ++v)
    load[proc[v]] += dfg.tasks[v].timeUs;
  std::set<std::tuple<unsigned, int, int64_t>> sent;
  std::map<int64_t, double> channel;
  for (const Edge &edge : dfg.edges) {
    int a = proc[edge.src], b = proc[edge.dst];
    if (a == b || edge.bytes <= 0 ||
        !sent.insert({edge.src, b, edge.bytes}).second)
      continue;
    double link = double(edge.bytes) / machine.linkBandwidth * 1e6;
    switch (machine.linkTopology) {
    case LinkTopology::Switch:
      channel[a] += link;
      channel[procs + b] += link;
      break;
    case LinkTopology::PointToPoint:
      channel[a * procs + b] += link;
      break;
    case LinkTopology::Bus:
      channel[0] += link;
      break;
    }
  }
  double most = *std::max_element(load.begin(), load.end());
  for (auto [id, busy] : channel)
    most = std::max(most, busy);
  return most;
}
} // namespace

TEST_CASE("the transfer bound never exceeds any placement's period") {
  std::mt19937 rng(10);
  unsigned cases = 0, raised = 0;
  for (unsigned trial = 0; trial < 40; ++trial) {
    unsigned n = 2 + rng() % 7; // at most 8 tasks
    TrainingDFG dfg = randomGraph(rng, n);
    for (LinkTopology topology :
         {LinkTopology::Switch, LinkTopology::PointToPoint,
          LinkTopology::Bus}) {
      for (unsigned procs : {2u, 3u}) {
        MachineDesc machine;
        machine.linkBandwidth = 1e10;
        machine.linkLatencyUs = 1;
        machine.linkTopology = topology;
        TransferBound bound = transferLowerBound(dfg, procs, machine);
        double work = 0, largest = 0;
        for (const Task &task : dfg.tasks) {
          work += task.timeUs;
          largest = std::max(largest, task.timeUs);
        }
        // Every placement (procs^n of them): the least period it allows.
        double best = std::numeric_limits<double>::infinity();
        std::vector<int> proc(n, 0);
        while (true) {
          best = std::min(best, placementBound(dfg, proc, procs, machine));
          unsigned i = 0;
          while (i < n && ++proc[i] == int(procs))
            proc[i++] = 0;
          if (i == n)
            break;
        }
        INFO("trial " << trial << " topology "
                      << linkTopologyName(topology).str() << " procs "
                      << procs);
        CHECK(bound.bound <= best * (1 + 1e-9));
        // And every verified schedule the list scheduler finds.
        // The small-graph search on every fourth trial: under the
        // sanitizers it costs seconds per graph (unit-exact covers it).
        auto result = scheduleModulo(dfg, procs, machine, 0, {}, 0,
                                     trial % 4 == 0 ? 1.0 : 0.0);
        REQUIRE(result);
        REQUIRE(!verifySchedule(result->schedule));
        CHECK(bound.bound <= result->schedule.period * (1 + 1e-9));
        ++cases;
        raised += bound.bound > std::max(work / procs, largest) + 1e-9;
      }
    }
  }
  // The bound is not vacuous: it rises above work / p on some cases.
  MESSAGE(raised << " of " << cases
                 << " cases have a bound above work / procs");
  CHECK(raised > 0);
}

TEST_CASE("a transfer longer than the work keeps everything on one "
          "processor") {
  // Two tasks of 10 us joined by 100 us of link time each way: splitting
  // them costs more than running both on one processor.
  TrainingDFG dfg;
  for (unsigned v = 0; v < 2; ++v) {
    Task task;
    task.name = "t" + std::to_string(v);
    task.timeUs = 10;
    task.layer = v;
    dfg.tasks.push_back(task);
  }
  Edge forward;
  forward.src = 0;
  forward.dst = 1;
  forward.bytes = 1000000; // 100 us at 10 GB/s
  dfg.edges.push_back(forward);
  Edge back = forward;
  back.src = 1;
  back.dst = 0;
  back.delay = 4;
  dfg.edges.push_back(back);
  MachineDesc machine;
  TransferBound bound = transferLowerBound(dfg, 4, machine);
  CHECK(bound.minCutUs == doctest::Approx(200));
  CHECK(bound.bound == doctest::Approx(20)); // the work: one processor
  auto result = scheduleModulo(dfg, 4, machine, 0);
  REQUIRE(result);
  CHECK(result->schedule.period >= bound.bound * (1 - 1e-9));
}
