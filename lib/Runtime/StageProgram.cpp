//===- StageProgram.cpp - Running a generated stage program --------------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// The executor behind Processor's calls, and runStageProgram: options, data,
// threads, the host's lines and the outputs. Each op repeats exactly the
// kernel calls and float operations PipelineTrainer makes for the same layer
// and batch, so the numbers equal the reference trainer's bit for bit; only
// where and when they run differs.
//
// Values move through a per-processor store: a value produced here is kept
// for this processor's readers of it (counted from OpGraph::readers) and
// sent once to every other processor that has a reader; a value produced
// elsewhere is received on its first local read. Each store entry is
// dropped after its last local read.
//
//===----------------------------------------------------------------------===//

#include "layerpipe/runtime/StageProgram.h"

#include "StageCheckpoint.h"
#include "layerpipe/runtime/Affinity.h"
#include "layerpipe/runtime/Checkpoint.h"
#include "layerpipe/runtime/Data.h"
#include "layerpipe/runtime/DelayCorrection.h"
#include "layerpipe/runtime/Optimizer.h"
#include "layerpipe/runtime/Serialize.h"

#include <algorithm>
#include <atomic>
#include <cassert>
#include <chrono>
#include <cinttypes>
#include <cstdarg>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <malloc.h>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>
#include <unistd.h>
#include <unordered_map>
#include <unordered_set>

namespace layerpipe {
namespace runtime {

namespace {

using Clock = std::chrono::steady_clock;

/// A run's options: the reference trainer's training options, same names
/// and defaults.
struct Options {
  int epochs = 1;
  int64_t batch = 0;
  float lr = 0.01f, momentum = 0.0f, weightDecay = 0.0f;
  LrSchedule schedule = LrSchedule::Constant;
  int64_t warmup = 0;
  uint64_t seed = 0;
  DelayCompensation compensation = DelayCompensation::None;
  float dcLambda = 0.04f;
  int64_t pipemareWarmup = -1;
  std::string data = "fashion-mnist";
  std::string dataDir = defaultFashionMnistDir();
  int64_t trainLimit = 0, testLimit = 0;
  std::string summaryJson, tracePath, compareHtmlPath;
  /// --pin-threads: auto pins when the processors of this process fit on
  /// the CPUs it may use, one each.
  std::string pinThreads = "auto";
  /// --wait: how a processor thread waits for a message; auto polls when
  /// the processor threads are pinned, one CPU each.
  std::string wait = "auto";
  int64_t progressEvery = 0;
  std::string checkpointDir{};
  int64_t checkpointEvery = 0;
  bool resume = false;
};

/// Bytes of the values the processors' stores hold (not of messages in
/// transit), by kind, and their peak. Weight versions beyond one per layer
/// count as stashed.
struct MemoryCounter {
  std::mutex mutex;
  int64_t baseWeights = 0; ///< one version of every layer's parameters
  int64_t weights = 0, optimizer = 0, gradients = 0, activations = 0;
  MemoryStats peak;
  void add(ValueKind kind, const Value &value, int64_t sign) {
    std::lock_guard<std::mutex> lock(mutex);
    switch (kind) {
    case ValueKind::Weights:
      weights += sign * int64_t(value.weights.size() * sizeof(float));
      optimizer += sign * int64_t((value.momentum.size() +
                                   value.average.size()) *
                                  sizeof(float));
      break;
    case ValueKind::WeightGradient:
      gradients += sign * value.bytes();
      break;
    default:
      activations += sign * value.bytes();
      break;
    }
    MemoryStats now;
    now.weights = std::min(weights, baseWeights);
    now.stashedWeights = weights - now.weights;
    now.optimizer = optimizer;
    now.gradients = gradients;
    now.activations = activations;
    if (now.total() > peak.total())
      peak = now;
  }
};

/// Recycled Values, by what they hold (kind, layer, slot): a value that
/// dies goes back to its pool with its buffers' capacity, and the next op
/// making one of the same kind reuses them, so a steady-state step
/// allocates nothing (as the trainer's recycled buffers do). Values die on
/// any thread, hence the lock.
///
/// A value of a kind that processors send to each other is claimed before
/// it is reused (claim()): its buffers were last read by another processor,
/// whose cache still holds their lines, and a kernel that stores one float
/// at a time into such lines waits on every one of them. LeNet-5's pool1
/// forward, whose output processor 1 reads, took 3x its profile that way on
/// this project's 2-CPU host (docs/results-stage-programs.md).
class ValuePool : public std::enable_shared_from_this<ValuePool> {
public:
  /// LAYERPIPE_CLAIM_BUFFERS=off reuses buffers without claiming them, for
  /// bench/claim_buffers.sh to compare.
  ValuePool() {
    const char *mode = std::getenv("LAYERPIPE_CLAIM_BUFFERS");
    claimSent_ = !mode || std::string(mode) != "off";
  }

  std::shared_ptr<Value> acquire(ValueKind kind, int layer, int slot) {
    uint64_t key = ValueRef{kind, layer, slot, 0}.tag();
    Value *raw = nullptr;
    bool crossed = false;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = free_.find(key);
      if (it != free_.end() && !it->second.empty()) {
        raw = it->second.back().release();
        it->second.pop_back();
        crossed = sent_.count(key) != 0;
      }
    }
    if (!raw)
      raw = new Value();
    else if (crossed && claimSent_)
      claim(*raw);
    // A value may outlive the run's pool (in a mailbox at the end).
    std::weak_ptr<ValuePool> home = weak_from_this();
    return std::shared_ptr<Value>(raw, [home, key](Value *v) {
      std::shared_ptr<ValuePool> pool = home.lock();
      if (!pool) {
        delete v;
        return;
      }
      std::lock_guard<std::mutex> lock(pool->mutex_);
      pool->free_[key].emplace_back(v);
    });
  }

  /// Records that values like \p v go to other processors.
  void noteSent(const ValueRef &v) {
    std::lock_guard<std::mutex> lock(mutex_);
    sent_.insert(ValueRef{v.kind, v.layer, v.slot, 0}.tag());
  }

private:
  /// Overwrites \p v's buffers with zeros, which the compiler turns into
  /// wide stores that take the lines over at memory speed. Every op writes
  /// the buffers it reuses before reading them, so the zeros change no
  /// result.
  static void claim(Value &v) {
    std::fill(v.tensor.data.begin(), v.tensor.data.end(), 0.0f);
    std::fill(v.cache.aux.data.begin(), v.cache.aux.data.end(), 0.0f);
    std::fill(v.cache.channel.begin(), v.cache.channel.end(), 0.0f);
    std::fill(v.cache.index.begin(), v.cache.index.end(), 0);
    std::fill(v.weights.begin(), v.weights.end(), 0.0f);
  }

  std::mutex mutex_;
  std::unordered_map<uint64_t, std::vector<std::unique_ptr<Value>>> free_;
  std::unordered_set<uint64_t> sent_;
  bool claimSent_ = true;
};

/// One task instance as it ran: from its begin to its end, of which
/// waitUs went to receiving values from other processors (before the work)
/// and sendWaitUs to waiting for room on full channels (after it).
struct TraceEvent {
  unsigned task;
  int64_t instance;
  double startUs, endUs, waitUs, sendWaitUs;
};

/// What every processor shares.
struct Execution {
  const NetSpec &net;
  const OpGraph &graph;
  const ProgramPlan &plan;
  const Options &options;
  SgdConfig sgd;
  float emaBeta = 0.9f;
  const Dataset &train;
  int64_t batch = 0, stepsPerEpoch = 0;
  Transport &transport;
  unsigned host = 0;
  std::vector<std::vector<float>> initialParams, initialState;
  Clock::time_point origin;
  MemoryCounter memory;
  std::shared_ptr<ValuePool> pool = std::make_shared<ValuePool>();
  /// LAYERPIPE_INJECT_FAULT=P:N: processor P throws when it begins a task of
  /// instance N or later (tests of the failure path).
  int faultProcessor = -1;
  int64_t faultInstance = 0;
  /// Bytes each processor sent each other processor (row: sender) for the
  /// values of one step in the steady state (transferStep): one iteration's
  /// transfers, to compare with the compiler's figure. Row p is written by
  /// processor p alone.
  int64_t transferStep = 0;
  std::vector<int64_t> transfer{};
  /// The same bytes by sender and value kind (P × 8).
  std::vector<int64_t> transferKinds{};
  /// Checkpoints (StageCheckpoint.h): the cut this run resumes from (-1:
  /// none), the cuts it writes, where.
  int64_t resumeCut = -1;
  std::vector<int64_t> cuts{};
  std::string checkpointDir{};
  /// The delay-aware correction (DelayCorrection.h).
  DelayCorrection correction = DelayCorrection();
};

/// The host's notice that processor p wrote its part of a checkpoint: a
/// Result message on layer 1 (results of micro-batches use layer 0),
/// instance K; `correct` holds the part's size, `samples` its checksum.
constexpr int CheckpointNoticeLayer = 1;

std::string valueName(const NetSpec &net, const ValueRef &v) {
  static const char *const names[] = {
      "activation", "forward cache", "gradient part", "weight gradient",
      "weights",    "result",        "snapshot",      "state snapshot"};
  std::string s = std::string(names[size_t(v.kind)]) + " of layer '" +
                  net.layers[size_t(v.layer)].name + "'";
  if (v.kind == ValueKind::DeltaPart)
    s += " (input " + std::to_string(v.slot) + ")";
  return s + (v.kind == ValueKind::Weights ? " version " : " instance ") +
         std::to_string(v.instance);
}

} // namespace

struct Processor::Impl {
  Impl(Execution &ex, unsigned me)
      : ex(ex), me(me), cut(ex.graph, ex.resumeCut) {}

  Execution &ex;
  unsigned me;
  /// Which ops run (all, or those after the cut a resumed run starts at),
  /// the weight versions restored from the checkpoint, and the checkpoints
  /// this processor still has to write its part of.
  Cut cut;
  std::unordered_map<uint64_t, ValuePtr> restoredWeights;
  std::vector<CutPlan> cutPlans;
  struct Entry {
    ValuePtr value;
    int64_t reads = 0;
  };
  std::unordered_map<uint64_t, Entry> store;
  std::vector<std::vector<float>> state;
  Scratch scratch;
  unsigned task = 0;
  int64_t instance = 0;
  double taskStart = 0, taskWait = 0, taskSendWait = 0;
  std::vector<TraceEvent> events;
  // The last gathered data batch.
  int64_t orderEpoch = -1, dataInstance = -1;
  std::vector<int64_t> order;
  Tensor x;
  std::vector<int32_t> labels, lossLabels;
  std::vector<const Tensor *> ins;
  std::vector<ValuePtr> held;
  std::vector<float> weightBuffer, predictBuffer;
  std::vector<Tensor> gradScratch;
  Tensor deltaSum;

  double now() const {
    return std::chrono::duration<double, std::micro>(Clock::now() - ex.origin)
        .count();
  }
  int placement(const OpRef &op) const {
    return ex.plan.placement[size_t(op.layer)][size_t(op.kind)];
  }

  void keep(uint64_t key, ValuePtr value, int64_t reads, ValueKind kind) {
    ex.memory.add(kind, *value, 1);
    store[key] = Entry{std::move(value), reads};
  }

  int64_t localReaders(const ValueRef &v) {
    int64_t count = 0;
    for (const OpRef &r : ex.graph.readers(v))
      if (placement(r) == int(me) && cut.runs(r))
        ++count;
    return count;
  }

  /// Keeps the weight versions the next checkpoints need.
  void noteWeights(const ValueRef &v, const ValuePtr &value) {
    if (cutPlans.empty() || v.kind != ValueKind::Weights)
      return;
    uint64_t key = v.tag();
    for (CutPlan &cp : cutPlans)
      if (!cp.written && cp.weights.count(key))
        cp.savedWeights[key] = value;
  }

