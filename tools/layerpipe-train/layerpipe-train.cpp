//===- layerpipe-train.cpp - The reference trainer ------------------------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// Trains a model file on Fashion-MNIST or synthetic data, in one process and
// sequentially, with exactly the semantics of the training DFG and its
// gradient delays (docs/training-semantics.md): the oracle that pipelined
// stage programs must match bit for bit. The stages and delays come from the
// planner (planStagesAndDelays); the training itself is the runtime's
// PipelineTrainer. Prints one line per epoch (loss, train and test accuracy,
// samples/s, memory) and optionally a summary JSON. Bad flags or data give
// one `error: ...` line and exit status 1.
//
//===----------------------------------------------------------------------===//

#include "layerpipe/CodeGen.h"
#include "layerpipe/CostModel.h"
#include "layerpipe/Model.h"
#include "layerpipe/OutputFile.h"
#include "layerpipe/ToolMain.h"
#include "layerpipe/Transforms.h"
#include "layerpipe/runtime/Checkpoint.h"
#include "layerpipe/runtime/Data.h"
#include "layerpipe/runtime/Pipeline.h"
#include "layerpipe/runtime/Serialize.h"

#include "llvm/Support/CommandLine.h"
#include "llvm/Support/raw_ostream.h"

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <unistd.h>

using namespace llvm;
using namespace layerpipe;
namespace rt = layerpipe::runtime;

static cl::OptionCategory pipelineCat("Pipeline (stages, delays, weights)");
static cl::OptionCategory optimCat("Optimizer");
static cl::OptionCategory dataCat("Data");
static cl::OptionCategory outputCat("Output");

static cl::opt<std::string> modelPath(cl::Positional, cl::Required,
                                      cl::desc("<model.json>"));
static cl::opt<std::string> delaysFlag(
    "delays", cl::init(""), cl::value_desc("rule"),
    cl::desc("Gradient delays: none | layerpipe2 | auto | uniform:K | "
             "list:D0,D1,... (one per layer, in model order: what a stage "
             "program's README gives) (default: layerpipe2 with "
             "--stages-count >= 2, else none)"),
    cl::cat(pipelineCat));
static cl::opt<unsigned>
    stagesCount("stages-count", cl::init(0), cl::value_desc("S"),
                cl::desc("Pipeline stages the planner groups layers into "
                         "(layerpipe2 and auto need S >= 1; default 0: one "
                         "stage)"),
                cl::cat(pipelineCat));
static cl::opt<std::string> groupingCostFlag(
    "grouping-cost", cl::init("max"), cl::value_desc("max|sum"),
    cl::desc("What the planner's grouping charges a stage: max (default: the "
             "larger of its work and its boundary link time) or sum (work "
             "plus boundary transfers); the compiler's plan summary says "
             "which its --grouping-cost=auto kept"),
    cl::cat(pipelineCat));
static cl::opt<std::string>
    weightsFlag("weights", cl::init(""), cl::value_desc("policy"),
                cl::desc("Weight version B reads: stash | latest | ema | "
                         "sync (default: sync without delays, else stash)"),
                cl::cat(pipelineCat));
static cl::opt<std::string> machinePath(
    "machine", cl::value_desc("file"),
    cl::desc("Machine description for the planner (default: built-in)"),
    cl::cat(pipelineCat));
static cl::opt<std::string> compensationFlag(
    "delay-compensation", cl::init("none"), cl::value_desc("mode"),
    cl::desc("Delay-aware optimizer correction (docs/training-semantics.md): "
             "none | momentum (mu_l keeps the gradient's mean age "
             "mu/(1-mu)) | lr (eta_l = eta/(1+D)) | spike | predict | "
             "spike-predict | pipemare | dcasgd; default none"),
    cl::cat(pipelineCat));
static cl::alias compensationAlias("correction",
                                   cl::desc("Alias for --delay-compensation (default none)"),
                                   cl::aliasopt(compensationFlag),
                                   cl::cat(pipelineCat));
static cl::opt<float> dcLambda(
    "dc-lambda", cl::init(0.04f), cl::value_desc("X"),
    cl::desc("lambda of --delay-compensation=dcasgd (default 0.04)"),
    cl::cat(pipelineCat));
static cl::opt<long long> pipemareWarmup(
    "pipemare-warmup", cl::init(-1), cl::value_desc("K"),
    cl::desc("Steps of --delay-compensation=pipemare's rate warm-up "
             "(default: one epoch)"),
    cl::cat(pipelineCat));
static cl::opt<std::string> microBatchFlag(
    "micro-batch", cl::init(""), cl::value_desc("auto|b"),
    cl::desc("Samples per pipelined step: auto (the largest power of two "
             "b <= B with D_max*b <= B/2) or a number b <= B; the rate "
             "becomes lr*b/B and a constant schedule cosine "
             "(docs/training-semantics.md). Default: auto "
             "for --stages-count >= 2 without --delays, else --batch"),
    cl::cat(pipelineCat));
static cl::opt<int> hybridEpochs(
    "hybrid", cl::init(0), cl::value_desc("K"),
    cl::desc("Train K epochs pipelined, then synchronously (in-flight "
             "gradients dropped at the switch); default 0: pipelined "
             "throughout"),
    cl::cat(pipelineCat));

static cl::opt<unsigned> microBatches(
    "micro-batches", cl::init(1), cl::value_desc("M"),
    cl::desc("Split each mini-batch into M micro-batches whose gradients are "
             "averaged before one update (synchronous runs, no delays; "
             "default 1)"),
    cl::cat(pipelineCat));

