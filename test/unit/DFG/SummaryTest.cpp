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

TEST_CASE("report: layers by index, null for missing tasks, metrics") {
  Compilation C = compileTiny(/*merge=*/true);
  nlohmann::json report = nlohmann::json::object();
  addModelToReport(C, report);
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
