//===- Schedule.h - Multiprocessor scheduling -------------------*- C++ -*-===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// The scheduling half of the compiler (issue: list scheduling, verification,
// Gantt charts, baseline schedules). Other stages see only ScheduleOptions,
// ScheduleResult and the entry points below.
//
// A schedule is a set of task instances with a processor and a start time,
// the dependences between them (with an iteration distance) and the memory
// blocks they hold. It is either periodic (iteration i of task v starts at
// start(v) + i * period) or one synchronous training step of several
// micro-batches ending in a flush. Every schedule, ours or a baseline, goes
// through the same verifier, simulator, metrics and emitters.
// docs/scheduling.md describes the algorithms, docs/schedule-format.md the
// JSON form.
//
//===----------------------------------------------------------------------===//

#ifndef LAYERPIPE_SCHEDULE_H
#define LAYERPIPE_SCHEDULE_H

#include "layerpipe/DFG.h"

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/raw_ostream.h"

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace layerpipe {

struct Compilation;

/// Which schedule to build (--schedule).
enum class ScheduleKind {
  LayerPipe, ///< ours: modulo schedule of the retimed DFG, B/G split
  PipeDream, ///< asynchronous 1F1B, whole backward as one task per stage
  GPipe,     ///< synchronous fill-drain with flush
  OneFOneB,  ///< synchronous 1F1B with flush
  ZBH1,      ///< synchronous Zero Bubble H1 (B/W split, 1F1B memory)
  ZBH2,      ///< synchronous Zero Bubble H2 (B/W split, 2x 1F1B memory)
  ZBV,       ///< synchronous ZB-V: 2 virtual stages per processor in a V,
             ///< B/W split, 1F1B memory
  Interleaved1F1B, ///< synchronous interleaved 1F1B: v virtual stages per
                   ///< processor (round robin), merged backward
  DualPipeV, ///< synchronous DualPipe-V: 2 stages per processor in a V,
             ///< torch's ScheduleDualPipeV order
};

/// "layerpipe", "pipedream", "gpipe", "1f1b", "zb-h1", "zb-h2", "zb-v",
/// "interleaved-1f1b", "dualpipe-v". Parsing ignores case.
llvm::StringRef scheduleKindName(ScheduleKind kind);
/// Whether \p kind puts several (virtual) stages on each processor:
/// interleaved 1F1B, ZB-V and DualPipe-V.
bool hasVirtualStages(ScheduleKind kind);
std::optional<ScheduleKind> parseScheduleKind(llvm::StringRef name);

/// Where the asynchronous layerpipe schedule places a layer's tasks
/// (--placement).
enum class PlacementMode {
  Stages, ///< each layer's F, B, G, U on one processor, layers in
          ///< contiguous stages (weights and saved activations local)
  Free,   ///< every task anywhere (the list scheduler's choice)
  Auto,   ///< both; the shorter period wins, near ties (1%) fewer bytes
};
llvm::StringRef placementModeName(PlacementMode mode);
std::optional<PlacementMode> parsePlacementMode(llvm::StringRef name);

/// Options of the scheduler (filled by the tool from its flags).
/// Resource limits of the scheduling options (runScheduling fails beyond
/// them, naming the flag): the schedulers' time grows with processors ×
/// tasks, and a synchronous step's with micro-batches² × stages.
constexpr unsigned MaxProcs = 4096;
constexpr unsigned MaxUnfold = 64;
constexpr unsigned MaxMicroBatches = 1024;
constexpr unsigned MaxSimulateIterations = 100000;
/// Micro-batches² × stages of one synchronous step; the default micro-batch
/// count (4 per stage) is capped to it.
constexpr uint64_t MaxSynchronousWork = uint64_t(1) << 22;

/// Which algorithm builds the asynchronous layerpipe schedule (--scheduler).
enum class SchedulerAlgorithm {
  List,  ///< the periodic list scheduler (scheduleModulo and placements)
  Exact, ///< the list scheduler's result improved to the optimum by CBC
         ///< (include/layerpipe/ExactSchedule.h)
};

struct ScheduleOptions {
  /// Number of identical processors (--procs). readScheduleOptions runs
  /// before readPlanOptions, so the planner may read it too.
  unsigned procs = 1;
  ScheduleKind kind = ScheduleKind::LayerPipe;
  /// Micro-batches of one synchronous step (--micro-batches); 0 means the
  /// asynchronous (periodic) mode for layerpipe and pipedream, and 4 * stages
  /// for the synchronous baselines.
  unsigned microBatches = 0;
  /// Per-processor activation memory limit in bytes; 0 = none.
  int64_t memoryLimitBytes = 0;
  /// Per-processor limit in micro-batches in flight; 0 = none.
  unsigned memoryLimitMicroBatches = 0;
  /// Iterations (or steps) the discrete-event simulator runs.
  unsigned simulateIterations = 20;
  /// --unfold J: schedule the J-unfolded DFG (J iterations per period), so
  /// that copies of one long task can run on different processors.
  unsigned unfold = 1;
  /// --virtual-stages V: stages per processor of interleaved-1f1b (zb-v
  /// always has 2).
  unsigned virtualStages = 2;
  /// --emit-torch-schedule FILE: the synchronous schedule as
  /// torch.distributed.pipelining's per-rank action CSV.
  std::string torchSchedulePath;
  /// --placement: where a layer's tasks may run.
  PlacementMode placement = PlacementMode::Auto;
  /// --byte-budget X: in auto placement, a placement other than the stages
  /// is kept only if it sends at most X times the stages' bytes per
  /// iteration (0: no budget).
  double byteBudget = 1.5;
  /// --scheduler and --exact-time-limit (seconds, every CBC call together).
  SchedulerAlgorithm scheduler = SchedulerAlgorithm::List;
  double exactTimeLimitSec = 10;
  /// -o FILE: schedule JSON; --gantt FILE: chart by extension.
  std::string outputPath;
  std::string ganttPath;
};

/// One task instance of a schedule.
struct ScheduledTask {
  std::string name; ///< "F.conv1", "B.s2.m3", ...
  TaskKind kind = TaskKind::Forward;
  int layer = -1;      ///< model layer, -1 for stage-level tasks
  int stage = -1;      ///< pipeline stage, -1 if not stage-level
  int microBatch = -1; ///< synchronous schedules: micro-batch; else -1
  int step = 0;        ///< synchronous schedules: training step
  unsigned proc = 0;
  double start = 0;    ///< microseconds (iteration 0 / step 0)
  double duration = 0; ///< microseconds
  /// Periodic schedules of a retimed graph: the task's retiming lag r(v),
  /// i.e. how many training iterations it runs behind the graph's
  /// iteration counter (charts label bars with it); 0 otherwise.
  int64_t lag = 0;
  double end() const { return start + duration; }
};

/// A dependence: iteration i + distance of dst needs iteration i of src.
struct ScheduleDep {
  unsigned src = 0, dst = 0;
  int64_t distance = 0;
  int64_t bytes = 0;
  /// Paid only when src and dst run on different processors.
  double transferUs = 0;
  /// When the transfer starts on its link channels (periodic schedules:
  /// iteration 0; it repeats every period); -1 when it has no placed slot
  /// (the verifier then checks only the links' load).
  double linkStart = -1;
  /// How long the transfer holds its link channels: its bytes over the
  /// bandwidth (the latency is in flight and holds no channel); -1 = the
  /// whole transferUs.
  double linkUs = -1;
  double occupancy() const { return linkUs < 0 ? transferUs : linkUs; }
};

/// Memory that a task allocates at its start and another task of the same or
/// a later iteration (distance) frees at its end, held on the allocating
/// task's processor.
struct MemoryBlock {
  unsigned allocTask = 0, freeTask = 0;
  int64_t distance = 0;
  int64_t bytes = 0;
};

/// A complete schedule (the solution) with the facts it must satisfy.
struct Schedule {
  std::string name; ///< schedule kind name
  bool periodic = true;
  unsigned procs = 1;
  /// Periodic: the period (of `unfolding` iterations). Synchronous: the
  /// makespan of one step.
  double period = 0;
  /// Periodic: iterations one period runs (J of an unfolded graph, else 1).
  unsigned unfolding = 1;
  std::vector<ScheduledTask> tasks;
  std::vector<ScheduleDep> deps;
  std::vector<MemoryBlock> memory;
  /// Per-processor memory limit in bytes (empty or 0 = none).
  std::vector<int64_t> memoryLimit;
  /// Synchronous: micro-batches per step.
  unsigned microBatches = 0;
  /// How transfers share the links (from the machine).
  LinkTopology topology = LinkTopology::Switch;
  /// Schedules of stage-level tasks (ScheduledTask::layer == -1): the stage
  /// of every model layer; stage s runs the layers it names.
  std::vector<unsigned> stageOfLayer;
};

/// Checks every dependence (across iterations for periodic schedules),
/// processor overlap (modulo the period) and the memory limits. The error
/// names the tasks, times and processors.
llvm::Error verifySchedule(const Schedule &schedule);

/// Peak memory per processor, computed statically from the schedule
/// (periodic: in the steady state).
std::vector<int64_t> computePeakMemory(const Schedule &schedule);

/// Bytes that cross processors per iteration (per step when synchronous).
int64_t computeCommBytes(const Schedule &schedule);

/// Per processor: the time its busiest link channel carries transfers per
/// period (per step when synchronous), microseconds (docs/cost-model.md,
/// "Link contention").
std::vector<double> computeLinkBusy(const Schedule &schedule);

/// What the discrete-event simulator measured.
struct SimulationResult {
  unsigned iterations = 0;
  /// Steady-state time per iteration (per step when synchronous).
  double period = 0;
  /// Time from the first start to the last end.
  double totalTime = 0;
  std::vector<int64_t> peakMemory;
  std::vector<int64_t> commBytes; ///< sent per processor, per iteration
  /// Instances that never ran: the schedule's order deadlocks (a scheduler
  /// bug); the figures above are then meaningless.
  size_t stuck = 0;
};

/// Runs \p iterations iterations (synchronous: steps, back to back, each
/// stage waiting only for its own update) of a schedule: a task fires when
/// its inputs have arrived and its processor is free, in the schedule's order
/// per processor.
SimulationResult simulateSchedule(const Schedule &schedule,
                                  unsigned iterations);

/// A pipeline of stages, one per processor, with per-micro-batch (or
/// per-iteration) task times: what the baseline schedules are built from.
struct StagePipeline {
  unsigned numStages() const { return forward.size(); }
  std::vector<double> forward, backward, weightGradient, update;
  /// A stage's B and G as one merged task: less than backward +
  /// weightGradient where the profile timed its layers' B and G back to
  /// back (MeasuredTimes::mergedBackward). Empty: their sum.
  std::vector<double> mergedBackward;
  double mergedBackwardUs(unsigned stage) const {
    return mergedBackward.empty() ? backward[stage] + weightGradient[stage]
                                  : mergedBackward[stage];
  }
  /// Transfer from stage s to s+1 (forward) and s+1 to s (backward).
  std::vector<double> sendForwardUs, sendBackwardUs;
  std::vector<int64_t> sendForwardBytes, sendBackwardBytes;
  /// Activation memory one micro-batch holds on each stage.
  std::vector<int64_t> activationBytes;
  /// Per stage: first and last model layer (for names).
  std::vector<std::string> stageNames;
  /// Processor of each stage; empty: stage s on processor s. Interleaved
  /// and V schedules put several (virtual) stages on one processor.
  std::vector<unsigned> procOfStage;
};

/// Processors a pipeline's stages run on (1 + the largest procOfStage).
unsigned numPipelineProcs(const StagePipeline &pipeline);

/// \p stages equal stages of F, B and W time \p f, \p b, \p w (no update):
/// each sends \p sendUs and \p sendBytes to its neighbours and holds
/// \p activationBytes per micro-batch. The synthetic pipelines of the tests
/// and of the Zero Bubble grid (layerpipe-sync-bench).
StagePipeline uniformStagePipeline(unsigned stages, double f, double b,
                                   double w, double sendUs, int64_t sendBytes,
                                   int64_t activationBytes);

/// A synchronous schedule of one step of \p microBatches micro-batches
/// ending in a flush. Memory limit per stage: \p limitMicroBatches
/// micro-batches in flight, or \p limitBytes bytes (0 = none).
/// \p candidates (layerpipe only) selects what the scheduler tries and
/// keeps the best of: its list-scheduling rules, Zero Bubble's heuristic
/// variants, the local search from the best of them (the benchmark
/// compares them; the compiler uses all).
enum SynchronousCandidates : unsigned {
  ListRules = 1,
  ZeroBubbleVariants = 2,
  LocalSearch = 4,
  AllCandidates = 7,
};
llvm::Expected<Schedule>
scheduleSynchronous(const StagePipeline &pipeline, ScheduleKind kind,
                    unsigned microBatches, unsigned limitMicroBatches,
                    int64_t limitBytes, unsigned candidates = AllCandidates);

/// Result of the periodic list scheduler.
struct ModuloResult {
  Schedule schedule;
  double lowerBound = 0;
  /// The iteration bound the caller passed in (filled by runScheduling).
  double iterationBound = 0;
  unsigned attempts = 0;
  /// The placement kept ("free", "stages"; empty for the baselines).
  std::string placement;
};

/// Periodic (modulo) list scheduling of \p dfg on \p procs processors with
/// transfer times from \p machine. Searches the smallest period from
/// max(\p iterationBound, work / procs, largest task). \p pinned, if not
/// empty, fixes each task's processor (-1: free). With \p maxPeriod > 0 the
/// search gives up (an error) beyond that period. Small graphs (at most 60
/// tasks, nothing pinned) then get a seeded randomised search for a shorter
/// period whose number of tries scales with \p searchEffort (0: none).
/// With \p maxBytes >= 0 every placement kept sends at most that many bytes
/// between processors per iteration (one processor running everything
/// sends none).
llvm::Expected<ModuloResult>
scheduleModulo(const TrainingDFG &dfg, unsigned procs,
               const MachineDesc &machine, double iterationBound,
               const std::vector<int> &pinned = {}, double maxPeriod = 0,
               double searchEffort = 1, int64_t maxBytes = -1);

/// An undirected edge of weight \p weight between vertices a and b.
struct WeightedEdge {
  unsigned a = 0, b = 0;
  double weight = 0;
};

/// The global minimum cut of an undirected graph (Nagamochi-Ibaraki):
/// 0 if it is disconnected, infinity with fewer than 2 vertices.
double globalMinCut(unsigned numVertices,
                    const std::vector<WeightedEdge> &edges);

/// A lower bound on the period that counts the transfers any placement on
/// 2 or more processors must pay (docs/scheduling.md, "A lower bound that
/// counts transfers").
struct TransferBound {
  /// Global minimum cut of the task graph weighted by link time (bytes /
  /// bandwidth), microseconds per iteration.
  double minCutUs = 0;
  /// Total work of one iteration.
  double work = 0;
  /// Tensors too long for a period: the least T such that every group of
  /// tasks joined by tensors of more than T of link time (bytes /
  /// bandwidth) fits T of work; such a tensor cannot cross processors, a
  /// transfer holding one channel for longer than the period. Tasks only,
  /// no edge longer than the largest task: the largest task.
  double unsplittableUs = 0;
  /// The larger of unsplittableUs and min(work, min over 2 <= k <= procs of
  /// max(work / k, the link time the cut puts on one channel with k
  /// processors)).
  double bound = 0;
};
TransferBound transferLowerBound(const TrainingDFG &dfg, unsigned procs,
                                 const MachineDesc &machine);

/// What --scheduler=exact found (ScheduleMetrics::exact).
struct ExactSummary {
  bool ran = false;
  double listPeriod = 0;  ///< the warm start (list scheduler), us
  double provenBound = 0; ///< the optimum is at least this, us
  bool optimal = false;   ///< period within 0.1% of provenBound
  bool improved = false;  ///< CBC beat the list scheduler
  unsigned solverCalls = 0;
  double seconds = 0;
};

/// The metrics of the report.
struct ScheduleMetrics {
  unsigned procs = 1;
  double period = 0;
  /// The lower bound the gap is measured against: the largest of the
  /// bound without transfers and the transfer bound.
  double lowerBound = 0;
  /// max(iteration bound, work / procs, largest task): transfers not
  /// counted (the bound before issue 10).
  double lowerBoundNoTransfers = 0;
  /// TransferBound::bound and the cut behind it (asynchronous layerpipe
  /// schedules; 0 otherwise).
  double transferBound = 0;
  double minCutUs = 0;
  double iterationBound = 0;
  double sequentialTime = 0;
  double speedup = 0;
  double utilization = 0;
  double bubbleFraction = 0;
  int64_t commBytes = 0;
  /// Per processor: busiest link channel's busy time / period.
  std::vector<double> linkUtilization;
  /// Which placement the layerpipe schedule kept ("stages", "free").
  std::string placement;
  /// --scheduler=exact only.
  ExactSummary exact;
  double makespan = 0; ///< synchronous: one step with flush
  double stepTime = 0; ///< synchronous: steady-state time per step
  std::vector<int64_t> peakMemory;
  unsigned attempts = 0;
  /// What the simulator measured.
  double simulatedPeriod = 0;
  std::vector<int64_t> simulatedPeakMemory;
  unsigned simulatedIterations = 0;
  /// The model's name (for chart titles).
  std::string model;
  /// The common yardstick of every schedule: training samples per second.
  /// Asynchronous: one mini-batch per iteration; synchronous: the
  /// micro-batches of a step (each a mini-batch) per steady-state step.
  double samplesPerSecond = 0;
  /// Samples behind samplesPerSecond: per iteration or per step.
  int64_t samplesPerIteration = 0;
};

/// The schedule and its metrics.
struct ScheduleResult {
  bool scheduled = false;
  Schedule schedule;
  ScheduleMetrics metrics;
};

/// Schedules C.dfg (after planning) and verifies the result, filling
/// C.schedule.
llvm::Error runScheduling(Compilation &C);
void printScheduleSummary(const Compilation &C, llvm::raw_ostream &os);
/// The short summary printed by default: a few lines of headline figures
/// (bound, plan, period, speedup, throughput, transfers, memory) with units,
/// whatever the size of the model.
void printHeadline(const Compilation &C, llvm::raw_ostream &os);
/// Adds the schedule's keys to the shared `metrics` object of the report
/// (scheduleMetricsJSON plus `verified`), never replacing the object.
void addScheduleToReport(const Compilation &C, nlohmann::json &report);
/// The `metrics` object of the report.
nlohmann::json scheduleMetricsJSON(const ScheduleResult &result);

/// Emitters (lib/Emit). The schedule as JSON (docs/schedule-format.md).
void writeScheduleJSON(const ScheduleResult &result, llvm::raw_ostream &os);
/// A Gantt chart; the format comes from \p path's extension (.svg, .html,
/// .json = Chrome trace, .txt). Fails on an unknown extension.
llvm::Error writeGantt(const ScheduleResult &result, llvm::StringRef path);
/// torch.distributed.pipelining's per-rank action CSV (one row per rank,
/// cells such as 0F3, 1I3, 1W3, 2B0 in the rank's order; docs/scheduling.md).
/// Fails for an asynchronous (periodic) schedule, a processor without a
/// stage, or an order that breaks the loader's rules.
llvm::Expected<std::string> formatTorchSchedule(const Schedule &schedule);
/// Checks a CSV against the rules of torch's loader and runtime: every rank
/// has a row, each stage runs on one rank, each micro-batch's F comes
/// before its I (or B) and its I before its W on its stage, every stage
/// runs every micro-batch's F once and its backward once (B, or I and W),
/// and the ranks' orders can all run when each action waits for the
/// previous stage's F (next stage's backward) of its micro-batch.
llvm::Error checkTorchScheduleCSV(llvm::StringRef csv, unsigned ranks,
                                  unsigned stages, unsigned microBatches);

/// The chart formats, to a stream.
void writeGanttSVG(const ScheduleResult &result, llvm::raw_ostream &os);
void writeGanttHTML(const ScheduleResult &result, llvm::raw_ostream &os);
void writeGanttChromeTrace(const ScheduleResult &result,
                           llvm::raw_ostream &os);
void writeGanttText(const ScheduleResult &result, llvm::raw_ostream &os,
                    unsigned width = 100);

} // namespace layerpipe

#endif // LAYERPIPE_SCHEDULE_H
