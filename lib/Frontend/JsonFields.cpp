//===- JsonFields.cpp - Checked readers of JSON fields --------------------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// The field readers of JsonFields.h: type and range checks with messages that
// name the JSON pointer and the value found, and the JSON parse itself with
// line and column of a syntax error.
//
//===----------------------------------------------------------------------===//

#include "JsonFields.h"

#include "layerpipe/Printable.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/Support/FormatVariadic.h"

#include <cmath>
#include <cstdio>

using namespace llvm;

namespace layerpipe {

void fail(std::string pointer, std::string message) {
  throw FieldError{std::move(pointer), std::move(message)};
}

/// Short rendering of a JSON value for messages.
std::string describe(const json &value) {
  std::string text = value.dump();
  if (text.size() > 40)
    text = text.substr(0, 37) + "...";
  return text;
}

const char *typeName(const json &value) {
  if (value.is_number_integer())
    return "an integer";
  if (value.is_number())
    return "a number";
  if (value.is_string())
    return "a string";
  if (value.is_boolean())
    return "a boolean";
  if (value.is_array())
    return "an array";
  if (value.is_object())
    return "an object";
  return "null";
}

int64_t readInt(const json &value, const Place &at, int64_t lo, int64_t hi) {
  // Unsigned JSON integers beyond int64 fall through as out of range.
  if (value.is_number_integer() &&
      !(value.is_number_unsigned() &&
        value.get<uint64_t>() > static_cast<uint64_t>(hi))) {
    int64_t v = value.get<int64_t>();
    if (v >= lo && v <= hi)
      return v;
  }
  fail(at.pointer(), formatv("{0} must be an integer in [{1}, {2}], got {3}",
                           at.what(), lo, hi, describe(value))
                       .str());
}

std::pair<int64_t, int64_t> readPair(const json &value, const Place &at,
                                     int64_t lo, int64_t hi) {
  if (!value.is_array()) {
    int64_t v = readInt(value, at, lo, hi);
    return {v, v};
  }
  if (value.size() != 2)
    fail(at.pointer(), at.what() + " must be an integer or [height, width], got " +
                         describe(value));
  return {readInt(value[0], at.element(0, at.what() + "[0]"), lo, hi),
          readInt(value[1], at.element(1, at.what() + "[1]"), lo, hi)};
}

bool readBool(const json &value, const Place &at) {
  if (!value.is_boolean())
    fail(at.pointer(),
         at.what() + " must be true or false, got " + describe(value));
  return value.get<bool>();
}

std::string readString(const json &value, const Place &at) {
  if (!value.is_string())
    fail(at.pointer(), at.what() + " must be a string, got " + typeName(value) +
                         " " + describe(value));
  return value.get<std::string>();
}

/// Shortest readable rendering of a bound: "0", "1e+15".
static std::string formatNumber(double v) {
  char text[32];
  snprintf(text, sizeof(text), "%g", v);
  return text;
}

double readNumber(const json &value, const Place &at, double lo, double hi,
                  bool hiOpen) {
  if (value.is_number()) {
    double v = value.get<double>();
    if (std::isfinite(v) && v >= lo && (hiOpen ? v < hi : v <= hi))
      return v;
  }
  fail(at.pointer(), at.what() + " must be a number in [" + formatNumber(lo) +
                       ", " + formatNumber(hi) + (hiOpen ? ")" : "]") +
                       ", got " + describe(value));
}

const json &requireObject(const json &value, const Place &at) {
  if (!value.is_object())
    fail(at.pointer(), at.what() + " must be a JSON object, got " +
                         typeName(value) + " " + describe(value));
  return value;
}

std::string closest(StringRef word, ArrayRef<StringRef> candidates) {
  std::string best;
  unsigned bestDistance = std::max<unsigned>(2, word.size() / 3) + 1;
  for (StringRef candidate : candidates) {
    unsigned d = word.edit_distance(candidate, true, bestDistance);
    if (d < bestDistance) {
      bestDistance = d;
      best = candidate.str();
    }
  }
  return best;
}

std::string joinQuoted(ArrayRef<StringRef> words) {
  std::string text;
  for (StringRef w : words)
    text += (text.empty() ? "'" : ", '") + w.str() + "'";
  return text;
}

void rejectUnknownFields(
    const json &object, const Place &at, ArrayRef<StringRef> allowed,
    const Twine &context,
    const std::function<std::string(StringRef)> &elsewhere) {
  for (auto it = object.begin(); it != object.end(); ++it) {
    StringRef key = it.key();
    if (is_contained(allowed, key))
      continue;
    std::string message = at.prefix() + "unknown field '" + key.str() + "'";
    std::string contextText = context.str();
    if (!contextText.empty())
      message += " " + contextText;
    std::string guess = closest(key, allowed);
    std::string other = elsewhere ? elsewhere(key) : "";
    if (!guess.empty())
      message += "; did you mean '" + guess + "'?";
    else if (!other.empty())
      message += "; '" + key.str() + "' belongs to " + other;
    else
      message += "; valid fields: " + joinQuoted(allowed);
    fail(at.pointer() + "/" + escapePointer(key), message);
  }
}

/// Line and column (1-based) of byte \p offset of \p text.
static std::pair<size_t, size_t> lineColumn(StringRef text, size_t offset) {
  offset = std::min(offset, text.size());
  StringRef before = text.take_front(offset);
  size_t line = before.count('\n') + 1;
  size_t lastNewline = before.rfind('\n');
  size_t column =
      lastNewline == StringRef::npos ? offset + 1 : offset - lastNewline;
  return {line, column};
}

namespace {
/// A SAX pass that follows nested objects and arrays so that a duplicate key
/// (which nlohmann/json would silently resolve to the last value) can be
/// reported with its JSON pointer. A SAX pass costs about as much as the DOM
/// parse; nlohmann's parse callback would cost ten times more.
class DuplicateKeyFinder : public nlohmann::json_sax<json> {
public:
  /// Where the first duplicate key is; empty if none was seen.
  std::string duplicate;

