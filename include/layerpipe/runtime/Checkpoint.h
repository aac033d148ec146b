//===- Checkpoint.h - Training state on disk --------------------*- C++ -*-===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//
//
// Checkpoint files of the stage programs and the reference trainer
// (docs/distributed.md describes the format and its guarantees). A
// checkpoint after S steps is one or more part files (one per processor or
// rank plus the host's; the trainer writes one) and a manifest written last
// that lists every part with its size and checksum: a checkpoint counts only
// once its manifest exists and every part it lists verifies.
//
// Every file: magic "LPCKPT\0\0", format version, kind, payload size,
// payload checksum (FNV-1a 64), payload. Files are written to a temporary
// name, fsync'ed, renamed into place, and the directory is fsync'ed.
//
//===----------------------------------------------------------------------===//

#ifndef LAYERPIPE_RUNTIME_CHECKPOINT_H
#define LAYERPIPE_RUNTIME_CHECKPOINT_H

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace layerpipe {
namespace runtime {

constexpr uint32_t CheckpointFormatVersion = 1;

enum class CheckpointFileKind : uint32_t { Part = 1, Manifest = 2 };

/// What a checkpoint was written for; resuming needs all four to match.
struct CheckpointFingerprint {
  std::string model;    ///< model name and a hash of its layers
  std::string plan;     ///< schedule, policy, delays, placement (hash)
  uint32_t processors = 1;
  std::string options;  ///< the training options that change the numbers
  /// "" when \p other matches, else what differs (for an error message).
  std::string mismatch(const CheckpointFingerprint &other) const;
};

struct CheckpointPart {
  std::string name; ///< file name within the directory
  uint64_t size = 0, checksum = 0;
};

struct CheckpointManifest {
  int64_t steps = 0; ///< steps done: the state after update steps - 1
  CheckpointFingerprint fingerprint;
  std::vector<CheckpointPart> parts;
  std::string path; ///< where it was read from
};

/// DIR/ckpt-<steps, 9 digits>.<suffix>.
std::string checkpointPath(const std::string &dir, int64_t steps,
                           const std::string &suffix);

/// Writes \p payload as a checkpoint file of \p kind at \p path atomically
/// (temporary file, fsync, rename, fsync of the directory). Fills \p part
/// with its name, size and checksum.
bool writeCheckpointFile(const std::string &path, CheckpointFileKind kind,
                         const std::string &payload, CheckpointPart *part,
                         std::string &error);

/// Reads and verifies a checkpoint file (magic, version, kind, size,
/// checksum); the error names the file and what is wrong.
bool readCheckpointFile(const std::string &path, CheckpointFileKind kind,
                        std::string &payload, std::string &error);

bool writeManifest(const std::string &dir, const CheckpointManifest &manifest,
                   std::string &error);

/// The newest checkpoint in \p dir that is complete (its manifest and every
/// part verify) and matches \p fingerprint. Each one refused is reported
/// through \p refused (its message names the file and the reason). False
/// when there is none.
bool findCheckpoint(const std::string &dir,
                    const CheckpointFingerprint &fingerprint,
                    CheckpointManifest &found,
                    const std::function<void(const std::string &)> &refused);

/// Removes the files of checkpoints older than \p keepFrom steps.
void pruneCheckpoints(const std::string &dir, int64_t keepFrom);

/// Creates \p dir (and its parents) if missing.
bool makeCheckpointDir(const std::string &dir, std::string &error);

} // namespace runtime
} // namespace layerpipe

#endif // LAYERPIPE_RUNTIME_CHECKPOINT_H
