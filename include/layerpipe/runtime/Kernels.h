//===- Kernels.h - Forward and gradient kernels -----------------*- C++ -*-===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// The numerical kernels of every layer type, on raw float32 buffers in NCHW
// order. Each layer has a forward kernel, an activation-gradient kernel (B:
// the gradient with respect to the layer's input) and, for layers with
// weights, a weight-gradient kernel (G). B and G are separate functions
// because a pipelined schedule runs them as separate tasks. Convolution goes
// through im2col and cblas_sgemm, dense layers through cblas_sgemm; there is
// no hand-written GEMM. Every reduction runs in a fixed order, so results are
// reproducible bit for bit when OpenBLAS runs on one thread (see
// initRuntime()).
//
//===----------------------------------------------------------------------===//

#ifndef LAYERPIPE_RUNTIME_KERNELS_H
#define LAYERPIPE_RUNTIME_KERNELS_H

#include <cstdint>
#include <vector>

namespace layerpipe {
namespace runtime {

/// Forces OpenBLAS to one thread (bit-for-bit reproducible GEMMs). Called by
/// every runtime entry point that runs kernels; cheap after the first call.
void initRuntime();

/// Scratch buffers reused across kernel calls so that a training step does
/// not allocate. Not thread-safe: one per thread of execution.
struct Scratch {
  std::vector<float> a, b;
  /// One group's input and output slices in a grouped convolution.
  std::vector<float> groupIn, groupOut;
  float *getA(int64_t n);
  float *getB(int64_t n);
};

/// Geometry of a 2-D convolution or pooling window on a batch.
struct WindowGeom {
  int64_t n = 0, c = 0, h = 0, w = 0; ///< input batch, channels, height, width
  int64_t kh = 1, kw = 1, sh = 1, sw = 1, ph = 0, pw = 0;
  int64_t oh = 0, ow = 0; ///< output height and width (see finish())
  /// Computes oh/ow; false if the window does not fit the padded input.
  bool finish();
  int64_t outPlane() const { return oh * ow; }
  int64_t inPlane() const { return h * w; }
};

//--- Convolution (weights [O, C, KH, KW], bias [O]) -------------------------//

/// col[(c*KH + i)*KW + j][(n*OH + y)*OW + x] = padded input pixel.
void im2col(const WindowGeom &g, const float *x, float *col);
/// Adds each column entry back onto its input pixel (the adjoint of im2col);
/// \p dx must be zeroed by the caller.
void col2im(const WindowGeom &g, const float *col, float *dx);
void conv2dForward(const WindowGeom &g, int64_t outChannels, const float *x,
                   const float *weight, const float *bias, float *y,
                   Scratch &scratch);
/// dx = conv2d^T(dy); overwrites dx.
void conv2dBackwardData(const WindowGeom &g, int64_t outChannels,
                        const float *dy, const float *weight, float *dx,
                        Scratch &scratch);
/// dWeight = dy ⋆ x, dBias = Σ dy; overwrite (dBias may be null).
void conv2dBackwardWeights(const WindowGeom &g, int64_t outChannels,
                           const float *x, const float *dy, float *dWeight,
                           float *dBias, Scratch &scratch);

//--- Grouped convolution (weights [O, C/groups, KH, KW], bias [O]) ----------//
//
// Output channels [k·O/G, (k+1)·O/G) read input channels [k·C/G, (k+1)·C/G)
// only; groups = C is a depthwise convolution. \p g.c is the full input
// channel count. Depthwise layers run direct loops over the window; other
// groupings gather each group into a contiguous batch, run the ungrouped
// kernel and scatter back; groups = 1 calls it directly.

void conv2dGroupedForward(const WindowGeom &g, int64_t outChannels,
                          int64_t groups, const float *x, const float *weight,
                          const float *bias, float *y, Scratch &scratch);
/// Overwrites dx.
void conv2dGroupedBackwardData(const WindowGeom &g, int64_t outChannels,
                               int64_t groups, const float *dy,
                               const float *weight, float *dx,
                               Scratch &scratch);
/// Overwrites dWeight and dBias (dBias may be null).
void conv2dGroupedBackwardWeights(const WindowGeom &g, int64_t outChannels,
                                  int64_t groups, const float *x,
                                  const float *dy, float *dWeight,
                                  float *dBias, Scratch &scratch);

//--- Dense (weights [U, F] row-major, bias [U]) -----------------------------//

void denseForward(int64_t n, int64_t in, int64_t units, const float *x,
                  const float *weight, const float *bias, float *y);
void denseBackwardData(int64_t n, int64_t in, int64_t units, const float *dy,
                       const float *weight, float *dx);
void denseBackwardWeights(int64_t n, int64_t in, int64_t units,
                          const float *x, const float *dy, float *dWeight,
                          float *dBias);

//--- Pooling ----------------------------------------------------------------//

/// Max pooling; argmax[i] is the flat input index of output i's maximum
/// (padding never wins).
void maxPoolForward(const WindowGeom &g, const float *x, float *y,
                    int32_t *argmax);
/// Overwrites dx.
void maxPoolBackward(const WindowGeom &g, const float *dy,
                     const int32_t *argmax, float *dx);
/// Average pooling over the window, padding counted as zeros (divisor KH*KW).
void avgPoolForward(const WindowGeom &g, const float *x, float *y);
/// Overwrites dx.
void avgPoolBackward(const WindowGeom &g, const float *dy, float *dx);

/// Global average pooling: y[n, c] = mean over the plane of x[n, c].
void globalAvgPoolForward(int64_t n, int64_t c, int64_t plane, const float *x,
                          float *y);
/// dx[n, c, p] = dy[n, c] / plane; overwrites dx.
void globalAvgPoolBackward(int64_t n, int64_t c, int64_t plane,
                           const float *dy, float *dx);

//--- Element-wise -----------------------------------------------------------//

/// y = min(max(x, 0), 6).
void relu6Forward(int64_t count, const float *x, float *y);
/// dx = dy where 0 < y < 6 else 0.
void relu6Backward(int64_t count, const float *y, const float *dy, float *dx);

void reluForward(int64_t count, const float *x, float *y);
/// dx = dy where y > 0 else 0.
void reluBackward(int64_t count, const float *y, const float *dy, float *dx);
void tanhForward(int64_t count, const float *x, float *y);
/// dx = dy (1 - y^2).
void tanhBackward(int64_t count, const float *y, const float *dy, float *dx);
void sigmoidForward(int64_t count, const float *x, float *y);
/// dx = dy y (1 - y).
void sigmoidBackward(int64_t count, const float *y, const float *dy,
                     float *dx);
void addForward(int64_t count, const float *a, const float *b, float *y);
/// y += x.
void accumulate(int64_t count, const float *x, float *y);

//--- Dropout (inverted: kept units are scaled by 1/(1-rate)) -----------------//

/// mask[i] = 0 or 1/(1-rate), a pure function of (seed, stream, i).
void dropoutMask(int64_t count, float rate, uint64_t seed, uint64_t stream,
                 float *mask);
/// y = x * mask (also the backward: dx = dy * mask).
void multiply(int64_t count, const float *x, const float *mask, float *y);

//--- Batch normalisation (per channel over N and the spatial plane) ---------//

/// Training mode: batch statistics. Writes y, xhat and invStd[c]; updates
/// the running statistics with \p runMomentum (PyTorch's convention,
/// unbiased variance) when they are non-null.
void batchNormForwardTrain(int64_t n, int64_t c, int64_t plane,
                           const float *x, const float *gamma,
                           const float *beta, float eps, float *y,
                           float *xhat, float *invStd, float *runMean,
                           float *runVar, float runMomentum);
/// Inference mode: running statistics.
void batchNormForwardInfer(int64_t n, int64_t c, int64_t plane,
                           const float *x, const float *gamma,
                           const float *beta, const float *runMean,
                           const float *runVar, float eps, float *y);
/// dx = γ·invStd/M (M·dy − Σdy − x̂·Σ(dy·x̂)), M = n·plane.
void batchNormBackwardData(int64_t n, int64_t c, int64_t plane,
                           const float *dy, const float *xhat,
                           const float *invStd, const float *gamma,
                           float *dx);
/// dγ = Σ dy·x̂, dβ = Σ dy.
void batchNormBackwardWeights(int64_t n, int64_t c, int64_t plane,
                              const float *dy, const float *xhat,
                              float *dGamma, float *dBeta);

//--- Softmax cross-entropy --------------------------------------------------//

/// Writes softmax probabilities; returns the mean loss over the batch and
/// adds the number of samples whose arg-max equals the label to *correct.
double softmaxCrossEntropyForward(int64_t n, int64_t classes,
                                  const float *logits, const int32_t *labels,
                                  float *probs, int64_t *correct);
/// dlogits = (probs − onehot(label)) / n.
void softmaxCrossEntropyBackward(int64_t n, int64_t classes,
                                 const float *probs, const int32_t *labels,
                                 float *dlogits);

} // namespace runtime
} // namespace layerpipe

#endif // LAYERPIPE_RUNTIME_KERNELS_H
