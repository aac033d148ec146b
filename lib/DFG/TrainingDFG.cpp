//===- TrainingDFG.cpp - Layer graph to training dataflow graph -----------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// Expands each layer into its training tasks (F, B, G, U; one Loss task for
// the loss layer) and connects them with the activation, gradient, saved-
// tensor and weight-feedback edges of reference.md section 1. A B task exists
// only where some producer upstream needs the gradient it computes: a layer
// whose inputs are all the model input (or lead only to parameter-free layers
// that read the model input) computes no activation gradient.
//
//===----------------------------------------------------------------------===//

#include "layerpipe/DFG.h"

#include <cassert>
#include <cmath>

using namespace llvm;

namespace layerpipe {

StringRef taskKindPrefix(TaskKind kind) {
  switch (kind) {
  case TaskKind::Forward:
    return "F";
  case TaskKind::Loss:
    return "L";
  case TaskKind::ActivationGradient:
    return "B";
  case TaskKind::WeightGradient:
    return "G";
  case TaskKind::Backward:
    return "BG";
  case TaskKind::Update:
    return "U";
  }
  llvm_unreachable("unknown task kind");
}

StringRef taskKindName(TaskKind kind) {
  switch (kind) {
  case TaskKind::Forward:
    return "forward";
  case TaskKind::Loss:
    return "loss";
  case TaskKind::ActivationGradient:
    return "activation_gradient";
  case TaskKind::WeightGradient:
    return "weight_gradient";
  case TaskKind::Backward:
    return "backward";
  case TaskKind::Update:
    return "update";
  }
  llvm_unreachable("unknown task kind");
}

StringRef edgeKindName(EdgeKind kind) {
  switch (kind) {
  case EdgeKind::Activation:
    return "activation";
  case EdgeKind::Gradient:
    return "gradient";
  case EdgeKind::Saved:
    return "saved";
  case EdgeKind::WeightGradient:
    return "weight_gradient";
  case EdgeKind::Weight:
    return "weight";
  case EdgeKind::UpdateState:
    return "update_state";
  }
  llvm_unreachable("unknown edge kind");
}

//===----------------------------------------------------------------------===//
// TrainingDFG
//===----------------------------------------------------------------------===//

unsigned TrainingDFG::addTask(Task task) {
  tasks.push_back(std::move(task));
  return tasks.size() - 1;
}

unsigned TrainingDFG::addEdge(Edge edge) {
  assert(edge.src < tasks.size() && edge.dst < tasks.size() &&
         "edge endpoint out of range");
  edges.push_back(edge);
  return edges.size() - 1;
}

int TrainingDFG::findTask(StringRef name) const {
  for (unsigned i = 0, n = tasks.size(); i < n; ++i)
    if (tasks[i].name == name)
      return i;
  return -1;
}

std::vector<SmallVector<unsigned, 4>> TrainingDFG::outEdges() const {
  std::vector<SmallVector<unsigned, 4>> out(tasks.size());
  for (unsigned i = 0, n = edges.size(); i < n; ++i)
    out[edges[i].src].push_back(i);
  return out;
}

std::vector<SmallVector<unsigned, 4>> TrainingDFG::inEdges() const {
  std::vector<SmallVector<unsigned, 4>> in(tasks.size());
  for (unsigned i = 0, n = edges.size(); i < n; ++i)
    in[edges[i].dst].push_back(i);
  return in;
}

double TrainingDFG::totalWorkUs() const {
  double sum = 0;
  for (const Task &t : tasks)
    sum += t.timeUs;
  return sum;
}

double TrainingDFG::maxTaskTimeUs() const {
  double best = 0;
  for (const Task &t : tasks)
    best = std::max(best, t.timeUs);
  return best;
}

void TrainingDFG::print(raw_ostream &os) const {
  std::vector<SmallVector<unsigned, 4>> out = outEdges();
  os << "training DFG: " << tasks.size() << " tasks, " << edges.size()
     << " edges\n";
  for (unsigned i = 0, n = tasks.size(); i < n; ++i) {
    const Task &t = tasks[i];
    os << "  " << i << " " << t.name << " (" << taskKindName(t.kind)
       << ", layer " << t.layer << ", " << format("%.3f", t.timeUs)
       << " us)\n";
    for (unsigned e : out[i]) {
      const Edge &edge = edges[e];
      os << "    -> " << tasks[edge.dst].name << " (" << edgeKindName(edge.kind)
         << ", " << edge.bytes << " B";
      if (edge.delay != 0)
        os << ", delay " << edge.delay;
      os << ")\n";
    }
  }
}

Error verifyDFG(const TrainingDFG &dfg) {
  for (const Task &t : dfg.tasks)
    if (!std::isfinite(t.timeUs) || t.timeUs < 0)
      return createStringError(inconvertibleErrorCode(),
                               "task '%s' has time %g us; times must be "
                               "finite and >= 0",
                               t.name.c_str(), t.timeUs);
  for (unsigned i = 0, n = dfg.edges.size(); i < n; ++i) {
    const Edge &e = dfg.edges[i];
    if (e.src >= dfg.tasks.size() || e.dst >= dfg.tasks.size())
      return createStringError(inconvertibleErrorCode(),
                               "edge %u joins tasks %u -> %u, but the graph "
                               "has %zu tasks",
                               i, e.src, e.dst, dfg.tasks.size());
    if (e.delay < 0)
      return createStringError(
          inconvertibleErrorCode(), "edge %s -> %s has delay %lld; delays must "
          "be >= 0",
          dfg.tasks[e.src].name.c_str(), dfg.tasks[e.dst].name.c_str(),
          static_cast<long long>(e.delay));
    if (e.bytes < 0)
      return createStringError(
          inconvertibleErrorCode(), "edge %s -> %s carries %lld bytes",
          dfg.tasks[e.src].name.c_str(), dfg.tasks[e.dst].name.c_str(),
          static_cast<long long>(e.bytes));
  }
  return Error::success();
}

//===----------------------------------------------------------------------===//
// Construction
//===----------------------------------------------------------------------===//

/// Time of one task: the user's measurement where given, else the roofline.
static double taskTime(const std::optional<double> &measured,
                       const MachineDesc &machine, double flops,
                       int64_t bytesMoved) {
  if (measured)
    return *measured;
  return machine.computeTimeUs(flops, static_cast<double>(bytesMoved));
}

/// How much slower than the roofline at the model file's batch the GEMMs of
/// layer \p layer run at the model's (micro-)batch: conv2d and dense tasks
/// are GEMMs whose rows are the batch times the output positions (H·W, or
/// the tokens of a sequence), and small GEMMs use less of the machine
/// (MachineDesc::gemmSlowdown, docs/cost-model.md "Small batches").
static double gemmSlowdown(const Model &model, const Layer &layer,
                           const MachineDesc &machine) {
  if (model.referenceBatch <= 0 || model.referenceBatch == model.batchSize)
    return 1;
  int64_t features = layer.kind == LayerKind::Conv2d  ? layer.outChannels
                     : layer.kind == LayerKind::Dense ? layer.units
                                                      : 0;
  if (features <= 0)
    return 1;
  double positions =
      double(layer.outputShape.numElements()) / double(features);
  return machine.gemmSlowdown(positions * double(model.batchSize),
                              positions * double(model.referenceBatch));
}

/// Which layers compute an activation gradient: layer v needs B when one of
/// its producers needs the gradient it would compute, i.e. the producer has
/// weights or itself has a B task. Layers are in topological order, so one
/// forward sweep decides.
static std::vector<bool> layersNeedingActivationGradient(const Model &model) {
  std::vector<bool> hasB(model.layers.size(), false);
  for (unsigned v = 0, n = model.layers.size(); v < n; ++v)
    for (unsigned u : model.layers[v].inputs)
      if (model.layers[u].hasWeights() || hasB[u])
        hasB[v] = true;
  return hasB;
}

/// Sets to exactly 0 every task time below 1e-12 of the largest one: in a
/// sum with the period such a time vanishes (1e15 + 1e-300 == 1e15), so a
/// "nonzero" task could overlap others or fall on the wrong side of a
/// period boundary. As zero-length tasks, the schedulers, the verifier and
/// the simulator treat them consistently.
static void snapNegligibleTimes(TrainingDFG &dfg) {
  double largest = 0;
  for (const Task &t : dfg.tasks)
    largest = std::max(largest, t.timeUs);
  for (Task &t : dfg.tasks)
    if (t.timeUs < largest * 1e-12)
      t.timeUs = 0;
}

double inputReloadUs(const Layer &layer, const DFGOptions &options) {
  if (!options.reloadInput || !layer.inputs.empty() || !layer.hasWeights())
    return 0;
  return layer.measured.inputLoad.value_or(0);
}

Expected<TrainingDFG> buildTrainingDFG(const Model &model,
                                       const MachineDesc &machine,
                                       const DFGOptions &options) {
  TrainingDFG dfg;
  const unsigned numLayers = model.layers.size();
  dfg.layerTasks.resize(numLayers);
  dfg.tasks.reserve(numLayers * 4);
  dfg.edges.reserve(numLayers * 8);
  std::vector<bool> hasB = layersNeedingActivationGradient(model);
  std::vector<LayerBytes> bytes;
  bytes.reserve(numLayers);
  for (unsigned l = 0; l < numLayers; ++l)
    bytes.push_back(layerBytes(model, l, machine.bytesPerElement));

  // Tasks, layer by layer.
  for (unsigned l = 0; l < numLayers; ++l) {
    const Layer &layer = model.layers[l];
    const LayerBytes &b = bytes[l];
    LayerTasks &lt = dfg.layerTasks[l];
    auto add = [&](TaskKind kind, double timeUs) {
      // "F.conv1"; appended by hand: a Twine's str() costs several times
      // more, and the candidates of the micro-batch choice build 300,000
      // tasks each at 10^5 layers.
      StringRef prefix = taskKindPrefix(kind);
      std::string name;
      name.reserve(prefix.size() + 1 + layer.name.size());
      name.append(prefix.data(), prefix.size()).append(1, '.').append(
          layer.name);
      return static_cast<int>(
          dfg.addTask({std::move(name), kind, l, timeUs}));
    };
    if (layer.isLoss()) {
      double time = 0;
      if (layer.measured.forward || layer.measured.activationGradient)
        time = layer.measured.forward.value_or(0) +
               layer.measured.activationGradient.value_or(0);
      else
        time = machine.computeTimeUs(
            layer.flops.forward + layer.flops.activationGradient,
            static_cast<double>(b.forwardTask() + b.activationGradientTask()));
      lt.forward = add(TaskKind::Loss, time);
      continue;
    }
    double slow = gemmSlowdown(model, layer, machine);
    lt.forward = add(TaskKind::Forward,
                     taskTime(layer.measured.forward, machine,
                              layer.flops.forward * slow, b.forwardTask()));
    double bTime = 0, gTime = 0;
    if (hasB[l])
      bTime = taskTime(layer.measured.activationGradient, machine,
                       layer.flops.activationGradient * slow,
                       b.activationGradientTask());
    if (layer.hasWeights())
      gTime = taskTime(layer.measured.weightGradient, machine,
                       layer.flops.weightGradient * slow,
                       b.weightGradientTask());
    // Merged, a layer's backward takes the time measured for its B and G
    // back to back (B alone without weights), where the profile has it.
    if (options.mergeBackward && layer.measured.mergedBackward) {
      double merged = *layer.measured.mergedBackward;
      bTime = layer.hasWeights() ? 0 : merged;
      gTime = layer.hasWeights() ? merged : 0;
    }
    gTime += inputReloadUs(layer, options);
    if (layer.hasWeights() && options.mergeBackward) {
      lt.activationGradient = add(TaskKind::Backward, bTime + gTime);
    } else {
      if (hasB[l])
        lt.activationGradient = add(TaskKind::ActivationGradient, bTime);
      if (layer.hasWeights())
        lt.weightGradient = add(TaskKind::WeightGradient, gTime);
    }
    if (layer.hasWeights())
      lt.update = add(TaskKind::Update,
                      taskTime(layer.measured.update, machine,
                               layer.flops.update, b.updateTask()));
  }

  // Edges. The backward task that computes layer l's activation gradient is
  // activationGradient (B or merged BG); the one that needs l's output delta
  // for the weight gradient is weightGradient, or the merged task.
  auto edge = [&](int src, int dst, EdgeKind kind, int64_t nbytes,
                  int64_t delay = 0) {
    assert(src >= 0 && dst >= 0 && "edge to a missing task");
    dfg.addEdge({static_cast<unsigned>(src), static_cast<unsigned>(dst), delay,
                 nbytes, kind});
  };
  for (unsigned v = 0; v < numLayers; ++v) {
    const Layer &layer = model.layers[v];
    const LayerTasks &tv = dfg.layerTasks[v];
    // The task that produces the deltas of v's inputs: the Loss task for the
    // loss layer, else B_v (or BG_v) if v computes them.
    int deltaSource = layer.isLoss() ? tv.forward
                      : hasB[v]      ? tv.activationGradient
                                     : -1;
    for (unsigned u : layer.inputs) {
      const LayerTasks &tu = dfg.layerTasks[u];
      int64_t act = bytes[u].outputActivations;
      edge(tu.forward, tv.forward, EdgeKind::Activation, act);
      if (deltaSource < 0)
        continue;
      // One gradient edge per consumer task of u's delta; with a merged
      // backward task B_u and G_u are the same task.
      if (tu.activationGradient >= 0)
        edge(deltaSource, tu.activationGradient, EdgeKind::Gradient, act);
      if (tu.weightGradient >= 0)
        edge(deltaSource, tu.weightGradient, EdgeKind::Gradient, act);
    }
    if (layer.isLoss())
      continue;
    const LayerBytes &b = bytes[v];
    if (tv.activationGradient >= 0) {
      int64_t saved = b.savedForActivationGradient;
      if (dfg.tasks[tv.activationGradient].kind == TaskKind::Backward)
        saved = b.inputActivations; // the merged task computes G too
      edge(tv.forward, tv.activationGradient, EdgeKind::Saved, saved);
    }
    if (tv.weightGradient >= 0)
      edge(tv.forward, tv.weightGradient, EdgeKind::Saved, b.inputActivations);
    if (tv.update < 0)
      continue;
    int gradientTask =
        tv.weightGradient >= 0 ? tv.weightGradient : tv.activationGradient;
    edge(gradientTask, tv.update, EdgeKind::WeightGradient, b.weights);
    edge(tv.update, tv.forward, EdgeKind::Weight, b.weights, 1);
    // B needs the weights; G alone (a merged task without B's work) not.
    if (hasB[v])
      edge(tv.update, tv.activationGradient, EdgeKind::Weight, b.weights, 1);
    // Weights and the momentum buffer of SGD with momentum.
    edge(tv.update, tv.update, EdgeKind::UpdateState, 2 * b.weights, 1);
  }

  if (Error err = verifyDFG(dfg))
    return err;
  snapNegligibleTimes(dfg);
  return dfg;
}

} // namespace layerpipe