  bool null() override { return element(); }
  bool boolean(bool) override { return element(); }
  bool number_integer(number_integer_t) override { return element(); }
  bool number_unsigned(number_unsigned_t) override { return element(); }
  bool number_float(number_float_t, const string_t &) override {
    return element();
  }
  bool string(string_t &) override { return element(); }
  bool binary(binary_t &) override { return element(); }
  bool start_object(std::size_t) override { return open(false); }
  bool start_array(std::size_t) override { return open(true); }
  bool end_object() override { return close(); }
  bool end_array() override { return close(); }
  bool key(string_t &name) override {
    Frame &top = frames.back();
    top.key = name;
    if (!is_contained(top.keys, name)) {
      top.keys.push_back(name);
      return true;
    }
    duplicate = pointer();
    return false; // stop: the DOM parse is not needed
  }
  /// The first syntax or range error (a number beyond double range is
  /// one) and its byte position, reported with line and column.
  std::string error;
  size_t errorByte = 0;

  bool parse_error(std::size_t position, const std::string &lastToken,
                   const nlohmann::detail::exception &e) override {
    error = e.what();
    errorByte = position;
    // A number beyond double range is reported after it: point at its start.
    if (e.id == 406 && lastToken.size() < position)
      errorByte = position - lastToken.size() + 1;
    return false;
  }

private:
  struct Frame {
    bool isArray;
    long index;
    std::string key;
    SmallVector<std::string, 8> keys;
  };
  std::vector<Frame> frames;

  bool element() {
    if (!frames.empty() && frames.back().isArray)
      ++frames.back().index;
    return true;
  }
  bool open(bool isArray) {
    element();
    frames.push_back({isArray, -1, "", {}});
    return true;
  }
  bool close() {
    frames.pop_back();
    return true;
  }
  std::string pointer() const {
    std::string text;
    for (const Frame &f : frames)
      text +=
          "/" + (f.isArray ? std::to_string(f.index) : escapePointer(f.key));
    return text;
  }
};
} // namespace

std::string escapePointer(StringRef token) {
  std::string text;
  for (char c : token)
    text += c == '~' ? "~0" : c == '/' ? "~1" : std::string(1, c);
  return text;
}

/// Byte offset of the first bracket nested deeper than \p limit, or npos.
/// A flat scan (strings skipped) so that no recursive walk ever sees a value
/// nested deeper than the limit.
static size_t findTooDeep(StringRef text, unsigned limit) {
  unsigned depth = 0;
  bool inString = false;
  for (size_t i = 0, e = text.size(); i < e; ++i) {
    char c = text[i];
    if (inString) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        inString = false;
      continue;
    }
    if (c == '"')
      inString = true;
    else if (c == '[' || c == '{') {
      if (++depth > limit)
        return i;
    } else if ((c == ']' || c == '}') && depth > 0)
      --depth;
  }
  return StringRef::npos;
}

static Error malformedJson(StringRef text, StringRef fileName, size_t offset,
                           const Twine &reason) {
  auto [line, column] = lineColumn(text, offset);
  return createStringError(
      inconvertibleErrorCode(),
      printableText((fileName + ":" + Twine(line) + ":" + Twine(column) +
                     ": malformed JSON: " + reason)
                        .str()));
}

Expected<json> parseJson(StringRef text, StringRef fileName) {
  size_t deep = findTooDeep(text, MaxJsonDepth);
  if (deep != StringRef::npos)
    return malformedJson(text, fileName, deep,
                         "values nested more than " + Twine(MaxJsonDepth) +
                             " levels deep");
  try {
    DuplicateKeyFinder finder;
    json::sax_parse(text.begin(), text.end(), &finder);
    if (!finder.error.empty()) {
      // nlohmann's "[json.exception.parse_error.101] parse error at line 1,
      // column 2: reason": keep the reason, we give line and column.
      StringRef reason(finder.error);
      if (reason.startswith("[json.exception"))
        reason = reason.split("] ").second;
      if (reason.startswith("parse error"))
        reason = reason.split(": ").second;
      // errorByte is one past the offending character.
      return malformedJson(text, fileName,
                           finder.errorByte ? finder.errorByte - 1 : 0, reason);
    }
    if (!finder.duplicate.empty()) {
      StringRef pointer(finder.duplicate);
      return createStringError(
          inconvertibleErrorCode(),
          printableText((fileName + ": duplicate key '" +
                         pointer.substr(pointer.rfind('/') + 1) +
                         "' in one JSON object (at " + finder.duplicate + ")")
                            .str()));
    }
    return json::parse(text.begin(), text.end());
  } catch (const std::exception &e) {
    return createStringError(
        inconvertibleErrorCode(),
        printableText((fileName + ": cannot parse JSON: " + e.what()).str()));
  }
}

} // namespace layerpipe
