//===- Kernels.cpp - Forward and gradient kernels -------------------------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// Layer kernels on raw NCHW buffers. Convolutions are lowered to one large
// GEMM per call over the whole batch: im2col builds a [C·KH·KW, N·OH·OW]
// matrix, so the GEMM's long dimension is the batch times the output plane
// (good shapes for OpenBLAS even for LeNet's 6-channel layers) and the
// result is permuted from [O, N, plane] to NCHW. Every loop that sums runs
// in a fixed order; with OpenBLAS on one thread the results are
// reproducible bit for bit.
//
//===----------------------------------------------------------------------===//

#include "layerpipe/runtime/Kernels.h"
#include "layerpipe/runtime/Random.h"

#include <cblas.h>

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstring>

namespace layerpipe {
namespace runtime {

void initRuntime() {
  static bool done = [] {
    openblas_set_num_threads(1);
    return true;
  }();
  (void)done;
}

float *Scratch::getA(int64_t n) {
  if (a.size() < size_t(n))
    a.resize(size_t(n));
  return a.data();
}

float *Scratch::getB(int64_t n) {
  if (b.size() < size_t(n))
    b.resize(size_t(n));
  return b.data();
}

bool WindowGeom::finish() {
  if (kh <= 0 || kw <= 0 || sh <= 0 || sw <= 0 || ph < 0 || pw < 0)
    return false;
  int64_t spanH = h + 2 * ph - kh, spanW = w + 2 * pw - kw;
  if (spanH < 0 || spanW < 0)
    return false;
  oh = spanH / sh + 1;
  ow = spanW / sw + 1;
  return true;
}

//===----------------------------------------------------------------------===//
// Convolution
//===----------------------------------------------------------------------===//

void im2col(const WindowGeom &g, const float *x, float *col) {
  // Written out rather than through forEachWindowRun: this is the hottest
  // loop outside the GEMMs, and the runs are short (one output row).
  int64_t plane = g.outPlane(), cols = g.n * plane, inPlane = g.inPlane();
  for (int64_t c = 0; c < g.c; ++c)
    for (int64_t i = 0; i < g.kh; ++i)
      for (int64_t j = 0; j < g.kw; ++j) {
        float *dst = col + ((c * g.kh + i) * g.kw + j) * cols;
        int64_t xBegin = 0, xEnd = g.ow;
        while (xBegin < g.ow && xBegin * g.sw - g.pw + j < 0)
          ++xBegin;
        while (xEnd > xBegin && (xEnd - 1) * g.sw - g.pw + j >= g.w)
          --xEnd;
        for (int64_t n = 0; n < g.n; ++n) {
          const float *src0 = x + (n * g.c + c) * inPlane - g.pw + j;
          for (int64_t y = 0; y < g.oh; ++y, dst += g.ow) {
            int64_t iy = y * g.sh - g.ph + i;
            if (iy < 0 || iy >= g.h) {
              for (int64_t x0 = 0; x0 < g.ow; ++x0)
                dst[x0] = 0.0f;
              continue;
            }
            const float *__restrict src = src0 + iy * g.w;
            float *__restrict out = dst;
            for (int64_t x0 = 0; x0 < xBegin; ++x0)
              out[x0] = 0.0f;
            if (g.sw == 1)
              for (int64_t x0 = xBegin; x0 < xEnd; ++x0)
                out[x0] = src[x0];
            else
              for (int64_t x0 = xBegin; x0 < xEnd; ++x0)
                out[x0] = src[x0 * g.sw];
            for (int64_t x0 = xEnd; x0 < g.ow; ++x0)
              out[x0] = 0.0f;
          }
        }
      }
}

void col2im(const WindowGeom &g, const float *col, float *dx) {
  // The adjoint of im2col, visiting entries in the same order.
  int64_t plane = g.outPlane(), cols = g.n * plane, inPlane = g.inPlane();
  for (int64_t c = 0; c < g.c; ++c)
    for (int64_t i = 0; i < g.kh; ++i)
      for (int64_t j = 0; j < g.kw; ++j) {
        const float *src = col + ((c * g.kh + i) * g.kw + j) * cols;
        int64_t xBegin = 0, xEnd = g.ow;
        while (xBegin < g.ow && xBegin * g.sw - g.pw + j < 0)
          ++xBegin;
        while (xEnd > xBegin && (xEnd - 1) * g.sw - g.pw + j >= g.w)
          --xEnd;
        for (int64_t n = 0; n < g.n; ++n) {
          float *dst0 = dx + (n * g.c + c) * inPlane - g.pw + j;
          for (int64_t y = 0; y < g.oh; ++y, src += g.ow) {
            int64_t iy = y * g.sh - g.ph + i;
            if (iy < 0 || iy >= g.h)
              continue;
            float *__restrict dst = dst0 + iy * g.w;
            const float *__restrict in = src;
            if (g.sw == 1)
              for (int64_t x0 = xBegin; x0 < xEnd; ++x0)
                dst[x0] += in[x0];
            else
              for (int64_t x0 = xBegin; x0 < xEnd; ++x0)
                dst[x0 * g.sw] += in[x0];
          }
        }
      }
}

/// [O, N, plane] -> [N, O, plane] (adding a per-channel bias if given), or
/// the inverse when \p toChannelMajor.
static void permuteBatchChannel(int64_t n, int64_t o, int64_t plane,
                                const float *src, float *dst,
                                bool toChannelMajor, const float *bias) {
  for (int64_t s = 0; s < n; ++s)
    for (int64_t c = 0; c < o; ++c) {
      const float *from = toChannelMajor ? src + (s * o + c) * plane
                                         : src + (c * n + s) * plane;
      float *to = toChannelMajor ? dst + (c * n + s) * plane
                                 : dst + (s * o + c) * plane;
      if (bias) {
        float b = bias[c];
        for (int64_t p = 0; p < plane; ++p)
          to[p] = from[p] + b;
      } else {
        std::memcpy(to, from, sizeof(float) * plane);
      }
    }
}

/// Samples per im2col block: the block's column matrix is kept near
/// kColumnBlockFloats so that it is still in L2 when the GEMM reads it
/// (building the whole batch's matrix at once made im2col memory-bound).
static constexpr int64_t kColumnBlockFloats = int64_t(1) << 16;

static int64_t samplesPerBlock(const WindowGeom &g) {
  int64_t perSample = g.c * g.kh * g.kw * g.outPlane();
  return std::max<int64_t>(1, kColumnBlockFloats /
                                  std::max<int64_t>(1, perSample));
}

/// One block of samples of a convolution: its geometry, its first sample,
/// and the sizes of its column matrix [rows, cols].
struct ConvBlock {
  WindowGeom sub;
  int64_t first, rows, cols;
  int64_t inOffset, outOffset; ///< of the block's first sample in x and y
};

/// Calls \p fn(ConvBlock) for consecutive sample blocks of \p g.
template <typename Fn>
static void forEachBlock(const WindowGeom &g, int64_t outChannels, Fn fn) {
  int64_t block = samplesPerBlock(g);
  for (int64_t n0 = 0; n0 < g.n; n0 += block) {
    ConvBlock b;
    b.sub = g;
    b.sub.n = std::min(block, g.n - n0);
    b.first = n0;
    b.rows = g.c * g.kh * g.kw;
    b.cols = b.sub.n * g.outPlane();
    b.inOffset = n0 * g.c * g.inPlane();
    b.outOffset = n0 * outChannels * g.outPlane();
    fn(b);
  }
}

void conv2dForward(const WindowGeom &g, int64_t outChannels, const float *x,
                   const float *weight, const float *bias, float *y,
                   Scratch &scratch) {
  forEachBlock(g, outChannels, [&](const ConvBlock &b) {
    float *col = scratch.getA(b.rows * b.cols);
    float *out = scratch.getB(outChannels * b.cols);
    im2col(b.sub, x + b.inOffset, col);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(outChannels),
                int(b.cols), int(b.rows), 1.0f, weight, int(b.rows), col,
                int(b.cols), 0.0f, out, int(b.cols));
    permuteBatchChannel(b.sub.n, outChannels, g.outPlane(), out,
                        y + b.outOffset, /*toChannelMajor=*/false, bias);
  });
}

void conv2dBackwardData(const WindowGeom &g, int64_t outChannels,
                        const float *dy, const float *weight, float *dx,
                        Scratch &scratch) {
  forEachBlock(g, outChannels, [&](const ConvBlock &b) {
    float *dyT = scratch.getB(outChannels * b.cols);
    float *dcol = scratch.getA(b.rows * b.cols);
    permuteBatchChannel(b.sub.n, outChannels, g.outPlane(), dy + b.outOffset,
                        dyT, /*toChannelMajor=*/true, nullptr);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, int(b.rows),
                int(b.cols), int(outChannels), 1.0f, weight, int(b.rows), dyT,
                int(b.cols), 0.0f, dcol, int(b.cols));
    float *dxBlock = dx + b.inOffset;
    std::memset(dxBlock, 0, sizeof(float) * size_t(b.sub.n * g.c * g.inPlane()));
    col2im(b.sub, dcol, dxBlock);
  });
}

