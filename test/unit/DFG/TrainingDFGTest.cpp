//===- TrainingDFGTest.cpp - Unit tests of buildTrainingDFG ---------------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//

#include "TestModels.h"

#include "layerpipe/DFG.h"
#include "layerpipe/IterationBound.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <set>

using namespace layerpipe;
using namespace layerpipe::test;

/// The edge src -> dst, which must exist exactly once.
static const Edge &edgeBetween(const TrainingDFG &dfg, llvm::StringRef src,
                               llvm::StringRef dst) {
  int s = dfg.findTask(src), d = dfg.findTask(dst);
  REQUIRE_MESSAGE(s >= 0, src.str());
  REQUIRE_MESSAGE(d >= 0, dst.str());
  const Edge *found = nullptr;
  int count = 0;
  for (const Edge &e : dfg.edges)
    if (e.src == unsigned(s) && e.dst == unsigned(d)) {
      found = &e;
      ++count;
    }
  REQUIRE_MESSAGE(count == 1, src.str() << " -> " << dst.str());
  return *found;
}

static std::set<std::string> taskNames(const TrainingDFG &dfg) {
  std::set<std::string> names;
  for (const Task &t : dfg.tasks)
    names.insert(t.name);
  return names;
}

TEST_CASE("tiny MLP: tasks per layer, no B where no gradient is needed") {
  Model m = tinyMlp();
  llvm::Expected<TrainingDFG> dfg = buildTrainingDFG(m, MachineDesc());
  REQUIRE(static_cast<bool>(dfg));
  // fc1 reads the model input: no activation gradient.
  CHECK(taskNames(*dfg) ==
        std::set<std::string>{"F.fc1", "G.fc1", "U.fc1", "F.relu1",
                              "B.relu1", "F.fc2", "B.fc2", "G.fc2", "U.fc2",
                              "L.loss"});
  CHECK(dfg->layerTasks[0].activationGradient == -1);
  CHECK(dfg->layerTasks[1].weightGradient == -1);
  CHECK(dfg->layerTasks[1].update == -1);
  CHECK(dfg->layerTasks[3].forward == dfg->findTask("L.loss"));
  CHECK(dfg->numEdges() == 18);
  for (const Task &t : dfg->tasks)
    CHECK(t.layer < m.layers.size());
}

TEST_CASE("tiny MLP: edge kinds, bytes and delays") {
  Model m = tinyMlp();
  TrainingDFG dfg = cantFail(buildTrainingDFG(m, MachineDesc()));
  const int64_t act1 = 4 * 2 * 4; // [4] x batch 2 x 4 bytes
  const Edge &a = edgeBetween(dfg, "F.fc1", "F.relu1");
  CHECK(a.kind == EdgeKind::Activation);
  CHECK(a.bytes == act1);
  CHECK(a.delay == 0);
  CHECK(edgeBetween(dfg, "F.fc2", "L.loss").bytes == 3 * 2 * 4);
  CHECK(edgeBetween(dfg, "L.loss", "B.fc2").kind == EdgeKind::Gradient);
  CHECK(edgeBetween(dfg, "L.loss", "G.fc2").kind == EdgeKind::Gradient);
  CHECK(edgeBetween(dfg, "B.fc2", "B.relu1").bytes == act1);
  CHECK(edgeBetween(dfg, "B.relu1", "G.fc1").kind == EdgeKind::Gradient);
  // What the backward keeps: relu needs its input, dense's B needs nothing.
  CHECK(edgeBetween(dfg, "F.relu1", "B.relu1").bytes == act1);
  CHECK(edgeBetween(dfg, "F.fc2", "B.fc2").bytes == 0);
  CHECK(edgeBetween(dfg, "F.fc2", "G.fc2").bytes == act1);
  CHECK(edgeBetween(dfg, "F.fc1", "G.fc1").bytes == 8 * 2 * 4);
  const int64_t w2 = 15 * 4;
  const Edge &g = edgeBetween(dfg, "G.fc2", "U.fc2");
  CHECK(g.kind == EdgeKind::WeightGradient);
  CHECK(g.bytes == w2);
  CHECK(g.delay == 0);
  for (const char *dst : {"F.fc2", "B.fc2"}) {
    const Edge &w = edgeBetween(dfg, "U.fc2", dst);
    CHECK(w.kind == EdgeKind::Weight);
    CHECK(w.delay == 1);
    CHECK(w.bytes == w2);
  }
  const Edge &u = edgeBetween(dfg, "U.fc2", "U.fc2");
  CHECK(u.kind == EdgeKind::UpdateState);
  CHECK(u.delay == 1);
  CHECK(u.bytes == 2 * w2);
  // Only the weight loops carry delays.
  for (const Edge &e : dfg.edges)
    CHECK(e.delay == ((e.kind == EdgeKind::Weight ||
                       e.kind == EdgeKind::UpdateState)
                          ? 1
                          : 0));
}

