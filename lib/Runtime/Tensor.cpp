//===- Tensor.cpp - Float32 NCHW tensors ----------------------------------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// Shape bookkeeping of runtime tensors. Reshaping keeps the allocation so
// that buffers reused across training steps stop allocating after warm-up.
//
//===----------------------------------------------------------------------===//

#include "layerpipe/runtime/Tensor.h"

#include <cassert>
#include <algorithm>

namespace layerpipe {
namespace runtime {

int64_t shapeElements(const std::vector<int64_t> &shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    assert(d >= 0 && "negative dimension");
    n *= d;
  }
  return n;
}

std::string shapeToString(const std::vector<int64_t> &shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i)
      s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

void Tensor::reshape(std::vector<int64_t> newShape, float fill) {
  reshapeUninitialized(std::move(newShape));
  std::fill(data.begin(), data.end(), fill);
}

void Tensor::reshapeUninitialized(std::vector<int64_t> newShape) {
  shape = std::move(newShape);
  data.resize(static_cast<size_t>(shapeElements(shape)));
}

void Tensor::release() {
  shape.clear();
  FloatBuffer().swap(data);
}

int64_t Tensor::perSample() const {
  if (shape.empty())
    return 0;
  int64_t n = 1;
  for (size_t i = 1; i < shape.size(); ++i)
    n *= shape[i];
  return n;
}

std::string Tensor::shapeString() const { return shapeToString(shape); }

} // namespace runtime
} // namespace layerpipe
