//===- TransformerZooTest.cpp - The language models of the zoo ------------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// Parameter counts of the zoo's GPT-2 small (untied; the tied figure is the
// untied one less the output table) and TinyLlama-1.1B against the published
// figures, the shapes of a block, and the cost model's formulas for the
// Transformer layers on a small hand-computed case.
//
//===----------------------------------------------------------------------===//

#include "FrontendTestUtil.h"

#include <doctest/doctest.h>

using namespace layerpipe;

static const Layer &named(const Model &m, llvm::StringRef name) {
  int i = m.findLayer(name);
  REQUIRE(i >= 0);
  return m.layers[size_t(i)];
}

TEST_CASE("Zoo: GPT-2 small is 124,439,808 parameters tied, 163,037,184 "
          "untied") {
  Model m = loadZooModel("gpt2-small");
  const int64_t outputTable = 50257LL * 768;
  CHECK(m.totalParams() == 163037184);
  CHECK(m.totalParams() - outputTable == 124439808);
  CHECK(named(m, "lm_head").params == outputTable);
  CHECK(named(m, "wte").params == outputTable);
  CHECK(named(m, "wpe").params == 1024 * 768);
  CHECK(named(m, "h0_qkv").outputShape == Shape{{1024, 2304}});
  CHECK(named(m, "h0_attn").outputShape == Shape{{1024, 768}});
  CHECK(m.numClasses == 50257);
  CHECK(m.layers.back().inputShape == Shape{{1024, 50257}});
}

TEST_CASE("Zoo: TinyLlama-1.1B has its published 1,100,048,384 parameters") {
  Model m = loadZooModel("tinyllama-1.1b");
  CHECK(m.totalParams() == 1100048384);
  // Grouped-query attention: 32 query heads, 4 key/value heads of 64.
  CHECK(named(m, "l0_qkv").params == 2048LL * (2048 + 2 * 4 * 64));
  CHECK(named(m, "l0_attn").outputShape == Shape{{2048, 2048}});
  CHECK(named(m, "l0_swiglu").outputShape == Shape{{2048, 5632}});
  CHECK(named(m, "l0_norm1").params == 2048);
}

TEST_CASE("Transformer layers: FLOPs follow docs/model-format.md") {
  const char *text = R"({"input": {"shape": [4]}, "batch_size": 2,
    "layers": [
      {"name": "wte", "type": "embedding", "vocab": 10, "dim": 12},
      {"name": "wpe", "type": "position_embedding", "max_positions": 6},
      {"name": "ln", "type": "layernorm"},
      {"name": "qkv", "type": "dense", "units": 24, "bias": false},
      {"name": "attn", "type": "attention", "heads": 2, "kv_heads": 1,
       "rope": true},
      {"name": "up", "type": "dense", "units": 16},
      {"name": "act", "type": "swiglu"},
      {"name": "rms", "type": "rmsnorm"},
      {"name": "head", "type": "dense", "units": 10},
      {"name": "loss", "type": "softmax_cross_entropy"}]})";
  llvm::Expected<Model> parsed = parseModel(text, "t.json");
  REQUIRE(static_cast<bool>(parsed));
  const Model &m = *parsed;
  const int64_t B = 2, T = 4;
  CHECK(named(m, "wte").params == 120);
  CHECK(named(m, "wte").flops.weightGradient == B * T * 12);
  CHECK(named(m, "wpe").params == 72);
  CHECK(named(m, "ln").params == 24);
  CHECK(named(m, "ln").flops.forward == B * 8 * T * 12);
  // attention: H = 2, KV = 1, dh = 24 / (2 + 2) = 6.
  const Layer &attn = named(m, "attn");
  CHECK(attn.outputShape == Shape{{4, 12}});
  int64_t h = 2, kv = 1, dh = 6;
  int64_t rope = B * 3 * T * (h + kv) * dh;
  CHECK(attn.flops.forward ==
        B * (4 * h * T * T * dh + 5 * h * T * T) + rope);
  CHECK(attn.flops.activationGradient ==
        B * (8 * h * T * T * dh + 3 * h * T * T) + rope);
  CHECK(attn.params == 0);
  // dense over a sequence: the bias is added at every token.
  const Layer &up = named(m, "up");
  CHECK(up.params == 12 * 16 + 16);
  CHECK(up.flops.forward == B * (2 * T * 12 * 16 + T * 16));
  CHECK(named(m, "act").outputShape == Shape{{4, 8}});
  CHECK(named(m, "rms").params == 8);
  CHECK(m.numClasses == 10);
  LayerBytes bytes = layerBytes(m, unsigned(m.findLayer("attn")), 4);
  CHECK(bytes.savedForActivationGradient ==
        bytes.inputActivations + h * T * T * B * 4);
}
