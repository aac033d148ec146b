//===- Data.cpp - IDX loader, synthetic blobs, epoch orders ---------------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// IDX files (big-endian header: magic, then one 32-bit size per dimension,
// then the bytes) read through zlib's gz* interface, which also accepts
// uncompressed files. Every failure names the file and the numbers.
//
//===----------------------------------------------------------------------===//

#include "layerpipe/runtime/Data.h"
#include "layerpipe/runtime/Random.h"

#include <dirent.h>
#include <sys/stat.h>
#include <zlib.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <memory>
#include <string_view>

namespace layerpipe {
namespace runtime {

const char *defaultFashionMnistDir() {
  return "/usr/share/datasets/fashion-mnist";
}

void Dataset::truncate(int64_t n) {
  if (n <= 0 || n >= count)
    return;
  count = n;
  samples.resize(size_t(n * sampleSize()));
  labels.resize(size_t(n * labelsPerSample));
}

namespace {
/// An open gzip (or plain) file that closes itself.
struct GzFile {
  gzFile file = nullptr;
  ~GzFile() {
    if (file)
      gzclose(file);
  }
};
} // namespace

/// Reads exactly \p n bytes; false (with the count read) on a short file.
static bool readExact(gzFile f, void *dst, int64_t n, int64_t &got) {
  got = 0;
  auto *p = static_cast<unsigned char *>(dst);
  while (got < n) {
    unsigned chunk = unsigned(std::min<int64_t>(n - got, 1 << 30));
    int r = gzread(f, p + got, chunk);
    if (r <= 0)
      return false;
    got += r;
  }
  return true;
}

/// Opens an IDX file and reads its header: the magic's type and rank must be
/// 0x08 (unsigned byte) and \p rank.
static bool readIdxHeader(const std::string &path, GzFile &f, int rank,
                          std::vector<int64_t> &dims, std::string &error) {
  // Only a regular file: a FIFO would block and a device never end.
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    error = "cannot open '" + path + "': " + std::strerror(errno);
    return false;
  }
  if (!S_ISREG(st.st_mode)) {
    error = "cannot read '" + path + "': not a regular file";
    return false;
  }
  f.file = gzopen(path.c_str(), "rb");
  if (!f.file) {
    error = "cannot open '" + path + "': " + std::strerror(errno);
    return false;
  }
  unsigned char header[4 * 4];
  int64_t want = 4 * (1 + rank), got = 0;
  if (!readExact(f.file, header, want, got)) {
    error = "'" + path + "' is truncated: the IDX header needs " +
            std::to_string(want) + " bytes, the file has " +
            std::to_string(got);
    return false;
  }
  uint32_t magic = (uint32_t(header[0]) << 24) | (uint32_t(header[1]) << 16) |
                   (uint32_t(header[2]) << 8) | header[3];
  uint32_t expected = 0x0800u | uint32_t(rank);
  if (magic != expected) {
    char buf[96];
    std::snprintf(buf, sizeof(buf),
                  "bad magic number 0x%08x (expected 0x%08x)", magic,
                  expected);
    error = "'" + path + "': " + buf;
    return false;
  }
  dims.clear();
  for (int d = 0; d < rank; ++d) {
    const unsigned char *p = header + 4 * (1 + d);
    dims.push_back(int64_t((uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) |
                           (uint32_t(p[2]) << 8) | p[3]));
  }
  return true;
}

/// Reads the body of \p bytes bytes, naming the file if it is short. The
/// buffer grows with the data actually read, never ahead of it by more than
/// a chunk, so a header that promises more than the file holds cannot cause
/// a huge allocation.
static bool readIdxBody(const std::string &path, GzFile &f,
                        std::vector<unsigned char> &body, int64_t bytes,
                        std::string &error) {
  constexpr int64_t chunk = int64_t(1) << 24;
  body.clear();
  int64_t got = 0;
  while (got < bytes) {
    int64_t want = std::min(bytes - got, chunk), part = 0;
    body.resize(size_t(got + want));
    bool complete = readExact(f.file, body.data() + got, want, part);
    got += part;
    if (!complete) {
      error = "'" + path + "' is truncated: its header promises " +
              std::to_string(bytes) + " data bytes, the file has " +
              std::to_string(got);
      return false;
    }
  }
  return true;
}

/// The IDX limits: at most 2^31 samples, each at most 2^24 bytes, at most
/// 2^34 bytes in all (16 GiB, far beyond any real data set).
static bool checkIdxDims(const std::string &path,
                         const std::vector<int64_t> &dims,
                         std::string &error) {
  if (dims[0] == 0) {
    error = "'" + path + "' holds no samples (its header gives a count of 0)";
    return false;
  }
  int64_t sample = 1;
  for (size_t d = 1; d < dims.size(); ++d) {
    if (dims[d] == 0 || dims[d] > (int64_t(1) << 24) / sample) {
      error = "'" + path + "': dimension " + std::to_string(d) + " is " +
              std::to_string(dims[d]) +
              "; each dimension must be at least 1 and a sample at most " +
              std::to_string(int64_t(1) << 24) + " bytes";
      return false;
    }
    sample *= dims[d];
  }
  if (dims[0] > (int64_t(1) << 34) / sample) {
    error = "'" + path + "': " + std::to_string(dims[0]) + " samples of " +
            std::to_string(sample) + " bytes exceed the limit of " +
            std::to_string(int64_t(1) << 34) + " bytes";
    return false;
  }
  return true;
}

bool readIdxImages(const std::string &path, Dataset &out, std::string &error) {
  GzFile f;
  std::vector<int64_t> dims;
  if (!readIdxHeader(path, f, 3, dims, error) ||
      !checkIdxDims(path, dims, error))
    return false;
  std::vector<unsigned char> body;
  if (!readIdxBody(path, f, body, dims[0] * dims[1] * dims[2], error))
    return false;
  out.count = dims[0];
  out.sampleShape = {1, dims[1], dims[2]};
  out.samples.resize(body.size());
  for (size_t i = 0; i < body.size(); ++i)
    out.samples[i] = float(body[i]) / 255.0f;
  return true;
}

bool readIdxLabels(const std::string &path, Dataset &out, std::string &error) {
  GzFile f;
  std::vector<int64_t> dims;
  if (!readIdxHeader(path, f, 1, dims, error) ||
      !checkIdxDims(path, dims, error))
    return false;
  if (!out.samples.empty() && dims[0] != out.count) {
    error = "'" + path + "' has " + std::to_string(dims[0]) +
            " labels but the image file has " + std::to_string(out.count) +
            " images";
    return false;
  }
  std::vector<unsigned char> body;
  if (!readIdxBody(path, f, body, dims[0], error))
    return false;
  out.labels.assign(body.begin(), body.end());
  int32_t maxLabel = 0;
  for (int32_t l : out.labels)
    maxLabel = std::max(maxLabel, l);
  out.numClasses = int64_t(maxLabel) + 1;
  if (out.samples.empty())
    out.count = dims[0];
  return true;
}

bool loadFashionMnist(const std::string &dir, bool train, Dataset &out,
                      std::string &error) {
  std::string prefix = dir + "/" + (train ? "train" : "t10k");
  out = Dataset();
  out.name = std::string("fashion-mnist/") + (train ? "train" : "test");
  if (!readIdxImages(prefix + "-images-idx3-ubyte.gz", out, error) ||
      !readIdxLabels(prefix + "-labels-idx1-ubyte.gz", out, error))
    return false;
  out.numClasses = 10;
  for (size_t i = 0; i < out.labels.size(); ++i)
    if (out.labels[i] >= 10) {
      error = "'" + prefix + "-labels-idx1-ubyte.gz': label " +
              std::to_string(out.labels[i]) + " of sample " +
              std::to_string(i) + " is not one of the 10 classes";
      return false;
    }
  return true;
}


const char *defaultFortunesDir() { return "/usr/share/games/fortunes"; }

int32_t fortuneCharId(unsigned char byte) {
  if (byte == '\n')
    return 0;
  if (byte == '\t')
    byte = ' ';
  if (byte >= 32 && byte <= 126)
    return int32_t(byte) - 31;
  return 96;
}

char fortuneIdChar(int32_t id) {
  if (id == 0)
    return '\n';
  if (id >= 1 && id <= 95)
    return char(id + 31);
  return '?';
}

bool loadFortunes(const std::string &dir, int64_t seqLen, bool train,
                  Dataset &out, std::string &error) {
  out = Dataset();
  out.name = std::string("fortunes/") + (train ? "train" : "validation");
  if (seqLen < 1) {
    error = "fortunes: the sequence length must be positive, got " +
            std::to_string(seqLen);
    return false;
  }
  DIR *d = ::opendir(dir.c_str());
  if (!d) {
    error = "cannot open the fortunes directory '" + dir +
            "': " + std::strerror(errno) +
            " (install the Debian package 'fortunes')";
    return false;
  }
  std::vector<std::string> names;
  while (struct dirent *e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name.find('.') != std::string::npos)
      continue;
    struct stat st;
    std::string path = dir + "/" + name;
    if (::lstat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode))
      names.push_back(name);
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  std::vector<int32_t> ids;
  int64_t fortune = 0;
  for (const std::string &name : names) {
    std::string path = dir + "/" + name;
    FILE *f = std::fopen(path.c_str(), "rb");
    if (!f) {
      error = "cannot open '" + path + "': " + std::strerror(errno);
      return false;
    }
    std::string text, line;
    char buf[1 << 16];
    size_t got;
    while ((got = std::fread(buf, 1, sizeof(buf), f)) > 0)
      text.append(buf, got);
    std::fclose(f);
    // Fortunes are separated by lines holding only '%'.
    std::string current;
    auto finish = [&]() {
      bool empty = current.find_first_not_of(" \t\n") == std::string::npos;
      if (!empty) {
        if ((fortune % 10 == 9) != train) {
          for (unsigned char c : current)
            ids.push_back(fortuneCharId(c));
        }
        ++fortune;
      }
      current.clear();
    };
    size_t pos = 0;
    while (pos < text.size()) {
      size_t end = text.find('\n', pos);
      if (end == std::string::npos)
        end = text.size();
      std::string_view l(text.data() + pos, end - pos);
      if (l == "%")
        finish();
      else
        current.append(text, pos, end - pos).push_back('\n');
      pos = end + 1;
    }
    finish();
  }
  if (names.empty() || ids.size() < size_t(seqLen + 1)) {
    error = "the fortunes directory '" + dir + "' holds " +
            std::to_string(names.size()) + " databases and " +
            std::to_string(ids.size()) + " characters for the " +
            (train ? "training" : "validation") +
            " split: too few for one sample of " + std::to_string(seqLen) +
            " + 1 characters";
    return false;
  }
  int64_t window = seqLen + 1;
  out.count = int64_t(ids.size()) / window;
  out.sampleShape = {seqLen};
  out.numClasses = kFortuneVocab;
  out.labelsPerSample = seqLen;
  out.samples.resize(size_t(out.count * seqLen));
  out.labels.resize(size_t(out.count * seqLen));
  for (int64_t s = 0; s < out.count; ++s)
    for (int64_t t = 0; t < seqLen; ++t) {
      out.samples[size_t(s * seqLen + t)] = float(ids[size_t(s * window + t)]);
      out.labels[size_t(s * seqLen + t)] = ids[size_t(s * window + t + 1)];
    }
  return true;
}

