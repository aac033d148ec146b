//===- DFGEmit.cpp - Graphviz and JSON views of a training DFG ------------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// --emit-dot draws the graph (tasks coloured by kind, delays on edges that
// carry them, weight feedback dashed); --emit-dfg writes it as JSON for other
// tools. Both formats are documented in docs/report-json.md.
//
//===----------------------------------------------------------------------===//

#include "layerpipe/DFG.h"

#include "llvm/Support/Format.h"

#include <nlohmann/json.hpp>

using namespace llvm;

namespace layerpipe {

static StringRef dotFillColor(TaskKind kind) {
  switch (kind) {
  case TaskKind::Forward:
    return "#9ecae1";
  case TaskKind::Loss:
    return "#fdd0a2";
  case TaskKind::ActivationGradient:
    return "#fc9272";
  case TaskKind::WeightGradient:
    return "#a1d99b";
  case TaskKind::Backward:
    return "#d4b9da";
  case TaskKind::Update:
    return "#d9d9d9";
  }
  llvm_unreachable("unknown task kind");
}

/// Escapes \p text for use inside a double-quoted DOT string.
static std::string dotEscape(StringRef text) {
  std::string out;
  for (char c : text) {
    if (c == '"' || c == '\\')
      out += '\\';
    out += c;
  }
  return out;
}

static std::string dotQuote(StringRef text) {
  return "\"" + dotEscape(text) + "\"";
}

static bool isWeightLoopEdge(EdgeKind kind) {
  return kind == EdgeKind::Weight || kind == EdgeKind::UpdateState;
}

void writeDFGDot(const TrainingDFG &dfg, const Model &model, raw_ostream &os) {
  os << "digraph " << dotQuote(model.name + " training DFG") << " {\n"
     << "  rankdir=TB;\n"
     << "  node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\"];\n"
     << "  edge [fontname=\"Helvetica\", fontsize=10];\n";
  for (unsigned i = 0, n = dfg.numTasks(); i < n; ++i) {
    const Task &t = dfg.tasks[i];
    os << "  t" << i << " [label=\"" << dotEscape(t.name) << "\\n"
       << format("%.3f", t.timeUs) << " us\", fillcolor=\""
       << dotFillColor(t.kind) << "\", tooltip=" << dotQuote(t.name) << "];\n";
  }
  for (const Edge &e : dfg.edges) {
    os << "  t" << e.src << " -> t" << e.dst;
    SmallVector<std::string, 3> attrs;
    if (e.delay > 0)
      attrs.push_back("label=\"" + std::to_string(e.delay) + "D\"");
    if (isWeightLoopEdge(e.kind))
      attrs.push_back("style=dashed");
    if (!attrs.empty()) {
      os << " [";
      for (size_t i = 0; i < attrs.size(); ++i)
        os << (i ? ", " : "") << attrs[i];
      os << "]";
    }
    os << ";\n";
  }
  os << "}\n";
}

void writeDFGJson(const TrainingDFG &dfg, const Model &model,
                  raw_ostream &os) {
  nlohmann::json tasks = nlohmann::json::array();
  for (const Task &t : dfg.tasks)
    tasks.push_back({{"name", t.name},
                     {"kind", taskKindName(t.kind).str()},
                     {"layer", model.layers[t.layer].name},
                     {"layer_index", t.layer},
                     {"time_us", t.timeUs}});
  nlohmann::json edges = nlohmann::json::array();
  for (const Edge &e : dfg.edges)
    edges.push_back({{"src", e.src},
                     {"dst", e.dst},
                     {"delay", e.delay},
                     {"bytes", e.bytes},
                     {"kind", edgeKindName(e.kind).str()}});
  nlohmann::json doc = {{"model", model.name},
                        {"tasks", std::move(tasks)},
                        {"edges", std::move(edges)}};
  os << doc.dump(1) << "\n";
}

} // namespace layerpipe
