//===- EmitCpp.cpp - Writing a stage program's project --------------------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// Writes the project of a StageProgramDesign: CMakeLists.txt (links only the
// runtime package), main.cpp (the network as literals, the plan, one
// function per processor with its round of tasks in schedule order) and a
// README. Generated identifiers come from indices; names and other strings
// from the input appear only inside escaped string literals and sanitised
// comments, so no input can change what the program does.
//
//===----------------------------------------------------------------------===//

#include "layerpipe/CodeGen.h"

#include "layerpipe/OutputFile.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/Path.h"

#include <cinttypes>
#include <cstdio>
#include <cmath>

using namespace llvm;
namespace rt = layerpipe::runtime;

namespace layerpipe {

std::string cppStringLiteral(StringRef text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    if (isAlnum(c) || c == ' ' || c == '_' || c == '-' || c == '.' ||
        c == ',' || c == ':' || c == '/' || c == '=' || c == '+') {
      out += char(c);
      continue;
    }
    char escape[8];
    std::snprintf(escape, sizeof(escape), "\\%03o", unsigned(c));
    out += escape;
  }
  return out + "\"";
}

std::string cppCommentText(StringRef text) {
  std::string out;
  for (unsigned char c : text)
    out += (c >= 0x20 && c < 0x7f && c != '\\' && c != '?') ? char(c) : '_';
  // A comment cannot end a block comment or splice the next line.
  size_t pos = 0;
  while ((pos = out.find("*/", pos)) != std::string::npos)
    out[pos + 1] = '_';
  return out;
}

static const char *layerTypeEnum(rt::LayerType type) {
  switch (type) {
  case rt::LayerType::Conv2d:
    return "Conv2d";
  case rt::LayerType::Dense:
    return "Dense";
  case rt::LayerType::MaxPool:
    return "MaxPool";
  case rt::LayerType::AvgPool:
    return "AvgPool";
  case rt::LayerType::Relu:
    return "Relu";
  case rt::LayerType::Tanh:
    return "Tanh";
  case rt::LayerType::Sigmoid:
    return "Sigmoid";
  case rt::LayerType::Flatten:
    return "Flatten";
  case rt::LayerType::Add:
    return "Add";
  case rt::LayerType::BatchNorm:
    return "BatchNorm";
  case rt::LayerType::Dropout:
    return "Dropout";
  case rt::LayerType::SoftmaxCrossEntropy:
    return "SoftmaxCrossEntropy";
  case rt::LayerType::Concat:
    return "Concat";
  case rt::LayerType::GlobalAvgPool:
    return "GlobalAvgPool";
  case rt::LayerType::Relu6:
    return "Relu6";
  case rt::LayerType::Embedding:
    return "Embedding";
  case rt::LayerType::PositionEmbedding:
    return "PositionEmbedding";
  case rt::LayerType::LayerNorm:
    return "LayerNorm";
  case rt::LayerType::RmsNorm:
    return "RmsNorm";
  case rt::LayerType::Attention:
    return "Attention";
  case rt::LayerType::Gelu:
    return "Gelu";
  case rt::LayerType::Silu:
    return "Silu";
  case rt::LayerType::SwiGlu:
    return "SwiGlu";
  }
  return "Relu";
}

static const char *policyEnum(rt::WeightPolicy policy) {
  switch (policy) {
  case rt::WeightPolicy::Sync:
    return "Sync";
  case rt::WeightPolicy::Stash:
    return "Stash";
  case rt::WeightPolicy::Latest:
    return "Latest";
  case rt::WeightPolicy::Ema:
    return "Ema";
  }
  return "Sync";
}

template <typename T> static std::string list(const std::vector<T> &values) {
  std::string s = "{";
  for (size_t i = 0; i < values.size(); ++i)
    s += (i ? ", " : "") + std::to_string(values[i]);
  return s + "}";
}

