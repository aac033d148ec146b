//===- ChromeTrace.cpp - A schedule as a Chrome trace ---------------------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// Writes the chart window as a Trace Event Format file that chrome://tracing
// and Perfetto's JSON importer read: one process per processor (pid p + 1,
// one thread, tid 1; ids start at 1 because some viewers treat 0 as
// "unknown") named by process_name/thread_name metadata, a complete event
// ("X") per bar, a flow ("s" -> "f") per transfer between processors, and a
// counter track ("C") of the memory each processor holds over time.
//
//===----------------------------------------------------------------------===//

#include "GanttLayout.h"

#include "llvm/Support/FormatVariadic.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>

using namespace llvm;

namespace layerpipe {

using namespace gantt;

static nlohmann::json metadata(const char *name, unsigned pid,
                               nlohmann::json args) {
  return {{"name", name},
          {"ph", "M"},
          {"pid", pid},
          {"tid", 1},
          {"args", std::move(args)}};
}

/// Time of iteration \p i of task \p v: periodic schedules repeat every
/// period, a synchronous step runs once.
static double instanceStart(const Schedule &S, unsigned v, int64_t i) {
  return S.tasks[v].start + (S.periodic ? double(i) * S.period : 0);
}

/// Flows of the dependences whose ends run on different processors, for
/// every pair of instances inside the window.
static void addFlows(const Schedule &S, const Chart &chart,
                     nlohmann::json &events) {
  double from = chart.origin, to = chart.origin + chart.length;
  uint64_t id = 0;
  for (const ScheduleDep &dep : S.deps) {
    const ScheduledTask &src = S.tasks[dep.src], &dst = S.tasks[dep.dst];
    if (src.proc == dst.proc || src.duration <= 0 || dst.duration <= 0)
      continue;
    int64_t first = 0, last = 0;
    if (S.periodic && S.period > 0) {
      first = std::max<int64_t>(
          0, int64_t(std::floor((from - src.start) / S.period)) - 1);
      last = int64_t(std::ceil((to - src.start) / S.period)) + 1;
    }
    for (int64_t i = first; i <= last; ++i) {
      double srcBegin = instanceStart(S, dep.src, i);
      double dstBegin =
          instanceStart(S, dep.dst, i + (S.periodic ? dep.distance : 0));
      if (srcBegin < from || dstBegin >= to || srcBegin >= to)
        continue;
      std::string name = formatv("{0} -> {1}", src.name, dst.name).str();
      nlohmann::json args = {{"bytes", dep.bytes},
                             {"transfer_us", dep.transferUs}};
      events.push_back({{"name", name},
                        {"cat", "transfer"},
                        {"ph", "s"},
                        {"id", id},
                        {"ts", srcBegin},
                        {"pid", src.proc + 1},
                        {"tid", 1},
                        {"args", args}});
      events.push_back({{"name", name},
                        {"cat", "transfer"},
                        {"ph", "f"},
                        {"bp", "e"},
                        {"id", id},
                        {"ts", dstBegin},
                        {"pid", dst.proc + 1},
                        {"tid", 1}});
      ++id;
    }
  }
}

/// One counter event per change of a processor's memory inside the window.
static void addMemoryCounters(const Schedule &S, const Chart &chart,
                              nlohmann::json &events) {
  double from = chart.origin, to = chart.origin + chart.length;
  // (time, bytes) changes per processor.
  std::vector<std::vector<std::pair<double, int64_t>>> changes(S.procs);
  for (const MemoryBlock &block : S.memory) {
    const ScheduledTask &alloc = S.tasks[block.allocTask];
    const ScheduledTask &release = S.tasks[block.freeTask];
    if (alloc.proc >= S.procs)
      continue;
    int64_t first = 0, last = 0;
    if (S.periodic && S.period > 0) {
      first = std::max<int64_t>(
          0, int64_t(std::floor((from - release.end()) / S.period)) -
                 block.distance - 1);
      last = int64_t(std::ceil((to - alloc.start) / S.period)) + 1;
    }
    for (int64_t i = first; i <= last; ++i) {
      double begin = instanceStart(S, block.allocTask, i);
      double end = instanceStart(S, block.freeTask,
                                 i + (S.periodic ? block.distance : 0)) +
                   release.duration;
      if (begin >= to || end <= from)
        continue;
      changes[alloc.proc].push_back({std::max(begin, from), block.bytes});
      changes[alloc.proc].push_back({std::min(end, to), -block.bytes});
    }
  }
  for (unsigned p = 0; p < S.procs; ++p) {
    std::vector<std::pair<double, int64_t>> &list = changes[p];
    std::sort(list.begin(), list.end());
    int64_t held = 0;
    events.push_back({{"name", "memory"},
                      {"ph", "C"},
                      {"ts", from},
                      {"pid", p + 1},
                      {"args", {{"bytes", 0}}}});
    for (size_t k = 0; k < list.size();) {
      double t = list[k].first;
      for (; k < list.size() && list[k].first == t; ++k)
        held += list[k].second;
      events.push_back({{"name", "memory"},
                        {"ph", "C"},
                        {"ts", t},
                        {"pid", p + 1},
                        {"args", {{"bytes", held}}}});
    }
  }
}

void writeGanttChromeTrace(const ScheduleResult &R, raw_ostream &os) {
  const Schedule &S = R.schedule;
  Chart chart = layoutChart(S);
  nlohmann::json events = nlohmann::json::array();
  for (unsigned p = 0; p < S.procs; ++p) {
    std::string name = formatv("P{0}", p).str();
    events.push_back(metadata("process_name", p + 1, {{"name", name}}));
    events.push_back(
        metadata("process_sort_index", p + 1, {{"sort_index", p}}));
    events.push_back(
        metadata("thread_name", p + 1, {{"name", name + " tasks"}}));
  }
  for (const Bar &bar : chart.bars) {
    const ScheduledTask &t = S.tasks[bar.task];
    nlohmann::json args = {{"task", t.name}};
    if (S.periodic)
      args["iteration"] = bar.iteration - t.lag;
    else if (t.microBatch >= 0)
      args["micro_batch"] = t.microBatch;
    if (t.stage >= 0)
      args["stage"] = t.stage;
    events.push_back({{"name", barLabels(S, bar).front()},
                      {"cat", taskKindName(t.kind).str()},
                      {"ph", "X"},
                      {"ts", bar.begin + chart.origin},
                      {"dur", bar.end - bar.begin},
                      {"pid", bar.proc + 1},
                      {"tid", 1},
                      {"args", std::move(args)}});
  }
  addFlows(S, chart, events);
  addMemoryCounters(S, chart, events);
  nlohmann::json root = {{"traceEvents", std::move(events)},
                         {"displayTimeUnit", "ms"},
                         {"otherData", scheduleMetricsJSON(R)}};
  os << root.dump() << "\n";
}

} // namespace layerpipe
