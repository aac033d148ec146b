//===- layerpipe.cpp - The LayerPipe compiler driver ----------------------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// A thin driver: parse the flags, then run the stages in pipeline order
// (load machine, load model, build the training DFG, iteration bound,
// planning, scheduling), print the summary and write the requested files.
// Every stage runs through runStage, which times it (--time-passes), dumps
// the DFG after it (--print-after-all) and names it on a progress line when
// a compilation runs long on a terminal. stdout gets a short summary by
// default (--verbose or --print for the tables, --quiet for none). Errors
// from any stage become one `layerpipe: error: ...` line and exit status 1.
//
//===----------------------------------------------------------------------===//

#include "Options.h"

#include "layerpipe/OutputFile.h"
#include "layerpipe/Printable.h"
#include "layerpipe/Profile.h"
#include "layerpipe/Summary.h"
#include "layerpipe/ToolMain.h"

#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Process.h"
#include "llvm/Support/raw_ostream.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <condition_variable>
#include <exception>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#ifdef __GLIBC__
#include <malloc.h>
#include <sys/mman.h>
#include <unistd.h>
#endif

using namespace llvm;
using namespace layerpipe;

namespace layerpipe {
cl::OptionCategory &inputCategory() {
  static cl::OptionCategory cat("Input");
  return cat;
}
cl::OptionCategory &planCategory() {
  static cl::OptionCategory cat("Grouping, delays and retiming");
  return cat;
}
cl::OptionCategory &scheduleCategory() {
  static cl::OptionCategory cat("Scheduling");
  return cat;
}
cl::OptionCategory &outputCategory() {
  static cl::OptionCategory cat("Output");
  return cat;
}
cl::OptionCategory &debugCategory() {
  static cl::OptionCategory cat("Debugging");
  return cat;
}
} // namespace layerpipe

//===----------------------------------------------------------------------===//
// Flags of the driver itself. The planning and scheduling flags live in
// PlanOptions.cpp and ScheduleOptions.cpp.
//===----------------------------------------------------------------------===//

static cl::opt<std::string> modelPath(cl::Positional,
                                      cl::desc("<model.json|->"),
                                      cl::cat(inputCategory()));
static cl::opt<std::string>
    machinePath("machine", cl::value_desc("file"),
                cl::desc("Machine description (JSON, docs/cost-model.md); "
                         "default: the built-in machine"),
                cl::cat(inputCategory()));
static cl::list<std::string> profilePaths(
    "profile", cl::value_desc("file"), cl::ZeroOrMore,
    cl::desc("Measured task times and message cost from layerpipe-profile "
             "(docs/profile.md); replaces the cost model's estimates. May be "
             "given once per batch size (layerpipe-profile --batch b): "
             "--micro-batch auto prices the profiled batches (default none)"),
    cl::cat(inputCategory()));
static cl::opt<std::string> traceTimesPath(
    "times-from-trace", cl::value_desc("file"),
    cl::desc("Task times from a stage program's measured trace (--trace): "
             "the median work of each task (a stage task's split over its "
             "layers), to plan again from a real run (default none)"),
    cl::cat(inputCategory()));
static cl::opt<bool> mergeBackward(
    "merge-backward",
    cl::desc("Fold each layer's activation- and weight-gradient tasks into "
             "one backward task (the PipeDream-style graph)"),
    cl::cat(inputCategory()));

static cl::opt<std::string> microBatchFlag(
    "micro-batch", cl::value_desc("auto|none|b"),
    cl::desc("Samples per pipelined step of an asynchronous schedule: "
             "price every task at b samples and run steps of b (lr scaled "
             "by b/B, B the model's batch_size); auto: plan and schedule "
             "every power of two b <= B and take the best predicted "
             "samples/s among those with D_max*b <= B/2 "
             "(docs/training-semantics.md). Default: auto for a layerpipe "
             "or pipedream schedule on --procs > 1 with gradient delays, "
             "else B; none (or B): the model's batch"),
    cl::cat(inputCategory()));

static cl::opt<std::string>
    reportJsonPath("report-json", cl::value_desc("file"),
                   cl::desc("Write the summary as JSON (docs/report-json.md; "
                            "default: none)"),
                   cl::cat(outputCategory()));
static cl::opt<std::string>
    emitDotPath("emit-dot", cl::value_desc("file"),
                cl::desc("Write the training DFG as Graphviz DOT (default: "
                         "none)"),
                cl::cat(outputCategory()));
static cl::opt<std::string>
    emitDfgPath("emit-dfg", cl::value_desc("file"),
                cl::desc("Write the training DFG as JSON "
                         "(docs/report-json.md; default: none)"),
                cl::cat(outputCategory()));

static cl::opt<bool>
    verbose("verbose",
            cl::desc("Print every section: the per-layer table, the plan with "
                     "memory per stage and the schedule details (same as "
                     "--print=all)"),
            cl::cat(outputCategory()));
static cl::alias verboseShort("v", cl::desc("Alias for --verbose"),
                              cl::aliasopt(verbose), cl::cat(outputCategory()));
static cl::opt<bool> quiet("quiet",
                           cl::desc("Print nothing on stdout but what -o - "
                                    "asks for; errors still go to stderr"),
                           cl::cat(outputCategory()));
static cl::alias quietShort("q", cl::desc("Alias for --quiet"),
                            cl::aliasopt(quiet), cl::cat(outputCategory()));
static cl::list<std::string> printSections(
    "print", cl::CommaSeparated, cl::value_desc("sections"),
    cl::desc("Sections to print, comma-separated: summary (the default), "
             "layers (per-layer table, one line per layer), plan (stages, "
             "delays, memory per stage), schedule (schedule details), all"),
    cl::cat(outputCategory()));

static cl::opt<bool>
    printAfterAll("print-after-all",
                  cl::desc("Print the DFG to stderr after each stage that "
                           "builds or transforms it"),
                  cl::cat(debugCategory()));
static cl::opt<bool> timePasses(
    "time-passes", cl::desc("Time each stage and print a table to stderr"),
    cl::cat(debugCategory()));
static cl::opt<bool>
    noVerify("no-verify",
             cl::desc("Skip the verifiers of retimed graphs and schedules "
                      "(for experiments only)"),
             cl::cat(debugCategory()));

//===----------------------------------------------------------------------===//
// Stage running, timing and output files
//===----------------------------------------------------------------------===//

