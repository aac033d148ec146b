//===- JsonWriter.h - Streaming JSON in nlohmann's layout -------*- C++ -*-===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// Writes JSON straight to a raw_ostream, byte for byte as nlohmann::json's
// dump(2) writes the same tree: two-space indent, "key": value, "{}" and
// "[]" when empty, numbers formatted by nlohmann's own routines. The report
// JSON of 10^5 layers holds 100,000 layer objects; building them as an
// nlohmann tree first (a std::map node per key) and serialising it took a
// second. nlohmann orders an object's keys (std::map): the caller writes
// them in that order (byte-wise ascending); assertion builds check it.
//
//===----------------------------------------------------------------------===//

#ifndef LAYERPIPE_JSONWRITER_H
#define LAYERPIPE_JSONWRITER_H

#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/raw_ostream.h"

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <type_traits>

namespace layerpipe {

class JsonWriter {
public:
  explicit JsonWriter(llvm::raw_ostream &os) : os(os) {}

  /// An object or array as the next value; end it with endObject/endArray.
  void beginObject() { begin(true); }
  void endObject() { end(true); }
  void beginArray() { begin(false); }
  void endArray() { end(false); }

  /// The next key of the open object; its value follows.
  void key(llvm::StringRef name);

  void value(double number);
  void value(bool flag);
  void value(llvm::StringRef text);
  void value(const char *text) { value(llvm::StringRef(text)); }
  void value(const std::string &text) { value(llvm::StringRef(text)); }
  /// Integers as nlohmann stores them (signed or unsigned), in decimal.
  template <typename T>
  std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool>>
  value(T number) {
    if constexpr (std::is_signed_v<T>)
      writeInteger(int64_t(number));
    else
      writeInteger(uint64_t(number));
  }
  /// A number, or null when absent.
  void value(std::optional<double> number) {
    if (number)
      value(*number);
    else
      null();
  }
  void null();
  /// A whole nlohmann value, indented to fit where it goes.
  void value(const nlohmann::json &tree);

  /// key(name) and value(v).
  template <typename T> void field(llvm::StringRef name, const T &v) {
    key(name);
    value(v);
  }

private:
  llvm::raw_ostream &os;
  struct Level {
    bool isObject;
    bool empty = true;
    /// The last key written (assertion builds only check the order).
    std::string lastKey;
  };
  llvm::SmallVector<Level, 8> open;
  /// A key was written and its value is next.
  bool afterKey = false;

  void begin(bool isObject);
  void end(bool isObject);
  /// The separator and indent before a value (in an array) or key.
  void startElement();
  void beforeValue();
  void indent(size_t depth);
  void writeInteger(int64_t number);
  void writeInteger(uint64_t number);
};

} // namespace layerpipe

#endif // LAYERPIPE_JSONWRITER_H
