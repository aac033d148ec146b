//===- Exact.cpp - Optimal periodic schedules with CBC --------------------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// For a fixed period T the periodic scheduling problem is a mixed-integer
// feasibility problem (docs/scheduling.md, "Exact scheduling"): each task
// starts at T * k(v) + o(v) with an integer k(v) and an offset o(v) in
// [0, T]; binaries place it on a processor; two tasks on one processor are
// apart modulo T (one binary chooses which comes first within the period);
// each tensor sent to another processor holds the link channels of the
// machine's topology for its bytes over the bandwidth, in a slot of its own
// modulo T, after its producer ends and early enough for every consumer on
// that processor. Feasibility is monotone in T (stretching a schedule by
// T' / T keeps every constraint), so a bisection between the lower bound
// and the list scheduler's period finds the optimum; every infeasible T
// CBC proves raises the bound.
//
// The model is written in CPLEX LP format and solved by the `cbc` program
// in a process of its own (the library links no solver), under a time limit
// per call and a watchdog that kills it.
//
//===----------------------------------------------------------------------===//

#include "layerpipe/ExactSchedule.h"

#include "Links.h"
#include "ScheduleInternal.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <map>
#include <sstream>
#include <unordered_map>

using namespace llvm;

namespace layerpipe {

Expected<std::string> findCbc() {
  if (const char *env = std::getenv("LAYERPIPE_CBC")) {
    if (sys::fs::can_execute(env))
      return std::string(env);
    return createStringError(inconvertibleErrorCode(),
                             "LAYERPIPE_CBC=%s is not an executable program",
                             env);
  }
  ErrorOr<std::string> path = sys::findProgramByName("cbc");
  if (!path)
    return createStringError(
        inconvertibleErrorCode(),
        "--scheduler=exact needs the CBC solver: no 'cbc' program on PATH "
        "(install Debian's coinor-cbc, or set LAYERPIPE_CBC to its path)");
  return *path;
}

namespace {

using Values = std::unordered_map<std::string, double>;

/// Writes the model in CPLEX LP format, in one of two modes:
///  - at a fixed period T: a feasibility MILP;
///  - "polish": every integer variable fixed to its value in a MILP
///    solution (\p fixed), the period a variable "T" <= the MILP's T to
///    minimise: an LP, since T * k(v) is then T times a constant.
/// Rows are built term by term; periodTerm and periodTimes are the terms
/// that carry the period.
class LpWriter {
public:
  LpWriter(double T, const Values *fixed) : T(T), fixed(fixed) {}
  bool polishing() const { return fixed != nullptr; }
  void term(double coef, const std::string &var) {
    if (coef == 0)
      return;
    line << (coef < 0 ? " - " : " + ") << num(std::abs(coef)) << " " << var;
    if (++terms % 6 == 0)
      line << "\n ";
  }
  /// c * T on the left-hand side.
  void periodTerm(double c) {
    if (polishing())
      periodCoef += c; // one term per row (cbc refuses duplicates)
    else
      constant += c * T;
  }
  /// c * T * k for an integer variable k.
  void periodTimes(double c, const std::string &k) {
    if (polishing())
      periodTerm(c * std::round(value(k)));
    else
      term(c * T, k);
  }
  void row(const char *sense, double rhs) {
    if (periodCoef != 0)
      term(periodCoef, "T");
    periodCoef = 0;
    if (terms == 0) {
      // Only the period: 0 (sense) rhs - constant, decided here.
      double r = rhs - constant, tol = 1e-9 * std::max(1.0, T);
      bool holds = sense[0] == '<'   ? 0 <= r + tol
                   : sense[0] == '>' ? 0 >= r - tol
                                     : std::abs(r) <= tol;
      impossible |= !holds;
      constant = 0;
      return;
    }
    rows << " r" << count++ << ":" << line.str() << " " << sense << " "
         << num(rhs - constant) << "\n";
    line.str("");
    terms = 0;
    constant = 0;
  }
  /// An offset within the period: [0, T].
  void offset(const std::string &var, bool zero = false) {
    if (zero) {
      bound(var, 0, 0);
      return;
    }
    if (!polishing()) {
      bound(var, 0, T);
      return;
    }
    // With every order fixed the rows hold modulo T wherever the offsets
    // lie: free offsets let the period shrink past a boundary.
    bounds << " " << var << " free\n";
  }
  /// An integer that only multiplies the period (k, h): substituted when
  /// polishing.
  void periodInteger(const std::string &var, double lo, double hi) {
    if (polishing())
      return;
    bound(var, lo, hi);
    generals << " " << var << "\n";
  }
  void binary(const std::string &var, double lo = 0, double hi = 1) {
    if (polishing()) {
      double v = std::round(value(var));
      bound(var, v, v);
      return;
    }
    bound(var, lo, hi);
    binaries << " " << var << "\n";
  }
  void continuous(const std::string &var, double lo, double hi) {
    bound(var, lo, hi);
  }
  std::string text(double lowest) const {
    std::string head = polishing() ? "Minimize\n obj: T\nSubject To\n"
                                   : "Minimize\n obj: 0 a0_0\nSubject To\n";
    std::string tail =
        polishing() ? " " + num(lowest) + " <= T <= " + num(T) + "\n" : "";
    return head + rows.str() + "Bounds\n" + bounds.str() + tail + "General\n" +
           generals.str() + "Binary\n" + binaries.str() + "End\n";
  }
  size_t rowCount() const { return count; }
  /// A row without variables that does not hold (T is infeasible).
  bool infeasible() const { return impossible; }

private:
  double value(const std::string &var) const {
    auto it = fixed->find(var);
    return it == fixed->end() ? 0.0 : it->second;
  }
  void bound(const std::string &var, double lo, double hi) {
    bounds << " " << num(lo) << " <= " << var << " <= " << num(hi) << "\n";
  }
  static std::string num(double x) {
    char buf[40];
    std::snprintf(buf, sizeof(buf), "%.17g", x);
    return buf;
  }
  double T;
  const Values *fixed;
  std::ostringstream line, rows, bounds, generals, binaries;
  size_t count = 0;
  unsigned terms = 0;
  double constant = 0, periodCoef = 0;
  bool impossible = false;
};

/// A tensor that task `src` sends (the edges of one producer carrying the
/// same bytes share one transfer per destination processor, as in
/// Links.h).
struct TransferGroup {
  unsigned src = 0;
  double occupy = 0;           ///< link channel time
  std::vector<unsigned> edges; ///< into the DFG
};

/// One possible transfer: group g to processor q.
struct Transfer {
  unsigned group = 0, to = 0;
};

enum class Outcome { Feasible, Infeasible, Unknown };

/// The problem at every T: what does not depend on the period.
struct Problem {
  Problem(const TrainingDFG &dfg, const MachineDesc &machine)
      : dfg(dfg), machine(machine) {}
  const TrainingDFG &dfg;
  const MachineDesc &machine;
  unsigned procs = 1;      ///< processors of the schedule
  unsigned modelProcs = 1; ///< processors in the model (<= tasks)
  std::vector<int> pinned;
  std::vector<double> transfer, occupy; ///< per edge
  std::vector<TransferGroup> groups;
  std::vector<int> groupOfEdge; ///< -1: no link slot
  /// Elementary cycles of the DFG (edge lists) with at least one delay
  /// and one edge that carries a transfer, up to a budget.
  std::vector<std::vector<unsigned>> cycles;
};

} // namespace

static std::string name(const char *prefix, unsigned a) {
  return prefix + std::to_string(a);
}
static std::string name(const char *prefix, unsigned a, unsigned b) {
  return prefix + std::to_string(a) + "_" + std::to_string(b);
}

/// Four rows keeping intervals [x1, x1 + d1) and [x2, x2 + d2) apart modulo
/// T (offsets x1, x2 in [0, T]); binary `order` = 1 puts x1 first. Each of
/// \p conditions (0/1 variables) must be 1 for the rows to bind. \p M
/// bounds the offsets' difference plus a duration.
static void noOverlap(LpWriter &lp, double M, const std::string &x1,
                      const std::string &x2, double d1, double d2,
                      const std::string &order,
                      const std::vector<std::string> &conditions) {
  double n = double(conditions.size());
  // order = 1: x2 - x1 in [d1, T - d2].
  lp.term(1, x2), lp.term(-1, x1), lp.term(-M, order);
  for (const std::string &c : conditions)
    lp.term(-M, c);
  lp.row(">=", d1 - M - n * M);
  lp.term(1, x2), lp.term(-1, x1), lp.term(M, order);
  for (const std::string &c : conditions)
    lp.term(M, c);
  lp.periodTerm(-1);
  lp.row("<=", -d2 + M + n * M);
  // order = 0: x1 - x2 in [d2, T - d1].
  lp.term(1, x1), lp.term(-1, x2), lp.term(M, order);
  for (const std::string &c : conditions)
    lp.term(-M, c);
  lp.row(">=", d2 - n * M);
  lp.term(1, x1), lp.term(-1, x2), lp.term(-M, order);
  for (const std::string &c : conditions)
    lp.term(M, c);
  lp.periodTerm(-1);
  lp.row("<=", -d1 + n * M);
}

/// The smallest period any schedule can have without solving: the largest
/// task and each self-loop's time over its delays.
static double trivialBound(const Problem &P) {
  double lowest = 0;
  for (const Task &task : P.dfg.tasks)
    lowest = std::max(lowest, task.timeUs);
  for (const Edge &edge : P.dfg.edges)
    if (edge.src == edge.dst)
      lowest = std::max(lowest, edge.delay > 0
                                    ? P.dfg.tasks[edge.src].timeUs / edge.delay
                                    : std::numeric_limits<double>::infinity());
  return lowest;
}

/// Elementary cycles through edges with transfers (the others are in the
/// iteration bound already), by depth-first search from each task over
/// higher-numbered tasks, until \p budget cycles or steps.
static void findCycles(Problem &P, size_t budget) {
  const TrainingDFG &dfg = P.dfg;
  unsigned n = dfg.tasks.size();
  std::vector<std::vector<unsigned>> out(n);
  for (unsigned e = 0; e < dfg.edges.size(); ++e)
    if (dfg.edges[e].src != dfg.edges[e].dst)
      out[dfg.edges[e].src].push_back(e);
  size_t steps = 0;
  std::vector<unsigned> path;
  std::vector<bool> onPath(n, false);
  std::function<void(unsigned, unsigned)> visit = [&](unsigned start,
                                                      unsigned v) {
    for (unsigned e : out[v]) {
      if (P.cycles.size() >= budget || ++steps > 50 * budget)
        return;
      unsigned w = dfg.edges[e].dst;
      if (w < start || onPath[w])
        continue;
      path.push_back(e);
      if (w == start) {
        int64_t delay = 0;
        bool paid = false;
        for (unsigned f : path) {
          delay += dfg.edges[f].delay;
          paid |= P.transfer[f] > 0;
        }
        if (delay > 0 && paid)
          P.cycles.push_back(path);
      } else {
        onPath[w] = true;
        visit(start, w);
        onPath[w] = false;
      }
      path.pop_back();
    }
  };
  for (unsigned s = 0; s < n; ++s) {
    onPath[s] = true;
    visit(s, s);
    onPath[s] = false;
  }
}

/// The model at period T (at most T when polishing). \p transfers receives
/// the transfer variables it creates. With \p loadsOnly, only the
/// placement and the loads it puts on processors and link channels: a
/// relaxation (no times), whose infeasibility proves T infeasible, and that
/// CBC decides much faster when packing is what binds.
static void writeModel(const Problem &P, double T, LpWriter &lp,
                       std::vector<Transfer> &transfers,
                       bool loadsOnly = false) {
  const TrainingDFG &dfg = P.dfg;
  const unsigned n = dfg.tasks.size(), Q = P.modelProcs;
  const double eps = 1e-9 * std::max(1.0, T);
  double sum = 0, longest = 0;
  std::vector<double> maxOut(n, 0);
  for (unsigned v = 0; v < n; ++v) {
    sum += dfg.tasks[v].timeUs;
    longest = std::max(longest, dfg.tasks[v].timeUs);
  }
  for (unsigned e = 0; e < dfg.edges.size(); ++e)
    maxOut[dfg.edges[e].src] =
        std::max(maxOut[dfg.edges[e].src], P.transfer[e]);
  for (double c : maxOut)
    sum += c;
  // Iteration spans: normalised, a schedule's k(v) is a longest path of at
  // most 3 + (t + transfer) / T per task (docs/scheduling.md); task 0 has
  // k = 0 and offset 0 (shifting every time by one amount changes nothing).
  const double K = 3.0 * n + std::ceil(sum / T) + 2;
  const double KX = K + 3;
  const double M = T + longest + 1;
  // Tasks.
  for (unsigned v = 0; v < n; ++v) {
    if (!loadsOnly) {
      lp.offset(name("o", v), v == 0);
      lp.periodInteger(name("k", v), v == 0 ? 0 : -K, v == 0 ? 0 : K);
    }
    for (unsigned p = 0; p < Q; ++p) {
      lp.term(1, name("a", v, p));
    }
    lp.row("=", 1);
    for (unsigned p = 0; p < Q; ++p) {
      double hi = 1, lo = 0;
      if (P.pinned.empty() && p > v)
        hi = 0; // symmetry: task v uses one of the first v + 1 processors
      if (!P.pinned.empty() && P.pinned[v] >= 0) {
        hi = P.pinned[v] == int(p) ? 1 : 0;
        lo = hi;
      }
      lp.binary(name("a", v, p), lo, hi);
    }
  }
  // Symmetry: processor p hosts task v only if p - 1 hosts an earlier task.
  if (P.pinned.empty())
    for (unsigned v = 1; v < n; ++v)
      for (unsigned p = 1; p < Q && p <= v; ++p) {
        lp.term(1, name("a", v, p));
        for (unsigned u = 0; u < v; ++u)
          lp.term(-1, name("a", u, p - 1));
        lp.row("<=", 0);
      }
  // Load: a processor runs at most T of work per period (implied by the
  // overlap rows, but it is what makes the relaxation strong).
  for (unsigned p = 0; p < Q; ++p) {
    for (unsigned v = 0; v < n; ++v)
      lp.term(dfg.tasks[v].timeUs, name("a", v, p));
    lp.periodTerm(-1);
    lp.row("<=", 0);
  }
  // same(u, v) >= a(u, p) + a(v, p) - 1: defined on demand.
  std::map<std::pair<unsigned, unsigned>, std::string> same;
  auto sameVar = [&](unsigned u, unsigned v) {
    if (u > v)
      std::swap(u, v);
    auto [it, added] = same.try_emplace({u, v}, name("s", u, v));
    if (added) {
      lp.continuous(it->second, 0, 1);
      for (unsigned p = 0; p < Q; ++p) {
        lp.term(1, it->second), lp.term(-1, name("a", u, p)),
            lp.term(-1, name("a", v, p));
        lp.row(">=", -1);
      }
    }
    return it->second;
  };
  // Processor overlap.
  for (unsigned u = 0; u < n && !loadsOnly; ++u)
    for (unsigned v = u + 1; v < n; ++v) {
      double tu = dfg.tasks[u].timeUs, tv = dfg.tasks[v].timeUs;
      if (tu <= eps || tv <= eps)
        continue;
      if (!P.pinned.empty() && P.pinned[u] >= 0 && P.pinned[v] >= 0 &&
          P.pinned[u] != P.pinned[v])
        continue;
      std::string order = name("b", u, v);
      lp.binary(order);
      noOverlap(lp, M, name("o", u), name("o", v), tu, tv, order,
                {sameVar(u, v)});
    }
  // Dependences: T k(v) + o(v) - T k(u) - o(u) >= t(u) - w T (+ the
  // transfer, through the link slot or, without one, a "different
  // processors" variable).
  for (unsigned e = 0; e < dfg.edges.size(); ++e) {
    const Edge &edge = dfg.edges[e];
    unsigned u = edge.src, v = edge.dst;
    double tu = dfg.tasks[u].timeUs;
    if (u == v) {
      lp.periodTerm(double(edge.delay));
      lp.row(">=", tu);
      continue;
    }
    if (loadsOnly)
      continue;
    lp.periodTimes(1, name("k", v)), lp.term(1, name("o", v));
    lp.periodTimes(-1, name("k", u)), lp.term(-1, name("o", u));
    lp.periodTerm(double(edge.delay));
    if (P.groupOfEdge[e] < 0 && P.transfer[e] > eps) {
      std::string diff = name("d", e);
      lp.continuous(diff, 0, 1);
      lp.term(-P.transfer[e], diff);
      lp.row(">=", tu);
      for (unsigned p = 0; p < Q; ++p) {
        lp.term(1, diff), lp.term(-1, name("a", u, p)),
            lp.term(1, name("a", v, p));
        lp.row(">=", 0);
      }
      continue;
    }
    lp.row(">=", tu);
  }
  // Transfers: group g to processor q when a consumer runs on q and the
  // producer does not.
  transfers.clear();
  for (unsigned g = 0; g < P.groups.size(); ++g) {
    const TransferGroup &G = P.groups[g];
    unsigned u = G.src;
    for (unsigned q = 0; q < Q; ++q) {
      if (!P.pinned.empty() && P.pinned[u] == int(q))
        continue;
      std::string y = name("y", g, q), x = name("x", g, q), h = name("h", g, q);
      bool any = false;
      for (unsigned e : G.edges) {
        unsigned v = dfg.edges[e].dst;
        if (!P.pinned.empty() && P.pinned[v] >= 0 && P.pinned[v] != int(q))
          continue;
        any = true;
        // y >= a(v, q) - a(u, q)
        lp.term(1, y), lp.term(-1, name("a", v, q)),
            lp.term(1, name("a", u, q));
        lp.row(">=", 0);
        if (loadsOnly)
          continue;
        // Arrival: T h + x + transfer <= T k(v) + o(v) + w T, binding when
        // v is on q and u is not.
        double M2 = T * (2 * KX + 3) + P.transfer[e];
        lp.periodTimes(1, h), lp.term(1, x), lp.periodTimes(-1, name("k", v)),
            lp.term(-1, name("o", v)), lp.term(M2, name("a", v, q)),
            lp.term(-M2, name("a", u, q));
        lp.periodTerm(-double(dfg.edges[e].delay));
        lp.row("<=", -P.transfer[e] + M2);
      }
      if (!any)
        continue;
      lp.continuous(y, 0, 1);
      // A transfer longer than the period would overlap itself.
      lp.term(G.occupy, y);
      lp.periodTerm(-1);
      lp.row("<=", 0);
      if (loadsOnly) {
        transfers.push_back({g, q});
        continue;
      }
      lp.offset(x);
      lp.periodInteger(h, -KX, KX);
      // Release: after the producer ends.
      lp.periodTimes(1, h), lp.term(1, x), lp.periodTimes(-1, name("k", u)),
          lp.term(-1, name("o", u));
      lp.row(">=", dfg.tasks[u].timeUs);
      transfers.push_back({g, q});
    }
  }
  // Cycles: an iteration's loop over D delays takes at most D periods,
  // with the transfers of the edges it cuts: sum t + sum c(e) cut(e) <= D T,
  // cut(e) >= a(u, p) - a(v, p). (Implied by the dependences, but it
  // brings the transfers into the loads relaxation.)
  std::vector<bool> cutDefined(dfg.edges.size(), false);
  for (const std::vector<unsigned> &cycle : P.cycles) {
    double work = 0;
    int64_t delay = 0;
    for (unsigned e : cycle) {
      work += dfg.tasks[dfg.edges[e].src].timeUs;
      delay += dfg.edges[e].delay;
      if (P.transfer[e] <= 0 || cutDefined[e])
        continue;
      cutDefined[e] = true;
      std::string cut = name("z", e);
      lp.continuous(cut, 0, 1);
      for (unsigned p = 0; p < Q; ++p) {
        lp.term(1, cut), lp.term(-1, name("a", dfg.edges[e].src, p)),
            lp.term(1, name("a", dfg.edges[e].dst, p));
        lp.row(">=", 0);
      }
    }
    for (unsigned e : cycle)
      if (P.transfer[e] > 0)
        lp.term(P.transfer[e], name("z", e));
    lp.periodTerm(-double(delay));
    lp.row("<=", -work);
  }
  // Channel loads that are linear: into a processor (switch), the bus.
  const LinkTopology topology = P.machine.linkTopology;
  if (topology != LinkTopology::PointToPoint) {
    for (unsigned q = 0; q < Q; ++q) {
      bool any = false;
      for (const Transfer &t : transfers)
        if (topology == LinkTopology::Bus || t.to == q) {
          lp.term(P.groups[t.group].occupy, name("y", t.group, t.to));
          any = true;
        }
      if (any) {
        lp.periodTerm(-1);
        lp.row("<=", 0);
      }
      if (topology == LinkTopology::Bus)
        break;
    }
  }
  // Channel loads through the sender's processor: transfer (g, q) leaves
  // processor p when y(g, q) = 1 and the producer is on p, i.e.
  // w >= y(g, q) + a(u, p) - 1. Switch: per p, all q; point-to-point: per
  // (p, q).
  if (topology != LinkTopology::Bus && !transfers.empty()) {
    std::map<std::pair<unsigned, unsigned>, std::vector<std::string>> load;
    std::map<std::string, double> occupyOf;
    for (const Transfer &t : transfers) {
      unsigned u = P.groups[t.group].src;
      for (unsigned p = 0; p < Q; ++p) {
        if (p == t.to)
          continue;
        if (!P.pinned.empty() && P.pinned[u] >= 0 && P.pinned[u] != int(p))
          continue;
        std::string w = "w" + std::to_string(t.group) + "_" +
                        std::to_string(t.to) + "_" + std::to_string(p);
        lp.continuous(w, 0, 1);
        lp.term(1, w), lp.term(-1, name("y", t.group, t.to)),
            lp.term(-1, name("a", u, p));
        lp.row(">=", -1);
        occupyOf[w] = P.groups[t.group].occupy;
        unsigned key = topology == LinkTopology::Switch ? Q : t.to;
        load[{p, key}].push_back(w);
      }
    }
    for (auto &[channel, vars] : load) {
      for (const std::string &w : vars)
        lp.term(occupyOf[w], w);
      lp.periodTerm(-1);
      lp.row("<=", 0);
    }
  }
  // Link channels: two transfers sharing a channel are apart modulo T.
  for (size_t i = 0; i < transfers.size() && !loadsOnly; ++i)
    for (size_t j = i + 1; j < transfers.size(); ++j) {
      const Transfer &a = transfers[i], &b = transfers[j];
      unsigned ua = P.groups[a.group].src, ub = P.groups[b.group].src;
      double da = P.groups[a.group].occupy, db = P.groups[b.group].occupy;
      std::vector<std::string> conditions = {name("y", a.group, a.to),
                                             name("y", b.group, b.to)};
      // Whether the senders share their processor: always, never (pinned
      // apart) or when same(ua, ub).
      bool pinnedBoth =
          !P.pinned.empty() && P.pinned[ua] >= 0 && P.pinned[ub] >= 0;
      bool mayShare = !pinnedBoth || P.pinned[ua] == P.pinned[ub];
      auto sendersCondition = [&]() {
        if (ua != ub && !pinnedBoth)
          conditions.push_back(sameVar(ua, ub));
      };
      switch (topology) {
      case LinkTopology::Switch:
        // Into the same processor, or out of the same one.
        if (a.to == b.to)
          break;
        if (!mayShare)
          continue;
        sendersCondition();
        break;
      case LinkTopology::PointToPoint:
        if (a.to != b.to || !mayShare)
          continue;
        sendersCondition();
        break;
      case LinkTopology::Bus:
        break;
      }
      std::string order = name("c", unsigned(i), unsigned(j));
      lp.binary(order);
      noOverlap(lp, T + std::max(da, db) + 1, name("x", a.group, a.to),
                name("x", b.group, b.to), da, db, order, conditions);
    }
}

namespace {
struct SolverRun {
  Outcome outcome = Outcome::Unknown;
  std::unordered_map<std::string, double> values;
  std::string message; ///< why a run failed
  std::string status;  ///< cbc's first solution line (debugging)
};
} // namespace

/// Runs cbc on \p lpPath for at most \p seconds (a watchdog kills it a few
/// seconds later) and reads its solution.
static SolverRun runCbc(const std::string &cbc, StringRef dir,
                        const std::string &lpText, double seconds) {
  SolverRun run;
  SmallString<128> lpPath(dir), solPath(dir), logPath(dir);
  sys::path::append(lpPath, "model.lp");
  sys::path::append(solPath, "solution.txt");
  sys::path::append(logPath, "cbc.log");
  sys::fs::remove(solPath);
  sys::fs::remove(logPath);
  {
    std::error_code ec;
    raw_fd_ostream os(lpPath, ec);
    if (ec) {
      run.message = "cannot write " + lpPath.str().str() + ": " + ec.message();
      return run;
    }
    os << lpText;
  }
  std::string limit = std::to_string(std::max(0.05, seconds));
  std::vector<StringRef> args = {cbc,        lpPath, "timeMode", "elapsed",
                                 "sec",      limit,  "threads",  "1",
                                 "integerT", "1e-9", "primalT",  "1e-9",
                                 "solve",    "solu", solPath};
  Optional<StringRef> redirects[] = {StringRef(""), StringRef(logPath),
                                     StringRef(logPath)};
  std::string err;
  bool failed = false;
  unsigned watchdog = unsigned(std::ceil(seconds)) + 5;
  int rc = sys::ExecuteAndWait(cbc, args, None, redirects, watchdog, 0, &err,
                               &failed);
  if (failed) {
    run.message = "cannot run " + cbc + (err.empty() ? "" : ": " + err);
    return run;
  }
  // Killed by the watchdog, or no answer: the period stays undecided.
  ErrorOr<std::unique_ptr<MemoryBuffer>> sol = MemoryBuffer::getFile(solPath);
  if (rc < 0 || !sol)
    return run;
  std::istringstream in((*sol)->getBuffer().str());
  std::string status;
  std::getline(in, status);
  run.status = status;
  if (StringRef(status).startswith("Optimal"))
    run.outcome = Outcome::Feasible;
  else if (StringRef(status).contains_insensitive("infeasible"))
    run.outcome = Outcome::Infeasible;
  else
    return run; // stopped on time without an answer
  if (run.outcome == Outcome::Infeasible) {
    // Only a proof counts: cbc stopped on time reports differently, but
    // check the log too.
    ErrorOr<std::unique_ptr<MemoryBuffer>> log = MemoryBuffer::getFile(logPath);
    if (log && (*log)->getBuffer().contains("Result - Stopped"))
      run.outcome = Outcome::Unknown;
    return run;
  }
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string first, var;
    double value = 0;
    fields >> first;
    if (first == "**")
      fields >> first;
    if (fields >> var >> value)
      run.values[var] = value;
  }
  return run;
}