namespace {
/// Wall-clock seconds per stage, in the order the stages ran.
class StageTimes {
public:
  void add(StringRef stage, double seconds) {
    stages.emplace_back(stage.str(), seconds);
  }
  void print(raw_ostream &os) const {
    double total = 0;
    for (const auto &s : stages)
      total += s.second;
    std::string text = "===-------------------------------------------===\n"
                       "  layerpipe stage timing (wall clock)\n"
                       "===-------------------------------------------===\n";
    text += fmt::format("  {:>10}  {:>6}  {}\n", "seconds", "%", "stage");
    for (const auto &[name, seconds] : stages)
      text += fmt::format("  {:>10.4f}  {:>5.1f}%  {}\n", seconds,
                          total > 0 ? 100 * seconds / total : 0.0, name);
    text += fmt::format("  {:>10.4f}  {:>5.1f}%  total\n", total, 100.0);
    os << text;
  }

private:
  std::vector<std::pair<std::string, double>> stages;
};
} // namespace

namespace {
/// On a terminal, once a compilation has run for two seconds, a line on
/// stderr names the stage in progress and the time so far, refreshed every
/// second and erased at the end.
class ProgressLine {
public:
  ProgressLine() : enabled(sys::Process::StandardErrIsDisplayed()) {
    if (enabled)
      ticker = std::thread([this] { run(); });
  }
  ~ProgressLine() { finish(); }
  /// Stops the ticker and erases the line: call before printing results.
  void finish() {
    if (!ticker.joinable())
      return;
    {
      std::lock_guard<std::mutex> lock(mutex);
      done = true;
    }
    wake.notify_all();
    ticker.join();
    if (shown)
      errs() << "\r\x1b[K";
    errs().flush();
  }
  void setStage(StringRef name) {
    std::lock_guard<std::mutex> lock(mutex);
    stage = name.str();
  }

private:
  void run() {
    auto start = std::chrono::steady_clock::now();
    std::unique_lock<std::mutex> lock(mutex);
    while (
        !wake.wait_for(lock, std::chrono::seconds(1), [&] { return done; })) {
      double seconds = std::chrono::duration<double>(
                           std::chrono::steady_clock::now() - start)
                           .count();
      if (seconds < 2)
        continue;
      errs() << fmt::format("\rlayerpipe: {} ... {:.0f} s\x1b[K", stage,
                            seconds);
      errs().flush();
      shown = true;
    }
  }

  bool enabled;
  bool done = false, shown = false;
  std::string stage = "starting";
  std::mutex mutex;
  std::condition_variable wake;
  std::thread ticker;
};
} // namespace

/// Runs one named stage: timed with --time-passes; with --print-after-all
/// the DFG is dumped after stages that change it.
static Error runStage(Compilation &C, StageTimes &times, ProgressLine &progress,
                      StringRef name, bool changesDFG,
                      function_ref<Error()> body) {
  progress.setStage(name);
  auto start = std::chrono::steady_clock::now();
  Error err = body();
  times.add(name, std::chrono::duration<double>(
                      std::chrono::steady_clock::now() - start)
                      .count());
  if (err)
    return err;
  if (C.options.printAfterAll && changesDFG) {
    errs() << "*** DFG after " << name << " ***\n";
    C.dfg.print(errs());
  }
  return Error::success();
}

/// The sections of stdout (--print, --verbose, --quiet).
struct PrintSections {
  bool summary = true, layers = false, plan = false, schedule = false;
};

static Expected<PrintSections> readPrintSections() {
  PrintSections print;
  if (quiet && (verbose || !printSections.empty()))
    return createStringError(inconvertibleErrorCode(),
                             "--quiet contradicts --verbose and --print");
  if (quiet)
    return PrintSections{false, false, false, false};
  if (verbose)
    return PrintSections{false, true, true, true};
  if (printSections.empty())
    return print;
  print.summary = false;
  for (const std::string &section : printSections) {
    if (section == "summary")
      print.summary = true;
    else if (section == "layers")
      print.layers = true;
    else if (section == "plan")
      print.plan = true;
    else if (section == "schedule")
      print.schedule = true;
    else if (section == "all")
      print.layers = print.plan = print.schedule = true;
    else
      return createStringError(inconvertibleErrorCode(),
                               "--print=%s: unknown section '%s' (expected "
                               "summary, layers, plan, schedule or all)",
                               section.c_str(), section.c_str());
  }
  return print;
}

/// Output paths are checked before the work starts.
static Error checkOutputPaths(const CompileOptions &options) {
  std::pair<const char *, std::string> outputs[] = {
      {"--report-json", reportJsonPath},
      {"--emit-dot", emitDotPath},
      {"--emit-dfg", emitDfgPath},
      {"-o", options.schedule.outputPath},
      {"--gantt", options.schedule.ganttPath},
      {"--emit-torch-schedule", options.schedule.torchSchedulePath}};
  for (auto &[flag, path] : outputs)
    if (Error err = checkOutputPath(flag, path))
      return err;
  return Error::success();
}

/// The model from a file, or from stdin for "-".
static Expected<Model> readModel(StringRef path) {
  if (path != "-")
    return loadModel(path);
  ErrorOr<std::unique_ptr<MemoryBuffer>> input = MemoryBuffer::getSTDIN();
  if (!input)
    return createStringError(input.getError(),
                             "cannot read the model from "
                             "stdin: %s",
                             input.getError().message().c_str());
  return parseModel((*input)->getBuffer(), "<stdin>");
}

/// Turns the flags into CompileOptions; the planner reads --procs, so the
/// scheduling flags are read first.
static Error readOptions(CompileOptions &options) {
  if (modelPath.empty())
    return createStringError(inconvertibleErrorCode(),
                             "no model file given (usage: layerpipe "
                             "MODEL.json [options]; see --help)");
  options.modelPath = modelPath;
  options.machinePath = machinePath;
  options.dfg.mergeBackward = mergeBackward;
  options.verify = !noVerify;
  options.printAfterAll = printAfterAll;
  options.timePasses = timePasses;
  if (Error err = readScheduleOptions(options))
    return err;
  // One processor runs one step (micro-batch) at a time, its F and then
  // its backward, unless the graph is unfolded or the schedule puts
  // several virtual stages on it. Anything else runs F of later steps
  // before the first layer's G, which then gathers its batch again.
  const ScheduleOptions &S = options.schedule;
  options.dfg.reloadInput =
      S.procs > 1 || S.unfold > 1 || hasVirtualStages(S.kind);
  if (Error err = readPlanOptions(options))
    return err;
  return checkOutputPaths(options);
}

