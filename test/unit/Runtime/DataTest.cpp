//===- DataTest.cpp - IDX loader, synthetic data, epoch orders ------------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// The IDX reader on small gzip files written here (good, missing,
// truncated, bad magic, label count mismatch), the shape check against a
// model input, and the determinism of epoch orders; plus the real
// Fashion-MNIST test split when the Debian package is installed.
//
//===----------------------------------------------------------------------===//

#include "layerpipe/runtime/Data.h"

#include <doctest/doctest.h>
#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <unistd.h>

using namespace layerpipe::runtime;

namespace {

std::string tempPath(const std::string &name) {
  return "/tmp/layerpipe-datatest-" + std::to_string(getpid()) + "-" + name;
}

void writeGz(const std::string &path, const std::vector<unsigned char> &bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  REQUIRE(f);
  if (!bytes.empty())
    gzwrite(f, bytes.data(), unsigned(bytes.size()));
  gzclose(f);
}

void put32(std::vector<unsigned char> &b, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8)
    b.push_back((unsigned char)(v >> s));
}

/// An IDX image file of \p n images of 2×3 pixels (pixel i of image k is
/// k*6 + i), cut after \p keep bytes if keep ≥ 0.
std::vector<unsigned char> imageFile(uint32_t magic, uint32_t n,
                                     long keep = -1) {
  std::vector<unsigned char> b;
  put32(b, magic);
  put32(b, n);
  put32(b, 2);
  put32(b, 3);
  for (uint32_t i = 0; i < n * 6; ++i)
    b.push_back((unsigned char)i);
  if (keep >= 0)
    b.resize(size_t(keep));
  return b;
}

std::vector<unsigned char> labelFile(uint32_t n) {
  std::vector<unsigned char> b;
  put32(b, 0x801);
  put32(b, n);
  for (uint32_t i = 0; i < n; ++i)
    b.push_back((unsigned char)(i % 3));
  return b;
}

} // namespace

TEST_CASE("IDX images and labels load, scaled to [0, 1]") {
  std::string images = tempPath("img.gz"), labels = tempPath("lbl.gz");
  writeGz(images, imageFile(0x803, 4));
  writeGz(labels, labelFile(4));
  Dataset d;
  std::string error;
  REQUIRE(readIdxImages(images, d, error));
  REQUIRE(readIdxLabels(labels, d, error));
  CHECK(d.count == 4);
  CHECK(d.sampleShape == std::vector<int64_t>{1, 2, 3});
  CHECK(d.samples[7] == doctest::Approx(7.0 / 255.0));
  CHECK(d.labels == std::vector<int32_t>{0, 1, 2, 0});
  CHECK(d.numClasses == 3);
  std::string why;
  CHECK(checkDataFits(d, {1, 2, 3}, 3, why));
  CHECK_FALSE(checkDataFits(d, {1, 28, 28}, 10, why));
  CHECK(why == "data set '' has samples of shape [1, 2, 3] (6 values) but "
               "the model input is [1, 28, 28] (784 values)");
  CHECK_FALSE(checkDataFits(d, {6}, 2, why));
  CHECK(why == "data set '' has 3 classes but the model's loss layer takes "
               "2 logits");
  std::remove(images.c_str());
  std::remove(labels.c_str());
}

TEST_CASE("IDX errors name the file and the numbers") {
  Dataset d;
  std::string error;
  std::string missing = tempPath("missing.gz");
  CHECK_FALSE(readIdxImages(missing, d, error));
  CHECK(error == "cannot open '" + missing + "': No such file or directory");

  std::string bad = tempPath("bad.gz");
  writeGz(bad, imageFile(0x801, 2));
  CHECK_FALSE(readIdxImages(bad, d, error));
  CHECK(error == "'" + bad +
                     "': bad magic number 0x00000801 (expected 0x00000803)");

  writeGz(bad, imageFile(0x803, 3, 16 + 10));
  CHECK_FALSE(readIdxImages(bad, d, error));
  CHECK(error == "'" + bad +
                     "' is truncated: its header promises 18 data bytes, the "
                     "file has 10");

  writeGz(bad, imageFile(0x803, 3, 6));
  CHECK_FALSE(readIdxImages(bad, d, error));
  CHECK(error == "'" + bad +
                     "' is truncated: the IDX header needs 16 bytes, the file "
                     "has 6");

  writeGz(bad, imageFile(0x803, 3));
  REQUIRE(readIdxImages(bad, d, error));
  std::string labels = tempPath("lbl2.gz");
  writeGz(labels, labelFile(5));
  CHECK_FALSE(readIdxLabels(labels, d, error));
  CHECK(error == "'" + labels +
                     "' has 5 labels but the image file has 3 images");
  std::remove(bad.c_str());
  std::remove(labels.c_str());
}

