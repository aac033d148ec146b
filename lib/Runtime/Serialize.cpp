//===- Serialize.cpp - Values as bytes -------------------------------------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//

#include "layerpipe/runtime/Serialize.h"

namespace layerpipe {
namespace runtime {

static void writeTensor(ByteWriter &out, const Tensor &t) {
  out.putArray(t.shape.data(), t.shape.size());
  out.putArray(t.data.data(), t.data.size());
}

static void readTensor(ByteReader &in, Tensor &t) {
  in.getArray(t.shape);
  in.getArray(t.data);
  if (shapeElements(t.shape) != t.size() && !(t.shape.empty() && t.empty()))
    throw std::runtime_error("tensor shape and size disagree");
}

void writeValue(ByteWriter &out, const Value &value) {
  writeTensor(out, value.tensor);
  writeTensor(out, value.cache.aux);
  out.putArray(value.cache.channel.data(), value.cache.channel.size());
  out.putArray(value.cache.index.data(), value.cache.index.size());
  out.put(value.cache.loss);
  out.put(value.cache.correct);
  out.putArray(value.weights.data(), value.weights.size());
  out.putArray(value.momentum.data(), value.momentum.size());
  out.putArray(value.average.data(), value.average.size());
  out.put(value.loss);
  out.put(value.correct);
  out.put(value.samples);
}

void readValue(ByteReader &in, Value &value) {
  readTensor(in, value.tensor);
  readTensor(in, value.cache.aux);
  in.getArray(value.cache.channel);
  in.getArray(value.cache.index);
  value.cache.loss = in.get<double>();
  value.cache.correct = in.get<int64_t>();
  in.getArray(value.weights);
  in.getArray(value.momentum);
  in.getArray(value.average);
  value.loss = in.get<double>();
  value.correct = in.get<int64_t>();
  value.samples = in.get<int64_t>();
}

uint64_t hashBytes(const void *data, size_t size, uint64_t seed) {
  uint64_t h = 1469598103934665603ull ^ seed;
  const unsigned char *p = static_cast<const unsigned char *>(data);
  for (size_t i = 0; i < size; ++i) {
    h ^= p[i];
    h *= 1099511628211ull;
  }
  return h;
}

} // namespace runtime
} // namespace layerpipe
