// Train state round trips (also before any plateau step, when no best loss exists), the global
// sample order, and the learning-rate schedules against hand-computed values.
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "common/error.h"
#include "train/sampler.h"
#include "train/schedule.h"
#include "train/train_state.h"

namespace hyperrep::train {
namespace {

TEST(TrainState, RoundTripsEveryField) {
  TrainState s;  // defaults: no best loss yet
  s.epoch = 3;
  s.step_in_epoch = 2;
  s.global_step = 17;
  s.lr = 3e-4;
  s.epoch_loss_sum = 1.25;
  s.config_hash = "abc";
  s.world_size = 2;
  s.rng_states = {to_hex(std::string("\x00\x01\xff", 3)), to_hex("zz")};
  auto back = deserialize_state(serialize_state(s), "t");
  EXPECT_EQ(back.epoch, 3);
  EXPECT_EQ(back.step_in_epoch, 2);
  EXPECT_EQ(back.global_step, 17);
  EXPECT_DOUBLE_EQ(back.lr, 3e-4);
  EXPECT_EQ(back.best_metric, s.best_metric);
  EXPECT_EQ(back.rng_states, s.rng_states);
  EXPECT_EQ(from_hex(back.rng_states[0]), std::string("\x00\x01\xff", 3));
  EXPECT_THROW(deserialize_state("not a state", "x"), DataError);
  s.lr = std::nan("");
  EXPECT_THROW(serialize_state(s), DataError);
}

TEST(GlobalSampler, OrderDependsOnSeedAndEpochOnly) {
  GlobalSampler a(23, 5, 9), b(23, 5, 9), c(23, 5, 10);
  EXPECT_EQ(a.batches_per_epoch(), 5);  // 4 full batches + a last one of 3 rows
  std::set<int64_t> seen;
  for (int64_t s = 0; s < 5; ++s) {
    auto batch = a.batch(1, s);
    EXPECT_EQ(batch, b.batch(1, s));
    seen.insert(batch.begin(), batch.end());
  }
  EXPECT_EQ(seen.size(), 23u);  // every row exactly once per epoch
  EXPECT_NE(a.batch(1, 0), a.batch(2, 0));
  EXPECT_NE(a.batch(1, 0), c.batch(1, 0));
  GlobalSampler d(21, 5, 9);
  EXPECT_EQ(d.batches_per_epoch(), 4);  // a last batch of one row is dropped
}

TEST(Schedules, CosineAndPlateau) {
  EXPECT_DOUBLE_EQ(cosine_lr(1.0, 0, 4, 104), 0.25);
  EXPECT_DOUBLE_EQ(cosine_lr(1.0, 3, 4, 104), 1.0);
  EXPECT_NEAR(cosine_lr(1.0, 54, 4, 104), 0.5, 1e-12);
  EXPECT_NEAR(cosine_lr(1.0, 104, 4, 104), 0.0, 1e-12);
  TrainConfig cfg;
  cfg.plateau_patience = 1;
  cfg.plateau_factor = 0.5;
  TrainState s;
  s.lr = 1.0;
  EXPECT_FALSE(plateau_step(cfg, 2.0, s));
  EXPECT_FALSE(plateau_step(cfg, 2.0, s));  // first bad epoch
  EXPECT_TRUE(plateau_step(cfg, 2.0, s));   // second: reduce
  EXPECT_DOUBLE_EQ(s.lr, 0.5);
  EXPECT_FALSE(plateau_step(cfg, 1.0, s));  // improvement resets
  EXPECT_EQ(s.bad_epochs, 0);
}

}  // namespace
}  // namespace hyperrep::train