static cl::opt<int> epochs("epochs", cl::init(1), cl::value_desc("E"),
                           cl::desc("Epochs (default 1)"), cl::cat(optimCat));
static cl::opt<int> batchFlag("batch", cl::init(0), cl::value_desc("B"),
                              cl::desc("Mini-batch size (default: the "
                                       "model's batch_size)"),
                              cl::cat(optimCat));
static cl::opt<float> lr("lr", cl::init(0.01f), cl::value_desc("X"),
                         cl::desc("Learning rate (default 0.01)"),
                         cl::cat(optimCat));
static cl::opt<float> momentum("momentum", cl::init(0.0f),
                               cl::value_desc("M"),
                               cl::desc("Momentum (default 0)"),
                               cl::cat(optimCat));
static cl::opt<float> weightDecay("weight-decay", cl::init(0.0f),
                                  cl::value_desc("W"),
                                  cl::desc("Weight decay (default 0)"),
                                  cl::cat(optimCat));
static cl::opt<std::string>
    lrSchedule("lr-schedule", cl::init("constant"), cl::value_desc("name"),
               cl::desc("constant | step (÷10 at 50%, ÷100 at 75% of the "
                        "steps) | cosine (default constant)"),
               cl::cat(optimCat));
static cl::opt<int> warmup(
    "lr-warmup", cl::init(0), cl::value_desc("N"),
    cl::desc("Scale the learning rate linearly from 1/N to 1 over the first "
             "N steps (default 0: no warm-up)"),
    cl::cat(optimCat));
static cl::opt<unsigned long long>
    seed("seed", cl::init(0), cl::value_desc("S"),
         cl::desc("Seed of initial weights, shuffling, dropout and "
                  "synthetic data (default 0)"),
         cl::cat(optimCat));

static cl::opt<std::string>
    dataFlag("data", cl::init("fashion-mnist"), cl::value_desc("name"),
             cl::desc("fashion-mnist | synthetic | fortunes (next-character "
                      "prediction on Debian's fortunes; default "
                      "fashion-mnist)"),
             cl::cat(dataCat));
static cl::opt<std::string>
    dataDir("data-dir", cl::init(rt::defaultFashionMnistDir()),
            cl::value_desc("dir"),
            cl::desc("Directory of the Fashion-MNIST IDX files (default "
                     "/usr/share/datasets/fashion-mnist) or, with --data "
                     "fortunes, of the fortunes databases (default "
                     "/usr/share/games/fortunes)"),
            cl::cat(dataCat));
static cl::opt<long long> trainLimit(
    "train-limit", cl::init(0), cl::value_desc("N"),
    cl::desc("Use the first N training samples (synthetic: generate N, "
             "default 2048)"),
    cl::cat(dataCat));
static cl::opt<long long> testLimit(
    "test-limit", cl::init(0), cl::value_desc("N"),
    cl::desc("Use the first N test samples (synthetic: default 512)"),
    cl::cat(dataCat));

static cl::opt<std::string>
    summaryJson("summary-json", cl::value_desc("file"),
                cl::desc("Write the final figures as JSON (default: "
                         "none)"),
                cl::cat(outputCat));
static cl::opt<int> progressEvery(
    "progress-every", cl::init(0), cl::value_desc("N"),
    cl::desc("Print a progress line every N batches (default: only on a "
             "terminal)"),
    cl::cat(outputCat));

static cl::OptionCategory checkpointCat("Checkpoints (docs/distributed.md)");
static cl::opt<std::string> checkpointDir(
    "checkpoint-dir", cl::value_desc("dir"),
    cl::desc("Write checkpoints of the training state there (default: "
             "none)"),
    cl::cat(checkpointCat));
static cl::opt<long long> checkpointEvery(
    "checkpoint-every", cl::init(0), cl::value_desc("N"),
    cl::desc("One checkpoint every N steps (default: one per epoch)"),
    cl::cat(checkpointCat));
static cl::opt<bool> resumeFlag(
    "resume",
    cl::desc("Continue from the newest complete checkpoint in "
             "--checkpoint-dir that matches this run"),
    cl::cat(checkpointCat));

static Error fail(const std::string &message) {
  return createStringError(inconvertibleErrorCode(), message.c_str());
}

//===----------------------------------------------------------------------===//
// Flags -> configuration
//===----------------------------------------------------------------------===//

struct RunConfig {
  rt::TrainConfig train;
  unsigned numStages = 1;
  std::vector<unsigned> stageOfLayer;
  /// The samples of one step (the micro-batch b) and the user's batch B.
  int64_t batch = 0, userBatch = 0;
  /// The delay rule after defaults.
  std::string delaysRule;
};

static Expected<rt::WeightPolicy> parsePolicy(StringRef name, bool delayed) {
  if (name.empty())
    return delayed ? rt::WeightPolicy::Stash : rt::WeightPolicy::Sync;
  if (name == "stash")
    return rt::WeightPolicy::Stash;
  if (name == "latest")
    return rt::WeightPolicy::Latest;
  if (name == "ema")
    return rt::WeightPolicy::Ema;
  if (name == "sync")
    return rt::WeightPolicy::Sync;
  return fail("--weights: unknown policy '" + name.str() +
              "' (expected stash, latest, ema or sync)");
}

