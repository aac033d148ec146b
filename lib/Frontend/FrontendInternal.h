//===- FrontendInternal.h - Shared pieces of the frontend -------*- C++ -*-===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// Private to lib/Frontend: the error format of every model-file diagnostic,
// the limits on sizes, and the shape-inference step that ModelParser.cpp runs
// once the layer graph is resolved and ordered.
//
//===----------------------------------------------------------------------===//

#ifndef LAYERPIPE_LIB_FRONTEND_FRONTENDINTERNAL_H
#define LAYERPIPE_LIB_FRONTEND_FRONTENDINTERNAL_H

#include "JsonFields.h"

#include "layerpipe/Model.h"

#include "llvm/ADT/StringRef.h"
#include "llvm/ADT/Twine.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <string>

namespace layerpipe {

/// Largest size (dimension, channels, units, kernel, stride, padding, batch).
constexpr int64_t kMaxSize = 2147483647; // 2^31 - 1
/// Layers of one model: 40,000 compile in 8 s on 16 processors; the
/// schedulers grow faster than linearly beyond.
constexpr size_t kMaxLayers = 100000;
/// Largest element count of one tensor per mini-batch and largest parameter
/// count: with at most 16 bytes per element, byte counts (even 5x, as in the
/// update task) stay inside int64.
constexpr int64_t kMaxElements = int64_t(1) << 56;

/// "<file>: <message> (at <pointer>)"; without the suffix if \p pointer is
/// empty.
llvm::Error modelError(llvm::StringRef fileName, llvm::StringRef pointer,
                       const llvm::Twine &message);

/// JSON pointer of a layer: "/layers/<sourceIndex>".
std::string layerPointer(const Layer &layer);

/// Reads a layer's measured task times, one field per task kind (a model
/// layer's `times`, a profile's layer object) into \p times; an unknown
/// field is an error that names \p where ("in 'times'").
void readMeasuredTimes(const json &value, const Place &at,
                       MeasuredTimes &times, llvm::StringRef where);

/// Infers every layer's input and output shapes, parameter count and FLOPs,
/// and the model's numClasses. Requires: layers in topological order with
/// resolved inputs, exactly one loss layer (the last), parameters read.
/// Fails on shape mismatches and sizes that overflow the limits above.
llvm::Error inferShapes(Model &model, llvm::StringRef fileName);

} // namespace layerpipe

#endif // LAYERPIPE_LIB_FRONTEND_FRONTENDINTERNAL_H
