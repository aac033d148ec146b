//===- Transport.cpp - Mailboxes between processor threads ----------------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// One mailbox per endpoint, guarded by a mutex, with a condition variable
// that both blocked receivers (waiting for a tag) and blocked senders
// (waiting for room on their channel) sleep on. A polling endpoint's
// receiver spins on the mailbox's arrival count instead of sleeping, so a
// sender's notify finds no one to wake. Messages are found by
// (sender, tag), not in arrival order: a processor receives in its own
// schedule order, which need not be its producers' send order.
//
//===----------------------------------------------------------------------===//

#include "layerpipe/runtime/Transport.h"

#include <atomic>
#include <cassert>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

namespace layerpipe {
namespace runtime {

int64_t Value::bytes() const {
  return tensor.bytes() + cache.bytes() +
         int64_t((weights.size() + momentum.size() + average.size()) *
                 sizeof(float));
}

Transport::~Transport() = default;

void Transport::setPolling(unsigned, bool) {}

namespace {

class ThreadTransport final : public Transport {
public:
  ThreadTransport(unsigned endpoints, std::vector<int64_t> capacity)
      : endpoints_(endpoints), capacity_(std::move(capacity)),
        boxes_(endpoints), sentBytes_(size_t(endpoints) * endpoints) {
    for (auto &b : sentBytes_)
      b.store(0);
    for (Mailbox &box : boxes_)
      box.held.assign(endpoints, 0);
  }

  void send(unsigned from, unsigned to, uint64_t tag,
            ValuePtr value) override {
    assert(from < endpoints_ && to < endpoints_);
    int64_t limit = capacity_[size_t(from) * endpoints_ + to];
    sentBytes_[size_t(from) * endpoints_ + to] += value->bytes();
    Mailbox &box = boxes_[to];
    std::unique_lock<std::mutex> lock(box.mutex);
    box.wake.wait(lock, [&] {
      return aborted_.load() || limit <= 0 || box.held[from] < limit;
    });
    throwIfAborted();
    bool inserted =
        box.messages.emplace(std::make_pair(from, tag), std::move(value))
            .second;
    if (!inserted) {
      lock.unlock();
      abort("internal error: message tag " + std::to_string(tag) +
            " sent twice from endpoint " + std::to_string(from));
      throwIfAborted();
    }
    ++box.held[from];
    box.arrivals.fetch_add(1, std::memory_order_release);
    box.wake.notify_all();
  }

  ValuePtr receive(unsigned at, unsigned from, uint64_t tag) override {
    assert(from < endpoints_ && at < endpoints_);
    Mailbox &box = boxes_[at];
    std::unique_lock<std::mutex> lock(box.mutex);
    auto key = std::make_pair(from, tag);
    std::map<std::pair<unsigned, uint64_t>, ValuePtr>::iterator it;
    if (box.polling) {
      auto deadline = std::chrono::steady_clock::now() + SpinLimit;
      for (bool arrived = true;
           arrived && !aborted_.load() && !box.messages.count(key);) {
        uint64_t seen = box.arrivals.load(std::memory_order_acquire);
        lock.unlock();
        arrived = spinUntilArrival(box, seen, deadline);
        lock.lock();
      }
    }
    box.wake.wait(lock, [&] {
      if (aborted_.load())
        return true;
      it = box.messages.find(key);
      return it != box.messages.end();
    });
    throwIfAborted();
    ValuePtr value = std::move(it->second);
    box.messages.erase(it);
    --box.held[from];
    box.wake.notify_all();
    return value;
  }

  void abort(const std::string &reason) override {
    {
      std::lock_guard<std::mutex> lock(reasonMutex_);
      if (reason_.empty())
        reason_ = reason;
    }
    aborted_.store(true);
    for (Mailbox &box : boxes_) {
      std::lock_guard<std::mutex> lock(box.mutex);
      box.wake.notify_all();
    }
  }

  std::string abortReason() const override {
    std::lock_guard<std::mutex> lock(reasonMutex_);
    return reason_;
  }

  int64_t bytesSent(unsigned from, unsigned to) const override {
    return sentBytes_[size_t(from) * endpoints_ + to].load();
  }

  void setPolling(unsigned endpoint, bool poll) override {
    assert(endpoint < endpoints_);
    std::lock_guard<std::mutex> lock(boxes_[endpoint].mutex);
    boxes_[endpoint].polling = poll;
  }

private:
  struct Mailbox {
    std::mutex mutex;
    std::condition_variable wake;
    std::map<std::pair<unsigned, uint64_t>, ValuePtr> messages;
    std::vector<int64_t> held; ///< messages held, per sender
    std::atomic<uint64_t> arrivals{0}; ///< messages ever put here
    bool polling = false;
  };

  /// Spins until \p box holds more than \p seen arrivals or the run is
  /// aborted (true), giving the CPU up now and then in case another thread
  /// (the host's) shares it; false at \p deadline, when the receiver goes
  /// to sleep after all.
  bool spinUntilArrival(const Mailbox &box, uint64_t seen,
                        std::chrono::steady_clock::time_point deadline) const {
    for (unsigned i = 1; box.arrivals.load(std::memory_order_acquire) == seen;
         ++i) {
      if (aborted_.load(std::memory_order_relaxed))
        return true;
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause();
#endif
      if (i % 1024 == 0) {
        if (std::chrono::steady_clock::now() > deadline)
          return false;
        if (i % 8192 == 0)
          std::this_thread::yield();
      }
    }
    return true;
  }
  /// The longest a polling receiver spins: past it, a sender's wake-up
  /// (tens of microseconds on a virtual machine) is a few percent of the
  /// wait at most.
  static constexpr std::chrono::microseconds SpinLimit{1000};

  void throwIfAborted() const {
    if (aborted_.load())
      throw TransportAborted(abortReason());
  }

  unsigned endpoints_;
  std::vector<int64_t> capacity_;
  std::vector<Mailbox> boxes_;
  std::vector<std::atomic<int64_t>> sentBytes_;
  std::atomic<bool> aborted_{false};
  mutable std::mutex reasonMutex_;
  std::string reason_;
};

} // namespace

std::unique_ptr<Transport> makeThreadTransport(unsigned endpoints,
                                               std::vector<int64_t> capacity) {
  capacity.resize(size_t(endpoints) * endpoints, 0);
  return std::make_unique<ThreadTransport>(endpoints, std::move(capacity));
}

} // namespace runtime
} // namespace layerpipe
