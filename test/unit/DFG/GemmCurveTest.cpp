//===- GemmCurveTest.cpp - The cost model's small-batch GEMM curve --------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//

#include "TestModels.h"

#include "layerpipe/CostModel.h"
#include "layerpipe/DFG.h"

#include <doctest/doctest.h>

using namespace layerpipe;
using namespace layerpipe::test;

TEST_CASE("gemmSlowdown is the ratio of the efficiencies r / (r + half)") {
  MachineDesc m; // gemm_half_rows 32
  // e(64) = 64/96, e(4) = 4/36: 6x slower.
  CHECK(m.gemmSlowdown(4, 64) == doctest::Approx(6.0));
  CHECK(m.gemmSlowdown(32, 64) == doctest::Approx((64.0 / 96) / (32.0 / 64)));
  // Never faster than the reference, exactly 1 at or above it.
  CHECK(m.gemmSlowdown(64, 64) == 1.0);
  CHECK(m.gemmSlowdown(128, 64) == 1.0);
  m.gemmHalfRows = 0;
  CHECK(m.gemmSlowdown(4, 64) == 1.0);
}

/// A compute-bound dense layer and a relu, priced by the roofline (no
/// measured times), at batch 4 of a model file's 64.
static Model rebatchedDense(int64_t referenceBatch) {
  Model m = tinyMlp();
  m.batchSize = 4;
  m.referenceBatch = referenceBatch;
  for (Layer &l : m.layers) {
    l.measured = MeasuredTimes();
    l.flops.forward *= 1e6; // 1 ms at 1 TFLOP/s: compute-bound
    l.flops.weightGradient *= 1e6;
  }
  m.layers[0].units = 4;
  m.layers[2].units = 3;
  return m;
}

TEST_CASE("dense tasks at a micro-batch run at the curve's rate") {
  MachineDesc curve, flat;
  flat.gemmHalfRows = 0;
  TrainingDFG slow = llvm::cantFail(
      buildTrainingDFG(rebatchedDense(64), curve, DFGOptions()));
  TrainingDFG plain = llvm::cantFail(
      buildTrainingDFG(rebatchedDense(64), flat, DFGOptions()));
  TrainingDFG unrepriced = llvm::cantFail(
      buildTrainingDFG(rebatchedDense(0), curve, DFGOptions()));
  auto time = [](const TrainingDFG &g, const char *name) {
    int t = g.findTask(name);
    REQUIRE(t >= 0);
    return g.tasks[t].timeUs;
  };
  // Rows 4 against 64 (a dense layer on a vector: one row per sample).
  CHECK(time(slow, "F.fc1") == doctest::Approx(6 * time(plain, "F.fc1")));
  CHECK(time(slow, "G.fc2") == doctest::Approx(6 * time(plain, "G.fc2")));
  // Not a GEMM: the roofline as it was.
  CHECK(time(slow, "F.relu1") == time(plain, "F.relu1"));
  // A model priced at its own batch is exactly the roofline.
  REQUIRE(unrepriced.tasks.size() == plain.tasks.size());
  for (size_t t = 0; t < plain.tasks.size(); ++t)
    CHECK(unrepriced.tasks[t].timeUs == plain.tasks[t].timeUs);
}
