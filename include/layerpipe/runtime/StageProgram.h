//===- StageProgram.h - Executor of generated stage programs ----*- C++ -*-===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// A generated stage program (layerpipe --emit-cpp) is a list of tasks per
// processor in schedule order; this executor runs them, one thread per
// processor, and gives the run the exact numbers of the reference trainer
// (PipelineTrainer) for the same plan (docs/codegen.md).
//
// Every task of a schedule is one or more per-layer *ops*: F (forward), L
// (the loss layer's forward and gradient), B (activation gradient), G
// (weight gradient) and U (update). An op of layer l at instance n (the
// n-th micro-batch of the run; U counts steps) reads *values* other ops
// produced: activations and forward caches, the parts of its output
// gradient, weight gradients, weight versions. OpGraph states that data flow
// once; the executor derives from it what to send, to whom, and when a value
// can be dropped, and the compiler's emitter uses it to prove that the
// schedule order cannot deadlock. Values are immutable: a weight update
// makes a new version, so what an op reads never changes under it.
//
//===----------------------------------------------------------------------===//

#ifndef LAYERPIPE_RUNTIME_STAGEPROGRAM_H
#define LAYERPIPE_RUNTIME_STAGEPROGRAM_H

#include "layerpipe/runtime/Network.h"
#include "layerpipe/runtime/Pipeline.h"
#include "layerpipe/runtime/Transport.h"

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace layerpipe {
namespace runtime {

/// Per-layer operations.
enum class OpKind : uint8_t {
  Forward,            ///< F: output and forward cache
  Loss,               ///< the loss layer: forward, loss and its gradient
  ActivationGradient, ///< B: gradients of the layer's inputs
  WeightGradient,     ///< G: ∇W
  Update,             ///< U: the next weight version (instance = step)
};
constexpr unsigned NumOpKinds = 5;

/// "F", "L", "B", "G", "U".
const char *opKindPrefix(OpKind kind);

/// What ops produce and read.
enum class ValueKind : uint8_t {
  Activation,     ///< F's output
  Cache,          ///< F's forward cache (for B and G of the same layer)
  DeltaPart,      ///< B's gradient for one input slot
  WeightGradient, ///< G's ∇W
  Weights,        ///< weight version k (+ optimizer state) from U(k − 1)
  Result,         ///< loss and accuracy of a micro-batch (to the host)
  SnapshotWeights, ///< weights at an epoch's end (to the host)
  SnapshotState,   ///< batchnorm state at an epoch's end (to the host)
};

struct OpRef {
  OpKind kind = OpKind::Forward;
  int layer = 0;
  int64_t instance = 0;
};

struct ValueRef {
  ValueKind kind = ValueKind::Activation;
  int layer = 0;
  int slot = 0;
  int64_t instance = 0;
  /// A unique message tag: kind, layer (< 2^20), slot (< 2^8), instance
  /// (< 2^32).
  uint64_t tag() const;
};

/// The data flow of a run between per-layer ops.
class OpGraph {
public:
  /// \p net finalized; \p delays the effective per-layer delays
  /// (effectiveDelays); \p steps optimizer steps in the run.
  OpGraph(const NetSpec &net, std::vector<int64_t> delays,
          WeightPolicy policy, unsigned microBatches, int64_t steps);

  const NetSpec &net() const { return *net_; }
  unsigned microBatches() const { return microBatches_; }
  int64_t steps() const { return steps_; }
  int64_t instances() const { return steps_ * int64_t(microBatches_); }
  int64_t delay(int layer) const { return delays_[size_t(layer)]; }
  int64_t stepOf(int64_t instance) const {
    return instance / int64_t(microBatches_);
  }
  /// Whether layer \p layer has an op of this kind at all.
  bool hasOp(OpKind kind, int layer) const;
  /// Whether the op runs in this run: F/L for instances [0, N), B/G for
  /// batches whose backward step (step + D_l) is within the run, U for steps
  /// [0, steps).
  bool exists(const OpRef &op) const;
  /// The values \p op reads (each once).
  std::vector<ValueRef> inputs(const OpRef &op) const;
  /// The op producing \p value, or false for the initial weights (version 0,
  /// made by every reader's processor) and values the host receives.
  bool producer(const ValueRef &value, OpRef &op) const;
  /// The existing ops that read \p value.
  std::vector<OpRef> readers(const ValueRef &value) const;
  /// The parts of layer l's output gradient, as (consumer, input slot), in
  /// the order the reference trainer adds them: by the consumer's delay,
  /// then consumers from the last layer back, then slots in order.
  const std::vector<std::pair<int, int>> &deltaParts(int layer) const {
    return deltaParts_[size_t(layer)];
  }
  /// dcasgd: U of step k also reads weight version k − D_l (the weights
  /// the gradient was computed with). Set before the run starts.
  void setUpdateReadsForwardWeights(bool reads) {
    updateReadsForward_ = reads;
  }

  /// Which step's weights B of \p instance reads under the policy.
  int64_t backwardWeightStep(int layer, int64_t instance) const;

private:
  const NetSpec *net_;
  std::vector<int64_t> delays_;
  WeightPolicy policy_;
  unsigned microBatches_;
  bool updateReadsForward_ = false;
  int64_t steps_;
  std::vector<std::vector<std::pair<int, int>>> deltaParts_;
};

/// One task of the schedule as a generated program states it.
struct TaskInfo {
  std::string name;  ///< the compiler's task name ("F.conv1", "B.s1.m2")
  std::string kind;  ///< "F", "L", "B", "G", "BG", "W" or "U"
  unsigned proc = 0;
  /// Round r runs instance a·r + b (U tasks: step a·r + b).
  int64_t a = 1, b = 0;
  double startUs = 0, durationUs = 0; ///< predicted, within the period
};

/// Everything the compiler decided that the executor needs.
struct ProgramPlan {
  std::string model, schedule, command, delaysRule;
  unsigned processors = 1;
  unsigned stages = 1;
  bool synchronous = false;
  unsigned microBatches = 1;
  /// The samples of one pipelined step the planner chose (--micro-batch),
  /// 0 = the user's --batch. The rate becomes lr·b/B
  /// (microBatchLearningRate).
  int64_t microBatchSize = 0;
  WeightPolicy policy = WeightPolicy::Sync;
  /// Gradient delay per layer (model order).
  std::vector<int64_t> delays;
  int64_t defaultBatch = 1;
  /// Predicted time per step (per iteration), microseconds.
  double predictedPeriodUs = 0;
  /// Length of one round of the static schedule (the period; a
  /// synchronous step's makespan), microseconds: the predicted timeline.
  double roundUs = 0;
  std::vector<TaskInfo> tasks;
  /// placement[l][kind]: the processor that runs that op of layer l, -1
  /// if the layer has none.
  std::vector<std::array<int, NumOpKinds>> placement;
  /// Channel capacity in messages, processors × processors (row: sender).
  std::vector<int64_t> capacity;
};

struct Deployment;

/// What a processor's generated function calls. One per thread.
class Processor {
public:
  /// The rounds this processor's loop runs.
  int64_t firstRound() const { return firstRound_; }
  int64_t endRound() const { return endRound_; }
  /// Starts task \p task on instance (or step) \p instance; false (skip
  /// the task) when that instance is outside the run: the pipeline's fill
  /// and drain.
  bool begin(unsigned task, int64_t instance);
  void forward(int layer);
  void loss(int layer);
  void backwardData(int layer);
  void backwardWeights(int layer);
  void update(int layer);
  /// Gathers instance \p instance's batch of the training data into the
  /// processor's input, as a task reading the data does when the processor
  /// has loaded another instance's since (layerpipe-profile times it;
  /// docs/profile.md, "Loading the batch").
  void reloadInput(int64_t instance);
  /// Ends the task begun last (its trace event).
  void end();

  struct Impl;
  explicit Processor(Impl *impl);
  ~Processor();

private:
  Impl *impl_;
  int64_t firstRound_ = 0, endRound_ = 0;
  friend int runStageProgram(int, char **, NetSpec, ProgramPlan,
                             std::vector<void (*)(Processor &)>,
                             const Deployment &);
};

using ProcessorFunction = void (*)(Processor &);

/// Which share of the program this process runs. The default: all of it,
/// one thread per processor, on the threads transport.
struct Deployment {
  /// The processors this process runs (empty: all).
  std::vector<unsigned> processors;
  /// Whether this process runs the host (endpoint P): the lines, the
  /// evaluation, the summary and the outputs.
  bool host = true;
  unsigned rank = 0, ranks = 1;
  /// Makes the transport between the P + 1 endpoints (null: threads).
  std::function<std::unique_ptr<Transport>(unsigned endpoints,
                                           std::vector<int64_t> capacity)>
      transport;
  /// Collects every process's blob on the host's process, in rank order
  /// (elsewhere: returns nothing). Null in one process. Called once by
  /// every process after a successful run.
  std::function<std::vector<std::string>(const std::string &blob)> gather;
  /// Set once the transport exists (after the checks of options and data).
  bool *started = nullptr;
  /// The CPU of each processor this process runs, in order (empty:
  /// --pin-threads decides). layerpipe-profile times its processor on the
  /// CPU its probe found fastest.
  std::vector<int> processorCpus;
  /// Steps per epoch when above 0 and below the training set's samples
  /// over the batch: each epoch then draws its steps from the start of its
  /// shuffled order of the whole set. layerpipe-profile gathers its batches
  /// from a training set larger than the caches in a run of a few hundred
  /// steps.
  int64_t stepsPerEpoch = 0;
  /// Called on the host's process after a successful run with the measured
  /// work of every task of ProgramPlan::tasks (microseconds, one figure
  /// per instance the task ran, in instance order): how layerpipe-profile
  /// times tasks as the executor runs them.
  std::function<void(const std::vector<std::vector<double>> &workUs)>
      taskWork;
};

/// The whole program: options (the reference trainer's training options
/// plus --trace, --help, --version), data, one thread per processor, the
/// host's progress and epoch lines, evaluation, summary and trace. Returns
/// the exit status.
int runStageProgram(int argc, char **argv, NetSpec net, ProgramPlan plan,
                    std::vector<ProcessorFunction> processors);
/// The same, for this process's share (MPI: Mpi.h).
int runStageProgram(int argc, char **argv, NetSpec net, ProgramPlan plan,
                    std::vector<ProcessorFunction> processors,
                    const Deployment &deployment);

} // namespace runtime
} // namespace layerpipe

#endif // LAYERPIPE_RUNTIME_STAGEPROGRAM_H
