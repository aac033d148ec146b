//===- Reservation.h - Busy intervals modulo a period -----------*- C++ -*-===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// Private to lib/Schedule: the reservation table of one resource (a
// processor or a link channel) of a periodic schedule, its busy intervals
// reduced modulo the period.
//
//===----------------------------------------------------------------------===//

#ifndef LAYERPIPE_LIB_SCHEDULE_RESERVATION_H
#define LAYERPIPE_LIB_SCHEDULE_RESERVATION_H

#include <algorithm>
#include <cassert>
#include <cmath>
#include <iterator>
#include <map>

namespace layerpipe {

/// Busy intervals of one processor within [0, T), coalesced.
class Reservation {
public:
  double load = 0;

  /// Earliest offset x in [r, r + T) such that [x, x + t) is free modulo T,
  /// or -1.
  double findSlot(double r, double t, double T, double eps) const {
    if (load + t > T + eps)
      return -1;
    if (busy.empty())
      return r;
    auto first = busy.upper_bound(r);
    if (first != busy.begin() && std::prev(first)->second > r)
      first = std::prev(first);
    double gap = r;
    double wrap = 0;
    double sequenceStart = 0;
    auto it = first;
    for (size_t k = 0; k < busy.size(); ++k) {
      if (it == busy.end()) {
        it = busy.begin();
        wrap = T;
      }
      double s = it->first + wrap, e = it->second + wrap;
      if (k == 0)
        sequenceStart = s;
      if (s - gap >= t - eps)
        return gap;
      gap = std::max(gap, e);
      ++it;
    }
    // The first interval again, one period later.
    if (sequenceStart + T - gap >= t - eps)
      return gap;
    return -1;
  }

  void reserve(double x, double t, double T, double eps) {
    load += t;
    if (t <= 0)
      return;
    double begin = std::fmod(x, T);
    if (begin < 0)
      begin += T;
    if (begin + t <= T + eps) {
      insert(begin, std::min(begin + t, T), eps);
      return;
    }
    insert(begin, T, eps);
    insert(0, begin + t - T, eps);
  }

private:
  std::map<double, double> busy;

  /// Adds [begin, end), coalescing every interval it touches or overlaps.
  /// A task shorter than the tolerance may be given a slot inside a busy
  /// interval (findSlot accepts a gap of -eps); the union must then keep
  /// the longer interval whole, never cut it at the short one's end.
  void insert(double begin, double end, double eps) {
    auto next = busy.lower_bound(begin);
    if (next != busy.begin()) {
      auto prev = std::prev(next);
      if (prev->second >= begin - eps) {
        begin = prev->first;
        end = std::max(end, prev->second);
        busy.erase(prev);
      }
    }
    next = busy.lower_bound(begin);
    while (next != busy.end() && next->first <= end + eps) {
      end = std::max(end, next->second);
      next = busy.erase(next);
    }
    busy[begin] = end;
  }
};

} // namespace layerpipe

#endif // LAYERPIPE_LIB_SCHEDULE_RESERVATION_H
