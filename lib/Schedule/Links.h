//===- Links.h - Link channels as a scheduled resource ----------*- C++ -*-===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// Private to lib/Schedule. Every transfer between two processors occupies
// the channels of its machine's link topology for its whole transfer time
// (latency included) and each channel carries one transfer at a time:
//
//   switch          channel "out of p" and channel "into q" (full duplex)
//   point-to-point  channel "p to q"
//   bus             the one channel of the machine
//
// A periodic schedule gives each transfer a start on its channels, repeated
// every period like the tasks; docs/cost-model.md ("Link contention")
// describes the model.
//
//===----------------------------------------------------------------------===//

#ifndef LAYERPIPE_LIB_SCHEDULE_LINKS_H
#define LAYERPIPE_LIB_SCHEDULE_LINKS_H

#include "layerpipe/CostModel.h"
#include "layerpipe/Schedule.h"

#include "Reservation.h"

#include "llvm/Support/Error.h"

#include <cstdint>
#include <unordered_map>
#include <vector>

namespace layerpipe {

/// The channels a transfer from \p from to \p to occupies: one or two ids
/// (the second -1 when there is one).
struct LinkChannels {
  int64_t first = -1, second = -1;
};
LinkChannels linkChannels(LinkTopology topology, unsigned procs,
                          unsigned from, unsigned to);
/// Human-readable name of channel \p id ("out of P3", "P1->P2", "bus").
std::string linkChannelName(LinkTopology topology, unsigned procs,
                            int64_t id);

/// The reservation tables of the link channels of a periodic schedule.
class LinkTables {
public:
  LinkTables(LinkTopology topology, unsigned procs, double period)
      : topology(topology), procs(procs), T(period),
        eps(1e-9 * std::max(1.0, period)) {}

  /// The earliest start x >= \p release, x <= \p latest, at which every
  /// channel of a transfer from \p from to \p to is free for \p duration
  /// (modulo the period), or -1.
  double find(unsigned from, unsigned to, double release, double duration,
              double latest) const;
  void reserve(unsigned from, unsigned to, double x, double duration);

private:
  LinkTopology topology;
  unsigned procs;
  double T, eps;
  std::unordered_map<int64_t, Reservation> tables;
  const Reservation *table(int64_t id) const {
    auto it = tables.find(id);
    return it == tables.end() ? nullptr : &it->second;
  }
};

/// A transfer to place on the links of a periodic schedule: it may start at
/// \p release or later and must start by \p latest.
struct LinkRequest {
  unsigned from = 0, to = 0;
  double release = 0, latest = 0, duration = 0;
};

/// Gives each request a start within its window such that no channel
/// carries two transfers at once modulo \p period (earliest deadline first,
/// each at the earliest common free time of its channels). Returns false
/// (and the failing request in \p failed) if one does not fit.
bool placeTransfers(LinkTopology topology, unsigned procs, double period,
                    const std::vector<LinkRequest> &requests,
                    std::vector<double> &start, size_t *failed = nullptr);

/// Fills ScheduleDep::linkStart of every transfer of periodic schedule \p S
/// (S.topology); an error names the transfer that finds no room.
/// On failure, \p failedDep (if given) names the dependence whose transfer
/// found no room.
llvm::Error scheduleLinks(Schedule &S, size_t *failedDep = nullptr);

/// Transfers shared by several dependences: a tensor sent from one task to
/// a processor serves every consumer there. For each dependence of \p S
/// the index of the dependence whose transfer it uses (the first with the
/// same producer, destination processor, bytes and link start), or -1 if it
/// stays on one processor.
std::vector<int> sharedTransfers(const Schedule &S);

/// Time each channel is busy per period (or per step): (channel, us),
/// by channel id.
std::vector<std::pair<int64_t, double>> computeChannelBusy(const Schedule &S);

} // namespace layerpipe

#endif // LAYERPIPE_LIB_SCHEDULE_LINKS_H
