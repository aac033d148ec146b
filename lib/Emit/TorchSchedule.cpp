//===- TorchSchedule.cpp - torch.distributed.pipelining action CSV --------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// A synchronous schedule as the compute-only action CSV that
// torch.distributed.pipelining's multi-stage schedules load: one row per
// rank (processor), one cell per action in the rank's order. An action is
// <stage><type><micro-batch>: F forward, I input gradient (our B), W weight
// gradient (our G), B full backward (a merged B+G, or a B whose stage has no
// weight gradient). Updates are not actions: the optimizer step runs after
// the schedule. The checker mirrors the loader's validation and its
// send/receive planning (which fails on an order that cannot run);
// docs/scheduling.md says how to run the file.
//
//===----------------------------------------------------------------------===//

#include "layerpipe/Schedule.h"

#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FormatVariadic.h"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

using namespace llvm;

namespace layerpipe {

static Error csvError(const Twine &message) {
  return createStringError(inconvertibleErrorCode(), message);
}

Expected<std::string> formatTorchSchedule(const Schedule &S) {
  if (S.periodic)
    return csvError(
        "schedule '" + S.name +
        "' is asynchronous (periodic): torch.distributed.pipelining runs "
        "synchronous steps only (give --micro-batches M, or a synchronous "
        "--schedule such as 1f1b, zb-h1 or interleaved-1f1b)");
  // Stages whose backward has a weight-gradient task: their B is torch's I.
  std::set<int> splitStages;
  unsigned stages = 0;
  for (const ScheduledTask &task : S.tasks) {
    if (task.stage < 0)
      return csvError("task '" + task.name +
                      "' has no pipeline stage; only stage-level "
                      "synchronous schedules export to torch");
    stages = std::max(stages, unsigned(task.stage) + 1);
    if (task.kind == TaskKind::WeightGradient)
      splitStages.insert(task.stage);
  }
  std::vector<std::vector<const ScheduledTask *>> byProc(S.procs);
  for (const ScheduledTask &task : S.tasks) {
    if (task.proc >= S.procs)
      return csvError(formatv("task '{0}' runs on processor {1} of {2}",
                              task.name, task.proc, S.procs)
                          .str());
    if (task.kind != TaskKind::Update)
      byProc[task.proc].push_back(&task);
  }
  std::string csv;
  for (unsigned q = 0; q < S.procs; ++q) {
    std::vector<const ScheduledTask *> &row = byProc[q];
    if (row.empty())
      return csvError(formatv("processor {0} of {1} runs no stage: "
                              "torch.distributed.pipelining needs a stage "
                              "on every rank (use --procs {2})",
                              q, S.procs, stages)
                          .str());
    std::stable_sort(row.begin(), row.end(),
                     [](const ScheduledTask *a, const ScheduledTask *b) {
                       return a->start < b->start;
                     });
    for (size_t k = 0; k < row.size(); ++k) {
      const ScheduledTask &task = *row[k];
      char type;
      switch (task.kind) {
      case TaskKind::Forward:
      case TaskKind::Loss:
        type = 'F';
        break;
      case TaskKind::ActivationGradient:
        type = splitStages.count(task.stage) ? 'I' : 'B';
        break;
      case TaskKind::WeightGradient:
        type = 'W';
        break;
      case TaskKind::Backward:
        type = 'B';
        break;
      default:
        return csvError("task '" + task.name + "' has no torch action");
      }
      csv += formatv("{0}{1}{2}{3}", k ? "," : "", task.stage, type,
                     task.microBatch)
                 .str();
    }
    csv += "\n";
  }
  if (Error err = checkTorchScheduleCSV(csv, S.procs, stages, S.microBatches))
    return err;
  return csv;
}

namespace {
struct Action {
  unsigned stage;
  char type;
  unsigned microBatch;
};
} // namespace

Error checkTorchScheduleCSV(StringRef csv, unsigned ranks, unsigned stages,
                            unsigned microBatches) {
  SmallVector<StringRef> lines;
  csv.split(lines, '\n', -1, /*KeepEmpty=*/true);
  if (!lines.empty() && lines.back().empty())
    lines.pop_back();
  if (lines.size() != ranks)
    return csvError(formatv("torch schedule: {0} rows for {1} ranks",
                            lines.size(), ranks)
                        .str());
  std::vector<std::vector<Action>> rows(ranks);
  std::map<unsigned, unsigned> rankOfStage;
  // Per stage and type, the micro-batches run so far.
  std::vector<std::map<char, std::set<unsigned>>> seen(stages);
  for (unsigned r = 0; r < ranks; ++r) {
    SmallVector<StringRef> cells;
    lines[r].split(cells, ',');
    for (size_t step = 0; step < cells.size(); ++step) {
      StringRef cell = cells[step].trim();
      if (cell.empty())
        continue;
      size_t typeAt = cell.find_first_not_of("0123456789");
      unsigned stage = 0, mb = 0;
      if (typeAt == 0 || typeAt == StringRef::npos ||
          cell.take_front(typeAt).getAsInteger(10, stage) ||
          !StringRef("FIWB").contains(cell[typeAt]) ||
          cell.drop_front(typeAt + 1).getAsInteger(10, mb))
        return csvError(formatv("torch schedule: rank {0}, step {1}: '{2}' "
                                "is not an action <stage><F|I|W|B><micro-"
                                "batch>",
                                r, step, cell)
                            .str());
      char type = cell[typeAt];
      auto where = [&] {
        return formatv("torch schedule: rank {0}, step {1} ({2}): ", r, step,
                       cell)
            .str();
      };
      if (stage >= stages || mb >= microBatches)
        return csvError(where() + formatv("stage {0} of {1}, micro-batch {2} "
                                          "of {3}",
                                          stage, stages, mb, microBatches)
                                      .str());
      auto [it, fresh] = rankOfStage.insert({stage, r});
      if (!fresh && it->second != r)
        return csvError(where() + formatv("stage {0} is on rank {1} and rank "
                                          "{2}",
                                          stage, it->second, r)
                                      .str());
      std::map<char, std::set<unsigned>> &done = seen[stage];
      if ((type == 'I' || type == 'B') && !done['F'].count(mb))
        return csvError(where() + "backward before the micro-batch's forward");
      if (type == 'W' && !done['I'].count(mb))
        return csvError(where() +
                        "weight gradient before the micro-batch's input "
                        "gradient (I)");
      if (!done[type].insert(mb).second ||
          ((type == 'I' || type == 'B') &&
           done[type == 'I' ? 'B' : 'I'].count(mb)))
        return csvError(where() + "the micro-batch's action runs twice");
      rows[r].push_back({stage, type, mb});
    }
  }
  for (unsigned s = 0; s < stages; ++s) {
    size_t f = seen[s]['F'].size(), b = seen[s]['B'].size(),
           i = seen[s]['I'].size(), w = seen[s]['W'].size();
    if (f != microBatches || i != w || b + i != microBatches)
      return csvError(formatv("torch schedule: stage {0} runs F {1}, B {2}, "
                              "I {3}, W {4} times for {5} micro-batches",
                              s, f, b, i, w, microBatches)
                          .str());
  }
  // The ranks' orders must run: an F waits for the previous stage's F of
  // its micro-batch, a backward for the next stage's backward (or, on the
  // last stage, its own F).
  std::set<std::tuple<unsigned, char, unsigned>> ran;
  auto backwardDone = [&](unsigned s, unsigned mb) {
    return ran.count({s, 'I', mb}) || ran.count({s, 'B', mb});
  };
  std::vector<size_t> head(ranks, 0);
  size_t remaining = 0;
  for (const auto &row : rows)
    remaining += row.size();
  while (remaining) {
    bool progress = false;
    for (unsigned r = 0; r < ranks; ++r) {
      while (head[r] < rows[r].size()) {
        const Action &a = rows[r][head[r]];
        bool ready = true;
        if (a.type == 'F' && a.stage > 0)
          ready = ran.count({a.stage - 1, 'F', a.microBatch});
        if ((a.type == 'I' || a.type == 'B') && a.stage + 1 < stages)
          ready = backwardDone(a.stage + 1, a.microBatch);
        if (!ready)
          break;
        ran.insert({a.stage, a.type, a.microBatch});
        ++head[r];
        --remaining;
        progress = true;
      }
    }
    if (!progress) {
      std::string stuck;
      for (unsigned r = 0; r < ranks; ++r)
        if (head[r] < rows[r].size())
          stuck += formatv("{0}rank {1} at {2}{3}{4}", stuck.empty() ? "" : ", ",
                           r, rows[r][head[r]].stage, rows[r][head[r]].type,
                           rows[r][head[r]].microBatch)
                       .str();
      return csvError("torch schedule: the ranks' orders deadlock (" + stuck +
                      ")");
    }
  }
  return Error::success();
}

} // namespace layerpipe
