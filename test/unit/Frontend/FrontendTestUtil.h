//===- FrontendTestUtil.h - Helpers of the frontend unit tests --*- C++ -*-===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// Parsing helpers shared by the frontend's doctest files: parse text that
// must be valid, parse text that must fail and return the message, and load
// a model of the zoo.
//
//===----------------------------------------------------------------------===//

#ifndef LAYERPIPE_TEST_UNIT_FRONTEND_FRONTENDTESTUTIL_H
#define LAYERPIPE_TEST_UNIT_FRONTEND_FRONTENDTESTUTIL_H

#include "layerpipe/Model.h"

#include <doctest/doctest.h>

#include <string>

namespace layerpipe {

inline Model parseOk(llvm::StringRef text,
                     llvm::StringRef fileName = "test.json") {
  llvm::Expected<Model> model = parseModel(text, fileName);
  if (!model) {
    std::string message = llvm::toString(model.takeError());
    FAIL("unexpected error: " << message);
    return Model();
  }
  return std::move(*model);
}

/// The error message of \p text, which must fail to parse.
inline std::string parseError(llvm::StringRef text) {
  llvm::Expected<Model> model = parseModel(text, "bad.json");
  if (model) {
    FAIL("expected an error for: " << text.str());
    return "";
  }
  return llvm::toString(model.takeError());
}

inline Model loadZooModel(llvm::StringRef name) {
  std::string path =
      std::string(LAYERPIPE_SOURCE_DIR) + "/models/" + name.str() + ".json";
  llvm::Expected<Model> model = loadModel(path);
  if (!model) {
    std::string message = llvm::toString(model.takeError());
    FAIL("cannot load " << path << ": " << message);
    return Model();
  }
  return std::move(*model);
}

} // namespace layerpipe

#endif // LAYERPIPE_TEST_UNIT_FRONTEND_FRONTENDTESTUTIL_H
