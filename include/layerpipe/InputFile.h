//===- InputFile.h - Reading the tools' input files -------------*- C++ -*-===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// One way to read a model, machine or hints file: only a regular file (not a
// directory, FIFO or device such as /dev/zero, which would be read without
// end) and only up to a size cap, so that no input can make a tool hang or
// allocate without bound.
//
//===----------------------------------------------------------------------===//

#ifndef LAYERPIPE_INPUTFILE_H
#define LAYERPIPE_INPUTFILE_H

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/MemoryBuffer.h"

#include <cstdint>
#include <memory>

namespace layerpipe {

/// The largest input file the tools read: 64 MiB (a 10,000-layer model is
/// about 2 MB).
constexpr uint64_t MaxInputFileBytes = uint64_t(64) << 20;

/// Reads the regular file \p path of at most \p maxBytes bytes. Fails with
/// "cannot read <what> '<path>': <reason>" (missing, not a regular file, too
/// large).
llvm::Expected<std::unique_ptr<llvm::MemoryBuffer>>
readInputFile(llvm::StringRef path, llvm::StringRef what,
              uint64_t maxBytes = MaxInputFileBytes);

} // namespace layerpipe

#endif // LAYERPIPE_INPUTFILE_H