void conv2dBackwardWeights(const WindowGeom &g, int64_t outChannels,
                           const float *x, const float *dy, float *dWeight,
                           float *dBias, Scratch &scratch) {
  if (dBias)
    std::fill(dBias, dBias + outChannels, 0.0f);
  // Blocks add into dWeight in sample order: a fixed summation order.
  forEachBlock(g, outChannels, [&](const ConvBlock &b) {
    float *col = scratch.getA(b.rows * b.cols);
    float *dyT = scratch.getB(outChannels * b.cols);
    im2col(b.sub, x + b.inOffset, col);
    permuteBatchChannel(b.sub.n, outChannels, g.outPlane(), dy + b.outOffset,
                        dyT, /*toChannelMajor=*/true, nullptr);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(outChannels),
                int(b.rows), int(b.cols), 1.0f, dyT, int(b.cols), col,
                int(b.cols), b.first == 0 ? 0.0f : 1.0f, dWeight,
                int(b.rows));
    if (!dBias)
      return;
    for (int64_t o = 0; o < outChannels; ++o) {
      const float *row = dyT + o * b.cols;
      float sum = 0;
      for (int64_t p = 0; p < b.cols; ++p)
        sum += row[p];
      dBias[o] += sum;
    }
  });
}

/// Copies channels [first, first + count) of each of \p n samples of
/// \p total channels between the full tensor and a contiguous group buffer
/// of \p count channels (gather: full -> group; otherwise group -> full).
static void copyChannels(int64_t n, int64_t total, int64_t first,
                         int64_t count, int64_t plane, float *full,
                         float *group, bool gather) {
  for (int64_t s = 0; s < n; ++s) {
    float *f = full + (s * total + first) * plane;
    float *gp = group + s * count * plane;
    size_t bytes = sizeof(float) * size_t(count * plane);
    if (gather)
      std::memcpy(gp, f, bytes);
    else
      std::memcpy(f, gp, bytes);
  }
}

