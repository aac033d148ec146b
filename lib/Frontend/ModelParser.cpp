//===- ModelParser.cpp - Model file to layer graph ------------------------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// Reads a model file (docs/model-format.md) into a Model: checks every field
// for its JSON type and range, resolves inputs by name, orders the layers
// topologically (keeping file order where it already is one), reports cycles
// by the layers on them, and then runs shape inference.
//
// nlohmann/json reports errors by exceptions and so does this file
// internally: every field reader is one call that either returns a checked
// value or throws a ParseFailure naming the JSON pointer. parseModel is the
// only way in and converts all exceptions into an llvm::Error, so none ever
// leaves the frontend.
//
//===----------------------------------------------------------------------===//

#include "FrontendInternal.h"
#include "JsonFields.h"

#include "layerpipe/GraphWalks.h"
#include "layerpipe/Printable.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/Path.h"

#include <cmath>
#include <functional>

using namespace llvm;

namespace layerpipe {

Error modelError(StringRef fileName, StringRef pointer, const Twine &message) {
  std::string text = (fileName + ": " + message).str();
  if (!pointer.empty())
    text += " (at " + pointer.str() + ")";
  return createStringError(inconvertibleErrorCode(), printableText(text));
}

std::string layerPointer(const Layer &layer) {
  return "/layers/" + std::to_string(layer.sourceIndex);
}

static const StringRef commonLayerFields[] = {
    "name",  "type",    "inputs",     "stage", "gradient_delay",
    "times", "comment", "source_name"};

/// Type-specific fields of each layer kind.
static ArrayRef<StringRef> kindFields(LayerKind kind) {
  static const StringRef conv[] = {"out_channels", "kernel", "stride",
                                   "padding",      "bias",   "in_channels",
                                   "groups"};
  static const StringRef dense[] = {"units", "bias", "tied_to"};
  static const StringRef pool[] = {"kernel", "stride", "padding"};
  static const StringRef dropout[] = {"rate"};
  static const StringRef embedding[] = {"vocab", "dim"};
  static const StringRef positions[] = {"max_positions"};
  static const StringRef attention[] = {"heads", "kv_heads", "rope"};
  switch (kind) {
  case LayerKind::Conv2d:
    return conv;
  case LayerKind::Dense:
    return dense;
  case LayerKind::MaxPool:
  case LayerKind::AvgPool:
    return pool;
  case LayerKind::Dropout:
    return dropout;
  case LayerKind::Embedding:
    return embedding;
  case LayerKind::PositionEmbedding:
    return positions;
  case LayerKind::Attention:
    return attention;
  default:
    return {};
  }
}

/// "dense, conv2d layers": the kinds that have \p field.
static std::string kindsWithField(StringRef field) {
  std::string kinds;
  for (LayerKind kind : allLayerKinds())
    if (is_contained(kindFields(kind), field))
      kinds += (kinds.empty() ? "" : ", ") + layerKindName(kind).str();
  return kinds.empty() ? "" : kinds + " layers";
}

namespace {

/// A model or layer name. Names end up in task names, Graphviz files and
/// generated C++ programs, so they are kept to a safe alphabet.
static std::string readName(const json &value, const Place &at) {
  std::string name = readString(value, at);
  if (name.empty())
    fail(at.pointer(), at.what() + " is empty");
  if (name.size() > 128)
    fail(at.pointer(), at.what() + formatv(" is {0} characters long; at most 128",
                                       name.size())
                                   .str());
  for (char c : name)
    if (!isAlnum(c) && c != '_' && c != '-' && c != '.')
      fail(at.pointer(), at.what() + " '" + name +
                           "' may contain only letters, digits, '_', '-' and "
                           "'.'");
  return name;
}

/// A layer as written, before its inputs are resolved.
struct RawLayer {
  Layer layer;
  /// Input names and where each was written; empty = the previous layer.
  SmallVector<std::pair<std::string, std::string>, 2> inputNames;
  bool hasInputs = false;
  /// Resolved producers as file indices (-1: the model input).
  SmallVector<int, 2> producers;
};

class ModelReader {
public:
  explicit ModelReader(StringRef fileName) : fileName(fileName) {}

  Model read(const json &root);
  /// After shape inference: weight-gradient and update times and gradient
  /// delays only on layers with weights.
  void checkWeightFields(const Model &model);

private:
  StringRef fileName;
  std::vector<RawLayer> raw;

