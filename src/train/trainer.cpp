#include "train/trainer.h"

#include <chrono>
#include <cmath>
#include <sstream>

#include "common/error.h"
#include "common/fs.h"
#include "common/logging.h"
#include "common/runtime.h"
#include "distributed/autograd_collectives.h"
#include "distributed/watchdog.h"
#include "model/losses.h"
#include "train/sampler.h"
#include "train/schedule.h"
#include "train/signals.h"

namespace hyperrep::train {
std::string method_name(double gamma) {
  if (gamma <= 0) return "E_D";
  if (gamma >= 1) return "E_C";
  return "E_cD";
}

void Trainer::check_model_memory() const {
  // A lower estimate, made before the model exists, so that only a config that cannot fit is
  // refused (an extra zero in a size, say): parameters with their gradients and two Adam moments;
  // per block and view the token activations autograd keeps. Host memory only.
  if (!device_.is_cpu()) return;
  const auto& m = cfg_.model;
  double tokens = 1;  // the compression token
  for (auto i : data_->architecture().param_layers()) tokens += static_cast<double>(data_->architecture().layers()[i].out);
  if (parse_enum<Tokenizer>(m.tokenizer, "model.tokenizer") == Tokenizer::kPadded)
    tokens = std::max(1.0, static_cast<double>(data_->architecture().num_params()) / m.token_size);
  const double d = static_cast<double>(m.d_model), ff = static_cast<double>(m.d_ff), blocks = 2.0 * m.blocks;
  const double params = blocks * (4 * d * d + 2 * d * ff) + tokens * d * 2;
  const double batch = std::ceil(static_cast<double>(std::min(cfg_.train.batch_size, data_->global_rows())) / comm_.world_size());
  const double activations = 2 * batch * blocks * tokens * (4 * d + ff + m.heads * tokens) * sizeof(float);
  check_memory_estimate("the autoencoder",
                        {{"model.d_model / model.d_ff (parameters)", params * 4 * sizeof(float)},  // value, gradient, two moments
                         {"train.batch_size (activations of one step)", activations}});
}

Trainer::Trainer(const Config& cfg, dist::Communicator& comm)
    : cfg_(cfg),
      optimizer_kind_(parse_enum<Optimizer>(cfg.train.optimizer, "train.optimizer")),
      scheduler_(parse_enum<Scheduler>(cfg.train.scheduler, "train.scheduler")),
      reconstruction_(parse_enum<Reconstruction>(cfg.loss.reconstruction, "loss.reconstruction")),
      precision_(parse_enum<Precision>(cfg.train.precision, "train.precision")),
      comm_(comm),
      device_(resolve_device(cfg.run.device, comm.local_rank())) {
  HYPERREP_CHECK(device_.is_cpu() || comm.world_size() == 1 || comm.name() == "nccl", ConfigError, "training on CUDA with ",
                 comm.world_size(), " ranks needs the nccl backend (build with HYPERREP_WITH_NCCL=ON)");
  HYPERREP_CHECK(precision_ == Precision::kFp32 || device_.is_cuda(), ConfigError, "train.precision = \"", cfg.train.precision,
                 "\" needs a CUDA device");
  data_ = std::make_unique<TrainData>(cfg_, comm_.host());
  check_model_memory();
  // The member architecture is the zoo's, whatever [zoo] says.
  torch::manual_seed(static_cast<uint64_t>(cfg_.train.seed));
  model_ = model::make_autoencoder(data_->architecture(), cfg_.model);
  model_->to(device_);
  switch (optimizer_kind_) {
    case Optimizer::kAdamW:
      optimizer_ = std::make_unique<torch::optim::AdamW>(
          model_->parameters(), torch::optim::AdamWOptions(cfg_.train.lr).weight_decay(cfg_.train.weight_decay));
      break;
    case Optimizer::kSgd:
      optimizer_ = std::make_unique<torch::optim::SGD>(
          model_->parameters(),
          torch::optim::SGDOptions(cfg_.train.lr).momentum(cfg_.train.momentum).weight_decay(cfg_.train.weight_decay));
      break;
    case Optimizer::kAdam:
      optimizer_ = std::make_unique<torch::optim::Adam>(
          model_->parameters(), torch::optim::AdamOptions(cfg_.train.lr).weight_decay(cfg_.train.weight_decay));
      break;
  }
  dist::SyncOptions sync;
  sync.bucket_mb = cfg_.distributed.bucket_mb;
  sync.overlap = cfg_.distributed.overlap;
  sync.op = dist::ReduceOp::kSum;  // each rank's loss is its share of the global loss
  sync_ = std::make_unique<dist::GradientSynchronizer>(comm_, model_->parameters(), sync);
  sync_->broadcast_parameters(0);
  augmenter_ = std::make_unique<data::Augmenter>(
      data::Augmenter::from_config(cfg_.augment, data_->architecture(), static_cast<uint64_t>(cfg_.train.seed)));
  layer_variance_ = data_->layer_variance().to(device_);
  checkpoints_ = std::make_unique<CheckpointManager>(cfg_.run.dir, cfg_.checkpoint.keep_last, cfg_.checkpoint.keep_every);
  state_.lr = cfg_.train.lr;
  state_.config_hash = science_hash(cfg_);
  state_.world_size = comm_.world_size();
}

Trainer::~Trainer() = default;

void Trainer::set_lr(double lr) {
  state_.lr = lr;
  for (auto& group : optimizer_->param_groups()) group.options().set_lr(lr);
}

torch::Tensor Trainer::project(const torch::Tensor& z) {
  // The head's batch norms use the statistics of the global batch (all ranks' rows).
  torch::Tensor x = z;
  auto& net = model_->head->net;
  for (size_t i = 0; i < net->size(); ++i) {
    auto m = net[i];
    if (auto* bn = m->as<torch::nn::BatchNorm1d>()) {
      const auto& o = bn->options;
      x = dist::sync_batch_norm(comm_, x, bn->weight, bn->bias, bn->running_mean, bn->running_var, o.momentum().value_or(0.1),
                                o.eps());
    } else if (auto* lin = m->as<torch::nn::Linear>()) {
      x = lin->forward(x);
    } else if (auto* relu = m->as<torch::nn::ReLU>()) {
      x = relu->forward(x);
    } else {
      HYPERREP_THROW(InternalError, "projection head: unexpected module ", m->name());
    }
  }
  return x;
}

StepLosses Trainer::step(const std::vector<int64_t>& batch) {
  const auto& split = data_->split("train");
  std::vector<int64_t> local, pos;
  for (size_t i = 0; i < batch.size(); ++i) {
    const int64_t r = data_->local_row(batch[i]);
    if (r >= 0) local.push_back(r), pos.push_back(static_cast<int64_t>(i));
  }
  const int64_t bg = static_cast<int64_t>(batch.size()), bl = static_cast<int64_t>(local.size());
  // Every draw of the step (augmentation, dropout masks, windows) is keyed by seed, step and
  // sample = 2 * global row + view (common/keyed_random.h): each rank draws for the rows it holds
  // exactly what one process holding the whole batch draws for them.
  std::vector<int64_t> sample1(local.size()), sample2(local.size());
  for (size_t j = 0; j < local.size(); ++j) {
    sample1[j] = 2 * batch[static_cast<size_t>(pos[j])];
    sample2[j] = sample1[j] + 1;
  }
  const auto seed = static_cast<uint64_t>(cfg_.train.seed), step = static_cast<uint64_t>(state_.global_step);
  const KeyedDraws draws1(seed, step, std::move(sample1)), draws2(seed, step, std::move(sample2));
  auto w = split.weights.index_select(0, torch::tensor(local, torch::kInt64)).to(device_);
  auto v1 = augmenter_->view(w, draws1), v2 = augmenter_->view(w, draws2);

  model_->train();
  const double gamma = cfg_.loss.gamma;
  torch::Tensor loss, recon, contrast;
  {
    const CudaBf16Autocast autocast(precision_ == Precision::kBf16);  // checked at construction: CUDA only
    auto out1 = model::forward_view_keyed(*model_, v1, draws1);
    auto out2 = model::forward_view_keyed(*model_, v2, draws2);
    if (gamma < 1) {
      auto var = reconstruction_ == Reconstruction::kLayerNorm ? layer_variance_ : torch::Tensor();
      // Each view's error is averaged over the entries of the global batch: ranks sum their own
      // and divide by the count of all. When every entry counts that is bg rows of one size;
      // only a padded window's mask counts differently per row, and then the ranks add up.
      double c1 = 0, c2 = 0;
      if (out1.mask.defined() || out2.mask.defined()) {
        auto counts = torch::tensor({model::reconstruction_entries(out1.recon, out1.mask),
                                     model::reconstruction_entries(out2.recon, out2.mask)},
                                    torch::kFloat64);
        comm_.host().all_reduce(counts, dist::ReduceOp::kSum);
        c1 = counts[0].item<double>(), c2 = counts[1].item<double>();
      } else {
        c1 = static_cast<double>(bg * c10::multiply_integers(out1.recon.sizes().slice(1)));
        c2 = static_cast<double>(bg * c10::multiply_integers(out2.recon.sizes().slice(1)));
      }
      c1 = std::max(c1, 1.0), c2 = std::max(c2, 1.0);
      auto r1 = model::reconstruction_loss(out1.recon, out1.target, out1.mask, out1.layer, var, cfg_.loss.variance_floor, c1);
      auto r2 = model::reconstruction_loss(out2.recon, out2.target, out2.mask, out2.layer, var, cfg_.loss.variance_floor, c2);
      recon = 0.5 * (r1 + r2);
    }
    if (gamma > 0) {
      auto p = project(torch::cat({out1.z, out2.z}, 0));
      auto a = dist::all_gather_with_grad(comm_, p.narrow(0, 0, bl));
      auto b = dist::all_gather_with_grad(comm_, p.narrow(0, bl, bl));
      contrast = model::nt_xent(a.all, b.all, cfg_.loss.temperature, model::ViewSlice{a.offset, bl});
    }
    loss = model::mix_losses(gamma, contrast, recon);
  }

  optimizer_->zero_grad();
  sync_->prepare();
  loss.backward();
  sync_->finish();
  if (cfg_.train.grad_clip > 0) torch::nn::utils::clip_grad_norm_(model_->parameters(), cfg_.train.grad_clip);
  optimizer_->step();

  auto parts = torch::tensor(
      {loss.item<double>(), recon.defined() ? recon.item<double>() : 0.0, contrast.defined() ? contrast.item<double>() : 0.0},
      torch::kFloat64);
  comm_.host().all_reduce(parts, dist::ReduceOp::kSum);
  return {parts[0].item<double>(), parts[1].item<double>(), parts[2].item<double>(), bg};
}

bool Trainer::stop_requested() {
  // Every rank must stop at the same step: agree on the flag (max over ranks).
  return comm_.host().all_reduce_int(stop_signal_received() ? 1 : 0, dist::ReduceOp::kMax) > 0;
}

torch::Tensor Trainer::embed(const std::string& split) { return embed_weights(data_->split(split).weights); }

torch::Tensor Trainer::embed_weights(const torch::Tensor& w) {
  torch::NoGradGuard ng;
  model_->eval();
  std::vector<torch::Tensor> parts;
  for (int64_t b = 0; b < w.size(0); b += 1000) {
    parts.push_back(model_->embed(w.narrow(0, b, std::min<int64_t>(1000, w.size(0) - b)).to(device_)).to(torch::kCPU));
  }
  model_->train();
  if (parts.empty()) return torch::zeros({0, cfg_.model.latent});
  return torch::cat(parts, 0);
}

}  // namespace hyperrep::train
