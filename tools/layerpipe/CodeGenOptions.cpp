//===- CodeGenOptions.cpp - Flags of the stage-program backend ------------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// --emit-cpp DIR and --force: write the schedule as a stage program
// (docs/codegen.md).
//
//===----------------------------------------------------------------------===//

#include "Options.h"

#include "layerpipe/CodeGen.h"

using namespace llvm;

namespace layerpipe {

static cl::opt<std::string>
    emitCppFlag("emit-cpp", cl::value_desc("dir"),
                cl::desc("Write the schedule as a C++ stage program (a CMake "
                         "project) into dir; see docs/codegen.md (default "
                         "none)"),
                cl::cat(outputCategory()));
static cl::opt<bool>
    forceFlag("force", cl::init(false),
              cl::desc("Let --emit-cpp overwrite a non-empty directory"),
              cl::cat(outputCategory()));

static std::string &commandLine() {
  static std::string text;
  return text;
}

void recordCommandLine(int argc, char **argv) {
  std::string &text = commandLine();
  for (int i = 0; i < argc; ++i) {
    if (i)
      text += ' ';
    text += i == 0 ? "layerpipe" : argv[i];
  }
}

bool stageProgramRequested() { return !emitCppFlag.empty(); }

Error writeStageProgram(const Compilation &C) {
  if (emitCppFlag.empty())
    return Error::success();
  CodeGenOptions options;
  options.directory = emitCppFlag;
  options.force = forceFlag;
  options.commandLine = commandLine();
  return emitStageProgram(C, options);
}

} // namespace layerpipe
