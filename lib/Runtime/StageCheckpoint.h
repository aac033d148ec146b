//===- StageCheckpoint.h - Cuts of a stage program's run --------*- C++ -*-===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// A checkpoint of a stage program after S steps is the state at the cut
// K = S − 1: every layer has applied update K. The pipeline is not drained:
// batches whose backward pass comes after the cut are in flight. Instead of
// storing their tensors, a resumed run recomputes them: each processor runs
// its static program again but only the ops that are still needed after the
// cut (Cut::runs), and the only values crossing the cut are weight versions
// (saved by the processors that read them) and batchnorm running statistics
// (saved as they were just before the first forward pass the resumed run
// repeats). Every op is deterministic, so the resumed run computes the same
// floats as the uninterrupted one. docs/distributed.md explains the choice.
//
//===----------------------------------------------------------------------===//

#ifndef LAYERPIPE_LIB_RUNTIME_STAGECHECKPOINT_H
#define LAYERPIPE_LIB_RUNTIME_STAGECHECKPOINT_H

#include "layerpipe/runtime/StageProgram.h"

#include <map>
#include <set>
#include <unordered_map>

namespace layerpipe {
namespace runtime {

/// Which ops run after the cut K (K < 0: all of them). Not thread-safe:
/// one per processor.
class Cut {
public:
  Cut(const OpGraph &graph, int64_t K) : graph_(graph), K_(K) {}
  int64_t K() const { return K_; }
  bool active() const { return K_ >= 0; }

  /// Whether \p op exists and runs after the cut: updates after K, forward
  /// passes of steps after K, weight gradients whose update comes after K,
  /// every op whose output one of those reads, and every forward pass of a
  /// layer after the first one that runs.
  bool runs(const OpRef &op);

  /// Whether \p value (a weight version) was made before the cut: a
  /// resumed run reads it from the checkpoint.
  bool restored(const ValueRef &value) const {
    return K_ >= 0 && value.kind == ValueKind::Weights &&
           value.instance <= K_ + 1;
  }

  /// Whether messages about \p instance's step to the host (results,
  /// snapshots) were already counted before the cut.
  bool hostHas(int64_t instance) const {
    return K_ >= 0 && graph_.stepOf(instance) <= K_;
  }

private:
  std::vector<ValueRef> outputs(const OpRef &op) const;
  /// Whether a reader of \p op's outputs runs.
  bool needed(const OpRef &op);
  /// The first instance of \p layer's forward pass that a running op reads.
  int64_t firstForward(int layer);
  std::unordered_map<int, int64_t> firstForward_;
  const OpGraph &graph_;
  int64_t K_;
  std::unordered_map<uint64_t, bool> memo_;
};

/// What one processor saves for the checkpoint at cut K.
struct CutPlan {
  int64_t K = 0;
  /// Tags of the weight versions (made before the cut) that ops of this
  /// processor running after the cut read.
  std::set<uint64_t> weights;
  /// Layer → the first instance of its forward pass (on this processor)
  /// that runs after the cut: its batchnorm state is saved just before.
  std::map<int, int64_t> stateBefore;
  std::map<uint64_t, ValuePtr> savedWeights;
  std::map<int, std::vector<float>> savedState;
  bool written = false;
  bool complete() const {
    return savedWeights.size() == weights.size() &&
           savedState.size() == stateBefore.size();
  }
};

/// The plan of processor \p me for cut \p K. \p stateful[l]: layer l has
/// batchnorm state.
CutPlan planCut(const OpGraph &graph, const ProgramPlan &plan, unsigned me,
                int64_t K, const std::vector<bool> &stateful);

} // namespace runtime
} // namespace layerpipe

#endif // LAYERPIPE_LIB_RUNTIME_STAGECHECKPOINT_H