  /// Writes this processor's part of every checkpoint whose values it now
  /// holds, and tells the host.
  void writeCheckpointParts() {
    for (CutPlan &cp : cutPlans) {
      if (cp.written || !cp.complete())
        continue;
      std::vector<char> bytes;
      ByteWriter out(bytes);
      out.put(cp.K);
      out.put(uint32_t(me));
      out.put(uint64_t(cp.savedWeights.size()));
      for (auto &[tag, value] : cp.savedWeights) {
        out.put(tag);
        writeValue(out, *value);
      }
      out.put(uint64_t(cp.savedState.size()));
      for (auto &[layer, st] : cp.savedState) {
        out.put(int32_t(layer));
        out.putArray(st.data(), st.size());
      }
      CheckpointPart part;
      std::string error;
      if (!writeCheckpointFile(
              checkpointPath(ex.checkpointDir, cp.K + 1,
                             "p" + std::to_string(me)),
              CheckpointFileKind::Part, std::string(bytes.begin(), bytes.end()),
              &part, error))
        throw std::runtime_error(error);
      cp.written = true;
      cp.savedWeights.clear();
      cp.savedState.clear();
      auto notice = std::make_shared<Value>();
      notice->correct = int64_t(part.size);
      notice->samples = int64_t(part.checksum);
      toHost(ValueKind::Result, CheckpointNoticeLayer, cp.K, std::move(notice));
    }
    while (!cutPlans.empty() && cutPlans.front().written)
      cutPlans.erase(cutPlans.begin());
  }

  ValuePtr initialWeights(int layer) const {
    auto v = std::make_shared<Value>();
    v->weights = ex.initialParams[size_t(layer)];
    if (ex.sgd.momentum != 0.0f)
      v->momentum.assign(v->weights.size(), 0.0f);
    else if (ex.plan.policy == WeightPolicy::Ema && ex.graph.delay(layer) > 0)
      v->average.assign(v->weights.size(), 0.0f);
    return v;
  }

  /// The value \p v for one local read.
  ValuePtr get(const ValueRef &v) {
    uint64_t key = v.tag();
    auto it = store.find(key);
    if (it != store.end()) {
      ValuePtr value = it->second.value;
      if (--it->second.reads == 0) {
        ex.memory.add(v.kind, *value, -1);
        store.erase(it);
      }
      noteWeights(v, value);
      return value;
    }
    OpRef producer;
    ValuePtr value;
    if (cut.restored(v)) {
      auto restored = restoredWeights.find(key);
      if (restored == restoredWeights.end())
        throw std::runtime_error("the checkpoint lacks the " +
                                 valueName(ex.net, v));
      value = restored->second;
    } else if (!ex.graph.producer(v, producer)) {
      value = initialWeights(v.layer);
    } else {
      int from = placement(producer);
      if (from == int(me) || from < 0)
        throw std::runtime_error("internal error: the " +
                                 valueName(ex.net, v) +
                                 " is read before this processor made it");
      double waitStart = now();
      value = ex.transport.receive(me, unsigned(from), key);
      taskWait += now() - waitStart;
    }
    int64_t reads = localReaders(v);
    if (reads > 1)
      keep(key, value, reads - 1, v.kind);
    noteWeights(v, value);
    return value;
  }

  /// Keeps \p value for the local readers and sends it to the others.
  void put(const ValueRef &v, ValuePtr value) {
    std::set<unsigned> remote, consumerRemote;
    int64_t local = 0;
    noteWeights(v, value);
    for (const OpRef &r : ex.graph.readers(v)) {
      if (!cut.runs(r))
        continue;
      int p = placement(r);
      if (p == int(me)) {
        ++local;
      } else {
        remote.insert(unsigned(p));
        if (r.layer != v.layer)
          consumerRemote.insert(unsigned(p));
      }
    }
    uint64_t key = v.tag();
    double sendStart = now();
    int64_t step = v.kind == ValueKind::Weights ? v.instance - 1
                                                : ex.graph.stepOf(v.instance);
    unsigned P = ex.plan.processors;
    for (unsigned p : remote) {
      if (step == ex.transferStep && p < P) {
        ex.transfer[size_t(me) * P + p] += value->bytes();
        ex.transferKinds[size_t(me) * 8 + size_t(v.kind)] += value->bytes();
        // A layer's own output, sent only for its own backward ops: the
        // compiler's DFG has no such edge (docs/distributed.md).
        if (v.kind == ValueKind::Activation && !consumerRemote.count(p))
          ex.transferKinds[size_t(me) * 8 + 7] += value->bytes();
      }
    }
    for (unsigned p : remote)
      ex.transport.send(me, p, key, value);
    if (!remote.empty()) {
      taskSendWait += now() - sendStart;
      ex.pool->noteSent(v);
    }
    if (local > 0)
      keep(key, std::move(value), local, v.kind);
  }

  void toHost(ValueKind kind, int layer, int64_t instance, ValuePtr value) {
    ex.transport.send(me, ex.host, ValueRef{kind, layer, 0, instance}.tag(),
                      std::move(value));
  }

  /// Instance n's inputs (the data, or the producers' activations) into
  /// ins, one per input slot; a producer feeding two slots is read once (each
  /// read counts against the value's local readers).
  void gatherUniqueInputs(int layer, int64_t n) {
    const LayerSpec &spec = ex.net.layers[size_t(layer)];
    ins.clear();
    if (spec.inputs.empty()) {
      loadData(n);
      ins.push_back(&x);
      return;
    }
    std::vector<std::pair<int, const Tensor *>> seen;
    for (int p : spec.inputs) {
      const Tensor *t = nullptr;
      for (auto &s : seen)
        if (s.first == p)
          t = s.second;
      if (!t) {
        held.push_back(get({ValueKind::Activation, p, 0, n}));
        t = &held.back()->tensor;
        seen.push_back({p, t});
      }
      ins.push_back(t);
    }
  }

  /// Where instance n's samples sit in its epoch's shuffled order: order
  /// [begin, begin + size) (the order is made for n's epoch first).
  void instanceSamples(int64_t n, int64_t &begin, int64_t &size) {
    unsigned M = ex.graph.microBatches();
    int64_t step = n / M;
    int64_t epoch = step / ex.stepsPerEpoch;
    if (epoch != orderEpoch) {
      order = epochOrder(ex.train.count, ex.options.seed, epoch);
      orderEpoch = epoch;
    }
    microBatchRange(ex.batch, M, unsigned(n % M), begin, size);
    begin += (step % ex.stepsPerEpoch) * ex.batch;
  }

  void loadData(int64_t n) {
    if (n == dataInstance)
      return;
    int64_t begin = 0, size = 0;
    instanceSamples(n, begin, size);
    gatherBatch(ex.train, order, begin, size, x, labels);
    dataInstance = n;
  }

  /// The labels of instance n alone (the loss needs no samples), into
  /// lossLabels: `labels` belongs to the last gathered batch.
  void loadLabels(int64_t n) {
    int64_t begin = 0, size = 0;
    instanceSamples(n, begin, size);
    int64_t lps = ex.train.labelsPerSample;
    lossLabels.resize(size_t(size * lps));
    for (int64_t i = 0; i < size; ++i)
      for (int64_t j = 0; j < lps; ++j)
        lossLabels[size_t(i * lps + j)] =
            ex.train.labels[size_t(order[size_t(begin + i)] * lps + j)];
  }

  /// Layer l's output gradient at n: its parts added in the trainer's order.
  const Tensor *outputGradient(int layer, int64_t n, Tensor &sum) {
    const auto &parts = ex.graph.deltaParts(layer);
    if (parts.empty())
      return &sum; // the loss layer: no gradient flows in
    for (size_t i = 0; i < parts.size(); ++i) {
      ValuePtr part =
          get({ValueKind::DeltaPart, parts[i].first, parts[i].second, n});
      if (parts.size() == 1) {
        held.push_back(part);
        return &held.back()->tensor;
      }
      if (i == 0) {
        sum.shape = part->tensor.shape;
        sum.data.assign(part->tensor.data.begin(), part->tensor.data.end());
      } else {
        accumulate(sum.size(), part->tensor.ptr(), sum.ptr());
      }
    }
    return &sum;
  }

  bool runs(OpKind kind, int layer) {
    return cut.runs({kind, layer, instance});
  }

  void forward(int layer) {
    if (!runs(OpKind::Forward, layer))
      return;
    held.clear();
    const LayerSpec &spec = ex.net.layers[size_t(layer)];
    int64_t n = instance;
    gatherUniqueInputs(layer, n);
    const float *w = nullptr;
    if (spec.hasParams()) {
      int64_t step = ex.graph.stepOf(n);
      held.push_back(get({ValueKind::Weights, layer, 0, step}));
      w = predicted(layer, step, *held.back());
    }
    std::vector<float> &st = state[size_t(layer)];
    if (st.empty() && !ex.initialState[size_t(layer)].empty())
      st = ex.initialState[size_t(layer)];
    for (CutPlan &cp : cutPlans) {
      auto before = cp.stateBefore.find(layer);
      if (!cp.written && before != cp.stateBefore.end() &&
          before->second == n)
        cp.savedState[layer] = st;
    }
    ForwardContext ctx;
    ctx.training = true;
    ctx.seed = ex.options.seed;
    ctx.batchIndex = n;
    ctx.scratch = &scratch;
    auto out = ex.pool->acquire(ValueKind::Activation, layer, 0);
    auto cache = ex.pool->acquire(ValueKind::Cache, layer, 0);
    layerForward(spec, w, st.empty() ? nullptr : st.data(), ins, out->tensor,
                 cache->cache, ctx);
    held.clear();
    put({ValueKind::Activation, layer, 0, n}, std::move(out));
    put({ValueKind::Cache, layer, 0, n}, std::move(cache));
    int64_t perEpoch = ex.stepsPerEpoch * ex.graph.microBatches();
    if (!st.empty() && (n + 1) % perEpoch == 0 && !cut.hostHas(n)) {
      auto snapshot = std::make_shared<Value>();
      snapshot->weights = st;
      toHost(ValueKind::SnapshotState, layer, (n + 1) / perEpoch,
             std::move(snapshot));
    }
  }

  void loss(int layer) {
    if (!runs(OpKind::Loss, layer))
      return;
    held.clear();
    const LayerSpec &spec = ex.net.layers[size_t(layer)];
    int64_t n = instance;
    gatherUniqueInputs(layer, n);
    loadLabels(n);
    ForwardContext ctx;
    ctx.training = true;
    ctx.seed = ex.options.seed;
    ctx.batchIndex = n;
    ctx.labels = lossLabels.data();
    ctx.scratch = &scratch;
    Tensor out;
    LayerCache cache;
    layerForward(spec, nullptr, nullptr, ins, out, cache, ctx);
    auto result = std::make_shared<Value>();
    result->loss = cache.loss;
    result->correct = cache.correct;
    result->samples = ins[0]->batch();
    Tensor none;
    std::vector<std::shared_ptr<Value>> parts =
        inputGradients(spec, [&](std::vector<Tensor> &grads) {
          layerBackwardData(spec, nullptr, ins, out, cache, none, grads,
                            scratch);
        });
    held.clear();
    if (!cut.hostHas(n))
      toHost(ValueKind::Result, 0, n, std::move(result));
    for (size_t s = 0; s < parts.size(); ++s)
      put({ValueKind::DeltaPart, layer, int(s), n}, std::move(parts[s]));
  }

  /// Runs \p compute on pooled gradient tensors, one per input slot, and
  /// returns them as values.
  template <typename Compute>
  std::vector<std::shared_ptr<Value>> inputGradients(const LayerSpec &spec,
                                                     Compute compute) {
    std::vector<std::shared_ptr<Value>> parts;
    gradScratch.resize(spec.inputs.size());
    for (size_t i = 0; i < spec.inputs.size(); ++i) {
      parts.push_back(ex.pool->acquire(ValueKind::DeltaPart,
                                      int(&spec - ex.net.layers.data()),
                                      int(i)));
      std::swap(gradScratch[i], parts.back()->tensor);
    }
    compute(gradScratch);
    for (size_t i = 0; i < spec.inputs.size(); ++i)
      std::swap(gradScratch[i], parts[i]->tensor);
    return parts;
  }

  /// η_l,k of layer \p layer at step \p step.
  float layerRate(int layer, int64_t step) const {
    return correctedLearningRate(ex.correction, learningRate(ex.sgd, step),
                                 ex.graph.delay(layer), step);
  }

  /// The weights F reads from version \p step: the version itself, or
  /// under `predict` W − η·D·m in predictBuffer.
  const float *predicted(int layer, int64_t step, const Value &v) {
    int64_t d = ex.graph.delay(layer);
    if (!correctionPredicts(ex.correction.mode) || d == 0)
      return v.weights.data();
    predictBuffer.resize(v.weights.size());
    predictWeights(int64_t(v.weights.size()), d, layerRate(layer, step),
                   v.weights.data(), v.momentum.data(), predictBuffer.data());
    return predictBuffer.data();
  }