TEST_CASE("IDX headers are checked before anything is allocated") {
  Dataset d;
  std::string error;
  std::string bad = tempPath("hdr.gz");
  auto header = [](uint32_t magic, std::vector<uint32_t> dims) {
    std::vector<unsigned char> b;
    put32(b, magic);
    for (uint32_t v : dims)
      put32(b, v);
    return b;
  };
  // Zero images.
  writeGz(bad, header(0x803, {0, 28, 28}));
  CHECK_FALSE(readIdxImages(bad, d, error));
  CHECK(error == "'" + bad +
                     "' holds no samples (its header gives a count of 0)");
  // Dimensions whose product overflows int64 (was UB and a wrapped size).
  writeGz(bad, header(0x803, {0xffffffffu, 0xffffffffu, 0xffffffffu}));
  CHECK_FALSE(readIdxImages(bad, d, error));
  CHECK(error == "'" + bad +
                     "': dimension 1 is 4294967295; each dimension must be at "
                     "least 1 and a sample at most 16777216 bytes");
  writeGz(bad, header(0x803, {7, 0, 3}));
  CHECK_FALSE(readIdxImages(bad, d, error));
  CHECK(error.find("dimension 1 is 0") != std::string::npos);
  // A header promising 13 GB in a tiny file: refused by the size limit or
  // by the truncation check, without allocating what it promises.
  writeGz(bad, header(0x803, {0xffffffffu, 1, 1}));
  CHECK_FALSE(readIdxImages(bad, d, error));
  CHECK(error == "'" + bad +
                     "' is truncated: its header promises 4294967295 data "
                     "bytes, the file has 0");
  writeGz(bad, header(0x803, {0xffffffffu, 4096, 4096}));
  CHECK_FALSE(readIdxImages(bad, d, error));
  CHECK(error == "'" + bad +
                     "': 4294967295 samples of 16777216 bytes exceed the "
                     "limit of 17179869184 bytes");
  // Zero labels.
  writeGz(bad, header(0x801, {0}));
  Dataset fresh;
  CHECK_FALSE(readIdxLabels(bad, fresh, error));
  CHECK(error.find("holds no samples") != std::string::npos);
  std::remove(bad.c_str());
  // Not a regular file: a directory, a device.
  CHECK_FALSE(readIdxImages("/tmp", d, error));
  CHECK(error == "cannot read '/tmp': not a regular file");
  CHECK_FALSE(readIdxImages("/dev/zero", d, error));
  CHECK(error == "cannot read '/dev/zero': not a regular file");
}

TEST_CASE("a missing Fashion-MNIST directory is reported") {
  Dataset d;
  std::string error;
  CHECK_FALSE(loadFashionMnist("/nonexistent-dir", true, d, error));
  CHECK(error == "cannot open '/nonexistent-dir/train-images-idx3-ubyte.gz': "
                 "No such file or directory");
}

TEST_CASE("Fashion-MNIST test split from the Debian package") {
  std::string dir = defaultFashionMnistDir();
  std::ifstream probe(dir + "/t10k-images-idx3-ubyte.gz");
  if (!probe) {
    MESSAGE("dataset-fashion-mnist not installed; skipped");
    return;
  }
  Dataset d;
  std::string error;
  REQUIRE(loadFashionMnist(dir, false, d, error));
  CHECK(d.count == 10000);
  CHECK(d.sampleShape == std::vector<int64_t>{1, 28, 28});
  CHECK(d.numClasses == 10);
  auto [lo, hi] = std::minmax_element(d.samples.begin(), d.samples.end());
  CHECK(*lo == 0.0f);
  CHECK(*hi == 1.0f);
  CHECK(std::count(d.labels.begin(), d.labels.end(), 3) == 1000);
}

TEST_CASE("epoch orders are deterministic permutations") {
  auto a = epochOrder(100, 7, 0), b = epochOrder(100, 7, 0),
       c = epochOrder(100, 7, 1), e = epochOrder(100, 8, 0);
  CHECK(a == b);
  CHECK(a != c);
  CHECK(a != e);
  std::vector<int64_t> sorted = a;
  std::sort(sorted.begin(), sorted.end());
  for (int64_t i = 0; i < 100; ++i)
    CHECK(sorted[size_t(i)] == i);
}

TEST_CASE("synthetic blobs: deterministic, splits share class centres") {
  Dataset a = makeSyntheticBlobs({3}, 2, 50, 1, 0);
  Dataset b = makeSyntheticBlobs({3}, 2, 50, 1, 0);
  Dataset t = makeSyntheticBlobs({3}, 2, 50, 1, 1);
  CHECK(a.samples == b.samples);
  CHECK(a.samples != t.samples);
  // Class means of the two splits agree to within the noise.
  for (int32_t k = 0; k < 2; ++k)
    for (int e = 0; e < 3; ++e) {
      double ma = 0, mt = 0;
      int na = 0, nt = 0;
      for (int64_t i = 0; i < 50; ++i) {
        if (a.labels[size_t(i)] == k)
          ma += a.samples[size_t(i * 3 + e)], ++na;
        if (t.labels[size_t(i)] == k)
          mt += t.samples[size_t(i * 3 + e)], ++nt;
      }
      CHECK(std::abs(ma / na - mt / nt) < 1.0);
    }
}
