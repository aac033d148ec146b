//===- layerpipe-profile.cpp - Measured task times for the compiler -------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// Times every layer's tasks with the runtime's kernels on this machine, and
// the threads transport's messages, and writes a profile (docs/profile.md)
// that the compiler reads with --profile: it then plans and schedules with
// what this machine really does.
//
//===----------------------------------------------------------------------===//

#include "layerpipe/CodeGen.h"
#include "layerpipe/CostModel.h"
#include "layerpipe/Model.h"
#include "layerpipe/OutputFile.h"
#include "layerpipe/Profile.h"
#include "layerpipe/ToolMain.h"
#include "layerpipe/runtime/Affinity.h"
#include "layerpipe/runtime/Profile.h"

#include "llvm/Support/CommandLine.h"
#include "llvm/Support/raw_ostream.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <memory>

using namespace llvm;
using namespace layerpipe;
namespace rt = layerpipe::runtime;

static cl::OptionCategory profileCat("Profiling");
static cl::opt<std::string> modelPath(cl::Positional, cl::Required,
                                      cl::desc("<model.json>"));
static cl::opt<std::string> outputPath(
    "o", cl::value_desc("file"), cl::Required,
    cl::desc("The profile (JSON, docs/profile.md) for layerpipe --profile "
             "(required, no default)"),
    cl::cat(profileCat));
static cl::opt<int> batchFlag("batch", cl::init(0), cl::value_desc("B"),
                              cl::desc("Batch size (default: the model's "
                                       "batch_size)"),
                              cl::cat(profileCat));
static cl::opt<int> repeats("repeats", cl::init(21), cl::value_desc("N"),
                            cl::desc("Timed runs per task; the median is "
                                     "kept (default 21)"),
                            cl::cat(profileCat));
static cl::opt<int> warmup("warmup", cl::init(3), cl::value_desc("N"),
                           cl::desc("Untimed runs first (default 3)"),
                           cl::cat(profileCat));

enum class Method { Executor, Kernels };
static cl::opt<Method> method(
    "method", cl::init(Method::Executor),
    cl::desc("How tasks are timed (default executor)"),
    cl::values(clEnumValN(Method::Executor, "executor",
                          "as a stage program runs them: a one-processor "
                          "program through the runtime's executor"),
               clEnumValN(Method::Kernels, "kernels",
                          "the kernels alone, each where it runs in a step "
                          "(without the executor's own cost per task)")),
    cl::cat(profileCat));

static cl::opt<std::string> linksPath(
    "links", cl::value_desc("machine.json"),
    cl::desc("Take the link latency and bandwidth from this machine file "
             "(e.g. layerpipe-mpi-probe's, for stage programs on MPI ranks) "
             "(default: none, measure the threads transport)"),
    cl::cat(profileCat));

static Error fail(const std::string &message) {
  return createStringError(inconvertibleErrorCode(), message.c_str());
}

/// Warns when the CPUs ran the probe at clearly different speeds, before
/// or after the tasks were timed: a plan on several processors assumes
/// every processor as fast as the CPU the tasks were timed on
/// (docs/profile.md, "Which CPU").
static void warnOfCpuSpread(const std::vector<int> &cpus,
                            const std::vector<double> &before,
                            const std::vector<double> &after) {
  CpuSpread found = cpuSpread(cpus, {before, after});
  if (found.spread > NotableCpuSpread)
    errs() << fmt::format(
        "layerpipe-profile: warning: CPU {} ran the probe {:.2f}x slower "
        "than CPU {}; the tasks were timed on the fastest, and a plan on "
        "several processors may run up to {:.2f}x its predicted period "
        "while one CPU is that slow (docs/profile.md, \"Which CPU\")\n",
        found.slowest, found.spread, found.fastest, found.spread);
}

