// The zoo store (DESIGN.md §5): a manifest (Boost.Serialization, versioned), shards of float32
// weight rows read through mmap, and properties as CSV. Generation writes member by member,
// each rank its own shard, and a zoo is complete only once its manifest exists.
#pragma once

#include <torch/torch.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "distributed/communicator.h"

namespace hyperrep::store {

// Bytes of one stored value: shards hold rows of float32 weights.
inline constexpr int64_t kValueBytes = sizeof(float);

// What every row of a zoo shares: the member architecture and the property columns.
struct ZooHeader {
  std::vector<std::string> architecture;            // layer specs, as in [zoo] architecture
  std::vector<int64_t> input_shape;                 // per-sample input shape of the members, {C, H, W}
  int64_t num_params = 0;                           // weights per row (L)
  std::string task;                                 // tetris, fashion_mnist, idx, modelzoo:...
  std::vector<std::string> numeric_properties;      // e.g. test_acc, train_acc, ggap, epoch, lr, ...
  std::vector<std::string> categorical_properties;  // e.g. activation, init, optimizer
  std::string config_toml;                          // the resolved [zoo] section that generated it ("" if imported)
};

// All kept checkpoints of one member, rows in ascending epoch order.
struct MemberRecord {
  int64_t member = 0;                                  // global member id (canonical order)
  std::vector<int64_t> epochs;                         // E kept epochs
  torch::Tensor weights;                               // float32 [E, L], flat layout of Architecture
  std::vector<std::map<std::string, double>> numeric;  // E maps, keys = header.numeric_properties
  std::map<std::string, std::string> categorical;      // keys = header.categorical_properties
};

// Writes the members a rank produced. Completed members survive a kill: a new writer on the
// same directory (same header) reports them through has_member() and they are not redone.
class ZooWriter {
 public:
  ZooWriter(const std::string& dir, const ZooHeader& header, int rank);
  ~ZooWriter();
  bool has_member(int64_t member) const;
  // Durable when it returns (data fsynced before the member is recorded as complete).
  void write_member(const MemberRecord& record);
  // Same as write_member for each record, but with one fdatasync per file for the whole batch
  // (a population's members): ~3 syncs instead of 3 per member. All are validated first.
  void write_members(const std::vector<MemberRecord>& records);
  // Collective over comm: once every rank has written its members, rank 0 writes the manifest
  // (shard list, row counts, checksums, property schema). Throws if members are missing.
  void finalize(dist::Communicator& comm, int64_t expected_members);
  // Size at which finalize starts a new canonical shard (default 256 MiB; a member never
  // straddles two shards). Part of the layout, so every run of one zoo must use the same.
  void set_shard_target_bytes(int64_t bytes);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hyperrep::store