/// How the micro-batch of a step is decided (--micro-batch).
enum class MicroBatchMode { None, Explicit, Auto, Default };

static Expected<MicroBatchMode> microBatchMode(const CompileOptions &options) {
  const ScheduleOptions &S = options.schedule;
  bool async = S.microBatches == 0 && (S.kind == ScheduleKind::LayerPipe ||
                                       S.kind == ScheduleKind::PipeDream);
  StringRef flag = microBatchFlag;
  if (flag.empty()) {
    // The default: an asynchronous pipelined plan with delays takes steps
    // of the micro-batch auto chooses (docs/training-semantics.md). Times
    // from a trace are for the batch that trace ran: they keep it.
    if (async && options.plan.targetProcs > 1 &&
        options.plan.delays != DelayRule::None && traceTimesPath.empty())
      return MicroBatchMode::Default;
    return MicroBatchMode::None;
  }
  // none: the model's batch, whatever the schedule (today's plans).
  if (flag == "none")
    return MicroBatchMode::None;
  if (!async)
    return createStringError(
        inconvertibleErrorCode(),
        "--micro-batch sets the samples of an asynchronous pipeline's step; "
        "a synchronous schedule splits its batch with --micro-batches "
        "instead");
  if (flag != "auto")
    return MicroBatchMode::Explicit;
  if (!traceTimesPath.empty())
    return createStringError(
        inconvertibleErrorCode(),
        "--micro-batch auto cannot price other batches from "
        "--times-from-trace (the trace's times are for the batch it ran); "
        "give --micro-batch N, N that batch");
  return MicroBatchMode::Auto;
}

/// The batch_size a profile file states, or 0 when it cannot be read
/// (applyProfile then says why).
static int64_t profileBatch(StringRef path) {
  ErrorOr<std::unique_ptr<MemoryBuffer>> buffer = MemoryBuffer::getFile(path);
  if (!buffer)
    return 0;
  nlohmann::json root =
      nlohmann::json::parse((*buffer)->getBuffer().begin(),
                            (*buffer)->getBuffer().end(), nullptr, false);
  if (root.is_discarded() || !root.is_object() ||
      !root.contains("batch_size") || !root["batch_size"].is_number_integer())
    return 0;
  return root["batch_size"].get<int64_t>();
}

/// The --profile measured at batch \p batch; with a single profile and
/// \p exact false, that one (applyProfile then names a batch that does not
/// match). Empty when there is none.
static std::string profileFor(int64_t batch, bool exact) {
  for (const std::string &path : profilePaths)
    if (profileBatch(path) == batch)
      return path;
  if (!exact && profilePaths.size() == 1)
    return profilePaths.front();
  return "";
}

/// "64, 4": the batches of the --profile files.
static std::string profileBatches() {
  std::string batches;
  for (const std::string &path : profilePaths)
    batches += (batches.empty() ? "" : ", ") +
               std::to_string(profileBatch(path));
  return batches;
}

/// The largest gradient delay of the compiled plan: the stage program's
/// delays (PipeDream's stage-level schedules keep 2 (p - 1 - s) per stage,
/// lib/CodeGen/ProgramPlan.cpp), else the planner's.
static int64_t planMaxDelay(const Compilation &C) {
  const Schedule &S = C.schedule.schedule;
  bool stageLevel = std::any_of(S.tasks.begin(), S.tasks.end(),
                                [](const ScheduledTask &t) {
                                  return t.layer < 0;
                                });
  if (S.periodic && stageLevel && !S.stageOfLayer.empty()) {
    unsigned p =
        *std::max_element(S.stageOfLayer.begin(), S.stageOfLayer.end()) + 1;
    return 2 * int64_t(p - 1);
  }
  int64_t maxDelay = 0;
  for (int64_t d : C.plan.gradientDelay)
    maxDelay = std::max(maxDelay, d);
  return maxDelay;
}

/// The candidates of --micro-batch auto: B, then the powers of two below
/// it, largest first.
static std::vector<int64_t> microBatchCandidates(int64_t userBatch) {
  std::vector<int64_t> candidates{userBatch};
  int64_t b = 1;
  while (b * 2 < userBatch)
    b *= 2;
  for (; b >= 1; b /= 2)
    if (b != userBatch)
      candidates.push_back(b);
  return candidates;
}

/// Reprices \p C's model at micro-batch \p b of its batch.
static Error rebatchTo(Compilation &C, int64_t b) {
  int64_t userBatch = C.model.batchSize;
  if (b == userBatch)
    return Error::success();
  if (Error err = rebatchModel(C.model, b))
    return err;
  C.userBatch = userBatch;
  return Error::success();
}

/// --micro-batch N.
static Error explicitMicroBatch(Compilation &C) {
  int64_t userBatch = C.model.batchSize;
  long long n = 0;
  StringRef flag = microBatchFlag;
  if (flag.getAsInteger(10, n) || n < 1 || n > userBatch)
    return createStringError(
        inconvertibleErrorCode(),
        "--micro-batch must be auto, none or a whole number in [1, the "
        "model's batch_size %lld], got '%s'",
        (long long)userBatch, flag.str().c_str());
  C.microBatch.rule = "explicit";
  C.microBatch.userBatch = userBatch;
  C.microBatch.chosen = n;
  return rebatchTo(C, n);
}