/// A float literal that reads back as exactly \p x.
static std::string floatLiteral(float x) {
  return formatv("{0}f", formatv("{0:e9}", double(x)).str()).str();
}

static const char *opCall(rt::OpKind kind) {
  switch (kind) {
  case rt::OpKind::Forward:
    return "forward";
  case rt::OpKind::Loss:
    return "loss";
  case rt::OpKind::ActivationGradient:
    return "backwardData";
  case rt::OpKind::WeightGradient:
    return "backwardWeights";
  case rt::OpKind::Update:
    return "update";
  }
  return "forward";
}

/// "r", "r + 2", "r - 1", "4 * r + 3".
static std::string instanceExpr(int64_t a, int64_t b) {
  std::string s = a == 1 ? "r" : std::to_string(a) + " * r";
  if (b > 0)
    s += " + " + std::to_string(b);
  if (b < 0)
    s += " - " + std::to_string(-b);
  return s;
}

/// The reference trainer's flags for the same numbers.
static std::string referenceFlags(const rt::ProgramPlan &plan) {
  std::string s;
  bool delayed = std::any_of(plan.delays.begin(), plan.delays.end(),
                             [](int64_t d) { return d > 0; });
  if (delayed) {
    s += " --delays=list:";
    for (size_t l = 0; l < plan.delays.size(); ++l)
      s += (l ? "," : "") + std::to_string(plan.delays[l]);
    s += " --weights=";
    s += rt::weightPolicyName(plan.policy);
  }
  if (plan.microBatches > 1)
    s += " --micro-batches " + std::to_string(plan.microBatches) +
         " --batch " + std::to_string(plan.defaultBatch);
  if (plan.microBatchSize > 0)
    s += " --micro-batch " + std::to_string(plan.microBatchSize);
  return s;
}

