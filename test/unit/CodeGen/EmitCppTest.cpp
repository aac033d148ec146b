//===- EmitCppTest.cpp - Unit tests of the stage-program emitter ----------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// The emitter with hostile strings: escaping of literals and comments, and a
// whole generated project whose layer names are hostile (the frontend's
// name rules bypassed) that must build, run and train exactly like the
// same network with plain names.
//
//===----------------------------------------------------------------------===//

#include "layerpipe/CodeGen.h"

#include "layerpipe/runtime/Pipeline.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"

#include <doctest/doctest.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <sstream>

using namespace layerpipe;
namespace rt = layerpipe::runtime;

namespace {

const char *const Hostile[] = {
    "\"; system(\"id\"); //",
    "line\nbreak",
    "*/ int x; /*",
    "\?\?/",
    "ends with a backslash\\",
    "caf\xc3\xa9 \xe2\x9c\x93",
    "tab\there\r",
    "$(touch /tmp/pwned) `id`",
    "%s%n{0}",
    "\x01\x7f",
};

/// Reads a C++ literal written by cppStringLiteral back into bytes.
std::string decodeLiteral(const std::string &lit) {
  REQUIRE(lit.size() >= 2);
  REQUIRE(lit.front() == '"');
  REQUIRE(lit.back() == '"');
  std::string out;
  for (size_t i = 1; i + 1 < lit.size(); ++i) {
    if (lit[i] != '\\') {
      out += lit[i];
      continue;
    }
    REQUIRE(i + 3 < lit.size());
    out += char(std::stoi(lit.substr(i + 1, 3), nullptr, 8));
    i += 3;
  }
  return out;
}

std::string readFile(const std::string &path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string runCommand(const std::string &command, int &status) {
  std::string output;
  FILE *pipe = popen((command + " 2>&1").c_str(), "r");
  REQUIRE(pipe);
  std::array<char, 4096> buffer;
  while (fgets(buffer.data(), int(buffer.size()), pipe))
    output += buffer.data();
  status = pclose(pipe);
  return output;
}

/// LeNet-5 compiled for 2 processors, as the tool does.
Compilation compileLeNet(const std::vector<std::string> &names) {
  Compilation C;
  C.model = cantFail(loadModel(LAYERPIPE_SOURCE_DIR "/models/lenet5.json"));
  for (size_t l = 0; l < names.size() && l < C.model.layers.size(); ++l)
    C.model.layers[l].name = names[l];
  C.options.schedule.procs = 2;
  C.options.plan.stagesCount = 2;
  C.options.plan.targetProcs = 2;
  C.options.plan.delays = DelayRule::LayerPipe2;
  C.options.plan.weights = WeightPolicy::Latest;
  C.dfg = cantFail(buildTrainingDFG(C.model, C.machine, C.options.dfg));
  C.initialBound = cantFail(computeIterationBound(C.dfg));
  REQUIRE(!runPlanning(C));
  REQUIRE(!runScheduling(C));
  return C;
}

} // namespace

TEST_CASE("string literals carry any bytes and nothing else") {
  for (const char *text : Hostile) {
    std::string lit = cppStringLiteral(text);
    CHECK(decodeLiteral(lit) == text);
    for (size_t i = 1; i + 1 < lit.size(); ++i) {
      unsigned char c = lit[i];
      CHECK(c >= 0x20);
      CHECK(c < 0x7f);
      CHECK(c != '"');
      CHECK(c != '?');
      if (c == '\\')
        CHECK(std::isdigit((unsigned char)lit[i + 1]));
    }
  }
}

TEST_CASE("comment text stays one inert line") {
  for (const char *text : Hostile) {
    std::string comment = cppCommentText(text);
    CHECK(comment.find('\n') == std::string::npos);
    CHECK(comment.find('\r') == std::string::npos);
    CHECK(comment.find('\\') == std::string::npos);
    CHECK(comment.find('?') == std::string::npos);
    CHECK(comment.find("*/") == std::string::npos);
  }
}

TEST_CASE("a program with hostile layer names builds and trains like any") {
  std::vector<std::string> names;
  for (size_t i = 0; i < 13; ++i)
    names.push_back(std::string(Hostile[i % 10]) + std::to_string(i));
  Compilation C = compileLeNet(names);
  llvm::SmallString<128> dir;
  llvm::sys::path::system_temp_directory(true, dir);
  llvm::sys::path::append(dir, "layerpipe-hostile-%%%%%%");
  llvm::SmallString<128> unique;
  llvm::sys::fs::createUniqueFile(dir, unique);
  llvm::sys::fs::remove(unique);
  dir = unique;
  REQUIRE(!llvm::sys::fs::create_directories(dir));
  std::string project = std::string(dir) + "/hostile-p2";
  CodeGenOptions options;
  options.directory = project;
  options.commandLine = "layerpipe \"; rm -rf / \\\n*/";
  REQUIRE(!emitStageProgram(C, options));

  // A second emission into the same non-empty directory needs --force.
  llvm::Error again = emitStageProgram(C, options);
  CHECK(bool(again));
  CHECK(llvm::toString(std::move(again)).find("--force") !=
        std::string::npos);
  options.force = true;
  REQUIRE(!emitStageProgram(C, options));

  std::string main = readFile(project + "/main.cpp");
  // A name appears raw only inside // comments, which start before any
  // string literal on their line.
  std::istringstream lines(main);
  for (std::string line; std::getline(lines, line);)
    for (const std::string &name : names) {
      size_t at = line.find(name);
      if (at == std::string::npos)
        continue;
      INFO(line);
      size_t comment = line.find("//");
      CHECK(comment < at);
      CHECK(line.find('"') > comment);
    }

  int status = 0;
  std::string log = runCommand(
      "cmake -S " + project + " -B " + project + "/build -DCMAKE_PREFIX_PATH=" +
          LAYERPIPE_BINARY_DIR + " >/dev/null && cmake --build " + project +
          "/build",
      status);
  INFO(log);
  REQUIRE(status == 0);
  std::string out = runCommand(project +
                                   "/build/hostile-p2 --data synthetic "
                                   "--train-limit 64 --test-limit 32 --batch "
                                   "8 --lr 0.05 --momentum 0.9",
                               status);
  INFO(out);
  REQUIRE(status == 0);

  // The same network with its own names, in the reference trainer.
  Compilation plain = compileLeNet({});
  rt::NetSpec net = cantFail(lowerToRuntimeNet(plain.model));
  rt::TrainConfig config;
  config.sgd.lr = 0.05f;
  config.sgd.momentum = 0.9f;
  config.sgd.totalSteps = 8;
  config.policy = rt::WeightPolicy::Latest;
  config.delays = C.plan.gradientDelay;
  rt::PipelineTrainer trainer(net, config);
  std::string error;
  REQUIRE(trainer.check(error));
  rt::Dataset train =
      rt::makeSyntheticBlobs(net.inputShape, net.numClasses, 64, 0, 0);
  rt::Tensor x;
  std::vector<int32_t> labels;
  std::vector<int64_t> order = rt::epochOrder(train.count, 0, 0);
  for (int64_t s = 0; s < 8; ++s) {
    rt::gatherBatch(train, order, s * 8, 8, x, labels);
    trainer.step(x, labels);
  }
  char expected[32];
  std::snprintf(expected, sizeof(expected), "weights %016llx",
                (unsigned long long)rt::weightsChecksum(trainer.params(),
                                                        trainer.state()));
  CHECK(out.find(expected) != std::string::npos);
  llvm::sys::fs::remove_directories(dir);
}
