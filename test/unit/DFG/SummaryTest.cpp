//===- SummaryTest.cpp - Unit tests of the summary and report -------------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//

#include "TestModels.h"

#include "layerpipe/Compilation.h"
#include "layerpipe/Summary.h"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

using namespace layerpipe;

static Compilation compileTiny(bool merge = false) {
  Compilation C;
  C.model = test::tinyMlp();
  C.options.dfg.mergeBackward = merge;
  C.dfg = llvm::cantFail(buildTrainingDFG(C.model, C.machine, C.options.dfg));
  C.initialBound = llvm::cantFail(computeIterationBound(C.dfg));
  return C;
}

TEST_CASE("formatTaskLoop abbreviates long loops around the count") {
  TrainingDFG dfg;
  for (int i = 0; i < 12; ++i)
    dfg.addTask({"t" + std::to_string(i), TaskKind::Forward, 0, 1});
  CHECK(formatTaskLoop(dfg, {}) == "(none)");
  CHECK(formatTaskLoop(dfg, {3}) == "t3 -> t3");
  std::vector<unsigned> nine = {0, 1, 2, 3, 4, 5, 6, 7, 8};
  CHECK(formatTaskLoop(dfg, nine) ==
        "t0 -> t1 -> t2 -> t3 -> t4 -> t5 -> t6 -> t7 -> t8 -> t0");
  std::vector<unsigned> twelve = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
  CHECK(formatTaskLoop(dfg, twelve) ==
        "t0 -> t1 -> t2 -> t3 -> ... (4 more) ... -> t8 -> t9 -> t10 -> t11 "
        "-> t0");
  CHECK(formatTaskLoop(dfg, twelve, 1) == "t0 -> ... (10 more) ... -> t11 -> t0");
}

TEST_CASE("summary: layer rows with task times, totals and the bound") {
  Compilation C = compileTiny();
  std::string text;
  llvm::raw_string_ostream os(text);
  printModelSummary(C, os);
  os.flush();
  CHECK(text.find("model: tiny\n") == 0);
  CHECK(text.find("input: [8], batch size 2, 4 layers") != std::string::npos);
  // fc1: F 1, no B, G 3, U 0.5; relu: F 1, B 2, no G/U.
  CHECK(text.find("0  fc1    dense                  [4]               36") !=
        std::string::npos);
  CHECK(text.find("1.000           -       3.000       0.500\n") !=
        std::string::npos);
  CHECK(text.find("1.000       2.000           -           -\n") !=
        std::string::npos);
  CHECK(text.find("totals: 51 parameters") != std::string::npos);
  CHECK(text.find("work: 17.000 us per training step") != std::string::npos);
  CHECK(text.find("training DFG: 10 tasks, 18 edges (F 3, L 1, B 2, G 2, "
                  "U 2)") != std::string::npos);
  CHECK(text.find("iteration bound: 13.500 us per iteration (79.4% of the "
                  "work") != std::string::npos);
  CHECK(text.find("critical loop: 8 tasks, 1 delay, 13.500 us: F.fc1 -> "
                  "F.relu1 -> F.fc2 -> L.loss -> B.fc2 -> B.relu1 -> G.fc1 "
                  "-> U.fc1 -> F.fc1\n") != std::string::npos);
}

/// The report as the tool writes it, parsed back.
static nlohmann::json writtenReport(const Compilation &C,
                                    const nlohmann::json &report) {
  std::string text;
  llvm::raw_string_ostream os(text);
  writeReport(C, report, os);
  os.flush();
  return nlohmann::json::parse(text);
}

TEST_CASE("report: layers by index, null for missing tasks, metrics") {
  Compilation C = compileTiny(/*merge=*/true);
  nlohmann::json tree = nlohmann::json::object();
  addModelToReport(C, tree);
  CHECK(!tree.contains("layers"));
  nlohmann::json report = writtenReport(C, tree);
  CHECK(report["model"]["input_shape"] == nlohmann::json::array({8}));
  REQUIRE(report["layers"].size() == 4);
  const nlohmann::json &fc2 = report["layers"][2];
  CHECK(fc2["name"] == "fc2");
  CHECK(fc2["inputs"] == nlohmann::json::array({"relu1"}));
  CHECK(fc2["output_shape"] == nlohmann::json::array({3}));
  CHECK(fc2["params"] == 15);
  CHECK(fc2["flops"]["total"] == 6500.0);
  // Merged: the B column holds BG's time, G is null.
  CHECK(fc2["times_us"]["activation_gradient"] == 5.0);
  CHECK(fc2["times_us"]["weight_gradient"].is_null());
  CHECK(report["layers"][3]["times_us"]["forward"] == 3.0);
  CHECK(report["layers"][3]["times_us"]["update"].is_null());
  CHECK(report["totals"]["params"] == 51);
  CHECK(report["dfg"]["tasks"] == 9);
  CHECK(report["dfg"]["merge_backward"] == true);
  CHECK(report["metrics"]["critical_loop"].front() == "F.fc1");
  CHECK(report["metrics"]["critical_loop_delays"] == 1);
  CHECK(report["metrics"]["iteration_bound"].get<double>() ==
        doctest::Approx(C.initialBound.boundUs));
}

