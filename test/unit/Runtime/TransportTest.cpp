//===- TransportTest.cpp - Mailboxes between threads, sleeping or polling -===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// The threads transport with receivers that sleep and receivers that poll:
// every message arrives once, by tag and not in send order; a polling
// receiver whose message comes after its spin limit still gets it (it has
// gone to sleep by then); an abort stops a polling receiver promptly.
//
//===----------------------------------------------------------------------===//

#include "layerpipe/runtime/Transport.h"

#include <doctest/doctest.h>

#include <chrono>
#include <thread>

using namespace layerpipe::runtime;

namespace {

ValuePtr number(double x) {
  auto v = std::make_shared<Value>();
  v->loss = x;
  return v;
}

/// Endpoint 0 sends \p n messages to 1, tags in reverse order, while 1
/// receives them in tag order and answers each; returns the sum 1 read.
double pingPong(bool poll, int n) {
  std::unique_ptr<Transport> t = makeThreadTransport(2, {});
  t->setPolling(0, poll);
  t->setPolling(1, poll);
  double sum = 0;
  std::thread echo([&] {
    for (int i = 0; i < n; ++i) {
      sum += t->receive(1, 0, uint64_t(i))->loss;
      t->send(1, 0, uint64_t(i), number(i));
    }
  });
  for (int i = n - 1; i >= 0; --i)
    t->send(0, 1, uint64_t(i), number(i));
  for (int i = 0; i < n; ++i)
    CHECK(t->receive(0, 1, uint64_t(i))->loss == doctest::Approx(i));
  echo.join();
  return sum;
}

} // namespace

TEST_CASE("messages arrive by tag whether receivers sleep or poll") {
  for (bool poll : {false, true}) {
    CAPTURE(poll);
    CHECK(pingPong(poll, 500) == doctest::Approx(500.0 * 499 / 2));
  }
}

TEST_CASE("a polling receiver gets a message sent after its spin limit") {
  std::unique_ptr<Transport> t = makeThreadTransport(2, {});
  t->setPolling(1, true);
  std::thread late([&] {
    // Well past the 1 ms a receiver spins before it sleeps.
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    t->send(0, 1, 7, number(3.5));
  });
  CHECK(t->receive(1, 0, 7)->loss == doctest::Approx(3.5));
  late.join();
}

TEST_CASE("an abort stops a polling receiver") {
  std::unique_ptr<Transport> t = makeThreadTransport(2, {});
  t->setPolling(1, true);
  auto start = std::chrono::steady_clock::now();
  std::thread stopper([&] {
    std::this_thread::sleep_for(std::chrono::microseconds(300));
    t->abort("stopped by the test");
  });
  CHECK_THROWS_AS(t->receive(1, 0, 1), TransportAborted);
  stopper.join();
  CHECK(t->abortReason() == "stopped by the test");
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
}
