//===- ModelTest.cpp - Shapes, parameters and FLOPs of parsed models ------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// Unit tests of parseModel/loadModel on small hand-written models and on the
// model zoo: topological order, inferred shapes, parameter counts, FLOPs and
// tensor bytes.
//
//===----------------------------------------------------------------------===//

#include "FrontendTestUtil.h"

#include <doctest/doctest.h>

using namespace layerpipe;

TEST_CASE("Shape helpers") {
  Shape s{{6, 28, 28}};
  CHECK(s.numElements() == 4704);
  CHECK(s.isImage());
  CHECK(s.str() == "[6, 28, 28]");
  CHECK(Shape{{10}}.str() == "[10]");
  CHECK(Shape{{10}} != s);
}

TEST_CASE("Layer kind names round-trip") {
  for (const char *name :
       {"conv2d", "dense", "maxpool", "avgpool", "relu", "tanh", "sigmoid",
        "flatten", "add", "batchnorm", "dropout", "softmax_cross_entropy"}) {
    std::optional<LayerKind> kind = parseLayerKind(name);
    REQUIRE(kind);
    CHECK(layerKindName(*kind) == name);
  }
  CHECK(!parseLayerKind("conv3d"));
  // Every kind, including those added later, spells and parses back.
  for (LayerKind kind : allLayerKinds())
    CHECK(parseLayerKind(layerKindName(kind)) == kind);
  CHECK(allLayerKinds().size() >= 15);
  CHECK(parseLayerKind("attention") == LayerKind::Attention);
}

TEST_CASE("LeNet-5: shapes, parameters and FLOPs") {
  Model m = loadZooModel("lenet5");
  CHECK(m.totalParams() == 61706);
  CHECK(m.numClasses == 10);
  CHECK(m.lossLayer == m.layers.size() - 1);
  const Layer &conv1 = m.layers[0];
  CHECK(conv1.outputShape.str() == "[6, 28, 28]");
  CHECK(conv1.params == 6 * 25 + 6);
  // 2 * Cout*Hout*Wout*Cin*kh*kw per sample, plus the bias adds.
  CHECK(conv1.flops.forward == doctest::Approx(64.0 * (2 * 6 * 28 * 28 * 25 +
                                                       6 * 28 * 28)));
  CHECK(conv1.flops.activationGradient ==
        doctest::Approx(64.0 * 2 * 6 * 28 * 28 * 25));
  CHECK(conv1.flops.update == doctest::Approx(4.0 * 156));
  int pool2 = m.findLayer("pool2");
  REQUIRE(pool2 >= 0);
  CHECK(m.layers[pool2].outputShape.str() == "[16, 5, 5]");
  CHECK(m.layers[m.findLayer("flatten")].outputShape.str() == "[400]");
  CHECK(m.layers[m.findLayer("fc1")].params == 400 * 120 + 120);
  CHECK(m.findLayer("nope") == -1);
  CHECK(!m.layers[m.findLayer("relu1")].hasWeights());
}

TEST_CASE("MLP 784-256-128-10") {
  Model m = loadZooModel("mlp");
  CHECK(m.totalParams() == 784 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10);
  CHECK(m.layers.size() == 6);
  const Layer &fc1 = m.layers[0];
  CHECK(fc1.flops.forward == doctest::Approx(64.0 * (2 * 784 * 256 + 256)));
  CHECK(fc1.flops.weightGradient == doctest::Approx(64.0 * (2 * 784 * 256 + 256)));
  LayerFlops total = m.totalFlops();
  CHECK(total.total() > 0);
  CHECK(total.update == doctest::Approx(4.0 * m.totalParams()));
}