static float *growTo(std::vector<float> &buffer, int64_t n) {
  if (buffer.size() < size_t(n))
    buffer.resize(size_t(n));
  return buffer.data();
}

// Depthwise convolution (one input channel per group, m = O / C outputs per
// channel): direct loops over the window instead of one tiny GEMM per
// channel. Output channel o reads input channel o / m with weights
// w[o][i][j]; every sum runs in a fixed order.

/// Calls fn(oy, ox, i, j, iy, ix) for each output pixel and in-bounds window
/// tap, taps in row-major order.
template <typename Fn>
static void forEachDepthwiseTap(const WindowGeom &g, Fn fn) {
  for (int64_t oy = 0; oy < g.oh; ++oy)
    for (int64_t ox = 0; ox < g.ow; ++ox)
      for (int64_t i = 0; i < g.kh; ++i) {
        int64_t iy = oy * g.sh - g.ph + i;
        if (iy < 0 || iy >= g.h)
          continue;
        for (int64_t j = 0; j < g.kw; ++j) {
          int64_t ix = ox * g.sw - g.pw + j;
          if (ix >= 0 && ix < g.w)
            fn(oy, ox, i, j, iy, ix);
        }
      }
}

static void depthwiseForward(const WindowGeom &g, int64_t outChannels,
                             const float *x, const float *weight,
                             const float *bias, float *y) {
  int64_t m = outChannels / g.c, taps = g.kh * g.kw;
  for (int64_t n = 0; n < g.n; ++n)
    for (int64_t o = 0; o < outChannels; ++o) {
      const float *in = x + (n * g.c + o / m) * g.inPlane();
      const float *w = weight + o * taps;
      float *out = y + (n * outChannels + o) * g.outPlane();
      std::fill(out, out + g.outPlane(), bias ? bias[o] : 0.0f);
      forEachDepthwiseTap(g, [&](int64_t oy, int64_t ox, int64_t i, int64_t j,
                                 int64_t iy, int64_t ix) {
        out[oy * g.ow + ox] += w[i * g.kw + j] * in[iy * g.w + ix];
      });
    }
}

static void depthwiseBackwardData(const WindowGeom &g, int64_t outChannels,
                                  const float *dy, const float *weight,
                                  float *dx) {
  int64_t m = outChannels / g.c, taps = g.kh * g.kw;
  std::memset(dx, 0, sizeof(float) * size_t(g.n * g.c * g.inPlane()));
  for (int64_t n = 0; n < g.n; ++n)
    for (int64_t o = 0; o < outChannels; ++o) {
      float *din = dx + (n * g.c + o / m) * g.inPlane();
      const float *w = weight + o * taps;
      const float *dout = dy + (n * outChannels + o) * g.outPlane();
      forEachDepthwiseTap(g, [&](int64_t oy, int64_t ox, int64_t i, int64_t j,
                                 int64_t iy, int64_t ix) {
        din[iy * g.w + ix] += w[i * g.kw + j] * dout[oy * g.ow + ox];
      });
    }
}