/// --delays=schedule: the fewest gradient delays per layer that the
/// schedule's start times need. The weight-gradient dependence G_l -> U_l
/// of a periodic schedule with period T holds with distance
/// ceil((end(G) + transfer - start(U)) / T); a larger distance is slack,
/// and each period of slack is one delay the layer does not need. Delays
/// then grow toward the input (a producer's at least its consumers').
/// Returns false (and leaves \p out alone) for schedules it does not cover:
/// synchronous, unfolded or stage-level ones.
static bool scheduleNeededDelays(const Compilation &C,
                                 std::vector<int64_t> &out) {
  const Schedule &S = C.schedule.schedule;
  if (!S.periodic || S.unfolding != 1 || S.period <= 0)
    return false;
  size_t numLayers = C.model.layers.size();
  std::vector<int64_t> delays = C.plan.gradientDelay;
  if (delays.size() != numLayers)
    return false;
  std::vector<bool> seen(numLayers, false);
  for (const ScheduleDep &dep : S.deps) {
    const ScheduledTask &g = S.tasks[dep.src], &u = S.tasks[dep.dst];
    if (g.kind != TaskKind::WeightGradient || u.kind != TaskKind::Update)
      continue;
    if (g.layer < 0 || g.layer != u.layer)
      return false;
    double transfer = g.proc == u.proc ? 0.0 : dep.transferUs;
    double need = (g.end() + transfer - u.start) / S.period;
    int64_t needed = int64_t(std::ceil(need - 1e-9));
    int64_t slack = std::max<int64_t>(0, dep.distance - needed);
    size_t l = size_t(g.layer);
    delays[l] = std::max<int64_t>(0, delays[l] - slack);
    seen[l] = true;
  }
  for (size_t l = 0; l < numLayers; ++l)
    if (C.model.layers[l].hasWeights() && !seen[l] && delays[l] > 0)
      return false;
  auto consumers = C.model.consumers();
  for (size_t l = numLayers; l-- > 0;) {
    if (!C.model.layers[l].hasWeights())
      delays[l] = 0;
    for (unsigned c : consumers[l])
      delays[l] = std::max(delays[l], delays[c]);
  }
  out = std::move(delays);
  return true;
}

static std::string delaysOfWeightedLayers(const Model &model,
                                          const std::vector<int64_t> &d) {
  std::string s;
  for (size_t l = 0; l < model.layers.size(); ++l)
    if (model.layers[l].hasWeights())
      s += (s.empty() ? "" : " ") + std::to_string(d[l]);
  return s;
}

/// Lowers the delays to what the schedule needs and plans again (through
/// the model's gradient_delay fields), while the period does not grow;
/// every round is planned, scheduled and verified like any plan. Keeps the
/// last plan that was not worse; \p note says what happened.
static Error lowerDelaysToSchedule(Compilation &C,
                                   function_ref<Error()> planAndSchedule,
                                   std::string &note) {
  double period0 = C.schedule.schedule.period;
  std::vector<int64_t> first = C.plan.gradientDelay;
  size_t numLayers = C.model.layers.size();
  // Plans with \p delays (model fields), keeps it when the period does not
  // grow, else restores the previous compilation.
  auto tryDelays = [&](const std::vector<int64_t> &delays,
                       bool &kept) -> Error {
    Compilation saved = C;
    for (size_t l = 0; l < numLayers; ++l)
      if (C.model.layers[l].hasWeights())
        C.model.layers[l].gradientDelay = unsigned(delays[l]);
    C.options.plan.delays = DelayRule::FromModel;
    if (Error err = planAndSchedule())
      return err;
    kept = C.schedule.scheduled &&
           C.schedule.schedule.period <= period0 * (1 + 1e-9);
    if (!kept)
      C = std::move(saved);
    return Error::success();
  };
  // 1. Groups of layers that share a delay (layerpipe2's stages), from the
  // output back to the input: the fewest delays at which the scheduled
  // period stays layerpipe2's (binary search; every trial is planned,
  // scheduled and verified).
  std::vector<int64_t> values;
  for (size_t l = 0; l < numLayers; ++l)
    if (C.model.layers[l].hasWeights())
      values.push_back(first[l]);
  std::sort(values.begin(), values.end());
  values.erase(std::unique(values.begin(), values.end()), values.end());
  int64_t floor = 0;
  for (int64_t value : values) {
    int64_t lo = floor, hi = value;
    while (lo < hi) {
      int64_t mid = lo + (hi - lo) / 2;
      std::vector<int64_t> trial = C.plan.gradientDelay;
      for (size_t l = 0; l < numLayers; ++l)
        if (C.model.layers[l].hasWeights() && first[l] == value)
          trial[l] = mid;
      bool kept = false;
      if (Error err = tryDelays(trial, kept))
        return err;
      if (kept)
        hi = mid;
      else
        lo = mid + 1;
    }
    floor = lo;
  }
  // 2. Then the slack the schedule's start times leave on each layer's
  // weight-gradient dependence.
  for (int round = 0; round < 4; ++round) {
    std::vector<int64_t> needed;
    if (!scheduleNeededDelays(C, needed)) {
      note = "  delays:     schedule: not derived (only periodic, not "
             "unfolded, layer-level schedules); layerpipe2's kept\n";
      return Error::success();
    }
    if (needed == C.plan.gradientDelay)
      break;
    bool kept = false;
    if (Error err = tryDelays(needed, kept))
      return err;
    if (!kept)
      break;
  }
  note = formatv("  delays:     schedule {0} (period {1:f1} us) vs layerpipe2 "
                 "{2} (period {3:f1} us), layers with weights\n",
                 delaysOfWeightedLayers(C.model, C.plan.gradientDelay),
                 C.schedule.schedule.period,
                 delaysOfWeightedLayers(C.model, first), period0)
             .str();
  return Error::success();
}

/// A lower bound of the period \p C's plan can schedule to: the iteration
/// bound after the delays and the work per processor (the layerpipe
/// scheduler starts its search there).
static double periodLowerBound(const Compilation &C) {
  double work = 0;
  for (const Task &t : C.dfg.tasks)
    work += t.timeUs;
  return std::max(C.plan.retimedBound.boundUs,
                  work / std::max(1u, C.options.schedule.procs));
}

