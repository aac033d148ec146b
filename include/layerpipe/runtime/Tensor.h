//===- Tensor.h - Float32 NCHW tensors of the runtime -----------*- C++ -*-===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// The one data type of the training runtime: a dense float32 tensor whose
// first dimension is the mini-batch ({N, C, H, W} for images, {N, F} for
// vectors). Storage is a std::vector that keeps its capacity when a tensor is
// reshaped, so buffers reused from step to step do not reallocate. The runtime
// depends only on the C++ standard library, CBLAS and zlib: generated stage
// programs link it alone.
//
//===----------------------------------------------------------------------===//

#ifndef LAYERPIPE_RUNTIME_TENSOR_H
#define LAYERPIPE_RUNTIME_TENSOR_H

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace layerpipe {
namespace runtime {

/// An allocator whose value-less construct() leaves floats uninitialised:
/// resizing a buffer that a kernel is about to overwrite then costs no
/// memset (std::vector's resize would zero it).
template <typename T> struct UninitializedAllocator : std::allocator<T> {
  template <typename U> struct rebind {
    using other = UninitializedAllocator<U>;
  };
  UninitializedAllocator() = default;
  template <typename U>
  UninitializedAllocator(const UninitializedAllocator<U> &) noexcept {}
  template <typename U> void construct(U *p) noexcept { ::new (p) U; }
  template <typename U, typename... Args> void construct(U *p, Args &&...args) {
    ::new (p) U(std::forward<Args>(args)...);
  }
};

/// Float storage of tensors (see UninitializedAllocator).
using FloatBuffer = std::vector<float, UninitializedAllocator<float>>;

/// A dense float32 tensor, batch dimension first.
struct Tensor {
  std::vector<int64_t> shape;
  FloatBuffer data;

  Tensor() = default;
  explicit Tensor(std::vector<int64_t> shape, float fill = 0.0f) {
    reshape(std::move(shape), fill);
  }

  /// Sets the shape and the element count; keeps the allocation if it is
  /// large enough. All elements are set to \p fill.
  void reshape(std::vector<int64_t> newShape, float fill = 0.0f);
  /// Sets the shape without initialising the elements (they are about to be
  /// overwritten).
  void reshapeUninitialized(std::vector<int64_t> newShape);
  /// Drops the contents and the allocation.
  void release();
  /// Drops the contents but keeps the allocation for reuse (size() becomes
  /// 0, so the tensor no longer counts in memory reports).
  void clear() {
    shape.clear();
    data.clear();
  }

  int64_t size() const { return static_cast<int64_t>(data.size()); }
  bool empty() const { return data.empty(); }
  int64_t batch() const { return shape.empty() ? 0 : shape[0]; }
  /// Elements per sample (all dimensions but the first).
  int64_t perSample() const;
  /// Bytes of the allocation in use (elements × 4).
  int64_t bytes() const { return size() * int64_t(sizeof(float)); }
  float *ptr() { return data.data(); }
  const float *ptr() const { return data.data(); }
  /// "[64, 6, 28, 28]".
  std::string shapeString() const;
};

/// Number of elements of \p shape.
int64_t shapeElements(const std::vector<int64_t> &shape);
/// "[6, 28, 28]".
std::string shapeToString(const std::vector<int64_t> &shape);

} // namespace runtime
} // namespace layerpipe

#endif // LAYERPIPE_RUNTIME_TENSOR_H
