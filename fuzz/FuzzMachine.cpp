//===- FuzzMachine.cpp - Fuzz target: machine file -------------------------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// The input is a machine file. A valid one times a small fixed model (a
// LeNet-5-like CNN) that is then compiled with options from the input's
// hash, so that extreme rates and latencies reach the delay insertion, the
// schedulers and the simulator.
//
//===----------------------------------------------------------------------===//

#include "FuzzCompile.h"

using namespace layerpipe;

static const char *const modelText = R"({
  "name": "fuzzlenet", "input": {"shape": [1, 28, 28]}, "batch_size": 64,
  "layers": [
    {"name": "c1", "type": "conv2d", "out_channels": 6, "kernel": 5, "padding": 2},
    {"name": "r1", "type": "relu"},
    {"name": "p1", "type": "maxpool", "kernel": 2},
    {"name": "c2", "type": "conv2d", "out_channels": 16, "kernel": 5},
    {"name": "r2", "type": "relu"},
    {"name": "p2", "type": "maxpool", "kernel": 2},
    {"name": "f", "type": "flatten"},
    {"name": "d1", "type": "dense", "units": 120},
    {"name": "r3", "type": "relu"},
    {"name": "d2", "type": "dense", "units": 10},
    {"name": "loss", "type": "softmax_cross_entropy"}
  ]})";

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  llvm::StringRef text(reinterpret_cast<const char *>(data), size);
  llvm::Expected<MachineDesc> machine = parseMachine(text, "fuzz-machine.json");
  if (!machine) {
    llvm::consumeError(machine.takeError());
    return 0;
  }
  static Model model = [] {
    llvm::Expected<Model> m = parseModel(modelText, "fuzzlenet.json");
    if (!m)
      fuzz::bug("the fixed model is invalid: " + llvm::toString(m.takeError()));
    return std::move(*m);
  }();
  Compilation C;
  C.model = model;
  C.machine = *machine;
  fuzz::chooseOptions(C.options, fuzz::hashBytes(data, size));
  fuzz::compile(C);
  return 0;
}
