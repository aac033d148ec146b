//===- Profile.cpp - Timing the runtime's tasks on this machine -----------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// One forward and one backward pass of a synthetic batch leave every
// layer's inputs, output, cache and output gradient in place; then each task
// runs alone, again and again, on those tensors. Timing a task alone keeps
// its working set warm in the cache, which a pipeline interleaving many
// layers does not always do: docs/codegen.md compares these figures with
// the measured trace of a stage program.
//
//===----------------------------------------------------------------------===//

#include "layerpipe/runtime/Profile.h"

#include "layerpipe/runtime/Data.h"
#include "layerpipe/runtime/Optimizer.h"
#include "layerpipe/runtime/Transport.h"

#include <algorithm>
#include <chrono>
#include <thread>

namespace layerpipe {
namespace runtime {

namespace {

using Clock = std::chrono::steady_clock;

template <typename Body>
double medianUs(int warmup, int repeats, Body body) {
  for (int i = 0; i < warmup; ++i)
    body();
  std::vector<double> times;
  for (int i = 0; i < std::max(1, repeats); ++i) {
    auto start = Clock::now();
    body();
    times.push_back(
        std::chrono::duration<double, std::micro>(Clock::now() - start)
            .count());
  }
  std::nth_element(times.begin(), times.begin() + times.size() / 2,
                   times.end());
  return times[times.size() / 2];
}

} // namespace

std::vector<LayerTimes> profileNetwork(const NetSpec &net, int64_t batch,
                                       int warmup, int repeats,
                                       uint64_t seed) {
  initRuntime();
  size_t L = net.layers.size();
  std::vector<std::vector<float>> params, state;
  initParams(net, seed, params, state);
  Dataset data =
      makeSyntheticBlobs(net.inputShape, net.numClasses, batch, seed, 0);
  std::vector<int64_t> order(static_cast<size_t>(batch));
  for (int64_t i = 0; i < batch; ++i)
    order[size_t(i)] = i;
  Tensor x;
  std::vector<int32_t> labels;
  gatherBatch(data, order, 0, batch, x, labels);

  std::vector<Tensor> out(L), delta(L);
  std::vector<LayerCache> cache(L);
  Scratch scratch;
  ForwardContext ctx;
  ctx.training = true;
  ctx.seed = seed;
  ctx.labels = labels.data();
  ctx.scratch = &scratch;
  auto inputsOf = [&](size_t l) {
    std::vector<const Tensor *> ins;
    if (net.layers[l].inputs.empty())
      ins.push_back(&x);
    for (int p : net.layers[l].inputs)
      ins.push_back(&out[size_t(p)]);
    return ins;
  };
  auto paramsOf = [&](size_t l) -> float * {
    return net.layers[l].hasParams() ? params[l].data() : nullptr;
  };
  auto stateOf = [&](size_t l) -> float * {
    return state[l].empty() ? nullptr : state[l].data();
  };
  for (size_t l = 0; l < L; ++l)
    layerForward(net.layers[l], paramsOf(l), stateOf(l), inputsOf(l), out[l],
                 cache[l], ctx);
  std::vector<Tensor> grads;
  for (size_t l = L; l-- > 0;) {
    const LayerSpec &spec = net.layers[l];
    if (spec.inputs.empty())
      continue;
    layerBackwardData(spec, paramsOf(l), inputsOf(l), out[l], cache[l],
                      delta[l], grads, scratch);
    for (size_t i = 0; i < spec.inputs.size(); ++i) {
      Tensor &dst = delta[size_t(spec.inputs[i])];
      if (dst.empty())
        dst = grads[i];
      else
        accumulate(dst.size(), grads[i].ptr(), dst.ptr());
    }
  }

  std::vector<LayerTimes> times(L);
  for (size_t l = 0; l < L; ++l) {
    const LayerSpec &spec = net.layers[l];
    LayerTimes &t = times[l];
    std::vector<const Tensor *> ins = inputsOf(l);
    Tensor y;
    LayerCache c;
    t.forward = medianUs(warmup, repeats, [&] {
      layerForward(spec, paramsOf(l), stateOf(l), ins, y, c, ctx);
    });
    if (!spec.inputs.empty())
      t.activationGradient = medianUs(warmup, repeats, [&] {
        layerBackwardData(spec, paramsOf(l), ins, out[l], cache[l], delta[l],
                          grads, scratch);
      });
    if (!spec.hasParams())
      continue;
    std::vector<float> g(params[l].size()), w = params[l],
                                            m(params[l].size(), 0.0f);
    t.weightGradient = medianUs(warmup, repeats, [&] {
      layerBackwardWeights(spec, ins, out[l], cache[l], delta[l], g.data(),
                           scratch);
    });
    t.update = medianUs(warmup, repeats, [&] {
      sgdUpdate(int64_t(w.size()), 1e-9f, 0.9f, 0.0f, w.data(), m.data(),
                g.data());
    });
  }
  return times;
}

double measureThreadMessageUs(int repeats, int64_t bytes) {
  std::unique_ptr<Transport> transport = makeThreadTransport(2, {});
  auto payload = std::make_shared<Value>();
  payload->tensor.reshape({std::max<int64_t>(0, bytes) / 4}, 1.0f);
  ValuePtr value = payload;
  int rounds = std::max(1, repeats);
  std::thread echo([&] {
    for (int i = 0; i < rounds; ++i)
      transport->send(1, 0, uint64_t(i),
                      transport->receive(1, 0, uint64_t(i)));
  });
  std::vector<double> times;
  for (int i = 0; i < rounds; ++i) {
    auto start = Clock::now();
    transport->send(0, 1, uint64_t(i), value);
    transport->receive(0, 1, uint64_t(i));
    times.push_back(
        std::chrono::duration<double, std::micro>(Clock::now() - start)
            .count() /
        2);
  }
  echo.join();
  std::nth_element(times.begin(), times.begin() + times.size() / 2,
                   times.end());
  return times[times.size() / 2];
}

} // namespace runtime
} // namespace layerpipe
