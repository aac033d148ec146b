//===- IterationBound.cpp - Maximum cycle ratio of a DFG ------------------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// The iteration bound is the maximum over cycles of (task times) / (delays).
// Zero-delay cycles are searched first (they are deadlocks, and they would
// make the ratio infinite). The ratio itself comes from Howard's policy
// iteration on compressed arrays (linear work per iteration), run on the
// tasks that lie on some cycle, with Boost.Graph's maximum_cycle_ratio as the
// fallback should it not settle; the bound reported is recomputed exactly
// from the critical cycle found.
//
//===----------------------------------------------------------------------===//

#include "layerpipe/IterationBound.h"
#include "layerpipe/GraphWalks.h"

#include <boost/graph/adjacency_list.hpp>
#include <boost/graph/howard_cycle_ratio.hpp>

#include <algorithm>
#include <cassert>
#include <cmath>
#include <limits>
#include <string>

using namespace llvm;

namespace layerpipe {

SmallVector<unsigned, 16> findZeroDelayCycle(const TrainingDFG &dfg) {
  std::vector<GraphEdge> zeroDelay;
  for (const Edge &e : dfg.edges)
    if (e.delay == 0)
      zeroDelay.push_back({e.src, e.dst});
  SmallVector<unsigned, 16> tasks;
  for (unsigned e : findCycle(dfg.numTasks(), zeroDelay))
    tasks.push_back(zeroDelay[e].first);
  return tasks;
}

namespace {
/// Howard's comparisons use an absolute epsilon; Boost's default (0.005) is
/// far too coarse for times in microseconds summed over thousands of tasks.
/// Task times are scaled so that the largest is 1 before the search, and
/// this epsilon then bounds the error per edge of a cycle.
struct FineEpsilon {
  using value_type = double;
  static double infinity() { return std::numeric_limits<double>::infinity(); }
  static double epsilon() { return -1e-10; }
};

using CycleGraph = boost::adjacency_list<
    boost::vecS, boost::vecS, boost::directedS, boost::no_property,
    boost::property<boost::edge_weight_t, double,
                    boost::property<boost::edge_weight2_t, double,
                                    boost::property<boost::edge_index_t,
                                                    unsigned>>>>;
} // namespace

/// Rotates \p loop so that it starts at its smallest task index: the same
/// cycle always prints the same way.
static void canonicalizeLoop(SmallVectorImpl<unsigned> &loop) {
  auto smallest = std::min_element(loop.begin(), loop.end());
  std::rotate(loop.begin(), smallest, loop.end());
}

static std::string joinTaskNames(const TrainingDFG &dfg,
                                 ArrayRef<unsigned> loop) {
  std::string text;
  for (unsigned t : loop)
    text += dfg.tasks[t].name + " -> ";
  return text + dfg.tasks[loop.front()].name;
}

/// Boost.Graph's Howard on the tasks that lie on a cycle: the edges (indices
/// into dfg.edges) of a critical cycle; empty when it keeps none. Its
/// policy-cycle search clears a colour map of every vertex once per policy
/// cycle and iteration, which is quadratic on graphs with many loops (100,000
/// layers: seconds); kept as the fallback of howardMaxCycleRatio and as the
/// reference the unit tests compare it with.
static std::vector<unsigned>
boostMaxCycleRatio(const TrainingDFG &dfg, ArrayRef<unsigned> component,
                   const std::vector<bool> &onCycle,
                   ArrayRef<int> vertexOf, size_t numVertices, double scale) {
  CycleGraph graph(numVertices);
  for (unsigned i = 0, n = dfg.numEdges(); i < n; ++i) {
    const Edge &e = dfg.edges[i];
    if (component[e.src] != component[e.dst] || !onCycle[e.src])
      continue;
    // A cycle's time is the sum over its edges of the source task's time.
    auto added = boost::add_edge(vertexOf[e.src], vertexOf[e.dst], graph);
    boost::put(boost::edge_weight, graph, added.first,
               dfg.tasks[e.src].timeUs * scale);
    boost::put(boost::edge_weight2, graph, added.first,
               static_cast<double>(e.delay));
    boost::put(boost::edge_index, graph, added.first, i);
  }
  std::vector<boost::graph_traits<CycleGraph>::edge_descriptor> critical;
  boost::maximum_cycle_ratio(graph, boost::get(boost::vertex_index, graph),
                             boost::get(boost::edge_weight, graph),
                             boost::get(boost::edge_weight2, graph), &critical,
                             FineEpsilon());
  std::vector<unsigned> loopEdges;
  auto edgeIndex = boost::get(boost::edge_index, graph);
  for (const auto &e : critical)
    loopEdges.push_back(edgeIndex[e]);
  return loopEdges;
}

/// Howard's policy iteration for the maximum cycle ratio on compressed
/// adjacency arrays, every step linear in the graph: each vertex keeps one
/// out-edge (its policy); value determination walks the policy graph once
/// (each of its components holds one cycle, whose ratio every vertex of the
/// component takes, with potentials along the policy edges); improvement
/// first moves a vertex to a successor of larger ratio, else to a successor
/// whose potential beats its own. Only edges inside a strongly connected
/// component take part, so every vertex has an out-edge. Returns the edges
/// (indices into dfg.edges) of the best policy cycle, or empty if it did not
/// settle within its iteration limit (the caller then asks Boost).
static std::vector<unsigned>
howardMaxCycleRatio(const TrainingDFG &dfg, ArrayRef<unsigned> component,
                    const std::vector<bool> &onCycle, ArrayRef<int> vertexOf,
                    size_t numVertices, double scale) {
  const unsigned n = numVertices;
  // Out-edges by source vertex.
  std::vector<unsigned> first(n + 1, 0);
  for (const Edge &e : dfg.edges)
    if (component[e.src] == component[e.dst] && onCycle[e.src])
      ++first[vertexOf[e.src] + 1];
  for (unsigned v = 0; v < n; ++v)
    first[v + 1] += first[v];
  const unsigned m = first[n];
  std::vector<unsigned> target(m), edgeOf(m);
  std::vector<double> weight(m), delay(m);
  {
    std::vector<unsigned> next(first.begin(), first.end() - 1);
    for (unsigned i = 0, ne = dfg.numEdges(); i < ne; ++i) {
      const Edge &e = dfg.edges[i];
      if (component[e.src] != component[e.dst] || !onCycle[e.src])
        continue;
      unsigned k = next[vertexOf[e.src]]++;
      target[k] = vertexOf[e.dst];
      edgeOf[k] = i;
      weight[k] = dfg.tasks[e.src].timeUs * scale;
      delay[k] = static_cast<double>(e.delay);
    }
  }
  // In-edges by target vertex, as positions in the out-edge arrays.
  std::vector<unsigned> sourceOf(m), firstIn(n + 1, 0), inEdge(m);
  for (unsigned v = 0; v < n; ++v)
    for (unsigned k = first[v]; k < first[v + 1]; ++k) {
      sourceOf[k] = v;
      ++firstIn[target[k] + 1];
    }
  for (unsigned v = 0; v < n; ++v)
    firstIn[v + 1] += firstIn[v];
  {
    std::vector<unsigned> next(firstIn.begin(), firstIn.end() - 1);
    for (unsigned k = 0; k < m; ++k)
      inEdge[next[target[k]]++] = k;
  }
  // The first policy: each vertex's out-edge with the fewest delays (any
  // out-edge would do; few delays favour heavy cycles).
  std::vector<unsigned> policy(n);
  for (unsigned v = 0; v < n; ++v) {
    assert(first[v] < first[v + 1] && "a vertex on a cycle has an out-edge");
    unsigned best = first[v];
    for (unsigned k = first[v] + 1; k < first[v + 1]; ++k)
      if (delay[k] < delay[best])
        best = k;
    policy[v] = best;
  }

  std::vector<double> ratio(n), potential(n);
  // 0: not reached; otherwise the walk that reached the vertex, + 1.
  std::vector<unsigned> walkOf(n);
  std::vector<unsigned> path, queue;
  std::vector<char> reached(n);
  // The policy cycles of the last value determination: ratio and a vertex.
  std::vector<std::pair<double, unsigned>> cycles;
  // The policy cycle of the largest ratio: one of its vertices.
  unsigned bestCycle = 0;
  const unsigned maxIterations = 500;
  for (unsigned iteration = 0; iteration < maxIterations; ++iteration) {
    // Value determination.
    std::fill(walkOf.begin(), walkOf.end(), 0u);
    double bestRatio = -1;
    cycles.clear();
    for (unsigned start = 0, walk = 1; start < n; ++start) {
      if (walkOf[start])
        continue;
      path.clear();
      unsigned v = start;
      while (!walkOf[v]) {
        walkOf[v] = walk;
        path.push_back(v);
        v = target[policy[v]];
      }
      size_t tail = path.size();
      if (walkOf[v] == walk) {
        // A new policy cycle through v: its ratio, then potentials around
        // it with v at 0.
        double time = 0, delays = 0;
        unsigned u = v;
        do {
          time += weight[policy[u]];
          delays += delay[policy[u]];
          u = target[policy[u]];
        } while (u != v);
        assert(delays > 0 && "zero-delay cycles were rejected above");
        double r = time / delays;
        cycles.push_back({r, v});
        if (r > bestRatio) {
          bestRatio = r;
          bestCycle = v;
        }
        tail = std::find(path.begin(), path.end(), v) - path.begin();
        ratio[v] = r;
        potential[v] = 0;
        for (size_t i = path.size(); i-- > tail + 1;) {
          unsigned w = path[i], k = policy[w];
          ratio[w] = r;
          potential[w] = weight[k] - delay[k] * r + potential[target[k]];
        }
      }
      // The path into the component: back from its end.
      for (size_t i = tail; i-- > 0;) {
        unsigned w = path[i], k = policy[w];
        unsigned t = target[k];
        ratio[w] = ratio[t];
        potential[w] = weight[k] - delay[k] * ratio[t] + potential[t];
      }
      ++walk;
    }

    // Improvement, first of ratios: every vertex that can reach a policy
    // cycle of a larger ratio than its own moves to the best such cycle
    // (backward breadth-first search from the cycles, best first; one step
    // where local switches would take one iteration per edge of a chain).
    std::sort(cycles.begin(), cycles.end(),
              [](const std::pair<double, unsigned> &a,
                 const std::pair<double, unsigned> &b) {
                return a.first > b.first ||
                       (a.first == b.first && a.second < b.second);
              });
    std::fill(reached.begin(), reached.end(), 0);
    bool changed = false;
    for (const auto &[r, v] : cycles) {
      if (reached[v])
        continue;
      queue.clear();
      unsigned u = v;
      do {
        if (!reached[u]) {
          reached[u] = 1;
          queue.push_back(u);
        }
        u = target[policy[u]];
      } while (u != v);
      for (size_t head = 0; head < queue.size(); ++head) {
        unsigned x = queue[head];
        for (unsigned j = firstIn[x]; j < firstIn[x + 1]; ++j) {
          unsigned k = inEdge[j], w = sourceOf[k];
          if (reached[w])
            continue;
          reached[w] = 1;
          queue.push_back(w);
          if (r > ratio[w] + 1e-12 * (1 + std::abs(ratio[w]))) {
            policy[w] = k;
            changed = true;
          }
        }
      }
    }
    if (changed)
      continue;
    // Then, among successors of the same ratio, a larger potential.
    for (unsigned v = 0; v < n; ++v) {
      double r = ratio[v];
      double best = potential[v] + 1e-10 * (1 + std::abs(potential[v]));
      unsigned choice = policy[v];
      for (unsigned k = first[v]; k < first[v + 1]; ++k) {
        unsigned t = target[k];
        if (std::abs(ratio[t] - r) > 1e-12 * (1 + std::abs(r)))
          continue;
        double value = weight[k] - delay[k] * r + potential[t];
        if (value > best) {
          best = value;
          choice = k;
        }
      }
      if (choice != policy[v]) {
        policy[v] = choice;
        changed = true;
      }
    }
    if (changed)
      continue;
    std::vector<unsigned> loopEdges;
    unsigned u = bestCycle;
    do {
      loopEdges.push_back(edgeOf[policy[u]]);
      u = target[policy[u]];
    } while (u != bestCycle);
    return loopEdges;
  }
  return {};
}

static Expected<IterationBound> computeBound(const TrainingDFG &dfg,
                                            bool boostOnly) {
  if (Error err = verifyDFG(dfg))
    return err;
  SmallVector<unsigned, 16> deadlock = findZeroDelayCycle(dfg);
  if (!deadlock.empty()) {
    canonicalizeLoop(deadlock);
    return createStringError(inconvertibleErrorCode(),
                             "deadlock: cycle without delays: %s",
                             joinTaskNames(dfg, deadlock).c_str());
  }

  // Only tasks inside a strongly connected component with a cycle matter;
  // dropping the rest keeps Howard's policy graph small.
  std::vector<GraphEdge> all;
  all.reserve(dfg.numEdges());
  for (const Edge &e : dfg.edges)
    all.push_back({e.src, e.dst});
  std::vector<unsigned> component =
      stronglyConnectedComponents(dfg.numTasks(), all);
  std::vector<unsigned> componentSize(dfg.numTasks() + 1, 0);
  for (unsigned c : component)
    ++componentSize[c];
  std::vector<bool> onCycle(dfg.numTasks(), false);
  for (const Edge &e : dfg.edges)
    if (component[e.src] == component[e.dst] &&
        (e.src == e.dst || componentSize[component[e.src]] > 1))
      onCycle[e.src] = true;

  std::vector<int> vertexOf(dfg.numTasks(), -1);
  std::vector<unsigned> taskOf;
  for (unsigned t = 0, n = dfg.numTasks(); t < n; ++t)
    if (onCycle[t]) {
      vertexOf[t] = taskOf.size();
      taskOf.push_back(t);
    }
  IterationBound result;
  if (taskOf.empty())
    return result;

  double maxTime = 0;
  for (unsigned t : taskOf)
    maxTime = std::max(maxTime, dfg.tasks[t].timeUs);
  const double scale = maxTime > 0 ? 1.0 / maxTime : 1.0;

  std::vector<unsigned> loopEdges;
  if (maxTime > 0 && !boostOnly)
    loopEdges = howardMaxCycleRatio(dfg, component, onCycle, vertexOf,
                                    taskOf.size(), scale);
  if (loopEdges.empty() && maxTime > 0)
    loopEdges = boostMaxCycleRatio(dfg, component, onCycle, vertexOf,
                                   taskOf.size(), scale);
  // Boost keeps a cycle only if its ratio beats a negative lower bound that
  // degenerates to 0 when every time on a cycle is 0; then every cycle is
  // critical (ratio 0) and any one will do.
  if (loopEdges.empty()) {
    assert(maxTime == 0 && "Howard found no critical cycle");
    loopEdges = findCycle(dfg.numTasks(), all);
  }
  for (unsigned i : loopEdges) {
    const Edge &edge = dfg.edges[i];
    result.criticalLoop.push_back(edge.src);
    result.loopTimeUs += dfg.tasks[edge.src].timeUs;
    result.loopDelays += edge.delay;
  }
  assert(result.loopDelays > 0 && "zero-delay cycles were rejected above");
  result.boundUs = result.loopTimeUs / static_cast<double>(result.loopDelays);
  canonicalizeLoop(result.criticalLoop);
  return result;
}

Expected<IterationBound> computeIterationBound(const TrainingDFG &dfg) {
  return computeBound(dfg, /*boostOnly=*/false);
}

Expected<IterationBound> computeIterationBoundWithBoost(const TrainingDFG &dfg) {
  return computeBound(dfg, /*boostOnly=*/true);
}

} // namespace layerpipe
