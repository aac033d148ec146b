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
#include "llvm/Support/Path.h"

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

Error checkOutputPath(StringRef flag, StringRef path) {
  if (path.empty() || path == "-")
    return Error::success();
  auto fail = [&](std::errc code) {
    std::error_code ec = std::make_error_code(code);
    return createStringError(ec, "%s: cannot write '%s': %s",
                             flag.str().c_str(), path.str().c_str(),
                             ec.message().c_str());
  };
  if (sys::fs::is_directory(path))
    return fail(std::errc::is_a_directory);
  StringRef dir = sys::path::parent_path(path);
  if (dir.empty())
    dir = ".";
  if (!sys::fs::is_directory(dir))
    return fail(std::errc::no_such_file_or_directory);
  if (sys::fs::exists(path) ? sys::fs::access(path, sys::fs::AccessMode::Write)
                            : sys::fs::access(dir, sys::fs::AccessMode::Write))
    return fail(std::errc::permission_denied);
  return Error::success();
}

} // namespace layerpipe
