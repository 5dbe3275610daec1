// Permutation pool and augmentations: permuted members compute the same logits on real images
// (CNN-s on Fashion-MNIST, the Tetris MLP on Tetris data), the pool's size and content, noise
// std, erasing of one contiguous block, and views that own their tensors.
#include <gtest/gtest.h>

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <filesystem>
#include <set>

#include "data/augment.h"
#include "data/permutation.h"
#include "tasks/image_data.h"
#include "zoo/architecture.h"

namespace hyperrep::data {
namespace {

const std::vector<std::string> kCnnS = {"conv(1,8,5)", "maxpool(2)", "act",     "conv(8,6,5)",   "maxpool(2)", "act",
                                        "conv(6,4,2)", "act",        "flatten", "linear(36,20)", "act",        "linear(20,10)"};
const std::vector<std::string> kTetris = {"flatten", "linear(16,5,nobias)", "act", "linear(5,4,nobias)"};

// PyTorch's default init scale: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and biases.
torch::Tensor random_member(const zoo::Architecture& arch, uint64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed);
  auto flat = torch::empty({arch.num_params()});
  for (size_t i : arch.param_layers()) {
    const auto& l = arch.layers()[i];
    const double bound = 1.0 / std::sqrt(static_cast<double>(l.fan_in()));
    flat.narrow(0, l.weight_offset, l.param_numel()).uniform_(-bound, bound, gen);
  }
  return flat;
}

void expect_same_logits(const zoo::Architecture& arch, const torch::Tensor& x, int64_t pool_size) {
  PermutationPool pool(arch, pool_size, 11);
  for (const Activation act : {Activation::kTanh, Activation::kRelu}) {
    auto members = torch::stack({random_member(arch, 1), random_member(arch, 2), random_member(arch, 3)});
    auto ids = torch::tensor({int64_t{1}, pool.size() / 2, pool.size() - 1});
    auto permuted = pool.apply(members, ids);
    for (int64_t b = 0; b < 3; ++b) {
      EXPECT_FALSE(torch::equal(permuted[b], members[b])) << "permutation " << ids[b].item<int64_t>() << " changed nothing";
      auto ref = zoo::functional_forward(arch, act, members[b], x);
      auto got = zoo::functional_forward(arch, act, permuted[b], x);
      EXPECT_GT(ref.abs().max().item<float>(), 0.05f);  // the logits are not trivially zero
      EXPECT_LT((ref - got).abs().max().item<float>(), 1e-5f) << enum_name(act) << " member " << b;
      // the multiset of weights is preserved
      EXPECT_TRUE(torch::equal(std::get<0>(permuted[b].sort()), std::get<0>(members[b].sort())));
    }
  }
}

TEST(PermutationPool, CnnSKeepsLogitsOnFashionMnist) {
  if (!std::filesystem::exists(tasks::kFashionMnistDir)) GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  auto task = tasks::load_idx_task(tasks::kFashionMnistDir, 0, 10000, 2000, 42);
  auto arch = zoo::Architecture::parse(kCnnS, {1, 28, 28});
  expect_same_logits(arch, task.test.x, 200);
}

// Strided convolutions and global average pooling: a channel permutation of the last convolution
// permutes the pooled features one to one.
TEST(PermutationPool, SmallCnnZooNetworkKeepsLogits) {
  auto arch = zoo::Architecture::parse(
      {"conv(1,16,3,stride=2)", "act", "conv(16,16,3,stride=2)", "act", "conv(16,16,3,stride=2)", "act", "gap", "linear(16,10)"},
      {1, 28, 28});
  expect_same_logits(arch, torch::rand({64, 1, 28, 28}) * 2 - 1, 200);
}

TEST(PermutationPool, TetrisMlpKeepsLogitsOnTetrisData) {
  auto task = tasks::make_tetris_task(200, 50, 500, 0.1, 42);
  auto arch = zoo::Architecture::parse(kTetris, {1, 4, 4});
  expect_same_logits(arch, task.test.x, 25000);
}

TEST(PermutationPool, TetrisPoolHoldsAll120Permutations) {
  auto arch = zoo::Architecture::parse(kTetris, {1, 4, 4});
  PermutationPool pool(arch, 25000, 0);
  EXPECT_TRUE(pool.exhaustive());
  ASSERT_EQ(pool.size(), 120);
  ASSERT_EQ(pool.layer_permutations().size(), 1u);  // the output layer is never permuted
  const auto& p = pool.layer_permutations()[0];
  std::set<std::vector<int64_t>> distinct;
  for (int64_t i = 0; i < 120; ++i) {
    auto row = p[i].contiguous();
    distinct.insert(std::vector<int64_t>(row.data_ptr<int64_t>(), row.data_ptr<int64_t>() + 5));
  }
  EXPECT_EQ(distinct.size(), 120u);
  auto flat = torch::randn({1, 100});
  EXPECT_TRUE(torch::equal(pool.apply(flat, torch::tensor({int64_t{0}})), flat));  // entry 0 = identity
}

TEST(PermutationPool, PermutesRowsAndFollowingColumnsOfTheMlp) {
  auto arch = zoo::Architecture::parse(kTetris, {1, 4, 4});
  PermutationPool pool(arch, 25000, 0);
  auto flat = torch::arange(100, torch::kFloat32).unsqueeze(0);
  const int64_t id = 77;
  auto perm = pool.layer_permutations()[0][id];
  auto out = pool.apply(flat, torch::tensor({id}));
  auto w1 = flat.narrow(1, 0, 80).view({5, 16}), w2 = flat.narrow(1, 80, 20).view({4, 5});
  EXPECT_TRUE(torch::equal(out.narrow(1, 0, 80).view({5, 16}), w1.index_select(0, perm)));
  EXPECT_TRUE(torch::equal(out.narrow(1, 80, 20).view({4, 5}), w2.index_select(1, perm)));
}

TEST(PermutationPool, LargePoolsAreSeededRandomDraws) {
  auto arch = zoo::Architecture::parse(kCnnS, {1, 28, 28});
  PermutationPool a(arch, 300, 5), b(arch, 300, 5), c(arch, 300, 6);
  EXPECT_FALSE(a.exhaustive());
  EXPECT_EQ(a.size(), 300);
  ASSERT_EQ(a.layer_permutations().size(), 4u);
  EXPECT_EQ(a.layer_permutations()[3].sizes(), (std::vector<int64_t>{300, 20}));
  for (size_t l = 0; l < 4; ++l) EXPECT_TRUE(torch::equal(a.layer_permutations()[l], b.layer_permutations()[l]));
  EXPECT_FALSE(torch::equal(a.layer_permutations()[3], c.layer_permutations()[3]));
  // each row is a permutation
  auto sorted = std::get<0>(a.layer_permutations()[1].sort(1));
  EXPECT_TRUE(torch::equal(sorted, torch::arange(6).expand({300, 6})));
}

KeyedDraws rows_keyed(uint64_t seed, int64_t rows, int64_t first_key = 0) {
  return KeyedDraws(seed, 0, torch::arange(first_key, first_key + rows));
}

TEST(Augmenter, NoiseHasTheRequestedStd) {
  auto w = torch::full({200, 1000}, 2.0);
  auto n = Augmenter::add_noise(w, 0.05, rows_keyed(1, 200)) - w;
  EXPECT_NEAR(n.std().item<double>(), 0.05, 0.0005);
  EXPECT_NEAR(n.mean().item<double>(), 0.0, 0.0005);
}

TEST(Augmenter, ErasingZeroesOneContiguousBlock) {
  const int64_t rows = 4000, l = 1000;
  auto out = Augmenter::erase(torch::ones({rows, l}), 0.5, 0.02, 0.33, rows_keyed(2, rows));
  auto zero = out.eq(0);
  int64_t erased = 0;
  double total_len = 0;
  for (int64_t r = 0; r < rows; ++r) {
    auto idx = zero[r].nonzero().squeeze(1);
    if (idx.numel() == 0) continue;
    ++erased;
    const int64_t first = idx[0].item<int64_t>(), last = idx[-1].item<int64_t>();
    ASSERT_EQ(last - first + 1, idx.numel()) << "row " << r << " is not one block";
    ASSERT_GE(idx.numel(), 20);   // floor(0.02 * 1000)
    ASSERT_LE(idx.numel(), 330);  // floor(0.33 * 1000)
    total_len += idx.numel();
  }
  // Binomial(4000, 0.5): sd 32; mean length of U(20, 330) = 175 (sd of the mean ~1.4)
  EXPECT_NEAR(erased, 2000, 130);
  EXPECT_NEAR(total_len / erased, 175, 8);
}

TEST(Augmenter, ViewsOwnTheirTensors) {
  AugmentConfig cfg;
  cfg.permutation = false;
  cfg.erase_p = 0;
  Augmenter aug(cfg, nullptr);
  auto w = torch::randn({4, 100});
  auto a = aug.view(w, rows_keyed(3, 4)), b = aug.view(w, rows_keyed(3, 4, 4));
  EXPECT_TRUE(torch::equal(a, w));
  EXPECT_NE(a.data_ptr(), b.data_ptr());
  EXPECT_NE(a.data_ptr(), w.data_ptr());
  a.add_(1);
  EXPECT_TRUE(torch::equal(b, w));
}

TEST(Augmenter, TwoViewsDifferWithThePaperRecipe) {
  auto arch = zoo::Architecture::parse(kTetris, {1, 4, 4});
  AugmentConfig cfg;  // permutation, erase p 0.5, no noise
  auto aug = Augmenter::from_config(cfg, arch, 0);
  ASSERT_NE(aug.pool(), nullptr);
  EXPECT_EQ(aug.pool()->size(), 120);
  auto w = torch::randn({64, 100});
  // The trainer's keys: 2 * row for the first view, 2 * row + 1 for the second.
  auto a = aug.view(w, KeyedDraws(4, 0, torch::arange(64) * 2)), b = aug.view(w, KeyedDraws(4, 0, torch::arange(64) * 2 + 1));
  EXPECT_EQ(a.sizes(), w.sizes());
  int64_t differ = 0;
  for (int64_t i = 0; i < 64; ++i) differ += torch::equal(a[i], b[i]) ? 0 : 1;
  EXPECT_GT(differ, 55);  // equal only when both draw the same permutation and neither erases
}

// The property data-parallel training rests on: a row's view is a function of its key, the seed
// and the step, whatever rows share its batch. Every step is on (permutation, noise, erasing).
TEST(Augmenter, ARowsViewFollowsItsKeyNotItsBatch) {
  auto arch = zoo::Architecture::parse(kTetris, {1, 4, 4});
  AugmentConfig cfg;
  cfg.noise_sigma = 0.01;
  cfg.erase_p = 0.5;
  auto aug = Augmenter::from_config(cfg, arch, 0);
  auto w = torch::randn({12, 100});
  const auto keys = torch::tensor({30, 2, 17, 9, 41, 5, 6, 70, 8, 11, 12, 1}, torch::kInt64);
  const auto whole = aug.view(w, KeyedDraws(9, 3, keys));
  // Any subset of rows, in any order, keyed alike, gives the same rows.
  const auto pick = torch::tensor({7, 0, 4, 10}, torch::kInt64);
  const auto part = aug.view(w.index_select(0, pick), KeyedDraws(9, 3, keys.index_select(0, pick)));
  EXPECT_TRUE(torch::equal(part, whole.index_select(0, pick)));
  // Another step or seed draws another view.
  EXPECT_FALSE(torch::equal(aug.view(w, KeyedDraws(9, 4, keys)), whole));
  EXPECT_FALSE(torch::equal(aug.view(w, KeyedDraws(10, 3, keys)), whole));
}

}  // namespace
}  // namespace hyperrep::data
