//===- Profile.h - Measured task times into the compiler --------*- C++ -*-===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// Two sources of measured times for the cost model (docs/profile.md):
//
//  * a profile written by layerpipe-profile: every layer's F, B, G and U
//    timed with the runtime's kernels on one thread, plus the transport's
//    measured message cost (--profile FILE);
//  * the measured trace of a stage program (--times-from-trace FILE): the
//    median work of every task, so a schedule can be planned again from
//    what a run really did.
//
// Both replace the model's task times (as its `times` fields would) and
// fail with the file, the layer or task, and the mismatching figures.
//
//===----------------------------------------------------------------------===//

#ifndef LAYERPIPE_PROFILE_H
#define LAYERPIPE_PROFILE_H

#include "layerpipe/CostModel.h"
#include "layerpipe/Model.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <array>
#include <vector>

namespace layerpipe {

/// Applies the profile at \p path: measured times to every layer of
/// \p model, link latency and bandwidth to \p machine. Fails if the profile
/// is of another model, batch size or set of layers.
llvm::Error applyProfile(llvm::StringRef path, Model &model,
                         MachineDesc &machine);

/// How far apart a probe found the CPUs: the slowest CPU's probe time over
/// the fastest's (0 and -1 where nothing was measured).
struct CpuSpread {
  double spread = 0;
  int fastest = -1, slowest = -1;
};

/// The larger spread of the probes \p probes (each one time per CPU of
/// \p cpus; those of another length or with a time <= 0 are skipped).
CpuSpread cpuSpread(llvm::ArrayRef<int> cpus,
                    llvm::ArrayRef<std::vector<double>> probes);

/// A spread above this is worth a warning (the profiler) and a note under
/// a multi-processor plan's period (the compiler): this machine's own
/// spread from one probe to the next is a few percent.
constexpr double NotableCpuSpread = 1.10;

/// A layer's current task times, F (the loss task for the loss layer), B,
/// G and U, in microseconds (0 where the layer has no such task).
using LayerTaskTimes = std::array<double, 4>;

/// Applies the median measured work of each task of a stage program's trace
/// at \p path. A per-layer task ("F.conv1"; the loss task's time goes to its
/// forward) sets that task's time; a stage task of a stage-level schedule
/// ("F.conv1..pool1": the layers from conv1 to pool1 in model order) is
/// split over its layers in proportion to their times in \p current (one
/// entry per layer); a merged BG is split between B and G the same way.
/// Tasks the trace lacks keep their times. Fails on a
/// trace without measured tasks of this model, and on stage tasks of one
/// kind whose layers overlap.
llvm::Error applyTraceTimes(llvm::StringRef path, Model &model,
                            llvm::ArrayRef<LayerTaskTimes> current);

} // namespace layerpipe

#endif // LAYERPIPE_PROFILE_H
