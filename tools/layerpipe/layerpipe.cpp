//===- layerpipe.cpp - The LayerPipe compiler driver ----------------------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// A thin driver: parse the flags, then run the stages in pipeline order
// (load machine, load model, build the training DFG, iteration bound,
// planning, scheduling), print the summary and write the requested files.
// Every stage runs through runStage, which times it (--time-passes) and dumps
// the DFG after it (--print-after-all). Errors from any stage become one
// `error: ...` line and exit status 1.
//
//===----------------------------------------------------------------------===//

#include "Options.h"

#include "layerpipe/OutputFile.h"
#include "layerpipe/Printable.h"
#include "layerpipe/Summary.h"

#include "llvm/Support/raw_ostream.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <exception>
#include <functional>
#include <string>
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
                                      cl::desc("<model.json>"),
                                      cl::cat(inputCategory()));
static cl::opt<std::string>
    machinePath("machine", cl::value_desc("file"),
                cl::desc("Machine description (JSON, docs/cost-model.md); "
                         "default: the built-in machine"),
                cl::cat(inputCategory()));
static cl::opt<bool> mergeBackward(
    "merge-backward",
    cl::desc("Fold each layer's activation- and weight-gradient tasks into "
             "one backward task (the PipeDream-style graph)"),
    cl::cat(inputCategory()));

static cl::opt<std::string>
    reportJsonPath("report-json", cl::value_desc("file"),
                   cl::desc("Write the summary as JSON (docs/report-json.md)"),
                   cl::cat(outputCategory()));
static cl::opt<std::string>
    emitDotPath("emit-dot", cl::value_desc("file"),
                cl::desc("Write the training DFG as Graphviz DOT"),
                cl::cat(outputCategory()));
static cl::opt<std::string>
    emitDfgPath("emit-dfg", cl::value_desc("file"),
                cl::desc("Write the training DFG as JSON "
                         "(docs/report-json.md)"),
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

/// Runs one named stage: timed with --time-passes; with --print-after-all
/// the DFG is dumped after stages that change it.
static Error runStage(Compilation &C, StageTimes &times, StringRef name,
                      bool changesDFG, function_ref<Error()> body) {
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

/// Runs one stage's add*ToReport. Stages only add keys; one that assigns a
/// whole object (say `metrics`) would drop what earlier stages wrote there,
/// so the top-level objects' keys are put back where a stage removed them
/// (values a stage did write are kept). `layers`, an array, is left alone:
/// stages extend its elements in place.
static void addKeepingEarlierKeys(const Compilation &C, nlohmann::json &report,
                                  void (*add)(const Compilation &,
                                              nlohmann::json &)) {
  nlohmann::json before = nlohmann::json::object();
  for (const auto &item : report.items())
    if (item.value().is_object())
      before[item.key()] = item.value();
  add(C, report);
  for (const auto &item : before.items()) {
    nlohmann::json &now = report[item.key()];
    if (!now.is_object())
      continue;
    for (const auto &key : item.value().items())
      if (!now.contains(key.key()))
        now[key.key()] = key.value();
  }
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
  return readPlanOptions(options);
}

/// The whole compilation, from flags to files.
static Error compile(StageTimes &times) {
  Compilation C;
  if (Error err = readOptions(C.options))
    return err;

  auto stage = [&](StringRef name, bool changesDFG,
                   function_ref<Error()> body) {
    return runStage(C, times, name, changesDFG, body);
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
        Expected<Model> model = loadModel(C.options.modelPath);
        if (!model)
          return model.takeError();
        C.model = std::move(*model);
        return Error::success();
      }))
    return err;
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
  if (Error err = stage("scheduling", false, [&] { return runScheduling(C); }))
    return err;

  if (Error err = stage("summary", false, [&] {
        printModelSummary(C, outs());
        printPlanSummary(C, outs());
        printScheduleSummary(C, outs());
        outs().flush();
        return Error::success();
      }))
    return err;
  if (!reportJsonPath.empty()) {
    nlohmann::json report = nlohmann::json::object();
    auto fill = [&](StringRef name, void (*add)(const Compilation &,
                                                nlohmann::json &)) {
      return stage(name, false, [&] {
        addKeepingEarlierKeys(C, report, add);
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
  return stage("schedule outputs", false,
               [&] { return writeScheduleOutputs(C); });
}

int main(int argc, char **argv) {
  cl::SetVersionPrinter(
      [](raw_ostream &os) { os << "layerpipe " LAYERPIPE_VERSION "\n"; });
  cl::HideUnrelatedOptions({&inputCategory(), &planCategory(),
                            &scheduleCategory(), &outputCategory(),
                            &debugCategory()});
  std::string flagErrors;
  raw_string_ostream flagErrorsOs(flagErrors);
  if (!cl::ParseCommandLineOptions(
          argc, argv,
          "LayerPipe compiler: training dataflow graph, iteration bound, "
          "pipeline planning and scheduling of a neural network\n",
          &flagErrorsOs)) {
    flagErrorsOs.flush();
    errs() << "error: " << flagErrors;
    return 1;
  }
  StageTimes times;
  int status = 0;
  try {
    if (Error err = compile(times)) {
      outs().flush();
      errs() << "error: " << printableText(toString(std::move(err))) << "\n";
      status = 1;
    }
  } catch (const std::bad_alloc &) {
    outs().flush();
    errs() << "error: out of memory\n";
    status = 1;
  } catch (const std::exception &e) {
    outs().flush();
    errs() << "error: internal error: " << printableText(e.what()) << "\n";
    status = 1;
  }
  if (timePasses)
    times.print(errs());
  return status;
}
