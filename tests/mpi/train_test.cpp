// The trainer at 1, 2 and 3 ranks: the same losses and parameters as one process with the
// same global batch (all three loss modes), and stop-at-step-k + resume equal to the
// uninterrupted run bit for bit.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "common/config.h"
#include "distributed/mpi_communicator.h"
#include "store/store.h"
#include "tests/mpi/mpi_env.h"
#include "tests/support/shared_temp_dir.h"
#include "train/trainer.h"

namespace hyperrep::train {
namespace {
namespace fs = std::filesystem;

// A synthetic zoo of Tetris MLPs (100 weights): 24 members x 4 epochs with smooth weights.
std::string make_zoo(dist::Communicator& comm, const std::string& root) {
  const std::string dir = root + "/zoo";
  if (comm.rank() == 0) {
    store::ZooHeader h;
    h.architecture = {"flatten", "linear(16,5,nobias)", "act", "linear(5,4,nobias)"};
    h.input_shape = {1, 4, 4};
    h.num_params = 100;
    h.task = "tetris";
    h.numeric_properties = {"test_acc", "epoch"};
    h.categorical_properties = {"activation"};
    store::ZooWriter writer(dir, h, 0);
    auto gen = at::detail::createCPUGenerator(7);
    for (int64_t m = 0; m < 24; ++m) {
      store::MemberRecord r;
      r.member = m;
      r.epochs = {0, 1, 2, 3};
      auto base = torch::randn({1, 100}, gen) * 0.5;
      auto drift = torch::randn({1, 100}, gen) * 0.1;
      r.weights = (base + drift * torch::arange(4, torch::kFloat32).view({4, 1})).contiguous();
      for (int64_t e = 0; e < 4; ++e) r.numeric.push_back({{"test_acc", 0.25 + 0.15 * e + 0.01 * m}, {"epoch", double(e)}});
      r.categorical = {{"activation", "tanh"}};
      writer.write_member(r);
    }
    dist::LocalCommunicator local;
    writer.finalize(local, 24);
  }
  comm.barrier();
  return dir;
}

Config small_config(const std::string& zoo, const std::string& run, double gamma) {
  Config c;
  c.run.dir = run;
  c.run.device = "cpu";
  c.data.zoo = zoo;
  c.data.split = {0.5, 0.25, 0.25};
  c.data.standardize = "layer";
  c.model.d_model = 32;
  c.model.heads = 2;
  c.model.blocks = 1;
  c.model.d_ff = 48;
  c.model.latent = 8;
  c.model.dropout = 0.0;  // dropout masks depend on each rank's stream
  c.model.projection_layers = 2;
  c.model.projection_hidden = 16;
  c.model.projection_out = 8;
  c.loss.gamma = gamma;
  c.loss.reconstruction = "layer_norm";
  c.augment.noise_sigma = 0.01;
  c.train.batch_size = 10;
  c.train.epochs = 100;
  c.train.max_steps = 20;
  c.train.lr = 1e-3;
  c.train.scheduler = "none";
  c.checkpoint.every_epochs = 1000;
  c.probe.every_epochs = 0;
  c.distributed.bucket_mb = 0.05;  // several buckets
  c.distributed.timeout_s = 120;
  return c;
}

std::vector<torch::Tensor> params_of(Trainer& t) {
  std::vector<torch::Tensor> out;
  for (const auto& p : t.model().parameters()) out.push_back(p.detach().clone());
  return out;
}

double max_rel_diff(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double d = (a[i] - b[i]).abs().max().item<double>();
    num = std::max(num, d);
    den = std::max(den, b[i].abs().max().item<double>());
  }
  return num / den;
}

// Max difference of the validation members' embeddings by the two models (each rank embeds its
// own rows with both), relative to the reference's largest entry.
double embedding_rel_diff(Trainer& dp, Trainer& ref) {
  auto z_dp = dp.embed("val"), z_ref = ref.embed_weights(dp.data().split("val").weights);
  return (z_dp - z_ref).abs().max().item<double>() / z_ref.abs().max().item<double>();
}

class TrainTest : public ::testing::Test {
 protected:
  void SetUp() override { zoo_ = make_zoo(comm, root_); }
  std::string run_dir(const std::string& name, bool per_rank) const {
    return root_ + "/" + name + (per_rank ? "_rank" + std::to_string(comm.rank()) : "");
  }
  dist::MpiCommunicator comm{*testing::g_runtime};
  testing::SharedTempDir tmp_{comm, "hyperrep_train"};
  std::string root_ = tmp_ / "root", zoo_;
};

// Adam normalises every gradient entry, so entries whose exact gradient is zero (the key bias
// of attention, a Linear bias before batch norm) turn rounding noise of size 1e-10 into steps
// of size lr that differ with the summation order; those entries do not change the function.
// So under Adam the losses and the learned function (embeddings of the validation members)
// are compared at 1e-5, and under SGD with momentum, where equal gradients give equal
// parameters, every parameter is; there the contrastive loss (temperature 0.1 after batch
// norm) magnifies the rounding of the parameters, so its losses are held to 1e-3. Contrastive
// only (gamma 1) at 3 ranks magnifies most: on an AVX-512 machine the losses agree to 6e-7 at
// step 0 and 2e-5 through step 18, then the step-19 batch of 8 rows (3 + 3 + 2) turns that
// into 9.4e-4 in the loss and 3.4e-4 in the parameters. A reduction bug shows from step 0 at
// 1e-2 or more, so that case is held to 2e-3 (losses) and 1e-3 (parameters).
TEST_F(TrainTest, RanksGiveTheSingleProcessLossesAndParameters) {
  for (const std::string optimizer : {"adam", "sgd"}) {
    for (double gamma : {0.0, 0.5, 1.0}) {
      SCOPED_TRACE(optimizer + " gamma " + std::to_string(gamma));
      const std::string tag = optimizer + std::to_string(int(gamma * 10));
      auto cfg = small_config(zoo_, run_dir("dp" + tag, false), gamma);
      cfg.train.optimizer = optimizer;
      if (optimizer == "sgd") cfg.train.lr = 5e-4;
      Trainer dp(cfg, comm);
      auto dp_result = dp.run(false);
      // The single-process reference, computed on every rank with a world of one.
      dist::LocalCommunicator local;
      auto ref_cfg = cfg;
      ref_cfg.run.dir = run_dir("ref" + tag, true);
      Trainer ref(ref_cfg, local);
      auto ref_result = ref.run(false);
      ASSERT_EQ(dp_result.step_losses.size(), 20u);
      ASSERT_EQ(ref_result.step_losses.size(), 20u);
      double worst_loss = 0;
      for (size_t s = 0; s < 20; ++s) {
        const double a = dp_result.step_losses[s].loss, b = ref_result.step_losses[s].loss;
        worst_loss = std::max(worst_loss, std::abs(a - b) / std::abs(b));
        const double tol = optimizer == "adam" ? 1e-5 : gamma == 1.0 ? 2e-3 : 1e-3;
        EXPECT_LE(std::abs(a - b), tol * std::abs(b)) << "step " << s << ": " << a << " vs " << b;
        EXPECT_EQ(dp_result.step_losses[s].rows, ref_result.step_losses[s].rows);
      }
      const double rel = max_rel_diff(params_of(dp), params_of(ref));
      if (optimizer == "sgd") {
        EXPECT_LE(rel, gamma == 1.0 ? 1e-3 : 1e-5) << "parameters after 20 steps differ by " << rel;
      }
      // The learned function: every rank embeds its validation rows with both models.
      const double zrel = embedding_rel_diff(dp, ref);
      if (optimizer == "adam") {
        EXPECT_LE(zrel, 1e-5) << "embeddings after 20 steps differ by " << zrel;
      }
      if (comm.rank() == 0) {
        std::printf(
            "[ equivalence ] world %d, %s, gamma %.1f: max rel diff of losses %.3g (20 steps), parameters %.3g, "
            "embeddings %.3g\n",
            comm.world_size(), optimizer.c_str(), gamma, worst_loss, rel, zrel);
      }
    }
  }
}

// The settings users run: configs/quickstart.toml as shipped (dropout 0.1, erasing, neuron
// permutations, noise, token_scale, E_cD's gamma 0.5, cosine schedule), shrunk only in batch and
// steps. Every random draw of a step is keyed by seed, step and global sample, so N ranks give
// the single process's losses step by step. Dropout masks that followed each rank's generator
// made the losses part at step 0 (quick start, 2 ranks: 3.327 vs 3.324 after one epoch).
// configs/ae/tetris_seed.toml (the paper's Tetris-SEED autoencoder: d_model 256, temperature
// 0.1, raw weights, dropout 0.1) runs the same check, but Adam there turns rounding into
// divergence within a few steps (see the comment above RanksGiveTheSingleProcessLosses...): at
// 2 and 3 ranks the losses agree within 7e-6 for steps 0-6, then 2.4e-5, 2e-4 and 1.75e-3 at
// steps 7-9, embeddings within 2.2e-3. So that config is held to 1e-5 for its first 5 steps and
// to 5e-3 (embeddings 1e-2) after; unkeyed masks miss by 0.1 from step 0.
TEST_F(TrainTest, ShippedConfigWithDropoutGivesTheSingleProcessLosses) {
  struct Case {
    std::string file, method;
    size_t strict_steps;  // steps held to 1e-5; later ones to 5e-3
    double embedding_tol;
  };
  const std::vector<Case> runs = {{"configs/quickstart.toml", "E_cD", 10, 1e-4},
                                  {"configs/quickstart.toml", "E_C", 10, 1e-4},
                                  {"configs/ae/tetris_seed.toml", "E_cD", 5, 1e-2}};
  for (size_t run = 0; run < runs.size(); ++run) {
    const auto& [file, method, strict_steps, embedding_tol] = runs[run];
    SCOPED_TRACE(file + " " + method);
    std::vector<std::string> sets = {"data.zoo=" + zoo_,
                                     "run.device=cpu",
                                     "train.batch_size=16",
                                     "train.max_steps=10",
                                     "checkpoint.every_epochs=1000",
                                     "probe.every_epochs=0",
                                     "probe.targets=test_acc",
                                     "distributed.timeout_s=120"};
    if (method == "E_C") sets.push_back("loss.gamma=1.0");
    Config cfg = load_config(std::string(HYPERREP_SOURCE_DIR) + "/" + file, sets);
    ASSERT_DOUBLE_EQ(cfg.model.dropout, 0.1);
    ASSERT_GT(cfg.augment.erase_p, 0.0);
    ASSERT_TRUE(cfg.augment.permutation);
    const std::string tag = std::to_string(run) + method;
    cfg.run.dir = run_dir("ship_" + tag, false);
    Trainer dp(cfg, comm);
    const auto dp_result = dp.run(false);
    dist::LocalCommunicator local;
    auto ref_cfg = cfg;
    ref_cfg.run.dir = run_dir("shipref_" + tag, true);
    Trainer ref(ref_cfg, local);
    const auto ref_result = ref.run(false);
    ASSERT_EQ(dp_result.step_losses.size(), 10u);
    ASSERT_EQ(ref_result.step_losses.size(), 10u);
    double worst = 0;
    for (size_t k = 0; k < 10; ++k) {
      const double a = dp_result.step_losses[k].loss, b = ref_result.step_losses[k].loss;
      worst = std::max(worst, std::abs(a - b) / std::abs(b));
      EXPECT_LE(std::abs(a - b), (k < strict_steps ? 1e-5 : 5e-3) * std::abs(b)) << "step " << k << ": " << a << " vs " << b;
    }
    // The learned function after 10 steps: embeddings of the validation members.
    const double zrel = embedding_rel_diff(dp, ref);
    EXPECT_LE(zrel, embedding_tol) << "embeddings after 10 steps differ by " << zrel;
    if (comm.rank() == 0) {
      std::printf("[ shipped ] world %d, %s %s, dropout %.1f: max rel diff of losses %.3g (10 steps), embeddings %.3g\n",
                  comm.world_size(), file.c_str(), method.c_str(), cfg.model.dropout, worst, zrel);
    }
  }
}

TEST_F(TrainTest, StopAtStepKAndResumeIsBitIdentical) {
  auto cfg = small_config(zoo_, run_dir("full", false), 0.5);
  cfg.model.dropout = 0.1;  // exercises the saved RNG streams
  cfg.train.epochs = 4;
  cfg.train.max_steps = 0;
  cfg.train.scheduler = "plateau";
  cfg.train.plateau_patience = 0;
  Trainer full(cfg, comm);
  full.run(false);

  auto part_cfg = cfg;
  part_cfg.run.dir = run_dir("parts", false);
  part_cfg.train.max_steps = 7;  // mid-epoch (5 batches per epoch)
  {
    Trainer first(part_cfg, comm);
    auto r = first.run(false);
    EXPECT_EQ(r.steps, 7);
  }
  part_cfg.train.max_steps = 0;
  Trainer second(part_cfg, comm);
  auto r2 = second.run(true);
  EXPECT_EQ(r2.steps, full.state().global_step);
  auto a = params_of(full), b = params_of(second);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(a[i].equal(b[i])) << "parameter " << i << " differs after resume";
  EXPECT_DOUBLE_EQ(full.state().lr, second.state().lr);
  // A fresh start in a directory with checkpoints is refused instead of overwriting them.
  Trainer again(part_cfg, comm);
  EXPECT_THROW(again.run(false), UsageError);
  // Another [model] on the same directory is refused by name; and with the run's config.toml
  // gone, the checkpoint's parameter shapes are still not forced onto a model of another shape.
  auto other = part_cfg;
  other.model.token_scale = true;
  Trainer wider(other, comm);
  EXPECT_THROW(wider.run(true), ConfigError);
  comm.barrier();
  if (comm.rank() == 0) fs::remove(part_cfg.run.dir + "/config.toml");
  comm.barrier();
  EXPECT_NO_THROW(wider.check_resume_config());
  try {
    wider.load_checkpoint(*wider.checkpoints().latest_complete());
    ADD_FAILURE() << "a checkpoint of another shape was loaded";
  } catch (const DataError& e) {
    EXPECT_NE(
        std::string(e.what()).find("parameter embed.0.weight has shape [32, 16] where the model of this config has [32, 17]"),
        std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace hyperrep::train