static void depthwiseBackwardWeights(const WindowGeom &g, int64_t outChannels,
                                     const float *x, const float *dy,
                                     float *dWeight, float *dBias) {
  int64_t m = outChannels / g.c, taps = g.kh * g.kw;
  std::fill(dWeight, dWeight + outChannels * taps, 0.0f);
  if (dBias)
    std::fill(dBias, dBias + outChannels, 0.0f);
  for (int64_t n = 0; n < g.n; ++n)
    for (int64_t o = 0; o < outChannels; ++o) {
      const float *in = x + (n * g.c + o / m) * g.inPlane();
      const float *dout = dy + (n * outChannels + o) * g.outPlane();
      float *dw = dWeight + o * taps;
      forEachDepthwiseTap(g, [&](int64_t oy, int64_t ox, int64_t i, int64_t j,
                                 int64_t iy, int64_t ix) {
        dw[i * g.kw + j] += dout[oy * g.ow + ox] * in[iy * g.w + ix];
      });
      if (dBias) {
        float sum = 0.0f;
        for (int64_t p = 0; p < g.outPlane(); ++p)
          sum += dout[p];
        dBias[o] += sum;
      }
    }
}

void conv2dGroupedForward(const WindowGeom &g, int64_t outChannels,
                          int64_t groups, const float *x, const float *weight,
                          const float *bias, float *y, Scratch &scratch) {
  if (groups == 1)
    return conv2dForward(g, outChannels, x, weight, bias, y, scratch);
  assert(g.c % groups == 0 && outChannels % groups == 0 && "bad groups");
  if (groups == g.c)
    return depthwiseForward(g, outChannels, x, weight, bias, y);
  WindowGeom sub = g;
  sub.c = g.c / groups;
  int64_t outPer = outChannels / groups;
  int64_t weightsPer = outPer * sub.c * g.kh * g.kw;
  float *in = growTo(scratch.groupIn, g.n * sub.c * g.inPlane());
  float *out = growTo(scratch.groupOut, g.n * outPer * g.outPlane());
  for (int64_t k = 0; k < groups; ++k) {
    copyChannels(g.n, g.c, k * sub.c, sub.c, g.inPlane(),
                 const_cast<float *>(x), in, /*gather=*/true);
    conv2dForward(sub, outPer, in, weight + k * weightsPer,
                  bias ? bias + k * outPer : nullptr, out, scratch);
    copyChannels(g.n, outChannels, k * outPer, outPer, g.outPlane(), y, out,
                 /*gather=*/false);
  }
}

void conv2dGroupedBackwardData(const WindowGeom &g, int64_t outChannels,
                               int64_t groups, const float *dy,
                               const float *weight, float *dx,
                               Scratch &scratch) {
  if (groups == 1)
    return conv2dBackwardData(g, outChannels, dy, weight, dx, scratch);
  if (groups == g.c)
    return depthwiseBackwardData(g, outChannels, dy, weight, dx);
  WindowGeom sub = g;
  sub.c = g.c / groups;
  int64_t outPer = outChannels / groups;
  int64_t weightsPer = outPer * sub.c * g.kh * g.kw;
  float *dyGroup = growTo(scratch.groupOut, g.n * outPer * g.outPlane());
  float *dxGroup = growTo(scratch.groupIn, g.n * sub.c * g.inPlane());
  for (int64_t k = 0; k < groups; ++k) {
    copyChannels(g.n, outChannels, k * outPer, outPer, g.outPlane(),
                 const_cast<float *>(dy), dyGroup, /*gather=*/true);
    conv2dBackwardData(sub, outPer, dyGroup, weight + k * weightsPer, dxGroup,
                       scratch);
    copyChannels(g.n, g.c, k * sub.c, sub.c, g.inPlane(), dx, dxGroup,
                 /*gather=*/false);
  }
}

