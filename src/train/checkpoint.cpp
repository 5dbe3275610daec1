#include "train/checkpoint.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "common/error.h"
#include "common/fs.h"
#include "common/hash.h"
#include "common/logging.h"

namespace hyperrep::train {
namespace fs = std::filesystem;

namespace {

constexpr const char* kDone = "DONE";
constexpr const char* kDoneMagic = "hyperrep-checkpoint 1";
constexpr int64_t kMaxDoneBytes = 1 << 20;  // a line per file: a marker this large is not one

std::optional<int64_t> epoch_of(const std::string& name) {
  if (name.size() != 10 || name.rfind("epoch_", 0) != 0) return std::nullopt;
  for (size_t i = 6; i < name.size(); ++i)
    if (!std::isdigit(static_cast<unsigned char>(name[i]))) return std::nullopt;
  return std::stoll(name.substr(6));
}

// DONE: magic line, then "name size crc" per file. Anything else in it is a damaged marker.
std::map<std::string, std::pair<uint64_t, uint32_t>> parse_done(const std::string& text, const std::string& where) {
  std::istringstream in(text);
  std::string magic;
  std::getline(in, magic);
  HYPERREP_CHECK(magic == kDoneMagic, DataError, "checkpoint marker '", where, "' is not a hyperrep DONE file");
  std::map<std::string, std::pair<uint64_t, uint32_t>> out;
  std::string line;
  int line_no = 1;
  while (std::getline(in, line)) {
    ++line_no;
    std::istringstream fields(line);
    std::string name, extra;
    uint64_t size = 0;
    uint32_t crc = 0;
    HYPERREP_CHECK(static_cast<bool>(fields >> name >> size >> crc) && !(fields >> extra), DataError, "checkpoint marker '",
                   where, "' line ", line_no, " is not 'name size crc32'");
    // One plain name inside the checkpoint directory, never a path.
    HYPERREP_CHECK(is_plain_file_name(name) && name != kDone, DataError, "checkpoint marker '", where, "' line ", line_no,
                   " names '", name, "', not a file of the checkpoint directory");
    HYPERREP_CHECK(out.emplace(name, std::make_pair(size, crc)).second, DataError, "checkpoint marker '", where, "' lists '",
                   name, "' twice");
  }
  HYPERREP_CHECK(!out.empty(), DataError, "checkpoint marker '", where, "' lists no files");
  return out;
}

void write_synced(const std::string& path, const std::string& bytes) { write_file_atomic(path, bytes); }

}  // namespace

CheckpointManager::CheckpointManager(std::string run_dir, int64_t keep_last, int64_t keep_every)
    : root_(std::move(run_dir) + "/checkpoints"), keep_last_(keep_last), keep_every_(keep_every) {}

std::string CheckpointManager::dir_for(int64_t epoch) const {
  char name[32];
  std::snprintf(name, sizeof name, "epoch_%04lld", static_cast<long long>(epoch));
  return root_ + "/" + name;
}

void CheckpointManager::save(dist::Communicator& comm, int64_t epoch, const CheckpointFiles& files) {
  const std::string final_dir = dir_for(epoch);
  const std::string tmp_dir = final_dir + ".tmp-" + std::to_string(::getpid());
  if (comm.rank() == 0) {
    make_dirs(root_);
    std::error_code ec;
    fs::remove_all(tmp_dir, ec);
    make_dirs(tmp_dir);
    std::string done = std::string(kDoneMagic) + "\n";
    for (const auto& [name, bytes] : files) {
      HYPERREP_CHECK(name != kDone && name.find('/') == std::string::npos, InternalError, "bad checkpoint file name ", name);
      write_synced(tmp_dir + "/" + name, bytes);
      done += name + " " + std::to_string(bytes.size()) + " " + std::to_string(crc32_bytes(bytes)) + "\n";
    }
    write_synced(tmp_dir + "/" + kDone, done);
    fsync_dir(tmp_dir);
  }
  // Every rank has reached the save point before the checkpoint becomes visible.
  comm.barrier();
  if (comm.rank() == 0) {
    std::error_code ec;
    if (fs::exists(final_dir)) {
      const std::string old = final_dir + ".old-" + std::to_string(::getpid());
      fs::rename(final_dir, old, ec);
      HYPERREP_CHECK(!ec, IoError, "cannot move aside '", final_dir, "': ", ec.message());
      fs::rename(tmp_dir, final_dir, ec);
      HYPERREP_CHECK(!ec, IoError, "cannot rename '", tmp_dir, "' to '", final_dir, "': ", ec.message());
      fs::remove_all(old, ec);
    } else {
      fs::rename(tmp_dir, final_dir, ec);
      HYPERREP_CHECK(!ec, IoError, "cannot rename '", tmp_dir, "' to '", final_dir, "': ", ec.message());
    }
    fsync_dir(root_);
    apply_retention();
  }
  comm.barrier();
}

std::vector<int64_t> CheckpointManager::complete_epochs() const {
  std::vector<int64_t> out;
  std::error_code ec;
  if (!fs::is_directory(root_, ec)) return out;
  for (const auto& entry : fs::directory_iterator(root_, ec)) {
    auto epoch = epoch_of(entry.path().filename().string());
    if (!epoch || !entry.is_directory()) continue;
    const std::string done = entry.path().string() + "/" + kDone;
    // No DONE: a save or a retention removal was interrupted; never resumed, removed by
    // clean_partial. A DONE that exists but does not parse is damage: refuse, naming it, rather
    // than fall back to an older checkpoint without a word.
    if (!fs::exists(fs::symlink_status(done, ec))) continue;
    try {
      parse_done(read_file(done, kMaxDoneBytes), done);
    } catch (const Error& e) {
      HYPERREP_THROW(DataError, "damaged checkpoint: ", e.what(), "; delete ", entry.path().string(),
                     " to use the checkpoints before it");
    }
    out.push_back(*epoch);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::optional<int64_t> CheckpointManager::latest_complete() const {
  auto all = complete_epochs();
  if (all.empty()) return std::nullopt;
  return all.back();
}

CheckpointFiles CheckpointManager::load(int64_t epoch) const { return load_dir(dir_for(epoch)); }

CheckpointFiles CheckpointManager::load_dir(const std::string& dir) {
  HYPERREP_CHECK(path_exists(dir + "/" + kDone), IoError, "checkpoint '", dir, "' is incomplete (no DONE marker)");
  auto entries = parse_done(read_file(dir + "/" + kDone, kMaxDoneBytes), dir + "/" + kDone);
  CheckpointFiles files;
  for (const auto& [name, expect] : entries) {
    const std::string path = dir + "/" + name;
    // Annotations added after the save (probe results) must never make the state unloadable.
    const bool core = name == "model.pt" || name == "optim.pt" || name == "state.txt";
    if (!core) {
      std::string bytes;
      try {
        bytes = read_file(path);
      } catch (const Error&) {}
      if (bytes.size() == expect.first && crc32_bytes(bytes) == expect.second) files[name] = std::move(bytes);
      else spdlog::warn("checkpoint file '{}' does not match its DONE entry; ignored", path);
      continue;
    }
    std::string bytes = read_file(path);
    HYPERREP_CHECK(bytes.size() == expect.first, DataError, "checkpoint file '", path, "' has ", bytes.size(),
                   " bytes, DONE recorded ", expect.first, " (truncated or replaced)");
    HYPERREP_CHECK(crc32_bytes(bytes) == expect.second, DataError, "checkpoint file '", path, "' fails its checksum (corrupt)");
    files[name] = std::move(bytes);
  }
  return files;
}

void CheckpointManager::clean_partial() const {
  std::error_code ec;
  if (!fs::is_directory(root_, ec)) return;
  for (const auto& entry : fs::directory_iterator(root_, ec)) {
    const auto name = entry.path().filename().string();
    const bool interrupted_save = name.find(".tmp-") != std::string::npos || name.find(".old-") != std::string::npos;
    // A checkpoint directory gets its DONE before it is renamed into place, so an epoch_NNNN
    // without one is what a kill during retention left (DONE removed first, files not yet).
    const bool interrupted_removal =
        epoch_of(name) && entry.is_directory(ec) && !fs::exists(fs::symlink_status(entry.path() / kDone, ec));
    if (interrupted_save || interrupted_removal) {
      spdlog::info("removing {} (left by an interrupted {})", entry.path().string(),
                   interrupted_save ? "checkpoint save" : "checkpoint removal");
      fs::remove_all(entry.path(), ec);
    }
  }
}

void CheckpointManager::apply_retention() const {
  auto epochs = complete_epochs();
  const size_t keep_from = epochs.size() > static_cast<size_t>(keep_last_) ? epochs.size() - keep_last_ : 0;
  for (size_t i = 0; i < keep_from; ++i) {
    if (keep_every_ > 0 && epochs[i] % keep_every_ == 0) continue;
    std::error_code ec;
    // Remove DONE first so that a half-deleted directory is never taken for complete.
    fs::remove(dir_for(epochs[i]) + "/" + kDone, ec);
    fsync_dir(dir_for(epochs[i]));
    fs::remove_all(dir_for(epochs[i]), ec);
  }
}

}  // namespace hyperrep::train
