// Run checkpoints (DESIGN.md §5): RUN/checkpoints/epoch_NNNN/{model.pt, optim.pt, state.txt,
// probes.json, DONE}. Written by rank 0 into a temporary directory, every file fsynced, DONE
// (with a checksum per file) written last, then renamed into place after a barrier. Only
// directories with a valid DONE are ever resumed, so a kill at any moment leaves nothing that
// resume would pick and then fail to load.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "distributed/communicator.h"

namespace hyperrep::train {

using CheckpointFiles = std::map<std::string, std::string>;  // file name -> bytes

class CheckpointManager {
 public:
  CheckpointManager(std::string run_dir, int64_t keep_last, int64_t keep_every);

  std::string root() const { return root_; }
  std::string dir_for(int64_t epoch) const;
  // Collective: every rank calls it; rank 0's files are written. Applies retention after.
  void save(dist::Communicator& comm, int64_t epoch, const CheckpointFiles& files);
  // Epochs of complete checkpoints (DONE present and parseable), ascending.
  std::vector<int64_t> complete_epochs() const;
  std::optional<int64_t> latest_complete() const;
  // Reads and verifies every file of a complete checkpoint; throws IoError/DataError naming
  // the file when a checksum or size does not match.
  CheckpointFiles load(int64_t epoch) const;
  // Same for an explicit checkpoint directory (for `checkpoint info/diff`).
  static CheckpointFiles load_dir(const std::string& dir);
  // Removes leftovers of interrupted saves (temporary directories).
  void clean_partial() const;

 private:
  void apply_retention() const;
  std::string root_;
  int64_t keep_last_;
  int64_t keep_every_;
};

}  // namespace hyperrep::train
