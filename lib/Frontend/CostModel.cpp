//===- CostModel.cpp - Task times from FLOPs and bytes --------------------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// The roofline rule: a task takes as long as the larger of its compute time
// and its memory time. Transfers between processors pay the link latency
// plus bytes over link bandwidth. loadMachine reads a machine file
// (docs/cost-model.md) with the same checked field readers as the model file.
//
//===----------------------------------------------------------------------===//

#include "layerpipe/CostModel.h"
#include "layerpipe/InputFile.h"

#include "FrontendInternal.h"
#include "JsonFields.h"

#include <algorithm>

using namespace llvm;

namespace layerpipe {

double MachineDesc::computeTimeUs(double flops, double bytesMoved) const {
  double compute = flops / flopsPerSecond;
  double memory = bytesMoved / memoryBandwidth;
  return std::max(compute, memory) * 1e6;
}

double MachineDesc::gemmSlowdown(double rows, double referenceRows) const {
  if (gemmHalfRows <= 0 || rows <= 0 || rows >= referenceRows)
    return 1;
  double efficiency = rows / (rows + gemmHalfRows);
  double reference = referenceRows / (referenceRows + gemmHalfRows);
  return reference / efficiency;
}

double MachineDesc::transferTimeUs(double bytes) const {
  if (bytes <= 0)
    return 0;
  return linkLatencyUs + bytes / linkBandwidth * 1e6;
}

/// Fills \p machine from the machine file's top-level object.
static void readMachine(const json &root, MachineDesc &machine) {
  if (!root.is_object())
    fail("", std::string("the machine file must hold a JSON object, got ") +
                 typeName(root));
  static const StringRef fields[] = {
      "name",           "description",     "flops_per_second",
      "memory_bandwidth", "link_bandwidth", "link_latency_us",
      "bytes_per_element", "link_topology", "gemm_half_rows"};
  Place top{"", ""};
  rejectUnknownFields(root, top, fields, "in the machine file");
  if (root.contains("name"))
    machine.name = readString(root["name"], top.field("name"));
  if (root.contains("description"))
    readString(root["description"], top.field("description"));
  // Rates in [1, 1e30] per second and latencies up to 1e12 us keep every
  // time finite: the largest byte count (2^60) over the smallest rate is
  // about 1e24 us, the smallest work over the largest rate 1e-24 us. (A
  // link of 1e-300 bytes/s made transfer times infinite and crashed the
  // planner.)
  const double smallest = 1, largest = 1e30;
  std::pair<const char *, double *> rates[] = {
      {"flops_per_second", &machine.flopsPerSecond},
      {"memory_bandwidth", &machine.memoryBandwidth},
      {"link_bandwidth", &machine.linkBandwidth}};
  for (auto &[key, slot] : rates)
    if (root.contains(key))
      *slot = readNumber(root[key], top.field(key), smallest, largest,
                         /*hiOpen=*/false);
  if (root.contains("link_latency_us"))
    machine.linkLatencyUs =
        readNumber(root["link_latency_us"], top.field("link_latency_us"), 0,
                   1e12, /*hiOpen=*/false);
  if (root.contains("gemm_half_rows"))
    machine.gemmHalfRows = readNumber(root["gemm_half_rows"],
                                      top.field("gemm_half_rows"), 0, 1e12,
                                      /*hiOpen=*/false);
  if (root.contains("bytes_per_element"))
    machine.bytesPerElement = readInt(root["bytes_per_element"],
                                      top.field("bytes_per_element"), 1, 16);
  if (root.contains("link_topology")) {
    std::string name =
        readString(root["link_topology"], top.field("link_topology"));
    bool known = false;
    for (LinkTopology t : {LinkTopology::Switch, LinkTopology::PointToPoint,
                           LinkTopology::Bus})
      if (linkTopologyName(t) == name) {
        machine.linkTopology = t;
        known = true;
      }
    if (!known)
      fail(top.field("link_topology").pointer(),
           "unknown link_topology '" + name +
               "' (expected 'switch', 'point-to-point' or 'bus')");
  }
}

StringRef linkTopologyName(LinkTopology topology) {
  switch (topology) {
  case LinkTopology::Switch:
    return "switch";
  case LinkTopology::PointToPoint:
    return "point-to-point";
  case LinkTopology::Bus:
    return "bus";
  }
  return "switch";
}

Expected<MachineDesc> parseMachine(StringRef text, StringRef fileName) {
  Expected<json> root = parseJson(text, fileName);
  if (!root)
    return root.takeError();
  MachineDesc machine;
  try {
    readMachine(*root, machine);
  } catch (const FieldError &failure) {
    return modelError(fileName, failure.pointer, failure.message);
  } catch (const std::exception &e) {
    return modelError(fileName, "", Twine("invalid machine file: ") + e.what());
  }
  return machine;
}

Expected<MachineDesc> loadMachine(StringRef path) {
  Expected<std::unique_ptr<MemoryBuffer>> buffer =
      readInputFile(path, "machine file");
  if (!buffer)
    return buffer.takeError();
  return parseMachine((*buffer)->getBuffer(), path);
}

} // namespace layerpipe
