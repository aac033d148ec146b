//===- JsonWriterTest.cpp - Unit tests of the streaming JSON writer -------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//

#include "layerpipe/JsonWriter.h"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <limits>

using namespace layerpipe;

/// Writes \p tree key by key and element by element through the writer's
/// scalar calls (not its subtree call).
static void writeTree(JsonWriter &w, const nlohmann::json &tree) {
  switch (tree.type()) {
  case nlohmann::json::value_t::object:
    w.beginObject();
    for (auto it = tree.begin(); it != tree.end(); ++it) {
      w.key(it.key());
      writeTree(w, it.value());
    }
    w.endObject();
    return;
  case nlohmann::json::value_t::array:
    w.beginArray();
    for (const nlohmann::json &element : tree)
      writeTree(w, element);
    w.endArray();
    return;
  case nlohmann::json::value_t::string:
    w.value(tree.get<std::string>());
    return;
  case nlohmann::json::value_t::boolean:
    w.value(tree.get<bool>());
    return;
  case nlohmann::json::value_t::number_integer:
    w.value(tree.get<int64_t>());
    return;
  case nlohmann::json::value_t::number_unsigned:
    w.value(tree.get<uint64_t>());
    return;
  case nlohmann::json::value_t::number_float:
    w.value(tree.get<double>());
    return;
  default:
    w.null();
    return;
  }
}

static std::string written(const nlohmann::json &tree, bool asSubtree) {
  std::string text;
  llvm::raw_string_ostream os(text);
  JsonWriter w(os);
  if (asSubtree) {
    // Inside an object and an array, so the indentation shifts.
    w.beginObject();
    w.key("k");
    w.beginArray();
    w.value(tree);
    w.endArray();
    w.endObject();
  } else {
    writeTree(w, tree);
  }
  os.flush();
  return text;
}

TEST_CASE("JsonWriter writes what nlohmann's dump(2) writes") {
  const double inf = std::numeric_limits<double>::infinity();
  nlohmann::json cases = nlohmann::json::array(
      {nlohmann::json::object(),
       nlohmann::json::array(),
       nullptr,
       true,
       "plain",
       "quote \" backslash \\ tab \t newline \n control \x01 unicode \xc3\xa9",
       0.0,
       -0.0,
       64.0,
       0.0051199999999999996,
       1e-05,
       1.5e300,
       -2.5e-308,
       std::nan(""),
       inf,
       int64_t(-42),
       std::numeric_limits<int64_t>::min(),
       std::numeric_limits<uint64_t>::max(),
       {{"b", 1}, {"a", {1, 2.5, "x"}}, {"empty", nlohmann::json::object()},
        {"list", nlohmann::json::array()}}});
  // Each case alone, and all of them nested in one array.
  for (const nlohmann::json &tree : cases) {
    CAPTURE(tree.dump());
    CHECK(written(tree, false) == tree.dump(2));
    nlohmann::json wrapped = {{"k", {tree}}};
    CHECK(written(tree, true) == wrapped.dump(2));
  }
  CHECK(written(cases, false) == cases.dump(2));
}

TEST_CASE("JsonWriter: invalid UTF-8 fails as nlohmann's dump does") {
  std::string text;
  llvm::raw_string_ostream os(text);
  JsonWriter w(os);
  CHECK_THROWS_AS(w.value(std::string("\xff")), nlohmann::json::type_error);
}