TEST_CASE("measured times override the cost model; roofline otherwise") {
  Model m = tinyMlp();
  TrainingDFG dfg = cantFail(buildTrainingDFG(m, MachineDesc()));
  CHECK(dfg.tasks[dfg.findTask("F.fc2")].timeUs == 1.0);
  CHECK(dfg.tasks[dfg.findTask("B.fc2")].timeUs == 2.0);
  CHECK(dfg.tasks[dfg.findTask("G.fc2")].timeUs == 3.0);
  CHECK(dfg.tasks[dfg.findTask("U.fc2")].timeUs == 0.5);
  CHECK(dfg.tasks[dfg.findTask("L.loss")].timeUs == 3.0);

  m.layers[2].measured = MeasuredTimes();
  MachineDesc machine;
  machine.flopsPerSecond = 1e9; // 1000 FLOP = 1 us, well above memory time
  machine.memoryBandwidth = 1e15;
  dfg = cantFail(buildTrainingDFG(m, machine));
  CHECK(dfg.tasks[dfg.findTask("F.fc2")].timeUs == doctest::Approx(1.0));
  CHECK(dfg.tasks[dfg.findTask("B.fc2")].timeUs == doctest::Approx(2.0));
  CHECK(dfg.tasks[dfg.findTask("G.fc2")].timeUs == doctest::Approx(3.0));
  CHECK(dfg.tasks[dfg.findTask("U.fc2")].timeUs == doctest::Approx(0.5));
  CHECK(dfg.totalWorkUs() ==
        doctest::Approx(1 + 3 + 0.5 + 1 + 2 + 1 + 2 + 3 + 0.5 + 3));
  CHECK(dfg.maxTaskTimeUs() == 3.0);
}

TEST_CASE("--merge-backward folds B and G of layers with weights") {
  Model m = tinyMlp();
  DFGOptions merged;
  merged.mergeBackward = true;
  TrainingDFG dfg = cantFail(buildTrainingDFG(m, MachineDesc(), merged));
  CHECK(taskNames(dfg) == std::set<std::string>{"F.fc1", "BG.fc1", "U.fc1",
                                                 "F.relu1", "B.relu1",
                                                 "F.fc2", "BG.fc2", "U.fc2",
                                                 "L.loss"});
  const Task &bg = dfg.tasks[dfg.findTask("BG.fc2")];
  CHECK(bg.kind == TaskKind::Backward);
  CHECK(bg.timeUs == 2.0 + 3.0);
  // fc1 computes no activation gradient: its merged task is G's work only.
  CHECK(dfg.tasks[dfg.findTask("BG.fc1")].timeUs == 3.0);
  CHECK(dfg.layerTasks[2].weightGradient == -1);
  CHECK(edgeBetween(dfg, "L.loss", "BG.fc2").kind == EdgeKind::Gradient);
  CHECK(edgeBetween(dfg, "BG.fc2", "B.relu1").kind == EdgeKind::Gradient);
  CHECK(edgeBetween(dfg, "B.relu1", "BG.fc1").kind == EdgeKind::Gradient);
  CHECK(edgeBetween(dfg, "BG.fc2", "U.fc2").kind == EdgeKind::WeightGradient);
  CHECK(edgeBetween(dfg, "U.fc2", "BG.fc2").delay == 1);
  CHECK(dfg.findTask("U.fc1") >= 0);
  // The same total work as the split graph.
  TrainingDFG split = cantFail(buildTrainingDFG(m, MachineDesc()));
  CHECK(dfg.totalWorkUs() == doctest::Approx(split.totalWorkUs()));
}

