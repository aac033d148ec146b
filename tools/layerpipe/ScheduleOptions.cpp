//===- ScheduleOptions.cpp - Flags of the scheduler -----------------------===//
//
// Part of LayerPipe. The scheduling and schedule-output flags live here:
// readScheduleOptions turns them into ScheduleOptions (checking them, errors
// name the flag and the value), writeScheduleOutputs writes -o and --gantt.
//
//===----------------------------------------------------------------------===//

#include "Options.h"

#include "layerpipe/OutputFile.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/raw_ostream.h"

#include <cmath>
#include <cstdio>

using namespace llvm;

namespace layerpipe {

static cl::opt<unsigned> unfoldFlag(
    "unfold", cl::init(1), cl::value_desc("J"),
    cl::desc("Schedule the DFG unfolded by J (J iterations per period; "
             "copies of a long task may run on different processors). "
             "Asynchronous layerpipe schedules only; default 1"),
    cl::cat(scheduleCategory()));

static cl::opt<unsigned> procsFlag("procs", cl::init(1),
                                   cl::value_desc("N"),
                                   cl::desc("Number of processors (default 1)"),
                                   cl::cat(scheduleCategory()));

static cl::opt<std::string> scheduleFlag(
    "schedule", cl::init("layerpipe"),
    cl::value_desc("layerpipe|pipedream|gpipe|1f1b|zb-h1|zb-h2|zb-v|"
                   "interleaved-1f1b|dualpipe-v"),
    cl::desc("Schedule to build, in any case: layerpipe (ours, default), "
             "pipedream (asynchronous 1F1B, whole backward per stage), "
             "gpipe, 1f1b, zb-h1, zb-h2, zb-v, interleaved-1f1b, "
             "dualpipe-v (synchronous with flush)"),
    cl::cat(scheduleCategory()));

static cl::opt<unsigned> virtualStagesFlag(
    "virtual-stages", cl::init(2), cl::value_desc("V"),
    cl::desc("Stages per processor of --schedule=interleaved-1f1b (the "
             "model is cut into V x procs stages; default 2)"),
    cl::cat(scheduleCategory()));

static cl::opt<std::string> torchScheduleFlag(
    "emit-torch-schedule", cl::value_desc("file"),
    cl::desc("Write a synchronous schedule as torch.distributed.pipelining's "
             "per-rank action CSV (docs/scheduling.md, \"Running a schedule "
             "in PyTorch\"); - for stdout (default: none)"),
    cl::cat(outputCategory()));

static cl::opt<std::string> placementFlag(
    "placement", cl::init("auto"), cl::value_desc("stages|free|auto"),
    cl::desc("Where the asynchronous layerpipe schedule runs a layer's "
             "tasks: stages (a layer's F, B, G, U on one processor, layers "
             "in contiguous stages), free (any task anywhere), auto (both; "
             "the shorter period on the machine's links wins, within 1% the "
             "fewer bytes; default)"),
    cl::cat(scheduleCategory()));

static cl::opt<double> byteBudgetFlag(
    "byte-budget", cl::init(1.5), cl::value_desc("X"),
    cl::desc("With --placement=auto, keep a placement other than the stages "
             "only if it sends at most X times the stages' bytes per "
             "iteration (default 1.5; 0: no budget, the shortest period "
             "wins)"),
    cl::cat(scheduleCategory()));

static cl::opt<std::string> schedulerFlag(
    "scheduler", cl::init("list"), cl::value_desc("list|exact"),
    cl::desc("Algorithm of the asynchronous layerpipe schedule: list (the "
             "periodic list scheduler, default) or exact (the list "
             "schedule improved to the proven optimum by the CBC solver; "
             "graphs of at most 60 tasks, needs the 'cbc' program)"),
    cl::cat(scheduleCategory()));

static cl::opt<double> exactTimeLimitFlag(
    "exact-time-limit", cl::init(10), cl::value_desc("SECONDS"),
    cl::desc("With --scheduler=exact: wall-clock limit of the whole search "
             "(default 10); the best schedule found and the proven bound "
             "are reported"),
    cl::cat(scheduleCategory()));

static cl::opt<unsigned> microBatchesFlag(
    "micro-batches", cl::init(0), cl::value_desc("M"),
    cl::desc("Synchronous mode: one step of M >= 1 micro-batches with a "
             "flush (with --delays=none); default: asynchronous, and 4 x "
             "stages for the synchronous baselines"),
    cl::cat(scheduleCategory()));

static cl::opt<long long> memoryLimitFlag(
    "memory-limit", cl::init(0), cl::value_desc("BYTES"),
    cl::desc("Per-processor activation memory limit in bytes (default 0: "
             "none)"),
    cl::cat(scheduleCategory()));

static cl::opt<unsigned> memoryLimitMicroBatchesFlag(
    "memory-limit-microbatches", cl::init(0), cl::value_desc("K"),
    cl::desc("Per-processor memory limit: the activations of K micro-batches "
             "in flight (synchronous mode; 1F1B keeps p; default 0: none)"),
    cl::cat(scheduleCategory()));

static cl::opt<unsigned> simulateFlag(
    "simulate-iterations", cl::init(20), cl::value_desc("K"),
    cl::desc("Iterations (steps) the discrete-event simulator runs "
             "(default 20)"),
    cl::cat(scheduleCategory()));

static cl::opt<std::string> outputFlag(
    "o", cl::value_desc("file"),
    cl::desc("Write the schedule as JSON (docs/schedule-format.md); "
             "- for stdout, which then carries nothing else (default: "
             "none)"),
    cl::cat(outputCategory()));

static cl::opt<std::string> ganttFlag(
    "gantt", cl::value_desc("file"),
    cl::desc("Write a Gantt chart; format by extension: .svg, .html, .json "
             "(Chrome trace, opens in Perfetto), .txt (default: none)"),
    cl::cat(outputCategory()));

static Error flagError(const Twine &message) {
  return createStringError(inconvertibleErrorCode(), message);
}

Error readScheduleOptions(CompileOptions &options) {
  ScheduleOptions &S = options.schedule;
  if (procsFlag == 0)
    return flagError("--procs must be at least 1 (got 0)");
  if (procsFlag > 4096)
    return flagError("--procs " + Twine(procsFlag.getValue()) +
                     " is more than the 4096 processors LayerPipe schedules");
  S.procs = procsFlag;
  if (unfoldFlag == 0 || unfoldFlag > 64)
    return flagError("--unfold must be between 1 and 64 (got " +
                     Twine(unfoldFlag.getValue()) + ")");
  S.unfold = unfoldFlag;
  std::optional<ScheduleKind> kind = parseScheduleKind(scheduleFlag);
  if (!kind)
    return flagError("unknown --schedule=" + scheduleFlag +
                     " (expected layerpipe, pipedream, gpipe, 1f1b, zb-h1, "
                     "zb-h2, zb-v, interleaved-1f1b or dualpipe-v, in any "
                     "case)");
  S.kind = *kind;
  if (virtualStagesFlag < 1 || virtualStagesFlag > 64)
    return flagError("--virtual-stages must be between 1 and 64 (got " +
                     Twine(virtualStagesFlag.getValue()) + ")");
  if (virtualStagesFlag.getNumOccurrences() &&
      S.kind != ScheduleKind::Interleaved1F1B)
    return flagError("--virtual-stages applies to "
                     "--schedule=interleaved-1f1b only (got --schedule=" +
                     scheduleFlag + ")");
  S.virtualStages = virtualStagesFlag;
  S.torchSchedulePath = torchScheduleFlag;
  std::optional<PlacementMode> placement = parsePlacementMode(placementFlag);
  if (!placement)
    return flagError("unknown --placement=" + placementFlag +
                     " (expected stages, free or auto)");
  S.placement = *placement;
  if (!(byteBudgetFlag >= 0) || !std::isfinite(byteBudgetFlag.getValue()))
    return flagError("--byte-budget must be a number >= 0 (got " +
                     std::to_string(byteBudgetFlag.getValue()) + ")");
  S.byteBudget = byteBudgetFlag;
  if (StringRef(schedulerFlag).equals_insensitive("list"))
    S.scheduler = SchedulerAlgorithm::List;
  else if (StringRef(schedulerFlag).equals_insensitive("exact"))
    S.scheduler = SchedulerAlgorithm::Exact;
  else
    return flagError("unknown --scheduler=" + schedulerFlag +
                     " (expected list or exact)");
  if (!(exactTimeLimitFlag > 0) ||
      !std::isfinite(exactTimeLimitFlag.getValue()))
  {
    char text[32];
    std::snprintf(text, sizeof(text), "%g", exactTimeLimitFlag.getValue());
    return flagError("--exact-time-limit must be a number of seconds > 0 "
                     "(got " +
                     Twine(text) + ")");
  }
  if (exactTimeLimitFlag.getNumOccurrences() &&
      S.scheduler != SchedulerAlgorithm::Exact)
    return flagError("--exact-time-limit applies to --scheduler=exact only");
  S.exactTimeLimitSec = exactTimeLimitFlag;
  if (microBatchesFlag.getNumOccurrences() && microBatchesFlag == 0)
    return flagError("--micro-batches must be at least 1 (got 0; leave the "
                     "flag out for the asynchronous schedule)");
  S.microBatches = microBatchesFlag;
  if (S.kind == ScheduleKind::PipeDream && S.microBatches > 0)
    return flagError("--schedule=pipedream is asynchronous; it takes no "
                     "--micro-batches (got " +
                     Twine(S.microBatches) + ")");
  if (S.unfold > 1 &&
      (S.kind != ScheduleKind::LayerPipe || S.microBatches > 0))
    return flagError("--unfold " + Twine(S.unfold) +
                     " applies to the asynchronous layerpipe schedule only "
                     "(got --schedule=" + scheduleFlag +
                     (S.microBatches ? " with --micro-batches" : "") + ")");
  if (memoryLimitFlag < 0)
    return flagError("--memory-limit must be a byte count >= 0 (got " +
                     Twine(memoryLimitFlag.getValue()) + ")");
  if (memoryLimitFlag > 0 && memoryLimitMicroBatchesFlag > 0)
    return flagError("give --memory-limit or --memory-limit-microbatches, "
                     "not both");
  S.memoryLimitBytes = memoryLimitFlag;
  S.memoryLimitMicroBatches = memoryLimitMicroBatchesFlag;
  if (simulateFlag < 2)
    return flagError("--simulate-iterations must be at least 2 (got " +
                     Twine(simulateFlag.getValue()) + ")");
  S.simulateIterations = simulateFlag;
  S.outputPath = outputFlag;
  S.ganttPath = ganttFlag;
  if (!S.ganttPath.empty()) {
    StringRef ext = StringRef(S.ganttPath).rsplit('.').second;
    if (ext != "svg" && ext != "html" && ext != "json" && ext != "txt")
      return flagError("--gantt " + S.ganttPath +
                       ": unknown chart format '." + ext +
                       "' (expected .svg, .html, .json or .txt)");
  }
  return Error::success();
}

Error writeScheduleOutputs(const Compilation &C) {
  const ScheduleOptions &S = C.options.schedule;
  if (!C.schedule.scheduled)
    return Error::success();
  if (!S.torchSchedulePath.empty()) {
    outs().flush();
    Expected<std::string> csv = formatTorchSchedule(C.schedule.schedule);
    if (!csv)
      return createStringError(inconvertibleErrorCode(),
                               "--emit-torch-schedule: " +
                                   toString(csv.takeError()));
    if (Error err = writeOutputFile(S.torchSchedulePath,
                                    [&](raw_ostream &os) { os << *csv; }))
      return err;
  }
  if (!S.outputPath.empty()) {
    outs().flush();
    if (Error err = writeOutputFile(S.outputPath, [&](raw_ostream &os) {
          writeScheduleJSON(C.schedule, os);
        }))
      return err;
  }
  if (S.ganttPath.empty())
    return Error::success();
  // Through writeOutputFile (not writeGantt, which writes the path itself)
  // so that a failed write is an error and never leaves a partial chart.
  StringRef ext = StringRef(S.ganttPath).rsplit('.').second;
  return writeOutputFile(S.ganttPath, [&](raw_ostream &os) {
    if (ext == "svg")
      writeGanttSVG(C.schedule, os);
    else if (ext == "html")
      writeGanttHTML(C.schedule, os);
    else if (ext == "json")
      writeGanttChromeTrace(C.schedule, os);
    else
      writeGanttText(C.schedule, os);
  });
}

} // namespace layerpipe
