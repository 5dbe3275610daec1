// The typed sections of a hyperrep config. Defaults live in the member initialisers; the field
// lists (docs, ranges, choices) are in config_sections.cpp. Every key is documented there.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/config_schema.h"

namespace hyperrep {

struct RunConfig {
  std::string name = "quickstart";
  std::string dir = "runs/quickstart";
  std::string device = "auto";
  int64_t seed = 0;
  std::string log_level = "info";
  int64_t threads = 0;
  double progress_seconds = 10.0;
  std::vector<std::string> methods = {"E_cD"};
  static void describe(SectionSchema<RunConfig>& s);
};

// How a zoo is generated: the task, the member architecture, the hyper-parameter grid.
struct ZooConfig {
  std::string path = "zoos/tetris_seed";
  std::string task = "tetris";
  std::string task_path = "";
  int64_t task_train_size = 2000;
  int64_t task_val_size = 500;
  int64_t task_test_size = 1000;
  int64_t task_split_seed = 42;
  double tetris_noise = 0.1;
  std::vector<std::string> architecture = {"flatten", "linear(16,5,nobias)", "act", "linear(5,4,nobias)"};
  int64_t num_seeds = 1000;
  int64_t seed_offset = 1;
  std::vector<std::string> activation = {"tanh"};
  std::vector<std::string> init = {"uniform"};
  std::vector<double> dropout = {0.0};
  std::vector<std::string> optimizer = {"adam"};
  std::vector<double> lr = {3e-4};
  std::vector<double> weight_decay = {0.0};
  std::vector<double> train_fraction = {1.0};
  std::vector<double> init_std = {0.0};
  std::string search = "grid";
  int64_t num_configs = 0;
  std::vector<std::string> sample = {};
  double momentum = 0.9;
  double rmsprop_alpha = 0.99;
  double bias_init = 0.01;
  int64_t batch_size = 10;
  int64_t epochs = 50;
  std::vector<int64_t> keep_epochs = {};
  int64_t population_size = 128;
  static void describe(SectionSchema<ZooConfig>& s);
};

// How a zoo is read as a data set for the autoencoder: splits, filters, normalisation.
struct DataConfig {
  std::string zoo = "zoos/tetris_seed";
  std::vector<double> split = {0.7, 0.15, 0.15};
  int64_t split_seed = 42;
  std::string split_file = "";
  double max_abs_weight = 5.0;
  std::string standardize = "layer";
  std::vector<int64_t> epochs = {};
  static void describe(SectionSchema<DataConfig>& s);
};

struct ModelConfig {
  std::string tokenizer = "neuron";
  int64_t d_model = 256;
  int64_t heads = 4;
  int64_t blocks = 2;
  int64_t d_ff = 512;
  int64_t latent = 50;
  double dropout = 0.1;
  int64_t token_size = 64;
  int64_t window = 0;
  bool token_scale = false;
  int64_t projection_layers = 4;
  int64_t projection_hidden = 400;
  int64_t projection_out = 50;
  std::string attention = "auto";
  static void describe(SectionSchema<ModelConfig>& s);
};

struct LossConfig {
  double gamma = 0.5;
  double temperature = 0.1;
  std::string reconstruction = "layer_norm";
  double variance_floor = 1e-4;
  static void describe(SectionSchema<LossConfig>& s);
};

struct AugmentConfig {
  bool permutation = true;
  int64_t permutation_pool = 25000;
  double noise_sigma = 0.0;
  double erase_p = 0.5;
  double erase_min = 0.02;
  double erase_max = 0.33;
  static void describe(SectionSchema<AugmentConfig>& s);
};

struct TrainConfig {
  int64_t epochs = 1000;
  int64_t batch_size = 500;
  double lr = 1e-4;
  double weight_decay = 1e-9;
  std::string optimizer = "adam";
  double momentum = 0.9;
  std::string scheduler = "plateau";
  double plateau_factor = 0.3;
  int64_t plateau_patience = 10;
  int64_t warmup_epochs = 0;
  double grad_clip = 0.0;
  std::string precision = "fp32";
  int64_t seed = 0;
  int64_t max_steps = 0;
  static void describe(SectionSchema<TrainConfig>& s);
};

struct DistributedConfig {
  std::string backend = "auto";
  double bucket_mb = 25.0;
  bool overlap = true;
  double timeout_s = 300.0;
  static void describe(SectionSchema<DistributedConfig>& s);
};

struct CheckpointConfig {
  int64_t every_epochs = 50;
  int64_t keep_last = 3;
  int64_t keep_every = 0;
  static void describe(SectionSchema<CheckpointConfig>& s);
};

struct ProbeConfig {
  int64_t every_epochs = 0;
  std::vector<std::string> targets = {"test_acc", "ggap", "epoch"};
  std::vector<double> lambdas = {1e3, 3e2, 1e2, 3e1, 1e1, 3, 1, 3e-1, 1e-1, 3e-2, 1e-2, 3e-3, 1e-3, 3e-4, 1e-4, 3e-5, 1e-5};
  int64_t classifier_epochs = 50;
  double classifier_lr = 1e-4;
  double classifier_weight_decay = 1e-6;
  int64_t classifier_batch_size = 10;
  bool standardize = true;
  static void describe(SectionSchema<ProbeConfig>& s);
};

struct SweepConfig {
  std::string base = "";
  std::vector<std::string> axes = {};
  std::string mode = "grid";
  std::string out = "sweeps/sweep";
  int64_t ranks = 1;
  static void describe(SectionSchema<SweepConfig>& s);
};

}  // namespace hyperrep
