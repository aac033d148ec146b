//===- layerpipe-mpi-probe.cpp - Link figures of the MPI transport --------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// Run under mpirun: times messages between ranks 0 and 1 through the stage
// programs' MPI transport and writes a machine file (link latency and
// bandwidth) for layerpipe --machine or layerpipe-profile --links, so that a
// plan for MPI ranks is priced with what their messages really cost.
//
//===----------------------------------------------------------------------===//

#include "layerpipe/OutputFile.h"
#include "layerpipe/ToolMain.h"
#include "layerpipe/runtime/Mpi.h"

#include "llvm/Support/CommandLine.h"
#include "llvm/Support/raw_ostream.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cmath>

using namespace llvm;
using namespace layerpipe;
namespace rt = layerpipe::runtime;

static cl::OptionCategory probeCat("MPI link probe");
static cl::opt<std::string> outputPath(
    "o", cl::value_desc("file"),
    cl::desc("Write the figures as a machine file (JSON, docs/cost-model.md; "
             "default: print only)"),
    cl::cat(probeCat));
static cl::opt<long long> repeats(
    "repeats", cl::init(200), cl::value_desc("N"),
    cl::desc("Round trips per message size, at most 256 MiB each way; the "
             "median is kept (default 200, range 3 to 100000)"),
    cl::cat(probeCat));

static Error run() {
  if (repeats < 3 || repeats > 100000)
    return createStringError(inconvertibleErrorCode(),
                             "--repeats must be in [3, 100000], got %lld",
                             repeats.getValue());
  rt::MpiLinkFigures f;
  std::string error = rt::probeMpiLinks(repeats, f);
  if (!error.empty())
    return createStringError(inconvertibleErrorCode(), error.c_str());
  if (f.rank != 0)
    return Error::success();
  std::string table;
  for (size_t i = 0; i < f.bytes.size(); ++i)
    table += fmt::format("{}{} B {:.2f} us", i ? ", " : "", f.bytes[i],
                         f.oneWayUs[i]);
  outs() << fmt::format("layerpipe-mpi-probe: one-way message times between "
                        "ranks 0 and 1 (median): {}\n"
                        "layerpipe-mpi-probe: link latency {:.2f} us, "
                        "bandwidth {:.3g} GB/s\n",
                        table, f.latencyUs, f.bandwidth / 1e9);
  if (outputPath.empty())
    return Error::success();
  nlohmann::ordered_json machine = {
      {"name", fmt::format("this machine, MPI transport (layerpipe-mpi-probe, "
                           "ranks 0 and 1 of {})",
                           f.ranks)},
      {"description", "one-way median times: " + table},
      {"link_latency_us", std::round(f.latencyUs * 1000.0) / 1000.0},
      {"link_bandwidth", std::round(f.bandwidth)}};
  if (Error err = writeOutputFile(outputPath, [&](raw_ostream &os) {
        os << machine.dump(2) << "\n";
      }))
    return err;
  outs() << "layerpipe-mpi-probe: wrote " << outputPath << "\n";
  return Error::success();
}

int main(int argc, char **argv) {
  cl::HideUnrelatedOptions({&probeCat});
  if (!parseToolFlags(argc, argv,
                      "LayerPipe MPI link probe: run it with mpirun -np 2; "
                      "measures the stage programs' MPI transport "
                      "(docs/profile.md)\n"))
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
