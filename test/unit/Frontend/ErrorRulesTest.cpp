//===- ErrorRulesTest.cpp - Every input rule, without the driver ----------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// The golden error tests in test/lit/errors/ run the layerpipe driver; this
// file replays each of them against parseModel / loadMachine directly, so a
// rule is checked even when the driver is not built, and the lit file stays
// the one place where the expected message is written. It also checks a few
// rules that need no file: overflow-safe sizes on generated text and the
// 10,000-layer parse.
//
//===----------------------------------------------------------------------===//

#include "FrontendTestUtil.h"

#include "layerpipe/CostModel.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <vector>

using namespace layerpipe;
using namespace llvm;

/// Checks that the literal pieces of a FileCheck pattern (the text between
/// {{regex}} blocks) occur in \p message in order.
static void checkPattern(StringRef pattern, StringRef message) {
  size_t at = 0;
  while (!pattern.empty()) {
    size_t open = pattern.find("{{");
    StringRef literal = pattern.take_front(open);
    if (!literal.empty()) {
      size_t found = message.find(literal, at);
      CHECK_MESSAGE(found != StringRef::npos,
                    "'" << literal.str() << "' not found in: " << message.str());
      if (found == StringRef::npos)
        return;
      at = found + literal.size();
    }
    if (open == StringRef::npos)
      return;
    size_t close = pattern.find("}}", open);
    REQUIRE(close != StringRef::npos);
    pattern = pattern.drop_front(close + 2);
  }
}

TEST_CASE("Every golden error test holds without the driver") {
  std::string dir = std::string(LAYERPIPE_SOURCE_DIR) + "/test/lit/errors";
  std::vector<std::string> tests;
  std::error_code ec;
  for (sys::fs::directory_iterator it(dir, ec), end; it != end && !ec;
       it.increment(ec))
    if (StringRef(it->path()).endswith(".test"))
      tests.push_back(it->path());
  std::sort(tests.begin(), tests.end());
  REQUIRE(tests.size() >= 40);

  for (const std::string &test : tests) {
    CAPTURE(test);
    auto buffer = MemoryBuffer::getFile(test);
    REQUIRE(buffer);
    StringRef text = (*buffer)->getBuffer();
    SmallVector<StringRef, 8> lines;
    text.split(lines, '\n');
    std::string input, check;
    bool machine = false;
    for (StringRef line : lines) {
      if (line.startswith("RUN:")) {
        machine = line.contains("--machine");
        // The file under test is the last %S/Inputs/ path of the line.
        size_t pos = line.rfind("%S/");
        REQUIRE(pos != StringRef::npos);
        StringRef rest = line.drop_front(pos + 3);
        input = dir + "/" + rest.take_until([](char c) { return c == ' '; }).str();
      }
      if (line.startswith("CHECK: error: "))
        check = line.drop_front(strlen("CHECK: error: ")).str();
    }
    REQUIRE(!input.empty());
    REQUIRE(!check.empty());
    std::string message;
    if (machine) {
      Expected<MachineDesc> m = loadMachine(input);
      REQUIRE(!m);
      message = toString(m.takeError());
    } else {
      Expected<Model> m = loadModel(input);
      REQUIRE(!m);
      message = toString(m.takeError());
    }
    checkPattern(check, message);
  }
}

TEST_CASE("Messages name the file and the field") {
  std::string message = parseError(R"({"input": {"shape": [4]},
    "batch_size": 2, "layers": [{"name": "fc", "type": "dense", "units": -1},
    {"name": "loss", "type": "softmax_cross_entropy"}]})");
  CHECK(StringRef(message).startswith("bad.json: layer 'fc': 'units'"));
  CHECK(StringRef(message).endswith("(at /layers/0/units)"));
}

