//===- layerpipe-gen.cpp - Synthetic model generator ----------------------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// Writes model files (docs/model-format.md) of deep synthetic networks for
// scale tests and benchmarks, and the CIFAR ResNets of the model zoo:
//
//   layerpipe-gen --kind mlp --layers N     N x (dense + relu), dense head
//   layerpipe-gen --kind cnn --layers N     N x (3x3 conv + relu), flatten,
//                                           dense head
//   layerpipe-gen --kind resnet --depth D   CIFAR ResNet-D, D = 6n + 2
//   layerpipe-gen --kind gpt --layers N     GPT-2 style decoder: N pre-norm
//                                           blocks (layernorm, attention,
//                                           gelu MLP), learned positions
//   layerpipe-gen --kind llama --layers N   Llama style decoder: rmsnorm,
//                                           grouped-query attention with
//                                           rotary positions, swiglu MLP
//
// Every model written is parsed back with the frontend before it is saved, so
// the tool never writes a file that layerpipe would reject.
//
//===----------------------------------------------------------------------===//

#include "layerpipe/Model.h"
#include "layerpipe/ToolMain.h"
#include "layerpipe/OutputFile.h"

#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/raw_ostream.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <string>
#include <vector>

using namespace llvm;
using json = nlohmann::ordered_json; // keeps "name" and "type" first

static cl::OptionCategory genCategory("Generator options");

static cl::opt<std::string>
    kindOpt("kind",
            cl::desc("Network family: mlp, cnn, resnet, gpt or llama "
                     "(required, no default)"),
            cl::value_desc("mlp|cnn|resnet|gpt|llama"), cl::Required,
            cl::cat(genCategory));
static cl::opt<int64_t>
    layersOpt("layers",
              cl::desc("mlp/cnn: number of hidden blocks (dense+relu or "
                       "conv+relu); gpt/llama: Transformer blocks; "
                       "1..1000000 (required for these kinds, no default)"),
              cl::init(0), cl::cat(genCategory));
static cl::opt<int64_t>
    depthOpt("depth",
             cl::desc("resnet: depth 6n+2 (20, 56, 110, ...), at least 8 "
                      "(required for resnet, no default)"),
             cl::init(0), cl::cat(genCategory));
static cl::opt<int64_t>
    widthOpt("width",
             cl::desc("Units (mlp), channels (cnn), first-stage channels "
                      "(resnet) or model width D (gpt/llama); default 64 / 8 "
                      "/ 16 / 128"),
             cl::init(0), cl::cat(genCategory));
static cl::opt<int64_t> batchOpt("batch",
                                 cl::desc("Mini-batch size (default 64; "
                                          "resnet 128)"),
                                 cl::init(0), cl::cat(genCategory));
static cl::opt<int64_t>
    imageOpt("image-size",
             cl::desc("cnn/resnet: image height and width (default 8 / 32)"),
             cl::init(0), cl::cat(genCategory));
static cl::opt<int64_t>
    inputSizeOpt("input-size",
                 cl::desc("mlp: input vector length (default "
                          "784)"),
                 cl::init(784), cl::cat(genCategory));
static cl::opt<int64_t> classesOpt("classes",
                                   cl::desc("Number of classes (default 10)"),
                                   cl::init(10), cl::cat(genCategory));
static cl::opt<int64_t> headsOpt("heads",
                                 cl::desc("gpt/llama: attention heads "
                                          "(default: width / 32)"),
                                 cl::init(0), cl::cat(genCategory));
static cl::opt<int64_t>
    kvHeadsOpt("kv-heads",
               cl::desc("llama: key/value heads of grouped-query attention "
                        "(default: --heads)"),
               cl::init(0), cl::cat(genCategory));
static cl::opt<int64_t>
    ffnOpt("ffn",
           cl::desc("gpt/llama: MLP hidden width (default 4 x width for "
                    "gpt, 8/3 x width rounded up to 64 for llama)"),
           cl::init(0), cl::cat(genCategory));
static cl::opt<int64_t> vocabOpt("vocab",
                                 cl::desc("gpt/llama: vocabulary size "
                                          "(default 97, the trainer's "
                                          "character set)"),
                                 cl::init(97), cl::cat(genCategory));
static cl::opt<int64_t>
    seqOpt("seq", cl::desc("gpt/llama: tokens per sample T (default 64)"),
           cl::init(64), cl::cat(genCategory));
static cl::opt<int64_t>
    positionsOpt("max-positions",
                 cl::desc("gpt: rows of the position table (default: --seq)"),
                 cl::init(0), cl::cat(genCategory));