Dataset makeSyntheticBlobs(const std::vector<int64_t> &sampleShape,
                           int64_t numClasses, int64_t count, uint64_t seed,
                           uint64_t split, float separation, float noise) {
  assert(numClasses > 0 && count >= 0);
  Dataset d;
  d.name = "synthetic";
  d.sampleShape = sampleShape;
  d.count = count;
  d.numClasses = numClasses;
  int64_t size = d.sampleSize();
  SplitMix64 centreRng{seed};
  std::vector<float> centres(size_t(numClasses * size));
  for (float &c : centres)
    c = (centreRng.next() & 1) ? separation / 2 : -separation / 2;
  SplitMix64 rng{seed ^ (0xa5a5a5a5ULL + split * 0x9e3779b97f4a7c15ULL)};
  d.samples.resize(size_t(count * size));
  d.labels.resize(size_t(count));
  for (int64_t i = 0; i < count; ++i) {
    int32_t label = int32_t(rng.below(uint64_t(numClasses)));
    d.labels[size_t(i)] = label;
    const float *c = &centres[size_t(label * size)];
    float *s = &d.samples[size_t(i * size)];
    for (int64_t e = 0; e < size; ++e)
      s[e] = c[e] + noise * float(rng.normal());
  }
  return d;
}

bool checkDataFits(const Dataset &data, const std::vector<int64_t> &inputShape,
                   int64_t numClasses, std::string &error) {
  if (data.sampleShape != inputShape &&
      shapeElements(data.sampleShape) != shapeElements(inputShape)) {
    error = "data set '" + data.name + "' has samples of shape " +
            shapeToString(data.sampleShape) + " (" +
            std::to_string(shapeElements(data.sampleShape)) +
            " values) but the model input is " + shapeToString(inputShape) +
            " (" + std::to_string(shapeElements(inputShape)) + " values)";
    return false;
  }
  if (data.numClasses > numClasses) {
    error = "data set '" + data.name + "' has " +
            std::to_string(data.numClasses) +
            " classes but the model's loss layer takes " +
            std::to_string(numClasses) + " logits";
    return false;
  }
  if (data.count <= 0) {
    error = "data set '" + data.name + "' is empty";
    return false;
  }
  return true;
}

