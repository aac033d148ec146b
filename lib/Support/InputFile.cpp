//===- InputFile.cpp - Reading the tools' input files ---------------------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//

#include "layerpipe/InputFile.h"
#include "layerpipe/Printable.h"

#include "llvm/Support/FileSystem.h"

using namespace llvm;

namespace layerpipe {

static Error cannotRead(StringRef what, StringRef path, const Twine &reason,
                        std::error_code ec = inconvertibleErrorCode()) {
  return createStringError(
      ec, printableText(
              ("cannot read " + what + " '" + path + "': " + reason).str()));
}

Expected<std::unique_ptr<MemoryBuffer>>
readInputFile(StringRef path, StringRef what, uint64_t maxBytes) {
  sys::fs::file_status status;
  if (std::error_code ec = sys::fs::status(path, status))
    return cannotRead(what, path, ec.message(), ec);
  if (status.type() == sys::fs::file_type::directory_file)
    return cannotRead(what, path, "it is a directory");
  if (status.type() != sys::fs::file_type::regular_file)
    return cannotRead(what, path,
                      "not a regular file (a device, FIFO or socket)");
  if (status.getSize() > maxBytes)
    return cannotRead(what, path,
                      "it has " + Twine(status.getSize()) +
                          " bytes; input files are limited to " +
                          Twine(maxBytes) + " bytes");
  ErrorOr<std::unique_ptr<MemoryBuffer>> buffer =
      MemoryBuffer::getFile(path, /*IsText=*/true);
  if (!buffer)
    return cannotRead(what, path, buffer.getError().message(),
                      buffer.getError());
  return std::move(*buffer);
}

} // namespace layerpipe
