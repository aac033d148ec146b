//===- Simulate.cpp - Discrete-event simulation of a schedule -------------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// Runs several iterations of a schedule the way a runtime would: each
// processor executes its task instances in the order the schedule gives them,
// and an instance fires as soon as its processor is free and all its inputs
// have arrived (the producer's end plus the transfer when it ran elsewhere).
// The steady-state period, peak memory and bytes sent per processor it
// measures are compared with the static figures in tests. The same engine
// times the order-based baseline schedules (runInOrder).
//
//===----------------------------------------------------------------------===//

#include "Links.h"
#include "ScheduleInternal.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <numeric>
#include <unordered_map>

namespace layerpipe {

template <typename Dep>
static std::vector<double>
runInOrderImpl(const std::vector<InstanceTask> &instances,
               const std::vector<Dep> &deps,
               const std::vector<std::vector<unsigned>> &order,
               std::vector<double> &end) {
  size_t n = instances.size();
  // Successor lists in one array (compressed rows): millions of instances
  // in the large simulations.
  std::vector<unsigned> first(n + 1, 0), succ(deps.size());
  std::vector<unsigned> waiting(n, 0);
  for (const Dep &dep : deps) {
    ++first[dep.src + 1];
    ++waiting[dep.dst];
  }
  for (size_t i = 0; i < n; ++i)
    first[i + 1] += first[i];
  {
    std::vector<unsigned> fill(first.begin(), first.end() - 1);
    for (unsigned d = 0; d < deps.size(); ++d)
      succ[fill[deps[d].src]++] = d;
  }
  // The list each instance is in (a processor, or a list of its own), and a
  // second list for a transfer that holds two link channels at once.
  std::vector<unsigned> queueOf(n, 0);
  std::vector<int> secondQueue(n, -1);
  std::vector<bool> listed(n, false);
  for (unsigned q = 0; q < order.size(); ++q)
    for (unsigned i : order[q]) {
      if (listed[i]) {
        secondQueue[i] = int(q);
        continue;
      }
      listed[i] = true;
      queueOf[i] = q;
    }
  std::vector<double> ready(n, 0.0), start(n, -1.0);
  end.assign(n, -1.0);
  std::vector<size_t> head(order.size(), 0);
  std::vector<double> procFree(order.size(), 0.0);
  std::vector<unsigned> worklist;
  for (unsigned p = 0; p < order.size(); ++p)
    worklist.push_back(p);
  while (!worklist.empty()) {
    unsigned p = worklist.back();
    worklist.pop_back();
    // Run this processor's instances while the next one is ready.
    while (head[p] < order[p].size() && waiting[order[p][head[p]]] == 0) {
      unsigned i = order[p][head[p]];
      // An instance in two lists runs when it heads both.
      int other = secondQueue[i] < 0 ? -1
                  : unsigned(secondQueue[i]) == p ? int(queueOf[i])
                                                  : secondQueue[i];
      if (other >= 0 && (head[other] >= order[other].size() ||
                         order[other][head[other]] != i))
        break;
      ++head[p];
      start[i] = std::max(procFree[p], ready[i]);
      if (other >= 0) {
        start[i] = std::max(start[i], procFree[other]);
        ++head[other];
        worklist.push_back(unsigned(other));
      }
      end[i] = start[i] + instances[i].duration;
      procFree[p] = end[i];
      if (other >= 0)
        procFree[other] = end[i];
      for (unsigned k = first[i]; k < first[i + 1]; ++k) {
        const Dep &dep = deps[succ[k]];
        double transfer = instances[dep.dst].proc == instances[i].proc
                              ? 0.0
                              : dep.transferUs;
        ready[dep.dst] = std::max(ready[dep.dst], end[i] + transfer);
        if (--waiting[dep.dst] == 0)
          worklist.push_back(queueOf[dep.dst]);
      }
    }
  }
  return start;
}

std::vector<double> runInOrder(const std::vector<InstanceTask> &instances,
                               const std::vector<ScheduleDep> &deps,
                               const std::vector<std::vector<unsigned>> &order,
                               std::vector<double> &end) {
  return runInOrderImpl(instances, deps, order, end);
}

std::vector<double> runInOrder(const std::vector<InstanceTask> &instances,
                               const std::vector<InstanceDep> &deps,
                               const std::vector<std::vector<unsigned>> &order,
                               std::vector<double> &end) {
  return runInOrderImpl(instances, deps, order, end);
}

/// Each task's position in a topological order of the dependences within
/// one iteration (distance 0).
static std::vector<unsigned> dependenceRanks(const Schedule &S) {
  size_t n = S.tasks.size();
  std::vector<unsigned> indegree(n, 0), rank(n, 0);
  // Successors in one array (compressed rows), in the dependences' order.
  std::vector<unsigned> first(n + 1, 0);
  for (const ScheduleDep &dep : S.deps)
    if (dep.distance == 0 && dep.src != dep.dst) {
      ++first[dep.src + 1];
      ++indegree[dep.dst];
    }
  for (size_t v = 0; v < n; ++v)
    first[v + 1] += first[v];
  std::vector<unsigned> succ(first[n]);
  {
    std::vector<unsigned> fill(first.begin(), first.end() - 1);
    for (const ScheduleDep &dep : S.deps)
      if (dep.distance == 0 && dep.src != dep.dst)
        succ[fill[dep.src]++] = dep.dst;
  }
  std::vector<unsigned> ready;
  for (unsigned v = 0; v < n; ++v)
    if (indegree[v] == 0)
      ready.push_back(v);
  unsigned next = 0;
  for (size_t i = 0; i < ready.size(); ++i) {
    unsigned v = ready[i];
    rank[v] = next++;
    for (unsigned k = first[v]; k < first[v + 1]; ++k)
      if (--indegree[succ[k]] == 0)
        ready.push_back(succ[k]);
  }
  return rank; // a cycle (invalid schedule) leaves its tasks at rank 0
}

SimulationResult simulateSchedule(const Schedule &S, unsigned iterations) {
  assert(iterations >= 2 && "need two iterations to measure a period");
  SimulationResult result;
  result.iterations = iterations;
  size_t n = S.tasks.size();
  std::vector<InstanceTask> instances;
  instances.reserve(n * iterations);
  // Instance id = iteration * n + task.
  for (unsigned it = 0; it < iterations; ++it)
    for (const ScheduledTask &task : S.tasks)
      instances.push_back({task.proc, task.duration});

  // A transfer with a slot on the links is an instance of its own, after
  // its producer and before its consumer, on its link channels' lists.
  std::vector<InstanceDep> runDeps;
  runDeps.reserve(S.deps.size() * iterations);
  struct Transfer {
    unsigned instance;
    double at;
    LinkChannels channels;
  };
  std::vector<Transfer> transfers;
  const size_t tasksEnd = n * iterations;
  // A tensor sent once serves every consumer on its processor: one
  // transfer instance per (producer iteration, shared transfer).
  std::vector<int> shared = sharedTransfers(S);
  std::unordered_map<uint64_t, unsigned> transferOf;
  for (unsigned it = 0; it < iterations; ++it) {
    for (unsigned di = 0; di < S.deps.size(); ++di) {
      const ScheduleDep &dep = S.deps[di];
      int64_t srcIt = S.periodic ? int64_t(it) - dep.distance : int64_t(it);
      if (srcIt < 0)
        continue;
      InstanceDep d{unsigned(srcIt * n + dep.src), unsigned(it * n + dep.dst),
                    dep.transferUs};
      const ScheduledTask &u = S.tasks[dep.src];
      const ScheduledTask &v = S.tasks[dep.dst];
      if (!S.periodic || dep.linkStart < 0 || u.proc == v.proc ||
          dep.occupancy() <= timeEpsilon(S)) {
        runDeps.push_back(d);
        continue;
      }
      uint64_t key = uint64_t(srcIt) * S.deps.size() + unsigned(shared[di]);
      auto [slot, added] =
          transferOf.try_emplace(key, unsigned(instances.size()));
      unsigned x = slot->second;
      if (added) {
        instances.push_back({u.proc, dep.occupancy()});
        transfers.push_back(
            {x, dep.linkStart + srcIt * S.period,
             linkChannels(S.topology, S.procs, u.proc, v.proc)});
        runDeps.push_back({d.src, x, 0.0});
      }
      // The latency after the link: in flight, holding no channel.
      runDeps.push_back(
          {x, d.dst, std::max(0.0, dep.transferUs - dep.occupancy())});
    }
  }

  // Per-processor order: by scheduled time; synchronous steps repeat the
  // one-step order. Equal times go in dependence order (iteration, then a
  // topological rank), which a valid schedule always allows. Tasks within
  // the time resolution leave the processor orders below, so the timed
  // tasks left on one processor start strictly apart.
  std::vector<unsigned> rank = dependenceRanks(S);
  std::vector<std::vector<unsigned>> order(S.procs);
  std::vector<unsigned> byStart(n);
  std::iota(byStart.begin(), byStart.end(), 0);
  std::stable_sort(byStart.begin(), byStart.end(), [&](unsigned a, unsigned b) {
    if (S.tasks[a].start != S.tasks[b].start)
      return S.tasks[a].start < S.tasks[b].start;
    return rank[a] < rank[b];
  });
  if (S.periodic) {
    // Merge the iterations per processor: instance (v, i) at s(v) + i T.
    std::vector<std::vector<unsigned>> tasksOf(S.procs);
    for (unsigned v : byStart)
      tasksOf[S.tasks[v].proc].push_back(v);
    for (unsigned p = 0; p < S.procs; ++p) {
      std::vector<std::pair<double, unsigned>> keyed;
      keyed.reserve(tasksOf[p].size() * iterations);
      for (unsigned it = 0; it < iterations; ++it)
        for (unsigned v : tasksOf[p])
          keyed.push_back(
              {S.tasks[v].start + it * S.period, unsigned(it * n + v)});
      // Ties: earlier iteration first, then dependence order.
      std::stable_sort(keyed.begin(), keyed.end(), [&](const auto &a,
                                                       const auto &b) {
        if (a.first != b.first)
          return a.first < b.first;
        if (a.second / n != b.second / n)
          return a.second / n < b.second / n;
        return rank[a.second % n] < rank[b.second % n];
      });
      for (auto &k : keyed)
        order[p].push_back(k.second);
    }
  } else {
    for (unsigned it = 0; it < iterations; ++it)
      for (unsigned v : byStart)
        order[S.tasks[v].proc].push_back(unsigned(it * n + v));
  }

  // A zero-length task (or one within the time resolution) occupies no
  // processor time, and the schedulers place it anywhere, even inside
  // another task's interval on its processor; run in that processor's order
  // it would wait for the longer task and delay its consumers. Each runs on
  // its own, as soon as its inputs are there.
  std::vector<unsigned> untimed;
  const double eps = timeEpsilon(S);
  for (unsigned p = 0; p < S.procs; ++p) {
    std::vector<unsigned> timed;
    for (unsigned i : order[p])
      (instances[i].duration > eps ? timed : untimed).push_back(i);
    order[p] = std::move(timed);
  }
  for (unsigned i : untimed)
    order.push_back({i});

  // The link channels' lists: by the transfers' scheduled starts.
  {
    std::stable_sort(transfers.begin(), transfers.end(),
                     [](const Transfer &a, const Transfer &b) {
                       return a.at < b.at;
                     });
    std::unordered_map<int64_t, unsigned> listOf;
    for (const Transfer &t : transfers)
      for (int64_t id : {t.channels.first, t.channels.second}) {
        if (id < 0)
          continue;
        auto [slot, added] = listOf.try_emplace(id, unsigned(order.size()));
        if (added)
          order.emplace_back();
        order[slot->second].push_back(t.instance);
      }
  }

  std::vector<double> end;
  std::vector<double> start = runInOrder(instances, runDeps, order, end);

  std::vector<double> completion(iterations, 0.0);
  double first = 0, last = 0;
  for (size_t i = 0; i < instances.size(); ++i) {
    if (end[i] < 0) {
      ++result.stuck;
      continue;
    }
    if (i >= tasksEnd)
      continue; // a transfer
    completion[i / n] = std::max(completion[i / n], end[i]);
    first = std::min(first, start[i]);
    last = std::max(last, end[i]);
  }
  result.totalTime = last - first;
  unsigned half = iterations / 2;
  result.period =
      (completion[iterations - 1] - completion[half - 1]) / (iterations - half);

  // Memory: live bytes per processor over the whole run.
  std::vector<std::vector<std::pair<double, int64_t>>> events(S.procs);
  for (unsigned it = 0; it < iterations; ++it) {
    for (const MemoryBlock &block : S.memory) {
      int64_t freeIt = S.periodic ? int64_t(it) + block.distance : int64_t(it);
      if (freeIt >= int64_t(iterations))
        continue;
      unsigned a = it * n + block.allocTask;
      unsigned f = unsigned(freeIt * n + block.freeTask);
      unsigned p = instances[a].proc;
      events[p].push_back({start[a], block.bytes});
      events[p].push_back({std::max(end[f], start[a]), -block.bytes});
    }
  }
  result.peakMemory.assign(S.procs, 0);
  for (unsigned p = 0; p < S.procs; ++p) {
    std::sort(events[p].begin(), events[p].end());
    int64_t live = 0;
    for (auto &e : events[p]) {
      live += e.second;
      result.peakMemory[p] = std::max(result.peakMemory[p], live);
    }
  }

  // Bytes sent in one steady-state iteration: the transfers into the last
  // (a tensor shared by several consumers on a processor once).
  result.commBytes.assign(S.procs, 0);
  for (unsigned di = 0; di < S.deps.size(); ++di)
    if (shared[di] == int(di))
      result.commBytes[S.tasks[S.deps[di].src].proc] += S.deps[di].bytes;
  return result;
}

} // namespace layerpipe
