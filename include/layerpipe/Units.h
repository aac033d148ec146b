//===- Units.h - Human-readable magnitudes ----------------------*- C++ -*-===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// One way to print times, sizes, rates and fractions in every output meant
// for people (summaries, chart titles, the HTML metrics table), so that a
// period reads "1.25 ms" and a peak memory "12.4 MiB" wherever it appears.
// Machine-readable outputs (JSON) keep plain numbers in fixed units.
//
//===----------------------------------------------------------------------===//

#ifndef LAYERPIPE_UNITS_H
#define LAYERPIPE_UNITS_H

#include <cstdint>
#include <string>

namespace layerpipe {

/// A time given in microseconds as "850 us", "1.25 ms" or "3.40 s", with
/// three significant digits. \p micro is the microsecond symbol ("us" for
/// terminals, "µs" for HTML and SVG).
std::string formatDuration(double us, const char *micro = "us");

/// A size in bytes as "512 B", "1.50 KiB", "12.4 MiB" or "2.00 GiB"; with
/// \p decimals >= 0, that many decimals instead of three significant digits
/// (tables whose columns align: "990.8 MiB").
std::string formatBytes(double bytes, int decimals = -1);

/// A rate as "950", "12.3 k", "4.56 M" followed by \p unit
/// ("samples/s").
std::string formatRate(double perSecond, const char *unit = "samples/s");

/// A fraction (0.125) as a percentage ("12.5%").
std::string formatPercent(double fraction);

/// Samples per second of a schedule that handles \p samples samples every
/// \p us microseconds; 0 when \p us is not positive.
double samplesPerSecond(double samples, double us);

} // namespace layerpipe

#endif // LAYERPIPE_UNITS_H