/// --micro-batch auto (and its default): prices every candidate b (B and
/// the powers of two below it; with --profile, the profiled ones) and keeps
/// the best predicted samples/s among those whose staleness D_max·b is at
/// most B/2, the larger b on a tie; when none passes, the smallest one
/// priced (the trainer's auto takes b = 1 then). Every candidate is
/// planned, which gives its delays (below the model's batch and without an
/// explicit `--micro-batch auto`, only its grouping and delays when those
/// already make it too stale); a candidate is scheduled (the full
/// compilation at b, verified) when the rule allows it and its lower bound
/// could still beat the best so far, or, with an explicit
/// `--micro-batch auto`, always (the whole trade-off in the plan summary).
/// Plans whose delays come from their schedule (pipedream, --delays=schedule)
/// are scheduled in every case.
static Error chooseMicroBatch(Compilation &C, MicroBatchMode mode,
                              function_ref<Error(bool)> loadProfile,
                              function_ref<Error()> delaysOnly,
                              function_ref<Error()> planOnly,
                              function_ref<Error()> scheduleOnly,
                              function_ref<Error()> compileAll,
                              std::string &scheduleDelaysNote) {
  const Compilation base = C;
  int64_t userBatch = base.model.batchSize;
  bool scheduleAll = mode == MicroBatchMode::Auto;
  bool delaysFromSchedule =
      base.options.schedule.kind != ScheduleKind::LayerPipe ||
      base.options.plan.scheduleDelays;
  MicroBatchChoice choice;
  choice.rule = mode == MicroBatchMode::Auto ? "auto" : "default";
  choice.userBatch = userBatch;
  std::vector<Compilation> compiled;
  std::vector<std::string> notes;
  std::vector<size_t> compiledOf;
  double bestRate = -1;
  // Whether C holds the last candidate's whole plan (not scheduled).
  bool fullyPlanned = false;
  for (int64_t b : microBatchCandidates(userBatch)) {
    MicroBatchCandidate cand;
    cand.microBatch = b;
    compiledOf.push_back(SIZE_MAX);
    if (!profilePaths.empty() && profileFor(b, /*exact=*/true).empty()) {
      cand.note = "no --profile at this batch";
      choice.candidates.push_back(std::move(cand));
      continue;
    }
    C = base;
    scheduleDelaysNote.clear();
    Error err = rebatchTo(C, b);
    if (!err)
      err = loadProfile(/*exact=*/true);
    bool schedule = true;
    fullyPlanned = false;
    // Below the model's batch, a candidate whose stages' delays already make
    // it too stale is neither priced nor scheduled: its grouping and delays
    // say so, and the rest of its plan (the delayed graph's bound, retiming,
    // memory: seconds at 10^5 layers) would change nothing shown.
    bool tooStale = false;
    if (!err && !delaysFromSchedule && !scheduleAll && b != userBatch) {
      err = delaysOnly();
      tooStale = !err && 2 * planMaxDelay(C) * b > userBatch;
    }
    if (!err && tooStale) {
      cand.maxDelay = planMaxDelay(C);
      cand.stalenessSamples = cand.maxDelay * b;
      cand.allowed = false;
      cand.note = "not scheduled: too stale";
      schedule = false;
    } else if (!err && !delaysFromSchedule) {
      err = planOnly();
      fullyPlanned = !err;
      if (!err) {
        cand.maxDelay = planMaxDelay(C);
        cand.stalenessSamples = cand.maxDelay * b;
        cand.allowed = 2 * cand.stalenessSamples <= userBatch;
        double bound = periodLowerBound(C);
        bool canWin = bound <= 0 || double(b) / bound * 1e6 > bestRate;
        schedule = scheduleAll || (cand.allowed && canWin);
        if (!schedule)
          cand.note = cand.allowed
                          ? formatv("not scheduled: at most {0:f0} samples/s "
                                    "(period lower bound {1:f2} us)",
                                    double(b) / bound * 1e6, bound)
                                .str()
                          : "not scheduled: too stale";
      }
    }
    if (!err && schedule)
      err = compileAll();
    if (err) {
      // The model's own batch must compile: its error is the user's.
      if (b == userBatch)
        return err;
      cand.note = toString(std::move(err));
      choice.candidates.push_back(std::move(cand));
      continue;
    }
    if (!schedule) {
      choice.candidates.push_back(std::move(cand));
      continue;
    }
    cand.priced = C.schedule.scheduled;
    cand.periodUs = C.schedule.metrics.period;
    cand.samplesPerSecond = C.schedule.metrics.samplesPerSecond;
    cand.maxDelay = planMaxDelay(C);
    cand.stalenessSamples = cand.maxDelay * b;
    cand.allowed = 2 * cand.stalenessSamples <= userBatch;
    if (cand.priced && cand.allowed)
      bestRate = std::max(bestRate, cand.samplesPerSecond);
    compiledOf.back() = compiled.size();
    choice.candidates.push_back(std::move(cand));
    compiled.push_back(std::move(C));
    notes.push_back(scheduleDelaysNote);
  }
  // The best allowed candidate; else the smallest priced one.
  size_t best = SIZE_MAX;
  for (size_t i = 0; i < choice.candidates.size(); ++i) {
    const MicroBatchCandidate &cand = choice.candidates[i];
    if (!cand.priced || !cand.allowed)
      continue;
    if (best == SIZE_MAX ||
        cand.samplesPerSecond > choice.candidates[best].samplesPerSecond)
      best = i;
  }
  if (best == SIZE_MAX)
    for (size_t i = 0; i < choice.candidates.size(); ++i)
      if (choice.candidates[i].priced)
        best = i;
  // Candidates that planned (a profile, no error): the fallback's choice.
  size_t smallest = SIZE_MAX;
  for (size_t i = 0; i < choice.candidates.size(); ++i)
    if (choice.candidates[i].priced ||
        StringRef(choice.candidates[i].note).startswith("not scheduled"))
      smallest = i;
  if (best == SIZE_MAX && smallest == SIZE_MAX)
    return createStringError(
        inconvertibleErrorCode(),
        "--micro-batch auto: none of the --profile files (batches %s) is at "
        "a candidate micro-batch (the model's batch %lld or a power of two "
        "below it)",
        profileBatches().c_str(), (long long)userBatch);
  if (best == SIZE_MAX) {
    // No candidate passes the rule and none was scheduled: the smallest.
    int64_t b = choice.candidates[smallest].microBatch;
    // The last candidate planned but not scheduled is still in C: its
    // schedule alone is missing (compileAll would plan it again: the same
    // plan, seconds on 10^5 layers).
    bool planned = fullyPlanned &&
                   smallest + 1 == choice.candidates.size() &&
                   compiledOf[smallest] == SIZE_MAX &&
                   StringRef(choice.candidates[smallest].note)
                       .startswith("not scheduled");
    if (planned) {
      if (Error err = scheduleOnly())
        return err;
    } else {
      C = base;
      scheduleDelaysNote.clear();
      if (Error err = rebatchTo(C, b))
        return err;
      if (Error err = loadProfile(true))
        return err;
      if (Error err = compileAll())
        return err;
    }
    MicroBatchCandidate &cand = choice.candidates[smallest];
    cand.priced = C.schedule.scheduled;
    cand.periodUs = C.schedule.metrics.period;
    cand.samplesPerSecond = C.schedule.metrics.samplesPerSecond;
    cand.note.clear();
    choice.chosen = b;
    C.microBatch = std::move(choice);
    return Error::success();
  }
  C = std::move(compiled[compiledOf[best]]);
  scheduleDelaysNote = notes[compiledOf[best]];
  choice.chosen = choice.candidates[best].microBatch;
  C.microBatch = std::move(choice);
  return Error::success();
}

