//===- Verify.cpp - Schedule verifier and static metrics ------------------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// A schedule is never trusted: verifySchedule checks every dependence (for a
// periodic schedule across iterations: start(v) + d * T >= end(u) +
// transfer), that no two task instances overlap on a processor (modulo the
// period) and that the memory a processor holds stays within its limit. The
// same file computes the static memory and communication figures that the
// simulator is checked against.
//
//===----------------------------------------------------------------------===//

#include "layerpipe/Schedule.h"

#include "Links.h"

#include "llvm/Support/FormatVariadic.h"

#include <algorithm>
#include <cmath>
#include <unordered_map>

using namespace llvm;

namespace layerpipe {

double timeEpsilon(const Schedule &S) {
  return 1e-9 * std::max(1.0, S.period);
}

static std::string describe(const ScheduledTask &task) {
  if (task.microBatch < 0)
    return "'" + task.name + "'";
  std::string s = formatv("'{0}' (micro-batch {1}", task.name, task.microBatch);
  if (task.step > 0)
    s += formatv(", step {0}", task.step).str();
  return s + ")";
}

static Error checkTasks(const Schedule &S) {
  if (S.procs == 0)
    return createStringError(inconvertibleErrorCode(),
                             "schedule has 0 processors");
  if (S.periodic && !(S.period > 0))
    return createStringError(inconvertibleErrorCode(),
                             "periodic schedule has period %g", S.period);
  for (const ScheduledTask &task : S.tasks) {
    if (task.proc >= S.procs)
      return createStringError(
          inconvertibleErrorCode(), "%s runs on P%u but there are %u processors",
          describe(task).c_str(), task.proc, S.procs);
    if (task.duration < 0 || !std::isfinite(task.start))
      return createStringError(inconvertibleErrorCode(),
                               "%s has duration %g and start %g",
                               describe(task).c_str(), task.duration,
                               task.start);
    if (!S.periodic && task.start < 0)
      return createStringError(inconvertibleErrorCode(),
                               "%s starts at t=%g, before the step",
                               describe(task).c_str(), task.start);
    if (S.periodic && task.duration > S.period + timeEpsilon(S))
      return createStringError(
          inconvertibleErrorCode(),
          "%s takes %.3f, longer than the period %.3f: it overlaps itself",
          describe(task).c_str(), task.duration, S.period);
  }
  return Error::success();
}

static Error checkPrecedence(const Schedule &S) {
  double eps = timeEpsilon(S);
  for (const ScheduleDep &dep : S.deps) {
    const ScheduledTask &u = S.tasks[dep.src];
    const ScheduledTask &v = S.tasks[dep.dst];
    double transfer = u.proc == v.proc ? 0.0 : dep.transferUs;
    double shift = S.periodic ? dep.distance * S.period : 0.0;
    if (v.start + shift + eps >= u.end() + transfer)
      continue;
    std::string dstText = describe(v);
    if (S.periodic && dep.distance != 0)
      dstText += formatv(" of iteration +{0} (at t={1:f1} + {0} x {2:f1})",
                         dep.distance, v.start, S.period)
                     .str();
    return createStringError(
        inconvertibleErrorCode(),
        "precedence violated: %s ends at t=%.1f on P%u, %s starts at t=%.1f "
        "on P%u (transfer %.1f)",
        describe(u).c_str(), u.end(), u.proc, dstText.c_str(),
        v.start + shift, v.proc, transfer);
  }
  return Error::success();
}

namespace {
struct Busy {
  double begin, end;
  unsigned task;
};
} // namespace

static Error checkOverlap(const Schedule &S) {
  std::vector<std::vector<Busy>> perProc(S.procs);
  double eps = timeEpsilon(S);
  for (unsigned i = 0; i < S.tasks.size(); ++i) {
    const ScheduledTask &task = S.tasks[i];
    // Below the tolerance a task takes no time: the schedulers fit it into
    // any gap, even one of width 0 (the simulator runs it on its own too).
    if (task.duration <= eps)
      continue;
    if (!S.periodic) {
      perProc[task.proc].push_back({task.start, task.end(), i});
      continue;
    }
    double T = S.period;
    double begin = std::fmod(task.start, T);
    if (begin < 0)
      begin += T;
    double end = begin + task.duration;
    if (end <= T + eps) {
      perProc[task.proc].push_back({begin, std::min(end, T), i});
      continue;
    }
    // The instance wraps around the period boundary.
    perProc[task.proc].push_back({begin, T, i});
    perProc[task.proc].push_back({0, end - T, i});
  }
  for (unsigned p = 0; p < S.procs; ++p) {
    std::vector<Busy> &busy = perProc[p];
    // Equal begins: shorter first. A task shorter than the tolerance that
    // the schedulers place where a longer one begins is no overlap, in
    // either order (it was reported when the longer one sorted first).
    std::sort(busy.begin(), busy.end(), [](const Busy &a, const Busy &b) {
      return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
    });
    for (size_t k = 1; k < busy.size(); ++k) {
      if (busy[k].begin + eps >= busy[k - 1].end)
        continue;
      const ScheduledTask &a = S.tasks[busy[k - 1].task];
      const ScheduledTask &b = S.tasks[busy[k].task];
      return createStringError(
          inconvertibleErrorCode(),
          "processor P%u overlap: %s runs [%.1f, %.1f) and %s starts at "
          "t=%.1f%s",
          p, describe(a).c_str(), a.start, a.end(), describe(b).c_str(),
          b.start,
          S.periodic ? formatv(" (modulo the period {0:f1})", S.period)
                           .str()
                           .c_str()
                     : "");
    }
  }
  return Error::success();
}

/// Live bytes over one period (periodic) or over the step, per processor.
std::vector<int64_t> computePeakMemory(const Schedule &S) {
  std::vector<std::vector<std::pair<double, int64_t>>> events(S.procs);
  std::vector<int64_t> base(S.procs, 0);
  for (const MemoryBlock &block : S.memory) {
    const ScheduledTask &alloc = S.tasks[block.allocTask];
    const ScheduledTask &release = S.tasks[block.freeTask];
    double begin = alloc.start;
    double end = release.end() + (S.periodic ? block.distance * S.period : 0);
    end = std::max(end, begin);
    auto &ev = events[alloc.proc];
    if (!S.periodic) {
      ev.push_back({begin, block.bytes});
      ev.push_back({end, -block.bytes});
      continue;
    }
    // In the steady state floor(L / T) instances are always live and one more
    // during L mod T after the allocation's phase.
    double T = S.period;
    double life = end - begin;
    double whole = std::floor(life / T);
    base[alloc.proc] += static_cast<int64_t>(whole) * block.bytes;
    double rest = life - whole * T;
    if (rest <= 0)
      continue;
    double phase = std::fmod(begin, T);
    if (phase < 0)
      phase += T;
    if (phase + rest <= T) {
      ev.push_back({phase, block.bytes});
      ev.push_back({phase + rest, -block.bytes});
      continue;
    }
    base[alloc.proc] += block.bytes; // live at phase 0 through the wrap
    ev.push_back({phase + rest - T, -block.bytes});
    ev.push_back({phase, block.bytes});
  }
  std::vector<int64_t> peak(S.procs, 0);
  for (unsigned p = 0; p < S.procs; ++p) {
    auto &ev = events[p];
    // Frees before allocations at the same instant: memory is reused.
    std::sort(ev.begin(), ev.end());
    int64_t live = base[p];
    peak[p] = live;
    for (auto &e : ev) {
      live += e.second;
      peak[p] = std::max(peak[p], live);
    }
  }
  return peak;
}

static Error checkMemory(const Schedule &S) {
  if (S.memoryLimit.empty())
    return Error::success();
  std::vector<int64_t> peak = computePeakMemory(S);
  for (unsigned p = 0; p < S.procs && p < S.memoryLimit.size(); ++p) {
    if (S.memoryLimit[p] <= 0 || peak[p] <= S.memoryLimit[p])
      continue;
    return createStringError(inconvertibleErrorCode(),
                             "memory limit exceeded on P%u: peak %lld bytes, "
                             "limit %lld bytes",
                             p, static_cast<long long>(peak[p]),
                             static_cast<long long>(S.memoryLimit[p]));
  }
  return Error::success();
}

int64_t computeCommBytes(const Schedule &S) {
  // A tensor sent once to a processor serves all its consumers there.
  int64_t bytes = 0;
  std::vector<int> shared = sharedTransfers(S);
  for (unsigned d = 0; d < S.deps.size(); ++d)
    if (shared[d] == int(d))
      bytes += S.deps[d].bytes;
  return bytes;
}

/// Links: no channel carries more than one period of transfers per period
/// (one step's makespan per step), and a transfer with a placed slot runs
/// inside its window (after its producer ends, arriving before its consumer
/// starts) without overlapping another on any of its channels (modulo the
/// period).
static Error checkLinks(const Schedule &S) {
  // Synchronous steps are timed without link contention (their link load
  // is reported, not checked; docs/scheduling.md).
  if (!S.periodic)
    return Error::success();
  double eps = timeEpsilon(S);
  double span = S.period;
  for (auto [id, busy] : computeChannelBusy(S))
    if (busy > span + eps)
      return createStringError(
          inconvertibleErrorCode(),
          "%s is busy %.1f us per period of %.1f us (%.2fx its capacity)",
          linkChannelName(S.topology, S.procs, id).c_str(), busy, span,
          busy / span);
  std::unordered_map<int64_t, std::vector<Busy>> channels;
  double T = S.period;
  std::vector<int> shared = sharedTransfers(S);
  for (unsigned d = 0; d < S.deps.size(); ++d) {
    const ScheduleDep &dep = S.deps[d];
    const ScheduledTask &u = S.tasks[dep.src];
    const ScheduledTask &v = S.tasks[dep.dst];
    if (u.proc == v.proc || dep.occupancy() <= eps || dep.linkStart < 0)
      continue;
    double x = dep.linkStart;
    if (x + eps < u.end() ||
        x + dep.transferUs > v.start + dep.distance * T + eps)
      return createStringError(
          inconvertibleErrorCode(),
          "transfer %s -> %s runs [%.1f, %.1f) on the links, outside its "
          "window from the end of %s (t=%.1f) to the start of %s (t=%.1f)",
          describe(u).c_str(), describe(v).c_str(), x, x + dep.occupancy(),
          describe(u).c_str(), u.end(), describe(v).c_str(),
          v.start + dep.distance * T);
    if (shared[d] != int(d))
      continue; // rides on an earlier dependence's transfer
    LinkChannels ch = linkChannels(S.topology, S.procs, u.proc, v.proc);
    double begin = std::fmod(x, T);
    if (begin < 0)
      begin += T;
    double end = begin + dep.occupancy();
    for (int64_t id : {ch.first, ch.second}) {
      if (id < 0)
        continue;
      if (end <= T + eps) {
        channels[id].push_back({begin, std::min(end, T), d});
      } else {
        channels[id].push_back({begin, T, d});
        channels[id].push_back({0, end - T, d});
      }
    }
  }
  for (auto &[id, busy] : channels) {
    std::sort(busy.begin(), busy.end(), [](const Busy &a, const Busy &b) {
      return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
    });
    for (size_t k = 1; k < busy.size(); ++k) {
      if (busy[k].begin + eps >= busy[k - 1].end)
        continue;
      const ScheduleDep &a = S.deps[busy[k - 1].task];
      const ScheduleDep &b = S.deps[busy[k].task];
      return createStringError(
          inconvertibleErrorCode(),
          "%s carries two transfers at once: %s -> %s at t=%.1f and %s -> %s "
          "at t=%.1f (modulo the period %.1f)",
          linkChannelName(S.topology, S.procs, id).c_str(),
          describe(S.tasks[a.src]).c_str(), describe(S.tasks[a.dst]).c_str(),
          a.linkStart, describe(S.tasks[b.src]).c_str(),
          describe(S.tasks[b.dst]).c_str(), b.linkStart, T);
    }
  }
  return Error::success();
}

Error verifySchedule(const Schedule &S) {
  if (Error err = checkTasks(S))
    return err;
  if (Error err = checkPrecedence(S))
    return err;
  if (Error err = checkOverlap(S))
    return err;
  if (Error err = checkLinks(S))
    return err;
  return checkMemory(S);
}

} // namespace layerpipe
