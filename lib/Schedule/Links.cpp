//===- Links.cpp - Link channels as a scheduled resource ------------------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// Places the transfers of a periodic schedule on the channels of the link
// topology (Links.h), and measures how busy each processor's link is.
//
//===----------------------------------------------------------------------===//

#include "Links.h"

#include "Reservation.h"
#include "ScheduleInternal.h"

#include "llvm/Support/FormatVariadic.h"

#include <climits>
#include <cstdint>
#include <map>
#include <numeric>
#include <tuple>
#include <unordered_map>

using namespace llvm;

namespace layerpipe {

LinkChannels linkChannels(LinkTopology topology, unsigned procs,
                          unsigned from, unsigned to) {
  switch (topology) {
  case LinkTopology::Switch:
    return {int64_t(from), int64_t(procs) + to};
  case LinkTopology::PointToPoint:
    return {int64_t(from) * procs + to, -1};
  case LinkTopology::Bus:
    return {0, -1};
  }
  return {0, -1};
}

std::string linkChannelName(LinkTopology topology, unsigned procs,
                            int64_t id) {
  switch (topology) {
  case LinkTopology::Switch:
    return id < int64_t(procs) ? formatv("link out of P{0}", id).str()
                               : formatv("link into P{0}", id - procs).str();
  case LinkTopology::PointToPoint:
    return formatv("link P{0}->P{1}", id / procs, id % procs).str();
  case LinkTopology::Bus:
    return "the shared bus";
  }
  return "link";
}

double LinkTables::find(unsigned from, unsigned to, double release,
                        double duration, double latest) const {
  if (duration <= eps)
    return release;
  LinkChannels ch = linkChannels(topology, procs, from, to);
  const Reservation *a = table(ch.first);
  const Reservation *b = ch.second >= 0 ? table(ch.second) : nullptr;
  if (duration > T + eps)
    return -1;
  auto mod = [&](double x) {
    double r = std::fmod(x, T);
    return r < 0 ? r + T : r;
  };
  // Alternate between the channels until both are free at the same time
  // (each step moves forward; the window bounds the search).
  double x = release;
  for (unsigned step = 0; step < 64 && x <= latest + eps; ++step) {
    double xa = x;
    if (a) {
      double r = mod(x);
      double y = a->findSlot(r, duration, T, eps);
      if (y < 0)
        return -1;
      xa = x - r + y;
    }
    if (!b)
      return xa <= latest + eps ? xa : -1;
    double rb = mod(xa);
    double yb = b->findSlot(rb, duration, T, eps);
    if (yb < 0)
      return -1;
    double xb = xa - rb + yb;
    if (xb <= xa + eps)
      return xa <= latest + eps ? xa : -1;
    x = xb;
  }
  return -1;
}

void LinkTables::reserve(unsigned from, unsigned to, double x,
                         double duration) {
  if (duration <= eps)
    return;
  LinkChannels ch = linkChannels(topology, procs, from, to);
  tables[ch.first].reserve(x, duration, T, eps);
  if (ch.second >= 0)
    tables[ch.second].reserve(x, duration, T, eps);
}

bool placeTransfers(LinkTopology topology, unsigned procs, double period,
                    const std::vector<LinkRequest> &requests,
                    std::vector<double> &start, size_t *failed) {
  start.assign(requests.size(), -1);
  std::vector<size_t> order(requests.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (requests[a].latest != requests[b].latest)
      return requests[a].latest < requests[b].latest;
    return requests[a].release < requests[b].release;
  });
  LinkTables links(topology, procs, period);
  for (size_t k : order) {
    const LinkRequest &q = requests[k];
    double x = links.find(q.from, q.to, q.release, q.duration, q.latest);
    if (x < 0) {
      if (failed)
        *failed = k;
      return false;
    }
    start[k] = x;
    links.reserve(q.from, q.to, x, q.duration);
  }
  return true;
}

