//===- Checkpoint.cpp - Training state on disk ---------------------------===//
//
// Part of LayerPipe.
//
//===----------------------------------------------------------------------===//

#include "layerpipe/runtime/Checkpoint.h"

#include "layerpipe/runtime/Serialize.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace layerpipe {
namespace runtime {

namespace {

const char Magic[8] = {'L', 'P', 'C', 'K', 'P', 'T', 0, 0};

struct FileHeader {
  char magic[8];
  uint32_t version;
  uint32_t kind;
  uint64_t size;
  uint64_t checksum;
};

std::string baseName(const std::string &path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string dirName(const std::string &path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

bool writeAll(int fd, const char *data, size_t size) {
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return false;
    data += n;
    size -= size_t(n);
  }
  return true;
}

/// The steps of a file name "ckpt-<steps>.<suffix>", or -1.
int64_t stepsOfName(const std::string &name, std::string &suffix) {
  if (name.rfind("ckpt-", 0) != 0)
    return -1;
  size_t dot = name.find('.', 5);
  if (dot == std::string::npos || dot == 5)
    return -1;
  int64_t steps = 0;
  for (size_t i = 5; i < dot; ++i) {
    if (name[i] < '0' || name[i] > '9')
      return -1;
    steps = steps * 10 + (name[i] - '0');
  }
  suffix = name.substr(dot + 1);
  return steps;
}

void writeFingerprint(ByteWriter &out, const CheckpointFingerprint &f) {
  out.putString(f.model);
  out.putString(f.plan);
  out.put(f.processors);
  out.putString(f.options);
}

void readFingerprint(ByteReader &in, CheckpointFingerprint &f) {
  f.model = in.getString();
  f.plan = in.getString();
  f.processors = in.get<uint32_t>();
  f.options = in.getString();
}

} // namespace

std::string CheckpointFingerprint::mismatch(
    const CheckpointFingerprint &other) const {
  if (model != other.model)
    return "it is of model " + model + ", this run trains " + other.model;
  if (processors != other.processors)
    return "it was written for " + std::to_string(processors) +
           " processors, this run has " + std::to_string(other.processors);
  if (plan != other.plan)
    return "it was written for a different plan (" + plan + "; this run: " +
           other.plan + ")";
  if (options != other.options)
    return "it was written with different training options (" + options +
           "; this run: " + other.options + ")";
  return "";
}

std::string checkpointPath(const std::string &dir, int64_t steps,
                           const std::string &suffix) {
  char name[64];
  std::snprintf(name, sizeof(name), "ckpt-%09lld.", (long long)steps);
  return dir + "/" + name + suffix;
}

bool makeCheckpointDir(const std::string &dir, std::string &error) {
  std::string path;
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = dir.find('/', pos + 1);
    path = dir.substr(0, pos);
    if (path.empty())
      continue;
    if (::mkdir(path.c_str(), 0777) != 0 && errno != EEXIST) {
      error = "--checkpoint-dir " + dir + ": cannot create " + path + ": " +
              std::strerror(errno);
      return false;
    }
  }
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    error = "--checkpoint-dir " + dir + ": not a directory";
    return false;
  }
  return true;
}

bool writeCheckpointFile(const std::string &path, CheckpointFileKind kind,
                         const std::string &payload, CheckpointPart *part,
                         std::string &error) {
  FileHeader h;
  std::memcpy(h.magic, Magic, sizeof(Magic));
  h.version = CheckpointFormatVersion;
  h.kind = uint32_t(kind);
  h.size = payload.size();
  h.checksum = hashBytes(payload.data(), payload.size());
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    error = "cannot write checkpoint file " + path + ": " +
            std::strerror(errno);
    return false;
  }
  bool ok = writeAll(fd, reinterpret_cast<const char *>(&h), sizeof(h)) &&
            writeAll(fd, payload.data(), payload.size()) && ::fsync(fd) == 0;
  int saved = errno;
  ok = ::close(fd) == 0 && ok;
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    error = "cannot write checkpoint file " + path + ": " +
            std::strerror(ok ? errno : saved);
    ::unlink(tmp.c_str());
    return false;
  }
  // The rename itself must reach the disk.
  int dirFd = ::open(dirName(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dirFd >= 0) {
    ::fsync(dirFd);
    ::close(dirFd);
  }
  if (part) {
    part->name = baseName(path);
    part->size = sizeof(h) + payload.size();
    part->checksum = h.checksum;
  }
  return true;
}