/// The schedule of a CBC solution at period T: processors and iteration
/// numbers from \p ints (the MILP's), offsets from \p offsets (the MILP's or
/// the polishing LP's), stretched by the smallest factor 1 + eps that the
/// verifier accepts (the solver's tolerances are larger than the
/// verifier's; stretching keeps every constraint, docs/scheduling.md).
static std::optional<Schedule> extractSchedule(const Problem &P, double T,
                                               const Values &ints,
                                               const Values &offsets,
                                               std::string &rejection) {
  const TrainingDFG &dfg = P.dfg;
  unsigned n = dfg.tasks.size();
  auto value = [](const Values &values, const std::string &var) {
    auto it = values.find(var);
    return it == values.end() ? 0.0 : it->second;
  };
  std::vector<unsigned> proc(n, 0);
  std::vector<double> start(n, 0);
  for (unsigned v = 0; v < n; ++v) {
    double best = -1;
    for (unsigned p = 0; p < P.modelProcs; ++p)
      if (value(ints, name("a", v, p)) > best) {
        best = value(ints, name("a", v, p));
        proc[v] = p;
      }
    start[v] = T * std::round(value(ints, name("k", v))) +
               value(offsets, name("o", v));
  }
  std::vector<double> link(dfg.edges.size(), -1);
  for (unsigned e = 0; e < dfg.edges.size(); ++e) {
    int g = P.groupOfEdge[e];
    unsigned q = proc[dfg.edges[e].dst];
    if (g < 0 || proc[dfg.edges[e].src] == q)
      continue;
    link[e] = T * std::round(value(ints, name("h", unsigned(g), q))) +
              value(offsets, name("x", unsigned(g), q));
  }
  for (double eps : {0.0, 1e-9, 1e-8, 1e-7, 1e-6, 1e-5, 1e-4}) {
    double f = 1 + eps;
    std::vector<double> s = start, x = link;
    for (double &t : s)
      t *= f;
    for (double &t : x)
      if (t >= 0)
        t *= f;
    Schedule S =
        makePeriodicSchedule(dfg, P.machine, P.procs, T * f, s, proc, x);
    Error err = verifySchedule(S);
    if (!err)
      return S;
    rejection = toString(std::move(err));
  }
  return std::nullopt;
}

