//===- MpiTransport.cpp - Stage programs across MPI ranks ----------------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// One processor of the schedule per rank; the host endpoint (P) lives on
// rank 0. Every rank has one communication thread that makes all the MPI
// calls of the transport: it posts the non-blocking sends the processor
// thread queued (keeping each buffer until its send completes), receives
// whatever arrives (MPI_Iprobe, then MPI_Recv of that exact message) into
// the rank's mailboxes, and answers each message taken by a receiver with a
// credit to its sender. The processor thread never waits for a send to
// drain: it only waits when the channel already holds its capacity of
// messages not yet taken by the receiving processor, as with threads.
//
// MPI tags only say what a message is; the 64-bit value tag travels in the
// message's header and receivers match (endpoint, sender, tag) in software,
// in their own schedule order. MPI keeps the messages of one sender in
// order, so a rank's "done" (sent after all its other messages) tells its
// peers that nothing more will come from it.
//
//===----------------------------------------------------------------------===//

#include "layerpipe/runtime/Mpi.h"

#include "layerpipe/runtime/Serialize.h"

#include <mpi.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <algorithm>
#include <list>
#include <map>
#include <mutex>
#include <thread>
#include <unistd.h>

namespace layerpipe {
namespace runtime {

namespace {

/// What an MPI message is (its MPI tag).
enum MessageType : int { Data = 1, Credit = 2, Abort = 3, Done = 4 };

struct Header {
  uint32_t from = 0, to = 0; ///< endpoints
  uint64_t tag = 0;
};

class MpiTransport final : public Transport {
public:
  MpiTransport(MPI_Comm comm, unsigned endpoints,
               std::vector<int64_t> capacity)
      : comm_(comm), endpoints_(endpoints), capacity_(std::move(capacity)),
        outstanding_(size_t(endpoints) * endpoints, 0),
        sentBytes_(size_t(endpoints) * endpoints) {
    MPI_Comm_rank(comm_, &rank_);
    MPI_Comm_size(comm_, &ranks_);
    for (auto &b : sentBytes_)
      b.store(0);
    thread_ = std::thread([this] { loop(); });
  }

  ~MpiTransport() override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!aborted_) {
        // A clean end: tell every peer, and serve them until they say the
        // same (they may still send credits for what we sent them).
        for (int r = 0; r < ranks_; ++r)
          if (r != rank_)
            queue(r, Done, {});
      }
      stopping_ = true;
    }
    thread_.join();
  }

  unsigned rankOf(unsigned endpoint) const {
    return endpoint + 1 >= endpoints_ ? 0 : endpoint;
  }

  void send(unsigned from, unsigned to, uint64_t tag,
            ValuePtr value) override {
    sentBytes_[size_t(from) * endpoints_ + to] += value->bytes();
    if (int(rankOf(to)) == rank_) {
      deliver(from, to, tag, std::move(value));
      return;
    }
    std::vector<char> buffer;
    ByteWriter out(buffer);
    out.put(Header{from, to, tag});
    writeValue(out, *value);
    value.reset();
    std::unique_lock<std::mutex> lock(mutex_);
    size_t channel = size_t(from) * endpoints_ + to;
    int64_t limit = capacity_[channel];
    wake_.wait(lock, [&] {
      return aborted_ || limit <= 0 || outstanding_[channel] < limit;
    });
    throwIfAborted();
    ++outstanding_[channel];
    queue(int(rankOf(to)), Data, std::move(buffer));
  }

  ValuePtr receive(unsigned at, unsigned from, uint64_t tag) override {
    std::unique_lock<std::mutex> lock(mutex_);
    auto key = std::make_tuple(at, from, tag);
    std::map<std::tuple<unsigned, unsigned, uint64_t>, ValuePtr>::iterator it;
    wake_.wait(lock, [&] {
      if (aborted_)
        return true;
      it = mailbox_.find(key);
      return it != mailbox_.end();
    });
    throwIfAborted();
    ValuePtr value = std::move(it->second);
    mailbox_.erase(it);
    if (int(rankOf(from)) != rank_ &&
        capacity_[size_t(from) * endpoints_ + at] > 0) {
      std::vector<char> buffer;
      ByteWriter out(buffer);
      out.put(Header{from, at, tag});
      queue(int(rankOf(from)), Credit, std::move(buffer));
    }
    return value;
  }

