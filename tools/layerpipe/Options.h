//===- Options.h - Command-line options of the layerpipe tool ---*- C++ -*-===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// Each compiler stage keeps its cl::opt flags in its own file of this tool
// (PlanOptions.cpp, ScheduleOptions.cpp) and exposes one function that turns
// them into its options struct, checking them; the driver calls these after
// cl::ParseCommandLineOptions.
//
//===----------------------------------------------------------------------===//

#ifndef LAYERPIPE_TOOLS_OPTIONS_H
#define LAYERPIPE_TOOLS_OPTIONS_H

#include "layerpipe/Compilation.h"

#include "llvm/Support/CommandLine.h"
#include "llvm/Support/Error.h"

namespace layerpipe {

/// Categories that group --help.
llvm::cl::OptionCategory &inputCategory();
llvm::cl::OptionCategory &planCategory();
llvm::cl::OptionCategory &scheduleCategory();
llvm::cl::OptionCategory &outputCategory();
llvm::cl::OptionCategory &debugCategory();

/// Fills C.options.plan from the planning flags; errors name the flag.
llvm::Error readPlanOptions(CompileOptions &options);
/// Fills C.options.schedule from the scheduling flags.
llvm::Error readScheduleOptions(CompileOptions &options);
/// Writes the outputs of the scheduling stage that have flags (-o, --gantt).
llvm::Error writeScheduleOutputs(const Compilation &C);

/// Remembers argv for the stage program's README.
void recordCommandLine(int argc, char **argv);
/// Whether --emit-cpp was given.
bool stageProgramRequested();
/// Writes the stage program of --emit-cpp, if given.
llvm::Error writeStageProgram(const Compilation &C);

} // namespace layerpipe

#endif // LAYERPIPE_TOOLS_OPTIONS_H
