//===- CodeGen.h - Stage programs from a schedule ---------------*- C++ -*-===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// The backend: turns a verified schedule into a standalone C++ project that
// trains the network in a pipeline on the runtime (docs/codegen.md).
//
// buildProgramPlan reads the schedule and the plan, never re-deriving them:
// every task becomes a list of per-layer ops with the iteration each round
// runs (from the retimed DFG's delays), every op of a layer gets the
// processor its task has, and the static schedule is checked against the
// op-level data flow of the runtime (runtime::OpGraph): every value an op
// reads must be made earlier on the same processor, or end before the op
// starts when it comes from another one. That check is what guarantees the
// generated program cannot deadlock; it fails with the two tasks named.
// emitStageProgram writes the project.
//
//===----------------------------------------------------------------------===//

#ifndef LAYERPIPE_CODEGEN_H
#define LAYERPIPE_CODEGEN_H

#include "layerpipe/Compilation.h"
#include "layerpipe/runtime/StageProgram.h"

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <string>

namespace layerpipe {

/// The runtime's description of \p model, checked against the frontend's
/// shapes and parameter counts.
llvm::Expected<runtime::NetSpec> lowerToRuntimeNet(const Model &model);

/// The runtime weight policy a plan means (sync when no layer is delayed).
runtime::WeightPolicy runtimeWeightPolicy(const Compilation &C);

/// A stage program before it is written out.
struct StageProgramDesign {
  /// What the executor reads (tasks with their iteration mapping, op
  /// placement, channel capacities).
  runtime::ProgramPlan plan;
  /// The ops of each task (indexed like plan.tasks), in execution order.
  std::vector<std::vector<std::pair<runtime::OpKind, int>>> taskOps;
  /// Each processor's tasks in the order of its round.
  std::vector<std::vector<unsigned>> rounds;
};

/// The stage program of C's schedule. Fails (naming the tasks) when the
/// schedule cannot run as a stage program.
llvm::Expected<StageProgramDesign> designStageProgram(const Compilation &C);

struct CodeGenOptions {
  std::string directory;
  /// Overwrite an existing non-empty directory.
  bool force = false;
  /// The compiler's command line, for the README and the plan.
  std::string commandLine;
};

/// Writes the project (CMakeLists.txt, main.cpp, README.md) into
/// options.directory.
llvm::Error emitStageProgram(const Compilation &C,
                             const CodeGenOptions &options);

/// \p text as a C++ string literal: printable ASCII kept, everything else
/// (quotes, backslashes, '?', control and non-ASCII bytes) as octal escapes.
std::string cppStringLiteral(llvm::StringRef text);
/// \p text made safe for a // comment: one line, no backslash, no '?'.
std::string cppCommentText(llvm::StringRef text);

} // namespace layerpipe

#endif // LAYERPIPE_CODEGEN_H