/// Whether --grouping-cost=auto compiles \p C under both stage costs: the
/// optimal grouping of an asynchronous layerpipe schedule with more than one
/// stage, on a graph the scheduler list-schedules (at most 1,250 layers,
/// about 5,000 tasks; a 10,000-layer MLP is laid out by stages, where the
/// max grouping is the one that balances them).
static bool bothGroupingCosts(const Compilation &C) {
  const PlanOptions &plan = C.options.plan;
  const ScheduleOptions &schedule = C.options.schedule;
  unsigned stages = plan.stagesCount ? plan.stagesCount : schedule.procs;
  return plan.bothGroupingCosts && plan.grouping == GroupingMode::Optimal &&
         schedule.kind == ScheduleKind::LayerPipe &&
         schedule.microBatches == 0 && stages > 1 &&
         C.model.layers.size() > 1 && C.model.layers.size() <= 1250;
}

/// Whether compilation \p a ran faster than \p b: a verified schedule over
/// none, a micro-batch the staleness rule allows over one it does not, then
/// the shorter period at the same micro-batch (more samples/s across
/// micro-batches); ties go to \p b.
static bool betterThan(const Compilation &a, const Compilation &b) {
  if (!a.schedule.scheduled || !b.schedule.scheduled)
    return a.schedule.scheduled && !b.schedule.scheduled;
  auto allowed = [](const Compilation &c) {
    for (const MicroBatchCandidate &cand : c.microBatch.candidates)
      if (cand.microBatch == c.microBatch.chosen)
        return cand.allowed;
    return true;
  };
  if (allowed(a) != allowed(b))
    return allowed(a);
  if (a.model.batchSize == b.model.batchSize)
    return a.schedule.metrics.period <
           b.schedule.metrics.period * (1 - 1e-12);
  return a.schedule.metrics.samplesPerSecond >
         b.schedule.metrics.samplesPerSecond * (1 + 1e-12);
}

/// One line under the summary's headline: the chosen micro-batch and why.
static std::string microBatchNote(const Compilation &C) {
  const MicroBatchChoice &mb = C.microBatch;
  if (mb.candidates.empty())
    return "";
  std::string text = formatv("  micro-batch: {0} of the model's batch {1} "
                             "(--micro-batch auto{2}: best predicted "
                             "samples/s with D_max*b <= {3}; lr x {0}/{1}",
                             mb.chosen, mb.userBatch,
                             mb.rule == "default" ? ", the default here" : "",
                             mb.userBatch / 2)
                         .str();
  if (mb.chosen < mb.userBatch)
    text += ", a constant schedule becomes cosine";
  text += "; --print=plan lists the candidates)\n";
  for (const MicroBatchCandidate &cand : mb.candidates)
    if (cand.microBatch == mb.chosen && !cand.allowed)
      text += formatv("  warning: no candidate priced meets the staleness "
                      "rule; b = {0} is {1} samples stale{2}\n",
                      mb.chosen, cand.stalenessSamples,
                      profilePaths.empty()
                          ? ""
                          : " (profile smaller batches with "
                            "layerpipe-profile --batch b)")
                  .str();
  return text;
}

/// Every layer's current F (or loss), B, G and U times, the profile's or
/// the cost model's: what a stage task of a --times-from-trace trace is
/// split by over its layers.
static Expected<std::vector<LayerTaskTimes>>
currentLayerTimes(const Compilation &C) {
  Expected<TrainingDFG> dfg = buildTrainingDFG(C.model, C.machine, {});
  if (!dfg)
    return dfg.takeError();
  std::vector<LayerTaskTimes> times(C.model.layers.size(), {0, 0, 0, 0});
  for (size_t l = 0; l < times.size() && l < dfg->layerTasks.size(); ++l) {
    const LayerTasks &lt = dfg->layerTasks[l];
    int task[4] = {lt.forward, lt.activationGradient, lt.weightGradient,
                   lt.update};
    for (unsigned k = 0; k < 4; ++k)
      if (task[k] >= 0)
        times[l][k] = dfg->tasks[size_t(task[k])].timeUs;
  }
  return times;
}

/// A line under the summary's headline when the profile found its CPUs
/// running at different speeds and the plan uses several processors: the
/// schedule assumes every processor as fast as the CPU the tasks were
/// timed on (docs/profile.md, "Which CPU").
static std::string cpuSpeedNote(const Compilation &C) {
  const MachineDesc &m = C.machine;
  if (m.cpuSpeedSpread <= NotableCpuSpread || C.schedule.schedule.procs < 2)
    return "";
  return formatv("  note:       while profiling, CPU {0} ran {1:f2}x slower "
                 "than CPU {2} (the profile's probe); the period assumes "
                 "every processor as fast as the CPU the tasks were timed "
                 "on, so a run may take up to {1:f2}x as long while one CPU "
                 "is that slow (docs/profile.md, \"Which CPU\")\n",
                 m.slowestCpu, m.cpuSpeedSpread, m.fastestCpu)
      .str();
}

/// `profile_cpus` in --report-json: the profile's CPU speed spread.
static void addProfileCpusToReport(const Compilation &C,
                                   nlohmann::json &report) {
  const MachineDesc &m = C.machine;
  if (m.cpuSpeedSpread <= 0)
    return;
  report["profile_cpus"] = {{"speed_spread", m.cpuSpeedSpread},
                            {"fastest_cpu", m.fastestCpu},
                            {"slowest_cpu", m.slowestCpu}};
}