Error scheduleLinks(Schedule &S, size_t *failedDep) {
  if (!S.periodic)
    return Error::success();
  std::vector<LinkRequest> requests;
  std::vector<unsigned> depOf;
  // One transfer per tensor and destination processor, in time for its
  // earliest consumer there.
  std::map<std::tuple<unsigned, unsigned, int64_t>, size_t> request;
  std::vector<size_t> requestOf(S.deps.size(), SIZE_MAX);
  for (unsigned d = 0; d < S.deps.size(); ++d) {
    ScheduleDep &dep = S.deps[d];
    dep.linkStart = -1;
    const ScheduledTask &u = S.tasks[dep.src];
    const ScheduledTask &v = S.tasks[dep.dst];
    if (u.proc == v.proc || dep.occupancy() <= timeEpsilon(S))
      continue;
    double latest = v.start + dep.distance * S.period - dep.transferUs;
    auto [it, added] =
        request.try_emplace({dep.src, v.proc, dep.bytes}, requests.size());
    requestOf[d] = it->second;
    if (!added) {
      LinkRequest &q = requests[it->second];
      q.latest = std::min(q.latest, latest);
      continue;
    }
    requests.push_back({u.proc, v.proc, u.end(), latest, dep.occupancy()});
    depOf.push_back(d);
  }
  std::vector<double> start;
  size_t failed = 0;
  if (!placeTransfers(S.topology, S.procs, S.period, requests, start,
                      &failed)) {
    const ScheduleDep &dep = S.deps[depOf[failed]];
    if (failedDep)
      *failedDep = depOf[failed];
    return createStringError(
        inconvertibleErrorCode(),
        "no room on the links for the transfer '%s' -> '%s' (%.1f us, P%u to "
        "P%u) at period %.1f",
        S.tasks[dep.src].name.c_str(), S.tasks[dep.dst].name.c_str(),
        dep.transferUs, S.tasks[dep.src].proc, S.tasks[dep.dst].proc,
        S.period);
  }
  for (unsigned d = 0; d < S.deps.size(); ++d)
    if (requestOf[d] != SIZE_MAX)
      S.deps[d].linkStart = start[requestOf[d]];
  return Error::success();
}

std::vector<int> sharedTransfers(const Schedule &S) {
  std::vector<int> shared(S.deps.size(), -1);
  std::map<std::tuple<unsigned, unsigned, int64_t, double>, int> first;
  for (unsigned d = 0; d < S.deps.size(); ++d) {
    const ScheduleDep &dep = S.deps[d];
    unsigned to = S.tasks[dep.dst].proc;
    if (S.tasks[dep.src].proc == to)
      continue;
    shared[d] = first.try_emplace({dep.src, to, dep.bytes, dep.linkStart},
                                  int(d))
                    .first->second;
  }
  return shared;
}

std::vector<std::pair<int64_t, double>> computeChannelBusy(const Schedule &S) {
  std::unordered_map<int64_t, double> channel;
  std::vector<int> shared = sharedTransfers(S);
  for (unsigned d = 0; d < S.deps.size(); ++d) {
    if (shared[d] != int(d))
      continue;
    const ScheduleDep &dep = S.deps[d];
    const ScheduledTask &u = S.tasks[dep.src];
    const ScheduledTask &v = S.tasks[dep.dst];
    LinkChannels ch = linkChannels(S.topology, S.procs, u.proc, v.proc);
    channel[ch.first] += dep.occupancy();
    if (ch.second >= 0)
      channel[ch.second] += dep.occupancy();
  }
  std::vector<std::pair<int64_t, double>> list(channel.begin(), channel.end());
  std::sort(list.begin(), list.end());
  return list;
}

std::vector<double> computeLinkBusy(const Schedule &S) {
  // Per processor: its busiest channel.
  std::vector<double> busy(S.procs, 0);
  for (auto [id, time] : computeChannelBusy(S)) {
    switch (S.topology) {
    case LinkTopology::Switch: {
      unsigned p = unsigned(id < int64_t(S.procs) ? id : id - S.procs);
      busy[p] = std::max(busy[p], time);
      break;
    }
    case LinkTopology::PointToPoint: {
      unsigned a = unsigned(id / S.procs), b = unsigned(id % S.procs);
      busy[a] = std::max(busy[a], time);
      busy[b] = std::max(busy[b], time);
      break;
    }
    case LinkTopology::Bus:
      for (double &b : busy)
        b = std::max(b, time);
      break;
    }
  }
  return busy;
}

} // namespace layerpipe