  void abort(const std::string &reason) override {
    std::string text = "rank " + std::to_string(rank_) + ": " + reason;
    std::lock_guard<std::mutex> lock(mutex_);
    if (aborted_)
      return;
    setAborted(text);
    for (int r = 0; r < ranks_; ++r)
      if (r != rank_)
        queue(r, Abort, std::vector<char>(text.begin(), text.end()));
  }

  std::string abortReason() const override {
    std::lock_guard<std::mutex> lock(mutex_);
    return reason_;
  }

  int64_t bytesSent(unsigned from, unsigned to) const override {
    return sentBytes_[size_t(from) * endpoints_ + to].load();
  }

private:
  struct Outgoing {
    int rank;
    int type;
    std::vector<char> buffer;
    MPI_Request request = MPI_REQUEST_NULL;
  };

  /// With mutex_ held.
  void queue(int rank, int type, std::vector<char> buffer) {
    outbox_.push_back(Outgoing{rank, type, std::move(buffer)});
  }

  /// With mutex_ held.
  void setAborted(const std::string &reason) {
    if (reason_.empty())
      reason_ = reason;
    aborted_ = true;
    wake_.notify_all();
  }

  void throwIfAborted() const {
    if (aborted_)
      throw TransportAborted(reason_);
  }

  void deliver(unsigned from, unsigned to, uint64_t tag, ValuePtr value) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!mailbox_.emplace(std::make_tuple(to, from, tag), std::move(value))
             .second)
      setAborted("internal error: message tag " + std::to_string(tag) +
                 " sent twice from endpoint " + std::to_string(from));
    wake_.notify_all();
  }

  /// Handles one arrived message (without mutex_).
  void arrived(int source, int type, const std::vector<char> &buffer) {
    if (type == Data) {
      try {
        ByteReader in(buffer.data(), buffer.size());
        Header h = in.get<Header>();
        auto value = std::make_shared<Value>();
        readValue(in, *value);
        deliver(h.from, h.to, h.tag, std::move(value));
      } catch (const std::exception &e) {
        std::lock_guard<std::mutex> lock(mutex_);
        setAborted("rank " + std::to_string(rank_) +
                   ": a malformed message from rank " +
                   std::to_string(source) + ": " + e.what());
      }
      return;
    }
    std::lock_guard<std::mutex> lock(mutex_);
    if (type == Credit) {
      ByteReader in(buffer.data(), buffer.size());
      Header h = in.get<Header>();
      --outstanding_[size_t(h.from) * endpoints_ + h.to];
      wake_.notify_all();
    } else if (type == Abort) {
      setAborted(std::string(buffer.begin(), buffer.end()));
    } else if (type == Done) {
      ++doneFrom_;
    }
  }

  void loop() {
    std::list<Outgoing> pending;
    int idle = 0;
    std::vector<char> incoming;
    for (;;) {
      bool busy = false;
      std::deque<Outgoing> batch;
      bool stop = false, aborted = false;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        batch.swap(outbox_);
        stop = stopping_;
        aborted = aborted_;
        if (stop && !aborted && doneFrom_ == ranks_ - 1 && batch.empty() &&
            pending.empty())
          break;
      }
      if (stop && aborted) {
        // Give the abort notices half a second to leave; MPI_Abort follows.
        for (Outgoing &o : batch) {
          pending.push_back(std::move(o));
          MPI_Isend(pending.back().buffer.data(),
                    int(pending.back().buffer.size()), MPI_BYTE,
                    pending.back().rank, pending.back().type, comm_,
                    &pending.back().request);
        }
        auto until = std::chrono::steady_clock::now() +
                     std::chrono::milliseconds(500);
        while (std::chrono::steady_clock::now() < until) {
          int all = 0;
          for (Outgoing &o : pending)
            MPI_Test(&o.request, &all, MPI_STATUS_IGNORE);
          bool done = true;
          for (Outgoing &o : pending)
            done = done && o.request == MPI_REQUEST_NULL;
          if (done)
            break;
          std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
        break;
      }
      for (Outgoing &o : batch) {
        pending.push_back(std::move(o));
        Outgoing &p = pending.back();
        MPI_Isend(p.buffer.data(), int(p.buffer.size()), MPI_BYTE, p.rank,
                  p.type, comm_, &p.request);
        busy = true;
      }
      for (auto it = pending.begin(); it != pending.end();) {
        int done = 0;
        MPI_Test(&it->request, &done, MPI_STATUS_IGNORE);
        if (done) {
          it = pending.erase(it);
          busy = true;
        } else {
          ++it;
        }
      }
      int flag = 0;
      MPI_Status status;
      MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, comm_, &flag, &status);
      if (flag) {
        int count = 0;
        MPI_Get_count(&status, MPI_BYTE, &count);
        incoming.resize(size_t(count));
        MPI_Recv(incoming.data(), count, MPI_BYTE, status.MPI_SOURCE,
                 status.MPI_TAG, comm_, MPI_STATUS_IGNORE);
        arrived(status.MPI_SOURCE, status.MPI_TAG, incoming);
        busy = true;
      }
      if (busy) {
        idle = 0;
      } else if (++idle > 64) {
        // Nothing to do: sleep a little rather than spin (ranks may share
        // cores).
        std::this_thread::sleep_for(
            std::chrono::microseconds(idle > 10000 ? 100 : 10));
      }
    }
    // An aborted run leaves its sends unfinished: MPI_Abort follows.
  }

  MPI_Comm comm_;
  int rank_ = 0, ranks_ = 1;
  unsigned endpoints_;
  std::vector<int64_t> capacity_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::map<std::tuple<unsigned, unsigned, uint64_t>, ValuePtr> mailbox_;
  std::vector<int64_t> outstanding_; ///< sent, not yet credited, per channel
  std::deque<Outgoing> outbox_;
  std::vector<std::atomic<int64_t>> sentBytes_;
  bool aborted_ = false, stopping_ = false;
  int doneFrom_ = 0;
  std::string reason_;
  std::thread thread_;
};

