//===- Unfolding.cpp - Unfold a training DFG by J -------------------------===//
//
// Part of LayerPipe. See Unfolding.h for the rule; this file only applies it.
//
//===----------------------------------------------------------------------===//

#include "layerpipe/Transforms/Unfolding.h"

#include <cassert>
#include <string>

using namespace llvm;

namespace layerpipe {

TrainingDFG unfoldDFG(const TrainingDFG &dfg, unsigned J) {
  assert(J >= 1 && "unfolding factor must be at least 1");
  if (J == 1)
    return dfg;

  const unsigned V = dfg.numTasks();
  TrainingDFG unfolded;
  unfolded.tasks.reserve(size_t(V) * J);
  unfolded.edges.reserve(dfg.numEdges() * J);
  for (unsigned i = 0; i < J; ++i)
    for (const Task &task : dfg.tasks) {
      Task copy = task;
      copy.name += "#" + std::to_string(i);
      unfolded.tasks.push_back(std::move(copy));
    }
  for (unsigned i = 0; i < J; ++i)
    for (const Edge &edge : dfg.edges) {
      assert(edge.delay >= 0 && "unfolding needs non-negative delays");
      int64_t shifted = int64_t(i) + edge.delay;
      Edge copy = edge;
      copy.src = i * V + edge.src;
      copy.dst = unsigned(shifted % J) * V + edge.dst;
      copy.delay = shifted / J;
      unfolded.edges.push_back(copy);
    }
  // Copy 0 stands for the layer; its task indices are unchanged.
  unfolded.layerTasks = dfg.layerTasks;
  return unfolded;
}

} // namespace layerpipe