  /// The weights B of layer l reads for instance n under the policy.
  const float *backwardWeights(int layer, int64_t n) {
    int64_t step = ex.graph.backwardWeightStep(layer, n);
    held.push_back(get({ValueKind::Weights, layer, 0, step}));
    const Value &v = *held.back();
    int64_t d = ex.graph.delay(layer);
    if (d == 0)
      return v.weights.data();
    if (ex.plan.policy == WeightPolicy::Stash)
      return predicted(layer, step, v);
    // Prediction aims F at W(j + D): under `ema` B reads that directly.
    if (ex.plan.policy != WeightPolicy::Ema ||
        correctionPredicts(ex.correction.mode))
      return v.weights.data();
    float lr = layerRate(layer, step);
    weightBuffer.resize(v.weights.size());
    bool withMomentum = ex.sgd.momentum != 0.0f;
    reconstructForwardWeights(int64_t(v.weights.size()), d, lr,
                              v.weights.data(),
                              withMomentum ? v.momentum.data() : nullptr,
                              withMomentum ? nullptr : v.average.data(),
                              weightBuffer.data());
    return weightBuffer.data();
  }

  /// The inputs, output, cache and output gradient B and G share.
  struct Saved {
    const Tensor *out = nullptr, *outGrad = nullptr;
    const LayerCache *cache = nullptr;
  };
  Saved gatherSaved(int layer, int64_t n, Tensor &sum) {
    gatherUniqueInputs(layer, n);
    Saved s;
    held.push_back(get({ValueKind::Activation, layer, 0, n}));
    s.out = &held.back()->tensor;
    held.push_back(get({ValueKind::Cache, layer, 0, n}));
    s.cache = &held.back()->cache;
    s.outGrad = outputGradient(layer, n, sum);
    return s;
  }

  void backwardData(int layer) {
    if (!runs(OpKind::ActivationGradient, layer))
      return;
    held.clear();
    const LayerSpec &spec = ex.net.layers[size_t(layer)];
    int64_t n = instance;
    Saved s = gatherSaved(layer, n, deltaSum);
    const float *w = spec.hasParams() ? backwardWeights(layer, n) : nullptr;
    std::vector<std::shared_ptr<Value>> parts =
        inputGradients(spec, [&](std::vector<Tensor> &grads) {
          layerBackwardData(spec, w, ins, *s.out, *s.cache, *s.outGrad,
                            grads, scratch);
        });
    held.clear();
    for (size_t i = 0; i < parts.size(); ++i)
      put({ValueKind::DeltaPart, layer, int(i), n}, std::move(parts[i]));
  }

  void backwardWeights(int layer) {
    if (!runs(OpKind::WeightGradient, layer))
      return;
    held.clear();
    const LayerSpec &spec = ex.net.layers[size_t(layer)];
    int64_t n = instance;
    Saved s = gatherSaved(layer, n, deltaSum);
    auto grad = ex.pool->acquire(ValueKind::WeightGradient, layer, 0);
    grad->tensor.reshapeUninitialized({spec.numParams});
    layerBackwardWeights(spec, ins, *s.out, *s.cache, *s.outGrad,
                         grad->tensor.ptr(), scratch);
    held.clear();
    put({ValueKind::WeightGradient, layer, 0, n}, std::move(grad));
  }

  void update(int layer) {
    if (!runs(OpKind::Update, layer))
      return;
    int64_t k = instance;
    int64_t d = ex.graph.delay(layer);
    ValuePtr previous = get({ValueKind::Weights, layer, 0, k});
    ValuePtr next = previous;
    if (k >= d) {
      unsigned M = ex.graph.microBatches();
      int64_t first = (k - d) * int64_t(M);
      ValuePtr g0 = get({ValueKind::WeightGradient, layer, 0, first});
      const float *grad = g0->tensor.ptr();
      std::vector<float> sum;
      if (M > 1) {
        sum.assign(g0->tensor.data.begin(), g0->tensor.data.end());
        for (unsigned m = 1; m < M; ++m) {
          ValuePtr g = get({ValueKind::WeightGradient, layer, 0, first + m});
          accumulate(int64_t(sum.size()), g->tensor.ptr(), sum.data());
        }
        averageMicroBatchGradient(int64_t(sum.size()), M, sum.data());
        grad = sum.data();
      }
      auto updated = ex.pool->acquire(ValueKind::Weights, layer, 0);
      updated->weights.assign(previous->weights.begin(),
                              previous->weights.end());
      updated->momentum.assign(previous->momentum.begin(),
                               previous->momentum.end());
      updated->average.assign(previous->average.begin(),
                              previous->average.end());
      float lr = layerRate(layer, k);
      float mu =
          compensatedMomentum(ex.options.compensation, ex.sgd.momentum, d);
      // dcasgd: the weights the gradient was computed with, W(k − D).
      ValuePtr forward;
      if (d > 0 && correctionNeedsForwardWeights(ex.correction.mode))
        forward = get({ValueKind::Weights, layer, 0, k - d});
      correctedLayerUpdate(
          ex.correction, d, int64_t(updated->weights.size()), lr, mu,
          ex.sgd.weightDecay, ex.emaBeta, updated->weights.data(),
          updated->momentum.empty() ? nullptr : updated->momentum.data(),
          updated->average.empty() ? nullptr : updated->average.data(), grad,
          forward ? forward->weights.data() : nullptr);
      next = std::move(updated);
    }
    previous.reset();
    if ((k + 1) % ex.stepsPerEpoch == 0)
      toHost(ValueKind::SnapshotWeights, layer, (k + 1) / ex.stepsPerEpoch,
             next);
    put({ValueKind::Weights, layer, 0, k + 1}, std::move(next));
  }
};

Processor::Processor(Impl *impl) : impl_(impl) {}
Processor::~Processor() = default;

bool Processor::begin(unsigned task, int64_t instance) {
  const TaskInfo &info = impl_->ex.plan.tasks[task];
  int64_t limit = info.kind == "U" ? impl_->ex.graph.steps()
                                   : impl_->ex.graph.instances();
  if (instance < 0 || instance >= limit)
    return false;
  if (int(impl_->me) == impl_->ex.faultProcessor &&
      instance >= impl_->ex.faultInstance)
    throw std::runtime_error("injected fault (LAYERPIPE_INJECT_FAULT)");
  impl_->task = task;
  impl_->instance = instance;
  impl_->taskStart = impl_->now();
  impl_->taskWait = 0;
  impl_->taskSendWait = 0;
  return true;
}

void Processor::end() {
  impl_->events.push_back({impl_->task, impl_->instance, impl_->taskStart,
                           impl_->now(), impl_->taskWait,
                           impl_->taskSendWait});
  if (!impl_->cutPlans.empty())
    impl_->writeCheckpointParts();
}

void Processor::forward(int layer) { impl_->forward(layer); }
void Processor::loss(int layer) { impl_->loss(layer); }
void Processor::backwardData(int layer) { impl_->backwardData(layer); }
void Processor::backwardWeights(int layer) { impl_->backwardWeights(layer); }
void Processor::update(int layer) { impl_->update(layer); }
void Processor::reloadInput(int64_t instance) {
  impl_->dataInstance = -1;
  impl_->loadData(instance);
}

//===----------------------------------------------------------------------===//
// The program: options, host, outputs
//===----------------------------------------------------------------------===//

namespace {

std::string format(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
std::string format(const char *fmt, ...) {
  char buffer[1024];
  va_list args;
  va_start(args, fmt);
  vsnprintf(buffer, sizeof(buffer), fmt, args);
  va_end(args);
  return buffer;
}

std::string bytesText(int64_t bytes) {
  if (bytes >= 1024 * 1024)
    return format("%.2f MiB", double(bytes) / (1024.0 * 1024.0));
  if (bytes >= 1024)
    return format("%.1f KiB", double(bytes) / 1024.0);
  return format("%lld B", (long long)bytes);
}

/// \p text as a JSON string literal.
std::string jsonString(const std::string &text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\')
      out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) {
      out += format("\\u%04x", int(c));
      continue;
    }
    out += c;
  }
  return out + "\"";
}

/// The shortest decimal that reads back as \p x.
std::string shortest(float x) {
  for (int digits = 1; digits < 12; ++digits) {
    std::string s = format("%.*g", digits, double(x));
    if (std::strtof(s.c_str(), nullptr) == x)
      return s;
  }
  return format("%.9g", double(x));
}

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

const char *const HelpText =
    "USAGE: %s [options]\n\n"
    "A LayerPipe stage program: trains %s with schedule '%s' on %u "
    "processor thread(s).\nThe numbers equal the reference trainer's "
    "(layerpipe-train) bit for bit; see README.md.\n\n"
    "Optimizer:\n"
    "  --epochs=E               Epochs (default 1)\n"
    "  --batch=B                Mini-batch size (default %lld: the model's "
    "batch per micro-batch)\n"
    "  --lr=X                   Learning rate (default 0.01)\n"
    "  --momentum=M             Momentum (default 0)\n"
    "  --weight-decay=W         Weight decay (default 0)\n"
    "  --lr-schedule=name       constant | step | cosine (default constant)\n"
    "  --lr-warmup=N            Linear warm-up over N steps (default 0)\n"
    "  --seed=S                 Seed of weights, shuffling, dropout, "
    "synthetic data (default 0)\n"
    "  --delay-compensation=m   none | momentum | lr | spike | predict |\n"
    "                           spike-predict | pipemare | dcasgd (default "
    "none)\n"
    "  --dc-lambda=X            lambda of dcasgd (default 0.04)\n"
    "  --pipemare-warmup=K      Steps of pipemare's warm-up (default: one "
    "epoch)\n"
    "Data:\n"
    "  --data=name              fashion-mnist | synthetic | fortunes "
    "(default fashion-mnist)\n"
    "  --data-dir=dir           Fashion-MNIST IDX files (default %s) or "
    "the fortunes databases\n"
    "  --train-limit=N          First N training samples (synthetic: N, "
    "default 2048)\n"
    "  --test-limit=N           First N test samples (synthetic: default "
    "512)\n"
    "Output:\n"
    "  --summary-json=file      Final figures as JSON\n"
    "  --trace=file             Chrome trace: predicted and measured "
    "timelines\n"
    "  --compare-html=file      Both timelines of three rounds, overlaid\n"
    "  --pin-threads=mode       auto | on | in-order | off: one CPU per "
    "processor\n"
    "                           thread, the busiest on the fastest (auto: "
    "when they\n"
    "                           fit on this process's CPUs; in-order: "
    "processor i on\n"
    "                           the i-th CPU; default auto)\n"
    "  --wait=mode              auto | poll | sleep: how a processor thread "
    "waits for\n"
    "                           a message (poll: busy-waits on its CPU, and "
    "its senders\n"
    "                           need not wake it; auto: poll when the "
    "threads are pinned)\n"
    "  --progress-every=N       A progress line every N batches (default: "
    "only on a terminal)\n"
    "Checkpoints (docs/distributed.md):\n"
    "  --checkpoint-dir=dir     Write checkpoints there\n"
    "  --checkpoint-every=N     One every N steps (default: one per epoch)\n"
    "  --resume                 Continue from the newest complete checkpoint "
    "in\n"
    "                           --checkpoint-dir that matches this run\n"
    "  --help, --version\n";

/// Where the processor threads of this process run, and the speeds the
/// choice was made on.
struct Pinning {
  std::vector<int> cpuOf;     ///< per local processor; empty: not bound
  std::vector<int> probed;    ///< the CPUs timed (timeCpus), if any
  std::vector<double> before; ///< their seconds per probe loop
};

/// A JSON array of \p ints, or else of \p seconds in microseconds.
std::string cpuProbeJson(const std::vector<int> &ints,
                         const std::vector<double> &seconds) {
  std::string out = "[";
  for (size_t i = 0; i < ints.size() + seconds.size(); ++i)
    out += (i ? ", " : "") +
           (i < ints.size() ? std::to_string(ints[i])
                            : format("%.2f", seconds[i - ints.size()] * 1e6));
  return out + "]";
}

/// Binds the processor threads of predicted work \p load (one per local
/// processor) under --pin-threads=\p mode. auto binds two or more threads
/// when they fit, and a lone one when this process runs the whole schedule
/// (one processor per process, as under mpirun, is left to the launcher's
/// binding); on binds whenever they fit and is an error otherwise, and so
/// does in-order, which gives processor i the i-th CPU. Otherwise, with
/// more than one CPU to choose from, the CPUs are timed first and the
/// busiest processor gets the fastest (a virtual machine's CPUs need not
/// run at one speed; docs/codegen.md).
bool pinnedCpus(const std::string &mode, const std::vector<double> &load,
                bool wholeRun, Pinning &pin, std::string &error) {
  pin = Pinning();
  size_t count = load.size();
  if (mode == "off" || count == 0 || (mode == "auto" && count < 2 && !wholeRun))
    return true;
  std::vector<int> allowed = allowedCpus();
  if (allowed.size() < count) {
    if (mode != "auto") {
      error = format("--pin-threads=%s: %zu processor threads, but this "
                     "process may run on %zu CPUs",
                     mode.c_str(), count, allowed.size());
      return false;
    }
    return true;
  }
  pin.cpuOf.assign(allowed.begin(), allowed.begin() + count);
  if (allowed.size() < 2 || mode == "in-order")
    return true;
  pin.before = timeCpus(allowed);
  if (pin.before.empty())
    return true;
  pin.probed = allowed;
  pin.cpuOf = cpusBySpeed(allowed, pin.before, load);
  return true;
}

bool parseInt(const std::string &text, int64_t &out) {
  if (text.empty())
    return false;
  char *end = nullptr;
  errno = 0;
  long long v = std::strtoll(text.c_str(), &end, 10);
  if (errno != 0 || *end != '\0')
    return false;
  out = v;
  return true;
}

bool parseFloat(const std::string &text, float &out) {
  if (text.empty())
    return false;
  char *end = nullptr;
  errno = 0;
  float v = std::strtof(text.c_str(), &end);
  if (errno != 0 || *end != '\0')
    return false;
  out = v;
  return true;
}

/// Parses argv; returns false after --help or --version.
bool parseOptions(int argc, char **argv, const ProgramPlan &plan,
                  Options &o) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-help" || arg == "-h") {
      std::printf(HelpText, argv[0], plan.model.c_str(), plan.schedule.c_str(),
                  plan.processors, (long long)plan.defaultBatch,
                  defaultFashionMnistDir());
      return false;
    }
    if (arg == "--version") {
      std::printf("LayerPipe stage program (runtime %s)\n",
                  LAYERPIPE_RUNTIME_VERSION);
      return false;
    }
    if (arg == "--resume") {
      o.resume = true;
      continue;
    }
    if (arg.rfind("--", 0) != 0)
      throw UsageError("unexpected argument '" + arg + "' (see --help)");
    std::string name = arg.substr(2), value;
    size_t eq = name.find('=');
    if (eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    } else {
      if (i + 1 >= argc)
        throw UsageError("--" + name + " needs a value (see --help)");
      value = argv[++i];
    }
    int64_t n = 0;
    float f = 0;
    auto integer = [&](int64_t lo, const char *what) {
      if (!parseInt(value, n) || n < lo)
        throw UsageError("--" + name + " must be " + what + ", got '" +
                         value + "'");
      return n;
    };
    auto real = [&]() {
      if (!parseFloat(value, f))
        throw UsageError("--" + name + " needs a number, got '" + value +
                         "'");
      return f;
    };
    if (name == "epochs")
      o.epochs = int(std::min<int64_t>(integer(1, "at least 1"), 1 << 20));
    else if (name == "batch")
      o.batch = integer(1, "at least 1");
    else if (name == "lr")
      o.lr = real();
    else if (name == "momentum")
      o.momentum = real();
    else if (name == "weight-decay")
      o.weightDecay = real();
    else if (name == "lr-warmup")
      o.warmup = integer(0, ">= 0");
    else if (name == "seed")
      o.seed = uint64_t(integer(0, ">= 0"));
    else if (name == "train-limit")
      o.trainLimit = integer(0, ">= 0");
    else if (name == "test-limit")
      o.testLimit = integer(0, ">= 0");
    else if (name == "progress-every")
      o.progressEvery = integer(0, ">= 0");
    else if (name == "checkpoint-every")
      o.checkpointEvery = integer(1, "at least 1");
    else if (name == "checkpoint-dir")
      o.checkpointDir = value;
    else if (name == "data")
      o.data = value;
    else if (name == "data-dir")
      o.dataDir = value;
    else if (name == "summary-json")
      o.summaryJson = value;
    else if (name == "trace")
      o.tracePath = value;
    else if (name == "compare-html")
      o.compareHtmlPath = value;
    else if (name == "pin-threads") {
      if (value != "auto" && value != "on" && value != "in-order" &&
          value != "off")
        throw UsageError("--pin-threads: expected auto, on, in-order or "
                         "off, got '" +
                         value + "'");
      o.pinThreads = value;
    }
    else if (name == "wait") {
      if (value != "auto" && value != "poll" && value != "sleep")
        throw UsageError("--wait: expected auto, poll or sleep, got '" +
                         value + "'");
      o.wait = value;
    }
    else if (name == "lr-schedule") {
      if (!parseLrSchedule(value, o.schedule))
        throw UsageError("--lr-schedule: unknown schedule '" + value +
                         "' (expected constant, step or cosine)");
    } else if (name == "delay-compensation") {
      if (!parseDelayCompensation(value, o.compensation))
        throw UsageError("--delay-compensation: unknown mode '" + value +
                         "' (expected none, momentum, lr, spike, predict, "
                         "spike-predict, pipemare or dcasgd)");
    } else if (name == "dc-lambda") {
      char *end = nullptr;
      o.dcLambda = std::strtof(value.c_str(), &end);
      if (value.empty() || *end || !(o.dcLambda >= 0.0f) ||
          !std::isfinite(o.dcLambda))
        throw UsageError("--dc-lambda must be finite and >= 0, got '" +
                         value + "'");
    } else if (name == "pipemare-warmup") {
      o.pipemareWarmup = integer(0, ">= 0");
    } else {
      throw UsageError("unknown option '--" + name + "' (see --help)");
    }
  }
  if (!(o.lr > 0.0f))
    throw UsageError("--lr must be positive, got " + shortest(o.lr));
  if (!(o.momentum >= 0.0f && o.momentum < 1.0f))
    throw UsageError("--momentum must be in [0, 1), got " +
                     shortest(o.momentum));
  if (!(o.weightDecay >= 0.0f))
    throw UsageError("--weight-decay must be >= 0, got " +
                     shortest(o.weightDecay));
  if (o.checkpointDir.empty() && (o.resume || o.checkpointEvery > 0))
    throw UsageError(std::string(o.resume ? "--resume" : "--checkpoint-every") +
                     " needs --checkpoint-dir");
  if (o.data != "fashion-mnist" && o.data != "synthetic" &&
      o.data != "fortunes")
    throw UsageError("--data: unknown data set '" + o.data +
                     "' (expected fashion-mnist, synthetic or fortunes)");
  return true;
}

double cpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

struct EpochFigures {
  double loss = 0, trainAccuracy = 0, testAccuracy = 0, testLoss = 0;
  double samplesPerSecond = 0, seconds = 0;
};

/// The steady-state time per round: the median gap between consecutive
/// instances of the same task, over the middle 80% of the run.
double measuredPeriod(const std::vector<std::vector<TraceEvent>> &events,
                      const ProgramPlan &plan) {
  std::vector<double> gaps;
  for (const auto &list : events) {
    std::unordered_map<unsigned, std::vector<const TraceEvent *>> byTask;
    for (const TraceEvent &e : list)
      byTask[e.task].push_back(&e);
    for (auto &[task, runs] : byTask) {
      int64_t a = plan.tasks[task].a;
      size_t lo = runs.size() / 10, hi = runs.size() - runs.size() / 10;
      for (size_t i = lo + 1; i < hi; ++i)
        gaps.push_back((runs[i]->startUs - runs[i - 1]->startUs) /
                       double(std::max<int64_t>(
                           1, (runs[i]->instance - runs[i - 1]->instance) /
                                  a)));
    }
  }
  if (gaps.empty())
    return 0;
  std::nth_element(gaps.begin(), gaps.begin() + gaps.size() / 2, gaps.end());
  return gaps[gaps.size() / 2];
}

bool writeFile(const std::string &path, const std::string &text,
               std::string &error) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary);
    if (!out || !(out << text) || !(out.flush())) {
      error = "cannot write '" + path + "'";
      std::remove(tmp.c_str());
      return false;
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    error = "cannot write '" + path + "'";
    std::remove(tmp.c_str());
    return false;
  }
  return true;
}

/// Predicted and measured timelines of the same task instances.
struct Timelines {
  const std::vector<std::vector<TraceEvent>> &events;
  const ProgramPlan &plan;
  int64_t firstRound = 0;

  int64_t roundOf(const TraceEvent &e) const {
    const TaskInfo &t = plan.tasks[e.task];
    return (e.instance - t.b) / t.a;
  }
  /// The predicted start of an instance, with the first round at 0.
  double predictedStart(const TraceEvent &e) const {
    return double(roundOf(e) - firstRound) * plan.roundUs +
           plan.tasks[e.task].startUs;
  }
  /// The work of a measured bar: its wait for inputs comes before it, its
  /// wait for room to send after it.
  static double workStart(const TraceEvent &e) {
    return std::min(e.endUs, e.startUs + e.waitUs);
  }
  static double workEnd(const TraceEvent &e) {
    return std::max(workStart(e), e.endUs - e.sendWaitUs);
  }
};

std::string traceJson(const Timelines &lines) {
  const ProgramPlan &plan = lines.plan;
  std::ostringstream os;
  os << "{\"displayTimeUnit\": \"ns\", \"traceEvents\": [\n";
  const char *sep = "";
  auto meta = [&](const char *what, int pid, int tid, const std::string &name) {
    os << sep << "{\"name\": \"" << what << "\", \"ph\": \"M\", \"pid\": "
       << pid << ", \"tid\": " << tid << ", \"args\": {\"name\": "
       << jsonString(name) << "}}";
    sep = ",\n";
  };
  meta("process_name", 1,
       0, "predicted: " + plan.model + " (" + plan.schedule + ")");
  meta("process_name", 2, 0,
       "measured: " + plan.model + " (" + plan.schedule + ")");
  for (unsigned p = 0; p < lines.events.size(); ++p)
    for (int pid : {1, 2})
      meta("thread_name", pid, int(p) + 1, "processor " + std::to_string(p));
  for (unsigned p = 0; p < lines.events.size(); ++p)
    for (const TraceEvent &e : lines.events[p]) {
      const TaskInfo &t = plan.tasks[e.task];
      double start = Timelines::workStart(e);
      os << ",\n{\"name\": " << jsonString(t.name) << ", \"cat\": \""
         << t.kind << "\", \"ph\": \"X\", \"pid\": 2, \"tid\": " << p + 1
         << format(", \"ts\": %.3f, \"dur\": %.3f", start,
                   Timelines::workEnd(e) - start)
         << ", \"args\": {\"instance\": " << e.instance
         << format(", \"wait_us\": %.3f, \"send_wait_us\": %.3f}}", e.waitUs,
                   e.sendWaitUs);
      os << ",\n{\"name\": " << jsonString(t.name) << ", \"cat\": \""
         << t.kind << "\", \"ph\": \"X\", \"pid\": 1, \"tid\": " << p + 1
         << format(", \"ts\": %.3f, \"dur\": %.3f", lines.predictedStart(e),
                   t.durationUs)
         << ", \"args\": {\"instance\": " << e.instance << "}}";
    }
  os << "\n]}\n";
  return os.str();
}

/// The measured work of every task of the plan, one figure per instance in
/// instance order.
std::vector<std::vector<double>> taskWorkSamples(const Timelines &lines) {
  std::vector<std::vector<std::pair<int64_t, double>>> byInstance(
      lines.plan.tasks.size());
  for (const auto &list : lines.events)
    for (const TraceEvent &e : list)
      byInstance[e.task].push_back(
          {e.instance, Timelines::workEnd(e) - Timelines::workStart(e)});
  std::vector<std::vector<double>> work(byInstance.size());
  for (size_t t = 0; t < work.size(); ++t) {
    std::sort(byInstance[t].begin(), byInstance[t].end());
    for (const auto &[instance, us] : byInstance[t])
      work[t].push_back(us);
  }
  return work;
}

/// The median measured work of every task of the plan (-1: never ran).
std::vector<double> medianTaskWork(const Timelines &lines) {
  std::vector<std::vector<double>> work = taskWorkSamples(lines);
  std::vector<double> median(work.size(), -1.0);
  for (size_t t = 0; t < work.size(); ++t) {
    std::vector<double> &list = work[t];
    if (list.empty())
      continue;
    std::nth_element(list.begin(), list.begin() + list.size() / 2, list.end());
    median[t] = list[list.size() / 2];
  }
  return median;
}

