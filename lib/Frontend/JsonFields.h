//===- JsonFields.h - Checked readers of JSON fields ------------*- C++ -*-===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// Private to lib/Frontend: the field readers shared by the model file and the
// machine file. Each reader returns a value of the right JSON type and range
// or throws a FieldError naming the JSON pointer; the two public entry points
// (parseModel, loadMachine) catch it and return an llvm::Error, so no
// exception leaves the frontend. nlohmann/json throws too, so the frontend's
// inside is exception-based anyway, and each field check stays one line.
//
//===----------------------------------------------------------------------===//

#ifndef LAYERPIPE_LIB_FRONTEND_JSONFIELDS_H
#define LAYERPIPE_LIB_FRONTEND_JSONFIELDS_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/ADT/Twine.h"
#include "llvm/Support/Error.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <utility>

namespace layerpipe {

using json = nlohmann::json;

/// A diagnostic on its way to the frontend's entry point.
struct FieldError {
  std::string pointer;
  std::string message;
};

[[noreturn]] void fail(std::string pointer, std::string message);

/// \p token as a JSON pointer component (RFC 6901: '~' -> "~0", '/' -> "~1").
std::string escapePointer(llvm::StringRef token);

/// Short rendering of a JSON value for messages.
std::string describe(const json &value);
/// "an integer", "a string", ...
const char *typeName(const json &value);

/// Where a value sits, for messages: its JSON pointer and how to call it
/// ("layer 'conv1': 'kernel'" or "'batch_size'"). A field's place keeps its
/// parent and key and spells itself out only when a message needs it: a
/// model of 10^5 layers reads some 300,000 fields, and building every
/// pointer and name up front was a fifth of reading it.
class Place {
public:
  Place(std::string pointer, std::string what)
      : ownPointer(std::move(pointer)), ownWhat(std::move(what)) {}

  /// Refers to this place and to \p key: both must outlive the result (a
  /// named local and a literal or a key of the parsed document).
  Place field(llvm::StringRef key) const { return Place(this, key); }
  Place element(size_t index, llvm::StringRef whatElement) const {
    return {pointer() + "/" + std::to_string(index), whatElement.str()};
  }
  std::string pointer() const {
    return parent ? parent->pointer() + "/" + escapePointer(key) : ownPointer;
  }
  std::string what() const {
    return parent ? parent->prefix() + "'" + key.str() + "'" : ownWhat;
  }
  std::string prefix() const {
    std::string text = what();
    return text.empty() ? "" : text + ": ";
  }

private:
  Place(const Place *parent, llvm::StringRef key) : parent(parent), key(key) {}

  const Place *parent = nullptr;
  llvm::StringRef key;
  std::string ownPointer, ownWhat;
};

/// An integer JSON value in [lo, hi].
int64_t readInt(const json &value, const Place &at, int64_t lo, int64_t hi);
/// An integer or a two-element array [h, w] (kernel, stride, padding).
std::pair<int64_t, int64_t> readPair(const json &value, const Place &at,
                                     int64_t lo, int64_t hi);
bool readBool(const json &value, const Place &at);
std::string readString(const json &value, const Place &at);
/// A finite number in [lo, hi], or [lo, hi) if \p hiOpen.
double readNumber(const json &value, const Place &at, double lo, double hi,
                  bool hiOpen);
const json &requireObject(const json &value, const Place &at);

/// The closest of \p candidates to \p word, or "" if none is close.
std::string closest(llvm::StringRef word,
                    llvm::ArrayRef<llvm::StringRef> candidates);
/// "'a', 'b', 'c'".
std::string joinQuoted(llvm::ArrayRef<llvm::StringRef> words);

/// Fails on the first key of \p object not in \p allowed, suggesting the
/// closest valid one; \p context follows "unknown field 'x'" (a Twine: it
/// is spelled out only then); \p elsewhere may explain a key that is valid
/// in another kind of object.
void rejectUnknownFields(
    const json &object, const Place &at, llvm::ArrayRef<llvm::StringRef> allowed,
    const llvm::Twine &context,
    const std::function<std::string(llvm::StringRef)> &elsewhere = nullptr);

/// How deeply JSON values may nest in a model or machine file (the formats
/// need 4 levels); deeper input is rejected before any recursive walk.
constexpr unsigned MaxJsonDepth = 64;

/// Parses \p text; malformed JSON becomes
/// "<file>:<line>:<column>: malformed JSON: <reason>", and a key repeated in
/// one object (which JSON parsers silently resolve) is an error too.
llvm::Expected<json> parseJson(llvm::StringRef text, llvm::StringRef fileName);

} // namespace layerpipe

#endif // LAYERPIPE_LIB_FRONTEND_JSONFIELDS_H