/// The layer entries as an nlohmann tree, the way the report built them
/// before writeReport streamed them: the reference for its bytes.
static nlohmann::json referenceLayers(const Compilation &C) {
  auto time = [](int task, const TrainingDFG &dfg) {
    return task < 0 ? nlohmann::json(nullptr)
                    : nlohmann::json(dfg.tasks[task].timeUs);
  };
  nlohmann::json layers = nlohmann::json::array();
  for (unsigned i = 0; i < C.model.layers.size(); ++i) {
    const Layer &l = C.model.layers[i];
    nlohmann::json inputs = nlohmann::json::array();
    for (unsigned u : l.inputs)
      inputs.push_back(C.model.layers[u].name);
    const LayerTasks &lt = C.dfg.layerTasks[i];
    nlohmann::json j = {
        {"name", l.name},
        {"type", layerKindName(l.kind).str()},
        {"inputs", std::move(inputs)},
        {"output_shape", std::vector<int64_t>(l.outputShape.dims.begin(),
                                              l.outputShape.dims.end())},
        {"params", l.params},
        {"flops",
         {{"forward", l.flops.forward},
          {"activation_gradient", l.flops.activationGradient},
          {"weight_gradient", l.flops.weightGradient},
          {"update", l.flops.update},
          {"total", l.flops.total()}}},
        {"times_us",
         {{"forward", time(lt.forward, C.dfg)},
          {"activation_gradient", time(lt.activationGradient, C.dfg)},
          {"weight_gradient", time(lt.weightGradient, C.dfg)},
          {"update", time(lt.update, C.dfg)},
          {"input_load", l.measured.inputLoad
                             ? nlohmann::json(*l.measured.inputLoad)
                             : nlohmann::json()},
          {"merged_backward",
           l.measured.mergedBackward
               ? nlohmann::json(*l.measured.mergedBackward)
               : nlohmann::json()}}}};
    if (C.plan.planned) {
      const LayerPipelineState &st = C.plan.memory.layers[i];
      j["stage"] = C.plan.stageOfLayer[i];
      j["gradient_delay"] = C.plan.gradientDelay[i];
      j["staleness"] = {{"forward", st.forwardStaleness},
                        {"backward", st.backwardStaleness}};
      j["registers"] = {{"activation", st.activationRegisters},
                        {"saved", st.savedRegisters},
                        {"gradient", st.gradientRegisters},
                        {"weight_versions", st.weightVersions}};
    }
    layers.push_back(std::move(j));
  }
  return layers;
}

TEST_CASE("report: the written bytes are the JSON tree's dump(2)") {
  for (bool planned : {false, true}) {
    CAPTURE(planned);
    Compilation C = compileTiny();
    if (planned) {
      // Fields of a plan by hand (this stage does not plan): each value
      // distinct, one negative and one large.
      PipelinePlan &plan = C.plan;
      plan.planned = true;
      size_t n = C.model.layers.size();
      plan.memory.layers.resize(n);
      for (size_t l = 0; l < n; ++l) {
        plan.stageOfLayer.push_back(unsigned(l / 2));
        plan.gradientDelay.push_back(int64_t(3 * l));
        LayerPipelineState &st = plan.memory.layers[l];
        st.forwardStaleness = int64_t(l) - 1;
        st.backwardStaleness = int64_t(l) << 40;
        st.activationRegisters = 1;
        st.savedRegisters = 2;
        st.gradientRegisters = 3;
        st.weightVersions = 4;
      }
    }
    nlohmann::json tree = nlohmann::json::object();
    addModelToReport(C, tree);
    // Keys before and after "layers" and a nested object.
    tree["alpha"] = {{"x", 1.5}, {"list", {1, 2, {{"deep", nullptr}}}}};
    tree["zeta"] = nlohmann::json::array();
    std::string text;
    llvm::raw_string_ostream os(text);
    writeReport(C, tree, os);
    os.flush();
    nlohmann::json reference = tree;
    reference["layers"] = referenceLayers(C);
    CHECK(text == reference.dump(2) + "\n");
  }
}
