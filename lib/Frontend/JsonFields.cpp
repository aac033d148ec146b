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
/// A SAX handler that builds the document as json::parse would and stops at
/// the first key repeated in one object (which nlohmann/json would silently
/// resolve to the last value), reporting it with its JSON pointer, or at the
/// first syntax error. One pass: a duplicate-key pass before json::parse
/// cost as much as the parse itself (nlohmann's parse callback, ten times).
class CheckedDocumentBuilder : public nlohmann::json_sax<json> {
public:
  explicit CheckedDocumentBuilder(json &root) : root(root) {}

  /// Where the first duplicate key is; empty if none was seen.
  std::string duplicate;
  /// The first syntax or range error (a number beyond double range is
  /// one) and its byte position, reported with line and column.
  std::string error;
  size_t errorByte = 0;

  bool null() override { return add(nullptr) != nullptr; }
  bool boolean(bool v) override { return add(v) != nullptr; }
  bool number_integer(number_integer_t v) override {
    return add(v) != nullptr;
  }
  bool number_unsigned(number_unsigned_t v) override {
    return add(v) != nullptr;
  }
  bool number_float(number_float_t v, const string_t &) override {
    return add(v) != nullptr;
  }
  bool string(string_t &v) override { return add(std::move(v)) != nullptr; }
  bool binary(binary_t &v) override {
    return add(json::binary(std::move(v))) != nullptr;
  }
  bool start_object(std::size_t) override {
    frames.push_back({add(json::object()), nullptr});
    return true;
  }
  bool start_array(std::size_t) override {
    frames.push_back({add(json::array()), nullptr});
    return true;
  }
  bool end_object() override {
    frames.pop_back();
    return true;
  }
  bool end_array() override {
    frames.pop_back();
    return true;
  }
  bool key(string_t &name) override {
    Frame &top = frames.back();
    auto [it, inserted] =
        top.value->get_ref<json::object_t &>().try_emplace(std::move(name));
    if (!inserted) {
      // The object's path, then the repeated name (try_emplace left it).
      duplicate = pointer(frames.size() - 1) + "/" + escapePointer(name);
      return false; // stop: the document is not needed
    }
    top.key = &it->first;
    member = &it->second;
    return true;
  }
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
  json &root;
  /// The open objects and arrays; key: an object's member being read.
  struct Frame {
    json *value;
    const std::string *key;
  };
  std::vector<Frame> frames;
  /// Where the value after a key goes.
  json *member = nullptr;

  /// Places \p v in the open array or object (or as the root).
  json *add(json &&v) {
    if (frames.empty()) {
      root = std::move(v);
      return &root;
    }
    json &parent = *frames.back().value;
    if (parent.is_array()) {
      parent.get_ref<json::array_t &>().push_back(std::move(v));
      return &parent.get_ref<json::array_t &>().back();
    }
    *member = std::move(v);
    return member;
  }
  /// The JSON pointer of the member or element being read in the first
  /// \p depth open objects and arrays.
  std::string pointer(size_t depth) const {
    std::string text;
    for (const Frame &f : ArrayRef<Frame>(frames).take_front(depth))
      text += "/" + (f.value->is_array()
                         ? std::to_string(f.value->size() - 1)
                         : escapePointer(*f.key));
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
    json root;
    CheckedDocumentBuilder finder(root);
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
    return root;
  } catch (const std::exception &e) {
    return createStringError(
        inconvertibleErrorCode(),
        printableText((fileName + ": cannot parse JSON: " + e.what()).str()));
  }
}

} // namespace layerpipe
