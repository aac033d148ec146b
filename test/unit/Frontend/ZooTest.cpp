//===- ZooTest.cpp - The model zoo parses and has its published sizes -----===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// Parameter counts of models/*.json against the published figures (exact for
// LeNet-5 and VGG-16, within 2% for the CIFAR ResNets), and the shapes that
// show the architecture is the intended one.
//
//===----------------------------------------------------------------------===//

#include "FrontendTestUtil.h"

#include <doctest/doctest.h>

#include <cmath>

using namespace layerpipe;

static int countKind(const Model &m, LayerKind kind) {
  int n = 0;
  for (const Layer &l : m.layers)
    n += l.kind == kind;
  return n;
}

TEST_CASE("Zoo: LeNet-5 and VGG-16 have their exact published sizes") {
  CHECK(loadZooModel("lenet5").totalParams() == 61706);
  Model vgg = loadZooModel("vgg16");
  CHECK(vgg.totalParams() == 138357544);
  CHECK(countKind(vgg, LayerKind::Conv2d) == 13);
  CHECK(countKind(vgg, LayerKind::Dense) == 3);
  CHECK(vgg.layers[vgg.findLayer("pool5")].outputShape.str() ==
        "[512, 7, 7]");
  CHECK(vgg.numClasses == 1000);
  // About 15.5 GMAC per 224x224 image forward: 31 GFLOP, times the batch.
  CHECK(vgg.totalFlops().forward / vgg.batchSize ==
        doctest::Approx(31.0e9).epsilon(0.02));
}

TEST_CASE("Zoo: AlexNet (CIFAR-10 variant)") {
  Model m = loadZooModel("alexnet");
  // 4864 + 307392 + 663936 + 884992 + 590080 (convs)
  // + 2360320 + 1049600 + 10250 (dense), by hand.
  CHECK(m.totalParams() == 5871434);
  CHECK(m.layers[m.findLayer("pool5")].outputShape.str() == "[256, 3, 3]");
  CHECK(m.numClasses == 10);
}

TEST_CASE("Zoo: CIFAR ResNets are within 2% of the published sizes") {
  struct Expect {
    const char *name;
    double params;
    int convs;
  };
  // He et al. 2016, table 6; convs include the stem and 2 projections.
  for (Expect e : {Expect{"resnet20", 0.27e6, 21}, Expect{"resnet56", 0.86e6, 57},
                   Expect{"resnet110", 1.7e6, 111}}) {
    CAPTURE(e.name);
    Model m = loadZooModel(e.name);
    CHECK(std::fabs(m.totalParams() - e.params) / e.params < 0.02);
    CHECK(countKind(m, LayerKind::Conv2d) == e.convs);
    int n = (e.convs - 3) / 6;
    CHECK(countKind(m, LayerKind::Add) == 3 * n);
    CHECK(m.layers[m.findLayer("pool")].outputShape.str() == "[64, 1, 1]");
    CHECK(m.numClasses == 10);
    // Every add sums two equal shapes, one of them a skip connection.
    for (const Layer &l : m.layers)
      if (l.kind == LayerKind::Add)
        CHECK(l.inputs.size() == 2);
  }
  // ResNet-20 by hand: stem 432+32, stage 1 14016, stage 2 51648, stage 3
  // 205696, head 650.
  CHECK(loadZooModel("resnet20").totalParams() == 272474);
}

TEST_CASE("Zoo: every model keeps its file order and ends in the loss") {
  for (const char *name : {"mlp", "lenet5", "alexnet", "vgg16", "resnet20",
                           "resnet56", "resnet110"}) {
    CAPTURE(name);
    Model m = loadZooModel(name);
    CHECK(m.name == name);
    for (unsigned i = 0; i < m.layers.size(); ++i)
      CHECK(m.layers[i].sourceIndex == i);
    CHECK(m.lossLayer == m.layers.size() - 1);
    CHECK(m.layers.back().isLoss());
  }
}
