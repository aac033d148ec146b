//===- JsonWriter.cpp - Streaming JSON in nlohmann's layout ---------------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// The layout follows nlohmann::detail::serializer::dump with pretty printing,
// an indent step of 2, ensure_ascii off and the strict UTF-8 handler: a
// separator (",\n" or "\n") and the indent go before each element, the
// closing bracket gets its own line unless the object or array is empty.
// Strings that need escaping and whole subtrees are handed to nlohmann
// itself, so their bytes (and a UTF-8 error) are nlohmann's.
//
//===----------------------------------------------------------------------===//

#include "layerpipe/JsonWriter.h"

#include <nlohmann/json.hpp>

#include <cassert>
#include <cmath>

using namespace llvm;

namespace layerpipe {

void JsonWriter::indent(size_t depth) {
  os.indent(unsigned(2 * depth));
}

void JsonWriter::startElement() {
  Level &level = open.back();
  os << (level.empty ? "\n" : ",\n");
  level.empty = false;
  indent(open.size());
}

void JsonWriter::beforeValue() {
  if (afterKey) {
    afterKey = false;
    return;
  }
  assert((open.empty() || !open.back().isObject) &&
         "a value in an object needs a key");
  if (!open.empty())
    startElement();
}

void JsonWriter::begin(bool isObject) {
  beforeValue();
  os << (isObject ? '{' : '[');
  open.push_back({isObject, true, {}});
}

void JsonWriter::end(bool isObject) {
  assert(!open.empty() && open.back().isObject == isObject && !afterKey &&
         "unbalanced JSON");
  (void)isObject;
  bool empty = open.back().empty;
  open.pop_back();
  if (!empty) {
    os << '\n';
    indent(open.size());
  }
  os << (isObject ? '}' : ']');
}

/// Printable ASCII other than '"' and '\\' is written as it is; nlohmann
/// escapes everything else.
static bool plainText(StringRef text) {
  for (unsigned char c : text)
    if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\')
      return false;
  return true;
}

static void writeString(raw_ostream &os, StringRef text) {
  if (plainText(text))
    os << '"' << text << '"';
  else
    os << nlohmann::json(text.str()).dump();
}

void JsonWriter::key(StringRef name) {
  assert(!open.empty() && open.back().isObject && !afterKey &&
         "a key outside an object");
#ifndef NDEBUG
  assert((open.back().empty || open.back().lastKey < name) &&
         "keys in nlohmann's (std::map) order");
  open.back().lastKey = name.str();
#endif
  startElement();
  writeString(os, name);
  os << ": ";
  afterKey = true;
}

void JsonWriter::value(double number) {
  beforeValue();
  if (!std::isfinite(number)) {
    os << "null";
    return;
  }
  // nlohmann's serializer formats a double into a 64-byte buffer with
  // this routine (shortest round-trip digits, "1.0" for an integer value).
  char buffer[64];
  char *end = nlohmann::detail::to_chars(buffer, buffer + sizeof(buffer),
                                         number);
  os.write(buffer, size_t(end - buffer));
}

void JsonWriter::value(bool flag) {
  beforeValue();
  os << (flag ? "true" : "false");
}

void JsonWriter::value(StringRef text) {
  beforeValue();
  writeString(os, text);
}

void JsonWriter::null() {
  beforeValue();
  os << "null";
}

void JsonWriter::writeInteger(int64_t number) {
  beforeValue();
  os << number;
}

void JsonWriter::writeInteger(uint64_t number) {
  beforeValue();
  os << number;
}

void JsonWriter::value(const nlohmann::json &tree) {
  beforeValue();
  // dump(2) indents from column 0; here every line after the first moves
  // right by the depth. A newline inside a string is escaped, so each '\n'
  // of the text starts a line.
  std::string text = tree.dump(2);
  size_t depth = open.size();
  size_t from = 0;
  for (size_t nl; (nl = text.find('\n', from)) != std::string::npos;
       from = nl + 1) {
    os.write(text.data() + from, nl + 1 - from);
    indent(depth);
  }
  os.write(text.data() + from, text.size() - from);
}

} // namespace layerpipe