const char *threadLevelName(int level) {
  switch (level) {
  case MPI_THREAD_SINGLE:
    return "MPI_THREAD_SINGLE";
  case MPI_THREAD_FUNNELED:
    return "MPI_THREAD_FUNNELED";
  case MPI_THREAD_SERIALIZED:
    return "MPI_THREAD_SERIALIZED";
  default:
    return "MPI_THREAD_MULTIPLE";
  }
}

} // namespace

int runStageProgramMpi(int argc, char **argv, NetSpec net, ProgramPlan plan,
                       std::vector<ProcessorFunction> processors) {
  const char *tool = argc > 0 ? argv[0] : "stage-program";
  int provided = MPI_THREAD_SINGLE;
  if (MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided) !=
      MPI_SUCCESS) {
    std::fprintf(stderr, "%s: error: MPI_Init_thread failed\n", tool);
    return 1;
  }
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (provided < MPI_THREAD_MULTIPLE) {
    std::fprintf(stderr,
                 "%s: error: rank %d: the MPI library provides only %s; the "
                 "stage program needs MPI_THREAD_MULTIPLE (its communication "
                 "thread and the host thread both call MPI)\n",
                 tool, rank, threadLevelName(provided));
    MPI_Finalize();
    return 1;
  }
  if (unsigned(size) != plan.processors) {
    std::fprintf(stderr,
                 "%s: error: rank %d: started on %d MPI rank%s, but the "
                 "schedule has %u processors: run it with mpirun -np %u\n",
                 tool, rank, size, size == 1 ? "" : "s", plan.processors,
                 plan.processors);
    MPI_Finalize();
    return 1;
  }
  // The transport's own communicator: its probes never see the collectives
  // the host makes on MPI_COMM_WORLD.
  MPI_Comm comm;
  MPI_Comm_dup(MPI_COMM_WORLD, &comm);
  bool started = false;
  Deployment d;
  d.processors = {unsigned(rank)};
  d.host = rank == 0;
  d.rank = unsigned(rank);
  d.ranks = unsigned(size);
  d.started = &started;
  d.transport = [&](unsigned endpoints, std::vector<int64_t> capacity) {
    return std::unique_ptr<Transport>(
        new MpiTransport(comm, endpoints, std::move(capacity)));
  };
  d.gather = [&](const std::string &blob) {
    int length = int(blob.size());
    std::vector<int> lengths(static_cast<size_t>(size)),
        offsets(static_cast<size_t>(size));
    MPI_Gather(&length, 1, MPI_INT, lengths.data(), 1, MPI_INT, 0,
               MPI_COMM_WORLD);
    std::string all;
    if (rank == 0) {
      int total = 0;
      for (int r = 0; r < size; ++r) {
        offsets[size_t(r)] = total;
        total += lengths[size_t(r)];
      }
      all.resize(size_t(total));
    }
    MPI_Gatherv(blob.data(), length, MPI_BYTE, &all[0], lengths.data(),
                offsets.data(), MPI_BYTE, 0, MPI_COMM_WORLD);
    std::vector<std::string> blobs;
    if (rank == 0)
      for (int r = 0; r < size; ++r)
        blobs.push_back(all.substr(size_t(offsets[size_t(r)]),
                                   size_t(lengths[size_t(r)])));
    return blobs;
  };
  int status = runStageProgram(argc, argv, std::move(net), std::move(plan),
                               std::move(processors), d);
  std::fflush(stdout);
  std::fflush(stderr);
  if (status != 0 && started) {
    // Peers may wait for this rank's messages: stop them all.
    MPI_Abort(MPI_COMM_WORLD, status);
    return status;
  }
  MPI_Comm_free(&comm);
  MPI_Finalize();
  return status;
}


