//===- TransformerKernels.h - Kernels of the Transformer layers -*- C++ -*-===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// Forward, activation-gradient (B) and weight-gradient (G) kernels of the
// layers a GPT or Llama block is made of, on raw float32 buffers. A sequence
// batch is {N, T, D} row-major, so "rows" below is N·T tokens of width D.
// Token ids travel as floats (exact up to 2^24, far above any vocabulary
// here) because the runtime's one tensor type is float32. Like Kernels.h,
// every reduction runs in a fixed order (bit-for-bit reproducible), and G
// kernels overwrite their outputs. The formulas are in docs/model-format.md
// ("Transformer layers").
//
//===----------------------------------------------------------------------===//

#ifndef LAYERPIPE_RUNTIME_TRANSFORMERKERNELS_H
#define LAYERPIPE_RUNTIME_TRANSFORMERKERNELS_H

#include <cstdint>
#include <vector>

namespace layerpipe {
namespace runtime {

//--- Token embedding (table [V, D]) -----------------------------------------//

/// y[r] = table[ids[r]]. Ids outside [0, vocab) give a zero row (the trainer
/// checks its data before it gets here).
void embeddingForward(int64_t rows, int64_t dim, int64_t vocab,
                      const float *ids, const float *table, float *y);
/// dTable = Σ_r onehot(ids[r]) dy[r]ᵀ; overwrites dTable.
void embeddingBackwardWeights(int64_t rows, int64_t dim, int64_t vocab,
                              const float *ids, const float *dy,
                              float *dTable);

//--- Learned position embedding (table [P, D], P ≥ T) ------------------------//

/// y[n, t] = x[n, t] + table[t].
void positionEmbeddingForward(int64_t n, int64_t t, int64_t dim,
                              const float *x, const float *table, float *y);
/// dTable[t] = Σ_n dy[n, t], rows ≥ T zero; overwrites \p positions rows.
void positionEmbeddingBackwardWeights(int64_t n, int64_t t, int64_t dim,
                                      int64_t positions, const float *dy,
                                      float *dTable);

//--- Layer normalisation over the last dimension (γ, β of width D) ----------//

/// Writes y, x̂ and 1/σ per row (biased variance, as PyTorch).
void layerNormForward(int64_t rows, int64_t dim, const float *x,
                      const float *gamma, const float *beta, float eps,
                      float *y, float *xhat, float *invStd);
/// dx = invStd/D (D·g − Σg − x̂·Σ(g·x̂)), g = dy·γ.
void layerNormBackwardData(int64_t rows, int64_t dim, const float *dy,
                           const float *xhat, const float *invStd,
                           const float *gamma, float *dx);
/// dγ = Σ_rows dy·x̂, dβ = Σ_rows dy.
void layerNormBackwardWeights(int64_t rows, int64_t dim, const float *dy,
                              const float *xhat, float *dGamma,
                              float *dBeta);

//--- RMS normalisation (γ of width D) ---------------------------------------//

/// y = x·r·γ with r = 1/sqrt(mean(x²) + eps) per row, written to \p inv.
void rmsNormForward(int64_t rows, int64_t dim, const float *x,
                    const float *gamma, float eps, float *y, float *inv);
/// dx = r·(g − x·r²·mean(g·x)), g = dy·γ.
void rmsNormBackwardData(int64_t rows, int64_t dim, const float *dy,
                         const float *x, const float *inv, const float *gamma,
                         float *dx);
/// dγ = Σ_rows dy·x·r.
void rmsNormBackwardWeights(int64_t rows, int64_t dim, const float *dy,
                            const float *x, const float *inv, float *dGamma);

//--- Activations -------------------------------------------------------------//

/// GELU, tanh approximation (GPT-2's): 0.5x(1 + tanh(√(2/π)(x + 0.044715x³))).
void geluForward(int64_t count, const float *x, float *y);
void geluBackward(int64_t count, const float *x, const float *dy, float *dx);
/// SiLU: x·σ(x).
void siluForward(int64_t count, const float *x, float *y);
void siluBackward(int64_t count, const float *x, const float *dy, float *dx);
/// SwiGLU on rows of width 2F = [a | b]: y = silu(a)·b, width F.
void swigluForward(int64_t rows, int64_t f, const float *x, float *y);
/// dx = [dy·b·silu'(a) | dy·silu(a)].
void swigluBackward(int64_t rows, int64_t f, const float *x, const float *dy,
                    float *dx);

//--- Causal multi-head self-attention (the core; projections are dense) ------//

/// Geometry: each token's input row is [q (H·dh) | k (KV·dh) | v (KV·dh)];
/// query head h reads key/value head h / (H / KV) (grouped-query attention
/// when KV < H). The output row is the H heads' results side by side.
struct AttentionGeom {
  int64_t n = 0, t = 0, heads = 0, kvHeads = 0, headDim = 0;
  bool rope = false; ///< rotate q and k by position (rotary embedding)
  int64_t inWidth() const { return (heads + 2 * kvHeads) * headDim; }
  int64_t outWidth() const { return heads * headDim; }
};

/// y = softmax(mask(q kᵀ / √dh)) v per sample and head; writes the
/// probabilities {N, H, T, T} (zero above the diagonal) to \p probs.
void attentionForward(const AttentionGeom &g, const float *x, float *y,
                      float *probs);
/// dx (the gradient of q, k and v, same layout as x) from dy; overwrites dx.
void attentionBackward(const AttentionGeom &g, const float *x,
                       const float *probs, const float *dy, float *dx);

} // namespace runtime
} // namespace layerpipe

#endif // LAYERPIPE_RUNTIME_TRANSFORMERKERNELS_H
