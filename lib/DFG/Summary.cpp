//===- Summary.cpp - The model/DFG part of the summary and report ---------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// Formats the layer table, totals, DFG size and iteration bound for people
// (stdout) and for programs (report JSON). The table is built in one fmt
// memory buffer and written once: a 10,000-layer model prints in a few
// milliseconds.
//
//===----------------------------------------------------------------------===//

#include "layerpipe/Summary.h"
#include "layerpipe/Compilation.h"
#include "layerpipe/JsonWriter.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cassert>
#include <cmath>

using namespace llvm;

namespace layerpipe {

/// 61706 -> "61,706".
static std::string groupThousands(int64_t value) {
  std::string digits = std::to_string(value < 0 ? -value : value);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i != 0 && (digits.size() - i) % 3 == 0)
      out += ',';
    out += digits[i];
  }
  return value < 0 ? "-" + out : out;
}

/// 7526400 -> "7.53 M"; plain below a thousand.
static std::string siCount(double value) {
  static const char *const suffixes[] = {"", " k", " M", " G", " T", " P"};
  unsigned i = 0;
  while (std::fabs(value) >= 1000 && i + 1 < std::size(suffixes)) {
    value /= 1000;
    ++i;
  }
  if (i == 0)
    return fmt::format("{:.0f}", value);
  return fmt::format("{:.2f}{}", value, suffixes[i]);
}

std::string formatTaskLoop(const TrainingDFG &dfg, ArrayRef<unsigned> loop,
                           unsigned keep) {
  if (loop.empty())
    return "(none)";
  std::string text;
  auto append = [&](unsigned task) {
    text += dfg.tasks[task].name;
    text += " -> ";
  };
  if (loop.size() <= 2 * keep + 1) {
    for (unsigned t : loop)
      append(t);
  } else {
    for (unsigned t : loop.take_front(keep))
      append(t);
    text += fmt::format("... ({} more) ... -> ", loop.size() - 2 * keep);
    for (unsigned t : loop.take_back(keep))
      append(t);
  }
  return text + dfg.tasks[loop.front()].name;
}

/// Time of task \p index, or std::nullopt for a missing task (-1).
static std::optional<double> taskTime(const TrainingDFG &dfg, int index) {
  if (index < 0)
    return std::nullopt;
  return dfg.tasks[index].timeUs;
}

namespace {
/// The four task-time columns of one layer: F (or the Loss task), B (or the
/// merged BG task), G, U.
struct LayerTimes {
  std::optional<double> forward, activationGradient, weightGradient, update;

  LayerTimes(const TrainingDFG &dfg, unsigned layer) {
    const LayerTasks &lt = dfg.layerTasks[layer];
    forward = taskTime(dfg, lt.forward);
    activationGradient = taskTime(dfg, lt.activationGradient);
    weightGradient = taskTime(dfg, lt.weightGradient);
    update = taskTime(dfg, lt.update);
  }
};
} // namespace