/// `micro_batch` in --report-json (docs/report-json.md): the samples of a
/// pipelined step, the rate rule and every priced candidate.
static void addMicroBatchToReport(const Compilation &C,
                                  nlohmann::json &report) {
  const MicroBatchChoice &mb = C.microBatch;
  if (mb.rule.empty())
    return;
  nlohmann::json candidates = nlohmann::json::array();
  for (const MicroBatchCandidate &cand : mb.candidates) {
    nlohmann::json j = {{"micro_batch", cand.microBatch},
                        {"priced", cand.priced},
                        {"allowed", cand.allowed},
                        {"chosen", cand.microBatch == mb.chosen}};
    if (cand.priced) {
      j["period_us"] = cand.periodUs;
      j["samples_per_second"] = cand.samplesPerSecond;
      j["max_delay"] = cand.maxDelay;
      j["staleness_samples"] = cand.stalenessSamples;
    }
    if (!cand.note.empty())
      j["note"] = cand.note;
    candidates.push_back(std::move(j));
  }
  report["micro_batch"] = {
      {"rule", mb.rule},
      {"user_batch", mb.userBatch},
      {"micro_batch", mb.chosen},
      {"lr_scale", double(mb.chosen) / double(mb.userBatch)},
      {"lr_rule", "linear: lr x b/B, warm-up steps x B/b, a constant "
                  "schedule becomes cosine when b < B"},
      {"staleness_limit_samples", mb.userBatch / 2},
      {"candidates", std::move(candidates)}};
}

/// The whole compilation, from flags to files.
static Error compile(StageTimes &times) {
  Compilation C;
  Expected<PrintSections> print = readPrintSections();
  if (!print)
    return print.takeError();
  if (Error err = readOptions(C.options))
    return err;

  ProgressLine progress;
  auto stage = [&](StringRef name, bool changesDFG,
                   function_ref<Error()> body) {
    return runStage(C, times, progress, name, changesDFG, body);
  };
  if (Error err = stage("load machine", false, [&]() -> Error {
        if (C.options.machinePath.empty())
          return Error::success();
        Expected<MachineDesc> machine = loadMachine(C.options.machinePath);
        if (!machine)
          return machine.takeError();
        C.machine = std::move(*machine);
        return Error::success();
      }))
    return err;
  if (Error err = stage("load model", false, [&]() -> Error {
        Expected<Model> model = readModel(C.options.modelPath);
        if (!model)
          return model.takeError();
        C.model = std::move(*model);
        return Error::success();
      }))
    return err;
  Expected<MicroBatchMode> mode = microBatchMode(C.options);
  if (!mode)
    return mode.takeError();
  // Times measured in the model file are for its batch: the default keeps
  // it (an explicit auto lists why the other candidates are not priced).
  if (*mode == MicroBatchMode::Default &&
      std::any_of(C.model.layers.begin(), C.model.layers.end(),
                  [](const Layer &l) { return l.measured.any(); }))
    *mode = MicroBatchMode::None;
  if (*mode == MicroBatchMode::Explicit)
    if (Error err = stage("micro-batch", false,
                          [&] { return explicitMicroBatch(C); }))
      return err;
  // The profile for the model's (micro-)batch; --micro-batch auto takes
  // one per candidate instead.
  auto loadProfile = [&](bool exact) -> Error {
    if (profilePaths.empty())
      return Error::success();
    std::string path = profileFor(C.model.batchSize, exact);
    if (path.empty())
      return createStringError(
          inconvertibleErrorCode(),
          "--profile: no profile measured at batch %lld (the profiles are "
          "at batches %s; profile again with --batch %lld)",
          (long long)C.model.batchSize, profileBatches().c_str(),
          (long long)C.model.batchSize);
    return stage("load profile", false, [&] {
      return applyProfile(path, C.model, C.machine);
    });
  };
  bool autoBatch =
      *mode == MicroBatchMode::Auto || *mode == MicroBatchMode::Default;
  if (!autoBatch)
    if (Error err = loadProfile(false))
      return err;
  // A profile whose batch cannot be read matches no candidate; its own
  // error (the field, the value) says more than "no profile at batch 0".
  if (autoBatch)
    for (const std::string &path : profilePaths)
      if (profileBatch(path) == 0) {
        Model model = C.model;
        MachineDesc machine = C.machine;
        if (Error err = applyProfile(path, model, machine))
          return err;
      }
  if (!traceTimesPath.empty())
    if (Error err = stage("load trace times", false, [&] {
          Expected<std::vector<LayerTaskTimes>> current =
              currentLayerTimes(C);
          if (!current)
            return current.takeError();
          return applyTraceTimes(traceTimesPath, C.model, *current);
        }))
      return err;
  auto buildDFG = [&]() -> Error {
    return stage("build training DFG", true, [&]() -> Error {
      Expected<TrainingDFG> dfg =
          buildTrainingDFG(C.model, C.machine, C.options.dfg);
      if (!dfg)
        return dfg.takeError();
      C.dfg = std::move(*dfg);
      return Error::success();
    });
  };
  // The grouping and gradient delays alone (C.plan's stages and delays).
  auto delaysOnly = [&]() -> Error {
    if (Error err = buildDFG())
      return err;
    return stage("grouping and delays", false, [&]() -> Error {
      return planStagesAndDelays(C);
    });
  };
  auto planOnly = [&]() -> Error {
    if (Error err = buildDFG())
      return err;
    if (Error err = stage("iteration bound", false, [&]() -> Error {
          Expected<IterationBound> bound = computeIterationBound(C.dfg);
          if (!bound)
            return bound.takeError();
          C.initialBound = std::move(*bound);
          return Error::success();
        }))
      return err;
    // The planner dumps the DFG after each of its own passes.
    return stage("planning", false, [&] { return runPlanning(C); });
  };
  auto scheduleOnly = [&]() -> Error {
    return stage("scheduling", false, [&] { return runScheduling(C); });
  };
  auto planAndSchedule = [&]() -> Error {
    if (Error err = planOnly())
      return err;
    return scheduleOnly();
  };
  std::string scheduleDelaysNote;
  auto compileAll = [&]() -> Error {
    if (Error err = planAndSchedule())
      return err;
    if (C.options.plan.scheduleDelays)
      return lowerDelaysToSchedule(C, planAndSchedule, scheduleDelaysNote);
    return Error::success();
  };
  // The whole compilation (with --micro-batch auto, every candidate and
  // the choice) under the stage cost in C.options.plan.groupingCost.
  auto compileFlow = [&]() -> Error {
    if (!autoBatch)
      return compileAll();
    return chooseMicroBatch(C, *mode, loadProfile, delaysOnly, planOnly,
                            scheduleOnly, compileAll, scheduleDelaysNote);
  };
  if (!bothGroupingCosts(C)) {
    if (Error err = compileFlow())
      return err;
  } else {
    // --grouping-cost=auto: the grouping that charges a stage the larger
    // of its work and link time balances the processors, but where the
    // links carry about as much, contention can make its stages lay out
    // slower than those of the earlier work-plus-transfers grouping
    // (tiny-gpt on 6 processors: 1400.8 against 1252.7 us). Small graphs
    // compile in well under a second, so both run and the faster result
    // is kept (the max on a tie): its delays, report and programs all
    // follow the grouping kept.
    const Compilation start = C;
    C.options.plan.groupingCost = GroupingCost::Max;
    if (Error err = compileFlow())
      return err;
    Compilation withMax = std::move(C);
    std::string maxNote = scheduleDelaysNote;
    C = start;
    scheduleDelaysNote.clear();
    C.options.plan.groupingCost = GroupingCost::Sum;
    Error sumErr = compileFlow();
    bool keepSum = !sumErr && betterThan(C, withMax);
    // What the compilation not kept reached, for the summary and report.
    auto other = [](const Compilation &from, PipelinePlan &to) {
      bool ok = from.schedule.scheduled;
      to.otherCostPeriodUs = ok ? from.schedule.metrics.period : 0;
      to.otherCostSamplesPerSecond =
          ok ? from.schedule.metrics.samplesPerSecond : 0;
      to.otherCostBatch = from.model.batchSize;
    };
    if (keepSum) {
      other(withMax, C.plan);
    } else {
      Compilation withSum = std::move(C);
      if (sumErr)
        withSum.schedule.scheduled = false;
      consumeError(std::move(sumErr));
      C = std::move(withMax);
      scheduleDelaysNote = std::move(maxNote);
      other(withSum, C.plan);
    }
  }

  progress.finish();
  if (Error err = stage("summary", false, [&] {
        // With -o -, stdout carries the schedule JSON alone.
        raw_ostream &os =
            C.options.schedule.outputPath == "-" ||
                    C.options.schedule.torchSchedulePath == "-"
                ? errs()
                : outs();
        if (print->summary) {
          printHeadline(C, os);
          os << microBatchNote(C) << cpuSpeedNote(C);
          if (!scheduleDelaysNote.empty())
            os << scheduleDelaysNote;
        }
        if (print->layers)
          printModelSummary(C, os);
        if (print->plan)
          printPlanSummary(C, os);
        if (print->schedule)
          printScheduleSummary(C, os);
        os.flush();
        return Error::success();
      }))
    return err;
  if (!reportJsonPath.empty()) {
    nlohmann::json report = nlohmann::json::object();
    auto fill = [&](StringRef name, void (*add)(const Compilation &,
                                                nlohmann::json &)) {
      return stage(name, false, [&] {
        add(C, report);
        return Error::success();
      });
    };
    if (Error err = fill("report: model", addModelToReport))
      return err;
    if (Error err = fill("report: plan", addPlanToReport))
      return err;
    if (Error err = fill("report: schedule", addScheduleToReport))
      return err;
    if (Error err = fill("report: micro-batch", addMicroBatchToReport))
      return err;
    if (Error err = fill("report: profile CPUs", addProfileCpusToReport))
      return err;
    if (Error err = stage("report: write", false, [&] {
          return writeOutputFile(reportJsonPath, [&](raw_ostream &os) {
            writeReport(C, report, os);
          });
        }))
      return err;
  }
  if (!emitDotPath.empty())
    if (Error err = stage("emit DOT", false, [&] {
          return writeOutputFile(emitDotPath, [&](raw_ostream &os) {
            writeDFGDot(C.dfg, C.model, os);
          });
        }))
      return err;
  if (!emitDfgPath.empty())
    if (Error err = stage("emit DFG JSON", false, [&] {
          return writeOutputFile(emitDfgPath, [&](raw_ostream &os) {
            writeDFGJson(C.dfg, C.model, os);
          });
        }))
      return err;
  if (Error err = stage("schedule outputs", false,
                        [&] { return writeScheduleOutputs(C); }))
    return err;
  return stage("emit stage program", false,
               [&] { return writeStageProgram(C); });
}

