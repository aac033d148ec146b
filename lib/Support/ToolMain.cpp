//===- ToolMain.cpp - Conventions every LayerPipe tool shares -------------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// llvm::cl reports flag errors in its own words, several lines, prefixed by
// the program name and followed by pointers to --help. Our tools report
// every error as one line "TOOL: error: ...", so the flag errors are caught
// into a string and rewritten here.
//
//===----------------------------------------------------------------------===//

#include "layerpipe/ToolMain.h"

#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Regex.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdio>
#include <optional>

#include <unistd.h>

using namespace llvm;

namespace layerpipe {

static std::string &toolName() {
  static std::string name = "layerpipe";
  return name;
}

StringRef layerPipeVersion() { return LAYERPIPE_VERSION; }

void printToolError(const Twine &message) {
  outs().flush();
  errs() << toolName() << ": error: " << message << "\n";
}

int reportToolError(Error err) {
  printToolError(toString(std::move(err)));
  return 1;
}

/// What a value of llvm::cl's parser \p type looks like, for people.
static StringRef describeValueType(StringRef type) {
  if (type == "uint" || type == "ulong" || type == "ulonglong")
    return "a whole number >= 0";
  if (type == "int" || type == "integer" || type == "long" ||
      type == "longlong")
    return "a whole number";
  if (type == "floating point" || type == "number")
    return "a number";
  return "a value";
}

/// One line of llvm::cl's message, tool name and trailing punctuation
/// already removed.
static std::string rewriteLine(StringRef line) {
  SmallVector<StringRef, 4> m;
  if (Regex("^Unknown command line argument '(.*)'$").match(line, &m))
    return formatv("unknown flag '{0}'", m[1]).str();
  if (Regex("^for the (-+[^ ]+) option: '(.*)' value invalid for (.*) "
            "argument$")
          .match(line, &m))
    return formatv("{0} takes {1}, not '{2}'", m[1], describeValueType(m[3]),
                   m[2])
        .str();
  if (Regex("^for the (-+[^ ]+) option: '(.*)' is invalid value for "
            "boolean argument.*$")
          .match(line, &m))
    return formatv("{0} takes true or false, not '{1}'", m[1], m[2]).str();
  if (Regex("^for the (-+[^ ]+) option: requires a value$").match(line, &m))
    return formatv("{0} needs a value ({0}=...)", m[1]).str();
  if (line == "Too many positional arguments specified")
    return "too many arguments";
  if (Regex("^Can specify at most ([0-9]+) positional arguments?$")
          .match(line, &m))
    return formatv("at most {0} allowed", m[1]).str();
  if (Regex("^for the (-+[^ ]+) option: (.*)$").match(line, &m))
    return formatv("{0}: {1}", m[1], m[2]).str();
  std::string text = line.str();
  if (!text.empty() && text[0] >= 'A' && text[0] <= 'Z' &&
      !(text.size() > 1 && text[1] >= 'A' && text[1] <= 'Z'))
    text[0] = char(text[0] - 'A' + 'a');
  return text;
}

std::string rewriteFlagError(StringRef tool, StringRef text) {
  SmallVector<StringRef, 8> lines;
  text.split(lines, '\n', -1, /*KeepEmpty=*/false);
  std::string message, hint;
  std::string prefix = (tool + ":").str();
  for (StringRef line : lines) {
    line = line.trim();
    if (line.consume_front(prefix))
      line = line.trim();
    // Pointers to --help: one is added at the end.
    size_t at = line.find("Try: ");
    if (at != StringRef::npos)
      line = line.take_front(at).rtrim();
    at = line.find("See: ");
    if (at != StringRef::npos)
      line = line.take_front(at).rtrim();
    line = line.rtrim(".!: ");
    if (line.empty())
      continue;
    if (line.consume_front("Did you mean ")) {
      hint = ("did you mean " + line.rtrim("?") + "?").str();
      continue;
    }
    std::string part = rewriteLine(line);
    message += message.empty() ? part : "; " + part;
  }
  if (message.empty())
    message = "bad command line";
  if (!hint.empty())
    message += " (" + hint + ")";
  return message + "; see '" + tool.str() + " --help'";
}

/// `--momentum 0.9` where --momentum is a boolean flag: llvm::cl would take
/// the number for a positional argument and complain about that.
static std::optional<std::string> booleanGivenValue(int argc,
                                                    const char *const *argv) {
  StringMap<cl::Option *> &options = cl::getRegisteredOptions();
  for (int i = 1; i + 1 < argc; ++i) {
    StringRef arg = argv[i];
    if (arg == "--")
      break;
    if (!arg.startswith("-") || arg.contains('='))
      continue;
    auto it = options.find(arg.ltrim('-'));
    if (it == options.end() ||
        it->second->getValueExpectedFlag() != cl::ValueOptional)
      continue;
    StringRef next = argv[i + 1];
    double number;
    bool isNumber = !next.getAsDouble(number);
    if (!isNumber && next != "true" && next != "false")
      continue;
    return formatv("{0} is a boolean flag: it takes no separate value; "
                   "write {0}=true or {0}=false, not '{0} {1}'",
                   arg, next)
        .str();
  }
  return std::nullopt;
}

bool parseToolFlags(int argc, const char *const *argv, StringRef overview) {
  toolName() = sys::path::filename(argv[0]).str();
  cl::SetVersionPrinter([](raw_ostream &os) {
    os << toolName() << " " << layerPipeVersion() << "\n";
  });
  if (std::optional<std::string> mixup = booleanGivenValue(argc, argv)) {
    printToolError(*mixup + "; see '" + toolName() + " --help'");
    return false;
  }
  // Errors in flag values go straight to llvm::errs(), not to the stream
  // given: stderr is caught in a temporary file while parsing.
  std::string errors;
  raw_string_ostream errorsOs(errors);
  errs().flush();
  int savedStderr = dup(STDERR_FILENO);
  std::FILE *caught = std::tmpfile();
  if (caught && savedStderr >= 0)
    dup2(fileno(caught), STDERR_FILENO);
  bool parsed = cl::ParseCommandLineOptions(argc, argv, overview, &errorsOs);
  errs().flush();
  if (caught && savedStderr >= 0) {
    dup2(savedStderr, STDERR_FILENO);
    std::rewind(caught);
    char buffer[4096];
    size_t n;
    while ((n = std::fread(buffer, 1, sizeof buffer, caught)) > 0)
      errorsOs.write(buffer, n);
  }
  if (savedStderr >= 0)
    close(savedStderr);
  if (caught)
    std::fclose(caught);
  if (parsed && errorsOs.str().empty())
    return true;
  printToolError(rewriteFlagError(toolName(), errorsOs.str()));
  return false;
}

} // namespace layerpipe