TEST_CASE("skip connection: gradients flow to both producers of an add") {
  Model m;
  m.name = "skip";
  m.inputShape.dims = {4};
  m.batchSize = 1;
  unsigned fc1 = addLayer(m, "fc1", LayerKind::Dense, {}, {4}, 20);
  unsigned relu = addLayer(m, "relu", LayerKind::Relu, {fc1}, {4}, 0);
  unsigned fc2 = addLayer(m, "fc2", LayerKind::Dense, {relu}, {4}, 20);
  unsigned add = addLayer(m, "add", LayerKind::Add, {fc2, fc1}, {4}, 0);
  m.lossLayer =
      addLayer(m, "loss", LayerKind::SoftmaxCrossEntropy, {add}, {1}, 0);
  TrainingDFG dfg = cantFail(buildTrainingDFG(m, MachineDesc()));
  CHECK(edgeBetween(dfg, "F.fc1", "F.add").kind == EdgeKind::Activation);
  CHECK(edgeBetween(dfg, "F.fc2", "F.add").kind == EdgeKind::Activation);
  CHECK(edgeBetween(dfg, "B.add", "B.fc2").kind == EdgeKind::Gradient);
  CHECK(edgeBetween(dfg, "B.add", "G.fc2").kind == EdgeKind::Gradient);
  CHECK(edgeBetween(dfg, "B.add", "G.fc1").kind == EdgeKind::Gradient);
  CHECK(edgeBetween(dfg, "B.relu", "G.fc1").kind == EdgeKind::Gradient);
  CHECK(edgeBetween(dfg, "F.add", "B.add").bytes == 0);
  // G.fc1 waits for both gradient paths; the critical loop of fc1 runs
  // through the longer one (fc2's branch).
  IterationBound bound = cantFail(computeIterationBound(dfg));
  std::vector<std::string> loop;
  for (unsigned t : bound.criticalLoop)
    loop.push_back(dfg.tasks[t].name);
  CHECK(loop == std::vector<std::string>{"F.fc1", "F.relu", "F.fc2", "F.add",
                                         "L.loss", "B.add", "B.fc2",
                                         "B.relu", "G.fc1", "U.fc1"});
  CHECK(bound.loopDelays == 1);
}

TEST_CASE("parameter-free layers on the model input get no backward task") {
  Model m;
  m.name = "flat";
  m.inputShape.dims = {1, 2, 2};
  m.batchSize = 1;
  unsigned flat = addLayer(m, "flat", LayerKind::Flatten, {}, {4}, 0);
  unsigned fc = addLayer(m, "fc", LayerKind::Dense, {flat}, {2}, 10);
  m.lossLayer =
      addLayer(m, "loss", LayerKind::SoftmaxCrossEntropy, {fc}, {1}, 0);
  TrainingDFG dfg = cantFail(buildTrainingDFG(m, MachineDesc()));
  CHECK(taskNames(dfg) == std::set<std::string>{"F.flat", "F.fc", "G.fc",
                                                 "U.fc", "L.loss"});
}

TEST_CASE("plain DFG: the first layer's loop holds almost the whole step") {
  Model m = tinyMlp();
  TrainingDFG dfg = cantFail(buildTrainingDFG(m, MachineDesc()));
  IterationBound bound = cantFail(computeIterationBound(dfg));
  // Every task but G.fc2 and U.fc2 lies on fc1's weight loop.
  double expected = dfg.totalWorkUs() - 3.0 - 0.5;
  CHECK(bound.boundUs == doctest::Approx(expected));
  CHECK(bound.loopDelays == 1);
  CHECK(bound.criticalLoop.size() == dfg.numTasks() - 2);
  CHECK(dfg.tasks[bound.criticalLoop.front()].name == "F.fc1");
}

TEST_CASE("verifyDFG names the task or edge and the numbers") {
  TrainingDFG dfg = cantFail(buildTrainingDFG(tinyMlp(), MachineDesc()));
  TrainingDFG bad = dfg;
  bad.edges[0].delay = -2;
  std::string msg = llvm::toString(verifyDFG(bad));
  CHECK(msg.find("delay -2") != std::string::npos);
  CHECK(msg.find("F.fc1") != std::string::npos);
  bad = dfg;
  bad.tasks[1].timeUs = -1;
  msg = llvm::toString(verifyDFG(bad));
  CHECK(msg.find(bad.tasks[1].name) != std::string::npos);
  llvm::Expected<IterationBound> bound = computeIterationBound(bad);
  REQUIRE(!bound);
  CHECK(llvm::toString(bound.takeError()) == msg);
}