Expected<ExactResult> scheduleExact(const TrainingDFG &dfg, unsigned procs,
                                    const MachineDesc &machine,
                                    double lowerBound, const Schedule &warm,
                                    const std::vector<int> &pinned,
                                    const ExactOptions &options) {
  using Clock = std::chrono::steady_clock;
  const Clock::time_point begin = Clock::now();
  auto elapsed = [&] {
    return std::chrono::duration<double>(Clock::now() - begin).count();
  };
  if (!(options.timeLimitSec > 0) || !std::isfinite(options.timeLimitSec))
    return createStringError(inconvertibleErrorCode(),
                             "--exact-time-limit must be a number of seconds "
                             "> 0 (got %g)",
                             options.timeLimitSec);
  if (dfg.tasks.size() > MaxExactTasks)
    return createStringError(
        inconvertibleErrorCode(),
        "--scheduler=exact handles at most %u tasks; the DFG has %zu (one "
        "F, B, G and U task per layer: use the list scheduler for this "
        "model)",
        MaxExactTasks, dfg.tasks.size());
  if (procs > MaxExactProcs)
    return createStringError(inconvertibleErrorCode(),
                             "--scheduler=exact handles at most %u processors "
                             "(got --procs %u)",
                             MaxExactProcs, procs);
  if (!warm.periodic || warm.tasks.size() != dfg.tasks.size())
    return createStringError(inconvertibleErrorCode(),
                             "--scheduler=exact needs a periodic warm start "
                             "of the same %zu tasks",
                             dfg.tasks.size());
  Expected<std::string> cbc = findCbc();
  if (!cbc)
    return cbc.takeError();

  Problem P(dfg, machine);
  P.procs = procs;
  P.modelProcs = std::max<unsigned>(
      1, std::min<unsigned>(procs, unsigned(dfg.tasks.size())));
  P.pinned = pinned;
  if (std::all_of(P.pinned.begin(), P.pinned.end(),
                  [](int p) { return p < 0; }))
    P.pinned.clear();
  // Groups: the edges of one producer with the same bytes share a transfer.
  std::map<std::pair<unsigned, int64_t>, unsigned> groupOf;
  P.groupOfEdge.assign(dfg.edges.size(), -1);
  for (unsigned e = 0; e < dfg.edges.size(); ++e) {
    const Edge &edge = dfg.edges[e];
    P.transfer.push_back(machine.transferTimeUs(double(edge.bytes)));
    P.occupy.push_back(edge.bytes > 0
                           ? double(edge.bytes) / machine.linkBandwidth * 1e6
                           : 0.0);
    // A transfer within the time resolution holds no channel (the
    // verifier's rule; every period considered is at least the bound).
    if (edge.src == edge.dst || P.occupy[e] <= 1e-9 * std::max(1.0, lowerBound))
      continue;
    auto [it, added] =
        groupOf.try_emplace({edge.src, edge.bytes}, unsigned(P.groups.size()));
    if (added)
      P.groups.push_back({edge.src, P.occupy[e], {}});
    P.groups[it->second].edges.push_back(e);
    P.groupOfEdge[e] = int(it->second);
  }

  // The channel disjunctions grow with the square of the possible
  // transfers (tensors x processors); beyond the limit the model file alone
  // would take long to write.
  {
    uint64_t possible = uint64_t(P.groups.size()) * P.modelProcs;
    uint64_t pairs = possible * (possible - (possible > 0)) / 2;
    if (pairs > MaxExactLinkPairs)
      return createStringError(
          inconvertibleErrorCode(),
          "--scheduler=exact: %zu tensors on %u processors give %llu pairs of "
          "transfers that may share a link channel (at most %llu: use fewer "
          "processors, a model with fewer layers, or the list scheduler)",
          P.groups.size(), P.modelProcs, (unsigned long long)pairs,
          (unsigned long long)MaxExactLinkPairs);
  }

  findCycles(P, 2000);

  ExactResult R;
  R.schedule = warm;
  R.warmPeriod = warm.period;
  double lo = std::max({lowerBound, trivialBound(P), 0.0}), hi = warm.period;
  const double tol = options.tolerance;
  SmallString<128> dir;
  if (std::error_code ec =
          sys::fs::createUniqueDirectory("layerpipe-exact", dir))
    return createStringError(inconvertibleErrorCode(),
                             "cannot create a directory for the CBC model: %s",
                             ec.message().c_str());
  const bool debug = std::getenv("LAYERPIPE_EXACT_DEBUG") != nullptr;
  // The probes: the lower bound first (many list schedules of small graphs
  // are there), then alternately just below the best period (it is often
  // optimal: an infeasible answer there closes the search) and the middle
  // of the gap. `ceiling` is the smallest period whose call ran out of
  // time: later probes stay below it, where infeasibility is easier to
  // prove, and the polishing LP lowers the best period from above.
  enum class Probe { Bound, BelowBest, Middle } next = Probe::Bound;
  double ceiling = hi;
  std::string failure;
  while (hi > lo * (1 + tol)) {
    double remaining = options.timeLimitSec - elapsed();
    if (remaining < 0.05 || ceiling <= lo * (1 + tol / 2)) {
      R.timedOut = true;
      break;
    }
    if (next == Probe::BelowBest && ceiling < hi)
      next = Probe::Middle;
    double T = next == Probe::Bound       ? lo
               : next == Probe::BelowBest ? std::max(lo, hi * (1 - tol / 2))
                                          : (lo + std::min(hi, ceiling)) / 2;
    Probe probe = next;
    LpWriter lp(T, nullptr);
    std::vector<Transfer> transfers;
    writeModel(P, T, lp, transfers);
    if (lp.infeasible()) {
      lo = T;
      next = Probe::BelowBest;
      continue;
    }
    // The loads first: a quick proof when packing is what binds.
    {
      LpWriter loads(T, nullptr);
      std::vector<Transfer> unused;
      writeModel(P, T, loads, unused, /*loadsOnly=*/true);
      SolverRun run = runCbc(*cbc, dir, loads.text(lo),
                             std::max(std::min(remaining, 0.5), remaining / 8));
      ++R.solverCalls;
      if (!run.message.empty()) {
        failure = run.message;
        break;
      }
      if (debug)
        errs() << formatv("exact: T={0} loads only -> {1} ({2:f2} s)\n", T,
                          run.outcome == Outcome::Infeasible ? "infeasible"
                                                             : "not refuted",
                          elapsed());
      if (run.outcome == Outcome::Infeasible) {
        lo = T;
        next = Probe::BelowBest;
        continue;
      }
      remaining = options.timeLimitSec - elapsed();
      if (remaining < 0.05) {
        R.timedOut = true;
        break;
      }
    }
    double limit = std::max(std::min(remaining, 1.0), remaining / 2);
    SolverRun run = runCbc(*cbc, dir, lp.text(lo), limit);
    ++R.solverCalls;
    if (!run.message.empty()) {
      failure = run.message;
      break;
    }
    if (debug)
      errs() << formatv("exact: T={0} lo={1} hi={2} rows={3} transfers={4} "
                        "limit={5:f2}s -> {6} ({7:f2} s) [{8}]\n",
                        T, lo, hi, lp.rowCount(), transfers.size(), limit,
                        run.outcome == Outcome::Feasible     ? "feasible"
                        : run.outcome == Outcome::Infeasible ? "infeasible"
                                                             : "unknown",
                        elapsed(), run.status);
    if (run.outcome == Outcome::Infeasible) {
      lo = T;
      next = Probe::BelowBest;
      continue;
    }
    if (run.outcome == Outcome::Unknown) {
      // Undecided at the bound: look for schedules near the best instead.
      if (probe != Probe::Bound)
        ceiling = std::min(ceiling, T);
      next = probe == Probe::Bound ? Probe::BelowBest : Probe::Middle;
      continue;
    }
    // Feasible at T: the same placement and orders may allow less; the
    // polishing LP finds the least period they allow.
    double found = T;
    Values offsets = run.values;
    {
      LpWriter polish(T, &run.values);
      std::vector<Transfer> unused;
      writeModel(P, T, polish, unused);
      double left = options.timeLimitSec - elapsed();
      if (!polish.infeasible() && left > 0.05) {
        SolverRun lp2 = runCbc(*cbc, dir, polish.text(lo), std::min(left, 5.0));
        ++R.solverCalls;
        auto t = lp2.values.find("T");
        if (debug)
          errs() << formatv("exact:   polishing LP: {0}, T = {1}\n",
                            lp2.outcome == Outcome::Feasible ? "solved"
                                                             : "no answer",
                            t == lp2.values.end() ? -1.0 : t->second);
        if (std::getenv("LAYERPIPE_EXACT_KEEP"))
          sys::fs::copy_file(dir + "/model.lp", dir + "/polish.lp");
        if (lp2.outcome == Outcome::Feasible && t != lp2.values.end() &&
            t->second <= T * (1 + 1e-9)) {
          found = std::max(t->second, lo);
          offsets = std::move(lp2.values);
        }
      }
    }
    std::string rejection;
    std::optional<Schedule> S =
        extractSchedule(P, found, run.values, offsets, rejection);
    if (!S && found < T)
      S = extractSchedule(P, T, run.values, run.values, rejection);
    if (!S) {
      // The solver's answer does not verify (a bug of the model): that
      // period stays undecided rather than trusted.
      R.rejected = formatv("CBC's schedule at period {0} fails verification: "
                           "{1}",
                           T, rejection)
                       .str();
      ceiling = std::min(ceiling, T);
      next = Probe::Middle;
      continue;
    }
    if (debug)
      errs() << formatv("exact:   polished to {0}\n", S->period);
    if (S->period < hi) {
      hi = S->period;
      R.schedule = std::move(*S);
      R.improved = true;
    }
    next = probe == Probe::BelowBest ? Probe::Middle : Probe::BelowBest;
  }
  if (!std::getenv("LAYERPIPE_EXACT_KEEP"))
    sys::fs::remove_directories(dir);
  else
    errs() << "exact: model kept in " << dir << "\n";
  if (!failure.empty())
    return createStringError(inconvertibleErrorCode(), "--scheduler=exact: %s",
                             failure.c_str());
  R.provenBound = lo;
  R.optimal = hi <= lo * (1 + tol);
  R.seconds = elapsed();
  if (!R.improved)
    R.schedule = warm;
  return R;
}

} // namespace layerpipe
