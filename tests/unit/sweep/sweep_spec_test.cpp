#include "sweep/sweep_spec.h"

#include "tests/unit/sweep/sweep_fixture.h"

namespace hyperrep::sweep::testing {
namespace {

std::string error_of(const std::string& path, const std::vector<std::string>& sets = {}) {
  try {
    load_sweep(path, sets);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST_F(SweepTest, GridIsEveryCombinationFirstAxisSlowest) {
  const auto s = load_sweep(sweep_file(R"("zoo.num_seeds=50,100,200", "model.d_model=32,64")"));
  ASSERT_EQ(s.runs.size(), 6u);
  EXPECT_EQ(s.name, "test");
  EXPECT_EQ(s.base, "configs/base.toml");
  EXPECT_EQ(s.runs[0].name, "zoo.num_seeds=50__model.d_model=32");
  EXPECT_EQ(s.runs[1].name, "zoo.num_seeds=50__model.d_model=64");
  EXPECT_EQ(s.runs[2].name, "zoo.num_seeds=100__model.d_model=32");
  EXPECT_EQ(s.runs[5].name, "zoo.num_seeds=200__model.d_model=64");
  EXPECT_EQ(s.runs[5].values, (std::vector<std::string>{"200", "64"}));
  EXPECT_EQ(s.runs[3].dir, "out/runs/zoo.num_seeds=100__model.d_model=64");
}

TEST_F(SweepTest, ZipAdvancesAxesTogether) {
  const auto s = load_sweep(sweep_file(R"("model.d_model=32,64,128", "model.latent=4,8,16")", "zip"));
  ASSERT_EQ(s.runs.size(), 3u);
  EXPECT_EQ(s.runs[1].name, "model.d_model=64__model.latent=8");
  EXPECT_EQ(s.runs[2].config.model.d_model, 128);
  EXPECT_EQ(s.runs[2].config.model.latent, 16);
  const auto err = error_of(sweep_file(R"("model.d_model=32,64", "model.latent=4,8,16")", "zip"));
  EXPECT_NE(err.find("zip needs axes of one length"), std::string::npos) << err;
}

TEST_F(SweepTest, NoAxesIsOneRunOfTheBase) {
  const auto s = load_sweep(sweep_file(""));
  ASSERT_EQ(s.runs.size(), 1u);
  EXPECT_EQ(s.runs[0].name, "base");
  EXPECT_EQ(s.runs[0].config.model.d_model, 32);
}

TEST_F(SweepTest, OverridesOfFileAxesAndSetsApplyInOrder) {
  // base: train.epochs 20, lr 0.001; sweep file: epochs 3; --set: lr 0.01; axis: d_model.
  const auto path = sweep_file(R"("model.d_model=64,128")", "grid", "[train]\nepochs = 3\n");
  const auto s = load_sweep(path, {"train.lr=0.01"});
  ASSERT_EQ(s.runs.size(), 2u);
  for (const auto& r : s.runs) {
    EXPECT_EQ(r.config.train.epochs, 3);
    EXPECT_DOUBLE_EQ(r.config.train.lr, 0.01);
    EXPECT_EQ(r.config.model.latent, 8);  // from the base
    EXPECT_EQ(r.config.run.dir, r.dir);
    EXPECT_EQ(r.config.run.name, r.name);
  }
  EXPECT_EQ(s.runs[0].config.model.d_model, 64);
  EXPECT_EQ(s.runs[1].config.model.d_model, 128);
  EXPECT_EQ(s.runs[1].overrides[0], "model.d_model=128");
  // --set reaches [sweep] too.
  const auto moved = load_sweep(path, {"sweep.out=elsewhere"});
  EXPECT_EQ(moved.runs[0].dir, "elsewhere/runs/model.d_model=64");
}

TEST_F(SweepTest, BadAxisKeyNamesTheAxisAndSuggests) {
  const auto err = error_of(sweep_file(R"("model.d_modl=32,64")"));
  EXPECT_NE(err.find("sweep axis 'model.d_modl'"), std::string::npos) << err;
  EXPECT_NE(err.find("did you mean model.d_model"), std::string::npos) << err;
}

TEST_F(SweepTest, BadAxisValuesNameTheValue) {
  auto err = error_of(sweep_file(R"("zoo.num_seeds=50,many")"));
  EXPECT_NE(err.find("sweep axis 'zoo.num_seeds' value 'many'"), std::string::npos) << err;
  err = error_of(sweep_file(R"("loss.gamma=0,0.5,1.5")"));
  EXPECT_NE(err.find("sweep axis 'loss.gamma' value '1.5'"), std::string::npos) << err;
  EXPECT_NE(err.find("out of range"), std::string::npos) << err;
  err = error_of(sweep_file(R"("loss.reconstruction=mse,l2")"));
  EXPECT_NE(err.find("value 'l2'"), std::string::npos) << err;
  err = error_of(sweep_file(R"("run.dir=a,b")"));
  EXPECT_NE(err.find("the sweep sets this key itself"), std::string::npos) << err;
  err = error_of(sweep_file(R"("model.latent=8,,16")"));
  EXPECT_NE(err.find("empty value"), std::string::npos) << err;
}

TEST_F(SweepTest, CrossFieldRulesAreCheckedPerRun) {
  // heads = 4 divides 32 but not 30: the run with d_model 30 is named.
  const auto err = error_of(sweep_file(R"("model.d_model=32,30")"));
  EXPECT_NE(err.find("run model.d_model=30: must divide model.d_model"), std::string::npos) << err;
}

TEST_F(SweepTest, SweepFileErrorsHaveFileAndLine) {
  const auto path = sweep_file(R"("model.d_model=64")", "grid", "[train]\nepochz = 3\n");
  const auto err = error_of(path);
  EXPECT_NE(err.find("configs/sweeps/test.toml:7: train.epochz: unknown key (did you mean train.epochs)"), std::string::npos)
      << err;
}

TEST_F(SweepTest, RunsWithTheSameZooValuesShareItsDirectory) {
  const auto s = load_sweep(sweep_file(R"("zoo.num_seeds=50,100", "model.latent=8,16")"));
  ASSERT_EQ(s.runs.size(), 4u);
  EXPECT_EQ(s.runs[0].zoo_dir, "out/zoos/zoo.num_seeds=50");
  EXPECT_EQ(s.runs[1].zoo_dir, "out/zoos/zoo.num_seeds=50");
  EXPECT_EQ(s.runs[2].zoo_dir, "out/zoos/zoo.num_seeds=100");
  EXPECT_EQ(s.runs[3].zoo_dir, "out/zoos/zoo.num_seeds=100");
  for (const auto& r : s.runs) {
    EXPECT_EQ(r.config.zoo.path, r.zoo_dir);
    EXPECT_EQ(r.config.data.zoo, r.zoo_dir);
  }
  EXPECT_EQ(s.runs[2].config.zoo.num_seeds, 100);
  // No [zoo] axis: every run trains on the base's zoo.
  const auto shared = load_sweep(sweep_file(R"("model.latent=8,16")"));
  for (const auto& r : shared.runs) EXPECT_EQ(r.config.zoo.path, "zoos/base");
}

TEST_F(SweepTest, AxisValuesSplitOutsideBracketsAndQuotes) {
  const auto a = parse_axis(R"(zoo.activation=["tanh","relu"], ["relu"])");
  EXPECT_EQ(a.key, "zoo.activation");
  EXPECT_TRUE(a.zoo);
  EXPECT_EQ(a.values, (std::vector<std::string>{R"(["tanh","relu"])", R"(["relu"])"}));
  EXPECT_EQ(sanitize_name(a.values[1]), "__relu__");
  EXPECT_EQ(sanitize_name("run/x y=1.5e-3"), "run_x_y=1.5e-3");
  const auto s = load_sweep(sweep_file(R"('zoo.activation=["tanh","relu"],["relu"]')"));
  ASSERT_EQ(s.runs.size(), 2u);
  EXPECT_EQ(s.runs[0].config.zoo.activation, (std::vector<std::string>{"tanh", "relu"}));
  EXPECT_EQ(s.runs[1].config.zoo.activation, (std::vector<std::string>{"relu"}));
}

TEST_F(SweepTest, ShippedSweepsExpand) {
  // The shipped sweeps against the shipped quick start, from the source tree.
  std::filesystem::current_path(HYPERREP_SOURCE_DIR);
  EXPECT_EQ(load_sweep("configs/sweeps/zoo_size.toml").runs.size(), 3u);
  EXPECT_EQ(load_sweep("configs/sweeps/model_size.toml").runs.size(), 4u);
  const auto loss = load_sweep("configs/sweeps/loss_mode.toml");
  ASSERT_EQ(loss.runs.size(), 3u);
  EXPECT_DOUBLE_EQ(loss.runs[1].config.loss.gamma, 0.5);
}

}  // namespace
}  // namespace hyperrep::sweep::testing
