//===- Random.h - The runtime's deterministic random numbers ----*- C++ -*-===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// SplitMix64, defined here rather than taken from <random> (whose
// distributions differ between standard libraries), so that initial weights,
// dropout masks, synthetic data and epoch orders are the same everywhere a
// stage program runs.
//
//===----------------------------------------------------------------------===//

#ifndef LAYERPIPE_RUNTIME_RANDOM_H
#define LAYERPIPE_RUNTIME_RANDOM_H

#include <cmath>
#include <cstdint>

namespace layerpipe {
namespace runtime {

/// SplitMix64's finaliser: a strong 64-bit mixing function.
inline uint64_t mix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

/// A SplitMix64 stream.
struct SplitMix64 {
  uint64_t state;
  uint64_t next() {
    uint64_t z = mix64(state);
    state += 0x9e3779b97f4a7c15ULL;
    return z;
  }
  /// Uniform in [0, 1) with 24 random bits (exact in float).
  float uniformFloat() { return float(next() >> 40) * (1.0f / 16777216.0f); }
  /// Uniform in [0, 1) with 53 random bits.
  double uniform() {
    return double(next() >> 11) * (1.0 / 9007199254740992.0);
  }
  /// Standard normal (Box-Muller).
  double normal() {
    double u = uniform(), v = uniform();
    return std::sqrt(-2.0 * std::log(1.0 - u)) *
           std::cos(6.283185307179586 * v);
  }
  /// Uniform in [0, n) (modulo bias is negligible for the n used here).
  uint64_t below(uint64_t n) { return next() % n; }
};

} // namespace runtime
} // namespace layerpipe

#endif // LAYERPIPE_RUNTIME_RANDOM_H