std::string probeMpiLinks(int64_t repeats, MpiLinkFigures &out) {
  int provided = MPI_THREAD_SINGLE;
  if (MPI_Init_thread(nullptr, nullptr, MPI_THREAD_MULTIPLE, &provided) !=
      MPI_SUCCESS)
    return "MPI_Init_thread failed";
  MPI_Comm_rank(MPI_COMM_WORLD, &out.rank);
  MPI_Comm_size(MPI_COMM_WORLD, &out.ranks);
  auto fail = [&](const std::string &message) {
    MPI_Finalize();
    return "rank " + std::to_string(out.rank) + ": " + message;
  };
  if (provided < MPI_THREAD_MULTIPLE)
    return fail(std::string("the MPI library provides only ") +
                threadLevelName(provided) +
                "; the transport needs MPI_THREAD_MULTIPLE");
  if (out.ranks < 2)
    return fail("started on 1 MPI rank: run it with mpirun -np 2");
  MPI_Comm comm;
  MPI_Comm_dup(MPI_COMM_WORLD, &comm);
  out.bytes = {0, int64_t(4) << 10, int64_t(256) << 10, int64_t(4) << 20,
               int64_t(16) << 20};
  out.oneWayUs.clear();
  {
    // Endpoint r lives on rank r (the last endpoint, the stage programs'
    // host, on rank 0); only ranks 0 and 1 exchange messages.
    MpiTransport transport(
        comm, unsigned(out.ranks) + 1,
        std::vector<int64_t>(size_t(out.ranks + 1) * (out.ranks + 1), 0));
    uint64_t tag = 0;
    for (int64_t bytes : out.bytes) {
      // At most about 256 MiB each way per size.
      int64_t rounds = std::max<int64_t>(
          3, std::min<int64_t>(repeats, (int64_t(256) << 20) /
                                            std::max<int64_t>(bytes, 1)));
      auto payload = std::make_shared<Value>();
      payload->tensor.reshape({bytes / 4}, 1.0f);
      ValuePtr value = payload;
      std::vector<double> times;
      for (int64_t i = 0; i < rounds; ++i, ++tag) {
        if (out.rank == 0) {
          auto start = std::chrono::steady_clock::now();
          transport.send(0, 1, tag, value);
          transport.receive(0, 1, tag);
          times.push_back(std::chrono::duration<double, std::micro>(
                              std::chrono::steady_clock::now() - start)
                              .count() /
                          2);
        } else if (out.rank == 1) {
          transport.send(1, 0, tag, transport.receive(1, 0, tag));
        }
      }
      if (out.rank == 0) {
        std::nth_element(times.begin(), times.begin() + times.size() / 2,
                         times.end());
        out.oneWayUs.push_back(times[times.size() / 2]);
      }
    }
  }
  MPI_Comm_free(&comm);
  MPI_Finalize();
  if (out.rank == 0) {
    out.latencyUs = out.oneWayUs.front();
    // The slope between the two largest messages, in bytes per second.
    size_t n = out.oneWayUs.size();
    double dt = out.oneWayUs[n - 1] - out.oneWayUs[n - 2];
    double db = double(out.bytes[n - 1] - out.bytes[n - 2]);
    out.bandwidth =
        1e6 * (dt > 0 ? db / dt
                      : double(out.bytes[n - 1]) /
                            std::max(1e-3, out.oneWayUs[n - 1] - out.latencyUs));
  }
  return "";
}

} // namespace runtime
} // namespace layerpipe
