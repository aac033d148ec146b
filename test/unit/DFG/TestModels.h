//===- TestModels.h - Hand-built models for the DFG unit tests --*- C++ -*-===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// Models filled field by field (shapes, parameters, FLOPs, measured times), so
// the DFG tests do not depend on the model-file parser.
//
//===----------------------------------------------------------------------===//

#ifndef LAYERPIPE_TEST_UNIT_DFG_TESTMODELS_H
#define LAYERPIPE_TEST_UNIT_DFG_TESTMODELS_H

#include "layerpipe/Model.h"

#include <string>

namespace layerpipe::test {

/// Appends a layer reading \p inputs with output shape \p out and \p params
/// parameters; its measured task times are F = 1, B = 2, G = 3, U = 0.5
/// times \p scale microseconds.
inline unsigned addLayer(Model &m, std::string name, LayerKind kind,
                         llvm::ArrayRef<unsigned> inputs,
                         llvm::ArrayRef<int64_t> out, int64_t params,
                         double scale = 1.0) {
  Layer l;
  l.name = std::move(name);
  l.kind = kind;
  l.inputs.assign(inputs.begin(), inputs.end());
  l.inputShape = inputs.empty() ? m.inputShape
                                : m.layers[inputs.front()].outputShape;
  l.outputShape.dims.assign(out.begin(), out.end());
  l.params = params;
  l.flops.forward = 1000 * scale;
  l.flops.activationGradient = 2000 * scale;
  l.flops.weightGradient = params ? 3000 * scale : 0;
  l.flops.update = params ? 500 * scale : 0;
  l.measured.forward = 1.0 * scale;
  l.measured.activationGradient = 2.0 * scale;
  l.measured.weightGradient = 3.0 * scale;
  l.measured.update = 0.5 * scale;
  l.sourceIndex = m.layers.size();
  m.layers.push_back(std::move(l));
  return m.layers.size() - 1;
}

/// dense(4) -> relu -> dense(3) -> softmax_cross_entropy on an [8] input,
/// batch 2.
inline Model tinyMlp() {
  Model m;
  m.name = "tiny";
  m.inputShape.dims = {8};
  m.batchSize = 2;
  unsigned fc1 = addLayer(m, "fc1", LayerKind::Dense, {}, {4}, 8 * 4 + 4);
  unsigned relu = addLayer(m, "relu1", LayerKind::Relu, {fc1}, {4}, 0);
  unsigned fc2 = addLayer(m, "fc2", LayerKind::Dense, {relu}, {3}, 4 * 3 + 3);
  m.lossLayer = addLayer(m, "loss", LayerKind::SoftmaxCrossEntropy, {fc2},
                         {1}, 0);
  m.numClasses = 3;
  return m;
}

/// A chain of \p depth dense+relu pairs and a loss; layer i's times are
/// scaled by (1 + i % 5) so the tasks differ.
inline Model deepMlp(unsigned depth) {
  Model m;
  m.name = "deep";
  m.inputShape.dims = {16};
  m.batchSize = 4;
  int prev = -1;
  for (unsigned i = 0; i < depth; ++i) {
    std::vector<unsigned> in;
    if (prev >= 0)
      in.push_back(prev);
    double scale = 1 + i % 5;
    prev = addLayer(m, "fc" + std::to_string(i), LayerKind::Dense, in, {16},
                    16 * 16 + 16, scale);
    prev = addLayer(m, "relu" + std::to_string(i), LayerKind::Relu,
                    {static_cast<unsigned>(prev)}, {16}, 0, scale);
  }
  m.lossLayer = addLayer(m, "loss", LayerKind::SoftmaxCrossEntropy,
                         {static_cast<unsigned>(prev)}, {1}, 0);
  m.numClasses = 16;
  return m;
}

} // namespace layerpipe::test

#endif // LAYERPIPE_TEST_UNIT_DFG_TESTMODELS_H