void conv2dGroupedBackwardWeights(const WindowGeom &g, int64_t outChannels,
                                  int64_t groups, const float *x,
                                  const float *dy, float *dWeight,
                                  float *dBias, Scratch &scratch) {
  if (groups == 1)
    return conv2dBackwardWeights(g, outChannels, x, dy, dWeight, dBias,
                                 scratch);
  if (groups == g.c)
    return depthwiseBackwardWeights(g, outChannels, x, dy, dWeight, dBias);
  WindowGeom sub = g;
  sub.c = g.c / groups;
  int64_t outPer = outChannels / groups;
  int64_t weightsPer = outPer * sub.c * g.kh * g.kw;
  float *xGroup = growTo(scratch.groupIn, g.n * sub.c * g.inPlane());
  float *dyGroup = growTo(scratch.groupOut, g.n * outPer * g.outPlane());
  for (int64_t k = 0; k < groups; ++k) {
    copyChannels(g.n, g.c, k * sub.c, sub.c, g.inPlane(),
                 const_cast<float *>(x), xGroup, /*gather=*/true);
    copyChannels(g.n, outChannels, k * outPer, outPer, g.outPlane(),
                 const_cast<float *>(dy), dyGroup, /*gather=*/true);
    conv2dBackwardWeights(sub, outPer, xGroup, dyGroup,
                          dWeight + k * weightsPer,
                          dBias ? dBias + k * outPer : nullptr, scratch);
  }
}

//===----------------------------------------------------------------------===//
// Dense
//===----------------------------------------------------------------------===//

void denseForward(int64_t n, int64_t in, int64_t units, const float *x,
                  const float *weight, const float *bias, float *y) {
  float beta = 0.0f;
  if (bias) {
    for (int64_t s = 0; s < n; ++s)
      std::memcpy(y + s * units, bias, sizeof(float) * units);
    beta = 1.0f;
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(n), int(units),
              int(in), 1.0f, x, int(in), weight, int(in), beta, y,
              int(units));
}

void denseBackwardData(int64_t n, int64_t in, int64_t units, const float *dy,
                       const float *weight, float *dx) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(n), int(in),
              int(units), 1.0f, dy, int(units), weight, int(in), 0.0f, dx,
              int(in));
}

void denseBackwardWeights(int64_t n, int64_t in, int64_t units,
                          const float *x, const float *dy, float *dWeight,
                          float *dBias) {
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, int(units), int(in),
              int(n), 1.0f, dy, int(units), x, int(in), 0.0f, dWeight,
              int(in));
  if (!dBias)
    return;
  std::fill(dBias, dBias + units, 0.0f);
  for (int64_t s = 0; s < n; ++s)
    for (int64_t u = 0; u < units; ++u)
      dBias[u] += dy[s * units + u];
}

//===----------------------------------------------------------------------===//
// Pooling
//===----------------------------------------------------------------------===//

/// Visits each (output index, input index) pair of average pooling in a
/// fixed order.
template <typename Fn> static void forEachPoolPair(const WindowGeom &g, Fn fn) {
  int64_t out = 0;
  for (int64_t p = 0; p < g.n * g.c; ++p)
    for (int64_t oy = 0; oy < g.oh; ++oy)
      for (int64_t ox = 0; ox < g.ow; ++ox, ++out)
        for (int64_t i = 0; i < g.kh; ++i) {
          int64_t iy = oy * g.sh - g.ph + i;
          if (iy < 0 || iy >= g.h)
            continue;
          for (int64_t j = 0; j < g.kw; ++j) {
            int64_t ix = ox * g.sw - g.pw + j;
            if (ix >= 0 && ix < g.w)
              fn(out, p * g.inPlane() + iy * g.w + ix);
          }
        }
}

void maxPoolForward(const WindowGeom &g, const float *x, float *y,
                    int32_t *argmax) {
  assert(g.n * g.c * g.inPlane() < (int64_t(1) << 31) && "index overflow");
  int64_t count = g.n * g.c * g.outPlane();
  if (g.ph == 0 && g.pw == 0 && g.kh == 2 && g.kw == 2 && g.sh == 2 &&
      g.sw == 2) {
    // 2x2/2, the common case: the four candidates in visiting order.
    int64_t out = 0;
    for (int64_t p = 0; p < g.n * g.c; ++p)
      for (int64_t oy = 0; oy < g.oh; ++oy) {
        int64_t rowBase = p * g.inPlane() + 2 * oy * g.w;
        for (int64_t ox = 0; ox < g.ow; ++ox, ++out) {
          // Selects, not branches: the winner is data-dependent.
          int32_t a = int32_t(rowBase + 2 * ox), best = a;
          float v = x[a];
          for (int32_t cand : {a + 1, a + int32_t(g.w), a + int32_t(g.w) + 1}) {
            float cv = x[cand];
            bool better = cv > v;
            v = better ? cv : v;
            best = better ? cand : best;
          }
          y[out] = v;
          argmax[out] = best;
        }
      }
    return;
  }
  if (g.ph == 0 && g.pw == 0 && g.kh == g.sh && g.kw == g.sw) {
    // Tiling windows: no bounds checks, same visiting order.
    int64_t out = 0;
    for (int64_t p = 0; p < g.n * g.c; ++p)
      for (int64_t oy = 0; oy < g.oh; ++oy)
        for (int64_t ox = 0; ox < g.ow; ++ox, ++out) {
          int64_t base = p * g.inPlane() + oy * g.sh * g.w + ox * g.sw;
          float best = x[base];
          int64_t bestIdx = base;
          for (int64_t i = 0; i < g.kh; ++i)
            for (int64_t j = 0; j < g.kw; ++j) {
              int64_t idx = base + i * g.w + j;
              if (x[idx] > best) {
                best = x[idx];
                bestIdx = idx;
              }
            }
          y[out] = best;
          argmax[out] = int32_t(bestIdx);
        }
    return;
  }
  std::fill(argmax, argmax + count, -1);
  forEachPoolPair(g, [&](int64_t o, int64_t i) {
    if (argmax[o] < 0 || x[i] > y[o]) {
      y[o] = x[i];
      argmax[o] = int32_t(i);
    }
  });
}

