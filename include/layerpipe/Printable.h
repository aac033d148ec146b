//===- Printable.h - Input text made safe to echo in messages ---*- C++ -*-===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// Error messages quote what the user wrote: names, keys, tokens, paths. Raw,
// such text could hold a NUL (which truncates a C string), a newline (which
// forges a second diagnostic line) or a terminal escape sequence. Every
// message built from input passes through printableText before it leaves
// the library.
//
//===----------------------------------------------------------------------===//

#ifndef LAYERPIPE_PRINTABLE_H
#define LAYERPIPE_PRINTABLE_H

#include "llvm/ADT/StringRef.h"

#include <string>

namespace layerpipe {

/// \p text with every control byte (below 0x20, and 0x7f) written as a C
/// escape ("\n", "\t", "\x1b", "\x00"); other bytes are kept.
std::string printableText(llvm::StringRef text);

} // namespace layerpipe

#endif // LAYERPIPE_PRINTABLE_H
