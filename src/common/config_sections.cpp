// Field lists of every config section: the one place where keys, docs and rules are written.
#include "common/config_sections.h"

#include <cmath>

#include "common/enums.h"
#include "common/error.h"
#include "common/layer_spec.h"
#include "common/sample_spec.h"

namespace hyperrep {
namespace {

// Layer grammar of [zoo] architecture; shapes against the task are checked where the task is
// known (zoo::check_zoo_architecture, run by `config check` and `zoo generate`).
std::string check_architecture(const ConfigValue& v) {
  for (const auto& layer : std::get<std::vector<std::string>>(v)) {
    try {
      parse_layer_spec(layer);
    } catch (const ConfigError& e) {
      return e.what();
    }
  }
  return "";
}

std::string check_samples(const ConfigValue& v) {
  for (const auto& entry : std::get<std::vector<std::string>>(v)) {
    try {
      parse_sample_spec(entry);
    } catch (const ConfigError& e) {
      return e.what();
    }
  }
  return "";
}

}  // namespace

void RunConfig::describe(SectionSchema<RunConfig>& s) {
  s.field("name", &RunConfig::name, "Name of the run, used in tables and logs.").non_empty().not_hashed();
  s.field("dir", &RunConfig::dir, "Run directory: config, log, metrics, checkpoints, probes.").non_empty().not_hashed();
  s.field("device", &RunConfig::device, "Where tensors live: auto (cuda when available), cpu or cuda.")
      .choices({"auto", "cpu", "cuda"})
      .not_hashed();
  s.field("seed", &RunConfig::seed, "Global seed for everything not seeded more specifically.").min(0);
  s.field("log_level", &RunConfig::log_level, "Log level of rank 0 (other ranks log warnings unless debug).")
      .choices({"trace", "debug", "info", "warn", "error"})
      .not_hashed();
  s.field("threads", &RunConfig::threads,
          "Intra-op threads per rank; 0 = by stage: 1 for autoencoder training (ranks, not threads, speed it "
          "up), cores / ranks on this node for the rest; OMP_NUM_THREADS, when set, instead.")
      .min(0)
      .not_hashed();
  s.field("progress_seconds", &RunConfig::progress_seconds, "Seconds between progress lines when not on a terminal.")
      .above(0)
      .not_hashed();
  s.field("methods", &RunConfig::methods, "Autoencoders `hyperrep run` trains: E_D (gamma 0), E_C (gamma 1), E_cD (loss.gamma).")
      .non_empty()
      .choices({"E_D", "E_C", "E_cD"})
      .not_hashed();
}

void ZooConfig::describe(SectionSchema<ZooConfig>& s) {
  s.field("path", &ZooConfig::path, "Output directory of the generated zoo.").non_empty().not_hashed();
  s.field(
       "task", &ZooConfig::task,
       "Task data the members learn: tetris (procedural), fashion_mnist (Debian package), idx (MNIST-format files at task_path).")
      .choices(enum_names<Task>());
  s.field("task_path", &ZooConfig::task_path,
          "Directory of the IDX files (train-images-idx3-ubyte[.gz] ...); empty = the task's default.");
  s.field("task_train_size", &ZooConfig::task_train_size,
          "Training images (tetris: generated; IDX: taken from the train file, 0 = all but the val split).")
      .min(0);
  s.field("task_val_size", &ZooConfig::task_val_size, "Validation images held out of the training file by a seeded shuffle.")
      .min(0);
  s.field("task_test_size", &ZooConfig::task_test_size,
          "Test images (tetris: generated; IDX: first N of the test file, 0 = all).")
      .min(0);
  s.field("task_split_seed", &ZooConfig::task_split_seed, "Seed of the train/val shuffle and of the Tetris generator.").min(0);
  s.field("tetris_noise", &ZooConfig::tetris_noise, "Std of the pixel noise added to Tetris images.").min(0);
  s.field("architecture", &ZooConfig::architecture,
          "Member layers in order: conv(in,out,k[,stride=S][,padding=valid|same|N][,nobias]), linear(in,out[,nobias]), "
          "maxpool(k), avgpool(k), gap (global average pool), act, flatten, "
          "dropout; shapes must fit the task and the last layer has one output per class.")
      .non_empty()
      .check(check_architecture);
  s.field("num_seeds", &ZooConfig::num_seeds, "Seeds per hyper-parameter combination.").min(1);
  s.field("seed_offset", &ZooConfig::seed_offset,
          "First seed; seeds are seed_offset .. seed_offset+num_seeds-1 (random search: .. seed_offset+num_configs-1).")
      .min(0);
  s.field("activation", &ZooConfig::activation, "Activations of the grid.").non_empty().choices(enum_names<Activation>());
  s.field("init", &ZooConfig::init, "Weight initialisations of the grid.").non_empty().choices(enum_names<Init>());
  s.field("dropout", &ZooConfig::dropout, "Dropout rates of the grid (applied at the dropout layers).")
      .non_empty()
      .range(0, 0.95);
  s.field("optimizer", &ZooConfig::optimizer, "Optimizers of the grid: adam, sgd (with momentum) or rmsprop.")
      .non_empty()
      .choices(enum_names<ZooOptimizer>());
  s.field("lr", &ZooConfig::lr, "Learning rates of the grid.").non_empty().above(0);
  s.field("weight_decay", &ZooConfig::weight_decay,
          "L2 regularisation of the grid, as torch's coupled weight_decay: w * weight_decay is added to the gradient "
          "(the loss term weight_decay/2 * |w|^2; recorded as weight_decay and as l2 = weight_decay/2, the Small CNN "
          "Zoo's l2reg).")
      .non_empty()
      .min(0);
  s.field("train_fraction", &ZooConfig::train_fraction,
          "Fractions of the training images each member trains on (a seeded subset per member; an epoch is one pass "
          "over it).")
      .non_empty()
      .range(1e-6, 1);
  s.field("init_std", &ZooConfig::init_std,
          "Std of the normal initialisations (normal, truncated_normal); 0 = the init's own rule.")
      .non_empty()
      .min(0);
  s.field("search", &ZooConfig::search,
          "grid (every combination, num_seeds seeds each) or random (num_configs members, one seed each, every "
          "hyper-parameter drawn from its zoo.sample distribution or its list).")
      .choices({"grid", "random"});
  s.field("num_configs", &ZooConfig::num_configs, "Members of a random search.").min(0);
  s.field("sample", &ZooConfig::sample,
          "Distributions of a random search: \"lr=log_uniform(1e-4,1e-2)\", \"dropout=uniform(0,0.7)\"; names lr, "
          "weight_decay, dropout, train_fraction, init_std. Hyper-parameters without one are drawn from their lists.")
      .check(check_samples);
  s.field("momentum", &ZooConfig::momentum, "SGD momentum.").range(0, 0.999);
  s.field("rmsprop_alpha", &ZooConfig::rmsprop_alpha, "RMSProp's smoothing constant (the decay of the squared gradients).")
      .range(0, 0.9999);
  s.field("bias_init", &ZooConfig::bias_init, "Initial value of every bias.");
  s.field("batch_size", &ZooConfig::batch_size, "Members' mini-batch size.").min(1);
  s.field("epochs", &ZooConfig::epochs, "Training epochs per member.").min(0);
  s.field("keep_epochs", &ZooConfig::keep_epochs, "Epochs whose checkpoints are stored; empty = 0 (init) and every epoch.")
      .min(0);
  s.field("population_size", &ZooConfig::population_size, "Members trained together in one batched forward/backward.")
      .min(1)
      .not_hashed();
  s.rule([](const ZooConfig& z) {
    std::vector<SectionCheckResult> out;
    if (z.search == "random" && z.num_configs < 1) out.push_back({"num_configs", "must be at least 1 with zoo.search = random"});
    if (z.search == "grid" && !z.sample.empty()) out.push_back({"sample", "applies only with zoo.search = random"});
    return out;
  });
}

void DataConfig::describe(SectionSchema<DataConfig>& s) {
  s.field("zoo", &DataConfig::zoo, "Zoo directory the autoencoder trains on; when a config does not set it, zoo.path.")
      .non_empty();
  s.field("split", &DataConfig::split, "Train/val/test fractions of the members (by member, never by checkpoint).")
      .range(0, 1)
      .check([](const ConfigValue& v) {
        const auto& f = std::get<std::vector<double>>(v);
        if (f.size() != 3) return std::string("needs three fractions [train, val, test]");
        if (std::fabs(f[0] + f[1] + f[2] - 1.0) > 1e-6) return std::string("fractions must sum to 1");
        return std::string();
      });
  s.field("split_seed", &DataConfig::split_seed, "Seed of the member shuffle behind the split.").min(0);
  s.field("split_file", &DataConfig::split_file,
          "CSV fixing the member split instead (a published split): a header with member (ids) or run (the run "
          "property) and split (train, val, test); unlisted members are left out. Empty = split and split_seed.");
  s.field("max_abs_weight", &DataConfig::max_abs_weight,
          "Drop checkpoints with any |w| above this; 0 = keep all (non-finite are always dropped).")
      .min(0);
  s.field("standardize", &DataConfig::standardize,
          "Weight normalisation: none (raw weights) or layer (per-layer mean/std over the training split).")
      .choices(enum_names<Standardize>());
  s.field("epochs", &DataConfig::epochs, "Use only these member epochs; empty = all stored.").min(0);
}

void ModelConfig::describe(SectionSchema<ModelConfig>& s) {
  s.field("tokenizer", &ModelConfig::tokenizer, "neuron (one token per output neuron) or padded (SANE chunks).")
      .choices(enum_names<Tokenizer>());
  s.field("d_model", &ModelConfig::d_model, "Transformer width.").min(1);
  s.field("heads", &ModelConfig::heads, "Attention heads; must divide d_model.").min(1);
  s.field("blocks", &ModelConfig::blocks, "Transformer blocks in the encoder and in the decoder.").min(1);
  s.field("d_ff", &ModelConfig::d_ff, "Feed-forward width.").min(1);
  s.field("latent", &ModelConfig::latent, "Size of the hyper-representation z.").min(1);
  s.field("dropout", &ModelConfig::dropout, "Dropout in the transformer blocks.").range(0, 0.95);
  s.field("token_size", &ModelConfig::token_size, "Values per token of the padded tokenizer.").min(1);
  s.field("window", &ModelConfig::window, "Padded tokenizer: tokens per training window; 0 = whole sequence.").min(0);
  s.field("token_scale", &ModelConfig::token_scale,
          "Neuron tokenizer: give each token's embedding its log RMS as one more input, so its scale "
          "survives the pre-norm blocks.");
  s.field("projection_layers", &ModelConfig::projection_layers, "Layers of the contrastive projection head.").min(1);
  s.field("projection_hidden", &ModelConfig::projection_hidden, "Hidden width of the projection head.").min(1);
  s.field("projection_out", &ModelConfig::projection_out, "Output width of the projection head.").min(1);
  s.field("attention", &ModelConfig::attention, "auto (fused where LibTorch has it), fused or plain.")
      .choices({"auto", "fused", "plain"})
      .not_hashed();
  s.rule([](const ModelConfig& m) {
    std::vector<SectionCheckResult> out;
    if (m.heads > 0 && m.d_model % m.heads != 0) out.push_back({"heads", "must divide model.d_model"});
    if (m.token_scale && m.tokenizer != "neuron") out.push_back({"token_scale", "needs model.tokenizer = \"neuron\""});
    return out;
  });
}

void LossConfig::describe(SectionSchema<LossConfig>& s) {
  s.field("gamma", &LossConfig::gamma, "Contrastive weight: 0 = reconstruction only (E_D), 1 = contrastive only (E_C).")
      .range(0, 1);
  s.field("temperature", &LossConfig::temperature, "NT-Xent temperature.").above(0);
  s.field("reconstruction", &LossConfig::reconstruction, "mse or layer_norm (each layer's error divided by its weight variance).")
      .choices(enum_names<Reconstruction>());
  s.field("variance_floor", &LossConfig::variance_floor, "Floor of the per-layer variance in layer_norm.").above(0);
}

void AugmentConfig::describe(SectionSchema<AugmentConfig>& s) {
  s.field("permutation", &AugmentConfig::permutation, "Permute hidden neurons (a function-preserving symmetry).");
  s.field("permutation_pool", &AugmentConfig::permutation_pool, "Size of the precomputed permutation pool.").min(1);
  s.field("noise_sigma", &AugmentConfig::noise_sigma, "Std of Gaussian noise added to each weight.").min(0);
  s.field("erase_p", &AugmentConfig::erase_p, "Probability of erasing one contiguous block.").range(0, 1);
  s.field("erase_min", &AugmentConfig::erase_min, "Smallest erased fraction of the vector.").range(0, 1);
  s.field("erase_max", &AugmentConfig::erase_max, "Largest erased fraction of the vector.").range(0, 1);
  s.rule([](const AugmentConfig& a) {
    std::vector<SectionCheckResult> out;
    if (a.erase_min > a.erase_max) out.push_back({"erase_min", "must not exceed augment.erase_max"});
    return out;
  });
}

void TrainConfig::describe(SectionSchema<TrainConfig>& s) {
  s.field("epochs", &TrainConfig::epochs, "Training epochs of the autoencoder.").min(1);
  s.field("batch_size", &TrainConfig::batch_size, "Global batch size (split over ranks).").min(1);
  s.field("lr", &TrainConfig::lr, "Learning rate.").above(0);
  s.field("weight_decay", &TrainConfig::weight_decay, "Weight decay.").min(0);
  s.field("optimizer", &TrainConfig::optimizer, "adam, adamw, or sgd (with momentum).").choices(enum_names<Optimizer>());
  s.field("momentum", &TrainConfig::momentum, "SGD momentum (optimizer = sgd).").range(0, 0.999);
  s.field("scheduler", &TrainConfig::scheduler, "none, plateau (ReduceLROnPlateau) or cosine (with warmup).")
      .choices(enum_names<Scheduler>());
  s.field("plateau_factor", &TrainConfig::plateau_factor, "ReduceLROnPlateau factor.").range(0, 1);
  s.field("plateau_patience", &TrainConfig::plateau_patience, "ReduceLROnPlateau patience in epochs.").min(0);
  s.field("warmup_epochs", &TrainConfig::warmup_epochs, "Linear warmup epochs of the cosine schedule.").min(0);
  s.field("grad_clip", &TrainConfig::grad_clip, "Clip the global gradient norm to this; 0 = off.").min(0);
  s.field("precision", &TrainConfig::precision, "fp32, or bf16 autocast on CUDA.").choices(enum_names<Precision>());
  s.field("seed", &TrainConfig::seed, "Seed of initialisation, sample order and augmentations.").min(0);
  s.field("max_steps", &TrainConfig::max_steps, "Stop after this many optimizer steps; 0 = run all epochs.").min(0).not_hashed();
}

void DistributedConfig::describe(SectionSchema<DistributedConfig>& s) {
  s.field("backend", &DistributedConfig::backend, "auto (nccl for CUDA tensors, else mpi), local, mpi or nccl.")
      .choices(enum_names<Backend>())
      .not_hashed();
  s.field("bucket_mb", &DistributedConfig::bucket_mb, "Gradient bucket size in MiB.").above(0).not_hashed();
  s.field("overlap", &DistributedConfig::overlap, "All-reduce buckets from gradient hooks, overlapping backward.").not_hashed();
  s.field("timeout_s", &DistributedConfig::timeout_s, "Seconds a rank waits for its peers before aborting the job.")
      .above(0)
      .not_hashed();
}

void CheckpointConfig::describe(SectionSchema<CheckpointConfig>& s) {
  s.field("every_epochs", &CheckpointConfig::every_epochs, "Save a checkpoint every N epochs (and at the end).")
      .min(1)
      .not_hashed();
  s.field("keep_last", &CheckpointConfig::keep_last, "Keep the newest N checkpoints.").min(1).not_hashed();
  s.field("keep_every", &CheckpointConfig::keep_every, "Also keep every checkpoint whose epoch is a multiple of N; 0 = none.")
      .min(0)
      .not_hashed();
}

void ProbeConfig::describe(SectionSchema<ProbeConfig>& s) {
  s.field("every_epochs", &ProbeConfig::every_epochs, "Probe the embeddings every N epochs during training; 0 = only at the end.")
      .min(0)
      .not_hashed();
  s.field("targets", &ProbeConfig::targets,
          "Properties to predict (continuous: ridge R^2; categorical: linear classifier accuracy).")
      .non_empty();
  s.field("lambdas", &ProbeConfig::lambdas, "Ridge regularisation grid; the best on validation R^2 is used.")
      .non_empty()
      .above(0);
  s.field("classifier_epochs", &ProbeConfig::classifier_epochs, "Epochs of the linear classifier probe.").min(1);
  s.field("classifier_lr", &ProbeConfig::classifier_lr, "Adam learning rate of the linear classifier probe.").above(0);
  s.field("classifier_weight_decay", &ProbeConfig::classifier_weight_decay, "Weight decay of the linear classifier probe.")
      .min(0);
  s.field("classifier_batch_size", &ProbeConfig::classifier_batch_size, "Batch size of the linear classifier probe.").min(1);
  s.field("standardize", &ProbeConfig::standardize,
          "Z-score probe features with train-split statistics before ridge and classifier (false = raw features, the paper's "
          "sklearn setup; the lambda grid then depends on the feature scale).");
}

void SweepConfig::describe(SectionSchema<SweepConfig>& s) {
  s.field("base", &SweepConfig::base, "Base config of every run (path relative to the sweep file).");
  s.field("axes", &SweepConfig::axes, "Axes as \"section.key=v1,v2,...\"; runs are their grid (or zip).");
  s.field("mode", &SweepConfig::mode, "grid (every combination) or zip (axes advance together).").choices({"grid", "zip"});
  s.field("out", &SweepConfig::out,
          "Directory of the sweep's runs (OUT/runs/NAME), zoos of [zoo] axes (OUT/zoos/NAME), tables and plots; relative to the "
          "working directory, like run.dir.")
      .non_empty()
      .not_hashed();
  s.field("ranks", &SweepConfig::ranks, "MPI ranks per run (1 = no mpirun).").min(1).not_hashed();
}

}  // namespace hyperrep
