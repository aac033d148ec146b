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

/// Checks, before any work, that \p path can be written: its directory
/// exists and is writable and the path is not a directory. "-" (stdout)
/// always can. The error names the flag and the path, in the words of
/// writeOutputFile ("cannot write 'out/x.json': No such file or
/// directory"), so a typo costs no compilation time.
llvm::Error checkOutputPath(llvm::StringRef flag, llvm::StringRef path);

} // namespace layerpipe

#endif // LAYERPIPE_OUTPUTFILE_H