  void readTop(const json &root, Model &model);
  RawLayer readLayer(const json &value, size_t index);
  void readParameters(const json &object, const Place &at, Layer &layer);
  void resolveInputs();
  void checkLossAndSinks();
  std::vector<unsigned> topologicalOrder();
};

} // namespace

void ModelReader::readTop(const json &root, Model &model) {
  if (!root.is_object())
    fail("", std::string("the model file must hold a JSON object, got ") +
                 typeName(root));
  static const StringRef topFields[] = {"name", "input", "batch_size",
                                        "layers", "description"};
  Place top{"", ""};
  rejectUnknownFields(root, top, topFields, "at the top level");

  model.name = sys::path::stem(fileName).str();
  if (root.contains("name"))
    model.name = readName(root["name"], top.field("name"));
  if (root.contains("description"))
    readString(root["description"], top.field("description"));

  if (!root.contains("input"))
    fail("", "missing 'input' (e.g. \"input\": {\"shape\": [1, 28, 28]})");
  Place input = top.field("input");
  const json &inputObject = requireObject(root["input"], input);
  static const StringRef inputFields[] = {"shape"};
  rejectUnknownFields(inputObject, input, inputFields, "in 'input'");
  if (!inputObject.contains("shape"))
    fail(input.pointer(), "missing 'shape' in 'input'");
  Place shape = input.field("shape");
  const json &dims = inputObject["shape"];
  if (!dims.is_array() || (dims.size() != 1 && dims.size() != 3))
    fail(shape.pointer(), "'input' 'shape' must be [C, H, W] or [N], got " +
                            describe(dims));
  for (size_t i = 0; i < dims.size(); ++i)
    model.inputShape.dims.push_back(readInt(
        dims[i], shape.element(i, formatv("input dimension {0}", i).str()), 1,
        kMaxSize));

  if (!root.contains("batch_size"))
    fail("", "missing 'batch_size' (the mini-batch size, e.g. 64)");
  model.batchSize = readInt(root["batch_size"], top.field("batch_size"), 1,
                            kMaxSize);

  if (!root.contains("layers"))
    fail("", "missing 'layers' (an array of layer objects)");
  const json &layers = root["layers"];
  if (!layers.is_array())
    fail("/layers", std::string("'layers' must be an array, got ") +
                        typeName(layers));
  if (layers.empty())
    fail("/layers", "'layers' is empty; a model needs at least a loss layer");
  if (layers.size() > kMaxLayers)
    fail("/layers", formatv("the model has {0} layers; at most {1}",
                            layers.size(), kMaxLayers)
                        .str());
}

void ModelReader::readParameters(const json &object, const Place &at,
                                 Layer &layer) {
  auto has = [&](const char *key) { return object.contains(key); };
  auto require = [&](const char *key, const char *example) -> const json & {
    if (!has(key))
      fail(at.pointer(), at.prefix() + layerKindName(layer.kind).str() +
                           " needs '" + key + "' (e.g. \"" + key +
                           "\": " + example + ")");
    return object[key];
  };
  switch (layer.kind) {
  case LayerKind::Conv2d:
  case LayerKind::MaxPool:
  case LayerKind::AvgPool: {
    if (layer.kind == LayerKind::Conv2d) {
      layer.outChannels = readInt(require("out_channels", "16"),
                                  at.field("out_channels"), 1, kMaxSize);
      if (has("in_channels"))
        layer.inChannels = readInt(object["in_channels"],
                                   at.field("in_channels"), 1, kMaxSize);
      if (has("bias"))
        layer.bias = readBool(object["bias"], at.field("bias"));
      if (has("groups"))
        layer.groups = readInt(object["groups"], at.field("groups"), 1,
                               kMaxSize);
    }
    std::tie(layer.kernelH, layer.kernelW) =
        readPair(require("kernel", "3"), at.field("kernel"), 1, kMaxSize);
    // Pools step by their kernel unless told otherwise; convs by 1.
    if (layer.kind != LayerKind::Conv2d)
      std::tie(layer.strideH, layer.strideW) =
          std::make_pair(layer.kernelH, layer.kernelW);
    if (has("stride"))
      std::tie(layer.strideH, layer.strideW) =
          readPair(object["stride"], at.field("stride"), 1, kMaxSize);
    if (has("padding"))
      std::tie(layer.padH, layer.padW) =
          readPair(object["padding"], at.field("padding"), 0, kMaxSize);
    return;
  }
  case LayerKind::Dense:
    layer.units = readInt(require("units", "10"), at.field("units"), 1,
                          kMaxSize);
    if (has("bias"))
      layer.bias = readBool(object["bias"], at.field("bias"));
    if (has("tied_to")) {
      // Tied input/output embeddings are refused (docs/model-format.md):
      // the shared table's gradient would have to be summed across the
      // stages that hold it, which neither the compiler nor the runtime
      // models.
      std::string tied = readString(object["tied_to"], at.field("tied_to"));
      fail(at.field("tied_to").pointer(),
           at.prefix() + "ties its weight to '" + tied +
               "', but tied embeddings are not supported: leave out "
               "'tied_to' to train an untied output projection (it adds " +
               std::to_string(layer.units) +
               " x width parameters to the tied count)");
    }
    return;
  case LayerKind::Embedding:
    layer.vocab = readInt(require("vocab", "50257"), at.field("vocab"), 1,
                          kMaxSize);
    layer.dim = readInt(require("dim", "768"), at.field("dim"), 1, kMaxSize);
    return;
  case LayerKind::PositionEmbedding:
    if (has("max_positions"))
      layer.maxPositions = readInt(object["max_positions"],
                                   at.field("max_positions"), 1, kMaxSize);
    return;
  case LayerKind::Attention:
    layer.heads = readInt(require("heads", "12"), at.field("heads"), 1,
                          kMaxSize);
    layer.kvHeads = layer.heads;
    if (has("kv_heads"))
      layer.kvHeads = readInt(object["kv_heads"], at.field("kv_heads"), 1,
                              kMaxSize);
    if (layer.heads % layer.kvHeads != 0)
      fail(at.field("kv_heads").pointer(),
           at.prefix() +
               formatv("{0} query heads do not split into groups over {1} "
                       "key/value heads (heads must be a multiple of "
                       "kv_heads)",
                       layer.heads, layer.kvHeads)
                   .str());
    if (has("rope"))
      layer.rope = readBool(object["rope"], at.field("rope"));
    return;
  case LayerKind::Dropout:
    if (has("rate"))
      layer.dropRate = readNumber(object["rate"], at.field("rate"), 0, 1,
                                  /*hiOpen=*/true);
    return;
  default:
    return;
  }
}

void readMeasuredTimes(const json &value, const Place &at,
                       MeasuredTimes &times, StringRef where) {
  requireObject(value, at);
  static const StringRef timeFields[] = {"forward", "activation_gradient",
                                         "weight_gradient", "update",
                                         "merged_backward", "input_load"};
  rejectUnknownFields(value, at, timeFields, where);
  std::optional<double> *slots[] = {&times.forward, &times.activationGradient,
                                    &times.weightGradient, &times.update,
                                    &times.mergedBackward, &times.inputLoad};
  for (size_t i = 0; i < std::size(slots); ++i)
    if (value.contains(timeFields[i]))
      *slots[i] = readNumber(value[timeFields[i].str()],
                             at.field(timeFields[i]), 0, 1e15,
                             /*hiOpen=*/false);
}

RawLayer ModelReader::readLayer(const json &value, size_t index) {
  RawLayer result;
  Layer &layer = result.layer;
  layer.sourceIndex = index;
  std::string pointer = "/layers/" + std::to_string(index);
  Place anonymous{pointer, "layer " + std::to_string(index)};
  requireObject(value, anonymous);

  if (!value.contains("name"))
    fail(pointer, formatv("layer {0} has no 'name'", index).str());
  layer.name = readName(value["name"], anonymous.field("name"));
  Place at{pointer, "layer '" + layer.name + "'"};

  if (!value.contains("type"))
    fail(pointer, at.prefix() + "missing 'type' (e.g. \"type\": \"relu\")");
  std::string typeText = readString(value["type"], at.field("type"));
  std::optional<LayerKind> kind = parseLayerKind(typeText);
  if (!kind) {
    SmallVector<StringRef, 12> names;
    for (LayerKind k : allLayerKinds())
      names.push_back(layerKindName(k));
    std::string guess = closest(typeText, names);
    fail(pointer + "/type",
         at.prefix() + "unknown type '" + typeText + "'" +
             (guess.empty() ? "; known types: " + joinQuoted(names)
                            : "; did you mean '" + guess + "'?"));
  }
  layer.kind = *kind;

  SmallVector<StringRef, 16> allowed(std::begin(commonLayerFields),
                                     std::end(commonLayerFields));
  append_range(allowed, kindFields(layer.kind));
  rejectUnknownFields(value, at, allowed,
                      Twine("for a ") + typeText + " layer", kindsWithField);

  if (value.contains("comment"))
    readString(value["comment"], at.field("comment"));
  if (value.contains("source_name"))
    readString(value["source_name"], at.field("source_name"));

  if (value.contains("inputs")) {
    Place inputsAt = at.field("inputs");
    const json &inputs = value["inputs"];
    if (!inputs.is_array())
      fail(inputsAt.pointer(), inputsAt.what() + " must be an array of layer "
                                             "names, got " +
                                 describe(inputs));
    if (inputs.empty())
      fail(inputsAt.pointer(),
           inputsAt.what() + " is empty; leave it out to read the previous layer");
    result.hasInputs = true;
    for (size_t i = 0; i < inputs.size(); ++i) {
      Place element = inputsAt.element(
          i, at.prefix() + formatv("input {0}", i).str());
      result.inputNames.push_back(
          {readString(inputs[i], element), element.pointer()});
    }
  }

  readParameters(value, at, layer);

  if (value.contains("stage"))
    layer.stageHint = static_cast<unsigned>(
        readInt(value["stage"], at.field("stage"), 0, kMaxSize));
  if (value.contains("gradient_delay"))
    layer.gradientDelay = static_cast<unsigned>(readInt(
        value["gradient_delay"], at.field("gradient_delay"), 0, kMaxSize));
  if (value.contains("times"))
    readMeasuredTimes(value["times"], at.field("times"), layer.measured,
                      "in 'times'");
  return result;
}

void ModelReader::resolveInputs() {
  StringMap<unsigned> byName;
  for (size_t i = 0; i < raw.size(); ++i) {
    Layer &layer = raw[i].layer;
    auto inserted = byName.try_emplace(layer.name, i);
    if (!inserted.second)
      fail(layerPointer(layer) + "/name",
           "duplicate layer name '" + layer.name + "', first used at /layers/" +
               std::to_string(inserted.first->second));
  }
  for (size_t i = 0; i < raw.size(); ++i) {
    RawLayer &r = raw[i];
    if (!r.hasInputs) {
      r.producers.push_back(static_cast<int>(i) - 1);
      continue;
    }
    for (auto &[inputName, pointer] : r.inputNames) {
      auto it = byName.find(inputName);
      if (it == byName.end()) {
        SmallVector<StringRef, 8> names;
        // Suggest among nearby layers only: keeps big models linear.
        for (size_t j = i >= 50 ? i - 50 : 0; j < std::min(raw.size(), i + 50);
             ++j)
          names.push_back(raw[j].layer.name);
        std::string guess = closest(inputName, names);
        fail(pointer, "layer '" + r.layer.name + "': unknown input '" +
                          inputName + "'" +
                          (guess.empty() ? "" : "; did you mean '" + guess + "'?"));
      }
      int producer = it->second;
      if (is_contained(r.producers, producer))
        fail(pointer, "layer '" + r.layer.name + "': input '" + inputName +
                          "' is listed twice");
      r.producers.push_back(producer);
    }
  }
  // Input counts follow from the type.
  for (RawLayer &r : raw) {
    Layer &layer = r.layer;
    size_t n = r.producers.size();
    std::string pointer = layerPointer(layer) + (r.hasInputs ? "/inputs" : "");
    bool multiInput =
        layer.kind == LayerKind::Add || layer.kind == LayerKind::Concat;
    if (multiInput && n < 2)
      fail(pointer, "layer '" + layer.name + "': " +
                        layerKindName(layer.kind).str() +
                        " needs at least 2 inputs (list them in "
                        "'inputs'), got " +
                        std::to_string(n));
    if (!multiInput && n != 1)
      fail(pointer, "layer '" + layer.name + "': " +
                        layerKindName(layer.kind).str() +
                        " takes exactly 1 input, got " + std::to_string(n));
  }
}

void ModelReader::checkLossAndSinks() {
  int loss = -1;
  for (size_t i = 0; i < raw.size(); ++i) {
    const Layer &layer = raw[i].layer;
    if (!layer.isLoss())
      continue;
    if (loss >= 0)
      fail(layerPointer(layer) + "/type",
           "second loss layer '" + layer.name +
               "': a model has exactly one softmax_cross_entropy layer, the "
               "first is '" +
               raw[loss].layer.name + "' at /layers/" + std::to_string(loss));
    loss = i;
  }
  if (loss < 0)
    fail("/layers", "the model has no loss layer: add a layer of type "
                    "'softmax_cross_entropy' at the end");
  if (static_cast<size_t>(loss) + 1 != raw.size())
    fail(layerPointer(raw[loss].layer),
         "loss layer '" + raw[loss].layer.name +
             "' must be the last layer, but '" + raw[loss + 1].layer.name +
             "' follows it at /layers/" + std::to_string(loss + 1));

  std::vector<unsigned> uses(raw.size(), 0);
  for (const RawLayer &r : raw)
    for (int producer : r.producers)
      if (producer >= 0) {
        if (producer == loss)
          fail(layerPointer(r.layer) + "/inputs",
               "layer '" + r.layer.name + "' reads the loss layer '" +
                   raw[loss].layer.name + "'; nothing may consume the loss");
        ++uses[producer];
      }
  for (size_t i = 0; i < raw.size(); ++i)
    if (uses[i] == 0 && static_cast<int>(i) != loss)
      fail(layerPointer(raw[i].layer),
           "the output of layer '" + raw[i].layer.name +
               "' is not used by any layer; every path must lead to the loss "
               "layer '" +
               raw[loss].layer.name + "'");
}

std::vector<unsigned> ModelReader::topologicalOrder() {
  std::vector<GraphEdge> edges;
  for (size_t i = 0; i < raw.size(); ++i)
    for (int producer : raw[i].producers)
      if (producer >= 0)
        edges.push_back({static_cast<unsigned>(producer), unsigned(i)});
  // Smallest ready file index first: a file already in topological order
  // keeps its order.
  if (std::optional<std::vector<unsigned>> order =
          layerpipe::topologicalOrder(raw.size(), edges))
    return std::move(*order);

  std::vector<unsigned> cycle = findCycle(raw.size(), edges);
  assert(!cycle.empty() && "no topological order but no cycle");
  // Start the report at the layer written first in the file.
  auto firstEdge = std::min_element(
      cycle.begin(), cycle.end(),
      [&](unsigned a, unsigned b) { return edges[a].first < edges[b].first; });
  std::rotate(cycle.begin(), firstEdge, cycle.end());
  unsigned first = edges[cycle.front()].first;
  std::string names;
  for (unsigned e : cycle)
    names += "'" + raw[edges[e].first].layer.name + "' -> ";
  names += "'" + raw[first].layer.name + "'";
  fail(layerPointer(raw[first].layer) + "/inputs",
       "forward cycle through " + std::to_string(cycle.size()) +
           " layer(s): " + names);
}

Model ModelReader::read(const json &root) {
  Model model;
  readTop(root, model);
  const json &layers = root["layers"];
  raw.reserve(layers.size());
  for (size_t i = 0; i < layers.size(); ++i)
    raw.push_back(readLayer(layers[i], i));
  resolveInputs();
  checkLossAndSinks();
  std::vector<unsigned> order = topologicalOrder();

  std::vector<unsigned> position(raw.size());
  for (size_t p = 0; p < order.size(); ++p)
    position[order[p]] = p;
  model.layers.reserve(raw.size());
  for (unsigned fileIndex : order) {
    RawLayer &r = raw[fileIndex];
    for (int producer : r.producers)
      if (producer >= 0)
        r.layer.inputs.push_back(position[producer]);
    model.layers.push_back(std::move(r.layer));
  }
  model.lossLayer = model.layers.size() - 1;
  assert(model.layers.back().isLoss() && "the loss has no consumers");
  return model;
}

void ModelReader::checkWeightFields(const Model &model) {
  for (const Layer &layer : model.layers) {
    if (layer.hasWeights())
      continue;
    const MeasuredTimes &t = layer.measured;
    if (t.weightGradient || t.update) {
      const char *field = t.weightGradient ? "weight_gradient" : "update";
      fail(layerPointer(layer) + "/times/" + field,
           "layer '" + layer.name + "' has no weights, so it has no " + field +
               " task to time");
    }
    if (layer.gradientDelay)
      fail(layerPointer(layer) + "/gradient_delay",
           "layer '" + layer.name +
               "' has no weights, so it has no weight update to delay");
  }
}

Expected<Model> parseModel(StringRef text, StringRef fileName) {
  Expected<json> root = parseJson(text, fileName);
  if (!root)
    return root.takeError();
  try {
    ModelReader reader(fileName);
    Model model = reader.read(*root);
    if (Error err = inferShapes(model, fileName))
      return err;
    reader.checkWeightFields(model);
    return model;
  } catch (const FieldError &failure) {
    return modelError(fileName, failure.pointer, failure.message);
  } catch (const std::exception &e) {
    // A field reader missed a case; still never let it escape.
    return modelError(fileName, "", Twine("invalid model: ") + e.what());
  }
}

} // namespace layerpipe
