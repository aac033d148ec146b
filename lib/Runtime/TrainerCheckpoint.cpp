//===- TrainerCheckpoint.cpp - The reference trainer's state as bytes -----===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// PipelineTrainer::saveState/loadState. The trainer is one sequential
// process, so its checkpoint simply stores the in-flight batches (inputs,
// outputs, caches, partial gradients) along with the weights: no
// recomputation is needed to resume.
//
//===----------------------------------------------------------------------===//

#include "layerpipe/runtime/Pipeline.h"

#include "layerpipe/runtime/Serialize.h"

namespace layerpipe {
namespace runtime {

namespace {

void putMatrix(ByteWriter &out, const std::vector<std::vector<float>> &m) {
  out.put(uint64_t(m.size()));
  for (const std::vector<float> &v : m)
    out.putArray(v.data(), v.size());
}

void getMatrix(ByteReader &in, std::vector<std::vector<float>> &m) {
  uint64_t count = in.get<uint64_t>();
  if (count != m.size())
    throw std::runtime_error("layer count differs");
  for (std::vector<float> &v : m) {
    size_t before = v.size();
    in.getArray(v);
    if (before && v.size() && v.size() != before)
      throw std::runtime_error("parameter count differs");
  }
}

void putTensor(ByteWriter &out, const Tensor &t) {
  out.putArray(t.shape.data(), t.shape.size());
  out.putArray(t.data.data(), t.data.size());
}

void getTensor(ByteReader &in, Tensor &t) {
  in.getArray(t.shape);
  in.getArray(t.data);
}

} // namespace

std::string PipelineTrainer::saveState() const {
  std::vector<char> bytes;
  ByteWriter out(bytes);
  out.put(uint64_t(net_.layers.size()));
  out.put(step_);
  out.putArray(delays_.data(), delays_.size());
  out.put(maxDelay_);
  putMatrix(out, params_);
  putMatrix(out, state_);
  putMatrix(out, momentum_);
  putMatrix(out, ema_);
  out.put(uint64_t(versions_.size()));
  for (const auto &layer : versions_) {
    out.put(uint64_t(layer.size()));
    for (const auto &version : layer) {
      out.put(version.first);
      out.putArray(version.second.data(), version.second.size());
    }
  }
  out.put(uint64_t(inFlight_.size()));
  for (const InFlight &b : inFlight_) {
    out.put(b.index);
    putTensor(out, b.input);
    out.putArray(b.labels.data(), b.labels.size());
    out.put(uint64_t(b.out.size()));
    for (size_t l = 0; l < b.out.size(); ++l) {
      putTensor(out, b.out[l]);
      putTensor(out, b.delta[l]);
      Value cache; // the cache's fields, through the Value codec
      cache.cache = b.cache[l];
      writeValue(out, cache);
    }
  }
  out.put(peak_);
  return std::string(bytes.begin(), bytes.end());
}

bool PipelineTrainer::loadState(const std::string &bytes, std::string &error) {
  try {
    ByteReader in(bytes.data(), bytes.size());
    if (in.get<uint64_t>() != net_.layers.size())
      throw std::runtime_error("layer count differs");
    step_ = in.get<int64_t>();
    in.getArray(delays_);
    if (delays_.size() != net_.layers.size())
      throw std::runtime_error("delay count differs");
    maxDelay_ = in.get<int64_t>();
    getMatrix(in, params_);
    getMatrix(in, state_);
    getMatrix(in, momentum_);
    getMatrix(in, ema_);
    if (in.get<uint64_t>() != versions_.size())
      throw std::runtime_error("layer count differs");
    for (auto &layer : versions_) {
      layer.clear();
      uint64_t count = in.get<uint64_t>();
      for (uint64_t i = 0; i < count; ++i) {
        int64_t k = in.get<int64_t>();
        std::vector<float> w;
        in.getArray(w);
        layer.emplace_back(k, std::move(w));
      }
    }
    inFlight_.clear();
    uint64_t count = in.get<uint64_t>();
    for (uint64_t i = 0; i < count; ++i) {
      InFlight b;
      b.index = in.get<int64_t>();
      getTensor(in, b.input);
      in.getArray(b.labels);
      uint64_t layers = in.get<uint64_t>();
      if (layers != net_.layers.size())
        throw std::runtime_error("layer count differs");
      b.out.resize(layers);
      b.delta.resize(layers);
      b.cache.resize(layers);
      for (size_t l = 0; l < layers; ++l) {
        getTensor(in, b.out[l]);
        getTensor(in, b.delta[l]);
        Value cache;
        readValue(in, cache);
        b.cache[l] = std::move(cache.cache);
      }
      inFlight_.push_back(std::move(b));
    }
    peak_ = in.get<MemoryStats>();
    if (!in.atEnd())
      throw std::runtime_error("bytes after the end");
  } catch (const std::exception &e) {
    error = e.what();
    return false;
  }
  return true;
}

} // namespace runtime
} // namespace layerpipe
