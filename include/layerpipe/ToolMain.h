//===- ToolMain.h - Conventions every LayerPipe tool shares -----*- C++ -*-===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// The command-line conventions of layerpipe, layerpipe-train and
// layerpipe-gen, in one place so that they cannot drift apart: errors are
// one line "TOOL: error: MESSAGE"; --version prints LayerPipe's version
// (not LLVM's); flag errors from llvm::cl are rewritten into that one line,
// and a boolean flag given a separate value (`--momentum 0.9`) is reported
// as such instead of as a stray positional argument.
//
//===----------------------------------------------------------------------===//

#ifndef LAYERPIPE_TOOLMAIN_H
#define LAYERPIPE_TOOLMAIN_H

#include "llvm/ADT/StringRef.h"
#include "llvm/ADT/Twine.h"
#include "llvm/Support/Error.h"

namespace layerpipe {

/// LayerPipe's version, "0.1.0".
llvm::StringRef layerPipeVersion();

/// Parses the command line of tool \p argv[0] with the conventions above.
/// Returns false after a flag error, which it has reported.
bool parseToolFlags(int argc, const char *const *argv,
                    llvm::StringRef overview);

/// Prints "TOOL: error: MESSAGE" on stderr (after flushing stdout, so that
/// the error comes last).
void printToolError(const llvm::Twine &message);

/// Reports \p err with printToolError; returns the exit status 1.
int reportToolError(llvm::Error err);

/// Rewrites the flag errors llvm::cl prints ("layerpipe: Unknown command
/// line argument '--x'.  Try: 'layerpipe --help'\nlayerpipe: Did you mean
/// '--y'?") into one message without the tool name ("unknown flag '--x'
/// (did you mean '--y'?)"). Exposed for tests.
std::string rewriteFlagError(llvm::StringRef tool, llvm::StringRef text);

} // namespace layerpipe

#endif // LAYERPIPE_TOOLMAIN_H
