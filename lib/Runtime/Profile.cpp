//===- Profile.cpp - Timing the runtime's tasks on this machine -----------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// One forward and one backward pass of a synthetic batch leave every
// layer's inputs, output, cache and output gradient in place; then whole
// training steps run on those tensors (forward in order, G and B from the
// last layer back, the updates), each task timed where it runs: a task
// alone, repeated, would keep its working set warm in the caches, which a
// training step does not. A layer read by several consumers gets one
// gradient part from each; a stage program's B and G of that layer each add
// the parts up inside the task (they may run on different processors), so
// each timed B and G does the same. docs/profile.md compares these figures
// with the measured trace of a stage program.
//
//===----------------------------------------------------------------------===//

#include "layerpipe/runtime/Profile.h"

#include "layerpipe/runtime/Affinity.h"
#include "layerpipe/runtime/Data.h"
#include "layerpipe/runtime/Optimizer.h"
#include "layerpipe/runtime/StageProgram.h"
#include "layerpipe/runtime/Transport.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <memory>
#include <thread>

namespace layerpipe {
namespace runtime {

namespace {

using Clock = std::chrono::steady_clock;

/// Two CPUs for the two ends of a cross-core measurement, or -1s when the
/// process may use only one (the ends then share it, as the kernel places
/// them).
std::pair<int, int> twoCpus() {
  std::vector<int> cpus = allowedCpus();
  if (cpus.size() < 2)
    return {-1, -1};
  return {cpus[0], cpus[1]};
}

/// Runs \p body on a new thread bound to \p cpu (unbound for -1).
template <typename Body> void onCpu(int cpu, Body body) {
  std::thread worker([&] {
    if (cpu >= 0)
      pinCurrentThread({cpu});
    body();
  });
  worker.join();
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
  // A language model reads token ids and scores one label per token: the
  // blobs' floats become ids in range, the labels one per token.
  for (const LayerSpec &l : net.layers)
    if (l.type == LayerType::Embedding && l.inputs.empty())
      for (int64_t i = 0; i < x.size(); ++i)
        x.data[size_t(i)] = float((i * 31 + 7) % l.vocab);
  if (net.labelsPerSample > 1) {
    labels.resize(size_t(batch * net.labelsPerSample));
    for (size_t i = 0; i < labels.size(); ++i)
      labels[i] = int32_t((i * 7 + 3) % size_t(net.numClasses));
  }

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

  // Then whole training steps, each task timed where it runs in the step,
  // so each finds the caches as a step leaves them.
  std::vector<std::vector<double>> samples(L * 4);
  auto timed = [&](size_t l, int kind, auto body) {
    auto start = Clock::now();
    body();
    samples[l * 4 + size_t(kind)].push_back(
        std::chrono::duration<double, std::micro>(Clock::now() - start)
            .count());
  };
  std::vector<std::vector<float>> grad(L), weights(L), momentum(L);
  std::vector<std::vector<float>> nextWeights(L), nextMomentum(L);
  for (size_t l = 0; l < L; ++l)
    if (net.layers[l].hasParams()) {
      grad[l].assign(params[l].size(), 0.0f);
      weights[l] = params[l];
      momentum[l].assign(params[l].size(), 0.0f);
    }
  // parts[p][k]: the gradient the k-th reader of layer p sends back for it.
  std::vector<std::vector<Tensor>> parts(L);
  std::vector<std::vector<size_t>> partSlot(L);
  for (size_t l = 0; l < L; ++l)
    for (int p : net.layers[l].inputs) {
      partSlot[l].push_back(parts[size_t(p)].size());
      parts[size_t(p)].emplace_back();
    }
  for (size_t p = 0; p < L; ++p)
    for (Tensor &part : parts[p])
      part = delta[p];
  // The output gradient B and G of layer l read: the one part as it is, or
  // the parts added up as a stage program's task does (into delta[l]).
  auto outputGradient = [&](size_t l) -> const Tensor & {
    std::vector<Tensor> &in = parts[l];
    if (in.size() == 1)
      return in[0];
    if (in.size() > 1) {
      delta[l].shape = in[0].shape;
      delta[l].data.assign(in[0].data.begin(), in[0].data.end());
      for (size_t k = 1; k < in.size(); ++k)
        accumulate(delta[l].size(), in[k].ptr(), delta[l].ptr());
    }
    return delta[l];
  };
  std::vector<int64_t> shuffled = epochOrder(data.count, seed, 0);
  Tensor gathered;
  std::vector<int32_t> gatheredLabels;
  for (int step = 0; step < warmup + std::max(1, repeats); ++step) {
    if (step == warmup)
      for (auto &list : samples)
        list.clear();
    for (size_t l = 0; l < L; ++l) {
      const LayerSpec &spec = net.layers[l];
      timed(l, 0, [&] {
        // A layer reading the network input gathers its batch first (a
        // stage program's processor does, per batch).
        if (spec.inputs.empty())
          gatherBatch(data, shuffled, 0, batch, gathered, gatheredLabels);
        layerForward(spec, paramsOf(l), stateOf(l), inputsOf(l), out[l],
                     cache[l], ctx);
      });
    }
    for (size_t l = L; l-- > 0;) {
      const LayerSpec &spec = net.layers[l];
      std::vector<const Tensor *> ins = inputsOf(l);
      if (spec.hasParams())
        timed(l, 2, [&] {
          layerBackwardWeights(spec, ins, out[l], cache[l], outputGradient(l),
                               grad[l].data(), scratch);
        });
      if (spec.inputs.empty())
        continue;
      timed(l, 1, [&] {
        layerBackwardData(spec, paramsOf(l), ins, out[l], cache[l],
                          outputGradient(l), grads, scratch);
      });
      // The parts travel to their producers; the old buffers are reused.
      for (size_t i = 0; i < spec.inputs.size(); ++i)
        std::swap(parts[size_t(spec.inputs[i])][partSlot[l][i]], grads[i]);
    }
    for (size_t l = 0; l < L; ++l)
      if (net.layers[l].hasParams())
        timed(l, 3, [&] {
          // As a stage program's U runs it: weight versions are immutable,
          // so the update writes a new version (a recycled buffer) from a
          // copy of the previous weights and momentum.
          nextWeights[l].assign(weights[l].begin(), weights[l].end());
          nextMomentum[l].assign(momentum[l].begin(), momentum[l].end());
          sgdUpdate(int64_t(nextWeights[l].size()), 1e-9f, 0.9f, 0.0f,
                    nextWeights[l].data(), nextMomentum[l].data(),
                    grad[l].data());
          weights[l].swap(nextWeights[l]);
          momentum[l].swap(nextMomentum[l]);
        });
  }
  auto median = [](std::vector<double> &v) {
    if (v.empty())
      return -1.0;
    std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
    return v[v.size() / 2];
  };
  std::vector<LayerTimes> times(L);
  for (size_t l = 0; l < L; ++l) {
    times[l].forward = median(samples[l * 4]);
    times[l].activationGradient = median(samples[l * 4 + 1]);
    times[l].weightGradient = median(samples[l * 4 + 2]);
    times[l].update = median(samples[l * 4 + 3]);
  }
  return times;
}

namespace {
/// One task of the profiling program: an op of a layer.
struct ProfiledOp {
  OpKind kind;
  int layer;
  /// Gathers a batch again (Processor::reloadInput) instead of running
  /// the op: timed right before the G of a layer reading the data.
  bool reload = false;
};
/// The profiling program's tasks (a processor function is a plain function
/// pointer, so it finds them here; one run at a time), and the orders its
/// rounds take turns running them in.
const std::vector<ProfiledOp> *profiledOps = nullptr;
const std::vector<std::vector<unsigned>> *profiledOrders = nullptr;

void runProfiledOps(Processor &p) {
  const std::vector<ProfiledOp> &ops = *profiledOps;
  const std::vector<std::vector<unsigned>> &orders = *profiledOrders;
  for (int64_t r = p.firstRound(); r < p.endRound(); ++r)
    for (unsigned t : orders[size_t(r) % orders.size()]) {
      if (!p.begin(t, r))
        continue;
      if (ops[t].reload) {
        // The batch of two steps before, as the first stage of a
        // two-stage pipeline gathers it for G: its samples have left the
        // caches since F read them, unlike this step's (18-20 us against
        // 28-41 for LeNet-5).
        p.reloadInput(std::max<int64_t>(0, r - 2));
        p.end();
        continue;
      }
      switch (ops[t].kind) {
      case OpKind::Forward:
        p.forward(ops[t].layer);
        break;
      case OpKind::Loss:
        p.loss(ops[t].layer);
        break;
      case OpKind::ActivationGradient:
        p.backwardData(ops[t].layer);
        break;
      case OpKind::WeightGradient:
        p.backwardWeights(ops[t].layer);
        break;
      case OpKind::Update:
        p.update(ops[t].layer);
        break;
      }
      p.end();
    }
}

/// Sends this process's standard output to /dev/null while it lives (the
/// profiling program's progress and closing lines).
class QuietStdout {
public:
  QuietStdout() {
    std::fflush(stdout);
    saved = dup(STDOUT_FILENO);
    int null = open("/dev/null", O_WRONLY);
    if (saved >= 0 && null >= 0)
      dup2(null, STDOUT_FILENO);
    if (null >= 0)
      close(null);
  }
  ~QuietStdout() {
    std::fflush(stdout);
    if (saved >= 0) {
      dup2(saved, STDOUT_FILENO);
      close(saved);
    }
  }

private:
  int saved = -1;
};
} // namespace

bool profileThroughExecutor(const NetSpec &net, int64_t batch, int warmup,
                            int repeats, uint64_t seed,
                            std::vector<LayerTimes> &times,
                            std::string &error, int cpu) {
  size_t L = net.layers.size();
  std::vector<int64_t> noDelays(L, 0);
  // One round is one training step: F (L for the loss layer) in model
  // order, then the backward ops from the last layer back and the updates.
  // These take two orders, in turns, because a program runs them in one of
  // two ways and their times differ (ResNet-20's B and G 5% apart,
  // docs/profile.md, "Two orders"): a merged BG task (PipeDream, 1F1B,
  // GPipe) runs each layer's B and then its G, and a stage's updates after
  // all of them; separate B and G tasks are listed so that the B chain, on
  // the critical path, goes first and the G tasks follow it, each layer's
  // U right after its G.
  std::vector<ProfiledOp> ops;
  std::vector<std::vector<unsigned>> orders(2);
  {
    OpGraph graph(net, noDelays, WeightPolicy::Sync, 1, 1);
    std::vector<unsigned> forward, backwardData, weightGradient, merged,
        update;
    auto add = [&](OpKind kind, size_t l, std::vector<unsigned> &list,
                   bool reload = false) {
      if (!graph.hasOp(kind, int(l)))
        return;
      ops.push_back({kind, int(l), reload});
      list.push_back(unsigned(ops.size() - 1));
      if (&list == &backwardData || &list == &weightGradient)
        merged.push_back(unsigned(ops.size() - 1));
    };
    for (size_t l = 0; l < L; ++l) {
      add(OpKind::Forward, l, forward);
      add(OpKind::Loss, l, forward);
    }
    for (size_t l = L; l-- > 0;) {
      add(OpKind::ActivationGradient, l, backwardData);
      // A program that has loaded other batches since this step's F
      // gathers the batch again in G (docs/profile.md, "Loading the
      // batch"): timed on its own, so that G is G alone.
      if (net.layers[l].inputs.empty())
        add(OpKind::WeightGradient, l, weightGradient, /*reload=*/true);
      add(OpKind::WeightGradient, l, weightGradient);
    }
    for (size_t l = 0; l < L; ++l)
      add(OpKind::Update, l, update);
    auto &separate = orders[0];
    separate = forward;
    separate.insert(separate.end(), backwardData.begin(), backwardData.end());
    std::vector<int> updateOf(L, -1);
    for (unsigned u : update)
      updateOf[size_t(ops[u].layer)] = int(u);
    for (unsigned g : weightGradient) {
      separate.push_back(g);
      int u = updateOf[size_t(ops[g].layer)];
      if (!ops[g].reload && u >= 0)
        separate.push_back(unsigned(u));
    }
    orders[1] = forward;
    orders[1].insert(orders[1].end(), merged.begin(), merged.end());
    orders[1].insert(orders[1].end(), update.begin(), update.end());
  }

  ProgramPlan plan;
  plan.model = "profile";
  plan.schedule = "layerpipe-profile";
  plan.delaysRule = "none";
  plan.delays = noDelays;
  plan.defaultBatch = batch;
  plan.placement.assign(L, {-1, -1, -1, -1, -1});
  plan.capacity = {0};
  for (const ProfiledOp &op : ops) {
    plan.placement[size_t(op.layer)][size_t(op.kind)] = 0;
    TaskInfo task;
    task.kind = op.reload ? "R" : opKindPrefix(op.kind);
    task.name = task.kind + "." + net.layers[size_t(op.layer)].name;
    plan.tasks.push_back(task);
  }
  // A network reading token ids trains on text; the others on synthetic
  // blobs. Evaluation: one batch.
  bool text = false;
  for (const LayerSpec &l : net.layers)
    text |= l.type == LayerType::Embedding && l.inputs.empty();

  // Each task's figure is the mean of its work over the timed steps, not
  // the median: a round's length is the sum of its tasks, and with a tail
  // of slow instances (a few percent of them, each several times the
  // median) the median round is near the sum of the means, well above the
  // sum of the medians (LeNet-5 at batch 4: 474 us of medians, 522 of
  // means, 527 measured per step). The mean needs many samples of a tail,
  // so a run of small tasks lasts about a second (at least \p repeats
  // steps, at most 5,000).
  // mean[t][k]: task t's mean over the rounds of order k (the rounds take
  // turns, so round i runs order i % 2).
  std::vector<std::array<double, 2>> mean;
  auto runSteps = [&](int64_t steps) {
    // The training set: at least 64 MiB of samples (more than a CPU's
    // caches hold), so that a batch is gathered from memory as from
    // Fashion-MNIST's 188 MB: LeNet-5's gather of 64 samples took 32 us
    // from 2,048 samples and 44-47 from 21,400 or more (docs/profile.md).
    // Epochs of at most 32 steps (Deployment::stepsPerEpoch), each drawn
    // from the whole set.
    int64_t perEpoch = std::min<int64_t>(steps, 32);
    int64_t samples = batch * perEpoch;
    if (!text) {
      int64_t sampleBytes = 4;
      for (int64_t d : net.inputShape)
        sampleBytes *= std::max<int64_t>(1, d);
      samples = std::max(samples, (int64_t(64) << 20) / sampleBytes);
    }
    int64_t epochs = (steps + perEpoch - 1) / perEpoch;
    std::vector<std::string> args = {
        "layerpipe-profile",
        std::string("--data=") + (text ? "fortunes" : "synthetic"),
        "--batch=" + std::to_string(batch),
        "--train-limit=" + std::to_string(samples),
        "--test-limit=" + std::to_string(batch),
        "--epochs=" + std::to_string(epochs),
        "--lr=0.000000001", // the weights stay put (no overflow to time)
        "--momentum=0.9",
        "--seed=" + std::to_string(seed),
        "--pin-threads=off",
        "--progress-every=0"};
    std::vector<char *> argv;
    for (std::string &a : args)
      argv.push_back(a.data());
    bool got = false;
    Deployment deployment;
    deployment.stepsPerEpoch = perEpoch;
    if (cpu >= 0)
      deployment.processorCpus = {cpu};
    deployment.taskWork = [&](const std::vector<std::vector<double>> &work) {
      got = work.size() == ops.size();
      mean.assign(work.size(), {0.0, 0.0});
      for (size_t t = 0; t < work.size() && got; ++t) {
        size_t from = std::min(work[t].size(), size_t(std::max(0, warmup)));
        // An epoch's last step is not a step's cost: its updates send the
        // weights to the host, which then evaluates (1.6 ms in LeNet-5's
        // last update every 32 steps when the host shared the CPU). A
        // program amortises that over an epoch of hundreds of steps.
        // Nor is a one-off stall of 20 times the task's median and 50 us
        // more (LeNet-5's U.fc1 took 1.2-1.4 ms once per run, at the
        // second step of the second epoch, against a median of 25 us): a
        // program meets it once in its hundreds of steps, a profile once
        // in as few as 150.
        std::vector<double> sorted(work[t].begin() + from, work[t].end());
        std::sort(sorted.begin(), sorted.end());
        double median = sorted.empty() ? 0 : sorted[sorted.size() / 2];
        double stall = std::max(20 * median, median + 50);
        std::array<double, 2> sum = {0, 0};
        std::array<size_t, 2> counted = {0, 0};
        for (size_t i = from; i < work[t].size(); ++i)
          if ((int64_t(i) + 1) % perEpoch != 0 && work[t][i] <= stall) {
            sum[i % 2] += work[t][i];
            ++counted[i % 2];
          }
        if (counted[0] + counted[1] == 0) {
          got = false;
          break;
        }
        for (size_t k = 0; k < 2; ++k)
          mean[t][k] = counted[k] ? sum[k] / double(counted[k])
                                  : sum[1 - k] / double(counted[1 - k]);
        // U counts where it follows its G (the separate order), as a
        // layer's update runs in a program: right after G, its gradient
        // still in the caches (LeNet-5's U.fc1 23-26 us there, 34-41 after
        // every G of the step, 22-28 in programs).
        if (ops[t].kind == OpKind::Update && counted[0])
          mean[t][1] = mean[t][0];
        else if (ops[t].reload ||
                 (ops[t].kind != OpKind::ActivationGradient &&
                  ops[t].kind != OpKind::WeightGradient))
          mean[t][0] = mean[t][1] = (sum[0] + sum[1]) /
                                    double(counted[0] + counted[1]);
      }
    };
    profiledOps = &ops;
    profiledOrders = &orders;
    int rc;
    {
      QuietStdout quiet;
      rc = runStageProgram(int(argv.size()), argv.data(), net, plan,
                           {runProfiledOps}, deployment);
    }
    profiledOps = nullptr;
    profiledOrders = nullptr;
    return rc == 0 && got;
  };
  // Both orders need a round that is not an epoch's last.
  int64_t timed = std::max(4, repeats);
  bool ok = runSteps(int64_t(warmup) + timed);
  if (ok) {
    double stepUs = 0;
    for (const auto &m : mean)
      stepUs += m[0];
    int64_t wanted = std::min<int64_t>(
        5000, int64_t(1e6 / std::max(stepUs, 1.0)));
    if (wanted > timed)
      ok = runSteps(int64_t(warmup) + wanted);
  }
  if (!ok) {
    error = "the profiling run through the stage programs' executor failed "
            "(its message is above)";
    return false;
  }
  times.assign(L, LayerTimes());
  for (size_t t = 0; t < ops.size(); ++t) {
    LayerTimes &lt = times[size_t(ops[t].layer)];
    double us = std::max(0.0, mean[t][0]);
    if (ops[t].reload) {
      lt.inputLoad = us;
      continue;
    }
    if (ops[t].kind == OpKind::ActivationGradient ||
        ops[t].kind == OpKind::WeightGradient)
      lt.mergedBackward =
          std::max(0.0, lt.mergedBackward) + std::max(0.0, mean[t][1]);
    switch (ops[t].kind) {
    case OpKind::Forward:
      lt.forward = us;
      break;
    case OpKind::Loss:
      lt.forward = us;
      lt.activationGradient = 0;
      break;
    case OpKind::ActivationGradient:
      lt.activationGradient = us;
      break;
    case OpKind::WeightGradient:
      lt.weightGradient = us;
      break;
    case OpKind::Update:
      lt.update = us;
      break;
    }
  }
  return true;
}

double measureCrossCoreReadUs(int repeats, int64_t bytes) {
  // The reader here and the writer on two different CPUs: unbound, the
  // kernel may run both on one core and there is nothing to measure.
  std::pair<int, int> cpus = twoCpus();
  std::unique_ptr<ScopedPin> pin;
  if (cpus.first >= 0)
    pin = std::make_unique<ScopedPin>(cpus.first);
  size_t n = size_t(std::max<int64_t>(1, bytes / 4));
  std::vector<float> buffer(n, 1.0f);
  volatile float sink = 0;
  auto readAll = [&] {
    float sum = 0;
    for (size_t i = 0; i < n; i += 16) // one float per 64-byte line
      sum += buffer[i];
    sink = sum;
  };
  std::vector<double> extra;
  for (int r = 0; r < std::max(1, repeats); ++r) {
    // Written by this thread, read again here: warm in its caches.
    std::fill(buffer.begin(), buffer.end(), float(r));
    auto start = Clock::now();
    readAll();
    double local = std::chrono::duration<double, std::micro>(Clock::now() -
                                                             start)
                       .count();
    // Written by another thread, read here: the lines move between cores.
    onCpu(cpus.second,
          [&] { std::fill(buffer.begin(), buffer.end(), 2.0f); });
    start = Clock::now();
    readAll();
    double remote = std::chrono::duration<double, std::micro>(Clock::now() -
                                                              start)
                        .count();
    extra.push_back(std::max(0.0, remote - local));
  }
  (void)sink;
  std::nth_element(extra.begin(), extra.begin() + extra.size() / 2,
                   extra.end());
  return extra[extra.size() / 2];
}

double measureThreadMessageUs(int repeats, int64_t bytes) {
  std::unique_ptr<Transport> transport = makeThreadTransport(2, {});
  auto payload = std::make_shared<Value>();
  payload->tensor.reshape({std::max<int64_t>(0, bytes) / 4}, 1.0f);
  ValuePtr value = payload;
  int rounds = std::max(1, repeats);
  // Each end on its own CPU, as a stage program binds its processors.
  std::pair<int, int> cpus = twoCpus();
  std::unique_ptr<ScopedPin> pin;
  if (cpus.first >= 0)
    pin = std::make_unique<ScopedPin>(cpus.first);
  // Pinned processor threads poll for their messages (--wait=auto).
  for (unsigned endpoint : {0u, 1u})
    transport->setPolling(endpoint, cpus.first >= 0);
  std::thread echo([&] {
    if (cpus.second >= 0)
      pinCurrentThread({cpus.second});
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
