//===- ZeroBubble.cpp - Zero Bubble's greedy stage orders -----------------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// Zero Bubble's automatic scheduler, rebuilt from the rules of the paper and
// of its reference implementation (sail-sg/zero-bubble-pipeline-
// parallelism): it walks the micro-batches in order and, per micro-batch,
// puts the F of every stage that should run one now (top to bottom) and the
// B of every stage (bottom to top). The first micro-batch decides each
// stage's warm-up: as many F as fit before the first B could come back.
// Before an F or a B that would wait for its input, the stage runs pending W
// while they fit into the wait, and one more W when the wait is longer than
// the bubbles the other stages already have (or always, in the greedy
// variant). W also runs whenever one more F would exceed the memory limit.
// Each put is timed as the heuristic times it (end of the stage's previous
// action, or the input's arrival); the caller re-times the resulting order
// in its own model.
//
//===----------------------------------------------------------------------===//

#include "ZeroBubble.h"

#include <algorithm>

namespace layerpipe {

namespace {

class Builder {
public:
  Builder(const ZeroBubbleInput &in) : in(in), p(in.stages), m(in.microBatches) {
    for (unsigned k = 0; k < 3; ++k)
      done[k].assign(p, std::vector<double>(m, 0.0));
    count.assign(3, std::vector<unsigned>(p, 0));
    end.assign(p, 0);
    mem.assign(p, 0);
    bubble.assign(p, 0);
    order.assign(p, {});
  }

  double cost(unsigned kind, unsigned s) const {
    return kind == 0 ? in.forward[s] : kind == 1 ? in.backward[s] : in.weight[s];
  }
  double memOf(unsigned kind, unsigned s) const {
    return kind == 0 ? in.memory[s] : kind == 1 ? 0.0 : -in.memory[s];
  }
  double maxBubble() const {
    return *std::max_element(bubble.begin(), bubble.end());
  }
  unsigned &f(unsigned s) { return count[0][s]; }
  unsigned &b(unsigned s) { return count[1][s]; }
  unsigned &w(unsigned s) { return count[2][s]; }
  /// Arrival of the input of the F of micro-batch i on stage s (s > 0).
  double forwardReady(unsigned s, unsigned i) const {
    return i < m ? done[0][s - 1][i] + in.sendForward[s - 1] : 0;
  }
  double backwardReady(unsigned s, unsigned i) const {
    return i < m ? done[1][s + 1][i] + in.sendBackward[s] : 0;
  }

  void put(unsigned s, unsigned kind) {
    unsigned i = count[kind][s];
    double c = cost(kind, s);
    double t = end[s] + c, noBubble = t;
    if (s > 0 && kind == 0)
      t = std::max(t, forwardReady(s, i) + c);
    if (s + 1 < p && kind == 1)
      t = std::max(t, backwardReady(s, i) + c);
    if (count[0][s] > 0)
      bubble[s] += t - noBubble;
    end[s] = t;
    if (i < m)
      done[kind][s][i] = t;
    mem[s] += memOf(kind, s);
    order[s].push_back({ZeroBubbleAction::Kind(kind), i});
    ++count[kind][s];
  }

  /// Before an action whose input arrives at \p ready: W that fit into the
  /// wait, and one more by the bubble rule.
  void fillWait(unsigned s, double ready, bool greedy) {
    while (w(s) < b(s) && end[s] + cost(2, s) <= ready)
      put(s, 2);
    if (w(s) < b(s) && end[s] < ready) {
      if (ready - end[s] <= maxBubble() - bubble[s]) {
        if (greedy)
          put(s, 2);
      } else {
        put(s, 2);
      }
    }
  }

  /// W until one more \p kind fits the memory; false if none is left.
  bool makeRoom(unsigned s, unsigned kind) {
    while (mem[s] + memOf(kind, s) > in.maxMemory[s] + 1e-9) {
      if (w(s) >= b(s))
        return false;
      put(s, 2);
    }
    return true;
  }

  bool run(bool allowBubbleBeforeFirstB, bool prioritizeB, bool greedy);

