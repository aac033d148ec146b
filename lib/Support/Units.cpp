//===- Units.cpp - Human-readable magnitudes ------------------------------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// Three significant digits everywhere: enough to compare two schedules by
// eye, few enough to read at a glance.
//
//===----------------------------------------------------------------------===//

#include "layerpipe/Units.h"

#include <fmt/format.h>

#include <cmath>

namespace layerpipe {

/// \p value with three significant digits ("1.25", "12.5", "125").
static std::string threeDigits(double value) {
  double magnitude = std::fabs(value);
  if (magnitude >= 100 || magnitude == 0)
    return fmt::format("{:.0f}", value);
  if (magnitude >= 10)
    return fmt::format("{:.1f}", value);
  return fmt::format("{:.2f}", value);
}

std::string formatDuration(double us, const char *micro) {
  if (!std::isfinite(us))
    return fmt::format("{} {}", us, micro);
  double magnitude = std::fabs(us);
  if (magnitude >= 1e6)
    return threeDigits(us / 1e6) + " s";
  if (magnitude >= 1e3)
    return threeDigits(us / 1e3) + " ms";
  return threeDigits(us) + " " + micro;
}

std::string formatBytes(double bytes, int decimals) {
  static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  if (!std::isfinite(bytes))
    return fmt::format("{} B", bytes);
  unsigned u = 0;
  while (std::fabs(bytes) >= 1024 && u + 1 < std::size(units)) {
    bytes /= 1024;
    ++u;
  }
  if (u == 0)
    return fmt::format("{:.0f} B", bytes);
  if (decimals >= 0)
    return fmt::format("{:.{}f} {}", bytes, decimals, units[u]);
  return threeDigits(bytes) + " " + units[u];
}

std::string formatRate(double perSecond, const char *unit) {
  if (!std::isfinite(perSecond))
    return fmt::format("{} {}", perSecond, unit);
  double magnitude = std::fabs(perSecond);
  if (magnitude >= 1e9)
    return threeDigits(perSecond / 1e9) + " G " + unit;
  if (magnitude >= 1e6)
    return threeDigits(perSecond / 1e6) + " M " + unit;
  if (magnitude >= 1e4)
    return threeDigits(perSecond / 1e3) + " k " + unit;
  return fmt::format("{:.0f} {}", perSecond, unit);
}

std::string formatPercent(double fraction) {
  return fmt::format("{:.1f}%", 100 * fraction);
}

double samplesPerSecond(double samples, double us) {
  return us > 0 ? samples * 1e6 / us : 0;
}

} // namespace layerpipe