/// Reads the delay rule and runs the planner for the per-layer delays.
static Error planDelays(const Model &model, RunConfig &run) {
  // The compiler's default rule: --delays=auto's plans schedule to a
  // longer period on most zoo models (bench/delays_auto_vs_layerpipe2.sh).
  run.delaysRule = delaysFlag.empty()
                       ? (stagesCount >= 2 ? "layerpipe2" : "none")
                       : delaysFlag.getValue();
  StringRef rule = run.delaysRule;
  PlanOptions options;
  options.grouping = GroupingMode::Optimal;
  options.stagesCount = stagesCount;
  if (groupingCostFlag == "sum")
    options.groupingCost = GroupingCost::Sum;
  else if (groupingCostFlag != "max")
    return fail("--grouping-cost: expected max or sum, got '" +
                groupingCostFlag.getValue() + "'");
  options.targetProcs = std::max(1u, unsigned(stagesCount));
  if (rule == "none") {
    run.train.delays.assign(model.layers.size(), 0);
    run.stageOfLayer.assign(model.layers.size(), 0);
    return Error::success();
  }
  if (rule == "layerpipe2" || rule == "auto") {
    if (stagesCount < 1)
      return fail("--delays=" + rule.str() +
                  " needs --stages-count S (at least 1)");
    options.delays =
        rule == "auto" ? DelayRule::Auto : DelayRule::LayerPipe2;
  } else if (rule.consume_front("list:")) {
    SmallVector<StringRef, 16> items;
    rule.split(items, ',');
    if (items.size() != model.layers.size())
      return fail(fmt::format("--delays=list: needs one delay per layer ({} "
                              "layers), got {}",
                              model.layers.size(), items.size()));
    run.train.delays.assign(model.layers.size(), 0);
    for (size_t l = 0; l < items.size(); ++l) {
      long long d = 0;
      if (items[l].getAsInteger(10, d) || d < 0 || d > (1 << 20))
        return fail(fmt::format("--delays=list: entry {} (layer '{}') must "
                                "be a whole number in [0, 2^20], got '{}'",
                                l, model.layers[l].name, items[l].str()));
      run.train.delays[l] = d;
    }
    run.stageOfLayer.assign(model.layers.size(), 0);
    return Error::success();
  } else if (rule.consume_front("uniform:")) {
    long long k = 0;
    if (rule.getAsInteger(10, k) || k < 0)
      return fail("--delays=uniform:K needs a whole number K >= 0, got '" +
                  rule.str() + "'");
    options.delays = DelayRule::Uniform;
    options.uniformDelay = k;
  } else {
    return fail("--delays: unknown rule '" + rule.str() +
                "' (expected none, layerpipe2, auto, uniform:K or list:...)");
  }
  MachineDesc machine;
  if (!machinePath.empty()) {
    Expected<MachineDesc> loaded = loadMachine(machinePath);
    if (!loaded)
      return loaded.takeError();
    machine = *loaded;
  }
  auto plan = planStagesAndDelays(model, machine, options);
  if (!plan)
    return plan.takeError();
  run.stageOfLayer = plan->first;
  run.train.delays = plan->second;
  run.numStages = 1;
  for (unsigned s : run.stageOfLayer)
    run.numStages = std::max(run.numStages, s + 1);
  return Error::success();
}

static Expected<RunConfig> readFlags(const Model &model) {
  RunConfig run;
  if (epochs < 1)
    return fail("--epochs must be at least 1, got " +
                std::to_string(epochs));
  run.batch = batchFlag > 0 ? batchFlag : model.batchSize;
  if (batchFlag < 0 || run.batch < 1)
    return fail("--batch must be at least 1, got " +
                std::to_string(batchFlag));
  if (!(lr > 0.0f))
    return fail("--lr must be positive, got " + fmt::format("{}", lr));
  if (!(momentum >= 0.0f && momentum < 1.0f))
    return fail("--momentum must be in [0, 1), got " +
                fmt::format("{}", momentum));
  if (!(weightDecay >= 0.0f))
    return fail("--weight-decay must be >= 0, got " +
                fmt::format("{}", weightDecay));
  if (hybridEpochs < 0)
    return fail("--hybrid must be >= 0, got " + std::to_string(hybridEpochs));
  if (trainLimit < 0 || testLimit < 0)
    return fail("--train-limit and --test-limit must be >= 0");
  if (progressEvery < 0)
    return fail("--progress-every must be >= 0");
  if (warmup < 0)
    return fail("--lr-warmup must be >= 0, got " + std::to_string(warmup));
  rt::SgdConfig &sgd = run.train.sgd;
  sgd.lr = lr;
  sgd.momentum = momentum;
  sgd.weightDecay = weightDecay;
  sgd.warmupSteps = warmup;
  if (!rt::parseLrSchedule(lrSchedule, sgd.schedule))
    return fail("--lr-schedule: unknown schedule '" + lrSchedule +
                "' (expected constant, step or cosine)");
  if (!rt::parseDelayCompensation(compensationFlag, run.train.compensation))
    return fail("--delay-compensation: unknown mode '" + compensationFlag +
                "' (expected none, momentum, lr, spike, predict, "
                "spike-predict, pipemare or dcasgd)");
  if (!(dcLambda >= 0.0f) || !std::isfinite(dcLambda))
    return fail("--dc-lambda must be finite and >= 0, got " +
                fmt::format("{}", dcLambda));
  run.train.dcLambda = dcLambda;
  if (dataFlag != "fashion-mnist" && dataFlag != "synthetic" &&
      dataFlag != "fortunes")
    return fail("--data: unknown data set '" + dataFlag +
                "' (expected fashion-mnist, synthetic or fortunes)");
  if (Error err = planDelays(model, run))
    return err;
  bool delayed = std::any_of(run.train.delays.begin(), run.train.delays.end(),
                             [](int64_t d) { return d > 0; });
  Expected<rt::WeightPolicy> policy = parsePolicy(weightsFlag, delayed);
  if (!policy)
    return policy.takeError();
  run.train.policy = *policy;
  run.train.seed = seed;
  if (microBatches < 1 || microBatches > 4096)
    return fail(fmt::format("--micro-batches must be in [1, 4096], got {}",
                            microBatches.getValue()));
  if (microBatches > 1 && delayed)
    return fail("--micro-batches needs --delays=none (a synchronous run)");
  if (microBatches > 1 && hybridEpochs > 0)
    return fail("--micro-batches and --hybrid cannot be combined");
  run.train.microBatches = microBatches;
  // The micro-batch of a pipelined step and the rate it derives.
  int64_t maxDelay = 0;
  for (int64_t d : run.train.delays)
    maxDelay = std::max(maxDelay, d);
  run.userBatch = run.batch;
  StringRef mb = microBatchFlag;
  // Without --delays and --micro-batch a pipelined run takes every default
  // (auto delays, auto micro-batch); an explicit rule keeps the user's batch
  // unless --micro-batch says otherwise.
  bool defaults = delaysFlag.empty() && run.delaysRule != "none";
  if (mb == "auto" || (mb.empty() && defaults)) {
    run.batch = rt::autoMicroBatch(run.userBatch, maxDelay);
  } else if (!mb.empty()) {
    long long b = 0;
    if (mb.getAsInteger(10, b) || b < 1 || b > run.userBatch)
      return fail(fmt::format("--micro-batch must be auto or a whole number "
                              "in [1, --batch {}], got '{}'",
                              run.userBatch, mb.str()));
    run.batch = b;
  }
  if (run.batch != run.userBatch && microBatches > 1)
    return fail("--micro-batch and --micro-batches cannot be combined");
  sgd.lr = rt::microBatchLearningRate(sgd.lr, run.userBatch, run.batch);
  sgd.warmupSteps =
      rt::microBatchWarmupSteps(sgd.warmupSteps, run.userBatch, run.batch);
  sgd.schedule = rt::microBatchSchedule(sgd.schedule, run.userBatch, run.batch);
  return run;
}