void maxPoolBackward(const WindowGeom &g, const float *dy,
                     const int32_t *argmax, float *dx) {
  if (g.ph == 0 && g.pw == 0 && g.kh == g.sh && g.kw == g.sw &&
      g.oh * g.kh == g.h && g.ow * g.kw == g.w) {
    // Windows tile the input exactly: write every input once, no memset.
    if (g.kh == 2 && g.kw == 2) {
      int64_t out = 0;
      for (int64_t p = 0; p < g.n * g.c; ++p)
        for (int64_t oy = 0; oy < g.oh; ++oy) {
          float *row0 = dx + p * g.inPlane() + 2 * oy * g.w;
          float *row1 = row0 + g.w;
          for (int64_t ox = 0; ox < 2 * g.ow; ++ox) {
            row0[ox] = 0.0f;
            row1[ox] = 0.0f;
          }
          for (int64_t ox = 0; ox < g.ow; ++ox, ++out)
            dx[argmax[out]] = dy[out];
        }
      return;
    }
    int64_t out = 0;
    for (int64_t p = 0; p < g.n * g.c; ++p)
      for (int64_t oy = 0; oy < g.oh; ++oy)
        for (int64_t ox = 0; ox < g.ow; ++ox, ++out) {
          int64_t base = p * g.inPlane() + oy * g.sh * g.w + ox * g.sw;
          for (int64_t i = 0; i < g.kh; ++i)
            for (int64_t j = 0; j < g.kw; ++j)
              dx[base + i * g.w + j] = 0.0f;
          dx[argmax[out]] = dy[out];
        }
    return;
  }
  std::memset(dx, 0, sizeof(float) * g.n * g.c * g.inPlane());
  int64_t count = g.n * g.c * g.outPlane();
  for (int64_t i = 0; i < count; ++i)
    dx[argmax[i]] += dy[i];
}

void avgPoolForward(const WindowGeom &g, const float *x, float *y) {
  int64_t count = g.n * g.c * g.outPlane();
  std::fill(y, y + count, 0.0f);
  forEachPoolPair(g, [&](int64_t o, int64_t i) { y[o] += x[i]; });
  float scale = 1.0f / float(g.kh * g.kw);
  for (int64_t o = 0; o < count; ++o)
    y[o] *= scale;
}

void avgPoolBackward(const WindowGeom &g, const float *dy, float *dx) {
  std::memset(dx, 0, sizeof(float) * g.n * g.c * g.inPlane());
  float scale = 1.0f / float(g.kh * g.kw);
  forEachPoolPair(g, [&](int64_t o, int64_t i) { dx[i] += dy[o] * scale; });
}

void globalAvgPoolForward(int64_t n, int64_t c, int64_t plane, const float *x,
                          float *y) {
  float scale = 1.0f / float(plane);
  for (int64_t p = 0; p < n * c; ++p) {
    const float *row = x + p * plane;
    float sum = 0.0f;
    for (int64_t i = 0; i < plane; ++i)
      sum += row[i];
    y[p] = sum * scale;
  }
}

void globalAvgPoolBackward(int64_t n, int64_t c, int64_t plane,
                           const float *dy, float *dx) {
  float scale = 1.0f / float(plane);
  for (int64_t p = 0; p < n * c; ++p)
    std::fill(dx + p * plane, dx + (p + 1) * plane, dy[p] * scale);
}

//===----------------------------------------------------------------------===//
// Element-wise
//===----------------------------------------------------------------------===//

