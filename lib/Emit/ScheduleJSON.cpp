//===- ScheduleJSON.cpp - The schedule as JSON ----------------------------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// Writes a schedule in the format of docs/schedule-format.md: the processors,
// the period, every task with its processor and times, every dependence with
// its distance and the transfer it pays, the memory blocks and the metrics.
// Names go through nlohmann/json, so whatever a model calls its layers is
// escaped.
//
//===----------------------------------------------------------------------===//

#include "layerpipe/Schedule.h"

#include <nlohmann/json.hpp>

#include <cmath>

using namespace llvm;

namespace layerpipe {

void writeScheduleJSON(const ScheduleResult &R, raw_ostream &os) {
  const Schedule &S = R.schedule;
  nlohmann::json tasks = nlohmann::json::array();
  for (const ScheduledTask &task : S.tasks) {
    nlohmann::json t = {
        {"name", task.name},
        {"kind", taskKindPrefix(task.kind).str()},
        {"proc", task.proc},
        {"start", task.start},
        {"end", task.end()},
    };
    if (task.layer >= 0)
      t["layer"] = task.layer;
    if (task.stage >= 0)
      t["stage"] = task.stage;
    if (S.periodic) {
      // The period in which iteration 0 runs this task.
      t["iteration_offset"] = int64_t(std::floor(task.start / S.period));
    } else if (task.microBatch >= 0) {
      t["micro_batch"] = task.microBatch;
    }
    tasks.push_back(std::move(t));
  }
  nlohmann::json edges = nlohmann::json::array();
  for (const ScheduleDep &dep : S.deps) {
    bool remote = S.tasks[dep.src].proc != S.tasks[dep.dst].proc;
    nlohmann::json e = {{"src", dep.src},
                        {"dst", dep.dst},
                        {"distance", dep.distance},
                        {"bytes", dep.bytes},
                        {"transfer", remote ? dep.transferUs : 0.0}};
    if (remote && dep.linkStart >= 0)
      e["link_start"] = dep.linkStart;
    edges.push_back(std::move(e));
  }
  nlohmann::json memory = nlohmann::json::array();
  for (const MemoryBlock &block : S.memory)
    memory.push_back({{"alloc", block.allocTask},
                      {"free", block.freeTask},
                      {"distance", block.distance},
                      {"bytes", block.bytes}});
  nlohmann::json root = {
      {"format", "layerpipe-schedule"},
      {"version", 1},
      {"schedule", S.name},
      {"mode", S.periodic ? "asynchronous" : "synchronous"},
      {"procs", S.procs},
      {"period", S.period},
      {"unfolding", S.unfolding},
      {"link_topology", linkTopologyName(S.topology)},
      {"time_unit", "us"},
      {"tasks", std::move(tasks)},
      {"edges", std::move(edges)},
      {"memory", std::move(memory)},
      {"metrics", scheduleMetricsJSON(R)},
  };
  if (!S.periodic)
    root["micro_batches"] = S.microBatches;
  os << root.dump(1) << "\n";
}

} // namespace layerpipe