static void writeMain(const Compilation &C, const StageProgramDesign &design,
                      const rt::NetSpec &net, const CodeGenOptions &options,
                      raw_ostream &os) {
  const rt::ProgramPlan &plan = design.plan;
  os << "// " << cppCommentText("Stage program of model " + plan.model +
                                " on " + std::to_string(plan.processors) +
                                " processor(s), schedule " + plan.schedule)
     << ".\n// Generated by layerpipe " << LAYERPIPE_VERSION
     << "; do not edit: emit it again.\n//   "
     << cppCommentText(options.commandLine) << "\n//\n"
     << "// Each processor runs its round of tasks again and again; round r "
        "runs each\n"
     << "// task on the instance (micro-batch, or step for updates) written "
        "beside it.\n"
     << "// Instances before the first or after the last are skipped: that "
        "is the\n"
     << "// pipeline's fill and drain. The runtime sends every value whose "
        "reader runs\n"
     << "// on another processor (docs/codegen.md).\n\n"
     << "#include \"layerpipe/runtime/StageProgram.h\"\n"
     << "#ifdef LAYERPIPE_TRANSPORT_MPI\n"
     << "#include \"layerpipe/runtime/Mpi.h\"\n#endif\n\n"
     << "namespace rt = layerpipe::runtime;\n\nnamespace {\n\n";

  os << "/// The network, layer by layer in model order.\n"
     << "rt::NetSpec network() {\n  rt::NetSpec net;\n  net.inputShape = "
     << list(net.inputShape) << ";\n  net.layers.resize(" << net.layers.size()
     << ");\n";
  for (size_t i = 0; i < net.layers.size(); ++i) {
    const rt::LayerSpec &l = net.layers[i];
    os << "  { // layer " << i << ": "
       << cppCommentText(l.name + " (" + rt::layerTypeName(l.type) + ")")
       << "\n    rt::LayerSpec &l = net.layers[" << i << "];\n"
       << "    l.name = " << cppStringLiteral(l.name) << ";\n"
       << "    l.type = rt::LayerType::" << layerTypeEnum(l.type) << ";\n";
    if (!l.inputs.empty())
      os << "    l.inputs = " << list(l.inputs) << ";\n";
    if (l.type == rt::LayerType::Conv2d)
      os << "    l.outChannels = " << l.outChannels << ";\n";
    if (l.type == rt::LayerType::Dense)
      os << "    l.units = " << l.units << ";\n";
    if (l.type == rt::LayerType::Conv2d || l.type == rt::LayerType::MaxPool ||
        l.type == rt::LayerType::AvgPool)
      os << formatv("    l.kernelH = {0}; l.kernelW = {1};\n"
                    "    l.strideH = {2}; l.strideW = {3};\n"
                    "    l.padH = {4}; l.padW = {5};\n",
                    l.kernelH, l.kernelW, l.strideH, l.strideW, l.padH,
                    l.padW);
    if (!l.bias)
      os << "    l.bias = false;\n";
    if (l.groups != 1)
      os << "    l.groups = " << l.groups << ";\n";
    if (l.type == rt::LayerType::Dropout)
      os << "    l.dropRate = " << floatLiteral(l.dropRate) << ";\n";
    if (l.type == rt::LayerType::Embedding)
      os << "    l.vocab = " << l.vocab << "; l.dim = " << l.dim << ";\n";
    if (l.type == rt::LayerType::PositionEmbedding && l.maxPositions)
      os << "    l.maxPositions = " << l.maxPositions << ";\n";
    if (l.type == rt::LayerType::Attention)
      os << "    l.heads = " << l.heads << "; l.kvHeads = " << l.kvHeads
         << "; l.rope = " << (l.rope ? "true" : "false") << ";\n";
    os << "  }\n";
  }
  os << "  return net;\n}\n\n";

  os << "/// What the compiler decided: delays, policy, where each op runs, "
        "the tasks.\n"
     << "rt::ProgramPlan plan() {\n  rt::ProgramPlan p;\n"
     << "  p.model = " << cppStringLiteral(plan.model) << ";\n"
     << "  p.schedule = " << cppStringLiteral(plan.schedule) << ";\n"
     << "  p.command = " << cppStringLiteral(options.commandLine) << ";\n"
     << "  p.delaysRule = " << cppStringLiteral(plan.delaysRule) << ";\n"
     << "  p.processors = " << plan.processors << ";\n"
     << "  p.stages = " << plan.stages << ";\n"
     << "  p.synchronous = " << (plan.synchronous ? "true" : "false")
     << ";\n  p.microBatches = " << plan.microBatches << ";\n"
     << "  p.policy = rt::WeightPolicy::" << policyEnum(plan.policy) << ";\n"
     << "  p.delays = " << list(plan.delays) << ";\n"
     << "  p.defaultBatch = " << plan.defaultBatch << ";\n"
     << "  p.microBatchSize = " << plan.microBatchSize << ";\n"
     << formatv("  p.predictedPeriodUs = {0:e9};\n", plan.predictedPeriodUs)
     << formatv("  p.roundUs = {0:e9};\n", plan.roundUs)
     << "  // Processor of each layer's F, L, B, G and U (-1: none).\n"
     << "  p.placement = {\n";
  for (size_t l = 0; l < plan.placement.size(); ++l) {
    const auto &row = plan.placement[l];
    os << formatv("      {{{0}, {1}, {2}, {3}, {4}},", row[0], row[1], row[2],
                  row[3], row[4])
       << " // " << cppCommentText(net.layers[l].name) << "\n";
  }
  os << "  };\n  // Messages each channel holds at most (sender row, "
        "receiver column).\n  p.capacity = "
     << list(plan.capacity) << ";\n"
     << "  // Name, kind, processor, instance = a * round + b, predicted "
        "start and\n  // duration within the round (us).\n  p.tasks = {\n";
  for (const rt::TaskInfo &t : plan.tasks)
    os << "      {" << cppStringLiteral(t.name) << ", "
       << cppStringLiteral(t.kind) << ", " << t.proc << ", " << t.a << ", "
       << t.b << formatv(", {0:e9}, {1:e9}", t.startUs, t.durationUs)
       << "},\n";
  os << "  };\n  return p;\n}\n\n";

  for (unsigned p = 0; p < design.rounds.size(); ++p) {
    const auto &round = design.rounds[p];
    double busy = 0;
    for (unsigned t : round)
      busy += plan.tasks[t].durationUs;
    double period = C.schedule.schedule.period;
    os << formatv("// Processor {0}: {1} task(s) per round of {2:f1} us "
                  "(predicted busy {3:f0}%).\n",
                  p, round.size(), period,
                  period > 0 ? 100.0 * busy / period : 0.0)
       << "void processor" << p << "(rt::Processor &p) {\n"
       << "  for (int64_t r = p.firstRound(); r < p.endRound(); ++r) {\n";
    for (unsigned t : round) {
      const rt::TaskInfo &info = plan.tasks[t];
      std::string layers;
      for (const auto &[kind, layer] : design.taskOps[t])
        layers += std::string(layers.empty() ? "" : ", ") +
                  rt::opKindPrefix(kind) + " " + net.layers[size_t(layer)].name;
      os << formatv("    // {0,9:f1} us  ", info.startUs)
         << cppCommentText(info.name + ": " + layers) << "\n"
         << "    if (p.begin(" << t << ", " << instanceExpr(info.a, info.b)
         << ")) {\n";
      for (const auto &[kind, layer] : design.taskOps[t])
        os << "      p." << opCall(kind) << "(" << layer << ");\n";
      os << "      p.end();\n    }\n";
    }
    os << "  }\n}\n\n";
  }
  // The transport is chosen when the project is configured
  // (-DLAYERPIPE_TRANSPORT=threads|mpi).
  os << "} // namespace\n\nint main(int argc, char **argv) {\n"
     << "#ifdef LAYERPIPE_TRANSPORT_MPI\n"
     << "  return rt::runStageProgramMpi(argc, argv, network(), plan(), {";
  for (unsigned p = 0; p < design.rounds.size(); ++p)
    os << (p ? ", " : "") << "processor" << p;
  os << "});\n#else\n"
     << "  return rt::runStageProgram(argc, argv, network(), plan(), {";
  for (unsigned p = 0; p < design.rounds.size(); ++p)
    os << (p ? ", " : "") << "processor" << p;
  os << "});\n#endif\n}\n";
}