/// Large graphs allocate and free arrays of megabytes many times (every
/// candidate plan, the report). glibc serves those with fresh mmap pages,
/// zeroed by the kernel on first touch, and trims the heap after each free:
/// at 10^5 layers a sixth of the run went to page faults. Keeping freed
/// memory in the heap for reuse costs a little more resident memory.
///
/// The heap also grows by a gigabyte of address space at a time, and the
/// first gigabyte is marked for transparent huge pages (which this kernel,
/// like many, gives only on request): with 2 MiB pages the walks over
/// arrays of 300,000 tasks take fewer TLB misses and page faults, and a
/// 10^5-layer run (340 MB resident) took a fifth less CPU time here.
/// Memory is still only touched when used; without THP it changes nothing.
static void keepFreedMemory() {
#ifdef __GLIBC__
  mallopt(M_MMAP_THRESHOLD, 256 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  mallopt(M_TOP_PAD, 1 << 30);
  // Grow the heap (sbrk) now, pad included: a block of 1 MiB (volatile,
  // or the compiler drops the pair) is more than the initial heap holds.
  char *before = static_cast<char *>(sbrk(0));
  void *volatile block = malloc(1 << 20);
  free(block);
  char *after = static_cast<char *>(sbrk(0));
  const uintptr_t huge = 2 << 20;
  uintptr_t from =
      (reinterpret_cast<uintptr_t>(before) + huge - 1) & ~(huge - 1);
  uintptr_t to = reinterpret_cast<uintptr_t>(after) & ~(huge - 1);
  if (before != reinterpret_cast<char *>(-1) && to > from)
    madvise(reinterpret_cast<void *>(from), to - from, MADV_HUGEPAGE);
#endif
}

int main(int argc, char **argv) {
  keepFreedMemory();
  cl::HideUnrelatedOptions({&inputCategory(), &planCategory(),
                            &scheduleCategory(), &outputCategory(),
                            &debugCategory()});
  if (!parseToolFlags(argc, argv,
                      "LayerPipe compiler: training dataflow graph, "
                      "iteration bound, pipeline planning and scheduling of "
                      "a neural network\n"))
    return 1;
  recordCommandLine(argc, argv);
  StageTimes times;
  int status = 0;
  try {
    if (Error err = compile(times)) {
      printToolError(printableText(toString(std::move(err))));
      status = 1;
    }
  } catch (const std::bad_alloc &) {
    printToolError("out of memory");
    status = 1;
  } catch (const std::exception &e) {
    printToolError(Twine("internal error: ") + printableText(e.what()));
    status = 1;
  }
  if (timePasses)
    times.print(errs());
  return status;
}
