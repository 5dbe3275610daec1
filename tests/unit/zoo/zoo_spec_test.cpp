// The [zoo] grid: canonical member order, populations by structure, rank assignment, kept epochs.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <set>

#include "common/error.h"
#include "zoo/zoo_spec.h"

namespace hyperrep::zoo {
namespace {

ZooConfig hyp_config() {
  ZooConfig z;
  z.activation = {"tanh", "relu"};
  z.init = {"uniform", "normal"};
  z.dropout = {0.0, 0.5};
  z.optimizer = {"adam", "sgd"};
  z.lr = {1e-3, 1e-4};
  z.weight_decay = {1e-3, 1e-4};
  z.num_seeds = 3;
  z.seed_offset = 7;
  return z;
}

TEST(ZooSpec, GridOrderIsActivationInitDropoutOptimizerLrWdSeed) {
  auto m = expand_grid(hyp_config());
  ASSERT_EQ(m.size(), 2u * 2 * 2 * 2 * 2 * 2 * 3);
  for (size_t i = 0; i < m.size(); ++i) EXPECT_EQ(m[i].id, static_cast<int64_t>(i));
  EXPECT_EQ(m[0].seed, 7);
  EXPECT_EQ(m[2].seed, 9);
  EXPECT_EQ(m[3].seed, 7);
  EXPECT_DOUBLE_EQ(m[3].weight_decay, 1e-4);  // wd is next-innermost
  EXPECT_DOUBLE_EQ(m[6].lr, 1e-4);
  EXPECT_EQ(m[12].optimizer, "sgd");
  EXPECT_DOUBLE_EQ(m[24].dropout, 0.5);
  EXPECT_EQ(m[48].init, "normal");
  EXPECT_EQ(m[96].activation, "relu");
  // Member 101 = relu, uniform, dropout 0, adam, lr 1e-3, wd 1e-4, seed offset+2.
  EXPECT_EQ(m[101].activation, "relu");
  EXPECT_EQ(m[101].init, "uniform");
  EXPECT_DOUBLE_EQ(m[101].weight_decay, 1e-4);
  EXPECT_EQ(m[101].seed, 9);
}

TEST(ZooSpec, PopulationsShareStructureAndRespectTheSize) {
  auto members = expand_grid(hyp_config());
  auto pops = group_populations(members, 10);
  std::set<int64_t> seen;
  // 4 structures (activation x optimizer) of 48 members each -> 5 populations each; dropout
  // rates, inits, lrs and weight decays mix inside a population.
  EXPECT_EQ(pops.size(), 4u * 5);
  for (const auto& pop : pops) {
    ASSERT_FALSE(pop.empty());
    EXPECT_LE(pop.size(), 10u);
    for (auto id : pop) {
      EXPECT_EQ(members[id].structure_key(), members[pop[0]].structure_key());
      EXPECT_TRUE(seen.insert(id).second);
    }
  }
  EXPECT_EQ(seen.size(), members.size());
  // First population: the first structure's members in id order (lr, wd, init vary inside).
  EXPECT_EQ(pops[0][0], 0);
  EXPECT_EQ(pops[0][3], 3);
  EXPECT_EQ(pops[4].size(), 8u);
  bool mixed_dropout = false;
  for (const auto& pop : pops)
    for (auto id : pop) mixed_dropout = mixed_dropout || members[id].dropout != members[pop[0]].dropout;
  EXPECT_TRUE(mixed_dropout);
  // A seed-only grid fills populations in order.
  ZooConfig z;
  z.num_seeds = 1000;
  auto seed_pops = group_populations(expand_grid(z), 128);
  ASSERT_EQ(seed_pops.size(), 8u);
  EXPECT_EQ(seed_pops[7].size(), 1000u - 7 * 128);
  EXPECT_EQ(seed_pops[7].front(), 7 * 128);
}

TEST(ZooSpec, TrainFractionAndInitStdAreInnerGridDimensions) {
  ZooConfig z;
  z.num_seeds = 2;
  z.lr = {1e-3, 1e-2};
  z.train_fraction = {0.1, 1.0};
  z.init_std = {0.01, 0.1};
  auto m = expand_grid(z);
  ASSERT_EQ(m.size(), 2u * 2 * 2 * 2);
  EXPECT_DOUBLE_EQ(m[2].init_std, 0.1);  // init_std just outside the seeds
  EXPECT_DOUBLE_EQ(m[4].train_fraction, 1.0);
  EXPECT_DOUBLE_EQ(m[8].lr, 1e-2);
  EXPECT_EQ(m[1].seed, z.seed_offset + 1);
}

// A random search (the Small CNN Zoo was made this way): num_configs members, one seed each,
// every hyper-parameter drawn from its declared distribution or its list.
TEST(ZooSpec, RandomSearchDrawsFromTheDeclaredDistributions) {
  ZooConfig z;
  z.search = "random";
  z.num_configs = 4000;
  z.seed_offset = 100;
  z.activation = {"relu", "tanh"};
  z.init = {"kaiming_normal", "xavier_normal", "normal", "truncated_normal", "orthogonal"};
  z.optimizer = {"adam", "sgd", "rmsprop"};
  z.train_fraction = {0.1, 0.25, 0.5, 1.0};
  z.sample = {"lr=log_uniform(5e-4, 5e-2)", "weight_decay = log_uniform(1e-8,1e-2)", "dropout=uniform(0,0.7)",
              "init_std=log_uniform(1e-3,0.5)"};
  const auto m = expand_grid(z);
  ASSERT_EQ(m.size(), 4000u);
  std::map<std::string, int> acts, opts, inits;
  std::map<double, int> fractions;
  double log_lr = 0, drop = 0;
  for (size_t i = 0; i < m.size(); ++i) {
    EXPECT_EQ(m[i].id, static_cast<int64_t>(i));
    EXPECT_EQ(m[i].seed, 100 + static_cast<int64_t>(i));
    EXPECT_GE(m[i].lr, 5e-4);
    EXPECT_LE(m[i].lr, 5e-2);
    EXPECT_GE(m[i].weight_decay, 1e-8);
    EXPECT_LE(m[i].weight_decay, 1e-2);
    EXPECT_GE(m[i].dropout, 0.0);
    EXPECT_LE(m[i].dropout, 0.7);
    EXPECT_GE(m[i].init_std, 1e-3);
    ++acts[m[i].activation], ++opts[m[i].optimizer], ++inits[m[i].init], ++fractions[m[i].train_fraction];
    log_lr += std::log10(m[i].lr) / 4000.0;
    drop += m[i].dropout / 4000.0;
  }
  EXPECT_NEAR(log_lr, (std::log10(5e-4) + std::log10(5e-2)) / 2, 0.03);  // log-uniform: mean of the log
  EXPECT_NEAR(drop, 0.35, 0.01);
  EXPECT_EQ(acts.size(), 2u);
  EXPECT_EQ(opts.size(), 3u);
  EXPECT_EQ(inits.size(), 5u);
  EXPECT_EQ(fractions.size(), 4u);
  for (const auto& [v, n] : fractions) EXPECT_NEAR(n, 1000, 120) << v;
  for (const auto& [v, n] : opts) EXPECT_NEAR(n, 1333, 130) << v;
  // Member i does not depend on how many configurations are drawn.
  z.num_configs = 10;
  const auto few = expand_grid(z);
  for (size_t i = 0; i < few.size(); ++i) {
    EXPECT_EQ(few[i].lr, m[i].lr);
    EXPECT_EQ(few[i].activation, m[i].activation);
    EXPECT_EQ(few[i].train_fraction, m[i].train_fraction);
  }
  // Another seed_offset, other draws.
  z.seed_offset = 101;
  EXPECT_NE(expand_grid(z)[0].lr, m[0].lr);
  z.sample = {"lr=log_uniform(5e-4, 5e-2)", "lr=uniform(0.1,0.2)"};
  EXPECT_THROW(expand_grid(z), ConfigError);
}

TEST(ZooSpec, SampleSpecsNameWhatIsWrong) {
  const SampleSpec s = parse_sample_spec(" dropout = uniform( 0 , 0.5 ) ");
  EXPECT_EQ(s.name, "dropout");
  EXPECT_FALSE(s.log);
  EXPECT_DOUBLE_EQ(s.high, 0.5);
  EXPECT_TRUE(parse_sample_spec("lr=log_uniform(1e-4,1e-2)").log);
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"lr=normal(0,1)", "unknown distribution 'normal'"},
      {"momentum=uniform(0,1)", "'momentum' cannot be sampled"},
      {"lr=log_uniform(0,1)", "log_uniform needs positive bounds"},
      {"dropout=uniform(0.5,0.1)", "lower bound exceeds"},
      {"dropout=uniform(0,0.99)", "dropout above 0.95"},
      {"train_fraction=uniform(0,1)", "train_fraction outside (0, 1]"},
      {"lr=uniform(1e-3,x)", "'x' is not a number"},
      {"lr uniform(1,2)", "malformed"},
  };
  for (const auto& [text, want] : bad) {
    try {
      parse_sample_spec(text);
      ADD_FAILURE() << text;
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(want), std::string::npos) << e.what();
    }
  }
}

TEST(ZooSpec, RanksTakeDisjointPopulationsCoveringAll) {
  std::set<size_t> all;
  for (int r = 0; r < 3; ++r)
    for (auto p : populations_of_rank(10, r, 3)) EXPECT_TRUE(all.insert(p).second);
  EXPECT_EQ(all.size(), 10u);
  EXPECT_EQ(populations_of_rank(10, 1, 3), (std::vector<size_t>{1, 4, 7}));
  EXPECT_THROW(populations_of_rank(10, 3, 3), DistributedError);
}

TEST(ZooSpec, KeptEpochs) {
  ZooConfig z;
  z.epochs = 3;
  EXPECT_EQ(kept_epochs(z), (std::vector<int64_t>{0, 1, 2, 3}));
  z.keep_epochs = {3, 0, 3};
  EXPECT_EQ(kept_epochs(z), (std::vector<int64_t>{0, 3}));
  z.keep_epochs = {4};
  EXPECT_THROW(kept_epochs(z), ConfigError);
}

}  // namespace
}  // namespace hyperrep::zoo
