// The data-parallel trainer: `mpirun -np N hyperrep train` behaves like one process with the
// same global batch. Each rank holds its shard of the zoo, processes its rows of every global
// batch, and contributes its share of the global loss; NT-Xent sees every rank's views and the
// projection head's batch norm uses global statistics; gradients are summed over ranks in
// buckets overlapped with backward. Checkpoints are atomic and resumable bit for bit.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "common/config.h"
#include "common/enums.h"
#include "data/augment.h"
#include "distributed/communicator.h"
#include "distributed/gradient_synchronizer.h"
#include "model/autoencoder.h"
#include "train/checkpoint.h"
#include "train/train_data.h"
#include "train/train_state.h"

namespace hyperrep::train {

struct StepLosses {
  double loss = 0, recon = 0, contrast = 0;  // global (summed shares)
  int64_t rows = 0;                          // global batch rows
};

struct TrainResult {
  int64_t epochs_done = 0;
  int64_t steps = 0;
  double last_epoch_loss = 0;
  bool stopped_by_signal = false;
  std::vector<StepLosses> step_losses;  // every step of this invocation (for tests and logs)
};

// "E_D", "E_C" or "E_cD" by the contrastive weight gamma.
std::string method_name(double gamma);

class Trainer {
 public:
  // Collective. Loads this rank's data, builds the model, broadcasts rank 0's parameters.
  Trainer(const Config& cfg, dist::Communicator& comm);
  ~Trainer();

  // Trains to train.epochs (or train.max_steps). With resume, continues from the newest
  // complete checkpoint of run.dir (refusing a config whose science differs).
  TrainResult run(bool resume);

  model::AutoencoderBase& model() { return *model_; }
  TrainData& data() { return *data_; }
  const TrainState& state() const { return state_; }
  // Embeddings (eval mode, unaugmented) of this rank's rows of a split: [n, latent].
  torch::Tensor embed(const std::string& split);
  // Embeddings of weights already in the model's space (standardised like the training zoo).
  torch::Tensor embed_weights(const torch::Tensor& weights);
  // Restores model, optimizer and state of a complete checkpoint of run.dir; a parameter whose
  // saved shape differs from the model's is a DataError naming both.
  // Throws DataError naming `where` when a saved state is impossible for this run and label.
  // ConfigError naming the key when the model or a step would not fit in this machine's memory.
  void check_model_memory() const;
  void check_saved_state(const TrainState& saved, int64_t label, const std::string& where) const;
  void load_checkpoint(int64_t epoch);
  // Throws ConfigError naming every science field (config.h) in which this config differs from
  // the one run.dir was trained with; nothing to check when run.dir holds no config.toml.
  void check_resume_config() const;
  const CheckpointManager& checkpoints() const { return *checkpoints_; }

 private:
  StepLosses step(const std::vector<int64_t>& batch);
  torch::Tensor project(const torch::Tensor& z);
  void save_checkpoint(int64_t epoch_label, const std::string& probes_json);
  void set_lr(double lr);
  bool stop_requested();
  std::string run_probes(int64_t epoch);
  // The run directory for run(): resume checks, the config, the working directory, the log file.
  void open_run_dir(bool resume);

  Config cfg_;
  // The config's named choices, parsed once (common/enums.h).
  Optimizer optimizer_kind_ = Optimizer::kAdam;
  Scheduler scheduler_ = Scheduler::kNone;
  Reconstruction reconstruction_ = Reconstruction::kMse;
  Precision precision_ = Precision::kFp32;
  dist::Communicator& comm_;
  torch::Device device_;
  std::unique_ptr<TrainData> data_;
  std::shared_ptr<model::AutoencoderBase> model_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  std::unique_ptr<dist::GradientSynchronizer> sync_;
  std::unique_ptr<CheckpointManager> checkpoints_;
  std::unique_ptr<data::Augmenter> augmenter_;
  torch::Tensor layer_variance_;
  TrainState state_;
};

}  // namespace hyperrep::train