/// Letters, digits, '-' and '_' of the directory's name: the target.
static std::string targetName(StringRef directory) {
  std::string name;
  for (char c : sys::path::filename(sys::path::remove_leading_dotslash(
           StringRef(directory).rtrim('/'))))
    if (isAlnum(c) || c == '-' || c == '_')
      name += c;
  if (name.empty() || !isAlpha(name[0]))
    name = "stage-program" + (name.empty() ? "" : "-" + name);
  return name;
}

static Error prepareDirectory(const CodeGenOptions &options) {
  const std::string &dir = options.directory;
  if (dir.empty())
    return createStringError(inconvertibleErrorCode(),
                             "--emit-cpp needs a directory");
  sys::fs::file_status status;
  if (!sys::fs::status(dir, status)) {
    if (!sys::fs::is_directory(status))
      return createStringError(inconvertibleErrorCode(),
                               "--emit-cpp %s: exists and is not a directory",
                               dir.c_str());
    std::error_code ec;
    sys::fs::directory_iterator it(dir, ec);
    bool empty = !ec && it == sys::fs::directory_iterator();
    if (!empty && !options.force)
      return createStringError(inconvertibleErrorCode(),
                               "--emit-cpp %s: the directory is not empty "
                               "(add --force to overwrite)",
                               dir.c_str());
  }
  if (std::error_code ec = sys::fs::create_directories(dir))
    return createStringError(ec, "--emit-cpp %s: cannot create it: %s",
                             dir.c_str(), ec.message().c_str());
  return Error::success();
}