void printModelSummary(const Compilation &C, raw_ostream &os) {
  const Model &model = C.model;
  const TrainingDFG &dfg = C.dfg;
  fmt::memory_buffer out;
  auto it = std::back_inserter(out);
  fmt::format_to(it, "model: {}\n", model.name);
  fmt::format_to(it, "input: {}, batch size {}, {} layers, machine '{}'\n",
                 model.inputShape.str(), model.batchSize, model.layers.size(),
                 C.machine.name);
  if (C.options.dfg.mergeBackward)
    fmt::format_to(it, "backward: merged (--merge-backward): the B column is "
                       "the BG task\n");
  fmt::format_to(it, "\n");

  // Column widths from the data.
  std::vector<std::string> shapes;
  shapes.reserve(model.layers.size());
  size_t nameWidth = 5, typeWidth = 4, shapeWidth = 6;
  for (const Layer &l : model.layers) {
    shapes.push_back(l.outputShape.str());
    nameWidth = std::max(nameWidth, l.name.size());
    typeWidth = std::max(typeWidth, layerKindName(l.kind).size());
    shapeWidth = std::max(shapeWidth, shapes.back().size());
  }
  size_t indexWidth = std::to_string(model.layers.size()).size();
  auto timeCell = [](std::optional<double> t) {
    return t ? fmt::format("{:.3f}", *t) : std::string("-");
  };
  fmt::format_to(it, "{:>{}}  {:<{}}  {:<{}}  {:<{}}  {:>12}  {:>10}  {:>10}  "
                     "{:>10}  {:>10}  {:>10}\n",
                 "#", indexWidth, "layer", nameWidth, "type", typeWidth,
                 "output", shapeWidth, "params", "FLOPs", "F us", "B us",
                 "G us", "U us");
  for (unsigned i = 0, n = model.layers.size(); i < n; ++i) {
    const Layer &l = model.layers[i];
    LayerTimes times(dfg, i);
    fmt::format_to(it, "{:>{}}  {:<{}}  {:<{}}  {:<{}}  {:>12}  {:>10}  "
                       "{:>10}  {:>10}  {:>10}  {:>10}\n",
                   i, indexWidth, l.name, nameWidth,
                   layerKindName(l.kind).str(), typeWidth, shapes[i],
                   shapeWidth, groupThousands(l.params),
                   siCount(l.flops.total()), timeCell(times.forward),
                   timeCell(times.activationGradient),
                   timeCell(times.weightGradient), timeCell(times.update));
  }

  LayerFlops flops = model.totalFlops();
  fmt::format_to(it,
                 "\ntotals: {} parameters, {}FLOP per step (F {}, B {}, G {}, "
                 "U {})\n",
                 groupThousands(model.totalParams()),
                 siCount(flops.total()) + " ", siCount(flops.forward),
                 siCount(flops.activationGradient),
                 siCount(flops.weightGradient), siCount(flops.update));
  fmt::format_to(it, "work: {:.3f} us per training step on one processor\n",
                 dfg.totalWorkUs());

  unsigned kindCount[6] = {0, 0, 0, 0, 0, 0};
  for (const Task &t : dfg.tasks)
    ++kindCount[static_cast<unsigned>(t.kind)];
  fmt::format_to(it, "training DFG: {} tasks, {} edges (", dfg.numTasks(),
                 dfg.numEdges());
  const char *sep = "";
  for (TaskKind kind :
       {TaskKind::Forward, TaskKind::Loss, TaskKind::ActivationGradient,
        TaskKind::WeightGradient, TaskKind::Backward, TaskKind::Update}) {
    unsigned count = kindCount[static_cast<unsigned>(kind)];
    if (count == 0)
      continue;
    fmt::format_to(it, "{}{} {}", sep, taskKindPrefix(kind).str(), count);
    sep = ", ";
  }
  fmt::format_to(it, ")\n");

  const IterationBound &bound = C.initialBound;
  double work = dfg.totalWorkUs();
  fmt::format_to(it, "iteration bound: {:.3f} us per iteration ({:.1f}% of "
                     "the work; plain SGD, one delay per weight loop)\n",
                 bound.boundUs, work > 0 ? 100 * bound.boundUs / work : 0.0);
  fmt::format_to(it, "critical loop: {} tasks, {} delay{}, {:.3f} us: {}\n",
                 bound.criticalLoop.size(), bound.loopDelays,
                 bound.loopDelays == 1 ? "" : "s", bound.loopTimeUs,
                 formatTaskLoop(dfg, bound.criticalLoop));
  os.write(out.data(), out.size());
}

static std::vector<int64_t> dimsOf(const Shape &shape) {
  return {shape.dims.begin(), shape.dims.end()};
}