//===----------------------------------------------------------------------===//
// Data
//===----------------------------------------------------------------------===//

static Error loadData(const rt::NetSpec &net, rt::Dataset &train,
                      rt::Dataset &test) {
  std::string error;
  if (dataFlag == "synthetic") {
    // getValue(): `opt ? opt : 2048` would convert the option to int.
    int64_t n = trainLimit > 0 ? int64_t(trainLimit.getValue()) : 2048;
    int64_t m = testLimit > 0 ? int64_t(testLimit.getValue()) : 512;
    // The synthetic set is allocated whole: bound it like an IDX file.
    const int64_t maxValues = int64_t(1) << 30;
    int64_t sample = rt::shapeElements(net.inputShape);
    auto tooMany = [&](const char *flag, int64_t count) {
      return count < 0 || count > maxValues / std::max<int64_t>(sample, 1)
                 ? fail(fmt::format("--{}-limit {}: {} synthetic samples of "
                                    "{} values exceed the limit of {} values",
                                    flag, count, count, sample, maxValues))
                 : Error::success();
    };
    if (Error err = tooMany("train", n))
      return err;
    if (Error err = tooMany("test", m))
      return err;
    train = rt::makeSyntheticBlobs(net.inputShape, net.numClasses, n, seed, 0);
    test = rt::makeSyntheticBlobs(net.inputShape, net.numClasses, m, seed, 1);
  } else if (dataFlag == "fortunes") {
    if (net.inputShape.size() != 1 || net.labelsPerSample != net.inputShape[0])
      return fail("--data fortunes needs a model that reads token ids [T] "
                  "and ends in a token-level softmax_cross_entropy on [T, "
                  "vocabulary], e.g. models/tiny-gpt.json; this model reads " +
                  rt::shapeToString(net.inputShape) + " and scores " +
                  std::to_string(net.labelsPerSample) +
                  " label(s) per sample");
    std::string dir = dataDir.getNumOccurrences() ? dataDir.getValue()
                                                  : rt::defaultFortunesDir();
    if (!rt::loadFortunes(dir, net.inputShape[0], true, train, error) ||
        !rt::loadFortunes(dir, net.inputShape[0], false, test, error))
      return fail(error);
    train.truncate(trainLimit);
    test.truncate(testLimit);
  } else {
    if (!rt::loadFashionMnist(dataDir, true, train, error) ||
        !rt::loadFashionMnist(dataDir, false, test, error))
      return fail(error);
    train.truncate(trainLimit);
    test.truncate(testLimit);
  }
  if (!rt::checkDataFits(train, net.inputShape, net.numClasses, error) ||
      !rt::checkDataFits(test, net.inputShape, net.numClasses, error))
    return fail(error);
  if (train.labelsPerSample != net.labelsPerSample)
    return fail(fmt::format("data set '{}' has {} label(s) per sample but the "
                            "model's loss scores {} per sample",
                            train.name, train.labelsPerSample,
                            net.labelsPerSample));
  return Error::success();
}

//===----------------------------------------------------------------------===//
// Training loop
//===----------------------------------------------------------------------===//

