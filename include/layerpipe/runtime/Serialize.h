//===- Serialize.h - Values as bytes ----------------------------*- C++ -*-===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// A Value (and other small records) as a flat byte buffer: what the MPI
// transport sends between ranks and what checkpoints store. Floats are
// copied bit for bit, so a value read back is identical to the one written.
// The layout is the host's (little-endian, IEEE floats): both ends of a
// message or a checkpoint are the same program on the same kind of machine.
//
//===----------------------------------------------------------------------===//

#ifndef LAYERPIPE_RUNTIME_SERIALIZE_H
#define LAYERPIPE_RUNTIME_SERIALIZE_H

#include "layerpipe/runtime/Transport.h"

#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

namespace layerpipe {
namespace runtime {

/// Appends fixed-size fields and arrays to a byte buffer.
class ByteWriter {
public:
  explicit ByteWriter(std::vector<char> &out) : out_(out) {}
  template <typename T> void put(const T &value) {
    const char *p = reinterpret_cast<const char *>(&value);
    out_.insert(out_.end(), p, p + sizeof(T));
  }
  template <typename T> void putArray(const T *data, uint64_t count) {
    put(count);
    const char *p = reinterpret_cast<const char *>(data);
    out_.insert(out_.end(), p, p + count * sizeof(T));
  }
  void putString(const std::string &s) { putArray(s.data(), s.size()); }

private:
  std::vector<char> &out_;
};

/// Reads what ByteWriter wrote; throws std::runtime_error past the end.
class ByteReader {
public:
  ByteReader(const char *data, size_t size) : p_(data), end_(data + size) {}
  template <typename T> T get() {
    T value;
    need(sizeof(T));
    std::memcpy(&value, p_, sizeof(T));
    p_ += sizeof(T);
    return value;
  }
  template <typename V> void getArray(V &out) {
    uint64_t count = get<uint64_t>();
    using T = typename V::value_type;
    if (count > uint64_t(end_ - p_) / sizeof(T))
      throw std::runtime_error("truncated record");
    out.resize(size_t(count));
    if (count)
      std::memcpy(out.data(), p_, size_t(count) * sizeof(T));
    p_ += count * sizeof(T);
  }
  std::string getString() {
    std::string s;
    getArray(s);
    return s;
  }
  bool atEnd() const { return p_ == end_; }
  size_t left() const { return size_t(end_ - p_); }

private:
  void need(size_t n) {
    if (size_t(end_ - p_) < n)
      throw std::runtime_error("truncated record");
  }
  const char *p_, *end_;
};

/// Appends every field of \p value.
void writeValue(ByteWriter &out, const Value &value);
/// Reads a value writeValue wrote.
void readValue(ByteReader &in, Value &value);

/// FNV-1a, 64 bits, of \p size bytes (checksums and fingerprints).
uint64_t hashBytes(const void *data, size_t size, uint64_t seed = 0);

} // namespace runtime
} // namespace layerpipe

#endif // LAYERPIPE_RUNTIME_SERIALIZE_H
