//===- Profile.cpp - Measured task times into the compiler ----------------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// Readers of a layerpipe-profile file and of a stage program's measured
// trace (Profile.h). The profile's layers are matched to the model's by
// name, all of them, so a profile of another model or batch size is refused
// instead of silently mixing figures.
//
//===----------------------------------------------------------------------===//

#include "layerpipe/Profile.h"

#include "FrontendInternal.h"
#include "JsonFields.h"

#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/MemoryBuffer.h"

#include <algorithm>
#include <array>
#include <map>
#include <optional>

using namespace llvm;

namespace layerpipe {

static Expected<json> readJsonFile(StringRef path, StringRef what) {
  ErrorOr<std::unique_ptr<MemoryBuffer>> buffer =
      MemoryBuffer::getFile(path, /*IsText=*/true);
  if (!buffer)
    return createStringError(buffer.getError(), "cannot read %s '%s': %s",
                             what.str().c_str(), path.str().c_str(),
                             buffer.getError().message().c_str());
  return parseJson((*buffer)->getBuffer(), path);
}

/// The profile's `cpu` object: the CPUs and their probe times before and
/// after the tasks were timed. Sets the machine's CPU speed spread, the
/// slowest probe time over the fastest, before or after (docs/profile.md).
static void readCpuProbe(const json &cpu, MachineDesc &machine) {
  Place at{"/cpu", "cpu"};
  if (!cpu.is_object())
    fail(at.pointer(), "must be an object (the CPU the tasks were timed on)");
  static const StringRef fields[] = {"timed_on", "cpus",
                                     "probe_loop_us_before",
                                     "probe_loop_us_after"};
  rejectUnknownFields(cpu, at, fields, "in the profile's cpu");
  if (cpu.contains("timed_on"))
    readInt(cpu["timed_on"], at.field("timed_on"), 0, 1 << 20);
  if (!cpu.contains("cpus"))
    return;
  const json &cpus = cpu["cpus"];
  if (!cpus.is_array() || cpus.empty())
    fail(at.pointer() + "/cpus", "must be a non-empty array of CPU numbers");
  std::vector<int> ids;
  Place cpusAt = at.field("cpus");
  for (size_t i = 0; i < cpus.size(); ++i)
    ids.push_back(int(readInt(cpus[i], cpusAt.element(i, "a CPU number"), 0,
                              1 << 20)));
  std::vector<std::vector<double>> probes;
  for (const char *key : {"probe_loop_us_before", "probe_loop_us_after"}) {
    if (!cpu.contains(key))
      continue;
    const json &probe = cpu[key];
    if (!probe.is_array() || probe.size() != ids.size())
      fail(at.pointer() + "/" + key,
           "must be an array of " + std::to_string(ids.size()) +
               " probe times, one per CPU of 'cpus'");
    Place probeAt = at.field(key);
    probes.emplace_back();
    for (size_t i = 0; i < probe.size(); ++i)
      probes.back().push_back(readNumber(
          probe[i], probeAt.element(i, "a probe time"), 1e-9, 1e15, false));
  }
  CpuSpread found = cpuSpread(ids, probes);
  if (found.spread > machine.cpuSpeedSpread) {
    machine.cpuSpeedSpread = found.spread;
    machine.fastestCpu = found.fastest;
    machine.slowestCpu = found.slowest;
  }
}

CpuSpread cpuSpread(ArrayRef<int> cpus, ArrayRef<std::vector<double>> probes) {
  CpuSpread result;
  for (const std::vector<double> &probe : probes) {
    if (probe.size() != cpus.size() || probe.empty())
      continue;
    auto [lo, hi] = std::minmax_element(probe.begin(), probe.end());
    if (*lo > 0 && *hi / *lo > result.spread) {
      result.spread = *hi / *lo;
      result.fastest = cpus[size_t(lo - probe.begin())];
      result.slowest = cpus[size_t(hi - probe.begin())];
    }
  }
  return result;
}

static void readProfile(const json &root, Model &model, MachineDesc &machine) {
  Place top{"", ""};
  requireObject(root, top);
  static const StringRef fields[] = {
      "format", "version", "model",     "batch_size", "threads",
      "layers", "machine", "transport", "method",     "cpu"};
  rejectUnknownFields(root, top, fields, "in the profile");
  // How the tasks were timed (informative; both give times per task).
  if (root.contains("method") &&
      (!root["method"].is_string() ||
       (root["method"] != "executor" && root["method"] != "kernels")))
    fail("/method", "must be \"executor\" or \"kernels\"");
  // Which CPU timed the tasks, and the CPUs' speeds (informative).
  if (root.contains("cpu"))
    readCpuProbe(root["cpu"], machine);
  for (StringRef key : {"format", "model", "batch_size", "layers"})
    if (!root.contains(key.str()))
      fail("/" + key.str(), "the profile has no '" + key.str() + "'");
  if (readString(root["format"], top.field("format")) != "layerpipe-profile")
    fail("/format", "not a layerpipe profile (format must be "
                    "'layerpipe-profile')");
  std::string name = readString(root["model"], top.field("model"));
  if (name != model.name)
    fail("/model", "the profile is of model '" + name +
                       "', not of '" + model.name + "'");
  int64_t batch =
      readInt(root["batch_size"], top.field("batch_size"), 1, int64_t(1) << 40);
  if (batch != model.batchSize)
    fail("/batch_size",
         "the profile was measured at batch " + std::to_string(batch) +
             ", the model's batch_size is " +
             std::to_string(model.batchSize) +
             " (profile again with --batch " +
             std::to_string(model.batchSize) + ")");
  Place layersAt = top.field("layers");
  const json &layers = requireObject(root["layers"], layersAt);
  std::map<std::string, size_t> index;
  for (size_t l = 0; l < model.layers.size(); ++l)
    index[model.layers[l].name] = l;
  for (const auto &item : layers.items())
    if (!index.count(item.key()))
      fail(layersAt.pointer() + "/" + escapePointer(item.key()),
           "the profile times layer '" + item.key() + "', which model '" +
               model.name + "' does not have");
  for (size_t l = 0; l < model.layers.size(); ++l) {
    Layer &layer = model.layers[l];
    if (!layers.contains(layer.name))
      fail(layersAt.pointer(), "the profile has no times of layer '" +
                                 layer.name + "'");
    Place at = layersAt.field(layer.name);
    readMeasuredTimes(layers[layer.name], at, layer.measured,
                      "in a layer's profile");
  }
  if (root.contains("machine")) {
    Place at = top.field("machine");
    const json &m = requireObject(root["machine"], at);
    static const StringRef machineFields[] = {"name", "link_latency_us",
                                              "link_bandwidth"};
    rejectUnknownFields(m, at, machineFields, "in the profile's machine");
    if (m.contains("link_latency_us"))
      machine.linkLatencyUs = readNumber(
          m["link_latency_us"], at.field("link_latency_us"), 0, 1e12, false);
    if (m.contains("link_bandwidth"))
      machine.linkBandwidth = readNumber(
          m["link_bandwidth"], at.field("link_bandwidth"), 1e-300, 1e300,
          false);
    if (m.contains("name"))
      machine.name = readString(m["name"], at.field("name"));
  }
}

Error applyProfile(StringRef path, Model &model, MachineDesc &machine) {
  Expected<json> root = readJsonFile(path, "profile");
  if (!root)
    return root.takeError();
  try {
    readProfile(*root, model, machine);
  } catch (const FieldError &failure) {
    return modelError(path, failure.pointer, failure.message);
  } catch (const std::exception &e) {
    return modelError(path, "", Twine("invalid profile: ") + e.what());
  }
  return Error::success();
}

/// The layers a trace task's name after its kind prefix names: one layer
/// ("conv1"), or a stage-level schedule's stage "first..last", the layers
/// from first to last in model order. Empty when it names none of
/// \p model's. A layer's own name wins over a split at "..".
static std::optional<std::pair<size_t, size_t>>
tracedLayers(StringRef rest, const std::map<std::string, size_t> &index) {
  auto it = index.find(rest.str());
  if (it != index.end())
    return std::make_pair(it->second, it->second);
  for (size_t at = rest.find(".."); at != StringRef::npos;
       at = rest.find("..", at + 1)) {
    auto first = index.find(rest.take_front(at).str());
    auto last = index.find(rest.drop_front(at + 2).str());
    if (first != index.end() && last != index.end() &&
        first->second <= last->second)
      return std::make_pair(first->second, last->second);
  }
  return std::nullopt;
}

Error applyTraceTimes(StringRef path, Model &model,
                      ArrayRef<LayerTaskTimes> current) {
  Expected<json> root = readJsonFile(path, "trace");
  if (!root)
    return root.takeError();
  std::map<std::string, std::vector<double>> durations;
  try {
    const json &events = root->is_object() && root->contains("traceEvents")
                             ? (*root)["traceEvents"]
                             : *root;
    if (!events.is_array())
      return modelError(path, "", "not a Chrome trace (no traceEvents array)");
    for (const json &e : events) {
      // Measured bars carry the wait before them; predicted ones do not.
      if (!e.is_object() || e.value("ph", "") != "X" || !e.contains("args") ||
          !e["args"].is_object() || !e["args"].contains("wait_us") ||
          !e.contains("dur") || !e["dur"].is_number() || !e.contains("name") ||
          !e["name"].is_string())
        continue;
      durations[e["name"].get<std::string>()].push_back(
          e["dur"].get<double>());
    }
  } catch (const std::exception &e) {
    return modelError(path, "", Twine("invalid trace: ") + e.what());
  }
  std::map<std::string, size_t> index;
  for (size_t l = 0; l < model.layers.size(); ++l)
    index[model.layers[l].name] = l;
  // Which task set each layer's F (or L), B, G and U: a layer in two tasks
  // of one kind (overlapping stages) has no single measured time.
  std::vector<std::array<const std::string *, 4>> setBy(
      model.layers.size(), {nullptr, nullptr, nullptr, nullptr});
  size_t used = 0;
  for (auto &[name, list] : durations) {
    StringRef prefix, rest;
    std::tie(prefix, rest) = StringRef(name).split('.');
    // The slots of LayerTaskTimes the task covers: F 0, B 1, G 2, U 3.
    std::vector<unsigned> slots;
    if (prefix == "F" || prefix == "L")
      slots = {0};
    else if (prefix == "B")
      slots = {1};
    else if (prefix == "G")
      slots = {2};
    else if (prefix == "U")
      slots = {3};
    else if (prefix == "BG")
      slots = {1, 2};
    else
      continue;
    std::optional<std::pair<size_t, size_t>> layers = tracedLayers(rest, index);
    if (!layers)
      continue;
    std::nth_element(list.begin(), list.begin() + list.size() / 2, list.end());
    double median = list[list.size() / 2];
    // The bounds of a profile's and a model's times.
    if (!(median >= 0 && median <= 1e15))
      return modelError(path, "",
                        formatv("task '{0}' has a median time of {1:e} us; "
                                "a task time must be within [0, 1e15]",
                                name, median));
    // A stage task's work goes to its layers in proportion to their current
    // times of the kind (evenly where those are all zero or unknown).
    auto [first, last] = *layers;
    std::vector<double> share(last - first + 1, 1.0);
    double total = 0;
    if (current.size() == model.layers.size()) {
      for (size_t l = first; l <= last; ++l) {
        share[l - first] = 0;
        for (unsigned slot : slots)
          share[l - first] += std::max(0.0, current[l][slot]);
      }
    }
    for (double x : share)
      total += x;
    if (total <= 0) {
      std::fill(share.begin(), share.end(), 1.0);
      total = double(share.size());
    }
    for (size_t l = first; l <= last; ++l) {
      for (unsigned slot : slots) {
        const std::string *&owner = setBy[l][slot];
        if (owner && *owner != name)
          return modelError(path, "",
                            "trace tasks '" + *owner + "' and '" + name +
                                "' both cover layer '" +
                                model.layers[l].name + "'");
        owner = &name;
      }
      double us = median * share[l - first] / total;
      MeasuredTimes &t = model.layers[l].measured;
      switch (slots.front()) {
      case 0:
        t.forward = us;
        // The loss task (L, or inside a stage's F) is the loss layer's
        // forward and gradient in one.
        if (prefix == "L" || model.layers[l].isLoss())
          t.activationGradient = 0.0;
        break;
      case 1:
        t.activationGradient = us;
        // Measured as separate tasks, B and G are the merged time too.
        t.mergedBackward.reset();
        // A merged task: B and G share its time as their current times do
        // (all of it to G for a layer without B, the first one), and it is
        // the layer's merged time (the loss layer's is its L task).
        if (prefix == "BG") {
          // The measured task gathered the batch again if it had to.
          t.inputLoad.reset();
          if (!model.layers[l].isLoss())
            t.mergedBackward = us;
          double b = 0.5, g = 0.5;
          if (current.size() == model.layers.size()) {
            b = std::max(0.0, current[l][1]);
            g = std::max(0.0, current[l][2]);
          }
          t.activationGradient = b + g > 0 ? us * b / (b + g) : us / 2;
          t.weightGradient = us - *t.activationGradient;
        }
        break;
      case 2:
        t.weightGradient = us;
        t.mergedBackward.reset();
        t.inputLoad.reset();
        break;
      default:
        t.update = us;
        break;
      }
    }
    ++used;
  }
  if (used == 0)
    return modelError(path, "",
                      "the trace has no measured tasks of model '" +
                          model.name +
                          "' (a stage program's --trace is needed)");
  return Error::success();
}

} // namespace layerpipe
