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

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
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

/// A JSON number, or null for a missing task.
static nlohmann::json optionalTime(std::optional<double> t) {
  return t ? nlohmann::json(*t) : nlohmann::json(nullptr);
}

void addModelToReport(const Compilation &C, nlohmann::json &report) {
  const Model &model = C.model;
  const TrainingDFG &dfg = C.dfg;
  report["model"] = {{"name", model.name},
                     {"batch_size", model.batchSize},
                     {"input_shape", dimsOf(model.inputShape)}};

  nlohmann::json layers = nlohmann::json::array();
  for (unsigned i = 0, n = model.layers.size(); i < n; ++i) {
    const Layer &l = model.layers[i];
    nlohmann::json inputs = nlohmann::json::array();
    for (unsigned u : l.inputs)
      inputs.push_back(model.layers[u].name);
    LayerTimes times(dfg, i);
    layers.push_back(
        {{"name", l.name},
         {"type", layerKindName(l.kind).str()},
         {"inputs", std::move(inputs)},
         {"output_shape", dimsOf(l.outputShape)},
         {"params", l.params},
         {"flops",
          {{"forward", l.flops.forward},
           {"activation_gradient", l.flops.activationGradient},
           {"weight_gradient", l.flops.weightGradient},
           {"update", l.flops.update},
           {"total", l.flops.total()}}},
         {"times_us",
          {{"forward", optionalTime(times.forward)},
           {"activation_gradient", optionalTime(times.activationGradient)},
           {"weight_gradient", optionalTime(times.weightGradient)},
           {"update", optionalTime(times.update)}}}});
  }
  report["layers"] = std::move(layers);

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

} // namespace layerpipe
