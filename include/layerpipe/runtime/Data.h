//===- Data.h - Datasets: Fashion-MNIST IDX files and synthetic blobs -*- C++ -*-//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// A dataset is a block of float32 samples (pixels scaled from bytes to
// [0, 1] by dividing by 255) and int32 labels. The IDX reader takes the
// gzip-compressed files of the Debian package dataset-fashion-mnist (or
// uncompressed ones: zlib reads both). Epoch orders are a pure function of
// (seed, epoch), so runs are reproducible. Loaders report errors as text
// naming the file and the numbers; they never throw.
//
//===----------------------------------------------------------------------===//

#ifndef LAYERPIPE_RUNTIME_DATA_H
#define LAYERPIPE_RUNTIME_DATA_H

#include "layerpipe/runtime/Tensor.h"

#include <cstdint>
#include <string>
#include <vector>

namespace layerpipe {
namespace runtime {

struct Dataset {
  std::string name;
  std::vector<int64_t> sampleShape; ///< {C, H, W} or {F}
  int64_t count = 0;
  int64_t numClasses = 0;
  std::vector<float> samples; ///< count × elements(sampleShape)
  /// Labels of one sample: 1 for a class, T for next-token targets.
  int64_t labelsPerSample = 1;
  std::vector<int32_t> labels; ///< count × labelsPerSample

  int64_t sampleSize() const { return shapeElements(sampleShape); }
  /// Keeps the first \p n samples (no-op if n ≤ 0 or n ≥ count).
  void truncate(int64_t n);
};

/// Where the Debian package puts Fashion-MNIST.
const char *defaultFashionMnistDir();

/// Reads an IDX image file (magic 0x00000803, unsigned bytes, N×H×W) into
/// samples of shape {1, H, W} scaled to [0, 1].
bool readIdxImages(const std::string &path, Dataset &out, std::string &error);
/// Reads an IDX label file (magic 0x00000801) into out.labels; the count
/// must equal out.count when images were read first.
bool readIdxLabels(const std::string &path, Dataset &out, std::string &error);

/// The training (train-*) or test (t10k-*) split of Fashion-MNIST in \p dir:
/// 10 classes, samples {1, 28, 28}.
bool loadFashionMnist(const std::string &dir, bool train, Dataset &out,
                      std::string &error);

/// Where the Debian package `fortunes` puts its databases.
const char *defaultFortunesDir();

/// Characters of the fortunes corpus: id 0 is a line break, ids 1..95 the
/// printable ASCII characters 32..126 (a tab reads as a space), id 96 every
/// other byte.
constexpr int64_t kFortuneVocab = 97;
int32_t fortuneCharId(unsigned char byte);
/// The character of id \p id ('?' for 96).
char fortuneIdChar(int32_t id);

/// Next-character prediction on the fortunes databases in \p dir: every
/// regular file without a '.' in its name (the .dat indexes and .u8 links
/// are skipped), in name order, cut into fortunes at the '%' lines. Fortune
/// i (counted over all files) belongs to the validation split when
/// i % 10 == 9 and to the training split otherwise, so no text is shared.
/// Each split's fortunes, each followed by a line break, are concatenated
/// and cut into non-overlapping windows of \p seqLen + 1 characters: the
/// sample is the first seqLen ids (as floats), the labels the last seqLen
/// (the next character at every position).
bool loadFortunes(const std::string &dir, int64_t seqLen, bool train,
                  Dataset &out, std::string &error);

/// Gaussian blobs: class k's samples are a fixed random centre (entries
/// ±separation/2) plus unit-variance noise ×\p noise. Deterministic in
/// \p seed; the train and test splits of one seed share centres when built
/// with the same seed and different \p split.
Dataset makeSyntheticBlobs(const std::vector<int64_t> &sampleShape,
                           int64_t numClasses, int64_t count, uint64_t seed,
                           uint64_t split, float separation = 2.0f,
                           float noise = 1.0f);

/// Checks that \p data fits a network input of shape \p inputShape with
/// \p numClasses classes.
bool checkDataFits(const Dataset &data, const std::vector<int64_t> &inputShape,
                   int64_t numClasses, std::string &error);

/// A permutation of 0..count-1, a pure function of (seed, epoch).
std::vector<int64_t> epochOrder(int64_t count, uint64_t seed, int64_t epoch);

/// Copies samples order[begin, begin+n) into \p x ({n, shape...}) and their
/// labels (labelsPerSample each, in sample order).
void gatherBatch(const Dataset &data, const std::vector<int64_t> &order,
                 int64_t begin, int64_t n, Tensor &x,
                 std::vector<int32_t> &labels);

} // namespace runtime
} // namespace layerpipe

#endif // LAYERPIPE_RUNTIME_DATA_H
