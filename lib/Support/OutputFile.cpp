//===- OutputFile.cpp - Writing the tools' output files -------------------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// raw_fd_ostream reports a failed write only through has_error(), and aborts
// in its destructor if the error was never cleared; writeOutputFile checks
// and clears it so a full disk becomes an ordinary error.
//
//===----------------------------------------------------------------------===//

#include "layerpipe/OutputFile.h"

#include "llvm/Support/FileSystem.h"

using namespace llvm;

namespace layerpipe {

Error writeOutputFile(StringRef path, function_ref<void(raw_ostream &)> write) {
  std::error_code ec;
  raw_fd_ostream os(path, ec, sys::fs::OF_Text);
  if (ec)
    return createStringError(ec, "cannot write '%s': %s", path.str().c_str(),
                             ec.message().c_str());
  write(os);
  os.close();
  if (!os.has_error())
    return Error::success();
  std::error_code failure = os.error();
  os.clear_error();
  return createStringError(failure, "cannot write '%s': %s",
                           path.str().c_str(), failure.message().c_str());
}

} // namespace layerpipe
