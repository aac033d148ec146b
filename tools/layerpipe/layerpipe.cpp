//===- layerpipe.cpp - The LayerPipe compiler driver ----------------------===//
//
// Part of LayerPipe. Options, load, run the stages, print. (Skeleton.)
//
//===----------------------------------------------------------------------===//

#include "Options.h"

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

int main(int argc, char **argv) {
  cl::ParseCommandLineOptions(argc, argv, "LayerPipe compiler\n");
  return 0;
}
