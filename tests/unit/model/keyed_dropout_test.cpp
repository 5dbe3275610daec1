// Keyed dropout: a mask is a function of (seed, step, sample, call, element) alone, so a row
// drops the same elements whatever batch, position or thread count it is computed in, and a
// model forward split over two "ranks" equals the forward of the whole batch.
#include <gtest/gtest.h>

#include "model/autoencoder.h"
#include "model/keyed_dropout.h"
#include "zoo/architecture.h"

namespace hyperrep::model {
namespace {

TEST(KeyedDropout, MaskOfARowIgnoresItsBatchAndPosition) {
  const auto alone = keyed_keep_mask(7, 3, {42}, 0, {1, 5, 64}, 0.1);
  const auto batch = keyed_keep_mask(7, 3, {9, 8, 42, 1}, 0, {4, 5, 64}, 0.1);
  EXPECT_TRUE(torch::equal(alone[0], batch[2]));
  EXPECT_FALSE(torch::equal(batch[0], batch[1]));
  // Every key part matters: seed, step, call.
  EXPECT_FALSE(torch::equal(alone, keyed_keep_mask(8, 3, {42}, 0, {1, 5, 64}, 0.1)));
  EXPECT_FALSE(torch::equal(alone, keyed_keep_mask(7, 4, {42}, 0, {1, 5, 64}, 0.1)));
  EXPECT_FALSE(torch::equal(alone, keyed_keep_mask(7, 3, {42}, 1, {1, 5, 64}, 0.1)));
  const auto values = std::get<0>(at::_unique(alone));
  EXPECT_TRUE(torch::allclose(values, torch::tensor({0.0f, 1.0f / 0.9f})));
}

TEST(KeyedDropout, KeepsOneMinusPAndIgnoresThreads) {
  std::vector<int64_t> rows(1000);
  for (int64_t i = 0; i < 1000; ++i) rows[i] = 3 * i + 1;
  const int before = at::get_num_threads();
  at::set_num_threads(1);
  const auto one = keyed_keep_mask(1, 2, rows, 5, {1000, 1000}, 0.25);
  at::set_num_threads(2);
  const auto two = keyed_keep_mask(1, 2, rows, 5, {1000, 1000}, 0.25);
  at::set_num_threads(before);
  EXPECT_TRUE(torch::equal(one, two));
  const double kept = (one > 0).to(torch::kFloat64).mean().item<double>();
  EXPECT_NEAR(kept, 0.75, 0.002);  // 1e6 draws: 4 standard deviations is 0.0017
}

TEST(KeyedDropout, ModelForwardSplitOverRanksEqualsTheWholeBatch) {
  const auto arch = zoo::Architecture::parse({"flatten", "linear(16,5,nobias)", "act", "linear(5,4,nobias)"}, {1, 4, 4});
  AutoencoderOptions opt;
  opt.d_model = 32, opt.heads = 2, opt.blocks = 2, opt.d_ff = 48, opt.latent = 8, opt.dropout = 0.3;
  torch::manual_seed(0);
  NeuronAutoencoder ae(arch, opt);
  ae.train();
  const auto w = torch::randn({6, 100});
  const auto keys = torch::arange(6, torch::kInt64) * 2 + 100;
  auto run = [&](const torch::Tensor& rows, const torch::Tensor& k) {
    const KeyedDraws draws(11, 4, k);
    const DropoutKeys scope(draws);
    return ae.decode(ae.encode(rows));
  };
  const auto whole = run(w, keys);
  const auto split = torch::cat({run(w.narrow(0, 0, 4), keys.narrow(0, 0, 4)), run(w.narrow(0, 4, 2), keys.narrow(0, 4, 2))});
  EXPECT_TRUE(torch::allclose(whole, split, 1e-5, 1e-6)) << (whole - split).abs().max().item<double>();
  // Dropout is on: the same rows under other keys, and in eval mode, give other outputs.
  EXPECT_FALSE(torch::allclose(whole, run(w, keys + 1), 1e-3, 1e-4));
  ae.eval();
  EXPECT_FALSE(torch::allclose(whole, ae.decode(ae.encode(w)), 1e-3, 1e-4));
}

}  // namespace
}  // namespace hyperrep::model