static Error run() {
  if (repeats < 1 || repeats > 100000 || warmup < 0 || warmup > 100000)
    return fail("--repeats must be in [1, 100000] and --warmup in [0, 100000]");
  Expected<Model> model = loadModel(modelPath);
  if (!model)
    return model.takeError();
  int64_t batch = batchFlag > 0 ? batchFlag : model->batchSize;
  if (batchFlag < 0 || batch > 1 << 16)
    return fail(fmt::format("--batch must be in [1, 65536], got {}",
                            batchFlag.getValue()));
  Expected<rt::NetSpec> net = lowerToRuntimeNet(*model);
  if (!net)
    return net.takeError();
  // The tasks are timed on the fastest CPU this process may use, where a
  // stage program runs its busiest processor (a virtual machine's CPUs need
  // not run at one speed: docs/profile.md, "Which CPU").
  std::vector<int> cpus = rt::allowedCpus();
  std::vector<double> probeBefore, probeAfter;
  if (cpus.size() > 1)
    probeBefore = rt::timeCpus(cpus);
  int timedOn = probeBefore.empty()
                    ? -1
                    : rt::cpusBySpeed(cpus, probeBefore, {1.0}).front();
  std::vector<rt::LayerTimes> times;
  if (method == Method::Kernels) {
    std::unique_ptr<rt::ScopedPin> pin;
    if (timedOn >= 0)
      pin = std::make_unique<rt::ScopedPin>(timedOn);
    times = rt::profileNetwork(*net, batch, warmup, repeats, 1);
  } else {
    // The program's processor thread runs on that CPU, its host thread
    // elsewhere (the host's work is not a task's).
    std::string error;
    if (!rt::profileThroughExecutor(*net, batch, warmup, repeats, 1, times,
                                    error, timedOn))
      return fail(error);
  }
  if (timedOn >= 0)
    probeAfter = rt::timeCpus(cpus);
  warnOfCpuSpread(cpus, probeBefore, probeAfter);

  nlohmann::ordered_json layers = nlohmann::ordered_json::object();
  double total = 0, separate = 0, merged = 0;
  for (size_t l = 0; l < net->layers.size(); ++l) {
    const rt::LayerTimes &t = times[l];
    nlohmann::ordered_json entry = nlohmann::ordered_json::object();
    auto put = [&](const char *key, double us) {
      if (us < 0)
        return;
      entry[key] = std::round(us * 1000.0) / 1000.0;
      total += us;
    };
    put("forward", t.forward);
    put("activation_gradient", t.activationGradient);
    put("weight_gradient", t.weightGradient);
    put("update", t.update);
    // Not part of the step's total: the same B and G, timed in the order a
    // merged BG task runs them.
    if (t.mergedBackward >= 0) {
      entry["merged_backward"] =
          std::round(t.mergedBackward * 1000.0) / 1000.0;
      merged += t.mergedBackward;
      separate += std::max(0.0, t.activationGradient) +
                  std::max(0.0, t.weightGradient);
    }
    // Nor is gathering the batch again for G, which only plans with
    // several steps in flight do.
    if (t.inputLoad >= 0)
      entry["input_load"] = std::round(t.inputLoad * 1000.0) / 1000.0;
    layers[net->layers[l].name] = entry;
  }
  nlohmann::ordered_json machine, transport;
  std::string linkText;
  if (!linksPath.empty()) {
    // Links measured elsewhere (MPI ranks): the profile says where from.
    Expected<MachineDesc> links = loadMachine(linksPath);
    if (!links)
      return links.takeError();
    machine = {{"name", links->name},
               {"link_latency_us", links->linkLatencyUs},
               {"link_bandwidth", links->linkBandwidth}};
    transport = {{"kind", "from " + linksPath.getValue()}};
    linkText = fmt::format("links from {} ({:.2f} us, {:.3g} GB/s)",
                           linksPath.getValue(), links->linkLatencyUs,
                           links->linkBandwidth / 1e9);
  } else {
    // The threads transport: one message of each size, there and back.
    nlohmann::ordered_json messages = nlohmann::ordered_json::array();
    std::vector<std::pair<double, double>> points;
    for (int64_t bytes : {int64_t(0), int64_t(4) << 10, int64_t(256) << 10,
                          int64_t(16) << 20}) {
      double us = rt::measureThreadMessageUs(1000, bytes);
      points.push_back({double(bytes), us});
      messages.push_back({{"bytes", bytes},
                          {"one_way_us", std::round(us * 1000.0) / 1000.0}});
    }
    double latency = points.front().second;
    // A message passes a pointer, but the reader then pulls the tensor's
    // cache lines from the writer's core: that, per byte, is the link's
    // bandwidth.
    const int64_t probe = int64_t(8) << 20;
    double crossUs = rt::measureCrossCoreReadUs(15, probe);
    double bandwidth = crossUs > 0 ? double(probe) / crossUs * 1e6 : 1e15;
    messages.push_back({{"bytes", probe},
                        {"cross_core_read_extra_us",
                         std::round(crossUs * 1000.0) / 1000.0}});
    machine = {{"name", "this machine, threads transport (layerpipe-profile)"},
               {"link_latency_us", std::round(latency * 1000.0) / 1000.0},
               {"link_bandwidth", bandwidth}};
    transport = {{"kind", "threads"}, {"messages", messages}};
    linkText = fmt::format("a message costs {:.2f} us, moving data between "
                           "cores {:.2f} GB/s",
                           latency, bandwidth / 1e9);
  }
  nlohmann::ordered_json profile = {{"format", "layerpipe-profile"},
                                    {"version", 1},
                                    {"model", model->name},
                                    {"batch_size", batch},
                                    {"threads", 1},
                                    {"method", method == Method::Executor
                                                   ? "executor"
                                                   : "kernels"},
                                    {"layers", layers},
                                    {"machine", machine},
                                    {"transport", transport}};
  if (timedOn >= 0) {
    auto micro = [](const std::vector<double> &seconds) {
      nlohmann::ordered_json out = nlohmann::ordered_json::array();
      for (double s : seconds)
        out.push_back(std::round(s * 1e8) / 100.0);
      return out;
    };
    profile["cpu"] = {{"timed_on", timedOn},
                      {"cpus", cpus},
                      {"probe_loop_us_before", micro(probeBefore)},
                      {"probe_loop_us_after", micro(probeAfter)}};
  }
  if (Error err = writeOutputFile(outputPath, [&](raw_ostream &os) {
        os << profile.dump(2) << "\n";
      }))
    return err;
  std::string where =
      timedOn >= 0
          ? fmt::format(" on CPU {} (the fastest of {})", timedOn, cpus.size())
          : "";
  std::string backward =
      separate > 0 ? fmt::format(" (B and G back to back: {:.3f}x their "
                                 "time as separate tasks)",
                                 merged / separate)
                   : "";
  outs() << fmt::format("layerpipe-profile: '{}' at batch {}: {:.1f} us per "
                        "training step on one thread{}{}{}; {} -> {}\n",
                        model->name, batch, total,
                        method == Method::Executor ? " through the executor"
                                                   : " (kernels alone)",
                        where, backward, linkText, outputPath.getValue());
  return Error::success();
}

int main(int argc, char **argv) {
  cl::HideUnrelatedOptions({&profileCat});
  if (!parseToolFlags(argc, argv,
                      "LayerPipe profiler: measures every task of a model "
                      "with the runtime's kernels on this machine\n"))
    return 1;
  try {
    if (Error err = run())
      return reportToolError(std::move(err));
  } catch (const std::exception &e) {
    printToolError(Twine("internal error: ") + e.what());
    return 1;
  }
  return 0;
}
