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
#include "layerpipe/runtime/DelayCorrection.h"

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
static cl::opt<std::string> profilePath(
    "profile", cl::value_desc("file"),
    cl::desc("Measured task times and message cost from layerpipe-profile "
             "(docs/profile.md); replaces the cost model's estimates "
             "(default none)"),
    cl::cat(inputCategory()));
static cl::opt<std::string> traceTimesPath(
    "times-from-trace", cl::value_desc("file"),
    cl::desc("Task times from a stage program's measured trace (--trace): "
             "the median work of each task, to plan again from a real run "
             "(default none)"),
    cl::cat(inputCategory()));
static cl::opt<bool> mergeBackward(
    "merge-backward",
    cl::desc("Fold each layer's activation- and weight-gradient tasks into "
             "one backward task (the PipeDream-style graph)"),
    cl::cat(inputCategory()));

static cl::opt<std::string> microBatchFlag(
    "micro-batch", cl::value_desc("auto|b"),
    cl::desc("Samples per pipelined step: price every task at b samples and "
             "run steps of b (lr scaled by b/B, B the model's batch_size); "
             "auto: the largest power of two b <= B with D_max*b <= B/2 "
             "(docs/training-semantics.md; default: the model's batch)"),
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
  if (Error err = readPlanOptions(options))
    return err;
  return checkOutputPaths(options);
}

/// --micro-batch: reprices the model at the chosen micro-batch b.
static Error chooseMicroBatch(Compilation &C) {
  int64_t userBatch = C.model.batchSize;
  int64_t b = userBatch;
  StringRef flag = microBatchFlag;
  const ScheduleOptions &S = C.options.schedule;
  if (S.microBatches > 0 || (S.kind != ScheduleKind::LayerPipe &&
                             S.kind != ScheduleKind::PipeDream))
    return createStringError(
        inconvertibleErrorCode(),
        "--micro-batch sets the samples of an asynchronous pipeline's step; "
        "a synchronous schedule splits its batch with --micro-batches "
        "instead");
  if (flag == "auto") {
    int64_t maxDelay = 0;
    if (C.options.plan.delays != DelayRule::None &&
        C.options.plan.targetProcs > 1) {
      auto planned = planStagesAndDelays(C.model, C.machine, C.options.plan);
      if (!planned)
        return planned.takeError();
      for (int64_t d : planned->second)
        maxDelay = std::max(maxDelay, d);
    }
    b = runtime::autoMicroBatch(userBatch, maxDelay);
  } else {
    long long n = 0;
    if (flag.getAsInteger(10, n) || n < 1 || n > userBatch)
      return createStringError(
          inconvertibleErrorCode(),
          "--micro-batch must be auto or a whole number in [1, the model's "
          "batch_size %lld], got '%s'",
          (long long)userBatch, flag.str().c_str());
    b = n;
  }
  if (b == userBatch)
    return Error::success();
  if (Error err = rebatchModel(C.model, b))
    return err;
  C.userBatch = userBatch;
  return Error::success();
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
  if (!microBatchFlag.empty())
    if (Error err = stage("micro-batch", false, [&] { return chooseMicroBatch(C); }))
      return err;
  if (!profilePath.empty())
    if (Error err = stage("load profile", false, [&] {
          return applyProfile(profilePath, C.model, C.machine);
        }))
      return err;
  if (!traceTimesPath.empty())
    if (Error err = stage("load trace times", false, [&] {
          return applyTraceTimes(traceTimesPath, C.model);
        }))
      return err;
  auto planAndSchedule = [&]() -> Error {
    if (Error err = stage("build training DFG", true, [&]() -> Error {
          Expected<TrainingDFG> dfg =
              buildTrainingDFG(C.model, C.machine, C.options.dfg);
          if (!dfg)
            return dfg.takeError();
          C.dfg = std::move(*dfg);
          return Error::success();
        }))
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
    if (Error err = stage("planning", false, [&] { return runPlanning(C); }))
      return err;
    return stage("scheduling", false, [&] { return runScheduling(C); });
  };
  if (Error err = planAndSchedule())
    return err;
  std::string scheduleDelaysNote;
  if (C.options.plan.scheduleDelays)
    if (Error err = lowerDelaysToSchedule(C, planAndSchedule,
                                          scheduleDelaysNote))
      return err;

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
    if (Error err = stage("report: write", false, [&] {
          return writeOutputFile(reportJsonPath, [&](raw_ostream &os) {
            os << report.dump(2) << "\n";
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

int main(int argc, char **argv) {
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
