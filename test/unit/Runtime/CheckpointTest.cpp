//===- CheckpointTest.cpp - Checkpoint files and saved trainer state ------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// Checkpoint files: written and read back; a flipped byte, a truncation, a
// missing part and another fingerprint are refused with the file named and
// the older checkpoint found instead. PipelineTrainer::saveState: a trainer
// restored mid-run (batches in flight, stashed versions, momentum) ends
// with the same weights as one that ran straight through.
//
//===----------------------------------------------------------------------===//

#include "TestNets.h"

#include "layerpipe/runtime/Checkpoint.h"
#include "layerpipe/runtime/Data.h"
#include "layerpipe/runtime/Pipeline.h"
#include "layerpipe/runtime/Serialize.h"

#include <cstdio>
#include <cstring>
#include <fstream>
#include <unistd.h>

using namespace lptest;

namespace {

std::string tempDir() {
  char pattern[] = "/tmp/lp-ckpt-XXXXXX";
  REQUIRE(mkdtemp(pattern) != nullptr);
  return pattern;
}

CheckpointFingerprint fingerprint(uint32_t processors) {
  CheckpointFingerprint f;
  f.model = "m (layers 1)";
  f.plan = "plan";
  f.processors = processors;
  f.options = "--lr 0.1";
  return f;
}

/// Writes a checkpoint after \p steps with one part holding \p text.
void writeOne(const std::string &dir, int64_t steps, const std::string &text,
              uint32_t processors = 2) {
  CheckpointManifest m;
  m.steps = steps;
  m.fingerprint = fingerprint(processors);
  CheckpointPart part;
  std::string error;
  REQUIRE(writeCheckpointFile(checkpointPath(dir, steps, "p0"),
                              CheckpointFileKind::Part, text, &part, error));
  m.parts.push_back(part);
  REQUIRE(writeManifest(dir, m, error));
}

} // namespace

TEST_CASE("checkpoint files round-trip and refuse damage") {
  std::string dir = tempDir(), error, payload;
  writeOne(dir, 5, "five");
  writeOne(dir, 10, "ten");
  CheckpointManifest found;
  std::vector<std::string> refused;
  auto note = [&](const std::string &why) { refused.push_back(why); };
  REQUIRE(findCheckpoint(dir, fingerprint(2), found, note));
  CHECK(found.steps == 10);
  CHECK(refused.empty());
  REQUIRE(readCheckpointFile(checkpointPath(dir, 10, "p0"),
                             CheckpointFileKind::Part, payload, error));
  CHECK(payload == "ten");

  SUBCASE("a flipped byte in a part") {
    std::string path = checkpointPath(dir, 10, "p0");
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-1, std::ios::end);
    f.put('X');
    f.close();
    REQUIRE(findCheckpoint(dir, fingerprint(2), found, note));
    CHECK(found.steps == 5);
    REQUIRE(refused.size() == 1);
    CHECK(refused[0].find(path + ": checksum mismatch") != std::string::npos);
  }
  SUBCASE("a truncated manifest") {
    std::string path = checkpointPath(dir, 10, "manifest");
    REQUIRE(truncate(path.c_str(), 12) == 0);
    REQUIRE(findCheckpoint(dir, fingerprint(2), found, note));
    CHECK(found.steps == 5);
    REQUIRE(refused.size() == 1);
    CHECK(refused[0].find(path + ": truncated") != std::string::npos);
  }
  SUBCASE("a missing part") {
    std::remove(checkpointPath(dir, 10, "p0").c_str());
    REQUIRE(findCheckpoint(dir, fingerprint(2), found, note));
    CHECK(found.steps == 5);
    REQUIRE(refused.size() == 1);
    CHECK(refused[0].find("is incomplete") != std::string::npos);
  }
  SUBCASE("another processor count") {
    CHECK_FALSE(findCheckpoint(dir, fingerprint(4), found, note));
    REQUIRE(refused.size() == 2);
    CHECK(refused[0].find("written for 2 processors, this run has 4") !=
          std::string::npos);
  }
  SUBCASE("pruning keeps the newer ones") {
    pruneCheckpoints(dir, 10);
    CHECK_FALSE(readCheckpointFile(checkpointPath(dir, 5, "p0"),
                                   CheckpointFileKind::Part, payload, error));
    REQUIRE(findCheckpoint(dir, fingerprint(2), found, note));
    CHECK(found.steps == 10);
  }
  pruneCheckpoints(dir, 1 << 30);
  rmdir(dir.c_str());
}

TEST_CASE("a value survives serialisation bit for bit") {
  Value v;
  v.tensor.reshape({2, 3}, 0.5f);
  v.tensor.data[4] = -0.0f;
  v.cache.aux.reshape({1}, 3.0f);
  v.cache.channel = {1.0f, 2.0f};
  v.cache.index = {7, -1};
  v.cache.loss = 0.25;
  v.weights = {1e-30f, 3.0f};
  v.momentum = {4.0f};
  v.loss = 1.5;
  v.correct = 3;
  v.samples = 8;
  std::vector<char> bytes;
  ByteWriter out(bytes);
  writeValue(out, v);
  Value w;
  ByteReader in(bytes.data(), bytes.size());
  readValue(in, w);
  CHECK(in.atEnd());
  CHECK(w.tensor.shape == v.tensor.shape);
  CHECK(std::memcmp(w.tensor.ptr(), v.tensor.ptr(), 24) == 0);
  CHECK(w.cache.index == v.cache.index);
  CHECK(w.weights == v.weights);
  CHECK(w.momentum == v.momentum);
  CHECK(w.samples == 8);
  ByteReader shortIn(bytes.data(), bytes.size() - 1);
  CHECK_THROWS(readValue(shortIn, w));
}

TEST_CASE("a restored trainer continues bit for bit") {
  NetSpec net = convNet();
  TrainConfig c;
  c.sgd.lr = 0.05f;
  c.sgd.momentum = 0.9f;
  c.policy = WeightPolicy::Stash;
  c.seed = 3;
  c.delays = {2, 2, 2, 2, 1, 1, 0, 0};
  Dataset data = makeSyntheticBlobs(net.inputShape, net.numClasses, 64, 3, 0);
  std::vector<int64_t> order = epochOrder(data.count, 3, 0);
  auto train = [&](PipelineTrainer &t, int64_t from, int64_t to) {
    Tensor x;
    std::vector<int32_t> labels;
    for (int64_t k = from; k < to; ++k) {
      gatherBatch(data, order, (k % 8) * 8, 8, x, labels);
      t.step(x, labels);
    }
  };
  std::string error;
  PipelineTrainer straight(net, c), first(net, c), resumed(net, c);
  REQUIRE(straight.check(error));
  REQUIRE(first.check(error));
  REQUIRE(resumed.check(error));
  train(straight, 0, 12);
  train(first, 0, 5);
  REQUIRE(resumed.loadState(first.saveState(), error));
  CHECK(resumed.stepsDone() == 5);
  train(resumed, 5, 12);
  CHECK(weightsChecksum(resumed.params(), resumed.state()) ==
        weightsChecksum(straight.params(), straight.state()));
  CHECK_FALSE(resumed.loadState("junk", error));
}