/// Mean absolute percentage error of the predicted task times against the
/// measured median work of each task, and (in \p weighted) the same error
/// weighted by the predicted times: Σ|measured − predicted| / Σ predicted.
double taskTimeError(const Timelines &lines, int &tasks, double &weighted) {
  std::vector<double> measured = medianTaskWork(lines);
  double sum = 0, absolute = 0, total = 0;
  tasks = 0;
  for (size_t task = 0; task < measured.size(); ++task) {
    double predicted = lines.plan.tasks[task].durationUs;
    if (predicted <= 0 || measured[task] < 0)
      continue;
    double miss = std::fabs(measured[task] - predicted);
    sum += miss / predicted;
    absolute += miss;
    total += predicted;
    ++tasks;
  }
  weighted = total > 0 ? absolute / total : 0;
  return tasks ? sum / tasks : 0;
}

/// A page with both timelines of three rounds in the middle of the run, one
/// pair of lanes per processor, the measured one shifted so that the
/// window's instances start together on average.
std::string compareHtml(const Timelines &lines, double measuredUs,
                        double errorFraction) {
  const ProgramPlan &plan = lines.plan;
  int64_t lo = INT64_MAX, hi = INT64_MIN;
  for (const auto &list : lines.events)
    for (const TraceEvent &e : list) {
      lo = std::min(lo, lines.roundOf(e));
      hi = std::max(hi, lines.roundOf(e));
    }
  int64_t first = lo + (hi - lo) / 2 - 1, last = first + 2;
  auto inWindow = [&](const TraceEvent &e) {
    int64_t r = lines.roundOf(e);
    return r >= first && r <= last;
  };
  // Both lanes start at the window's first predicted instant; the measured
  // one is shifted by the median offset of the first round's tasks.
  double windowStart = double(first - lines.firstRound) * plan.roundUs;
  std::vector<double> shifts;
  double predictedEnd = windowStart, measuredEnd = windowStart;
  for (const auto &list : lines.events)
    for (const TraceEvent &e : list)
      if (lines.roundOf(e) == first)
        shifts.push_back(Timelines::workStart(e) - lines.predictedStart(e));
  std::nth_element(shifts.begin(), shifts.begin() + shifts.size() / 2,
                   shifts.end());
  double shift = shifts.empty() ? 0 : shifts[shifts.size() / 2];
  for (const auto &list : lines.events)
    for (const TraceEvent &e : list)
      if (inWindow(e)) {
        predictedEnd = std::max(predictedEnd, lines.predictedStart(e) +
                                                  plan.tasks[e.task].durationUs);
        measuredEnd = std::max(measuredEnd, Timelines::workEnd(e) - shift);
      }
  double windowLength =
      std::max(1.0, std::max(predictedEnd, measuredEnd) - windowStart);
  double ratio = plan.predictedPeriodUs > 0 && measuredUs > 0
                     ? measuredUs / plan.predictedPeriodUs
                     : 1;
  const double width = 1400, left = 150, lane = 26;
  double scale = (width - left - 10) / windowLength;
  unsigned P = unsigned(lines.events.size());
  double height = 60 + P * (2 * lane + 16);
  std::ostringstream os;
  os << "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>"
     << "predicted vs measured</title><style>body{font-family:sans-serif}"
        "text{font-size:11px}</style></head><body>\n<h3>"
     << "Predicted vs measured: " << plan.model << ", schedule "
     << plan.schedule << ", " << P << " processor(s)</h3>\n<p>"
     << format("Period per step: predicted %.1f us, measured %.1f us "
               "(measured/predicted %.2f). Task times: error weighted by time "
               "%.1f%%. Rounds %lld to %lld (the same task instances in both "
               "lanes); the measured lane is shifted by %.1f us so both "
               "start together; the axis spans %.1f us.",
               plan.predictedPeriodUs, measuredUs, ratio,
               100 * errorFraction, (long long)first, (long long)last, shift,
               windowLength)
     << "</p>\n<svg width=\"" << width << "\" height=\"" << height
     << "\" xmlns=\"http://www.w3.org/2000/svg\">\n";
  auto color = [](const std::string &kind) {
    if (kind == "F")
      return "#4e79a7";
    if (kind == "B" || kind == "BG")
      return "#f28e2b";
    if (kind == "G" || kind == "W")
      return "#59a14f";
    if (kind == "U")
      return "#e15759";
    return "#9c755f";
  };
  auto bar = [&](double y, double start, double length,
                 const TaskInfo &task) {
    double x0 = left + (start - windowStart) * scale;
    double x1 = x0 + std::max(1.0, length * scale);
    if (x1 < left || x0 > width)
      return;
    x0 = std::max(x0, left);
    os << format("<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\""
                 " fill=\"%s\" stroke=\"white\" stroke-width=\"0.5\">"
                 "<title>",
                 x0, y, x1 - x0, lane - 4, color(task.kind));
    for (char c : task.name)
      os << (c == '<' ? std::string("&lt;")
             : c == '&' ? std::string("&amp;")
                        : std::string(1, c));
    os << "</title></rect>\n";
  };
  for (unsigned p = 0; p < P; ++p) {
    double y = 40 + p * (2 * lane + 16);
    os << format("<text x=\"4\" y=\"%.1f\">P%u predicted</text>\n",
                 y + lane * 0.6, p)
       << format("<text x=\"4\" y=\"%.1f\">P%u measured</text>\n",
                 y + lane * 1.6, p);
    for (const TraceEvent &e : lines.events[p]) {
      if (!inWindow(e))
        continue;
      const TaskInfo &t = plan.tasks[e.task];
      bar(y, lines.predictedStart(e), t.durationUs, t);
      double start = Timelines::workStart(e) - shift;
      bar(y + lane, start, Timelines::workEnd(e) - Timelines::workStart(e), t);
    }
  }
  os << "</svg>\n<p>Colours: forward and loss blue/brown, activation "
        "gradient orange, weight gradient green, update red. Hover a bar for "
        "its task.</p>\n</body></html>\n";
  return os.str();
}

/// This process's trace events and transfer rows, for the host.
std::string shareBlob(const std::vector<std::unique_ptr<Processor::Impl>> &impls,
                      const std::vector<unsigned> &local, unsigned P,
                      const std::vector<int64_t> &transfer,
                      const std::vector<int64_t> &kinds) {
  std::vector<char> bytes;
  ByteWriter out(bytes);
  out.put(uint64_t(local.size()));
  for (unsigned p : local) {
    out.put(uint32_t(p));
    const std::vector<TraceEvent> &events = impls[p]->events;
    out.putArray(events.data(), events.size());
    out.putArray(transfer.data() + size_t(p) * P, P);
    out.putArray(kinds.data() + size_t(p) * 8, 8);
  }
  return std::string(bytes.begin(), bytes.end());
}

/// Reads every process's shareBlob into \p events and \p transfer.
void readShares(const std::vector<std::string> &blobs, unsigned P,
                std::vector<std::vector<TraceEvent>> &events,
                std::vector<int64_t> &transfer, std::vector<int64_t> &kinds) {
  for (const std::string &blob : blobs) {
    ByteReader in(blob.data(), blob.size());
    uint64_t count = in.get<uint64_t>();
    for (uint64_t i = 0; i < count; ++i) {
      unsigned p = in.get<uint32_t>();
      if (p >= P)
        throw std::runtime_error("a malformed share of the figures");
      in.getArray(events[p]);
      std::vector<int64_t> row;
      in.getArray(row);
      if (row.size() != P)
        throw std::runtime_error("a malformed share of the figures");
      std::copy(row.begin(), row.end(), transfer.begin() + size_t(p) * P);
      in.getArray(row);
      if (row.size() != 8)
        throw std::runtime_error("a malformed share of the figures");
      std::copy(row.begin(), row.end(), kinds.begin() + size_t(p) * 8);
    }
  }
}

/// The host's share of a checkpoint: the running sums of the epoch under
/// way and everything already printed.
struct HostState {
  BatchResult sum;
  double trainSeconds = 0;
  int64_t trainSamples = 0;
  std::vector<EpochFigures> figures;
  std::vector<std::string> lines;
};

std::string hostPayload(const HostState &h, int64_t steps) {
  std::vector<char> bytes;
  ByteWriter out(bytes);
  out.put(steps);
  out.put(h.sum);
  out.put(h.trainSeconds);
  out.put(h.trainSamples);
  out.putArray(h.figures.data(), h.figures.size());
  out.put(uint64_t(h.lines.size()));
  for (const std::string &line : h.lines)
    out.putString(line);
  return std::string(bytes.begin(), bytes.end());
}

/// Reads what hostPayload wrote after the step count.
void readHostState(ByteReader &in, HostState &h) {
  h.sum = in.get<BatchResult>();
  h.trainSeconds = in.get<double>();
  h.trainSamples = in.get<int64_t>();
  in.getArray(h.figures);
  uint64_t count = in.get<uint64_t>();
  for (uint64_t i = 0; i < count; ++i)
    h.lines.push_back(in.getString());
}

bool loadHostPart(const std::string &path, int64_t steps, HostState &h,
                  std::string &error) {
  std::string payload;
  if (!readCheckpointFile(path, CheckpointFileKind::Part, payload, error))
    return false;
  try {
    ByteReader in(payload.data(), payload.size());
    if (in.get<int64_t>() != steps)
      throw std::runtime_error("it is of another step");
    readHostState(in, h);
  } catch (const std::exception &e) {
    error = "checkpoint file " + path + ": malformed host part (" +
            e.what() + ")";
    return false;
  }
  return true;
}

/// The checkpoint of a finished run (one part, `final`, written by the
/// host after the last step): the host's figures, the final weights with
/// their optimizer state and the batchnorm state, and the text and summary
/// JSON the run ended with, so that --resume of a finished run repeats its
/// results without training again.
struct FinalState {
  HostState host;
  std::vector<ValuePtr> weights;
  std::vector<std::vector<float>> state;
  std::string text, summaryJson;
};

std::string finalPayload(const FinalState &f, int64_t steps) {
  std::string head = hostPayload(f.host, steps);
  std::vector<char> bytes(head.begin(), head.end());
  ByteWriter out(bytes);
  out.put(uint64_t(f.weights.size()));
  for (size_t l = 0; l < f.weights.size(); ++l) {
    out.put(uint8_t(f.weights[l] ? 1 : 0));
    if (f.weights[l])
      writeValue(out, *f.weights[l]);
    out.putArray(f.state[l].data(), f.state[l].size());
  }
  out.putString(f.text);
  out.putString(f.summaryJson);
  return std::string(bytes.begin(), bytes.end());
}

bool loadFinalPart(const std::string &path, int64_t steps, size_t numLayers,
                   FinalState &f, std::string &error) {
  std::string payload;
  if (!readCheckpointFile(path, CheckpointFileKind::Part, payload, error))
    return false;
  try {
    ByteReader in(payload.data(), payload.size());
    if (in.get<int64_t>() != steps)
      throw std::runtime_error("it is of another step");
    readHostState(in, f.host);
    if (in.get<uint64_t>() != numLayers)
      throw std::runtime_error("another number of layers");
    f.weights.assign(numLayers, nullptr);
    f.state.assign(numLayers, {});
    for (size_t l = 0; l < numLayers; ++l) {
      if (in.get<uint8_t>()) {
        auto value = std::make_shared<Value>();
        readValue(in, *value);
        f.weights[l] = std::move(value);
      }
      in.getArray(f.state[l]);
    }
    f.text = in.getString();
    f.summaryJson = in.getString();
    if (!in.atEnd())
      throw std::runtime_error("bytes after the end");
  } catch (const std::exception &e) {
    error = "checkpoint file " + path + ": malformed final part (" +
            e.what() + ")";
    return false;
  }
  return true;
}

