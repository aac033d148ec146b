//===- DFG.h - The training dataflow graph ----------------------*- C++ -*-===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// Training as a dataflow graph with feedback loops (docs/architecture.md and
// ../shared/reference.md section 1). Per layer with weights: F (forward),
// B (activation gradient), G (weight gradient), U (update); parameter-free
// layers have F and B only; the loss layer is one Loss task. Every edge
// carries a delay count in iterations and the bytes of the tensor it carries.
// The weight loops U->F, U->B and U->U carry one delay each in plain SGD.
//
// Every later pass (gradient-delay insertion, retiming, scheduling) reads and
// rewrites a TrainingDFG; the tasks' `layer` field links back to the Model.
//
//===----------------------------------------------------------------------===//

#ifndef LAYERPIPE_DFG_H
#define LAYERPIPE_DFG_H

#include "layerpipe/CostModel.h"
#include "layerpipe/Model.h"

#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdint>
#include <string>
#include <vector>

namespace layerpipe {

enum class TaskKind {
  Forward,            ///< F: a_l = f(a_{l-1}; W_l)
  Loss,               ///< softmax cross-entropy forward and its gradient
  ActivationGradient, ///< B: delta_{l-1} from delta_l
  WeightGradient,     ///< G: grad W_l from delta_l and a_{l-1}
  Backward,           ///< B and G as one task (--merge-backward)
  Update,             ///< U: W_l <- W_l - lr * grad (optimizer state too)
};

/// "F", "L", "B", "G", "BG", "U".
llvm::StringRef taskKindPrefix(TaskKind kind);
/// "forward", "loss", "activation_gradient", ...
llvm::StringRef taskKindName(TaskKind kind);

enum class EdgeKind {
  Activation,     ///< F_u -> F_v, F_last -> Loss
  Gradient,       ///< B_v -> B_u / G_u, Loss -> B / G (delta tensors)
  Saved,          ///< F_v -> B_v / G_v: what the backward keeps from forward
  WeightGradient, ///< G_l -> U_l (gradient delays are inserted here)
  Weight,         ///< U_l -> F_l, U_l -> B_l (new weights, feedback)
  UpdateState,    ///< U_l -> U_l (weights and optimizer state, feedback)
};

llvm::StringRef edgeKindName(EdgeKind kind);

struct Task {
  std::string name; ///< "F.conv1", "B.conv1", "L.loss", ...
  TaskKind kind = TaskKind::Forward;
  unsigned layer = 0; ///< index into Model::layers
  double timeUs = 0;  ///< execution time, microseconds
};

struct Edge {
  unsigned src = 0, dst = 0; ///< task indices
  int64_t delay = 0;         ///< iterations (z^-1 count), >= 0
  int64_t bytes = 0;         ///< tensor carried per iteration
  EdgeKind kind = EdgeKind::Activation;
};

/// The tasks of one layer; -1 where the layer has no such task.
struct LayerTasks {
  int forward = -1, activationGradient = -1, weightGradient = -1,
      update = -1;
  /// For the loss layer, `forward` is its Loss task. With --merge-backward
  /// `activationGradient` is the merged Backward task and `weightGradient`
  /// is -1.
};

struct DFGOptions {
  /// Fold B and G into one Backward task (the PipeDream-style model).
  bool mergeBackward = false;
  /// The plan keeps several steps in flight on a processor (2 or more
  /// processors, an unfolded graph, virtual stages): the G of a layer
  /// reading the model's input gathers its batch again
  /// (MeasuredTimes::inputLoad).
  bool reloadInput = false;
};

/// What G (or the merged backward) of \p layer adds for gathering its
/// batch again under \p options: its measured inputLoad, or 0.
double inputReloadUs(const Layer &layer, const DFGOptions &options);

class TrainingDFG {
public:
  std::vector<Task> tasks;
  std::vector<Edge> edges;
  /// Indexed by layer.
  std::vector<LayerTasks> layerTasks;

  unsigned addTask(Task task);
  unsigned addEdge(Edge edge);
  size_t numTasks() const { return tasks.size(); }
  size_t numEdges() const { return edges.size(); }
  /// Task index by name, or -1.
  int findTask(llvm::StringRef name) const;
  /// Edge indices leaving / entering each task (rebuilt on every call).
  std::vector<llvm::SmallVector<unsigned, 4>> outEdges() const;
  std::vector<llvm::SmallVector<unsigned, 4>> inEdges() const;
  /// Sum of task times: the sequential time of one training step.
  double totalWorkUs() const;
  /// Largest single task time.
  double maxTaskTimeUs() const;
  /// Readable dump, one task per line with its out-edges and delays.
  void print(llvm::raw_ostream &os) const;
};

/// Expands the layer graph into the training DFG with one delay on each
/// weight loop edge. Task times come from measured times where the model gives
/// them, otherwise from \p machine.
llvm::Expected<TrainingDFG> buildTrainingDFG(const Model &model,
                                             const MachineDesc &machine,
                                             const DFGOptions &options = {});

/// Checks the graph's invariants that every pass relies on: edge endpoints
/// in range, every delay >= 0, every task time finite and >= 0. Errors name
/// the task or edge and the numbers.
llvm::Error verifyDFG(const TrainingDFG &dfg);

/// Graphviz: tasks coloured by kind, edges labelled with their delays where
/// > 0, weight-loop edges (Weight, UpdateState) dashed.
void writeDFGDot(const TrainingDFG &dfg, const Model &model,
                 llvm::raw_ostream &os);
/// JSON: {"tasks": [{name, kind, layer, time_us}], "edges": [{src, dst,
/// delay, bytes, kind}]} (docs/report-json.md).
void writeDFGJson(const TrainingDFG &dfg, const Model &model,
                  llvm::raw_ostream &os);

} // namespace layerpipe

#endif // LAYERPIPE_DFG_H