TEST_CASE("Layer bytes") {
  Model m = loadZooModel("mlp");
  LayerBytes b = layerBytes(m, 0, 4);
  CHECK(b.inputActivations == 784 * 64 * 4);
  CHECK(b.outputActivations == 256 * 64 * 4);
  CHECK(b.weights == (784 * 256 + 256) * 4);
  CHECK(b.forwardTask() ==
        b.inputActivations + b.outputActivations + b.weights);
  CHECK(b.updateTask() == 5 * b.weights);
  // Dense needs no saved input for its activation gradient; relu does.
  CHECK(b.savedForActivationGradient == 0);
  CHECK(b.activationGradientTask() ==
        b.outputActivations + b.weights + b.inputActivations);
  LayerBytes relu = layerBytes(m, 1, 2);
  CHECK(relu.inputActivations == 256 * 64 * 2);
  CHECK(relu.weights == 0);
  CHECK(relu.savedForActivationGradient == relu.inputActivations);
  CHECK(relu.activationGradientTask() == 3 * relu.inputActivations);
  CHECK(relu.weightGradientTask() == 2 * relu.inputActivations);
  // An add reads all its inputs.
  Model res = loadZooModel("resnet20");
  LayerBytes add = layerBytes(res, res.findLayer("s1b1_add"), 4);
  CHECK(add.inputActivations == 2 * add.outputActivations);
}

TEST_CASE("Inputs by name: file order kept when topological, else sorted") {
  const char *text = R"({
    "name": "dag", "input": {"shape": [4]}, "batch_size": 2,
    "layers": [
      {"name": "a", "type": "dense", "units": 8},
      {"name": "c", "type": "relu", "inputs": ["b"]},
      {"name": "b", "type": "dense", "units": 8, "inputs": ["a"]},
      {"name": "sum", "type": "add", "inputs": ["a", "c"]},
      {"name": "head", "type": "dense", "units": 3},
      {"name": "loss", "type": "softmax_cross_entropy"}
    ]})";
  Model m = parseOk(text);
  std::vector<std::string> names;
  for (const Layer &l : m.layers)
    names.push_back(l.name);
  CHECK(names == std::vector<std::string>{"a", "b", "c", "sum", "head", "loss"});
  const Layer &sum = m.layers[3];
  REQUIRE(sum.inputs.size() == 2);
  CHECK(m.layers[sum.inputs[0]].name == "a");
  CHECK(m.layers[sum.inputs[1]].name == "c");
  CHECK(m.layers[2].sourceIndex == 1);
  auto consumers = m.consumers();
  CHECK(consumers[0].size() == 2); // a -> b, sum
  CHECK(m.numClasses == 3);
  CHECK(m.layers[0].inputs.empty());
  // The add sums two inputs: one add per element.
  CHECK(sum.flops.forward == doctest::Approx(8.0 * 2));
}

TEST_CASE("Pool stride defaults to the kernel; conv options") {
  const char *text = R"({
    "input": {"shape": [3, 9, 9]}, "batch_size": 1,
    "layers": [
      {"name": "c", "type": "conv2d", "out_channels": 4, "kernel": [3, 1],
       "stride": [2, 1], "padding": [1, 0], "bias": false, "in_channels": 3},
      {"name": "p", "type": "avgpool", "kernel": 2},
      {"name": "bn", "type": "batchnorm"},
      {"name": "f", "type": "flatten"},
      {"name": "d", "type": "dropout", "rate": 0.25},
      {"name": "o", "type": "dense", "units": 2, "bias": false},
      {"name": "loss", "type": "softmax_cross_entropy"}
    ]})";
  Model m = parseOk(text, "opts.json");
  CHECK(m.name == "opts");
  CHECK(m.layers[0].outputShape.str() == "[4, 5, 9]");
  CHECK(m.layers[0].params == 4 * 3 * 3);
  CHECK(m.layers[1].outputShape.str() == "[4, 2, 4]");
  CHECK(m.layers[2].params == 8);
  CHECK(m.layers[4].dropRate == doctest::Approx(0.25));
  CHECK(m.layers[5].params == 32 * 2);
}

TEST_CASE("Hints and measured times") {
  const char *text = R"({
    "input": {"shape": [4]}, "batch_size": 8,
    "layers": [
      {"name": "fc", "type": "dense", "units": 2, "stage": 1,
       "gradient_delay": 3,
       "times": {"forward": 12.5, "activation_gradient": 3,
                 "weight_gradient": 4, "update": 0}},
      {"name": "loss", "type": "softmax_cross_entropy", "stage": 2}
    ]})";
  Model m = parseOk(text);
  const Layer &fc = m.layers[0];
  CHECK(fc.stageHint == 1u);
  CHECK(fc.gradientDelay == 3u);
  CHECK(fc.measured.forward == 12.5);
  CHECK(fc.measured.update == 0.0);
  CHECK(!m.layers[1].measured.forward);
}
