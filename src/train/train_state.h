// Everything besides model and optimizer tensors that a bit-exact resume needs: position in
// the sample order, scheduler state, every rank's RNG state, and what the run was started
// with (config hash, world size). Serialised with Boost.Serialization as a versioned text archive.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace hyperrep::train {

struct TrainState {
  int64_t epoch = 0;          // the epoch in progress (0-based)
  int64_t step_in_epoch = 0;  // batches of `epoch` already done
  int64_t global_step = 0;    // optimizer steps since the start
  double lr = 0.0;            // current learning rate
  // ReduceLROnPlateau's best epoch loss; the largest double means none yet (text archives
  // cannot carry infinities).
  double best_metric = std::numeric_limits<double>::max();
  int64_t bad_epochs = 0;
  double epoch_loss_sum = 0.0;  // sum of global batch losses so far in `epoch`
  int64_t epoch_batches = 0;
  double elapsed_s = 0.0;
  std::string config_hash;
  int64_t world_size = 1;
  std::vector<std::string> rng_states;  // hex of each rank's default CPU generator state

  // The epoch in progress is done: the next one starts with no batches and no loss yet.
  void start_next_epoch() {
    ++epoch;
    step_in_epoch = 0;
    epoch_loss_sum = 0;
    epoch_batches = 0;
  }
};

std::string serialize_state(const TrainState& s);
// Throws DataError naming `where` on a malformed or foreign archive.
TrainState deserialize_state(const std::string& text, const std::string& where);

std::string to_hex(const std::string& bytes);
std::string from_hex(const std::string& hex);

}  // namespace hyperrep::train