static cl::opt<double>
    dropoutOpt("dropout",
               cl::desc("gpt: dropout rate after the embeddings, attention "
                        "and MLP (default 0: no dropout layers)"),
               cl::init(0), cl::cat(genCategory));
static cl::opt<std::string> nameOpt("name",
                                    cl::desc("Model name (default from kind "
                                             "and size)"),
                                    cl::cat(genCategory));
static cl::opt<std::string> outputOpt("o", cl::desc("Output file (default: "
                                                    "standard output)"),
                                      cl::value_desc("file"), cl::init("-"),
                                      cl::cat(genCategory));

namespace {

/// A model under construction: header fields and layer objects in order.
struct ModelBuilder {
  json header = json::object();
  std::vector<json> layers;

  /// Appends a layer and returns its name.
  std::string add(json layer) {
    std::string name = layer["name"];
    layers.push_back(std::move(layer));
    return name;
  }
  /// The file: one layer per line, so big models stay readable and diffable.
  std::string text() const {
    std::string out = "{\n";
    for (auto it = header.begin(); it != header.end(); ++it)
      out += "  " + json(it.key()).dump() + ": " + it.value().dump() + ",\n";
    out += "  \"layers\": [\n";
    for (size_t i = 0; i < layers.size(); ++i)
      out += "    " + layers[i].dump() + (i + 1 < layers.size() ? ",\n" : "\n");
    return out + "  ]\n}\n";
  }
};

struct Config {
  std::string kind;
  int64_t count = 0, width = 0, batch = 0, image = 0, classes = 0;
  int64_t heads = 0, kvHeads = 0, ffn = 0; ///< gpt, llama
};

} // namespace

static json layer(const std::string &name, const char *type) {
  return json{{"name", name}, {"type", type}};
}

static json conv(const std::string &name, int64_t channels, int64_t kernel,
                 int64_t stride, int64_t padding, bool bias) {
  json l = layer(name, "conv2d");
  l["out_channels"] = channels;
  l["kernel"] = kernel;
  if (stride != 1)
    l["stride"] = stride;
  if (padding)
    l["padding"] = padding;
  if (!bias)
    l["bias"] = false;
  return l;
}

/// The input shape and the batch size, in the order the format lists them.
static void setInput(ModelBuilder &b, json shape, int64_t batch) {
  b.header["input"] = {{"shape", std::move(shape)}};
  b.header["batch_size"] = batch;
}

static void addHead(ModelBuilder &b, int64_t classes) {
  json fc = layer("fc", "dense");
  fc["units"] = classes;
  b.add(fc);
  b.add(layer("loss", "softmax_cross_entropy"));
}

static void buildMlp(ModelBuilder &b, const Config &c) {
  setInput(b, {inputSizeOpt.getValue()}, c.batch);
  for (int64_t i = 1; i <= c.count; ++i) {
    json fc = layer("fc" + std::to_string(i), "dense");
    fc["units"] = c.width;
    b.add(fc);
    b.add(layer("relu" + std::to_string(i), "relu"));
  }
  addHead(b, c.classes);
}

static void buildCnn(ModelBuilder &b, const Config &c) {
  setInput(b, {3, c.image, c.image}, c.batch);
  for (int64_t i = 1; i <= c.count; ++i) {
    b.add(conv("conv" + std::to_string(i), c.width, 3, 1, 1, true));
    b.add(layer("relu" + std::to_string(i), "relu"));
  }
  b.add(layer("flatten", "flatten"));
  addHead(b, c.classes);
}

/// conv (no bias, as He et al.) followed by batchnorm; returns the bn name.
static std::string convBn(ModelBuilder &b, const std::string &prefix,
                          int64_t channels, int64_t kernel, int64_t stride,
                          const std::string &input) {
  json c = conv(prefix + "_conv", channels, kernel, stride, kernel / 2, false);
  if (!input.empty())
    c["inputs"] = {input};
  b.add(c);
  return b.add(layer(prefix + "_bn", "batchnorm"));
}

