//===- CostModel.h - Task times from FLOPs and bytes ------------*- C++ -*-===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// A machine description (compute rate, memory bandwidth, link between
// processors) and the roofline rule that turns a task's FLOPs and bytes into a
// time. Times are in microseconds throughout LayerPipe. The machine file
// format and the defaults are documented in docs/cost-model.md.
//
//===----------------------------------------------------------------------===//

#ifndef LAYERPIPE_COSTMODEL_H
#define LAYERPIPE_COSTMODEL_H

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <string>

namespace layerpipe {

/// How the processors' links are wired (machine file `link_topology`; see
/// docs/cost-model.md, "Link contention"). Each kind of channel carries one
/// transfer at a time.
enum class LinkTopology {
  Switch,      ///< one full-duplex link per processor to a switch: one
               ///< channel out and one in per processor (default)
  PointToPoint,///< a dedicated link per ordered pair of processors
  Bus,         ///< one channel shared by every processor
};

/// One kind of processor and the link between two of them.
struct MachineDesc {
  std::string name = "default";
  /// Sustained compute rate of one processor, FLOP/s.
  double flopsPerSecond = 1.0e12;
  /// Memory bandwidth of one processor, bytes/s.
  double memoryBandwidth = 1.0e11;
  /// Link bandwidth between two processors, bytes/s.
  double linkBandwidth = 1.0e10;
  /// Link latency, microseconds.
  double linkLatencyUs = 5.0;
  /// Size of one tensor element in bytes (float32 = 4).
  int64_t bytesPerElement = 4;
  /// How transfers share the links (contention model of the scheduler).
  LinkTopology linkTopology = LinkTopology::Switch;
  /// GEMM efficiency curve of conv2d and dense tasks priced at a micro-batch
  /// (docs/cost-model.md, "Small batches"): a GEMM of r rows runs at the
  /// fraction r / (r + gemmHalfRows) of its rate; 0 turns the curve off.
  double gemmHalfRows = 32;
  /// From a profile's CPU probe (docs/profile.md, "Which CPU"): how many
  /// times the fastest CPU's time the slowest CPU took while the profile
  /// was taken; 0 when not measured. Schedules assume every processor as
  /// fast as the CPU the tasks were timed on, so a spread above 1 is how
  /// much longer a processor on the slowest CPU may take.
  double cpuSpeedSpread = 0;
  /// The fastest and the slowest CPU of that probe (-1 when not measured).
  int fastestCpu = -1, slowestCpu = -1;

  /// Roofline time of a task, microseconds.
  double computeTimeUs(double flops, double bytesMoved) const;
  /// How much slower, >= 1, the compute of a GEMM of \p rows rows runs than
  /// one of \p referenceRows rows (the batch the rates describe): the
  /// ratio of their efficiencies r / (r + gemmHalfRows); 1 when rows >=
  /// referenceRows or the curve is off.
  double gemmSlowdown(double rows, double referenceRows) const;
  /// Time to move \p bytes between two processors, microseconds; 0 for 0.
  double transferTimeUs(double bytes) const;
};

/// "switch", "point-to-point", "bus".
llvm::StringRef linkTopologyName(LinkTopology topology);

/// Reads a machine file (JSON, fields as in MachineDesc); missing fields keep
/// their defaults.
llvm::Expected<MachineDesc> loadMachine(llvm::StringRef path);
/// The machine description in \p text; \p fileName names it in errors.
llvm::Expected<MachineDesc> parseMachine(llvm::StringRef text,
                                         llvm::StringRef fileName);

} // namespace layerpipe

#endif // LAYERPIPE_COSTMODEL_H
