//===- OutputFile.h - Writing the tools' output files -----------*- C++ -*-===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// One way for every tool and emitter to write a file: open, write through a
// callback, close, and turn any failure (missing directory, full disk,
// permissions) into an llvm::Error that names the path.
//
//===----------------------------------------------------------------------===//

#ifndef LAYERPIPE_OUTPUTFILE_H
#define LAYERPIPE_OUTPUTFILE_H

#include "llvm/ADT/STLFunctionalExtras.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/raw_ostream.h"

namespace layerpipe {

/// Writes \p path (text mode; "-" is stdout) through \p write.
/// Fails with "cannot write '<path>': <reason>" if the file cannot be opened
/// or a write fails.
llvm::Error writeOutputFile(llvm::StringRef path,
                            llvm::function_ref<void(llvm::raw_ostream &)> write);

} // namespace layerpipe

#endif // LAYERPIPE_OUTPUTFILE_H
