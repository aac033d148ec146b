//===- FuzzIdx.cpp - Fuzz target: the trainer's IDX reader -----------------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// The input's first byte picks images or labels (or both, images first,
// checking the count match); the rest is the file, written to a temporary
// file because the reader takes paths (zlib reads gzip and plain files).
//
//===----------------------------------------------------------------------===//

#include "layerpipe/runtime/Data.h"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <unistd.h>

using namespace layerpipe::runtime;

static std::string tempPath() {
  static std::string path = [] {
    const char *dir = std::getenv("TMPDIR");
    return std::string(dir ? dir : "/tmp") + "/layerpipe-fuzz-idx-" +
           std::to_string(getpid());
  }();
  return path;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  std::string path = tempPath();
  FILE *f = std::fopen(path.c_str(), "wb");
  if (!f)
    return 0;
  std::fwrite(data + 1, 1, size - 1, f);
  std::fclose(f);
  Dataset d;
  std::string error;
  switch (data[0] % 3) {
  case 0:
    readIdxImages(path, d, error);
    break;
  case 1:
    readIdxLabels(path, d, error);
    break;
  default:
    if (readIdxImages(path, d, error))
      readIdxLabels(path, d, error);
  }
  std::remove(path.c_str());
  return 0;
}
