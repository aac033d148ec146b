//===- Modulo.cpp - Periodic (modulo) list scheduling ---------------------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// Schedules one iteration of a training DFG so that it repeats every T
// microseconds on N processors: each task v gets a processor p(v) and a start
// s(v); iteration i runs it at s(v) + i*T. For every edge u->v with delay w,
// s(v) + w*T >= s(u) + t(u) + transfer (transfer only across processors),
// and no two instances overlap on a processor modulo T. One iteration may
// spread over many periods.
//
// For a candidate T the list scheduler visits the tasks in a topological
// order of the zero-delay subgraph, highest first (height = longest
// zero-delay path to a sink). A task's earliest start comes from its
// scheduled predecessors, its deadline from successors already scheduled
// across delayed (feedback) edges; on each candidate processor it takes the
// earliest free slot of its length in that processor's reservation table
// (busy intervals modulo T, kept coalesced), and the processor with the
// earliest start wins (ties: a predecessor's processor, then the least
// loaded). If some task finds no slot before its deadline, T grows. T starts
// at the lower bound max(iteration bound, work / N, largest task), grows in
// 1% steps, and a final bisection narrows the gap to the last failure.
//
//===----------------------------------------------------------------------===//

#include "layerpipe/Schedule.h"

#include "Links.h"
#include "Reservation.h"
#include "ScheduleInternal.h"
#include "SmallSearch.h"

#include "llvm/ADT/SmallVector.h"
#include "llvm/Support/FormatVariadic.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <limits>
#include <map>
#include <climits>
#include <cstdint>
#include <queue>
#include <tuple>

using namespace llvm;