  const ZeroBubbleInput &in;
  unsigned p, m;
  std::vector<std::vector<double>> done[3];
  std::vector<std::vector<unsigned>> count;
  std::vector<double> end, mem, bubble;
  ZeroBubbleOrder order;
};

} // namespace

bool Builder::run(bool allowBubbleBeforeFirstB, bool prioritizeB,
                  bool greedy) {
  for (unsigned i = 0; i < m; ++i) {
    if (i == 0) {
      for (unsigned s = 0; s < p; ++s)
        put(s, 0);
      // Warm-up: per stage, the F that fit before the first B is back.
      std::vector<unsigned> required(p, 0);
      double last = 0;
      for (unsigned s = p; s-- > 0;) {
        if (s == p - 1) {
          last = done[0][s][0] + cost(1, s);
          continue;
        }
        double memory = mem[s], time = end[s];
        double comm = in.sendBackward[s];
        while (f(s) + required[s] < m &&
               memory + memOf(0, s) <= in.maxMemory[s] + 1e-9) {
          if (allowBubbleBeforeFirstB ? time + cost(0, s) > last + comm
                                      : time >= last + comm)
            break;
          memory += memOf(0, s);
          time += cost(0, s);
          ++required[s];
        }
        last = std::max(time, last + comm) + cost(1, s);
      }
      for (unsigned s = 1; s < p; ++s) {
        while (required[s] > 0 && required[s] >= required[s - 1] &&
               f(s) + required[s] < m)
          --required[s];
        // Never more than the stage before: a stage of zero time and
        // memory would otherwise take every F into its warm-up, ahead of
        // the B its predecessor waits for (a deadlock; AlexNet's flatten
        // alone on a stage at 16 processors).
        required[s] = std::min(required[s], required[s - 1]);
      }
      for (unsigned s = 0; s < p; ++s)
        for (unsigned k = 0; k < required[s]; ++k)
          put(s, 0);
      for (unsigned s = p; s-- > 0;)
        put(s, 1);
      continue;
    }
    std::vector<unsigned> required(p, 0);
    for (unsigned s = 0; s < p; ++s) {
      if (f(s) >= m)
        continue;
      if (s + 1 < p && f(s) >= f(s + 1) + 2 && prioritizeB) {
        // The next stage's next F and B, then the transfer: running one
        // more F here is useless if it cannot be used before that.
        double nextPlus =
            end[s + 1] + cost(0, s + 1) + cost(1, s + 1) + in.sendForward[s];
        if (end[s] >= nextPlus)
          continue;
        double wCost = 0, withW = mem[s] + memOf(0, s);
        unsigned wCount = 0;
        while (withW > in.maxMemory[s] + 1e-9 && w(s) + wCount < b(s)) {
          wCost += cost(2, s);
          withW += memOf(2, s);
          ++wCount;
        }
        if (end[s] + cost(0, s) + wCost <= nextPlus) {
          required[s] = 1;
          continue;
        }
        if (nextPlus - end[s] <= maxBubble() - bubble[s])
          continue;
      }
      required[s] = 1;
    }
    for (unsigned s = p - 1; s-- > 0;)
      required[s] = std::min(required[s], required[s + 1]);
    for (unsigned s = 0; s < p; ++s) {
      if (!required[s])
        continue;
      if (!makeRoom(s, 0))
        return false;
      if (s > 0)
        fillWait(s, forwardReady(s, f(s)), greedy);
      put(s, 0);
    }
    for (unsigned s = p; s-- > 0;) {
      if (!makeRoom(s, 1))
        return false;
      if (s + 1 < p)
        fillWait(s, backwardReady(s, i), greedy);
      if (s == 0 && f(s) == m)
        while (w(s) < b(s))
          put(s, 2);
      put(s, 1);
    }
  }
  for (unsigned s = 0; s < p; ++s)
    while (w(s) < m)
      put(s, 2);
  // The walk puts every micro-batch's F, B and W exactly once per stage.
  for (unsigned s = 0; s < p; ++s)
    if (f(s) != m || b(s) != m || w(s) != m)
      return false;
  return true;
}

std::optional<ZeroBubbleOrder> zeroBubbleOrder(const ZeroBubbleInput &input,
                                               unsigned variant) {
  if (input.stages == 0 || input.microBatches == 0)
    return std::nullopt;
  Builder builder(input);
  if (!builder.run(variant & 1, variant & 2, variant & 4))
    return std::nullopt;
  return std::move(builder.order);
}

} // namespace layerpipe
