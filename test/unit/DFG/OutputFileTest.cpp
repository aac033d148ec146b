//===- OutputFileTest.cpp - Unit tests of writeOutputFile -----------------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//

#include "layerpipe/OutputFile.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"

#include <doctest/doctest.h>

using namespace layerpipe;

TEST_CASE("writeOutputFile writes, and names the path when it cannot") {
  llvm::SmallString<128> path;
  REQUIRE(!llvm::sys::fs::createTemporaryFile("layerpipe-out", "txt", path));
  llvm::Error ok = writeOutputFile(path, [](llvm::raw_ostream &os) {
    os << "hello\n";
  });
  REQUIRE(!ok);
  auto buffer = llvm::MemoryBuffer::getFile(path);
  REQUIRE(buffer);
  CHECK((*buffer)->getBuffer() == "hello\n");
  llvm::sys::fs::remove(path);

  llvm::Error missing = writeOutputFile(
      "/nonexistent-dir/x.json", [](llvm::raw_ostream &os) { os << "x"; });
  CHECK(llvm::toString(std::move(missing)) ==
        "cannot write '/nonexistent-dir/x.json': No such file or directory");

  // A full disk shows only when the data is flushed.
  llvm::Error full = writeOutputFile("/dev/full", [](llvm::raw_ostream &os) {
    os << std::string(1 << 16, 'x');
  });
  CHECK(llvm::toString(std::move(full)) ==
        "cannot write '/dev/full': No space left on device");
}