void addModelToReport(const Compilation &C, nlohmann::json &report) {
  const Model &model = C.model;
  const TrainingDFG &dfg = C.dfg;
  report["model"] = {{"name", model.name},
                     {"batch_size", model.batchSize},
                     {"input_shape", dimsOf(model.inputShape)}};

  report["totals"] = {{"params", model.totalParams()},
                      {"flops", model.totalFlops().total()},
                      {"work", dfg.totalWorkUs()}};
  report["dfg"] = {{"tasks", dfg.numTasks()},
                   {"edges", dfg.numEdges()},
                   {"merge_backward", C.options.dfg.mergeBackward}};

  const IterationBound &bound = C.initialBound;
  nlohmann::json loop = nlohmann::json::array();
  for (unsigned t : bound.criticalLoop)
    loop.push_back(dfg.tasks[t].name);
  nlohmann::json &metrics = report["metrics"];
  metrics["iteration_bound"] = bound.boundUs;
  metrics["critical_loop"] = std::move(loop);
  metrics["critical_loop_delays"] = bound.loopDelays;
  metrics["critical_loop_time_us"] = bound.loopTimeUs;
}

/// One entry of `layers`: the model's fields of layer \p l and, once
/// planned, the plan's (docs/report-json.md), keys in nlohmann's order.
static void writeLayer(const Compilation &C, unsigned l, JsonWriter &w) {
  const Model &model = C.model;
  const Layer &layer = model.layers[l];
  const PipelinePlan &plan = C.plan;
  const LayerPipelineState *state =
      plan.planned ? &plan.memory.layers[l] : nullptr;
  LayerTimes times(C.dfg, l);
  w.beginObject();
  w.key("flops");
  w.beginObject();
  w.field("activation_gradient", layer.flops.activationGradient);
  w.field("forward", layer.flops.forward);
  w.field("total", layer.flops.total());
  w.field("update", layer.flops.update);
  w.field("weight_gradient", layer.flops.weightGradient);
  w.endObject();
  if (state)
    w.field("gradient_delay", plan.gradientDelay[l]);
  w.key("inputs");
  w.beginArray();
  for (unsigned u : layer.inputs)
    w.value(model.layers[u].name);
  w.endArray();
  w.field("name", layer.name);
  w.key("output_shape");
  w.beginArray();
  for (auto d : layer.outputShape.dims)
    w.value(int64_t(d));
  w.endArray();
  w.field("params", layer.params);
  if (state) {
    w.key("registers");
    w.beginObject();
    w.field("activation", state->activationRegisters);
    w.field("gradient", state->gradientRegisters);
    w.field("saved", state->savedRegisters);
    w.field("weight_versions", state->weightVersions);
    w.endObject();
    w.field("stage", plan.stageOfLayer[l]);
    w.key("staleness");
    w.beginObject();
    w.field("backward", state->backwardStaleness);
    w.field("forward", state->forwardStaleness);
    w.endObject();
  }
  w.key("times_us");
  w.beginObject();
  w.field("activation_gradient", times.activationGradient);
  w.field("forward", times.forward);
  w.field("input_load", layer.measured.inputLoad);
  w.field("merged_backward", layer.measured.mergedBackward);
  w.field("update", times.update);
  w.field("weight_gradient", times.weightGradient);
  w.endObject();
  w.field("type", layerKindName(layer.kind));
  w.endObject();
}

void writeReport(const Compilation &C, const nlohmann::json &report,
                 raw_ostream &os) {
  assert(report.is_object() && !report.contains("layers") &&
         "the stages' keys, without the layers");
  JsonWriter w(os);
  w.beginObject();
  bool layersDone = false;
  auto writeLayers = [&] {
    w.key("layers");
    w.beginArray();
    for (unsigned l = 0, n = C.model.layers.size(); l < n; ++l)
      writeLayer(C, l, w);
    w.endArray();
    layersDone = true;
  };
  for (auto it = report.begin(); it != report.end(); ++it) {
    if (!layersDone && it.key() > "layers")
      writeLayers();
    w.key(it.key());
    w.value(it.value());
  }
  if (!layersDone)
    writeLayers();
  w.endObject();
  os << '\n';
}

} // namespace layerpipe