TEST_CASE("A 10,000-layer chain parses, in order, with forward references") {
  // l0 first (it reads the model input), then l9999, l9998, ..., l1, each
  // naming its producer, which the file defines later: the topological sort
  // has to reverse the file, with 10^4 name lookups.
  const int n = 10000;
  auto name = [](int i) { return "\"l" + std::to_string(i) + "\""; };
  std::string text = R"({"input": {"shape": [8]}, "batch_size": 4, "layers": [)";
  text += "{\"name\": " + name(0) + ", \"type\": \"dense\", \"units\": 8}";
  for (int i = n - 1; i >= 1; --i)
    text += ",{\"name\": " + name(i) +
            ", \"type\": \"dense\", \"units\": 8, \"inputs\": [" +
            name(i - 1) + "]}";
  text += R"(,{"name": "loss", "type": "softmax_cross_entropy", "inputs": [)" +
          name(n - 1) + "]}]}";
  Model m = parseOk(text);
  REQUIRE(m.layers.size() == n + 1);
  for (int i = 0; i < n; ++i)
    REQUIRE(m.layers[i].name == "l" + std::to_string(i));
  CHECK(m.layers[0].inputs.empty());
  CHECK(m.layers[1].sourceIndex == n - 1);
  CHECK(m.layers[n].isLoss());
  CHECK(m.totalParams() == n * (8 * 8 + 8));
}

TEST_CASE("Deeply nested JSON is an error, not a crash") {
  std::string text(100000, '[');
  std::string message = parseError(text);
  CHECK(StringRef(message).contains("malformed JSON"));
  // Closed or not, nesting beyond the limit stops before any recursive
  // walk (an error message dumping the value overflowed the stack).
  std::string closed = std::string(100000, '[') + std::string(100000, ']');
  CHECK(StringRef(parseError(closed))
            .contains("1:65: malformed JSON: values nested more than 64 "
                      "levels deep"));
  std::string layers = "{\"layers\": " + std::string(100000, '{');
  CHECK(StringRef(parseError(layers)).contains("nested more than 64"));
  // Brackets inside strings do not count.
  std::string inString = "{\"name\": \"" + std::string(1000, '[') + "\"}";
  CHECK(!StringRef(parseError(inString)).contains("nested"));
  std::string limit = std::string(64, '[') + std::string(64, ']');
  CHECK(StringRef(parseError(limit)).contains("must hold a JSON object"));
}

TEST_CASE("Echoed input is escaped; numbers beyond double range are located") {
  std::string name = std::string("{\"name\": \"a\\u0000b\\n\\u001b[31m\"}");
  std::string message = parseError(name);
  CHECK(message.find('\0') == std::string::npos);
  CHECK(message.find('\n') == std::string::npos);
  CHECK(message.find('\x1b') == std::string::npos);
  CHECK(StringRef(message).contains("a\\x00b\\n\\x1b[31m"));
  std::string huge = "{\n  \"batch_size\": 1e400}";
  CHECK(StringRef(parseError(huge))
            .contains(":2:17: malformed JSON: number overflow parsing "
                      "'1e400'"));
}

TEST_CASE("Machine file: defaults, overrides, roofline") {
  MachineDesc defaults;
  std::string path = std::string(LAYERPIPE_SOURCE_DIR) + "/models/machines/cpu.json";
  Expected<MachineDesc> m = loadMachine(path);
  REQUIRE_MESSAGE(m, (m ? "" : toString(m.takeError())));
  CHECK(m->name == "cpu-core");
  CHECK(m->flopsPerSecond == 5.0e10);
  CHECK(m->linkLatencyUs == 2.0);
  CHECK(m->bytesPerElement == 4);
  CHECK(defaults.flopsPerSecond == 1.0e12);
  // Fields left out keep their defaults.
  Expected<MachineDesc> partial = loadMachine(
      std::string(LAYERPIPE_SOURCE_DIR) +
      "/test/lit/frontend/Inputs/partial-machine.json");
  REQUIRE_MESSAGE(partial, (partial ? "" : toString(partial.takeError())));
  CHECK(partial->name == "half");
  CHECK(partial->flopsPerSecond == 2.5e11);
  CHECK(partial->memoryBandwidth == defaults.memoryBandwidth);
  CHECK(partial->linkLatencyUs == defaults.linkLatencyUs);
  CHECK(partial->bytesPerElement == defaults.bytesPerElement);
  // Compute-bound and memory-bound sides of the roofline.
  MachineDesc d;
  d.flopsPerSecond = 1e9;
  d.memoryBandwidth = 1e9;
  CHECK(d.computeTimeUs(2e9, 1e3) == doctest::Approx(2e6));
  CHECK(d.computeTimeUs(1e3, 3e9) == doctest::Approx(3e6));
  d.linkLatencyUs = 5;
  d.linkBandwidth = 1e9;
  CHECK(d.transferTimeUs(0) == 0);
  CHECK(d.transferTimeUs(1e3) == doctest::Approx(6));
}
