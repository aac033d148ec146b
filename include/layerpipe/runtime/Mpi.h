//===- Mpi.h - Stage programs across MPI ranks ------------------*- C++ -*-===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// The MPI variant of a stage program (library LayerPipe::runtime_mpi, built
// only where MPI is found; the core runtime does not depend on MPI). Each
// rank runs one processor of the schedule; rank 0 also runs the host
// (progress, epoch lines, evaluation, summary) on its main thread. Values
// travel serialised (Serialize.h) with their 64-bit tag in a small header
// and are matched in software by (endpoint, sender, tag), as the threads
// transport matches them: MPI's own tag only says what kind of message it
// is (data, credit, abort, done), so it stays far below MPI_TAG_UB.
// docs/distributed.md describes the protocol.
//
//===----------------------------------------------------------------------===//

#ifndef LAYERPIPE_RUNTIME_MPI_H
#define LAYERPIPE_RUNTIME_MPI_H

#include "layerpipe/runtime/StageProgram.h"

namespace layerpipe {
namespace runtime {

/// runStageProgram on MPI_COMM_WORLD: initialises MPI (requires
/// MPI_THREAD_MULTIPLE), checks that the world has one rank per processor,
/// runs this rank's processor and (rank 0) the host, and finalises MPI.
/// A failure on any rank stops every rank (MPI_Abort). Returns the exit
/// status.
int runStageProgramMpi(int argc, char **argv, NetSpec net, ProgramPlan plan,
                       std::vector<ProcessorFunction> processors);

/// The MPI transport's link figures, measured by probeMpiLinks.
struct MpiLinkFigures {
  int rank = 0, ranks = 0;
  std::vector<int64_t> bytes;   ///< message sizes
  std::vector<double> oneWayUs; ///< median one-way time of each (rank 0)
  double latencyUs = 0;         ///< the empty message's
  double bandwidth = 0;         ///< bytes/s: slope between the two largest
};

/// Sends messages of 0 B to 16 MiB from rank 0 to rank 1 and back through
/// the stage programs' MPI transport (up to \p repeats round trips each,
/// at most 256 MiB per size) and fills \p out (the figures on rank 0 only).
/// Initialises and finalises MPI; every rank must call it. Returns an error
/// message, or "" on success.
std::string probeMpiLinks(int64_t repeats, MpiLinkFigures &out);

} // namespace runtime
} // namespace layerpipe

#endif // LAYERPIPE_RUNTIME_MPI_H
