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

#include "llvm/Support/MemoryBuffer.h"

#include <algorithm>
#include <map>

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

/// The task kinds of the profile's per-layer objects.
static const StringRef TimeFields[] = {"forward", "activation_gradient",
                                       "weight_gradient", "update"};

static std::optional<double> *timeSlot(MeasuredTimes &t, StringRef field) {
  if (field == "forward")
    return &t.forward;
  if (field == "activation_gradient")
    return &t.activationGradient;
  if (field == "weight_gradient")
    return &t.weightGradient;
  return &t.update;
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
  std::vector<int64_t> ids;
  Place cpusAt = at.field("cpus");
  for (size_t i = 0; i < cpus.size(); ++i)
    ids.push_back(readInt(cpus[i], cpusAt.element(i, "a CPU number"), 0,
                          1 << 20));
  for (const char *key : {"probe_loop_us_before", "probe_loop_us_after"}) {
    if (!cpu.contains(key))
      continue;
    const json &probe = cpu[key];
    if (!probe.is_array() || probe.size() != ids.size())
      fail(at.pointer() + "/" + key,
           "must be an array of " + std::to_string(ids.size()) +
               " probe times, one per CPU of 'cpus'");
    size_t fast = 0, slow = 0;
    std::vector<double> us;
    Place probeAt = at.field(key);
    for (size_t i = 0; i < probe.size(); ++i) {
      us.push_back(readNumber(probe[i], probeAt.element(i, "a probe time"),
                              1e-9, 1e15, false));
      if (us[i] < us[fast])
        fast = i;
      if (us[i] > us[slow])
        slow = i;
    }
    double spread = us[slow] / us[fast];
    if (spread > machine.cpuSpeedSpread) {
      machine.cpuSpeedSpread = spread;
      machine.fastestCpu = int(ids[fast]);
      machine.slowestCpu = int(ids[slow]);
    }
  }
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
    const json &times = requireObject(layers[layer.name], at);
    rejectUnknownFields(times, at, TimeFields, "in a layer's profile");
    for (StringRef field : TimeFields)
      if (times.contains(field.str()))
        *timeSlot(layer.measured, field) = readNumber(
            times[field.str()], at.field(field), 0, 1e15, /*hiOpen=*/false);
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

Error applyTraceTimes(StringRef path, Model &model) {
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
  size_t used = 0;
  for (auto &[name, list] : durations) {
    StringRef prefix, layerName;
    std::tie(prefix, layerName) = StringRef(name).split('.');
    auto it = index.find(layerName.str());
    if (it == index.end())
      continue;
    std::nth_element(list.begin(), list.begin() + list.size() / 2, list.end());
    double median = list[list.size() / 2];
    MeasuredTimes &t = model.layers[it->second].measured;
    if (prefix == "F")
      t.forward = median;
    else if (prefix == "L") {
      t.forward = median;
      t.activationGradient = 0.0;
    } else if (prefix == "B")
      t.activationGradient = median;
    else if (prefix == "G")
      t.weightGradient = median;
    else if (prefix == "U")
      t.update = median;
    else if (prefix == "BG") {
      // The merged task's time; B's and G's shares are not known apart.
      t.activationGradient = median;
      t.weightGradient = 0.0;
    } else
      continue;
    ++used;
  }
  if (used == 0)
    return modelError(path, "",
                      "the trace has no measured tasks of model '" +
                          model.name +
                          "' (a stage program's --trace of a per-layer "
                          "schedule is needed)");
  return Error::success();
}

} // namespace layerpipe
