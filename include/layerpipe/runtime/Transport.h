//===- Transport.h - Tagged messages between processors ---------*- C++ -*-===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// What a stage program's processors exchange, and the interface that carries
// it. A Value is an immutable tensor bundle (an activation, a forward cache,
// a gradient, a weight version or a loss figure); a message is a Value with a
// 64-bit tag that names what it is (kind, layer, slot, iteration), sent from
// one endpoint to another. Endpoints 0..P-1 are the schedule's processors,
// endpoint P is the host (progress, evaluation, summary).
//
// The generated code never touches a transport: the executor does. The
// threads transport below passes Values by shared pointer (no copy) through
// one bounded mailbox per endpoint; an MPI transport can replace it by
// serialising the same Values, without a change to the generated code.
//
//===----------------------------------------------------------------------===//

#ifndef LAYERPIPE_RUNTIME_TRANSPORT_H
#define LAYERPIPE_RUNTIME_TRANSPORT_H

#include "layerpipe/runtime/Network.h"

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace layerpipe {
namespace runtime {

/// An immutable bundle of what one task produced. Only the fields of its
/// kind are filled.
struct Value {
  Tensor tensor;                 ///< activation, gradient part, ∇W
  LayerCache cache;              ///< forward cache
  std::vector<float> weights;    ///< weights (or batchnorm state)
  std::vector<float> momentum;   ///< momentum buffer (μ ≠ 0)
  std::vector<float> average;    ///< ema moving average (ema, μ = 0)
  double loss = 0;               ///< mean loss of a micro-batch
  int64_t correct = 0, samples = 0;
  int64_t bytes() const;
};
using ValuePtr = std::shared_ptr<const Value>;

/// Thrown out of a blocked send or receive once the run is aborted.
struct TransportAborted : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Tagged point-to-point messages between endpoints.
class Transport {
public:
  virtual ~Transport();
  /// Sends \p value from endpoint \p from to \p to; blocks while the
  /// channel (from, to) holds its capacity of messages.
  virtual void send(unsigned from, unsigned to, uint64_t tag,
                    ValuePtr value) = 0;
  /// Blocks until endpoint \p at holds a message \p tag from \p from, and
  /// takes it.
  virtual ValuePtr receive(unsigned at, unsigned from, uint64_t tag) = 0;
  /// Stops the run: every blocked and later send/receive throws
  /// TransportAborted. The first reason is kept.
  virtual void abort(const std::string &reason) = 0;
  /// The first abort reason, or empty.
  virtual std::string abortReason() const = 0;
  /// Bytes of the messages sent from \p from to \p to so far.
  virtual int64_t bytesSent(unsigned from, unsigned to) const = 0;
  /// Whether endpoint \p endpoint busy-waits for its messages (true) or
  /// sleeps until a sender wakes it (false, the default). Polling is for a
  /// thread with a CPU of its own: its senders then skip the wake-up, which
  /// costs them tens of microseconds on a virtual machine. Call it before
  /// the endpoint's first receive; transports without the choice ignore it.
  virtual void setPolling(unsigned endpoint, bool poll);
};

/// In-process transport between threads: \p endpoints mailboxes;
/// \p capacity[from * endpoints + to] is the most messages the channel
/// holds at once (0: unbounded).
std::unique_ptr<Transport> makeThreadTransport(unsigned endpoints,
                                               std::vector<int64_t> capacity);

} // namespace runtime
} // namespace layerpipe

#endif // LAYERPIPE_RUNTIME_TRANSPORT_H