namespace layerpipe {

namespace {

/// What does not depend on the period.
struct Prepared {
  std::vector<double> time;
  std::vector<double> transfer; ///< per edge
  /// Per edge: how long a transfer holds its link channels (bytes over the
  /// bandwidth; the latency is in flight).
  std::vector<double> occupy;
  std::vector<std::vector<unsigned>> in, out;
  /// Zero-delay topological order, highest task first among the ready.
  std::vector<unsigned> order;
  /// Position of each task in `order`.
  std::vector<unsigned> rank;
};

} // namespace

static Expected<Prepared> prepare(const TrainingDFG &dfg,
                                  const MachineDesc &machine) {
  Prepared P;
  size_t n = dfg.tasks.size();
  P.in.resize(n);
  P.out.resize(n);
  for (const Task &task : dfg.tasks)
    P.time.push_back(task.timeUs);
  for (unsigned e = 0; e < dfg.edges.size(); ++e) {
    const Edge &edge = dfg.edges[e];
    P.transfer.push_back(machine.transferTimeUs(double(edge.bytes)));
    P.occupy.push_back(edge.bytes > 0
                           ? double(edge.bytes) / machine.linkBandwidth * 1e6
                           : 0.0);
    P.out[edge.src].push_back(e);
    P.in[edge.dst].push_back(e);
  }
  // Zero-delay predecessor counts and a reverse topological pass for heights.
  std::vector<unsigned> waiting(n, 0);
  for (const Edge &edge : dfg.edges)
    if (edge.delay == 0)
      ++waiting[edge.dst];
  std::vector<unsigned> topo;
  topo.reserve(n);
  std::vector<unsigned> count = waiting;
  for (unsigned v = 0; v < n; ++v)
    if (count[v] == 0)
      topo.push_back(v);
  for (size_t k = 0; k < topo.size(); ++k)
    for (unsigned e : P.out[topo[k]])
      if (dfg.edges[e].delay == 0 && --count[dfg.edges[e].dst] == 0)
        topo.push_back(dfg.edges[e].dst);
  if (topo.size() != n)
    return createStringError(inconvertibleErrorCode(),
                             "cannot schedule: the DFG has a cycle without "
                             "delays (%zu of %zu tasks are on or behind it)",
                             n - topo.size(), n);
  std::vector<double> height(n, 0);
  for (auto it = topo.rbegin(); it != topo.rend(); ++it) {
    unsigned v = *it;
    double best = 0;
    for (unsigned e : P.out[v])
      if (dfg.edges[e].delay == 0)
        best = std::max(best, height[dfg.edges[e].dst] + P.transfer[e]);
    height[v] = P.time[v] + best;
  }
  // List order: among ready tasks the highest first (ties: lower index).
  auto lower = [&](unsigned a, unsigned b) {
    if (height[a] != height[b])
      return height[a] < height[b];
    return a > b;
  };
  std::priority_queue<unsigned, std::vector<unsigned>, decltype(lower)> ready(
      lower);
  for (unsigned v = 0; v < n; ++v)
    if (waiting[v] == 0)
      ready.push(v);
  while (!ready.empty()) {
    unsigned v = ready.top();
    ready.pop();
    P.order.push_back(v);
    for (unsigned e : P.out[v])
      if (dfg.edges[e].delay == 0 && --waiting[dfg.edges[e].dst] == 0)
        ready.push(dfg.edges[e].dst);
  }
  P.rank.resize(n);
  for (unsigned k = 0; k < n; ++k)
    P.rank[P.order[k]] = k;
  return P;
}

/// As-soon-as-possible starts for period T over all edges (a longest path
/// with weights t(u) - w*T; T >= the iteration bound keeps it finite): one pass in list order, then a
/// worklist of the tasks whose predecessors moved, within a budget of
/// relaxations. A skeleton to order and floor the list, not a proof of
/// feasibility (the list scheduler's deadlines are that).
static void computeAsap(const TrainingDFG &dfg, const Prepared &P, double T,
                        const std::vector<bool> &paid,
                        std::vector<double> &asap) {
  size_t n = dfg.tasks.size();
  asap.assign(n, 0);
  double eps = 1e-9 * T;
  std::vector<unsigned> queue;
  std::vector<bool> queued(n, false);
  auto relax = [&](unsigned v) {
    bool changed = false;
    for (unsigned e : P.in[v]) {
      const Edge &edge = dfg.edges[e];
      double c = asap[edge.src] + P.time[edge.src] - edge.delay * T +
                 (paid.empty() || !paid[e] ? 0.0 : P.transfer[e]);
      if (c > asap[v] + eps) {
        asap[v] = c;
        changed = true;
      }
    }
    if (!changed)
      return;
    for (unsigned e : P.out[v]) {
      unsigned w = dfg.edges[e].dst;
      if (!queued[w]) {
        queued[w] = true;
        queue.push_back(w);
      }
    }
  };
  for (unsigned v : P.order)
    relax(v);
  size_t budget = 50 * (n + dfg.edges.size());
  size_t head = 0;
  for (; head < queue.size() && budget > 0; ++head, --budget) {
    unsigned v = queue[head];
    queued[v] = false;
    relax(v);
  }

}

/// How one attempt orders the list and picks processors.
enum class Variant {
  DeadlineEarliest, ///< by latest time; the earliest start wins
  SkeletonEarliest, ///< by skeleton time; the earliest start wins
  DeadlineBalanced, ///< by latest time; the least loaded processor among
                    ///< those starting within a quarter period of the best
  DeadlineAffine,   ///< by latest time; start plus the transfers of the
                    ///< zero-delay edges it would cut, ties to the processor
                    ///< of the heaviest zero-delay neighbour
  DeadlineLocal,    ///< by latest time; among the processors starting within
                    ///< a quarter period of the earliest, the one that keeps
                    ///< the most bytes (delayed edges too) local
};

/// Which edges the skeleton of an attempt pays a transfer on (room for the
/// placements across processors that the attempt will likely make).
enum class Skeleton {
  Free,    ///< none
  Delayed, ///< the delayed edges (they are the ones meant to cross)
  All,     ///< every edge but a self-loop
  Pinned,  ///< the edges whose ends are not pinned to one processor
};

static std::vector<bool> paidEdges(const TrainingDFG &dfg, Skeleton skeleton,
                                   const std::vector<int> &pinned) {
  std::vector<bool> paid;
  if (skeleton == Skeleton::Free)
    return paid;
  for (const Edge &edge : dfg.edges) {
    bool cross = edge.src != edge.dst;
    if (skeleton == Skeleton::Delayed)
      cross &= edge.delay > 0;
    if (skeleton == Skeleton::Pinned)
      cross &= pinned[edge.src] < 0 || pinned[edge.src] != pinned[edge.dst];
    paid.push_back(cross);
  }
  return paid;
}

/// One attempt at period T; false if some task finds no slot. With
/// \p noise (the small-graph search, SmallSearch.h) the list order and the
/// processor choice are randomised.
static bool attempt(const TrainingDFG &dfg, const Prepared &P, unsigned procs,
                    LinkTopology topology, const std::vector<int> &pinned,
                    double T, Variant variant, const std::vector<bool> &paid,
                    std::vector<double> &start, std::vector<unsigned> &proc,
                    std::vector<double> &linkStart,
                    const SearchNoise *noise = nullptr) {
  size_t n = dfg.tasks.size();
  const double inf = std::numeric_limits<double>::infinity();
  double eps = 1e-9 * T;
  std::vector<Reservation> table(procs);
  // The link channels: a transfer between processors takes a slot on them
  // (Links.h), so a consumer waits for the link as well as the data.
  LinkTables links(topology, procs, T);
  linkStart.assign(dfg.edges.size(), -1);
  auto crosses = [&](unsigned e, unsigned from, unsigned to) {
    return from != to && P.occupy[e] > eps;
  };
  // A tensor sent to a processor serves every consumer there: the link
  // slot of (producer, processor, bytes), if one is already reserved.
  std::map<std::tuple<unsigned, unsigned, int64_t>, double> sent;
  auto sentSlot = [&](unsigned e, unsigned to) {
    const Edge &edge = dfg.edges[e];
    auto it = sent.find({edge.src, to, edge.bytes});
    return it == sent.end() ? -1.0 : it->second;
  };
  std::vector<bool> placed(n, false);
  start.assign(n, 0);
  proc.assign(n, 0);
  // The as-soon-as-possible skeleton (with transfers if the loops allow)
  // orders the list and floors every start, so that a task placed near its
  // skeleton time meets the deadlines its delayed edges set.
  std::vector<double> asap;
  computeAsap(dfg, P, T, paid, asap);
  // Latest starts that keep every successor at its skeleton time or later:
  // the list runs by increasing slack-aware deadline (earliest first).
  std::vector<double> alap(n, std::numeric_limits<double>::infinity());
  double horizon = 0;
  for (unsigned v = 0; v < n; ++v)
    horizon = std::max(horizon, asap[v] + P.time[v]);
  for (unsigned pass = 0; pass < 4; ++pass) {
    bool changed = false;
    for (auto it = P.order.rbegin(); it != P.order.rend(); ++it) {
      unsigned v = *it;
      double best = horizon - P.time[v];
      for (unsigned e : P.out[v]) {
        const Edge &edge = dfg.edges[e];
        double l = std::max(alap[edge.dst], asap[edge.dst]);
        if (l == std::numeric_limits<double>::infinity())
          continue;
        double transfer = paid.empty() || paid[e] ? P.transfer[e] : 0.0;
        best = std::min(best, l + edge.delay * T - P.time[v] - transfer);
      }
      best = std::max(best, asap[v]);
      if (best != alap[v]) {
        alap[v] = best;
        changed = true;
      }
    }
    if (!changed)
      break;
  }
  std::vector<unsigned> order = P.order;
  const std::vector<double> &key =
      variant == Variant::SkeletonEarliest ? asap : alap;
  std::stable_sort(order.begin(), order.end(), [&](unsigned a, unsigned b) {
    if (key[a] != key[b])
      return key[a] < key[b];
    return P.rank[a] < P.rank[b];
  });
  if (noise && noise->keySpread > 0)
    order = noisyOrder(dfg, key, noise->keySpread * T, *noise->rng);
  // The search may hold some transfers back from the earliest free slot on
  // their links (a later one may pack the channel tighter).
  std::vector<double> lags;
  if (noise && noise->linkLag > 0)
    for (unsigned e = 0; e < dfg.edges.size(); ++e)
      lags.push_back(unitRandom(*noise->rng) < noise->linkLag
                         ? 0.5 * T * unitRandom(*noise->rng)
                         : 0.0);
  auto lag = [&](unsigned e) { return lags.empty() ? 0.0 : lags[e]; };
  // And some tasks from their earliest start (a later one may leave the
  // slot to a task of another iteration).
  std::vector<double> delays;
  if (noise && noise->taskLag > 0)
    for (unsigned v = 0; v < n; ++v)
      delays.push_back(unitRandom(*noise->rng) < noise->taskLag
                           ? T * unitRandom(*noise->rng)
                           : 0.0);
  std::vector<unsigned> candidates;
  std::vector<bool> isCandidate(procs, false);
  for (unsigned v : order) {
    double t = P.time[v];
    // Candidate processors: the pinned one, or all when few, else those of
    // the neighbours plus the least loaded.
    candidates.clear();
    auto addCandidate = [&](unsigned p) {
      if (!isCandidate[p]) {
        isCandidate[p] = true;
        candidates.push_back(p);
      }
    };
    if (!pinned.empty() && pinned[v] >= 0) {
      addCandidate(pinned[v]);
    } else if (procs <= 16) {
      for (unsigned p = 0; p < procs; ++p)
        addCandidate(p);
    } else {
      for (unsigned e : P.in[v])
        if (placed[dfg.edges[e].src])
          addCandidate(proc[dfg.edges[e].src]);
      for (unsigned e : P.out[v])
        if (placed[dfg.edges[e].dst])
          addCandidate(proc[dfg.edges[e].dst]);
      // The four least loaded processors.
      unsigned least[4] = {~0u, ~0u, ~0u, ~0u};
      for (unsigned p = 0; p < procs; ++p) {
        unsigned q = p;
        for (unsigned &slot : least) {
          if (slot == ~0u || table[q].load < table[slot].load)
            std::swap(slot, q);
          if (q == ~0u)
            break;
        }
      }
      for (unsigned p : least)
        if (p != ~0u)
          addCandidate(p);
    }

    double bestStart = inf, bestScore = inf;
    int bestProc = -1;
    bool bestAffine = false;
    int64_t bestKept = 0;
    // DeadlineLocal: (start, local bytes, processor) of each feasible one.
    struct Option {
      double start;
      int64_t local;
      unsigned proc;
    };
    SmallVector<Option, 16> options;
    for (unsigned p : candidates) {
      isCandidate[p] = false;
      double est = -inf, deadline = inf;
      bool affine = false;
      // Affine variant: transfers of the zero-delay edges this placement
      // cuts (they lie on the iteration's critical chains, unlike delayed
      // edges whose w*T slack hides a transfer) and the zero-delay bytes it
      // keeps local.
      double cut = 0;
      int64_t kept = 0, keptAll = 0;
      for (unsigned e : P.in[v]) {
        const Edge &edge = dfg.edges[e];
        if (!placed[edge.src])
          continue;
        bool local = proc[edge.src] == p;
        affine |= local;
        keptAll += local ? edge.bytes : 0;
        if (edge.delay == 0)
          (local ? kept += edge.bytes : cut += P.transfer[e]);
        // Times in the frame of v's iteration; link slots in u's.
        double shift = edge.delay * T;
        double ready = start[edge.src] + P.time[edge.src] - shift;
        if (crosses(e, proc[edge.src], p)) {
          double x = sentSlot(e, p);
          if (x < 0)
            x = links.find(proc[edge.src], p, ready + shift + lag(e), P.occupy[e],
                           inf);
          if (x < 0) {
            est = inf;
            break;
          }
          ready = x - shift;
        }
        est = std::max(est, ready + (local ? 0.0 : P.transfer[e]));
      }
      if (est == inf)
        continue;
      for (unsigned e : P.out[v]) {
        const Edge &edge = dfg.edges[e];
        if (!placed[edge.dst])
          continue;
        bool local = proc[edge.dst] == p;
        keptAll += local ? edge.bytes : 0;
        if (edge.delay == 0)
          (local ? kept += edge.bytes : cut += P.transfer[e]);
        deadline = std::min(deadline, start[edge.dst] + edge.delay * T - t -
                                          (local ? 0.0 : P.transfer[e]));
      }
      est = std::max(est, asap[v]) + (delays.empty() ? 0.0 : delays[v]);
      double r = std::fmod(est, T);
      if (r < 0)
        r += T;
      double x = table[p].findSlot(r, t, T, eps);
      if (x < 0)
        continue;
      double s = est - r + x;
      if (s > deadline + eps)
        continue;
      // The transfers to successors already placed must find link room.
      bool linked = true;
      for (unsigned e : P.out[v]) {
        const Edge &edge = dfg.edges[e];
        if (!placed[edge.dst] || !crosses(e, p, proc[edge.dst]))
          continue;
        double latest = start[edge.dst] + edge.delay * T - P.transfer[e];
        double have = sentSlot(e, proc[edge.dst]);
        if (have >= 0 && have >= s + t - eps && have <= latest + eps)
          continue;
        if (links.find(p, proc[edge.dst], s + t + lag(e), P.occupy[e], latest) < 0) {
          linked = false;
          break;
        }
      }
      if (!linked)
        continue;
      options.push_back({s, keptAll, p});
      bool better;
      double score = s + cut;
      if (variant == Variant::DeadlineAffine)
        better = score < bestScore - eps ||
                 (score <= bestScore + eps &&
                  (kept > bestKept ||
                   (kept == bestKept && table[p].load < table[bestProc].load)));
      else if (variant == Variant::DeadlineBalanced && bestProc >= 0 &&
          std::abs(s - bestStart) <= 0.25 * T)
        better = table[p].load < table[bestProc].load - eps ||
                 (table[p].load <= table[bestProc].load + eps &&
                  s < bestStart);
      else
        better = s < bestStart - eps ||
                 (s <= bestStart + eps &&
                  ((affine && !bestAffine) ||
                   (affine == bestAffine &&
                    table[p].load < table[bestProc].load)));
      if (bestProc < 0 || better) {
        bestStart = s;
        bestScore = score;
        bestProc = p;
        bestAffine = affine;
        bestKept = kept;
      }
    }
    if (variant == Variant::DeadlineLocal && bestProc >= 0) {
      int64_t most = -1;
      double earliest = bestStart;
      for (const Option &o : options)
        if (o.start <= earliest + 0.01 * T &&
            (o.local > most || (o.local == most && o.start < bestStart))) {
          most = o.local;
          bestStart = o.start;
          bestProc = o.proc;
        }
    }
    if (noise && bestProc >= 0 && options.size() > 1 &&
        unitRandom(*noise->rng) < noise->pickOther) {
      // Any processor that starts the task within half a period of the
      // best one.
      SmallVector<const Option *, 16> near;
      for (const Option &o : options)
        if (o.start <= bestStart + 0.5 * T)
          near.push_back(&o);
      const Option *o = near[(*noise->rng)() % near.size()];
      bestStart = o->start;
      bestProc = o->proc;
    }
    if (bestProc < 0)
      return false;
    // Commit: the incoming transfers take their link slots one after the
    // other (they may push each other, and so the start), then the task,
    // then the transfers to successors already placed.
    unsigned p = unsigned(bestProc);
    double s = bestStart;
    {
      double est = -inf, deadline = inf;
      for (unsigned e : P.in[v]) {
        const Edge &edge = dfg.edges[e];
        if (!placed[edge.src])
          continue;
        double shift = edge.delay * T;
        double ready = start[edge.src] + P.time[edge.src] - shift;
        if (crosses(e, proc[edge.src], p)) {
          double x = sentSlot(e, p);
          if (x < 0) {
            x = links.find(proc[edge.src], p, ready + shift + lag(e), P.occupy[e],
                           inf);
            if (x < 0)
              return false;
            links.reserve(proc[edge.src], p, x, P.occupy[e]);
            sent[{edge.src, p, edge.bytes}] = x;
          }
          linkStart[e] = x;
          ready = x - shift + P.transfer[e];
        } else if (proc[edge.src] != p) {
          ready += P.transfer[e];
        }
        est = std::max(est, ready);
      }
      for (unsigned e : P.out[v]) {
        const Edge &edge = dfg.edges[e];
        if (placed[edge.dst])
          deadline =
              std::min(deadline, start[edge.dst] + edge.delay * T - t -
                                     (proc[edge.dst] == p ? 0.0
                                                          : P.transfer[e]));
      }
      if (est > s + eps) {
        est = std::max(est, asap[v]);
        double r = std::fmod(est, T);
        if (r < 0)
          r += T;
        double x = table[p].findSlot(r, t, T, eps);
        if (x < 0)
          return false;
        s = est - r + x;
        if (s > deadline + eps)
          return false;
      }
    }
    start[v] = s;
    proc[v] = p;
    placed[v] = true;
    table[p].reserve(s, t, T, eps);
    for (unsigned e : P.out[v]) {
      const Edge &edge = dfg.edges[e];
      if (!placed[edge.dst] || edge.dst == v ||
          !crosses(e, p, proc[edge.dst]))
        continue;
      double latest = start[edge.dst] + edge.delay * T - P.transfer[e];
      double have = sentSlot(e, proc[edge.dst]);
      if (have >= 0 && have >= s + t - eps && have <= latest + eps) {
        linkStart[e] = have;
        continue;
      }
      double x = links.find(p, proc[edge.dst], s + t + lag(e), P.occupy[e], latest);
      if (x < 0)
        return false;
      links.reserve(p, proc[edge.dst], x, P.occupy[e]);
      sent[{edge.src, proc[edge.dst], edge.bytes}] = x;
      linkStart[e] = x;
    }
  }
  return true;
}

/// Zero-delay-connected clusters: a cluster's tasks share a processor
/// without paying a transfer on any critical (zero-delay) edge.
static std::vector<unsigned> zeroDelayClusters(const TrainingDFG &dfg) {
  std::vector<unsigned> parent(dfg.tasks.size());
  for (unsigned v = 0; v < parent.size(); ++v)
    parent[v] = v;
  auto find = [&](unsigned v) {
    while (parent[v] != v)
      v = parent[v] = parent[parent[v]];
    return v;
  };
  for (const Edge &edge : dfg.edges)
    if (edge.delay == 0)
      parent[find(edge.src)] = find(edge.dst);
  for (unsigned v = 0; v < parent.size(); ++v)
    parent[v] = find(v);
  return parent;
}

/// Pins zero-delay clusters to processors for period T, heaviest first onto
/// the least loaded processor. A cluster that fits on none is cut into runs
/// of its tasks in list order, each filling the least loaded processor up to
/// T (few zero-delay edges cut); a task that fits nowhere stays free.
static std::vector<int> packClusters(const Prepared &P,
                                     const std::vector<unsigned> &cluster,
                                     unsigned procs, double T) {
  size_t n = P.time.size();
  std::vector<double> work(n, 0);
  std::vector<std::vector<unsigned>> members(n);
  for (unsigned v : P.order) {
    work[cluster[v]] += P.time[v];
    members[cluster[v]].push_back(v);
  }
  std::vector<unsigned> roots;
  for (unsigned v = 0; v < n; ++v)
    if (cluster[v] == v)
      roots.push_back(v);
  std::stable_sort(roots.begin(), roots.end(),
                   [&](unsigned a, unsigned b) { return work[a] > work[b]; });
  double capacity = T * (1 + 1e-9);
  std::vector<double> load(procs, 0);
  std::vector<int> pinned(n, -1);
  auto leastLoaded = [&]() {
    return unsigned(std::min_element(load.begin(), load.end()) -
                    load.begin());
  };
  for (unsigned root : roots) {
    unsigned p = leastLoaded();
    bool whole = load[p] + work[root] <= capacity;
    for (unsigned v : members[root]) {
      if (!whole && load[p] + P.time[v] > capacity)
        p = leastLoaded();
      if (load[p] + P.time[v] > capacity)
        continue;
      load[p] += P.time[v];
      pinned[v] = p;
    }
  }
  return pinned;
}

/// Pins the tasks layer by layer in model order onto processor 0, 1, ...,
/// each filled up to T: a pipeline cut by load rather than at layer
/// boundaries, so that only the activations at the cuts (and the saved
/// activation of a layer cut in two) cross processors. Tasks that fit
/// nowhere stay free.
static std::vector<int> packLayers(const TrainingDFG &dfg, const Prepared &P,
                                   unsigned procs, double T) {
  size_t n = P.time.size();
  std::vector<unsigned> byLayer(P.order);
  std::stable_sort(byLayer.begin(), byLayer.end(),
                   [&](unsigned a, unsigned b) {
                     return dfg.tasks[a].layer < dfg.tasks[b].layer;
                   });
  double capacity = T * (1 + 1e-9), load = 0;
  unsigned p = 0;
  std::vector<int> pinned(n, -1);
  for (unsigned v : byLayer) {
    if (load + P.time[v] > capacity && p + 1 < procs) {
      ++p;
      load = 0;
    }
    if (load + P.time[v] > capacity)
      continue;
    load += P.time[v];
    pinned[v] = p;
  }
  return pinned;
}

/// Bytes on the edges whose ends run on different processors.
static int64_t crossBytes(const TrainingDFG &dfg,
                          const std::vector<unsigned> &proc) {
  int64_t bytes = 0;
  for (const Edge &edge : dfg.edges)
    if (proc[edge.src] != proc[edge.dst])
      bytes += edge.bytes;
  return bytes;
}

/// Moves tasks, one at a time and at their start, to the processor holding
/// most of their neighbours' bytes when that processor is free then and
/// every dependence still holds with the transfers the move adds or saves:
/// the period stays, the bytes between processors only fall.
static void localizeTasks(const TrainingDFG &dfg, const Prepared &P,
                          unsigned procs, double T,
                          const std::vector<double> &start,
                          std::vector<unsigned> &proc) {
  size_t n = P.time.size();
  double eps = 1e-9 * T;
  std::vector<std::vector<unsigned>> on(procs);
  for (unsigned v = 0; v < n; ++v)
    on[proc[v]].push_back(v);
  auto mod = [&](double x) {
    double r = std::fmod(x, T);
    return r < 0 ? r + T : r;
  };
  auto freeAt = [&](unsigned q, unsigned v) {
    for (unsigned y : on[q])
      if ((P.time[v] > eps && mod(start[y] - start[v]) < P.time[v] - eps) ||
          (P.time[y] > eps && mod(start[v] - start[y]) < P.time[y] - eps))
        return false;
    return true;
  };
  auto holds = [&](unsigned v, unsigned q) {
    for (unsigned e : P.in[v]) {
      const Edge &edge = dfg.edges[e];
      unsigned u = edge.src;
      double transfer = u == v || proc[u] == q ? 0.0 : P.transfer[e];
      if (start[v] + edge.delay * T <
          start[u] + P.time[u] + transfer - eps)
        return false;
    }
    for (unsigned e : P.out[v]) {
      const Edge &edge = dfg.edges[e];
      unsigned x = edge.dst;
      double transfer = x == v || proc[x] == q ? 0.0 : P.transfer[e];
      if (start[x] + edge.delay * T < start[v] + P.time[v] + transfer - eps)
        return false;
    }
    return true;
  };
  std::vector<int64_t> bytesTo(procs);
  for (unsigned pass = 0; pass < 3; ++pass) {
    bool moved = false;
    for (unsigned v : P.order) {
      std::fill(bytesTo.begin(), bytesTo.end(), 0);
      for (unsigned e : P.in[v])
        bytesTo[proc[dfg.edges[e].src]] += dfg.edges[e].bytes;
      for (unsigned e : P.out[v])
        bytesTo[proc[dfg.edges[e].dst]] += dfg.edges[e].bytes;
      unsigned best = proc[v];
      for (unsigned q = 0; q < procs; ++q)
        if (bytesTo[q] > bytesTo[best] && freeAt(q, v) && holds(v, q))
          best = q;
      if (best == proc[v])
        continue;
      auto &from = on[proc[v]];
      from.erase(std::find(from.begin(), from.end(), v));
      on[best].push_back(v);
      proc[v] = best;
      moved = true;
    }
    if (!moved)
      break;
  }
}

/// Whether the transfers of a placement fit on the links at period T (each
/// channel one transfer at a time, modulo T; Links.h).
static bool linksFit(const TrainingDFG &dfg, const Prepared &P,
                     const MachineDesc &machine, unsigned procs, double T,
                     const std::vector<double> &start,
                     const std::vector<unsigned> &proc,
                     std::vector<double> &linkStart) {
  std::vector<LinkRequest> requests;
  std::vector<size_t> requestOf(dfg.edges.size(), SIZE_MAX);
  // One transfer per tensor and destination processor.
  std::map<std::tuple<unsigned, unsigned, int64_t>, size_t> request;
  for (unsigned e = 0; e < dfg.edges.size(); ++e) {
    const Edge &edge = dfg.edges[e];
    if (proc[edge.src] == proc[edge.dst])
      continue;
    double latest = start[edge.dst] + edge.delay * T - P.transfer[e];
    auto [it, added] = request.try_emplace(
        {edge.src, proc[edge.dst], edge.bytes}, requests.size());
    requestOf[e] = it->second;
    if (!added) {
      requests[it->second].latest =
          std::min(requests[it->second].latest, latest);
      continue;
    }
    requests.push_back({proc[edge.src], proc[edge.dst],
                        start[edge.src] + P.time[edge.src], latest,
                        P.occupy[e]});
  }
  std::vector<double> slots;
  if (!placeTransfers(machine.linkTopology, procs, T, requests, slots))
    return false;
  linkStart.assign(dfg.edges.size(), -1);
  for (unsigned e = 0; e < dfg.edges.size(); ++e)
    if (requestOf[e] != SIZE_MAX)
      linkStart[e] = slots[requestOf[e]];
  return true;
}

/// Everything on one processor in list order: always valid once T >= work.
static void sequential(const Prepared &P, std::vector<double> &start,
                       std::vector<unsigned> &proc) {
  start.assign(P.time.size(), 0);
  proc.assign(P.time.size(), 0);
  double t = 0;
  for (unsigned v : P.order) {
    start[v] = t;
    t += P.time[v];
  }
}

Expected<ModuloResult> scheduleModulo(const TrainingDFG &dfg, unsigned procs,
                                      const MachineDesc &machine,
                                      double iterationBound,
                                      const std::vector<int> &pinned,
                                      double maxPeriod, double searchEffort,
                                      int64_t maxBytes) {
  if (procs == 0)
    return createStringError(inconvertibleErrorCode(),
                             "cannot schedule on 0 processors");
  if (dfg.tasks.empty())
    return createStringError(inconvertibleErrorCode(),
                             "cannot schedule an empty DFG");
  for (const Edge &edge : dfg.edges)
    if (edge.delay < 0)
      return createStringError(
          inconvertibleErrorCode(), "edge '%s' -> '%s' has delay %lld < 0",
          dfg.tasks[edge.src].name.c_str(), dfg.tasks[edge.dst].name.c_str(),
          static_cast<long long>(edge.delay));
  for (unsigned v = 0; v < pinned.size(); ++v)
    if (pinned[v] >= int(procs))
      return createStringError(inconvertibleErrorCode(),
                               "task '%s' is pinned to P%d of %u processors",
                               dfg.tasks[v].name.c_str(), pinned[v], procs);
  Expected<Prepared> prepared = prepare(dfg, machine);
  if (!prepared)
    return prepared.takeError();
  const Prepared &P = *prepared;

  double work = 0, largest = 0;
  std::vector<double> pinnedLoad(procs, 0);
  for (unsigned v = 0; v < P.time.size(); ++v) {
    work += P.time[v];
    largest = std::max(largest, P.time[v]);
    if (!pinned.empty() && pinned[v] >= 0)
      pinnedLoad[pinned[v]] += P.time[v];
  }
  ModuloResult result;
  result.lowerBound =
      std::max({iterationBound, work / procs, largest,
                *std::max_element(pinnedLoad.begin(), pinnedLoad.end())});
  if (!(result.lowerBound > 0))
    result.lowerBound = 1e-3; // only zero-time tasks

  std::vector<double> start, bestStart, trial;
  std::vector<double> link, bestLink, trialLink;
  std::vector<unsigned> proc, bestProc, trialProc;
  const LinkTopology topology = machine.linkTopology;
  // Large graphs afford one list variant per period. Small ones try them
  // all, plus the affine variant with whole zero-delay clusters pinned
  // (bin-packed by load), and keep the feasible placement that sends the
  // fewest bytes between processors.
  bool small = dfg.tasks.size() <= 5000;
  std::vector<unsigned> cluster;
  if (small && pinned.empty())
    cluster = zeroDelayClusters(dfg);
  auto tryVariants = [&](double period) {
    int64_t fewest = -1;
    auto keep = [&]() {
      int64_t bytes = crossBytes(dfg, trialProc);
      if (maxBytes >= 0 && bytes > maxBytes)
        return;
      if (fewest < 0 || bytes < fewest) {
        fewest = bytes;
        start = trial;
        proc = trialProc;
        link = trialLink;
      }
    };
    for (Variant variant :
         {Variant::DeadlineEarliest, Variant::DeadlineAffine,
          Variant::DeadlineBalanced, Variant::SkeletonEarliest,
          Variant::DeadlineLocal}) {
      if (attempt(dfg, P, procs, topology, pinned, period, variant, {}, trial,
                  trialProc, trialLink))
        keep();
      if (!small)
        return fewest >= 0;
    }
    for (Skeleton skeleton : {Skeleton::Delayed, Skeleton::All})
      if (attempt(dfg, P, procs, topology, pinned, period,
                  Variant::DeadlineAffine, paidEdges(dfg, skeleton, pinned),
                  trial, trialProc, trialLink))
        keep();
    if (!cluster.empty()) {
      for (const std::vector<int> &packed :
           {packClusters(P, cluster, procs, period),
            packLayers(dfg, P, procs, period)})
        for (Variant variant :
             {Variant::DeadlineAffine, Variant::SkeletonEarliest})
          if (attempt(dfg, P, procs, topology, packed, period, variant,
                      paidEdges(dfg, Skeleton::Pinned, packed), trial,
                      trialProc, trialLink))
            keep();
    }
    return fewest >= 0;
  };
  double T = result.lowerBound, failed = 0, found = 0;
  // Geometric search upward, 1% at a time, then faster.
  for (unsigned k = 0; k < 80 && found == 0; ++k) {
    if (maxPeriod > 0 && T > maxPeriod)
      return createStringError(inconvertibleErrorCode(),
                               "no periodic schedule found up to period %.1f "
                               "(lower bound %.1f)",
                               maxPeriod, result.lowerBound);
    ++result.attempts;
    if (tryVariants(T)) {
      found = T;
      bestStart = start;
      bestProc = proc;
      bestLink = link;
      break;
    }
    failed = T;
    T *= k < 20 ? 1.01 : k < 40 ? 1.05 : 1.25;
  }
  if (found == 0 && !pinned.empty()) {
    // The search grows T about 24,000-fold; transfers far above a tiny lower
    // bound (task times of 1e-300 us, links of microseconds) lie beyond it.
    // A period of all work plus all transfers is one last try.
    double everything = work;
    for (double t : P.transfer)
      everything += t;
    if (everything > T && (maxPeriod <= 0 || everything <= maxPeriod)) {
      ++result.attempts;
      if (tryVariants(everything)) {
        found = everything;
        bestStart = start;
        bestProc = proc;
        bestLink = link;
      }
    }
  }
  if (found == 0) {
    // Pinned processors aside, one processor running the list order works.
    if (!pinned.empty())
      return createStringError(inconvertibleErrorCode(),
                               "no periodic schedule found up to period %.1f "
                               "(lower bound %.1f)",
                               T, result.lowerBound);
    found = std::max(T, work);
    sequential(P, bestStart, bestProc);
    bestLink.assign(dfg.edges.size(), -1);
  } else if (failed > 0) {
    // Bisect between the last failure and the success.
    for (unsigned k = 0; k < 3; ++k) {
      double mid = 0.5 * (failed + found);
      ++result.attempts;
      if (tryVariants(mid)) {
        found = mid;
        bestStart = start;
        bestProc = proc;
        bestLink = link;
      } else {
        failed = mid;
      }
    }
  }

  if (pinned.empty() && dfg.tasks.size() <= SmallSearchMaxTasks && searchEffort > 0) {
    // Small graphs: randomised tries of the same attempt below the period
    // found (SmallSearch.h), bounded and seeded.
    auto tryAt = [&](double period, std::mt19937_64 &rng,
                     const std::vector<int> &pin, std::vector<double> &s,
                     std::vector<unsigned> &p, std::vector<double> &l) {
      static const Variant variants[] = {
          Variant::DeadlineEarliest, Variant::DeadlineAffine,
          Variant::DeadlineBalanced, Variant::SkeletonEarliest,
          Variant::DeadlineLocal};
      static const double spreads[] = {0, 0.05, 0.2, 0.5};
      static const double picks[] = {0, 0.1, 0.3};
      Variant variant = variants[rng() % 5];
      SearchNoise noise;
      noise.rng = &rng;
      noise.keySpread = spreads[rng() % 4];
      noise.pickOther = picks[rng() % 3];
      noise.linkLag = picks[rng() % 3];
      noise.taskLag = picks[rng() % 3];
      unsigned skeleton = rng() % 3;
      std::vector<bool> paid;
      if (skeleton > 0)
        paid = paidEdges(dfg,
                         !pin.empty()    ? Skeleton::Pinned
                         : skeleton == 1 ? Skeleton::Delayed
                                         : Skeleton::All,
                         pin);
      return attempt(dfg, P, procs, topology, pin, period, variant, paid, s,
                     p, l, &noise) &&
             (maxBytes < 0 || crossBytes(dfg, p) <= maxBytes);
    };
    searchSmallPeriod(dfg, procs, topology, P.transfer, P.occupy,
                      result.lowerBound, found, bestStart,
                      bestProc, bestLink, tryAt, searchEffort);
  }

  if (small && pinned.empty()) {
    // Moving tasks next to their data changes which edges cross: kept only
    // if the transfers then still fit on the links.
    std::vector<unsigned> moved = bestProc;
    localizeTasks(dfg, P, procs, found, bestStart, moved);
    std::vector<double> movedLink;
    if (moved != bestProc &&
        (maxBytes < 0 || crossBytes(dfg, moved) <= maxBytes) &&
        linksFit(dfg, P, machine, procs, found, bestStart, moved, movedLink)) {
      bestProc = std::move(moved);
      bestLink = std::move(movedLink);
    }
  }

  result.schedule = makePeriodicSchedule(dfg, machine, procs, found,
                                         bestStart, bestProc, bestLink);
  return result;
}

Schedule makePeriodicSchedule(const TrainingDFG &dfg,
                              const MachineDesc &machine, unsigned procs,
                              double period, ArrayRef<double> start,
                              ArrayRef<unsigned> proc,
                              ArrayRef<double> linkStart) {
  Schedule S;
  S.periodic = true;
  S.procs = procs;
  S.period = period;
  S.topology = machine.linkTopology;
  double shift = *std::min_element(start.begin(), start.end());
  S.tasks.reserve(dfg.tasks.size());
  S.deps.reserve(dfg.edges.size());
  for (unsigned v = 0; v < dfg.tasks.size(); ++v) {
    const Task &task = dfg.tasks[v];
    ScheduledTask st;
    st.name = task.name;
    st.kind = task.kind;
    st.layer = task.layer;
    st.proc = proc[v];
    st.start = start[v] - shift;
    st.duration = task.timeUs;
    S.tasks.push_back(std::move(st));
  }
  for (unsigned e = 0; e < dfg.edges.size(); ++e) {
    const Edge &edge = dfg.edges[e];
    double x = e < linkStart.size() && linkStart[e] >= 0
                   ? linkStart[e] - shift
                   : -1.0;
    S.deps.push_back({edge.src, edge.dst, edge.delay, edge.bytes,
                      machine.transferTimeUs(double(edge.bytes)), x,
                      edge.bytes > 0
                          ? double(edge.bytes) / machine.linkBandwidth * 1e6
                          : 0.0});
  }
  return S;
}

} // namespace layerpipe