/// CIFAR ResNet (He et al. 2016, section 4.2): a 3x3 stem, three stages of n
/// basic blocks with c, 2c, 4c channels, global average pooling, dense head.
/// Where the shape changes the shortcut is a 1x1 stride-2 conv + batchnorm
/// (option B), elsewhere the identity.
static void buildResNet(ModelBuilder &b, const Config &c) {
  setInput(b, {3, c.image, c.image}, c.batch);
  int64_t n = (c.count - 2) / 6;
  convBn(b, "stem", c.width, 3, 1, "");
  std::string x = b.add(layer("stem_relu", "relu"));
  int64_t channels = c.width;
  for (int stage = 1; stage <= 3; ++stage) {
    for (int64_t block = 1; block <= n; ++block) {
      std::string p = "s" + std::to_string(stage) + "b" + std::to_string(block);
      bool down = stage > 1 && block == 1;
      int64_t stride = down ? 2 : 1;
      if (down)
        channels *= 2;
      convBn(b, p + "a", channels, 3, stride, "");
      b.add(layer(p + "a_relu", "relu"));
      std::string main = convBn(b, p + "b", channels, 3, 1, "");
      std::string shortcut = down ? convBn(b, p + "_proj", channels, 1, 2, x) : x;
      json sum = layer(p + "_add", "add");
      sum["inputs"] = {main, shortcut};
      b.add(sum);
      x = b.add(layer(p + "_relu", "relu"));
    }
  }
  // Global average pooling over what is left of the image (8x8 for 32x32).
  int64_t side = c.image;
  for (int i = 0; i < 2; ++i)
    side = (side - 1) / 2 + 1;
  json pool = layer("pool", "avgpool");
  pool["kernel"] = side;
  b.add(pool);
  b.add(layer("flatten", "flatten"));
  addHead(b, c.classes);
}

static json dense(const std::string &name, int64_t units, bool bias,
                  const std::string &input = "") {
  json l = layer(name, "dense");
  l["units"] = units;
  if (!bias)
    l["bias"] = false;
  if (!input.empty())
    l["inputs"] = {input};
  return l;
}

static std::string residual(ModelBuilder &b, const std::string &name,
                            const std::string &branch,
                            const std::string &skip) {
  json sum = layer(name, "add");
  sum["inputs"] = {branch, skip};
  return b.add(sum);
}

/// GPT-2 (Radford et al. 2019): token and learned position embeddings, N
/// pre-layernorm blocks (fused q|k|v dense, causal attention, output dense,
/// residual; dense 4D, gelu, dense, residual), a final layernorm and an
/// untied output projection.
static void buildGpt(ModelBuilder &b, const Config &c) {
  setInput(b, {seqOpt.getValue()}, c.batch);
  double rate = dropoutOpt;
  auto dropout = [&](const std::string &name) {
    if (rate <= 0)
      return;
    json d = layer(name, "dropout");
    d["rate"] = rate;
    b.add(d);
  };
  json wte = layer("wte", "embedding");
  wte["vocab"] = vocabOpt.getValue();
  wte["dim"] = c.width;
  b.add(wte);
  json wpe = layer("wpe", "position_embedding");
  if (positionsOpt.getNumOccurrences())
    wpe["max_positions"] = positionsOpt.getValue();
  std::string x = b.add(wpe);
  if (rate > 0) {
    dropout("emb_drop");
    x = "emb_drop";
  }
  for (int64_t i = 0; i < c.count; ++i) {
    std::string p = "h" + std::to_string(i) + "_";
    json ln1 = layer(p + "ln1", "layernorm");
    ln1["inputs"] = {x};
    b.add(ln1);
    b.add(dense(p + "qkv", 3 * c.width, true));
    json attn = layer(p + "attn", "attention");
    attn["heads"] = c.heads;
    b.add(attn);
    std::string branch = b.add(dense(p + "proj", c.width, true));
    if (rate > 0) {
      dropout(p + "attn_drop");
      branch = p + "attn_drop";
    }
    x = residual(b, p + "add1", branch, x);
    b.add(layer(p + "ln2", "layernorm"));
    b.add(dense(p + "fc", c.ffn, true));
    b.add(layer(p + "gelu", "gelu"));
    branch = b.add(dense(p + "fc2", c.width, true));
    if (rate > 0) {
      dropout(p + "mlp_drop");
      branch = p + "mlp_drop";
    }
    x = residual(b, p + "add2", branch, x);
  }
  b.add(layer("ln_f", "layernorm"));
  b.add(dense("lm_head", vocabOpt.getValue(), false));
  b.add(layer("loss", "softmax_cross_entropy"));
}

