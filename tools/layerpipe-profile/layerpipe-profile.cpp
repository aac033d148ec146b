//===- layerpipe-profile.cpp - Measured task times for the compiler -------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// Times every layer's tasks with the runtime's kernels on this machine and
// writes the model again with measured `times` fields (per mini-batch of
// the profiled batch size, which becomes the model's batch_size), and
// optionally a machine file whose link is the threads transport's measured
// message cost. The compiler then plans and schedules with what this machine
// really does: `layerpipe PROFILED.json --machine MACHINE.json ...`.
//
//===----------------------------------------------------------------------===//

#include "layerpipe/CodeGen.h"
#include "layerpipe/Model.h"
#include "layerpipe/OutputFile.h"
#include "layerpipe/runtime/Profile.h"

#include "llvm/Support/CommandLine.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <map>

using namespace llvm;
using namespace layerpipe;
namespace rt = layerpipe::runtime;

static cl::OptionCategory profileCat("Profiling");
static cl::opt<std::string> modelPath(cl::Positional, cl::Required,
                                      cl::desc("<model.json>"));
static cl::opt<std::string> outputPath(
    "o", cl::value_desc("file"), cl::Required,
    cl::desc("The model with measured times (per mini-batch)"),
    cl::cat(profileCat));
static cl::opt<std::string> machineOut(
    "machine-out", cl::value_desc("file"),
    cl::desc("Also write a machine file whose link is the threads "
             "transport's measured message cost"),
    cl::cat(profileCat));
static cl::opt<int> batchFlag("batch", cl::init(0), cl::value_desc("B"),
                              cl::desc("Batch size (default: the model's)"),
                              cl::cat(profileCat));
static cl::opt<int> repeats("repeats", cl::init(21), cl::value_desc("N"),
                            cl::desc("Timed runs per task; the median is "
                                     "kept (default 21)"),
                            cl::cat(profileCat));
static cl::opt<int> warmup("warmup", cl::init(3), cl::value_desc("N"),
                           cl::desc("Untimed runs first (default 3)"),
                           cl::cat(profileCat));

static Error fail(const std::string &message) {
  return createStringError(inconvertibleErrorCode(), message.c_str());
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
  std::vector<rt::LayerTimes> times =
      rt::profileNetwork(*net, batch, warmup, repeats, 1);

  auto buffer = MemoryBuffer::getFile(modelPath);
  if (!buffer)
    return fail("cannot read '" + modelPath + "'");
  nlohmann::ordered_json json =
      nlohmann::ordered_json::parse((*buffer)->getBuffer().str());
  std::map<std::string, size_t> index;
  for (size_t l = 0; l < net->layers.size(); ++l)
    index[net->layers[l].name] = l;
  json["batch_size"] = batch;
  double total = 0;
  for (auto &layer : json["layers"]) {
    const rt::LayerTimes &t = times[index.at(layer["name"].get<std::string>())];
    nlohmann::ordered_json entry = nlohmann::ordered_json::object();
    auto put = [&](const char *key, double us) {
      if (us >= 0) {
        entry[key] = std::round(us * 1000.0) / 1000.0;
        total += us;
      }
    };
    put("forward", t.forward);
    put("activation_gradient", t.activationGradient);
    put("weight_gradient", t.weightGradient);
    put("update", t.update);
    layer["times"] = entry;
  }
  if (Error err = writeOutputFile(outputPath, [&](raw_ostream &os) {
        os << json.dump(2) << "\n";
      }))
    return err;
  outs() << fmt::format("layerpipe-profile: {} layers of '{}' at batch {}: "
                        "{:.1f} us per training step on one thread -> {}\n",
                        net->layers.size(), model->name, batch, total,
                        outputPath.getValue());
  if (machineOut.empty())
    return Error::success();
  double messageUs = rt::measureThreadMessageUs(2000);
  nlohmann::ordered_json machine = {
      {"name", "threads (measured by layerpipe-profile)"},
      {"link_latency_us", std::round(messageUs * 1000.0) / 1000.0},
      {"link_bandwidth", 1.0e15}};
  if (Error err = writeOutputFile(machineOut, [&](raw_ostream &os) {
        os << machine.dump(2) << "\n";
      }))
    return err;
  outs() << fmt::format("  threads transport: {:.2f} us per message (a "
                        "pointer passes; bytes cost nothing) -> {}\n",
                        messageUs, machineOut.getValue());
  return Error::success();
}

int main(int argc, char **argv) {
  cl::HideUnrelatedOptions({&profileCat});
  cl::ParseCommandLineOptions(
      argc, argv,
      "LayerPipe profiler: measures every task of a model with the runtime's "
      "kernels on this machine\n");
  try {
    if (Error err = run()) {
      errs() << "layerpipe-profile: error: " << toString(std::move(err))
             << "\n";
      return 1;
    }
  } catch (const std::exception &e) {
    errs() << "layerpipe-profile: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
