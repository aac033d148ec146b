//===- ImportedKindsTest.cpp - Layer kinds of imported CNNs ----------------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// Shapes, parameters, FLOPs and saved bytes of the layer kinds that
// torchvision models need (docs/model-format.md): grouped and depthwise
// conv2d, concat, global_avgpool, relu6; and the source_name field.
//
//===----------------------------------------------------------------------===//

#include "FrontendTestUtil.h"

using namespace layerpipe;

static const char *kModel = R"({
  "name": "blocks", "input": {"shape": [8, 6, 6]}, "batch_size": 2,
  "layers": [
    {"name": "dw", "type": "conv2d", "out_channels": 16, "kernel": 3,
     "padding": 1, "groups": 8, "source_name": "features.0/dw conv"},
    {"name": "r6", "type": "relu6"},
    {"name": "pw", "type": "conv2d", "inputs": ["dw"], "out_channels": 4,
     "kernel": 1, "bias": false},
    {"name": "cat", "type": "concat", "inputs": ["r6", "pw"]},
    {"name": "gap", "type": "global_avgpool"},
    {"name": "flat", "type": "flatten"},
    {"name": "fc", "type": "dense", "units": 3},
    {"name": "loss", "type": "softmax_cross_entropy"}
  ]})";

TEST_CASE("Grouped conv2d: parameters and FLOPs per group") {
  Model m = parseOk(kModel);
  const Layer &dw = m.layers[0];
  CHECK(dw.groups == 8);
  CHECK(dw.outputShape == Shape{{16, 6, 6}});
  // 16 outputs x (8 / 8) input channels x 3 x 3, plus 16 biases.
  CHECK(dw.params == 16 * 1 * 9 + 16);
  int64_t outputs = 2 * 16 * 36;
  CHECK(dw.flops.forward == 2 * outputs * 1 * 9 + outputs);
  CHECK(dw.flops.activationGradient == 2 * outputs * 9);
  CHECK(dw.flops.weightGradient == 2 * outputs * 9 + outputs);
  CHECK(dw.flops.update == 4 * dw.params);
}

TEST_CASE("Concat, global_avgpool and relu6: shapes, FLOPs and bytes") {
  Model m = parseOk(kModel);
  const Layer &r6 = m.layers[1], &cat = m.layers[3], &gap = m.layers[4];
  CHECK(r6.flops.forward == 2 * 2 * 16 * 36);
  CHECK(cat.outputShape == Shape{{20, 6, 6}});
  CHECK(cat.params == 0);
  CHECK(cat.flops.total() == 0);
  CHECK(gap.outputShape == Shape{{20, 1, 1}});
  CHECK(gap.flops.forward == 2 * 20 * 36);
  CHECK(gap.flops.activationGradient == 2 * 20 * 36);
  CHECK(m.totalParams() == (16 * 9 + 16) + 16 * 4 + (20 * 3 + 3));
  LayerBytes catBytes = layerBytes(m, 3, 4);
  CHECK(catBytes.inputActivations == 2 * (16 + 4) * 36 * 4);
  CHECK(catBytes.savedForActivationGradient == 0);
  CHECK(layerBytes(m, 1, 4).savedForActivationGradient == 2 * 16 * 36 * 4);
}

TEST_CASE("source_name is free text; groups belongs to conv2d") {
  std::string text = kModel;
  parseOk(text);
  std::string misplaced = text;
  misplaced.replace(misplaced.find("\"type\": \"relu6\""),
                    strlen("\"type\": \"relu6\""),
                    "\"type\": \"relu6\", \"groups\": 2");
  std::string message = parseError(misplaced);
  CHECK(message.find("groups") != std::string::npos);
  CHECK(message.find("conv2d layers") != std::string::npos);
}