/// Llama (Touvron et al. 2023): token embedding, N pre-rmsnorm blocks
/// (fused q|k|v dense without bias, grouped-query attention with rotary
/// positions, output dense; fused gate|up dense, swiglu, down dense), a final
/// rmsnorm and an untied output projection.
static void buildLlama(ModelBuilder &b, const Config &c) {
  setInput(b, {seqOpt.getValue()}, c.batch);
  int64_t headDim = c.width / c.heads;
  json embed = layer("embed", "embedding");
  embed["vocab"] = vocabOpt.getValue();
  embed["dim"] = c.width;
  std::string x = b.add(embed);
  for (int64_t i = 0; i < c.count; ++i) {
    std::string p = "l" + std::to_string(i) + "_";
    json norm1 = layer(p + "norm1", "rmsnorm");
    norm1["inputs"] = {x};
    b.add(norm1);
    b.add(dense(p + "qkv", c.width + 2 * c.kvHeads * headDim, false));
    json attn = layer(p + "attn", "attention");
    attn["heads"] = c.heads;
    attn["kv_heads"] = c.kvHeads;
    attn["rope"] = true;
    b.add(attn);
    std::string branch = b.add(dense(p + "o", c.width, false));
    x = residual(b, p + "add1", branch, x);
    b.add(layer(p + "norm2", "rmsnorm"));
    b.add(dense(p + "gate_up", 2 * c.ffn, false));
    b.add(layer(p + "swiglu", "swiglu"));
    branch = b.add(dense(p + "down", c.width, false));
    x = residual(b, p + "add2", branch, x);
  }
  b.add(layer("norm_f", "rmsnorm"));
  b.add(dense("lm_head", vocabOpt.getValue(), false));
  b.add(layer("loss", "softmax_cross_entropy"));
}

/// Checks the options; the message names the flag and the value.
static Error readConfig(Config &c) {
  auto bad = [](const Twine &message) {
    return createStringError(inconvertibleErrorCode(), message);
  };
  auto inRange = [&](const char *flag, int64_t v, int64_t lo,
                     int64_t hi) -> Error {
    if (v < lo || v > hi)
      return bad(Twine("--") + flag + " must be in [" + Twine(lo) + ", " +
                 Twine(hi) + "], got " + Twine(v));
    return Error::success();
  };
  c.kind = kindOpt;
  bool resnet = c.kind == "resnet";
  bool transformer = c.kind == "gpt" || c.kind == "llama";
  if (c.kind != "mlp" && c.kind != "cnn" && !resnet && !transformer)
    return bad("--kind must be mlp, cnn, resnet, gpt or llama, got '" +
               c.kind + "'");
  if (resnet) {
    if (layersOpt.getNumOccurrences())
      return bad("--kind resnet takes --depth (6n+2), not --layers");
    if (!depthOpt.getNumOccurrences())
      return bad("--kind resnet needs --depth (6n+2, e.g. 20, 56, 110)");
    c.count = depthOpt;
    if (Error err = inRange("depth", c.count, 8, 600002))
      return err;
    if ((c.count - 2) % 6 != 0)
      return bad("--depth must be 6n+2 (20, 56, 110, ...), got " +
                 Twine(c.count));
  } else {
    if (depthOpt.getNumOccurrences())
      return bad("--depth is for --kind resnet; use --layers for " + c.kind);
    if (!layersOpt.getNumOccurrences())
      return bad("--kind " + c.kind + " needs --layers N");
    c.count = layersOpt;
    if (Error err = inRange("layers", c.count, 1, 1000000))
      return err;
  }
  c.width = widthOpt.getNumOccurrences() ? widthOpt.getValue()
            : c.kind == "mlp"            ? 64
            : c.kind == "cnn"            ? 8
            : transformer                ? 128
                                         : 16;
  c.batch = batchOpt.getNumOccurrences() ? batchOpt.getValue()
                                         : (resnet ? 128 : 64);
  c.image = imageOpt.getNumOccurrences() ? imageOpt.getValue()
                                         : (resnet ? 32 : 8);
  c.classes = classesOpt;
  if (Error err = inRange("width", c.width, 1, 65536))
    return err;
  if (Error err = inRange("batch", c.batch, 1, 65536))
    return err;
  if (Error err = inRange("image-size", c.image, resnet ? 4 : 1, 4096))
    return err;
  if (Error err = inRange("classes", c.classes, 2, 1000000))
    return err;
  if (transformer) {
    c.heads = headsOpt.getNumOccurrences() ? headsOpt.getValue()
                                           : std::max<int64_t>(1, c.width / 32);
    c.kvHeads =
        kvHeadsOpt.getNumOccurrences() ? kvHeadsOpt.getValue() : c.heads;
    if (c.kind == "gpt" && kvHeadsOpt.getNumOccurrences())
      return bad("--kv-heads is for --kind llama (GPT-2 has as many key/value "
                 "heads as query heads)");
    if (Error err = inRange("heads", c.heads, 1, c.width))
      return err;
    if (Error err = inRange("kv-heads", c.kvHeads, 1, c.heads))
      return err;
    if (c.width % c.heads != 0)
      return bad("--width " + Twine(c.width) + " is not a multiple of --heads " +
                 Twine(c.heads));
    if (c.heads % c.kvHeads != 0)
      return bad("--heads " + Twine(c.heads) +
                 " is not a multiple of --kv-heads " + Twine(c.kvHeads));
    if (c.kind == "llama" && (c.width / c.heads) % 2 != 0)
      return bad("--kind llama's rotary positions need an even head width, "
                 "--width / --heads = " +
                 Twine(c.width / c.heads));
    c.ffn = ffnOpt.getNumOccurrences()
                ? ffnOpt.getValue()
                : c.kind == "gpt" ? 4 * c.width
                                  : (8 * c.width / 3 + 63) / 64 * 64;
    if (Error err = inRange("ffn", c.ffn, 1, 1 << 20))
      return err;
    if (Error err = inRange("vocab", vocabOpt.getValue(), 2, 1 << 24))
      return err;
    if (Error err = inRange("seq", seqOpt.getValue(), 1, 1 << 20))
      return err;
    if (positionsOpt.getNumOccurrences())
      if (Error err = inRange("max-positions", positionsOpt.getValue(),
                                 seqOpt.getValue(), 1 << 20))
        return err;
    if (!(dropoutOpt >= 0 && dropoutOpt < 1))
      return bad("--dropout must be in [0, 1), got " +
                 std::to_string(dropoutOpt.getValue()));
  }
  return inRange("input-size", inputSizeOpt, 1, 1 << 24);
}