static std::string bytesText(int64_t bytes) {
  if (bytes >= 1024 * 1024)
    return fmt::format("{:.2f} MiB", double(bytes) / (1024.0 * 1024.0));
  if (bytes >= 1024)
    return fmt::format("{:.1f} KiB", double(bytes) / 1024.0);
  return fmt::format("{} B", bytes);
}

/// CPU time of this process, seconds: a speed figure that other processes
/// competing for the cores disturb much less than wall time.
static double cpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

struct EpochFigures {
  double loss = 0, trainAccuracy = 0, testAccuracy = 0, testLoss = 0;
  double samplesPerSecond = 0, seconds = 0, cpuSeconds = 0;
  bool pipelined = false;
};

static rt::BatchResult evaluateAll(rt::PipelineTrainer &trainer,
                                   const rt::Dataset &data) {
  return rt::evaluateDataset(trainer.net(), trainer.params(), trainer.state(),
                             trainer.config().seed, data);
}

static std::string delaysText(const rt::NetSpec &net,
                              const std::vector<int64_t> &delays) {
  std::string s;
  for (size_t l = 0; l < net.layers.size(); ++l)
    if (net.layers[l].hasParams())
      s += fmt::format("{}{}={}", s.empty() ? "" : " ", net.layers[l].name,
                       delays[l]);
  return s;
}

/// The per-layer μ_l and η_l/η the compensation chose (step 0's rates).
static std::string compensationText(const rt::PipelineTrainer &trainer) {
  const rt::NetSpec &net = trainer.net();
  float lr0 = rt::learningRate(trainer.config().sgd, 0);
  std::string s;
  for (size_t l = 0; l < net.layers.size(); ++l)
    if (net.layers[l].hasParams())
      s += fmt::format("{}{} mu={:.4g} lr={:.4g}x", s.empty() ? "" : ", ",
                       net.layers[l].name, trainer.layerMomentum(l),
                       trainer.layerLearningRate(l, 0) / lr0);
  return s;
}

/// \p text as a JSON string literal.
static std::string jsonString(StringRef text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\')
      out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) {
      out += fmt::format("\\u{:04x}", int(c));
      continue;
    }
    out += c;
  }
  return out + "\"";
}

static Error writeSummary(const std::string &path, const Model &model,
                          const rt::PipelineTrainer &trainer,
                          const RunConfig &run,
                          const std::vector<EpochFigures> &figures,
                          double samplesPerSecond, double cpuSamplesPerSecond) {
  const rt::NetSpec &net = trainer.net();
  const rt::MemoryStats &peak = trainer.peakMemory();
  std::string delays, perEpoch;
  for (size_t l = 0; l < net.layers.size(); ++l)
    if (net.layers[l].hasParams())
      delays += fmt::format("{}{}: {}", delays.empty() ? "" : ", ",
                            jsonString(net.layers[l].name),
                            run.train.delays[l]);
  for (size_t e = 0; e < figures.size(); ++e)
    perEpoch += fmt::format(
        "{}    {{\"epoch\": {}, \"loss\": {:.6f}, \"train_accuracy\": {:.6f}, "
        "\"test_accuracy\": {:.6f}, \"samples_per_s\": {:.1f}, "
        "\"pipelined\": {}}}",
        e ? ",\n" : "", e + 1, figures[e].loss, figures[e].trainAccuracy,
        figures[e].testAccuracy, figures[e].samplesPerSecond,
        figures[e].pipelined ? "true" : "false");
  const EpochFigures &last = figures.back();
  std::string text = fmt::format(
      "{{\n  \"model\": {},\n  \"data\": \"{}\",\n  \"policy\": \"{}\",\n"
      "  \"delays_rule\": {},\n  \"stages\": {},\n  \"delays\": {{{}}},\n"
      "  \"hybrid\": {},\n  \"epochs\": {},\n  \"batch\": {},\n"
      "  \"lr\": {},\n  \"momentum\": {},\n  \"weight_decay\": {},\n"
      "  \"lr_schedule\": \"{}\",\n  \"lr_warmup\": {},\n  \"seed\": {},\n"
      "  \"delay_compensation\": \"{}\",\n"
      "  \"micro_batches\": {},\n  \"micro_batch\": {},\n"
      "  \"user_batch\": {},\n  \"step_lr\": {},\n"
      "  \"weights_checksum\": \"{:016x}\",\n"
      "  \"test_accuracy\": {:.6f},\n  \"train_accuracy\": {:.6f},\n"
      "  \"final_loss\": {:.6f},\n  \"test_loss\": {:.6f},\n"
      "  \"samples_per_s\": {:.1f},\n  \"cpu_samples_per_s\": {:.1f},\n"
      "  \"peak_memory_bytes\": {},\n"
      "  \"weight_memory_bytes\": {},\n  \"stashed_weight_bytes\": {},\n"
      "  \"optimizer_bytes\": {},\n  \"gradient_bytes\": {},\n"
      "  \"activation_bytes\": {},\n  \"diverged\": false,\n"
      "  \"per_epoch\": [\n{}\n  ]\n}}\n",
      jsonString(model.name), dataFlag.getValue(),
      rt::weightPolicyName(run.train.policy), jsonString(run.delaysRule),
      run.numStages, delays, hybridEpochs.getValue(), figures.size(),
      run.batch, lr.getValue(), momentum.getValue(), weightDecay.getValue(),
      rt::lrScheduleName(run.train.sgd.schedule), warmup.getValue(),
      seed.getValue(), rt::delayCompensationName(run.train.compensation),
      run.train.microBatches, run.batch, run.userBatch, run.train.sgd.lr,
      rt::weightsChecksum(trainer.params(), trainer.state()),
      last.testAccuracy, last.trainAccuracy, last.loss, last.testLoss,
      samplesPerSecond, cpuSamplesPerSecond, peak.total(), peak.weights, peak.stashedWeights,
      peak.optimizer, peak.gradients, peak.activations, perEpoch);
  return writeOutputFile(path, [&](raw_ostream &os) { os << text; });
}

