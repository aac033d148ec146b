//===- MinMemoryRetiming.cpp - Minimum-memory retiming by min-cost flow ---===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// Minimizes the bytes held in pipeline registers, sum over tensors of
// bytes * registers, subject to legality and a clock-period bound. Tensors
// read by several tasks (one activation, several consumers) share their
// registers; Leiserson and Saxe's mirror vertex models that sharing: the
// fanout's edges and the mirror's edges each cost bytes/k, and the mirror
// forces their sum to bytes * (largest delay). Everything is a difference
// constraint, so the LP's dual is an uncapacitated min-cost flow, solved with
// Boost's successive shortest paths after shifting the costs by a feasible
// retiming; the optimal lags are the potentials of the final residual graph.
//
//===----------------------------------------------------------------------===//

#include "layerpipe/Transforms/Retiming.h"

#include "layerpipe/GraphWalks.h"
#include "RetimingConstraints.h"

#include <boost/graph/adjacency_list.hpp>
#include <boost/graph/successive_shortest_path_nonnegative_weights.hpp>

#include <algorithm>
#include <numeric>

using namespace llvm;

namespace layerpipe {

using namespace detail;

namespace {
using FlowTraits =
    boost::adjacency_list_traits<boost::vecS, boost::vecS, boost::directedS>;
using FlowGraph = boost::adjacency_list<
    boost::vecS, boost::vecS, boost::directedS, boost::no_property,
    boost::property<
        boost::edge_capacity_t, int64_t,
        boost::property<
            boost::edge_residual_capacity_t, int64_t,
            boost::property<boost::edge_reverse_t, FlowTraits::edge_descriptor,
                            boost::property<boost::edge_weight_t, double>>>>>;
using FlowEdge = FlowTraits::edge_descriptor;

/// A flow network with paired reverse arcs, as Boost's flow algorithms need.
struct FlowNetwork {
  FlowGraph g;
  explicit FlowNetwork(size_t n) : g(n) {}
  FlowEdge addArc(unsigned from, unsigned to, int64_t capacity, double cost) {
    FlowEdge e = boost::add_edge(from, to, g).first;
    FlowEdge rev = boost::add_edge(to, from, g).first;
    boost::put(boost::edge_capacity, g, e, capacity);
    boost::put(boost::edge_capacity, g, rev, 0);
    boost::put(boost::edge_weight, g, e, cost);
    boost::put(boost::edge_weight, g, rev, -cost);
    boost::put(boost::edge_reverse, g, e, rev);
    boost::put(boost::edge_reverse, g, rev, e);
    return e;
  }
  int64_t flow(FlowEdge e) const {
    return boost::get(boost::edge_capacity, g, e) -
           boost::get(boost::edge_residual_capacity, g, e);
  }
};
} // namespace

Expected<RetimingResult> retimeMinMemory(const TrainingDFG &dfg,
                                         double periodBoundUs,
                                         ArrayRef<RegisterGroup> groups,
                                         ArrayRef<int64_t> start) {
  if (dfg.tasks.size() > kMaxGeneralRetimingTasks)
    return createStringError(
        inconvertibleErrorCode(),
        "minimum-memory retiming is limited to %zu tasks (the graph has %zu; "
        "use --retiming=stages)",
        kMaxGeneralRetimingTasks, dfg.tasks.size());
  if (Error err = checkRetimingLegal(dfg, start))
    return err;
  {
    TrainingDFG startGraph = dfg;
    applyRetiming(startGraph, start);
    Expected<double> p = computeClockPeriod(startGraph);
    if (!p)
      return p.takeError();
    if (!timeLE(*p, periodBoundUs))
      return createStringError(inconvertibleErrorCode(),
                               "the starting retiming has period %g us, above "
                               "the bound %g us",
                               *p, periodBoundUs);
  }
  const size_t n = dfg.tasks.size();

  // Variables: the tasks, then one mirror per shared tensor.
  int64_t scale = 1;
  for (const RegisterGroup &group : groups)
    if (group.edges.size() > 1)
      scale = std::lcm(scale, (int64_t)group.edges.size());
  std::vector<DifferenceConstraint> cs;
  std::vector<int64_t> coeff(n, 0); // objective coefficient of each lag
  Retiming r0(start.begin(), start.end());
  for (const RegisterGroup &group : groups) {
    int64_t k = group.edges.size();
    int64_t cost = group.bytes * scale / k;
    for (unsigned e : group.edges) {
      coeff[dfg.edges[e].dst] += cost;
      coeff[dfg.edges[e].src] -= cost;
    }
    if (k == 1)
      continue;
    unsigned mirror = coeff.size();
    coeff.push_back(0);
    int64_t wMax = 0;
    for (unsigned e : group.edges)
      wMax = std::max(wMax, dfg.edges[e].delay);
    int64_t lag = std::numeric_limits<int64_t>::min();
    for (unsigned e : group.edges) {
      const Edge &edge = dfg.edges[e];
      // Mirror edge dst -> mirror with wMax - w(e) delays.
      cs.push_back({edge.dst, mirror, wMax - edge.delay});
      coeff[mirror] += cost;
      coeff[edge.dst] -= cost;
      lag = std::max(lag, r0[edge.dst] - wMax + edge.delay);
    }
    r0.push_back(lag);
  }
  WDMatrices wd(dfg);
  for (const DifferenceConstraint &c : periodConstraints(dfg, wd, periodBoundUs))
    cs.push_back(c);
  const size_t numVars = coeff.size();

  // The dual: arc u -> v of cost k - r0(u) + r0(v) >= 0 per constraint
  // r(u) - r(v) <= k; node v must send out -coeff(v) units net.
  const unsigned source = numVars, sink = numVars + 1;
  FlowNetwork net(numVars + 2);
  int64_t totalSupply = 0;
  for (size_t v = 0; v < numVars; ++v)
    totalSupply += std::max<int64_t>(0, -coeff[v]);
  const int64_t unbounded = totalSupply + 1;
  double maxCost = 0;
  std::vector<FlowEdge> arcs;
  for (const DifferenceConstraint &c : cs) {
    int64_t reduced = c.bound - r0[c.u] + r0[c.v];
    assert(reduced >= 0 && "the start retiming satisfies every constraint");
    maxCost = std::max(maxCost, (double)reduced);
    arcs.push_back(net.addArc(c.u, c.v, unbounded, reduced));
  }
  std::vector<FlowEdge> supplyArcs, artificial;
  for (size_t v = 0; v < numVars; ++v) {
    if (coeff[v] < 0)
      supplyArcs.push_back(net.addArc(source, v, -coeff[v], 0));
    else if (coeff[v] > 0)
      net.addArc(v, sink, coeff[v], 0);
  }
  // Arcs too expensive to carry flow in an optimum; they keep every node
  // reachable, so the potentials of the shortest-path search stay finite.
  const double prohibitive = (maxCost + 1) * (numVars + 2) * 2;
  for (size_t v = 0; v < numVars; ++v)
    artificial.push_back(net.addArc(source, v, unbounded, prohibitive));

  std::vector<FlowEdge> pred(numVars + 2);
  std::vector<double> dist(numVars + 2), distPrev(numVars + 2);
  boost::successive_shortest_path_nonnegative_weights(
      net.g, source, sink,
      boost::predecessor_map(pred.data())
          .distance_map(dist.data())
          .distance_map2(distPrev.data()));
  for (FlowEdge e : supplyArcs)
    if (net.flow(e) != boost::get(boost::edge_capacity, net.g, e))
      return createStringError(inconvertibleErrorCode(),
                               "internal error: minimum-memory flow left a "
                               "supply unrouted");
  for (FlowEdge e : artificial)
    if (net.flow(e) != 0)
      return createStringError(inconvertibleErrorCode(),
                               "internal error: minimum-memory flow used an "
                               "artificial arc");

  // Complementary slackness: keep every constraint, make those that carry
  // flow tight; any solution of that system is an optimal retiming.
  std::vector<DifferenceConstraint> dual;
  for (size_t i = 0; i < cs.size(); ++i) {
    int64_t reduced = cs[i].bound - r0[cs[i].u] + r0[cs[i].v];
    dual.push_back({cs[i].u, cs[i].v, reduced});
    if (net.flow(arcs[i]) > 0)
      dual.push_back({cs[i].v, cs[i].u, -reduced});
  }
  auto rho = solveDifferenceConstraints(numVars, dual);
  if (!rho)
    return createStringError(inconvertibleErrorCode(),
                             "internal error: minimum-memory flow is not "
                             "optimal (negative residual cycle)");
  RetimingResult result;
  result.r.resize(n);
  for (size_t v = 0; v < n; ++v)
    result.r[v] = r0[v] + (*rho)[v];
  int64_t minLag = *std::min_element(result.r.begin(), result.r.end());
  for (int64_t &lag : result.r)
    lag -= minLag;
  TrainingDFG retimed = dfg;
  if (Error err = checkRetimingLegal(dfg, result.r))
    return err;
  applyRetiming(retimed, result.r);
  Expected<double> period = computeClockPeriod(retimed);
  if (!period)
    return period.takeError();
  assert(timeLE(*period, periodBoundUs) && "flow retiming meets the bound");
  result.periodUs = *period;
  return result;
}

} // namespace layerpipe