void relu6Forward(int64_t count, const float *__restrict x,
                  float *__restrict y) {
  for (int64_t i = 0; i < count; ++i)
    y[i] = std::min(std::max(x[i], 0.0f), 6.0f);
}

void relu6Backward(int64_t count, const float *__restrict y,
                   const float *__restrict dy, float *__restrict dx) {
  for (int64_t i = 0; i < count; ++i) {
    float g = dy[i];
    dx[i] = (y[i] > 0.0f && y[i] < 6.0f) ? g : 0.0f;
  }
}

// The element-wise loops take __restrict pointers so that GCC vectorises
// them; ReLU's select then compiles to a mask instead of a branch that
// mispredicts on half of the elements.
void reluForward(int64_t count, const float *__restrict x,
                 float *__restrict y) {
  for (int64_t i = 0; i < count; ++i)
    y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

void reluBackward(int64_t count, const float *__restrict y,
                  const float *__restrict dy, float *__restrict dx) {
  for (int64_t i = 0; i < count; ++i) {
    float g = dy[i]; // loaded unconditionally, so the select vectorises
    dx[i] = y[i] > 0.0f ? g : 0.0f;
  }
}

void tanhForward(int64_t count, const float *x, float *y) {
  for (int64_t i = 0; i < count; ++i)
    y[i] = std::tanh(x[i]);
}

void tanhBackward(int64_t count, const float *y, const float *dy, float *dx) {
  for (int64_t i = 0; i < count; ++i)
    dx[i] = dy[i] * (1.0f - y[i] * y[i]);
}

void sigmoidForward(int64_t count, const float *x, float *y) {
  for (int64_t i = 0; i < count; ++i)
    y[i] = 1.0f / (1.0f + std::exp(-x[i]));
}

void sigmoidBackward(int64_t count, const float *y, const float *dy,
                     float *dx) {
  for (int64_t i = 0; i < count; ++i)
    dx[i] = dy[i] * y[i] * (1.0f - y[i]);
}

void addForward(int64_t count, const float *a, const float *b, float *y) {
  for (int64_t i = 0; i < count; ++i)
    y[i] = a[i] + b[i];
}

void accumulate(int64_t count, const float *__restrict x,
                float *__restrict y) {
  for (int64_t i = 0; i < count; ++i)
    y[i] += x[i];
}

//===----------------------------------------------------------------------===//
// Dropout
//===----------------------------------------------------------------------===//

void dropoutMask(int64_t count, float rate, uint64_t seed, uint64_t stream,
                 float *mask) {
  assert(rate >= 0.0f && rate < 1.0f && "dropout rate out of range");
  float keep = 1.0f / (1.0f - rate);
  uint64_t base = mix64(seed ^ mix64(stream));
  for (int64_t i = 0; i < count; ++i) {
    // 24 random bits -> uniform in [0, 1), exactly representable.
    float u = float(mix64(base + uint64_t(i)) >> 40) * (1.0f / 16777216.0f);
    mask[i] = u < rate ? 0.0f : keep;
  }
}

void multiply(int64_t count, const float *x, const float *mask, float *y) {
  for (int64_t i = 0; i < count; ++i)
    y[i] = x[i] * mask[i];
}

//===----------------------------------------------------------------------===//
// Batch normalisation
//===----------------------------------------------------------------------===//

void batchNormForwardTrain(int64_t n, int64_t c, int64_t plane,
                           const float *x, const float *gamma,
                           const float *beta, float eps, float *y,
                           float *xhat, float *invStd, float *runMean,
                           float *runVar, float runMomentum) {
  int64_t m = n * plane;
  for (int64_t ch = 0; ch < c; ++ch) {
    double sum = 0;
    for (int64_t s = 0; s < n; ++s) {
      const float *p = x + (s * c + ch) * plane;
      for (int64_t i = 0; i < plane; ++i)
        sum += p[i];
    }
    double mean = sum / double(m);
    double sq = 0;
    for (int64_t s = 0; s < n; ++s) {
      const float *p = x + (s * c + ch) * plane;
      for (int64_t i = 0; i < plane; ++i) {
        double d = p[i] - mean;
        sq += d * d;
      }
    }
    double var = sq / double(m);
    float is = float(1.0 / std::sqrt(var + eps));
    invStd[ch] = is;
    float mu = float(mean), gm = gamma[ch], bt = beta[ch];
    for (int64_t s = 0; s < n; ++s) {
      int64_t off = (s * c + ch) * plane;
      for (int64_t i = 0; i < plane; ++i) {
        float h = (x[off + i] - mu) * is;
        xhat[off + i] = h;
        y[off + i] = gm * h + bt;
      }
    }
    if (runMean && runVar) {
      double unbiased = m > 1 ? sq / double(m - 1) : var;
      runMean[ch] = (1 - runMomentum) * runMean[ch] + runMomentum * mu;
      runVar[ch] = (1 - runMomentum) * runVar[ch] + runMomentum * float(unbiased);
    }
  }
}

void batchNormForwardInfer(int64_t n, int64_t c, int64_t plane,
                           const float *x, const float *gamma,
                           const float *beta, const float *runMean,
                           const float *runVar, float eps, float *y) {
  for (int64_t ch = 0; ch < c; ++ch) {
    float is = float(1.0 / std::sqrt(double(runVar[ch]) + eps));
    float mu = runMean[ch], gm = gamma[ch], bt = beta[ch];
    for (int64_t s = 0; s < n; ++s) {
      int64_t off = (s * c + ch) * plane;
      for (int64_t i = 0; i < plane; ++i)
        y[off + i] = gm * (x[off + i] - mu) * is + bt;
    }
  }
}

/// Σ dy and Σ dy·x̂ of one channel, in a fixed order.
static void batchNormSums(int64_t n, int64_t c, int64_t plane, int64_t ch,
                          const float *dy, const float *xhat, double &sumDy,
                          double &sumDyXhat) {
  sumDy = 0;
  sumDyXhat = 0;
  for (int64_t s = 0; s < n; ++s) {
    int64_t off = (s * c + ch) * plane;
    for (int64_t i = 0; i < plane; ++i) {
      sumDy += dy[off + i];
      sumDyXhat += double(dy[off + i]) * xhat[off + i];
    }
  }
}

void batchNormBackwardData(int64_t n, int64_t c, int64_t plane,
                           const float *dy, const float *xhat,
                           const float *invStd, const float *gamma,
                           float *dx) {
  double m = double(n * plane);
  for (int64_t ch = 0; ch < c; ++ch) {
    double sumDy, sumDyXhat;
    batchNormSums(n, c, plane, ch, dy, xhat, sumDy, sumDyXhat);
    float scale = float(gamma[ch] * invStd[ch] / m);
    float sDy = float(sumDy), sDyXhat = float(sumDyXhat);
    float fm = float(m);
    for (int64_t s = 0; s < n; ++s) {
      int64_t off = (s * c + ch) * plane;
      for (int64_t i = 0; i < plane; ++i)
        dx[off + i] =
            scale * (fm * dy[off + i] - sDy - xhat[off + i] * sDyXhat);
    }
  }
}

void batchNormBackwardWeights(int64_t n, int64_t c, int64_t plane,
                              const float *dy, const float *xhat,
                              float *dGamma, float *dBeta) {
  for (int64_t ch = 0; ch < c; ++ch) {
    double sumDy, sumDyXhat;
    batchNormSums(n, c, plane, ch, dy, xhat, sumDy, sumDyXhat);
    dGamma[ch] = float(sumDyXhat);
    dBeta[ch] = float(sumDy);
  }
}

//===----------------------------------------------------------------------===//
// Softmax cross-entropy
//===----------------------------------------------------------------------===//

double softmaxCrossEntropyForward(int64_t n, int64_t classes,
                                  const float *logits, const int32_t *labels,
                                  float *probs, int64_t *correct) {
  double total = 0;
  for (int64_t s = 0; s < n; ++s) {
    const float *z = logits + s * classes;
    float *p = probs + s * classes;
    int64_t best = 0;
    for (int64_t k = 1; k < classes; ++k)
      if (z[k] > z[best])
        best = k;
    float zmax = z[best];
    double sum = 0;
    for (int64_t k = 0; k < classes; ++k) {
      p[k] = std::exp(z[k] - zmax);
      sum += p[k];
    }
    float inv = float(1.0 / sum);
    for (int64_t k = 0; k < classes; ++k)
      p[k] *= inv;
    int32_t label = labels[s];
    assert(label >= 0 && label < classes && "label out of range");
    total += std::log(sum) - double(z[label] - zmax);
    if (correct && best == label)
      ++*correct;
  }
  return total / double(n);
}

void softmaxCrossEntropyBackward(int64_t n, int64_t classes,
                                 const float *probs, const int32_t *labels,
                                 float *dlogits) {
  float inv = 1.0f / float(n);
  for (int64_t s = 0; s < n; ++s) {
    const float *p = probs + s * classes;
    float *d = dlogits + s * classes;
    for (int64_t k = 0; k < classes; ++k)
      d[k] = p[k] * inv;
    d[labels[s]] -= inv;
  }
}

} // namespace runtime
} // namespace layerpipe