static Error run() {
  // Training takes minutes: a bad output path fails before it starts.
  if (Error err = checkOutputPath("--summary-json", summaryJson))
    return err;
  Expected<Model> model = loadModel(modelPath);
  if (!model)
    return model.takeError();
  Expected<rt::NetSpec> net = lowerToRuntimeNet(*model);
  if (!net)
    return net.takeError();
  Expected<RunConfig> config = readFlags(*model);
  if (!config)
    return config.takeError();
  RunConfig &runConfig = *config;
  rt::Dataset train, test;
  if (Error err = loadData(*net, train, test))
    return err;
  int64_t batch = runConfig.batch;
  if (batch < int64_t(runConfig.train.microBatches))
    return fail(fmt::format("--batch {} is smaller than --micro-batches {}",
                            batch, runConfig.train.microBatches));
  if (train.count < batch)
    return fail(fmt::format("--batch {} is larger than the {} training "
                            "samples",
                            batch, train.count));
  int64_t stepsPerEpoch = train.count / batch;
  runConfig.train.sgd.totalSteps = stepsPerEpoch * epochs;
  runConfig.train.correctionWarmupSteps =
      pipemareWarmup >= 0 ? int64_t(pipemareWarmup.getValue())
                          : stepsPerEpoch;

  rt::PipelineTrainer trainer(*net, runConfig.train);
  std::string error;
  if (!trainer.check(error))
    return fail(error);

  outs() << fmt::format(
      "layerpipe-train: {} on {} ({} train / {} test samples), batch {}, "
      "{} steps/epoch\n",
      model->name, train.name, train.count, test.count, batch, stepsPerEpoch);
  if (runConfig.userBatch != batch)
    outs() << fmt::format("  micro-batch {} of the user's batch {}: lr {:.6g} "
                          "(= {} x {}/{}), {} schedule, warm-up {} steps\n",
                          batch, runConfig.userBatch, runConfig.train.sgd.lr,
                          lr.getValue(), batch, runConfig.userBatch,
                          rt::lrScheduleName(runConfig.train.sgd.schedule),
                          runConfig.train.sgd.warmupSteps);
  outs() << fmt::format(
      "  policy {}, delays {} ({} stage{}): {}\n",
      rt::weightPolicyName(runConfig.train.policy), runConfig.delaysRule,
      runConfig.numStages, runConfig.numStages == 1 ? "" : "s",
      delaysText(*net, trainer.delays()));
  if (runConfig.train.compensation != rt::DelayCompensation::None)
    outs() << fmt::format("  delay compensation {}: {}\n",
                          rt::delayCompensationName(
                              runConfig.train.compensation),
                          compensationText(trainer));
  outs().flush();

  // Checkpoints: the trainer's whole state plus the epoch under way.
  if (checkpointDir.empty() && (resumeFlag || checkpointEvery != 0))
    return fail(std::string(resumeFlag ? "--resume" : "--checkpoint-every") +
                " needs --checkpoint-dir");
  if (checkpointEvery < 0)
    return fail("--checkpoint-every must be at least 1, got " +
                std::to_string(checkpointEvery));
  rt::CheckpointFingerprint fingerprint;
  {
    std::vector<char> bytes;
    rt::ByteWriter out(bytes);
    for (const rt::LayerSpec &l : net->layers) {
      out.putString(l.name);
      out.put(int32_t(l.type));
      out.put(l.numParams);
      out.putArray(l.inputs.data(), l.inputs.size());
    }
    fingerprint.model = fmt::format(
        "{} (layers {:016x})", model->name,
        rt::hashBytes(bytes.data(), bytes.size()));
    std::string delays;
    for (int64_t d : trainer.delays())
      delays += (delays.empty() ? "" : ",") + std::to_string(d);
    fingerprint.plan = fmt::format(
        "reference trainer, policy {}, {} micro-batches, delays {}, hybrid {}",
        rt::weightPolicyName(runConfig.train.policy),
        runConfig.train.microBatches, delays, hybridEpochs.getValue());
    fingerprint.processors = 1;
    fingerprint.options = fmt::format(
        "--epochs {} --batch {} --lr {} --momentum {} --weight-decay {} "
        "--lr-schedule {} --lr-warmup {} --seed {} --delay-compensation {} "
        "--data {} --train-limit {} --test-limit {}",
        epochs.getValue(), batch, lr.getValue(), momentum.getValue(),
        weightDecay.getValue(), lrSchedule.getValue(), warmup.getValue(),
        seed.getValue(), rt::delayCompensationName(runConfig.train.compensation),
        dataFlag.getValue(), trainLimit.getValue(), testLimit.getValue());
    if (dataFlag != "synthetic")
      fingerprint.options += " --data-dir " + dataDir.getValue();
  }
  int64_t totalSteps = stepsPerEpoch * epochs;
  int64_t every = checkpointEvery > 0 ? checkpointEvery : stepsPerEpoch;
  int startEpoch = 0;
  int64_t startS = 0, previousCheckpoint = -1;
  rt::BatchResult resumedSum;
  std::vector<std::string> epochLines;
  std::string resumedFrom;
  if (!checkpointDir.empty()) {
    if (!rt::makeCheckpointDir(checkpointDir, error))
      return fail(error);
  }
  // Read back in resume below; written by saveCheckpoint.
  struct HostPart {
    double trainSeconds = 0, trainCpuSeconds = 0;
    int64_t trainSamples = 0;
  } host;
  std::vector<EpochFigures> resumedFigures;
  if (!checkpointDir.empty() && resumeFlag) {
    rt::CheckpointManifest m;
    if (rt::findCheckpoint(checkpointDir, fingerprint, m,
                           [](const std::string &why) {
                             errs() << "layerpipe-train: warning: " << why
                                    << "; trying an older one\n";
                           })) {
      std::string payload;
      if (!rt::readCheckpointFile(checkpointDir + "/" + m.parts[0].name,
                                  rt::CheckpointFileKind::Part, payload,
                                  error))
        return fail(error);
      try {
        rt::ByteReader in(payload.data(), payload.size());
        std::string state = in.getString();
        resumedSum = in.get<rt::BatchResult>();
        host = in.get<HostPart>();
        in.getArray(resumedFigures);
        uint64_t lines = in.get<uint64_t>();
        for (uint64_t i = 0; i < lines; ++i)
          epochLines.push_back(in.getString());
        if (!trainer.loadState(state, error))
          throw std::runtime_error(error);
      } catch (const std::exception &e) {
        return fail("checkpoint file " + checkpointDir + "/" +
                    m.parts[0].name + ": malformed (" + e.what() + ")");
      }
      if (m.steps > totalSteps || trainer.stepsDone() != m.steps)
        return fail("checkpoint " + m.path + " is of step " +
                    std::to_string(m.steps) + ", outside this run's " +
                    std::to_string(totalSteps) + " steps");
      startEpoch = int(m.steps / stepsPerEpoch);
      startS = m.steps % stepsPerEpoch;
      previousCheckpoint = m.steps;
      resumedFrom = m.path;
    } else {
      errs() << "layerpipe-train: note: no complete checkpoint of this run in "
             << checkpointDir << ": starting from the beginning\n";
    }
  }

  bool tty = isatty(fileno(stdout));
  // On a terminal without --progress-every, the line is redrawn at most
  // every 0.2 s; otherwise every N batches, one line each.
  int progress = progressEvery > 0 ? progressEvery : (tty ? 1 : 0);
  bool redraw = tty && progressEvery == 0;
  auto lastDraw = std::chrono::steady_clock::now();
  std::vector<EpochFigures> figures = resumedFigures;
  double trainSeconds = host.trainSeconds,
         trainCpuSeconds = host.trainCpuSeconds;
  std::string diverged;
  int64_t trainSamples = host.trainSamples;
  rt::Tensor x;
  std::vector<int32_t> labels;
  if (!resumedFrom.empty()) {
    for (const std::string &line : epochLines)
      outs() << line;
    outs() << "  resumed from " << resumedFrom << " after step "
           << trainer.stepsDone()
           << (trainer.stepsDone() == totalSteps
                   ? ": the run had finished, nothing left to train"
                   : "")
           << "\n";
  }
  // A checkpoint after step k (the trainer has done k + 1 steps).
  auto saveCheckpoint = [&](int64_t k, const rt::BatchResult &sum) {
    // Every N steps and after the last one: a checkpoint of the finished
    // run holds its final weights and optimizer state, and --resume of a
    // finished run prints its results without training again.
    if (checkpointDir.empty() || ((k + 1) % every != 0 && k + 1 != totalSteps))
      return;
    std::vector<char> bytes;
    rt::ByteWriter out(bytes);
    out.putString(trainer.saveState());
    out.put(sum);
    HostPart h{trainSeconds, trainCpuSeconds, trainSamples};
    out.put(h);
    out.putArray(figures.data(), figures.size());
    out.put(uint64_t(epochLines.size()));
    for (const std::string &line : epochLines)
      out.putString(line);
    rt::CheckpointManifest m;
    m.steps = k + 1;
    m.fingerprint = fingerprint;
    rt::CheckpointPart part;
    std::string why;
    if (!rt::writeCheckpointFile(
            rt::checkpointPath(checkpointDir, k + 1, "trainer"),
            rt::CheckpointFileKind::Part, std::string(bytes.begin(), bytes.end()),
            &part, why) ||
        (m.parts.push_back(part), !rt::writeManifest(checkpointDir, m, why)))
      throw std::runtime_error(why);
    // The finished run's checkpoint leaves the two newest before it.
    if (previousCheckpoint > 0 && k + 1 != totalSteps)
      rt::pruneCheckpoints(checkpointDir, previousCheckpoint);
    previousCheckpoint = k + 1;
  };
  for (int epoch = startEpoch; epoch < epochs; ++epoch) {
    bool resumedEpoch = epoch == startEpoch && startS > 0;
    if (hybridEpochs > 0 && epoch == hybridEpochs && !resumedEpoch) {
      trainer.switchToSynchronous();
      outs() << "  hybrid: synchronous training from epoch " << epoch + 1
             << " (in-flight gradients dropped)\n";
    }
    EpochFigures f;
    f.pipelined = std::any_of(trainer.delays().begin(),
                              trainer.delays().end(),
                              [](int64_t d) { return d > 0; });
    std::vector<int64_t> order = rt::epochOrder(train.count, seed, epoch);
    rt::BatchResult sum = epoch == startEpoch ? resumedSum : rt::BatchResult();
    auto start = std::chrono::steady_clock::now();
    double cpuStart = cpuSeconds();
    for (int64_t s = epoch == startEpoch ? startS : 0; s < stepsPerEpoch;
         ++s) {
      rt::gatherBatch(train, order, s * batch, batch, x, labels);
      rt::BatchResult r = trainer.step(x, labels);
      if (!std::isfinite(r.lossSum)) {
        diverged = fmt::format("training diverged: the loss of epoch {}, "
                               "batch {} is {}",
                               epoch + 1, s + 1, r.lossSum / double(batch));
        break;
      }
      sum.lossSum += r.lossSum;
      sum.correct += r.correct;
      sum.samples += r.samples;
      if (s + 1 < stepsPerEpoch)
        saveCheckpoint(epoch * stepsPerEpoch + s, sum);
      if (progress > 0 && (s + 1) % progress == 0 && s + 1 < stepsPerEpoch) {
        auto now = std::chrono::steady_clock::now();
        if (redraw && now - lastDraw < std::chrono::milliseconds(200))
          continue;
        lastDraw = now;
        std::string line = fmt::format(
            "  epoch {}/{}: batch {}/{} loss {:.4f} train-acc {:.2f}%",
            epoch + 1, epochs.getValue(), s + 1, stepsPerEpoch,
            sum.lossSum / double(sum.samples),
            100.0 * double(sum.correct) /
                double(sum.samples * train.labelsPerSample));
        outs() << (redraw ? "\r" + line : line + "\n");
        outs().flush();
      }
    }
    if (!diverged.empty()) {
      if (redraw)
        outs() << "\r\x1b[K";
      outs().flush();
      if (!summaryJson.empty())
        if (Error err = writeOutputFile(summaryJson, [&](raw_ostream &os) {
              os << fmt::format(
                  "{{\n  \"model\": {},\n  \"policy\": \"{}\",\n"
                  "  \"delay_compensation\": \"{}\",\n"
                  "  \"diverged\": true,\n  \"message\": {}\n}}\n",
                  jsonString(model->name),
                  rt::weightPolicyName(runConfig.train.policy),
                  rt::delayCompensationName(runConfig.train.compensation),
                  jsonString(diverged));
            }))
          return err;
      return fail(diverged);
    }
    f.seconds = std::chrono::duration<double>(
                    std::chrono::steady_clock::now() - start)
                    .count();
    f.cpuSeconds = cpuSeconds() - cpuStart;
    if (redraw)
      outs() << "\r\x1b[K";
    trainSeconds += f.seconds;
    trainCpuSeconds += f.cpuSeconds;
    trainSamples += sum.samples;
    f.loss = sum.lossSum / double(sum.samples);
    f.trainAccuracy =
        double(sum.correct) / double(sum.samples * train.labelsPerSample);
    f.samplesPerSecond = double(sum.samples) / f.seconds;
    rt::BatchResult t = evaluateAll(trainer, test);
    f.testAccuracy =
        double(t.correct) / double(t.samples * test.labelsPerSample);
    f.testLoss = t.lossSum / double(t.samples);
    rt::MemoryStats peak = trainer.peakMemory();
    epochLines.push_back(fmt::format(
        "epoch {}/{}: loss {:.4f}  train-acc {:.2f}%  test-acc {:.2f}%  "
        "{:.0f} samples/s  memory {} (weights {}, stashed {}, "
        "activations {})\n",
        epoch + 1, epochs.getValue(), f.loss, 100 * f.trainAccuracy,
        100 * f.testAccuracy, f.samplesPerSecond, bytesText(peak.total()),
        bytesText(peak.weights), bytesText(peak.stashedWeights),
        bytesText(peak.activations)));
    outs() << epochLines.back();
    outs().flush();
    figures.push_back(f);
    saveCheckpoint((epoch + 1) * stepsPerEpoch - 1, rt::BatchResult());
  }
  double samplesPerSecond = double(trainSamples) / trainSeconds;
  outs() << fmt::format("final: test-acc {:.2f}%  loss {:.4f}  {:.0f} "
                        "samples/s  peak memory {}  weights {:016x}\n",
                        100 * figures.back().testAccuracy,
                        figures.back().loss, samplesPerSecond,
                        bytesText(trainer.peakMemory().total()),
                        rt::weightsChecksum(trainer.params(), trainer.state()));
  if (!summaryJson.empty())
    return writeSummary(summaryJson, *model, trainer, runConfig, figures,
                        samplesPerSecond,
                        double(trainSamples) / trainCpuSeconds);
  return Error::success();
}

int main(int argc, char **argv) {
  cl::HideUnrelatedOptions(
      {&pipelineCat, &optimCat, &dataCat, &outputCat, &checkpointCat});
  if (!parseToolFlags(argc, argv,
                      "LayerPipe reference trainer: trains a model with the "
                      "exact semantics of its pipelined training DFG "
                      "(docs/runtime.md)\n"))
    return 1;
  // Nothing escapes as an abort: an exception (bad_alloc, length_error)
  // becomes an error line and exit status 1 like any other failure.
  try {
    if (Error err = run())
      return reportToolError(std::move(err));
  } catch (const std::bad_alloc &) {
    printToolError("out of memory");
    return 1;
  } catch (const std::exception &e) {
    printToolError(Twine("internal error: ") + e.what());
    return 1;
  }
  return 0;
}