/// Writes DIR/NAME as a new regular file (a link there is replaced, not
/// followed).
static Error writeProjectFile(const CodeGenOptions &options, StringRef name,
                              function_ref<void(raw_ostream &)> write) {
  SmallString<256> path(options.directory);
  sys::path::append(path, name);
  sys::fs::remove(path);
  return writeOutputFile(path, write);
}

Error emitStageProgram(const Compilation &C, const CodeGenOptions &options) {
  Expected<StageProgramDesign> design = designStageProgram(C);
  if (!design)
    return design.takeError();
  design->plan.command = options.commandLine;
  design->plan.delaysRule =
      C.schedule.schedule.name == "pipedream" ? "pipedream 2(p-1-s)"
      : C.plan.planned ? delayRuleName(C.options.plan.delays).str()
                       : "none";
  Expected<rt::NetSpec> net = lowerToRuntimeNet(C.model);
  if (!net)
    return net.takeError();
  if (Error err = prepareDirectory(options))
    return err;
  std::string target = targetName(options.directory);
  const rt::ProgramPlan &plan = design->plan;
  if (Error err = writeProjectFile(options, "CMakeLists.txt", [&](raw_ostream &os) {
        os << "# Stage program generated by layerpipe " LAYERPIPE_VERSION
              " (see README.md).\n"
           << "cmake_minimum_required(VERSION 3.20)\n"
           << "project(" << target << " LANGUAGES C CXX)\n"
           << "set(CMAKE_CXX_STANDARD 17)\nset(CMAKE_CXX_STANDARD_REQUIRED "
              "ON)\n"
           << "if(NOT CMAKE_BUILD_TYPE)\n  set(CMAKE_BUILD_TYPE Release CACHE "
              "STRING \"Build type\" FORCE)\nendif()\n"
           << "# The LayerPipe runtime: -DCMAKE_PREFIX_PATH=<layerpipe build "
              "or install dir>.\n"
           << "find_package(LayerPipeRuntime CONFIG REQUIRED)\n"
           << "add_executable(" << target << " main.cpp)\n"
           << "# How the processors talk: threads of one process (default) "
              "or MPI ranks\n# (one processor per rank: mpirun -np "
           << plan.processors << ").\n"
           << "set(LAYERPIPE_TRANSPORT threads CACHE STRING "
              "\"threads or mpi\")\n"
           << "set_property(CACHE LAYERPIPE_TRANSPORT PROPERTY STRINGS "
              "threads mpi)\n"
           << "if(LAYERPIPE_TRANSPORT STREQUAL \"mpi\")\n"
           << "  find_package(MPI REQUIRED COMPONENTS CXX)\n"
           << "  if(NOT TARGET LayerPipe::runtime_mpi)\n"
           << "    message(FATAL_ERROR \"LAYERPIPE_TRANSPORT=mpi: this "
              "LayerPipe runtime was built without MPI \"\n"
           << "      \"(LayerPipe::runtime_mpi is missing)\")\n  endif()\n"
           << "  target_link_libraries(" << target
           << " PRIVATE LayerPipe::runtime_mpi)\n"
           << "  target_compile_definitions(" << target
           << " PRIVATE LAYERPIPE_TRANSPORT_MPI)\n"
           << "elseif(LAYERPIPE_TRANSPORT STREQUAL \"threads\")\n"
           << "  target_link_libraries(" << target
           << " PRIVATE LayerPipe::runtime)\n"
           << "else()\n"
           << "  message(FATAL_ERROR \"LAYERPIPE_TRANSPORT must be threads or "
              "mpi, got '${LAYERPIPE_TRANSPORT}'\")\nendif()\n";
      }))
    return err;
  if (Error err = writeProjectFile(options, "main.cpp", [&](raw_ostream &os) {
        writeMain(C, *design, *net, options, os);
      }))
    return err;
  return writeProjectFile(options, "README.md", [&](raw_ostream &os) {
    os << "# Stage program: " << cppCommentText(plan.model) << ", "
       << plan.processors << " processor(s)\n\n"
       << "Generated by layerpipe " LAYERPIPE_VERSION " with:\n\n    "
       << cppCommentText(options.commandLine) << "\n\n"
       << "| | |\n|---|---|\n"
       << "| schedule | " << cppCommentText(plan.schedule) << " |\n"
       << "| processors (threads) | " << plan.processors << " |\n"
       << "| pipeline stages | " << plan.stages << " |\n"
       << "| micro-batches per step | " << plan.microBatches << " |\n"
       << (plan.microBatchSize > 0
               ? "| samples per pipelined step (--micro-batch) | " +
                     std::to_string(plan.microBatchSize) +
                     " (lr scaled by micro-batch / --batch) |\n"
               : std::string())
       << "| gradient delay rule | " << cppCommentText(plan.delaysRule)
       << " |\n"
       << "| weight policy | " << rt::weightPolicyName(plan.policy) << " |\n"
       << formatv("| predicted time per step | {0:f1} us |\n",
                  plan.predictedPeriodUs);
    os << "\nGradient delays per layer with weights:";
    for (size_t l = 0; l < net->layers.size(); ++l)
      if (net->layers[l].hasParams())
        os << " " << cppCommentText(net->layers[l].name) << "="
           << plan.delays[l];
    os << "\n\n## Build and run\n\n"
       << "    cmake -S . -B build -DCMAKE_PREFIX_PATH=<layerpipe build or "
          "install dir>\n"
       << "    cmake --build build\n"
       << "    build/" << target
       << " --epochs 1 --trace measured.json   # --help lists the options\n\n"
       << "The options are the reference trainer's (`layerpipe-train`), with "
          "the same\ndefaults"
       << (plan.microBatches > 1
               ? " (but --batch: a step runs " +
                     std::to_string(plan.microBatches) +
                     " micro-batches of the model's batch, so the default\n"
                     "mini-batch is " +
                     std::to_string(plan.defaultBatch) +
                     " samples; give both programs the same --batch)"
               : std::string())
       << ". For the same options the numbers equal these, bit for bit:\n\n"
       << "    layerpipe-train MODEL.json" << referenceFlags(plan)
       << " [same options]\n\n"
       << "`main.cpp` holds the network, the plan and one function per "
          "processor with\nits tasks in schedule order; docs/codegen.md in "
          "LayerPipe explains the\nexecution model and how to compare the "
          "measured trace (`--trace`) with the\ncompiler's predicted one "
          "(`layerpipe ... --gantt predicted.json`).\n"
       << "\n## On several processes or machines (MPI)\n\n"
       << "    cmake -S . -B build-mpi -DLAYERPIPE_TRANSPORT=mpi "
          "-DCMAKE_PREFIX_PATH=<...>\n"
       << "    cmake --build build-mpi\n"
       << "    mpirun -np " << plan.processors << " build-mpi/" << target
       << " --epochs 1   # one rank per processor\n\n"
       << "Same numbers bit for bit as the threads build; rank 0 prints. "
          "`--hostfile`,\nwhat is sent between ranks and the fault "
          "behaviour: docs/distributed.md.\n"
       << "\n## Checkpoints\n\n"
       << "    build/" << target
       << " --checkpoint-dir ckpt --checkpoint-every 100 ...\n"
       << "    build/" << target
       << " --checkpoint-dir ckpt --checkpoint-every 100 --resume ...\n\n"
       << "A resumed run (same options) ends with the same weights as an "
          "uninterrupted one;\ncheckpoints of other options, plans or "
          "processor counts are refused.\n";
  });
}

} // namespace layerpipe