/// Reads processor \p p's part of the checkpoint at cut \p K into its
/// restored weight versions and batchnorm state.
bool loadProcessorPart(const std::string &path, int64_t K, unsigned p,
                       Processor::Impl &impl, std::string &error) {
  std::string payload;
  if (!readCheckpointFile(path, CheckpointFileKind::Part, payload, error))
    return false;
  try {
    ByteReader in(payload.data(), payload.size());
    if (in.get<int64_t>() != K || in.get<uint32_t>() != p)
      throw std::runtime_error("it is of another step or processor");
    uint64_t count = in.get<uint64_t>();
    for (uint64_t i = 0; i < count; ++i) {
      uint64_t tag = in.get<uint64_t>();
      auto value = std::make_shared<Value>();
      readValue(in, *value);
      impl.restoredWeights[tag] = std::move(value);
    }
    count = in.get<uint64_t>();
    for (uint64_t i = 0; i < count; ++i) {
      int32_t layer = in.get<int32_t>();
      if (layer < 0 || size_t(layer) >= impl.state.size())
        throw std::runtime_error("a layer out of range");
      in.getArray(impl.state[size_t(layer)]);
    }
    if (!in.atEnd())
      throw std::runtime_error("bytes after the end");
  } catch (const std::exception &e) {
    error = "checkpoint file " + path + ": malformed part (" + e.what() + ")";
    return false;
  }
  return true;
}

std::string hex(uint64_t x) { return format("%016" PRIx64, x); }

/// What a stage program's checkpoints are written for.
CheckpointFingerprint stageFingerprint(const NetSpec &net,
                                       const ProgramPlan &plan,
                                       const Options &o, int64_t batch,
                                       const std::vector<int64_t> &delays) {
  CheckpointFingerprint f;
  std::vector<char> bytes;
  ByteWriter out(bytes);
  for (const LayerSpec &l : net.layers) {
    out.putString(l.name);
    out.put(int32_t(l.type));
    out.put(l.numParams);
    out.putArray(l.inputs.data(), l.inputs.size());
  }
  f.model = plan.model + " (layers " +
            hex(hashBytes(bytes.data(), bytes.size())) + ")";
  bytes.clear();
  for (const TaskInfo &t : plan.tasks) {
    out.putString(t.name);
    out.put(t.proc);
    out.put(t.a);
    out.put(t.b);
  }
  for (const auto &row : plan.placement)
    out.putArray(row.data(), row.size());
  std::string delayText;
  for (int64_t d : delays)
    delayText += (delayText.empty() ? "" : ",") + std::to_string(d);
  f.plan = "stage program, schedule " + plan.schedule + ", policy " +
           weightPolicyName(plan.policy) + ", " +
           std::to_string(plan.microBatches) + " micro-batches, delays " +
           delayText + ", tasks " + hex(hashBytes(bytes.data(), bytes.size()));
  f.processors = plan.processors;
  f.options = format("--epochs %d --batch %lld --lr %s --momentum %s "
                     "--weight-decay %s --lr-schedule %s --lr-warmup %lld "
                     "--seed %llu --delay-compensation %s --data %s "
                     "--train-limit %lld --test-limit %lld",
                     o.epochs, (long long)batch, shortest(o.lr).c_str(),
                     shortest(o.momentum).c_str(),
                     shortest(o.weightDecay).c_str(),
                     lrScheduleName(o.schedule), (long long)o.warmup,
                     (unsigned long long)o.seed,
                     delayCompensationName(o.compensation), o.data.c_str(),
                     (long long)o.trainLimit, (long long)o.testLimit);
  if (o.data != "synthetic")
    f.options += " --data-dir " + o.dataDir;
  return f;
}

} // namespace

int runStageProgram(int argc, char **argv, NetSpec net, ProgramPlan plan,
                    std::vector<ProcessorFunction> functions) {
  return runStageProgram(argc, argv, std::move(net), std::move(plan),
                         std::move(functions), Deployment());
}

