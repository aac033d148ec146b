//===- CostModel.cpp - Task times from FLOPs and bytes --------------------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// The roofline rule: a task takes as long as the larger of its compute time
// and its memory time. Transfers between processors pay the link latency
// plus bytes over link bandwidth.
//
//===----------------------------------------------------------------------===//

#include "layerpipe/CostModel.h"

#include <algorithm>

using namespace llvm;

namespace layerpipe {

double MachineDesc::computeTimeUs(double flops, double bytesMoved) const {
  double compute = flops / flopsPerSecond;
  double memory = bytesMoved / memoryBandwidth;
  return std::max(compute, memory) * 1e6;
}

double MachineDesc::transferTimeUs(double bytes) const {
  if (bytes <= 0)
    return 0;
  return linkLatencyUs + bytes / linkBandwidth * 1e6;
}

} // namespace layerpipe
