//===- ProgramPlan.cpp - From a schedule to a stage program's plan --------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// Reads the verified schedule and turns each task into per-layer ops with an
// iteration mapping (round r runs instance a·r + b), then proves that the
// per-processor order of the ops satisfies the runtime's data flow
// (OpGraph) and sizes the channels from it (docs/codegen.md, "Why it cannot
// deadlock").
//
// Iteration mapping of a periodic schedule: the retimed DFG's edge u -> v
// has delay d = w + r(v) − r(u), where w is what the edge means in the
// trainer's semantics (0 within an iteration, D_l from G to U, 1 on the
// weight loops). Iteration n of task v in the schedule is therefore
// instance n + c(v) of the trainer, with c(v) − c(u) = w − d along every
// edge; a breadth-first walk finds c.
//
//===----------------------------------------------------------------------===//

#include "layerpipe/CodeGen.h"

#include "llvm/Support/FormatVariadic.h"

#include <algorithm>
#include <cmath>
#include <deque>
#include <map>

using namespace llvm;
namespace rt = layerpipe::runtime;

namespace layerpipe {

static Error planError(const Twine &message) {
  return createStringError(inconvertibleErrorCode(),
                           ("cannot emit a stage program: " + message).str());
}

static rt::LayerType runtimeType(LayerKind kind) {
  switch (kind) {
  case LayerKind::Conv2d:
    return rt::LayerType::Conv2d;
  case LayerKind::Dense:
    return rt::LayerType::Dense;
  case LayerKind::MaxPool:
    return rt::LayerType::MaxPool;
  case LayerKind::AvgPool:
    return rt::LayerType::AvgPool;
  case LayerKind::Relu:
    return rt::LayerType::Relu;
  case LayerKind::Tanh:
    return rt::LayerType::Tanh;
  case LayerKind::Sigmoid:
    return rt::LayerType::Sigmoid;
  case LayerKind::Flatten:
    return rt::LayerType::Flatten;
  case LayerKind::Add:
    return rt::LayerType::Add;
  case LayerKind::BatchNorm:
    return rt::LayerType::BatchNorm;
  case LayerKind::Dropout:
    return rt::LayerType::Dropout;
  case LayerKind::SoftmaxCrossEntropy:
    return rt::LayerType::SoftmaxCrossEntropy;
  case LayerKind::Concat:
    return rt::LayerType::Concat;
  case LayerKind::GlobalAvgPool:
    return rt::LayerType::GlobalAvgPool;
  case LayerKind::Relu6:
    return rt::LayerType::Relu6;
  case LayerKind::Embedding:
    return rt::LayerType::Embedding;
  case LayerKind::PositionEmbedding:
    return rt::LayerType::PositionEmbedding;
  case LayerKind::LayerNorm:
    return rt::LayerType::LayerNorm;
  case LayerKind::RmsNorm:
    return rt::LayerType::RmsNorm;
  case LayerKind::Attention:
    return rt::LayerType::Attention;
  case LayerKind::Gelu:
    return rt::LayerType::Gelu;
  case LayerKind::Silu:
    return rt::LayerType::Silu;
  case LayerKind::SwiGlu:
    return rt::LayerType::SwiGlu;
  }
  llvm_unreachable("unknown layer kind");
}

Expected<rt::NetSpec> lowerToRuntimeNet(const Model &model) {
  rt::NetSpec net;
  net.inputShape.assign(model.inputShape.dims.begin(),
                        model.inputShape.dims.end());
  for (const Layer &layer : model.layers) {
    rt::LayerSpec l;
    l.name = layer.name;
    l.type = runtimeType(layer.kind);
    for (unsigned p : layer.inputs)
      l.inputs.push_back(int(p));
    l.outChannels = layer.outChannels;
    l.units = layer.units;
    l.kernelH = layer.kernelH;
    l.kernelW = layer.kernelW;
    l.strideH = layer.strideH;
    l.strideW = layer.strideW;
    l.padH = layer.padH;
    l.padW = layer.padW;
    l.bias = layer.bias;
    l.groups = layer.groups;
    l.dropRate = float(layer.dropRate);
    l.vocab = layer.vocab;
    l.dim = layer.dim;
    l.maxPositions = layer.maxPositions;
    l.heads = layer.heads;
    l.kvHeads = layer.kvHeads;
    l.rope = layer.rope;
    net.layers.push_back(std::move(l));
  }
  std::string error;
  if (!rt::finalizeNet(net, error))
    return createStringError(inconvertibleErrorCode(), "model '%s': %s",
                             model.name.c_str(), error.c_str());
  for (size_t i = 0; i < net.layers.size(); ++i) {
    const Layer &layer = model.layers[i];
    const rt::LayerSpec &l = net.layers[i];
    std::vector<int64_t> frontendShape(layer.outputShape.dims.begin(),
                                       layer.outputShape.dims.end());
    if (!layer.isLoss() && frontendShape != l.outShape)
      return createStringError(
          inconvertibleErrorCode(),
          "layer '%s': the frontend infers output %s, the runtime %s",
          l.name.c_str(), rt::shapeToString(frontendShape).c_str(),
          rt::shapeToString(l.outShape).c_str());
    if (layer.params != l.numParams)
      return createStringError(
          inconvertibleErrorCode(),
          "layer '%s': the frontend counts %lld parameters, the runtime %lld",
          l.name.c_str(), (long long)layer.params, (long long)l.numParams);
  }
  return net;
}

rt::WeightPolicy runtimeWeightPolicy(const Compilation &C) {
  bool delayed = C.plan.planned &&
                 std::any_of(C.plan.gradientDelay.begin(),
                             C.plan.gradientDelay.end(),
                             [](int64_t d) { return d > 0; });
  if (!delayed)
    return rt::WeightPolicy::Sync;
  switch (C.options.plan.weights) {
  case WeightPolicy::Stash:
    return rt::WeightPolicy::Stash;
  case WeightPolicy::Latest:
    return rt::WeightPolicy::Latest;
  case WeightPolicy::Ema:
    return rt::WeightPolicy::Ema;
  case WeightPolicy::Sync:
    return rt::WeightPolicy::Sync;
  }
  return rt::WeightPolicy::Stash;
}

namespace {

/// One op inside a task.
struct OpSlot {
  rt::OpKind kind;
  int layer;
};

/// A task of the schedule as the program runs it.
struct ProgramTask {
  std::vector<OpSlot> ops;
  int64_t a = 1, b = 0; ///< round r runs instance a·r + b
  double phase = 0, duration = 0;
  unsigned proc = 0;
  unsigned order = 0; ///< position in its processor's round
};

/// Where op (kind, layer) of a given instance runs.
struct OpHome {
  unsigned task = 0, sub = 0;
};

int64_t floorMod(int64_t x, int64_t m) { return ((x % m) + m) % m; }

/// The trainer-semantics delay of a DFG edge (see the file comment).
int64_t semanticDelay(const Compilation &C, const Edge &edge) {
  switch (edge.kind) {
  case EdgeKind::Activation:
  case EdgeKind::Gradient:
  case EdgeKind::Saved:
    return 0;
  case EdgeKind::WeightGradient: {
    unsigned layer = C.dfg.tasks[edge.src].layer;
    return C.plan.planned ? C.plan.gradientDelay[layer] : 0;
  }
  case EdgeKind::Weight:
  case EdgeKind::UpdateState:
    return 1;
  }
  return 0;
}

/// Per-layer tasks of a periodic schedule of the (retimed) DFG.
Error periodicTasks(const Compilation &C, const rt::OpGraph &graph,
                    std::vector<ProgramTask> &tasks) {
  const Schedule &S = C.schedule.schedule;
  const TrainingDFG &dfg = C.dfg;
  size_t V = dfg.numTasks();
  if (S.unfolding != 1)
    return planError(formatv("the schedule is unfolded (--unfold {0}); stage "
                             "programs run unfolding 1 only",
                             S.unfolding));
  if (S.tasks.size() != V)
    return planError("the schedule's tasks are not the DFG's");
  // c(v): instance = schedule iteration + c(v).
  const int64_t unset = std::numeric_limits<int64_t>::min();
  std::vector<int64_t> c(V, unset);
  auto in = dfg.inEdges(), out = dfg.outEdges();
  for (size_t root = 0; root < V; ++root) {
    if (c[root] != unset)
      continue;
    c[root] = 0;
    std::deque<unsigned> work{unsigned(root)};
    while (!work.empty()) {
      unsigned v = work.front();
      work.pop_front();
      for (unsigned e : out[v]) {
        const Edge &edge = dfg.edges[e];
        if (c[edge.dst] == unset) {
          c[edge.dst] = c[v] + semanticDelay(C, edge) - edge.delay;
          work.push_back(edge.dst);
        }
      }
      for (unsigned e : in[v]) {
        const Edge &edge = dfg.edges[e];
        if (c[edge.src] == unset) {
          c[edge.src] = c[v] - semanticDelay(C, edge) + edge.delay;
          work.push_back(edge.src);
        }
      }
    }
  }
  for (const Edge &edge : dfg.edges)
    if (c[edge.dst] != c[edge.src] + semanticDelay(C, edge) - edge.delay)
      return planError(formatv("internal error: the delays of edge {0} -> {1} "
                               "do not match the retiming of the plan",
                               dfg.tasks[edge.src].name,
                               dfg.tasks[edge.dst].name));
  double P = S.period;
  for (size_t v = 0; v < V; ++v) {
    const ScheduledTask &st = S.tasks[v];
    const Task &task = dfg.tasks[v];
    ProgramTask t;
    t.proc = st.proc;
    t.duration = st.duration;
    int64_t n0 = int64_t(std::floor(st.start / P + 1e-9));
    t.phase = std::max(0.0, st.start - double(n0) * P);
    t.a = 1;
    t.b = c[v] - n0;
    int l = int(task.layer);
    auto add = [&](rt::OpKind kind) {
      if (graph.hasOp(kind, l))
        t.ops.push_back({kind, l});
    };
    switch (task.kind) {
    case TaskKind::Forward:
      add(rt::OpKind::Forward);
      break;
    case TaskKind::Loss:
      add(rt::OpKind::Loss);
      break;
    case TaskKind::ActivationGradient:
      add(rt::OpKind::ActivationGradient);
      break;
    case TaskKind::WeightGradient:
      add(rt::OpKind::WeightGradient);
      break;
    case TaskKind::Backward:
      add(rt::OpKind::ActivationGradient);
      add(rt::OpKind::WeightGradient);
      break;
    case TaskKind::Update:
      add(rt::OpKind::Update);
      break;
    }
    tasks.push_back(std::move(t));
  }
  return Error::success();
}

/// Stage-level tasks: one synchronous step (gpipe, 1f1b, zb-h1), or
/// PipeDream's periodic F, BG and U per stage. PipeDream's stage graph is not
/// retimed (its edge delays are the trainer's), so every task runs the
/// instance of its schedule iteration.
Error stageTasks(const Compilation &C, const rt::OpGraph &graph,
                 std::vector<ProgramTask> &tasks) {
  const Schedule &S = C.schedule.schedule;
  if (S.stageOfLayer.size() != C.model.layers.size())
    return planError("the schedule does not say which stage runs each layer");
  int numLayers = int(C.model.layers.size());
  for (const ScheduledTask &st : S.tasks) {
    ProgramTask t;
    t.proc = st.proc;
    t.duration = st.duration;
    t.phase = st.start;
    bool update = st.kind == TaskKind::Update;
    t.a = update ? 1 : int64_t(S.microBatches);
    t.b = update ? 0 : st.microBatch;
    if (S.periodic) {
      int64_t n0 = int64_t(std::floor(st.start / S.period + 1e-9));
      t.phase = std::max(0.0, st.start - double(n0) * S.period);
      t.a = 1;
      t.b = -n0;
    }
    std::vector<int> layers;
    for (int l = 0; l < numLayers; ++l)
      if (int(S.stageOfLayer[size_t(l)]) == st.stage)
        layers.push_back(l);
    auto add = [&](rt::OpKind kind, int l) {
      if (graph.hasOp(kind, l))
        t.ops.push_back({kind, l});
    };
    switch (st.kind) {
    case TaskKind::Forward:
    case TaskKind::Loss:
      for (int l : layers) {
        add(rt::OpKind::Forward, l);
        add(rt::OpKind::Loss, l);
      }
      break;
    case TaskKind::ActivationGradient:
      for (auto it = layers.rbegin(); it != layers.rend(); ++it)
        add(rt::OpKind::ActivationGradient, *it);
      break;
    case TaskKind::WeightGradient:
      for (auto it = layers.rbegin(); it != layers.rend(); ++it)
        add(rt::OpKind::WeightGradient, *it);
      break;
    case TaskKind::Backward:
      for (auto it = layers.rbegin(); it != layers.rend(); ++it) {
        add(rt::OpKind::ActivationGradient, *it);
        add(rt::OpKind::WeightGradient, *it);
      }
      break;
    case TaskKind::Update:
      for (int l : layers)
        add(rt::OpKind::Update, l);
      break;
    }
    tasks.push_back(std::move(t));
  }
  return Error::success();
}

} // namespace

Expected<StageProgramDesign> designStageProgram(const Compilation &C) {
  const Schedule &S = C.schedule.schedule;
  if (!C.schedule.scheduled || S.tasks.empty())
    return planError("there is no schedule (give --procs N)");
  Expected<rt::NetSpec> lowered = lowerToRuntimeNet(C.model);
  if (!lowered)
    return lowered.takeError();
  const rt::NetSpec &net = *lowered;
  size_t numLayers = net.layers.size();
  bool stageLevel = std::any_of(S.tasks.begin(), S.tasks.end(),
                                [](const ScheduledTask &t) {
                                  return t.layer < 0;
                                });
  std::vector<int64_t> delays(numLayers, 0);
  if (S.periodic && stageLevel) {
    // PipeDream: stage s of p keeps 2 (p - 1 - s) gradient delays.
    if (S.stageOfLayer.size() != numLayers)
      return planError("the schedule does not say which stage runs each "
                       "layer");
    unsigned p = *std::max_element(S.stageOfLayer.begin(),
                                   S.stageOfLayer.end()) +
                 1;
    for (size_t l = 0; l < numLayers; ++l)
      if (net.layers[l].hasParams())
        delays[l] = 2 * int64_t(p - 1 - S.stageOfLayer[l]);
  } else if (C.plan.planned && C.plan.gradientDelay.size() == numLayers) {
    delays = C.plan.gradientDelay;
  }
  std::vector<int64_t> effective;
  std::string error;
  if (!rt::effectiveDelays(net, delays, effective, error))
    return planError(error);
  unsigned M = S.periodic ? 1 : std::max(1u, S.microBatches);
  rt::WeightPolicy policy = runtimeWeightPolicy(C);
  if (S.periodic && stageLevel)
    policy = std::any_of(delays.begin(), delays.end(),
                         [](int64_t d) { return d > 0; })
                 ? rt::WeightPolicy::Stash
                 : rt::WeightPolicy::Sync;
  // A long run in the middle of which every op exists.
  const int64_t steps = int64_t(1) << 24;
  rt::OpGraph graph(net, effective, policy, M, steps);
  std::vector<ProgramTask> tasks;
  Error err = stageLevel ? stageTasks(C, graph, tasks)
                         : periodicTasks(C, graph, tasks);
  if (err)
    return err;

  // Where each op runs: its task, by the instance's residue modulo a.
  std::map<std::pair<int, int>, std::map<int64_t, OpHome>> homes;
  std::map<std::pair<int, int>, int64_t> stride;
  StageProgramDesign design;
  rt::ProgramPlan &plan = design.plan;
  plan.placement.assign(numLayers, {});
  for (auto &p : plan.placement)
    p.fill(-1);
  for (unsigned t = 0; t < tasks.size(); ++t)
    for (unsigned j = 0; j < tasks[t].ops.size(); ++j) {
      const OpSlot &op = tasks[t].ops[j];
      auto key = std::make_pair(int(op.kind), op.layer);
      int64_t residue = floorMod(tasks[t].b, tasks[t].a);
      if (stride.count(key) && stride[key] != tasks[t].a)
        return planError("internal error: inconsistent task strides");
      stride[key] = tasks[t].a;
      if (!homes[key].emplace(residue, OpHome{t, j}).second)
        return planError(formatv("op {0} of layer '{1}' runs in two tasks",
                                 rt::opKindPrefix(op.kind),
                                 net.layers[size_t(op.layer)].name));
      int &home = plan.placement[size_t(op.layer)][size_t(op.kind)];
      if (home >= 0 && home != int(tasks[t].proc))
        return planError(formatv("op {0} of layer '{1}' runs on processors "
                                 "{2} and {3}; a stage program keeps each "
                                 "op of a layer on one processor",
                                 rt::opKindPrefix(op.kind),
                                 net.layers[size_t(op.layer)].name, home,
                                 tasks[t].proc));
      home = int(tasks[t].proc);
    }
  for (size_t l = 0; l < numLayers; ++l)
    for (unsigned k = 0; k < rt::NumOpKinds; ++k) {
      rt::OpKind kind = rt::OpKind(k);
      if (!graph.hasOp(kind, int(l)))
        continue;
      auto key = std::make_pair(int(k), int(l));
      int64_t need = kind == rt::OpKind::Update ? 1 : M;
      if (!homes.count(key) || int64_t(homes[key].size()) != need)
        return planError(formatv("internal error: op {0} of layer '{1}' is "
                                 "not scheduled",
                                 rt::opKindPrefix(kind), net.layers[l].name));
    }

  // Each processor's round: its tasks by phase.
  unsigned P = S.procs;
  std::vector<std::vector<unsigned>> byProc(P);
  for (unsigned t = 0; t < tasks.size(); ++t)
    byProc[tasks[t].proc].push_back(t);
  for (auto &list : byProc) {
    std::stable_sort(list.begin(), list.end(), [&](unsigned x, unsigned y) {
      return tasks[x].phase < tasks[y].phase;
    });
    for (unsigned i = 0; i < list.size(); ++i)
      tasks[list[i]].order = i;
  }

  // Every value an op reads must be made before it: earlier on the same
  // processor, or ending before the op starts on another one.
  double period = S.period;
  auto timeOf = [&](unsigned t, unsigned sub, int64_t round, bool end) {
    const ProgramTask &task = tasks[t];
    double slice = task.duration / double(task.ops.size());
    return double(round) * period + task.phase +
           slice * double(sub + (end ? 1 : 0));
  };
  auto locate = [&](const rt::OpRef &op, unsigned &t, unsigned &sub,
                    int64_t &round) {
    auto key = std::make_pair(int(op.kind), op.layer);
    int64_t a = stride[key];
    const OpHome &home = homes[key][floorMod(op.instance, a)];
    t = home.task;
    sub = home.sub;
    round = (op.instance - tasks[t].b) / tasks[t].a;
  };
  std::vector<int64_t> capacity(size_t(P) * P, 0);
  std::map<std::tuple<int, int, int, unsigned, unsigned>, int64_t> streams;
  const int64_t R0 = int64_t(1) << 16;
  auto describe = [&](unsigned t, int64_t instance) {
    return formatv("'{0}' (processor {1}, instance {2})",
                   S.tasks[t].name, tasks[t].proc, instance)
        .str();
  };
  for (unsigned t = 0; t < tasks.size(); ++t)
    for (unsigned j = 0; j < tasks[t].ops.size(); ++j) {
      const OpSlot &slot = tasks[t].ops[j];
      rt::OpRef op{slot.kind, slot.layer, tasks[t].a * R0 + tasks[t].b};
      std::vector<std::pair<rt::ValueRef, rt::OpRef>> deps;
      for (const rt::ValueRef &v : graph.inputs(op)) {
        rt::OpRef producer;
        if (graph.producer(v, producer))
          deps.push_back({v, producer});
      }
      // Batchnorm's running statistics pass from one forward to the next.
      if (slot.kind == rt::OpKind::Forward &&
          net.layers[size_t(slot.layer)].numState > 0)
        deps.push_back({rt::ValueRef{rt::ValueKind::Cache, slot.layer, 0,
                                     op.instance - 1},
                        rt::OpRef{slot.kind, slot.layer, op.instance - 1}});
      for (const auto &[value, producer] : deps) {
        unsigned pt = 0, psub = 0;
        int64_t pround = 0;
        locate(producer, pt, psub, pround);
        const ProgramTask &from = tasks[pt];
        if (from.proc == tasks[t].proc) {
          bool before = std::make_tuple(pround, from.order, psub) <
                        std::make_tuple(R0, tasks[t].order, j);
          if (!before)
            return planError(formatv(
                "{0} needs {1}'s output but runs first on the same processor",
                describe(t, op.instance),
                describe(pt, producer.instance)));
          continue;
        }
        double ready = timeOf(pt, psub, pround, true);
        double start = timeOf(t, j, R0, false);
        if (ready > start + 1e-6 * std::max(1.0, period))
          return planError(formatv(
              "{0} starts at {1:f2} us but reads a value of {2}, which ends "
              "at {3:f2} us",
              describe(t, op.instance), start - double(R0) * period,
              describe(pt, producer.instance),
              ready - double(R0) * period));
        int64_t inFlight =
            int64_t(std::floor(std::max(0.0, start - ready) / period)) + 1;
        auto key = std::make_tuple(int(value.kind), value.layer, value.slot,
                                   pt, tasks[t].proc);
        streams[key] = std::max(streams[key], inFlight);
      }
    }
  for (const auto &[key, count] : streams)
    capacity[size_t(tasks[std::get<3>(key)].proc) * P + std::get<4>(key)] +=
        count;

  plan.model = C.model.name;
  plan.schedule = S.name;
  plan.processors = P;
  plan.stages = C.plan.planned ? C.plan.numStages : 1;
  if (stageLevel)
    plan.stages =
        S.stageOfLayer.empty()
            ? 1
            : *std::max_element(S.stageOfLayer.begin(), S.stageOfLayer.end()) +
                  1;
  plan.synchronous = !S.periodic;
  plan.microBatches = M;
  plan.policy = policy;
  plan.delays = delays;
  // The schedule's task times are those of the model's batch; a
  // synchronous step runs M such micro-batches, so its mini-batch is M times
  // the model's (the trainer's --batch with --micro-batches M).
  plan.defaultBatch =
      (C.userBatch > 0 ? C.userBatch : C.model.batchSize) * int64_t(M);
  // --micro-batch b: the model was priced at b; steps take b samples.
  if (C.userBatch > 0)
    plan.microBatchSize = C.model.batchSize;
  const ScheduleMetrics &metrics = C.schedule.metrics;
  plan.predictedPeriodUs =
      S.periodic ? metrics.period
                 : (metrics.stepTime > 0 ? metrics.stepTime : S.period);
  plan.roundUs = S.period;
  plan.capacity = std::move(capacity);
  for (unsigned t = 0; t < tasks.size(); ++t) {
    rt::TaskInfo info;
    info.name = S.tasks[t].name;
    info.kind = taskKindPrefix(S.tasks[t].kind).str();
    info.proc = tasks[t].proc;
    info.a = tasks[t].a;
    info.b = tasks[t].b;
    info.startUs = tasks[t].phase;
    info.durationUs = tasks[t].duration;
    plan.tasks.push_back(std::move(info));
    design.taskOps.emplace_back();
    for (const OpSlot &op : tasks[t].ops)
      design.taskOps.back().push_back({op.kind, op.layer});
  }
  design.rounds = std::move(byProc);
  return design;
}

} // namespace layerpipe