int runStageProgram(int argc, char **argv, NetSpec net, ProgramPlan plan,
                    std::vector<ProcessorFunction> functions,
                    const Deployment &deployment) {
  const char *tool = argc > 0 ? argv[0] : "stage-program";
  auto failWith = [&](const std::string &message) {
    std::fflush(stdout);
    std::fprintf(stderr, "%s: error: %s\n", tool, message.c_str());
    return 1;
  };
  Options o;
  try {
    if (!parseOptions(argc, argv, plan, o))
      return 0;
  } catch (const UsageError &e) {
    return failWith(e.what());
  }
  initRuntime();
  // Every op allocates its outputs and frees its inputs' buffers: keep the
  // freed memory in the heap instead of returning large blocks to the
  // kernel, which would make each new tensor page-fault its way in again.
  mallopt(M_MMAP_THRESHOLD, 512 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  std::string error;
  if (!finalizeNet(net, error))
    return failWith("model '" + plan.model + "': " + error);
  std::vector<int64_t> delays;
  if (!effectiveDelays(net, plan.delays, delays, error))
    return failWith(error);
  unsigned P = plan.processors;
  if (functions.size() != P || plan.placement.size() != net.layers.size())
    return failWith("the generated program is inconsistent (processors or "
                    "layers); emit it again");

  // Data, as the reference trainer loads it.
  Dataset train, test;
  if (o.data == "synthetic") {
    train = makeSyntheticBlobs(net.inputShape, net.numClasses,
                               o.trainLimit > 0 ? o.trainLimit : 2048, o.seed,
                               0);
    test = makeSyntheticBlobs(net.inputShape, net.numClasses,
                              o.testLimit > 0 ? o.testLimit : 512, o.seed, 1);
  } else if (o.data == "fortunes") {
    // As layerpipe-train: next-character windows of the model's T.
    std::string dir = o.dataDir == defaultFashionMnistDir()
                          ? std::string(defaultFortunesDir())
                          : o.dataDir;
    if (net.inputShape.size() != 1 ||
        net.labelsPerSample != net.inputShape[0])
      return failWith("--data fortunes needs a model on token ids [T] with a "
                      "token-level loss");
    if (!loadFortunes(dir, net.inputShape[0], true, train, error) ||
        !loadFortunes(dir, net.inputShape[0], false, test, error))
      return failWith(error);
    train.truncate(o.trainLimit);
    test.truncate(o.testLimit);
  } else {
    if (!loadFashionMnist(o.dataDir, true, train, error) ||
        !loadFashionMnist(o.dataDir, false, test, error))
      return failWith(error);
    train.truncate(o.trainLimit);
    test.truncate(o.testLimit);
  }
  if (!checkDataFits(train, net.inputShape, net.numClasses, error) ||
      !checkDataFits(test, net.inputShape, net.numClasses, error))
    return failWith(error);
  if (train.labelsPerSample != net.labelsPerSample)
    return failWith(format("data set '%s' has %lld label(s) per sample but "
                           "the model's loss scores %lld per sample",
                           train.name.c_str(),
                           (long long)train.labelsPerSample,
                           (long long)net.labelsPerSample));
  int64_t batch = o.batch > 0 ? o.batch : plan.defaultBatch;
  // The plan's micro-batch b of the user's batch B: steps of b samples at
  // the rate lr·b/B (the trainer's --micro-batch b).
  int64_t userBatch = batch;
  if (plan.microBatchSize > 0) {
    if (plan.microBatchSize > userBatch)
      return failWith(format("the plan's micro-batch %lld is larger than "
                             "--batch %lld (run with --batch %lld or more, "
                             "or compile with --micro-batch %lld or less, "
                             "or --micro-batch none)",
                             (long long)plan.microBatchSize,
                             (long long)userBatch,
                             (long long)plan.microBatchSize,
                             (long long)userBatch));
    batch = plan.microBatchSize;
  }
  unsigned M = std::max(1u, plan.microBatches);
  if (batch < int64_t(M))
    return failWith(format("--batch %lld is smaller than the schedule's %u "
                           "micro-batches",
                           (long long)batch, M));
  if (train.count < batch)
    return failWith(format("--batch %lld is larger than the %lld training "
                           "samples",
                           (long long)batch, (long long)train.count));
  int64_t stepsPerEpoch = train.count / batch;
  if (deployment.stepsPerEpoch > 0)
    stepsPerEpoch = std::min(stepsPerEpoch, deployment.stepsPerEpoch);
  int64_t steps = stepsPerEpoch * o.epochs;
  if (steps * int64_t(M) >= (int64_t(1) << 32))
    return failWith("the run has more than 2^32 micro-batches");

  OpGraph graph(net, delays, plan.policy, M, steps);

  // Checkpoints: what they are written for, and the one to resume from.
  CheckpointFingerprint fingerprint =
      stageFingerprint(net, plan, o, batch, delays);
  CheckpointManifest resumeFrom;
  bool resuming = false;
  if (!o.checkpointDir.empty()) {
    if (!makeCheckpointDir(o.checkpointDir, error))
      return failWith(error);
    if (o.resume) {
      resuming = findCheckpoint(
          o.checkpointDir, fingerprint, resumeFrom,
          [&](const std::string &why) {
            if (deployment.host)
              std::fprintf(stderr, "%s: warning: %s; trying an older one\n",
                           tool, why.c_str());
          });
      if (resuming && resumeFrom.steps > steps)
        return failWith("checkpoint " + resumeFrom.path + " is of step " +
                        std::to_string(resumeFrom.steps) +
                        ", but the run has only " + std::to_string(steps) +
                        " steps");
      if (!resuming && deployment.host)
        std::fprintf(stderr,
                     "%s: note: no complete checkpoint of this run in %s: "
                     "starting from the beginning\n",
                     tool, o.checkpointDir.c_str());
    }
  }
  if (resuming && resumeFrom.steps == steps) {
    // A finished run: repeat its results; no rank trains again.
    if (!deployment.host)
      return 0;
    FinalState f;
    if (!loadFinalPart(checkpointPath(o.checkpointDir, steps, "final"), steps,
                       net.layers.size(), f, error))
      return failWith(error);
    for (const std::string &line : f.host.lines)
      std::printf("%s", line.c_str());
    std::printf("  resumed from %s after step %lld: the run had finished, "
                "nothing left to train\n%s",
                resumeFrom.path.c_str(), (long long)steps, f.text.c_str());
    std::fflush(stdout);
    if (!o.summaryJson.empty() && !writeFile(o.summaryJson, f.summaryJson, error))
      return failWith(error);
    return 0;
  }
  graph.setUpdateReadsForwardWeights(
      correctionNeedsForwardWeights(o.compensation));
  if (correctionPredicts(o.compensation) && o.momentum == 0.0f &&
      std::any_of(delays.begin(), delays.end(),
                  [](int64_t d) { return d > 0; }))
    return failWith(std::string("delay compensation '") +
                    delayCompensationName(o.compensation) +
                    "' predicts weights from the momentum buffer and needs "
                    "momentum > 0");
  // The host's mailbox is unbounded: it never blocks a processor.
  std::vector<int64_t> capacity(size_t(P + 1) * (P + 1), 0);
  for (unsigned a = 0; a < P; ++a)
    for (unsigned b = 0; b < P; ++b)
      if (size_t(a) * P + b < plan.capacity.size())
        capacity[size_t(a) * (P + 1) + b] = plan.capacity[size_t(a) * P + b];
  std::unique_ptr<Transport> transport =
      deployment.transport ? deployment.transport(P + 1, capacity)
                           : makeThreadTransport(P + 1, capacity);
  if (deployment.started)
    *deployment.started = true;
  // The processors this process runs.
  std::vector<unsigned> local = deployment.processors;
  if (local.empty())
    for (unsigned p = 0; p < P; ++p)
      local.push_back(p);
  bool isHost = deployment.host;
  Execution run{net,   graph, plan,          o,          SgdConfig(),
                0.9f,  train, batch,         stepsPerEpoch, *transport,
                P,     {},    {},            Clock::now(), {}};
  if (const char *fault = std::getenv("LAYERPIPE_INJECT_FAULT")) {
    long long p = -1, n = 0;
    if (std::sscanf(fault, "%lld:%lld", &p, &n) == 2) {
      run.faultProcessor = int(p);
      run.faultInstance = n;
    }
  }
  run.checkpointDir = o.checkpointDir;
  run.resumeCut = resuming ? resumeFrom.steps - 1 : -1;
  if (!o.checkpointDir.empty()) {
    int64_t every = o.checkpointEvery > 0 ? o.checkpointEvery : stepsPerEpoch;
    for (int64_t S = every; S < steps; S += every)
      if (S - 1 > run.resumeCut)
        run.cuts.push_back(S - 1);
  }
  run.transferStep = steps / 2;
  run.transfer.assign(size_t(P) * P, 0);
  run.transferKinds.assign(size_t(P) * 8, 0);
  run.sgd.lr = microBatchLearningRate(o.lr, userBatch, batch);
  run.sgd.momentum = o.momentum;
  run.sgd.weightDecay = o.weightDecay;
  run.sgd.schedule = microBatchSchedule(o.schedule, userBatch, batch);
  run.sgd.warmupSteps = microBatchWarmupSteps(o.warmup, userBatch, batch);
  run.sgd.totalSteps = steps;
  run.correction.mode = o.compensation;
  run.correction.dcLambda = o.dcLambda;
  run.correction.warmupSteps =
      o.pipemareWarmup >= 0 ? o.pipemareWarmup : stepsPerEpoch;
  initParams(net, o.seed, run.initialParams, run.initialState);
  for (const std::vector<float> &w : run.initialParams)
    run.memory.baseWeights += int64_t(w.size() * sizeof(float));

  int lossLayer = int(net.layers.size()) - 1;
  int lossProc = plan.placement[size_t(lossLayer)][size_t(OpKind::Loss)];
  if (isHost) {
  std::printf("%s: %s on %s (%lld train / %lld test samples), batch %lld, "
              "%lld steps/epoch\n",
              tool, plan.model.c_str(), train.name.c_str(),
              (long long)train.count, (long long)test.count, (long long)batch,
              (long long)stepsPerEpoch);
  std::string delayText;
  for (size_t l = 0; l < net.layers.size(); ++l)
    if (net.layers[l].hasParams())
      delayText += (delayText.empty() ? "" : " ") + net.layers[l].name + "=" +
                   std::to_string(delays[l]);
  std::printf("  schedule %s on %u processor%s, %u micro-batch%s per step, "
              "predicted %.1f us/step\n",
              plan.schedule.c_str(), P, P == 1 ? "" : "s", M,
              M == 1 ? "" : "es", plan.predictedPeriodUs);
  if (batch != userBatch)
    std::printf("  micro-batch %lld of the user's batch %lld: lr %g\n",
                (long long)batch, (long long)userBatch, double(run.sgd.lr));
  std::printf("  policy %s, delays %s (%u stage%s): %s\n",
              weightPolicyName(plan.policy), plan.delaysRule.c_str(),
              plan.stages, plan.stages == 1 ? "" : "s", delayText.c_str());
  std::fflush(stdout);
  }

  // Processors.
  std::vector<std::unique_ptr<Processor::Impl>> impls;
  std::vector<std::unique_ptr<Processor>> procs;
  for (unsigned p = 0; p < P; ++p) {
    impls.push_back(std::make_unique<Processor::Impl>(run, p));
    impls.back()->state.assign(net.layers.size(), {});
    procs.push_back(std::make_unique<Processor>(impls.back().get()));
  }
  std::vector<bool> stateful(net.layers.size());
  for (size_t l = 0; l < net.layers.size(); ++l)
    stateful[l] = !run.initialState[l].empty();
  // The host's share of a checkpoint.
  HostState hostState;
  for (unsigned p : local) {
    Processor::Impl &impl = *impls[p];
    for (int64_t K : run.cuts)
      impl.cutPlans.push_back(planCut(graph, plan, p, K, stateful));
    if (resuming &&
        !loadProcessorPart(checkpointPath(o.checkpointDir, resumeFrom.steps,
                                          "p" + std::to_string(p)),
                           resumeFrom.steps - 1, p, impl, error))
      return failWith(error);
  }
  if (resuming && isHost &&
      !loadHostPart(checkpointPath(o.checkpointDir, resumeFrom.steps, "host"),
                    resumeFrom.steps, hostState, error))
    return failWith(error);
  for (unsigned p = 0; p < P; ++p) {
    int64_t first = INT64_MAX, end = INT64_MIN;
    for (const TaskInfo &t : plan.tasks) {
      if (t.proc != p)
        continue;
      int64_t limit = t.kind == "U" ? steps : steps * int64_t(M);
      // a·r + b in [0, limit): r in [ceil(-b / a), ceil((limit - b) / a)).
      auto ceilDiv = [](int64_t x, int64_t y) {
        return x >= 0 ? (x + y - 1) / y : -((-x) / y);
      };
      first = std::min(first, ceilDiv(-t.b, t.a));
      end = std::max(end, ceilDiv(limit - t.b, t.a));
    }
    if (first > end)
      first = end = 0;
    procs[p]->firstRound_ = first;
    procs[p]->endRound_ = end;
  }
  std::vector<double> load(local.size(), 0.0);
  for (const TaskInfo &t : plan.tasks)
    for (size_t i = 0; i < local.size(); ++i)
      if (t.proc == local[i])
        load[i] += t.durationUs;
  Pinning pinning;
  if (!deployment.processorCpus.empty()) {
    if (deployment.processorCpus.size() != local.size())
      return failWith(format("%zu CPUs given for %zu processor threads",
                             deployment.processorCpus.size(), local.size()));
    pinning.cpuOf = deployment.processorCpus;
  } else if (!pinnedCpus(o.pinThreads, load, local.size() == P, pinning,
                         error)) {
    return failWith(error);
  }
  const std::vector<int> &cpuOf = pinning.cpuOf;
  // A pinned processor thread has its CPU to itself: it polls, so that
  // its senders need not wake it (docs/codegen.md, "Waiting for messages").
  // The MPI transport waits in its own communication thread.
  bool poll = !deployment.transport &&
              (o.wait == "poll" || (o.wait == "auto" && !cpuOf.empty()));
  for (unsigned p : local)
    transport->setPolling(p, poll);
  run.origin = Clock::now();
  double cpuStart = cpuSeconds();
  std::vector<std::thread> threads;
  for (size_t i = 0; i < local.size(); ++i)
    threads.emplace_back([&, i, p = local[i]] {
      if (!cpuOf.empty())
        pinCurrentThread({cpuOf[i]});
      try {
        functions[p](*procs[p]);
      } catch (const TransportAborted &) {
      } catch (const std::exception &e) {
        transport->abort("processor " + std::to_string(p) + ": " + e.what());
      }
    });
  auto joinAll = [&] {
    for (std::thread &t : threads)
      t.join();
    threads.clear();
  };
  if (!isHost) {
    // A rank without the host: its processor, then its share of the
    // figures.
    joinAll();
    if (!transport->abortReason().empty())
      return failWith(transport->abortReason());
    if (deployment.gather)
      deployment.gather(shareBlob(impls, local, P, run.transfer, run.transferKinds));
    return 0;
  }

  // The host: results in order, progress, epochs. With the processor
  // threads bound, the host (and the test-set thread it starts) keeps to
  // the CPUs they leave free; when they hold every CPU, it shares the least
  // loaded processor's, where it delays the period least. Unbound, the
  // kernel may wake it on a processor's CPU, which it then preempts: the
  // evaluation at an epoch's end held up a one-processor LeNet-5 program's
  // last update for 1.6 ms (docs/profile.md, "The host thread").
  std::unique_ptr<ScopedPin> hostPin;
  if (!cpuOf.empty()) {
    std::vector<int> spare;
    for (int cpu : allowedCpus())
      if (std::find(cpuOf.begin(), cpuOf.end(), cpu) == cpuOf.end())
        spare.push_back(cpu);
    if (spare.empty()) {
      size_t light = size_t(std::min_element(load.begin(), load.end()) -
                            load.begin());
      spare.push_back(cpuOf[light]);
    }
    hostPin = std::make_unique<ScopedPin>(spare);
  }
  // mpirun gives its ranks a pseudo-terminal even when its own output is a
  // pipe: a distributed run draws no progress line unless asked to.
  bool tty = isatty(fileno(stdout)) && deployment.ranks <= 1;
  int64_t every = o.progressEvery > 0 ? o.progressEvery : (tty ? 1 : 0);
  bool redraw = tty && o.progressEvery == 0;
  auto lastDraw = Clock::now();
  std::vector<EpochFigures> figures = hostState.figures;
  std::vector<std::string> epochLines = hostState.lines;
  double trainSeconds = hostState.trainSeconds;
  int64_t trainSamples = hostState.trainSamples;
  int startEpoch = int(resuming ? resumeFrom.steps / stepsPerEpoch : 0);
  int64_t startS = resuming ? resumeFrom.steps % stepsPerEpoch : 0;
  if (resuming) {
    for (const std::string &line : epochLines)
      std::printf("%s", line.c_str());
    std::printf("  resumed from %s after step %lld\n",
                resumeFrom.path.c_str(), (long long)resumeFrom.steps);
    std::fflush(stdout);
  }
  int64_t previousCheckpoint = resuming ? resumeFrom.steps : -1;
  // After step K: the host's part, the processors' notices, the manifest.
  auto writeCheckpoint = [&](int64_t K, const BatchResult &sum) {
    if (std::find(run.cuts.begin(), run.cuts.end(), K) == run.cuts.end())
      return;
    HostState h;
    h.sum = sum;
    h.trainSeconds = trainSeconds;
    h.trainSamples = trainSamples;
    h.figures = figures;
    h.lines = epochLines;
    CheckpointManifest m;
    m.steps = K + 1;
    m.fingerprint = fingerprint;
    CheckpointPart part;
    std::string why;
    if (!writeCheckpointFile(checkpointPath(o.checkpointDir, K + 1, "host"),
                             CheckpointFileKind::Part, hostPayload(h, K + 1),
                             &part, why))
      throw std::runtime_error(why);
    m.parts.push_back(part);
    for (unsigned p = 0; p < P; ++p) {
      ValuePtr notice = transport->receive(
          P, p,
          ValueRef{ValueKind::Result, CheckpointNoticeLayer, 0, K}.tag());
      CheckpointPart pp;
      pp.name = checkpointPath("", K + 1, "p" + std::to_string(p)).substr(1);
      pp.size = uint64_t(notice->correct);
      pp.checksum = uint64_t(notice->samples);
      m.parts.push_back(pp);
    }
    if (!writeManifest(o.checkpointDir, m, why))
      throw std::runtime_error(why);
    if (previousCheckpoint > 0)
      pruneCheckpoints(o.checkpointDir, previousCheckpoint);
    previousCheckpoint = K + 1;
  };
  std::vector<std::vector<float>> params(net.layers.size()),
      state(net.layers.size());
  std::vector<ValuePtr> finalWeights(net.layers.size());
  for (size_t l = 0; l < net.layers.size(); ++l)
    state[l] = run.initialState[l];
  auto epochStart = Clock::now();
  try {
    for (int epoch = startEpoch; epoch < o.epochs; ++epoch) {
      BatchResult sum = epoch == startEpoch ? hostState.sum : BatchResult();
      for (int64_t s = epoch == startEpoch ? startS : 0; s < stepsPerEpoch;
           ++s) {
        int64_t step = epoch * stepsPerEpoch + s;
        BatchResult r;
        for (unsigned m = 0; m < M; ++m) {
          ValuePtr v = transport->receive(
              P, unsigned(lossProc),
              ValueRef{ValueKind::Result, 0, 0, step * int64_t(M) + m}.tag());
          r.lossSum += v->loss * double(v->samples);
          r.correct += v->correct;
          r.samples += v->samples;
        }
        if (!std::isfinite(r.lossSum)) {
          std::string message =
              format("training diverged: the loss of epoch %d, batch %lld "
                     "is %g",
                     epoch + 1, (long long)(s + 1),
                     r.lossSum / double(batch));
          transport->abort(message);
          joinAll();
          if (redraw)
            std::printf("\r\x1b[K");
          if (!o.summaryJson.empty()) {
            std::string text = "{\n  \"model\": " + jsonString(plan.model) +
                               ",\n  \"policy\": \"" +
                               weightPolicyName(plan.policy) +
                               "\",\n  \"diverged\": true,\n  \"message\": " +
                               jsonString(message) + "\n}\n";
            std::string ignored;
            writeFile(o.summaryJson, text, ignored);
          }
          return failWith(message);
        }
        sum.lossSum += r.lossSum;
        sum.correct += r.correct;
        sum.samples += r.samples;
        if (s + 1 < stepsPerEpoch)
          writeCheckpoint(step, sum);
        if (every > 0 && (s + 1) % every == 0 && s + 1 < stepsPerEpoch) {
          auto now = Clock::now();
          if (redraw && now - lastDraw < std::chrono::milliseconds(200))
            continue;
          lastDraw = now;
          std::string line =
              format("  epoch %d/%d: batch %lld/%lld loss %.4f train-acc "
                     "%.2f%%",
                     epoch + 1, o.epochs, (long long)(s + 1),
                     (long long)stepsPerEpoch,
                     sum.lossSum / double(sum.samples),
                     100.0 * double(sum.correct) /
                         double(sum.samples * net.labelsPerSample));
          std::printf("%s", (redraw ? "\r" + line : line + "\n").c_str());
          std::fflush(stdout);
        }
      }
      EpochFigures f;
      auto epochEnd = Clock::now();
      f.seconds = std::chrono::duration<double>(epochEnd - epochStart).count();
      epochStart = epochEnd;
      if (redraw)
        std::printf("\r\x1b[K");
      trainSeconds += f.seconds;
      trainSamples += sum.samples;
      f.loss = sum.lossSum / double(sum.samples);
      f.trainAccuracy =
          double(sum.correct) / double(sum.samples * net.labelsPerSample);
      f.samplesPerSecond = double(sum.samples) / f.seconds;
      // The weights and batchnorm state after the epoch's last step.
      for (size_t l = 0; l < net.layers.size(); ++l) {
        int lp = int(l);
        if (net.layers[l].hasParams()) {
          int from = plan.placement[l][size_t(OpKind::Update)];
          finalWeights[l] = transport->receive(
              P, unsigned(from),
              ValueRef{ValueKind::SnapshotWeights, lp, 0, epoch + 1}.tag());
          params[l] = finalWeights[l]->weights;
        }
        if (!run.initialState[l].empty()) {
          int from = plan.placement[l][size_t(OpKind::Forward)];
          state[l] = transport
                         ->receive(P, unsigned(from),
                                   ValueRef{ValueKind::SnapshotState, lp, 0,
                                            epoch + 1}
                                       .tag())
                         ->weights;
        }
      }
      BatchResult t = evaluateDataset(net, params, state, o.seed, test);
      f.testAccuracy =
          double(t.correct) / double(t.samples * net.labelsPerSample);
      f.testLoss = t.lossSum / double(t.samples);
      MemoryStats peak;
      {
        std::lock_guard<std::mutex> lock(run.memory.mutex);
        peak = run.memory.peak;
      }
      epochLines.push_back(format(
                  "epoch %d/%d: loss %.4f  train-acc %.2f%%  test-acc %.2f%%  "
                  "%.0f samples/s  memory %s (weights %s, stashed %s, "
                  "activations %s)\n",
                  epoch + 1, o.epochs, f.loss, 100 * f.trainAccuracy,
                  100 * f.testAccuracy, f.samplesPerSecond,
                  bytesText(peak.total()).c_str(),
                  bytesText(peak.weights).c_str(),
                  bytesText(peak.stashedWeights).c_str(),
                  bytesText(peak.activations).c_str()));
      std::printf("%s", epochLines.back().c_str());
      std::fflush(stdout);
      figures.push_back(f);
      writeCheckpoint((epoch + 1) * stepsPerEpoch - 1, BatchResult());
    }
  } catch (const TransportAborted &) {
    joinAll();
    return failWith(transport->abortReason());
  } catch (const std::exception &e) {
    transport->abort(std::string("host: ") + e.what());
    joinAll();
    return failWith(transport->abortReason());
  }
  joinAll();
  if (!transport->abortReason().empty())
    return failWith(transport->abortReason());
  double cpu = cpuSeconds() - cpuStart;
  // The CPUs' speeds again after the run: beside the ones it started on,
  // they show whether a CPU slowed down meanwhile.
  std::vector<double> probeAfter;
  if (!pinning.probed.empty())
    probeAfter = timeCpus(pinning.probed);

  std::vector<std::vector<TraceEvent>> events;
  for (auto &impl : impls)
    events.push_back(std::move(impl->events));
  if (deployment.gather) {
    std::vector<std::string> blobs =
        deployment.gather(shareBlob(impls, local, P, run.transfer, run.transferKinds));
    try {
      readShares(blobs, P, events, run.transfer, run.transferKinds);
    } catch (const std::exception &e) {
      return failWith(e.what());
    }
  }
  int64_t transferTotal = 0;
  std::string transferPairs, transferKinds;
  {
    static const char *const kindNames[] = {
        "activations", "forward caches", "gradient parts", "weight gradients",
        "weights+optimizer state"};
    for (size_t k = 0; k < 5; ++k) {
      int64_t bytes = 0;
      for (unsigned p = 0; p < P; ++p)
        bytes += run.transferKinds[size_t(p) * 8 + k];
      if (bytes)
        transferKinds += format("%s%s %lld", transferKinds.empty() ? "" : ", ",
                                kindNames[k], (long long)bytes);
    }
  }
  for (unsigned a = 0; a < P; ++a)
    for (unsigned b = 0; b < P; ++b)
      if (int64_t bytes = run.transfer[size_t(a) * P + b]) {
        transferTotal += bytes;
        transferPairs += format("%sP%u->P%u %lld", transferPairs.empty() ? "" : ", ",
                                a, b, (long long)bytes);
      }
  double measured = measuredPeriod(events, plan);
  Timelines lines{events, plan, INT64_MAX};
  for (const auto &proc : procs)
    lines.firstRound = std::min(lines.firstRound, proc->firstRound_);
  int timedTasks = 0;
  double weightedError = 0;
  double taskError = taskTimeError(lines, timedTasks, weightedError);
  if (deployment.taskWork)
    deployment.taskWork(taskWorkSamples(lines));
  double samplesPerSecond = double(trainSamples) / trainSeconds;
  uint64_t checksum = weightsChecksum(params, state);
  MemoryStats peak = run.memory.peak;
  // The closing lines, kept in the final checkpoint too.
  std::string finalText = format(
      "final: test-acc %.2f%%  loss %.4f  %.0f samples/s  peak memory %s  "
      "weights %016" PRIx64 "\n",
      100 * figures.back().testAccuracy, figures.back().loss,
      samplesPerSecond, bytesText(peak.total()).c_str(), checksum);
  finalText += format("period: measured %.1f us/step, predicted %.1f us/step "
                      "(measured/predicted %.2f)\n",
                      measured, plan.predictedPeriodUs,
                      plan.predictedPeriodUs > 0
                          ? measured / plan.predictedPeriodUs
                          : 0.0);
  finalText += format("tasks: predicted vs measured work of %d tasks: mean "
                      "absolute error %.1f%% per task, %.1f%% weighted by "
                      "time\n",
                      timedTasks, 100 * taskError, 100 * weightedError);
  finalText += format("transfers: %lld bytes between processors for the "
                      "values of step %lld%s%s%s\n",
                      (long long)transferTotal, (long long)run.transferStep,
                      transferPairs.empty() ? "" : " (", transferPairs.c_str(),
                      transferPairs.empty() ? "" : ")");
  int64_t ownOutputs = 0;
  for (unsigned p = 0; p < P; ++p)
    ownOutputs += run.transferKinds[size_t(p) * 8 + 7];
  if (!transferKinds.empty())
    finalText += format("  by kind: %s; of the activations, %lld bytes are "
                        "layers' own outputs sent to their backward tasks: "
                        "%lld bytes without them\n",
                        transferKinds.c_str(), (long long)ownOutputs,
                        (long long)(transferTotal - ownOutputs));
  std::printf("%s", finalText.c_str());
  std::fflush(stdout);
  if (!o.tracePath.empty() &&
      !writeFile(o.tracePath, traceJson(lines), error))
    return failWith(error);
  if (!o.compareHtmlPath.empty() &&
      !writeFile(o.compareHtmlPath,
                 compareHtml(lines, measured, weightedError), error))
    return failWith(error);
  std::string summaryText;
  {
    std::string delaysJson, perEpoch;
    for (size_t l = 0; l < net.layers.size(); ++l)
      if (net.layers[l].hasParams())
        delaysJson += (delaysJson.empty() ? "" : ", ") +
                      jsonString(net.layers[l].name) + ": " +
                      std::to_string(plan.delays[l]);
    for (size_t e = 0; e < figures.size(); ++e)
      perEpoch += format("%s    {\"epoch\": %zu, \"loss\": %.6f, "
                         "\"train_accuracy\": %.6f, \"test_accuracy\": %.6f, "
                         "\"samples_per_s\": %.1f, \"pipelined\": %s}",
                         e ? ",\n" : "", e + 1, figures[e].loss,
                         figures[e].trainAccuracy, figures[e].testAccuracy,
                         figures[e].samplesPerSecond,
                         *std::max_element(delays.begin(), delays.end()) > 0
                             ? "true"
                             : "false");
    const EpochFigures &last = figures.back();
    std::ostringstream os;
    os << "{\n  \"model\": " << jsonString(plan.model) << ",\n  \"data\": \""
       << o.data << "\",\n  \"policy\": \"" << weightPolicyName(plan.policy)
       << "\",\n  \"delays_rule\": " << jsonString(plan.delaysRule)
       << ",\n  \"stages\": " << plan.stages << ",\n  \"delays\": {"
       << delaysJson << "},\n  \"hybrid\": 0,\n  \"epochs\": " << o.epochs
       << ",\n  \"batch\": " << batch << ",\n  \"lr\": " << shortest(o.lr)
       << ",\n  \"momentum\": " << shortest(o.momentum)
       << ",\n  \"weight_decay\": " << shortest(o.weightDecay)
       << ",\n  \"lr_schedule\": \"" << lrScheduleName(o.schedule)
       << "\",\n  \"lr_warmup\": " << o.warmup << ",\n  \"seed\": " << o.seed
       << ",\n  \"delay_compensation\": \""
       << delayCompensationName(o.compensation)
       << "\",\n  \"micro_batches\": " << M << ",\n  \"weights_checksum\": \""
       << format("%016" PRIx64, checksum) << "\",\n"
       << format("  \"test_accuracy\": %.6f,\n  \"train_accuracy\": %.6f,\n"
                 "  \"final_loss\": %.6f,\n  \"test_loss\": %.6f,\n"
                 "  \"samples_per_s\": %.1f,\n  \"cpu_samples_per_s\": %.1f,\n",
                 last.testAccuracy, last.trainAccuracy, last.loss,
                 last.testLoss, samplesPerSecond, double(trainSamples) / cpu)
       << "  \"peak_memory_bytes\": " << peak.total()
       << ",\n  \"weight_memory_bytes\": " << peak.weights
       << ",\n  \"stashed_weight_bytes\": " << peak.stashedWeights
       << ",\n  \"optimizer_bytes\": " << peak.optimizer
       << ",\n  \"gradient_bytes\": " << peak.gradients
       << ",\n  \"activation_bytes\": " << peak.activations
       << ",\n  \"diverged\": false,\n  \"schedule\": "
       << jsonString(plan.schedule) << ",\n  \"processors\": " << P
       << ",\n  \"threads_pinned\": " << cpuOf.size()
       << ",\n  \"threads_poll\": " << (poll ? "true" : "false")
       << ",\n  \"processor_cpus\": " << cpuProbeJson(cpuOf, {})
       << ",\n  \"cpu_probe\": {\"cpus\": " << cpuProbeJson(pinning.probed, {})
       << ", \"loop_us_before\": " << cpuProbeJson({}, pinning.before)
       << ", \"loop_us_after\": " << cpuProbeJson({}, probeAfter) << "}"
       << format(",\n  \"measured_period_us\": %.3f,\n"
                 "  \"predicted_period_us\": %.3f,\n"
                 "  \"task_time_error\": %.4f,\n"
                 "  \"task_time_error_weighted\": %.4f,\n",
                 measured, plan.predictedPeriodUs, taskError, weightedError)
       << "  \"transfer_bytes_per_step\": " << transferTotal << ",\n"
       << "  \"per_epoch\": [\n"
       << perEpoch << "\n  ]\n}\n";
    summaryText = os.str();
  }
  if (!o.checkpointDir.empty()) {
    // The checkpoint of the finished run.
    FinalState f;
    f.host.trainSeconds = trainSeconds;
    f.host.trainSamples = trainSamples;
    f.host.figures = figures;
    f.host.lines = epochLines;
    f.weights = finalWeights;
    f.state = state;
    f.text = finalText;
    f.summaryJson = summaryText;
    CheckpointManifest m;
    m.steps = steps;
    m.fingerprint = fingerprint;
    CheckpointPart part;
    if (!writeCheckpointFile(checkpointPath(o.checkpointDir, steps, "final"),
                             CheckpointFileKind::Part, finalPayload(f, steps),
                             &part, error) ||
        (m.parts.push_back(part), !writeManifest(o.checkpointDir, m, error)))
      return failWith(error);
    // The two newest cuts stay beside it (no pruning here).
  }
  if (!o.summaryJson.empty() && !writeFile(o.summaryJson, summaryText, error))
    return failWith(error);
  return 0;
}

} // namespace runtime
} // namespace layerpipe