std::vector<int64_t> epochOrder(int64_t count, uint64_t seed, int64_t epoch) {
  std::vector<int64_t> order(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i)
    order[size_t(i)] = i;
  SplitMix64 rng{seed * 0x2545f4914f6cdd1dULL + uint64_t(epoch) + 1};
  for (int64_t i = count - 1; i > 0; --i)
    std::swap(order[size_t(i)], order[rng.below(uint64_t(i + 1))]);
  return order;
}

void gatherBatch(const Dataset &data, const std::vector<int64_t> &order,
                 int64_t begin, int64_t n, Tensor &x,
                 std::vector<int32_t> &labels) {
  int64_t size = data.sampleSize();
  std::vector<int64_t> shape{n};
  shape.insert(shape.end(), data.sampleShape.begin(), data.sampleShape.end());
  x.reshapeUninitialized(std::move(shape));
  int64_t lps = data.labelsPerSample;
  labels.resize(size_t(n * lps));
  for (int64_t i = 0; i < n; ++i) {
    int64_t s = order[size_t(begin + i)];
    std::memcpy(x.ptr() + i * size, &data.samples[size_t(s * size)],
                sizeof(float) * size_t(size));
    std::memcpy(&labels[size_t(i * lps)], &data.labels[size_t(s * lps)],
                sizeof(int32_t) * size_t(lps));
  }
}

} // namespace runtime
} // namespace layerpipe
