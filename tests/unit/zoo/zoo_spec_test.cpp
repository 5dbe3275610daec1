// The [zoo] grid: canonical member order, populations by structure, rank assignment, kept epochs.
#include <gtest/gtest.h>

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
  // 8 structures (activation x dropout x optimizer) of 24 members each -> 3 populations each.
  EXPECT_EQ(pops.size(), 8u * 3);
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
  EXPECT_EQ(pops[2].size(), 4u);
  // A seed-only grid fills populations in order.
  ZooConfig z;
  z.num_seeds = 1000;
  auto seed_pops = group_populations(expand_grid(z), 128);
  ASSERT_EQ(seed_pops.size(), 8u);
  EXPECT_EQ(seed_pops[7].size(), 1000u - 7 * 128);
  EXPECT_EQ(seed_pops[7].front(), 7 * 128);
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
