//===- IterationBound.cpp - Maximum cycle ratio of a DFG ------------------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// The iteration bound is the maximum over cycles of (task times) / (delays).
// Zero-delay cycles are searched first (they are deadlocks, and they would
// make the ratio infinite). The ratio itself comes from Boost.Graph's
// maximum_cycle_ratio (Howard's policy iteration) run on the tasks that lie on
// some cycle; the bound reported is recomputed exactly from the critical cycle
// Boost returns.
//
//===----------------------------------------------------------------------===//

#include "layerpipe/IterationBound.h"
#include "layerpipe/GraphWalks.h"

#include <boost/graph/adjacency_list.hpp>
#include <boost/graph/howard_cycle_ratio.hpp>

#include <algorithm>
#include <cassert>
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

Expected<IterationBound> computeIterationBound(const TrainingDFG &dfg) {
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

  CycleGraph graph(taskOf.size());
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

} // namespace layerpipe
