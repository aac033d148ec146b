//===- OutputFile.cpp - Writing the tools' output files -------------------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// raw_fd_ostream reports a failed write only through has_error(), and aborts
// in its destructor if the error was never cleared; writeOutputFile checks
// and clears it so a full disk becomes an ordinary error. A regular file is
// written to a temporary name and renamed into place only when complete.
//
//===----------------------------------------------------------------------===//

#include "layerpipe/OutputFile.h"
#include "layerpipe/Printable.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"

using namespace llvm;

namespace layerpipe {

static Error cannotWrite(StringRef path, std::error_code ec) {
  return createStringError(
      ec,
      printableText(("cannot write '" + path + "': " + ec.message()).str()));
}

/// Writes through \p write to the open stream \p os and closes it; the
/// first failure, if any.
static std::error_code writeAndClose(raw_fd_ostream &os,
                                     function_ref<void(raw_ostream &)> write) {
  // The block size (4 KiB here) would be one write(2) per 4 KiB: the report
  // of 10^5 layers is 80 MB.
  os.SetBufferSize(1 << 20);
  write(os);
  os.close();
  if (!os.has_error())
    return {};
  std::error_code failure = os.error();
  os.clear_error();
  return failure;
}

Error writeOutputFile(StringRef path, function_ref<void(raw_ostream &)> write) {
  // stdout and existing non-regular files (/dev/null, a FIFO) are written in
  // place: there is nothing to rename onto them.
  sys::fs::file_status status;
  bool inPlace =
      path == "-" || (!sys::fs::status(path, status) &&
                      status.type() != sys::fs::file_type::regular_file &&
                      status.type() != sys::fs::file_type::directory_file);
  if (inPlace) {
    std::error_code ec;
    raw_fd_ostream os(path, ec, sys::fs::OF_Text);
    if (ec)
      return cannotWrite(path, ec);
    if (std::error_code failure = writeAndClose(os, write))
      return cannotWrite(path, failure);
    return Error::success();
  }
  // A regular file: write a temporary next to it and rename it into place,
  // so that a failed write never leaves a partial file under the real name.
  int fd = -1;
  SmallString<128> temp;
  if (std::error_code ec =
          sys::fs::createUniqueFile(path + ".tmp-%%%%%%", fd, temp))
    return cannotWrite(path, ec);
  std::error_code failure;
  {
    raw_fd_ostream os(fd, /*shouldClose=*/true);
    failure = writeAndClose(os, write);
  }
  if (!failure)
    failure = sys::fs::rename(temp, path);
  if (failure) {
    sys::fs::remove(temp);
    return cannotWrite(path, failure);
  }
  return Error::success();
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
