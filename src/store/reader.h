// Reads a complete zoo: the manifest, shards mapped read-only on first use (so a rank touches
// only the shards of its members), properties.csv, checksums and the content hash.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "store/manifest.h"

namespace hyperrep::store {

// properties.csv parsed: one entry per checkpoint row, in canonical (member, epoch) order.
struct PropertyTable {
  std::vector<std::string> numeric_names;  // CSV numeric columns (without member, epoch)
  std::vector<std::string> categorical_names;
  std::vector<int64_t> member, epoch;
  std::vector<std::vector<double>> numeric;           // [rows][numeric_names]
  std::vector<std::vector<std::string>> categorical;  // [rows][categorical_names]
  int64_t rows() const { return static_cast<int64_t>(member.size()); }
  // Column index by name; -1 when absent.
  int numeric_column(const std::string& name) const;
  int categorical_column(const std::string& name) const;
};

struct FileCheck {
  std::string path;  // as in the manifest, relative to the zoo
  bool ok = true;
  std::string problem;  // "" when ok
};

struct VerifyReport {
  std::vector<FileCheck> files;
  bool ok() const;
  std::vector<std::string> bad_files() const;
};

// Checks every file of the zoo's manifest (presence, size, CRC32) without opening the zoo, so
// that every bad file is listed even when some cannot be mapped. Throws only for the manifest.
VerifyReport verify_zoo(const std::string& dir);

class ZooReader {
 public:
  // Throws DataError when the manifest is missing or damaged, or a shard is missing or has the
  // wrong size (naming the file with expected and actual bytes). Maps nothing yet.
  explicit ZooReader(const std::string& dir);
  ~ZooReader();
  ZooReader(const ZooReader&) = delete;
  ZooReader& operator=(const ZooReader&) = delete;

  const std::string& dir() const { return dir_; }
  const ZooManifest& manifest() const { return manifest_; }
  const ZooHeader& header() const { return manifest_.header; }
  int64_t num_members() const { return manifest_.num_members; }
  int64_t num_checkpoints() const { return manifest_.num_checkpoints; }
  int64_t num_params() const { return manifest_.header.num_params; }
  const MemberIndex& member(int64_t member) const;
  // Global row (canonical order over the whole zoo) of a member's first checkpoint.
  int64_t global_row(int64_t member) const;
  // Row of (member, epoch) within the member; throws DataError if that epoch is not stored.
  int64_t epoch_row(int64_t member, int64_t epoch) const;

  // [E, L] float32. The view aliases the read-only mapping (writing to it faults: clone first)
  // and keeps the mapping alive; weights() is an owned copy.
  torch::Tensor weights_view(int64_t member) const;
  torch::Tensor weights(int64_t member) const;
  torch::Tensor row(int64_t member, int64_t epoch) const;

  // Parsed on first use; DataError naming properties.csv if it disagrees with the manifest.
  const PropertyTable& properties() const;

  // Recomputes every checksum (shards, properties.csv); never throws for a bad file.
  VerifyReport verify() const;
  // FNV-1a 64 over num_params and, per member in order, (member, epoch, row bytes) of every row.
  std::string content_hash() const;
  // Lets go of the cached mapping of every shard nobody else holds (views from weights_view keep
  // theirs): a pass over a zoo larger than memory calls it as it moves from shard to shard.
  void release_mappings() const;

 private:
  struct Mapping;
  std::shared_ptr<Mapping> map_shard(int64_t shard) const;

  std::string dir_;
  ZooManifest manifest_;
  std::vector<int64_t> global_first_row_;
  mutable std::vector<std::shared_ptr<Mapping>> mappings_;
  mutable std::unique_ptr<PropertyTable> properties_;
};

}  // namespace hyperrep::store