bool readCheckpointFile(const std::string &path, CheckpointFileKind kind,
                        std::string &payload, std::string &error) {
  FILE *f = std::fopen(path.c_str(), "rb");
  if (!f) {
    error = "checkpoint file " + path + ": cannot read it: " +
            std::strerror(errno);
    return false;
  }
  FileHeader h;
  bool headerOk = std::fread(&h, sizeof(h), 1, f) == 1;
  if (!headerOk || std::memcmp(h.magic, Magic, sizeof(Magic)) != 0) {
    std::fclose(f);
    error = "checkpoint file " + path +
            (headerOk ? ": not a LayerPipe checkpoint (bad magic)"
                      : ": truncated (no complete header)");
    return false;
  }
  if (h.version != CheckpointFormatVersion) {
    std::fclose(f);
    error = "checkpoint file " + path + ": format version " +
            std::to_string(h.version) + ", this program reads version " +
            std::to_string(CheckpointFormatVersion);
    return false;
  }
  if (h.kind != uint32_t(kind)) {
    std::fclose(f);
    error = "checkpoint file " + path + ": not a " +
            (kind == CheckpointFileKind::Part ? "part" : "manifest");
    return false;
  }
  payload.assign(size_t(std::min<uint64_t>(h.size, 1ull << 40)), '\0');
  size_t got = payload.empty() ? 0 : std::fread(&payload[0], 1, payload.size(), f);
  char extra;
  bool trailing = std::fread(&extra, 1, 1, f) == 1;
  std::fclose(f);
  if (got != h.size) {
    error = "checkpoint file " + path + ": truncated (" +
            std::to_string(got) + " of " + std::to_string(h.size) +
            " payload bytes)";
    return false;
  }
  if (trailing) {
    error = "checkpoint file " + path + ": has bytes after its payload";
    return false;
  }
  if (hashBytes(payload.data(), payload.size()) != h.checksum) {
    error = "checkpoint file " + path + ": checksum mismatch (corrupted)";
    return false;
  }
  return true;
}

bool writeManifest(const std::string &dir, const CheckpointManifest &m,
                   std::string &error) {
  std::vector<char> bytes;
  ByteWriter out(bytes);
  out.put(m.steps);
  writeFingerprint(out, m.fingerprint);
  out.put(uint64_t(m.parts.size()));
  for (const CheckpointPart &p : m.parts) {
    out.putString(p.name);
    out.put(p.size);
    out.put(p.checksum);
  }
  return writeCheckpointFile(checkpointPath(dir, m.steps, "manifest"),
                             CheckpointFileKind::Manifest,
                             std::string(bytes.begin(), bytes.end()), nullptr,
                             error);
}

static bool readManifest(const std::string &path, CheckpointManifest &m,
                         std::string &error) {
  std::string payload;
  if (!readCheckpointFile(path, CheckpointFileKind::Manifest, payload, error))
    return false;
  try {
    ByteReader in(payload.data(), payload.size());
    m.steps = in.get<int64_t>();
    readFingerprint(in, m.fingerprint);
    uint64_t count = in.get<uint64_t>();
    if (count > 1 << 20)
      throw std::runtime_error("too many parts");
    m.parts.resize(size_t(count));
    for (CheckpointPart &p : m.parts) {
      p.name = in.getString();
      p.size = in.get<uint64_t>();
      p.checksum = in.get<uint64_t>();
      if (p.name.empty() || p.name.find('/') != std::string::npos)
        throw std::runtime_error("a part name with a '/'");
    }
  } catch (const std::exception &e) {
    error = "checkpoint file " + path + ": malformed manifest (" + e.what() +
            ")";
    return false;
  }
  m.path = path;
  return true;
}

static std::vector<std::pair<int64_t, std::string>>
listCheckpointFiles(const std::string &dir) {
  std::vector<std::pair<int64_t, std::string>> files;
  if (DIR *d = ::opendir(dir.c_str())) {
    while (dirent *e = ::readdir(d)) {
      std::string suffix;
      int64_t steps = stepsOfName(e->d_name, suffix);
      if (steps >= 0)
        files.push_back({steps, e->d_name});
    }
    ::closedir(d);
  }
  return files;
}

bool findCheckpoint(const std::string &dir,
                    const CheckpointFingerprint &fingerprint,
                    CheckpointManifest &found,
                    const std::function<void(const std::string &)> &refused) {
  std::vector<std::pair<int64_t, std::string>> manifests;
  for (auto &[steps, name] : listCheckpointFiles(dir)) {
    std::string suffix;
    stepsOfName(name, suffix);
    if (suffix == "manifest")
      manifests.push_back({steps, name});
  }
  std::sort(manifests.rbegin(), manifests.rend());
  for (auto &[steps, name] : manifests) {
    std::string path = dir + "/" + name, error;
    CheckpointManifest m;
    if (!readManifest(path, m, error)) {
      refused(error);
      continue;
    }
    std::string why = m.fingerprint.mismatch(fingerprint);
    if (!why.empty()) {
      refused("checkpoint " + path + " does not match this run: " + why);
      continue;
    }
    bool ok = true;
    for (const CheckpointPart &p : m.parts) {
      std::string payload, partPath = dir + "/" + p.name;
      if (!readCheckpointFile(partPath, CheckpointFileKind::Part, payload,
                              error)) {
        refused("checkpoint " + path + " is incomplete: " + error);
        ok = false;
        break;
      }
      if (hashBytes(payload.data(), payload.size()) != p.checksum) {
        refused("checkpoint " + path + ": part " + partPath +
                " is not the one its manifest lists (checksum)");
        ok = false;
        break;
      }
    }
    if (ok) {
      found = m;
      return true;
    }
  }
  return false;
}

void pruneCheckpoints(const std::string &dir, int64_t keepFrom) {
  for (auto &[steps, name] : listCheckpointFiles(dir))
    if (steps < keepFrom)
      ::unlink((dir + "/" + name).c_str());
}

} // namespace runtime
} // namespace layerpipe
