//===- StandaloneMain.cpp - Runs a fuzz target on files, without libFuzzer -===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// The sanitizer build links each fuzz target with this driver instead of
// libFuzzer (which needs clang and builds slowly) so that ctest can replay
// the seed and regression corpora: every file named, and every file in
// every directory named, is run once.
//
//===----------------------------------------------------------------------===//

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void runFile(const std::filesystem::path &path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)),
                          std::istreambuf_iterator<char>());
  LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t *>(bytes.data()),
                         bytes.size());
}

int main(int argc, char **argv) {
  namespace fs = std::filesystem;
  size_t count = 0;
  for (int i = 1; i < argc; ++i) {
    fs::path arg(argv[i]);
    if (fs::is_directory(arg)) {
      std::vector<fs::path> files;
      for (const fs::directory_entry &e : fs::recursive_directory_iterator(arg))
        if (e.is_regular_file())
          files.push_back(e.path());
      std::sort(files.begin(), files.end());
      for (const fs::path &p : files) {
        runFile(p);
        ++count;
      }
    } else {
      runFile(arg);
      ++count;
    }
  }
  std::printf("ran %zu inputs\n", count);
  return 0;
}