/// Builds, checks and writes the model the flags describe.
static int generate(const std::string &commandLine,
                    function_ref<int(const Twine &)> die) {
  Config c;
  if (Error err = readConfig(c))
    return die(toString(std::move(err)));

  ModelBuilder b;
  std::string name = nameOpt.getNumOccurrences()
                         ? nameOpt.getValue()
                         : c.kind + std::to_string(c.count);
  b.header["name"] = name;
  static const char *family[] = {
      "Synthetic MLP: N x (dense + relu) and a dense head.",
      "Synthetic CNN: N x (3x3 conv + relu), flatten and a dense head.",
      "CIFAR ResNet (He et al. 2016): 3 stages of (depth-2)/6 basic blocks, "
      "conv without bias + batchnorm, 1x1 stride-2 projection shortcuts where "
      "the shape changes.",
      "GPT-2 style decoder: token + learned position embeddings, N pre-norm "
      "blocks (layernorm, fused q|k|v dense, causal attention, dense; "
      "layernorm, dense, gelu, dense), final layernorm, untied output "
      "projection.",
      "Llama style decoder: token embedding, N pre-norm blocks (rmsnorm, "
      "fused q|k|v dense, grouped-query causal attention with rotary "
      "positions, dense; rmsnorm, fused gate|up dense, swiglu, dense), final "
      "rmsnorm, untied output projection."};
  int familyIndex = c.kind == "mlp"     ? 0
                    : c.kind == "cnn"   ? 1
                    : c.kind == "gpt"   ? 3
                    : c.kind == "llama" ? 4
                                        : 2;
  b.header["description"] = std::string(family[familyIndex]) +
                            " Generated by: layerpipe-gen" + commandLine;
  if (c.kind == "mlp")
    buildMlp(b, c);
  else if (c.kind == "cnn")
    buildCnn(b, c);
  else if (c.kind == "gpt")
    buildGpt(b, c);
  else if (c.kind == "llama")
    buildLlama(b, c);
  else
    buildResNet(b, c);
  std::string text = b.text();

  // Never write a model the compiler would reject.
  if (Expected<layerpipe::Model> model = layerpipe::parseModel(text, name);
      !model)
    return die("the generated model is invalid (try other sizes): " +
               toString(model.takeError()));

  if (Error err = layerpipe::writeOutputFile(
          outputOpt, [&](raw_ostream &os) { os << text; }))
    return die(toString(std::move(err)));
  return 0;
}

int main(int argc, char **argv) {
  cl::HideUnrelatedOptions(genCategory);
  if (!layerpipe::parseToolFlags(
          argc, argv,
          "layerpipe-gen: writes deep synthetic LayerPipe model files\n"))
    return 1;
  auto die = [](const Twine &message) {
    layerpipe::printToolError(message);
    return 1;
  };
  // The options that shaped the model (not -o), for the description.
  std::string commandLine;
  for (int i = 1; i < argc; ++i) {
    if (StringRef(argv[i]) == "-o") {
      ++i;
      continue;
    }
    if (!StringRef(argv[i]).startswith("-o="))
      commandLine += " " + std::string(argv[i]);
  }
  try {
    return generate(commandLine, die);
  } catch (const std::exception &e) {
    return die(Twine("internal error: ") + e.what());
  }
}
