//===- Memory.cpp - Staleness and memory of a retimed pipeline ------------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// Counts what the retimed DFG's registers hold, tensor by tensor (a tensor
// read by several tasks is held once, for as long as its latest reader needs
// it), and adds the state every layer keeps. docs/memory.md has the formulas.
//
//===----------------------------------------------------------------------===//

#include "layerpipe/Transforms/Memory.h"

#include "llvm/ADT/DenseMap.h"

#include <algorithm>
#include <tuple>

namespace layerpipe {

MemoryBreakdown &MemoryBreakdown::operator+=(const MemoryBreakdown &other) {
  parameters += other.parameters;
  optimizerState += other.optimizerState;
  weightVersions += other.weightVersions;
  activations += other.activations;
  gradients += other.gradients;
  movingAverage += other.movingAverage;
  return *this;
}

/// Groups of edges that carry one tensor. Weight groups cost nothing unless
/// \p chargeWeights (only `stash` stores old versions).
static std::vector<RegisterGroup> tensorGroups(const TrainingDFG &dfg,
                                               bool chargeWeights,
                                               bool keepFree) {
  // Groups are numbered in the order edges first reach them; the index
  // only finds them (a hash map: a std::map of 600,000 edges' keys cost
  // more than the rest of the memory report).
  llvm::DenseMap<std::tuple<unsigned, int, int>, unsigned> index;
  index.reserve(dfg.edges.size());
  std::vector<RegisterGroup> groups;
  for (unsigned e = 0; e < dfg.edges.size(); ++e) {
    const Edge &edge = dfg.edges[e];
    if (edge.kind == EdgeKind::UpdateState)
      continue; // a self-loop: retiming never changes it
    int64_t bytes = edge.bytes;
    if (edge.kind == EdgeKind::Weight && !chargeWeights)
      bytes = 0;
    if (bytes <= 0 && !keepFree)
      continue;
    // Each producer gets its own delta tensor; everything else a task
    // sends is one tensor per kind.
    int target = edge.kind == EdgeKind::Gradient
                     ? int(dfg.tasks[edge.dst].layer)
                     : -1;
    auto key = std::make_tuple(edge.src, int(edge.kind), target);
    auto [it, inserted] = index.try_emplace(key, groups.size());
    if (inserted)
      groups.emplace_back();
    RegisterGroup &group = groups[it->second];
    group.edges.push_back(e);
    group.bytes = std::max(group.bytes, bytes);
  }
  return groups;
}

std::vector<RegisterGroup> registerGroups(const TrainingDFG &dfg,
                                          WeightPolicy policy) {
  return tensorGroups(dfg, policy == WeightPolicy::Stash, false);
}

MemoryReport computeMemoryReport(const Model &model, const TrainingDFG &retimed,
                                 const PipelinePlan &plan,
                                 const PlanOptions &options,
                                 const MachineDesc &machine) {
  MemoryReport report;
  size_t numLayers = model.layers.size();
  report.perStage.resize(plan.numStages);
  report.layers.resize(numLayers);
  auto stageOf = [&](unsigned layer) -> MemoryBreakdown & {
    return report.perStage[plan.stageOfLayer[layer]];
  };
  const int64_t bpe = machine.bytesPerElement;
  const bool stash = options.weights == WeightPolicy::Stash;
  const bool staleBackward =
      stash || options.weights == WeightPolicy::Ema;

  int64_t weightVersionBytes = 0, emaBytes = 0, syncActivations = 0;
  for (unsigned l = 0; l < numLayers; ++l) {
    const Layer &layer = model.layers[l];
    int64_t weightBytes = layer.params * bpe;
    MemoryBreakdown &m = stageOf(l);
    m.parameters += weightBytes;
    if (options.momentum)
      m.optimizerState += weightBytes;
    LayerPipelineState &state = report.layers[l];
    state.backwardStaleness =
        layer.hasWeights() && staleBackward ? plan.gradientDelay[l] : 0;
    if (layer.hasWeights() && plan.gradientDelay[l] > 0) {
      int64_t buffer = options.momentum ? 0 : weightBytes;
      emaBytes += buffer;
      if (options.weights == WeightPolicy::Ema)
        m.movingAverage += buffer;
    }
  }

  for (const RegisterGroup &group : tensorGroups(retimed, true, true)) {
    const Edge &first = retimed.edges[group.edges.front()];
    const Task &src = retimed.tasks[first.src];
    int64_t regs = 0;
    for (unsigned e : group.edges)
      regs = std::max(regs, retimed.edges[e].delay);
    LayerPipelineState &state = report.layers[src.layer];
    MemoryBreakdown &m = stageOf(src.layer);
    switch (first.kind) {
    case EdgeKind::Activation:
      state.activationRegisters = regs;
      m.activations += group.bytes * regs;
      break;
    case EdgeKind::Saved:
      // The batch in flight plus one per register, until the backward.
      state.savedRegisters = regs;
      m.activations += group.bytes * (regs + 1);
      syncActivations += group.bytes;
      break;
    case EdgeKind::Gradient:
      state.gradientRegisters = std::max(state.gradientRegisters, regs);
      m.gradients += group.bytes * regs;
      break;
    case EdgeKind::WeightGradient:
      m.gradients += group.bytes * regs;
      break;
    case EdgeKind::Weight: {
      // One register is the current weights; the others are old versions.
      int64_t versions = std::max<int64_t>(0, regs - 1);
      state.weightVersions = versions;
      weightVersionBytes += group.bytes * versions;
      if (stash)
        m.weightVersions += group.bytes * versions;
      break;
    }
    case EdgeKind::UpdateState:
      break;
    }
  }

  for (const MemoryBreakdown &m : report.perStage)
    report.total += m;
  int64_t state = report.total.parameters + report.total.optimizerState;
  int64_t inFlight = report.total.activations + report.total.gradients;
  auto &weights = report.weightBytesByPolicy;
  weights[size_t(WeightPolicy::Stash)] = state + weightVersionBytes;
  weights[size_t(WeightPolicy::Latest)] = state;
  weights[size_t(WeightPolicy::Ema)] = state + emaBytes;
  weights[size_t(WeightPolicy::Sync)] = state;
  for (size_t p = 0; p < 4; ++p)
    report.totalByPolicy[p] = weights[p] + inFlight;
  // Synchronous training keeps one mini-batch of saved activations and no
  // registers.
  report.totalByPolicy[size_t(WeightPolicy::Sync)] = state + syncActivations;
  return report;
}

} // namespace layerpipe
