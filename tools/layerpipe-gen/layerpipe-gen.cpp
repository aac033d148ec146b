//===- layerpipe-gen.cpp - Synthetic model generator ----------------------===//
// Part of LayerPipe. (Skeleton.)
#include "llvm/Support/CommandLine.h"
int main(int argc, char **argv) {
  llvm::cl::ParseCommandLineOptions(argc, argv, "layerpipe-gen\n");
  return 0;
}
