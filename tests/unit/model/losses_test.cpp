// Losses with hand-worked values: reconstruction (plain, layer-wise normalised with the
// variance floor, masked), NT-Xent in closed form, its rank-slice contract, and γ mixing.
#include <gtest/gtest.h>

#include <cmath>

#include "common/error.h"
#include "model/losses.h"

namespace hyperrep::model {
namespace {

TEST(ReconstructionLoss, PlainLayerNormalisedAndMasked) {
  auto recon = torch::tensor({1.0, 2.0, 3.0, 4.0}, torch::kFloat64).view({2, 2});
  auto target = torch::zeros({2, 2}, torch::kFloat64);
  auto layer = torch::tensor({int64_t{0}, int64_t{1}});
  // squared errors [[1, 4], [9, 16]]
  EXPECT_DOUBLE_EQ(reconstruction_loss(recon, target, {}, layer, {}, 1e-4).item<double>(), 7.5);
  // variances 4 and 5e-5 (floored to 1e-4): weights 1/4 and 1e4
  auto var = torch::tensor({4.0, 5e-5}, torch::kFloat64);
  EXPECT_NEAR(reconstruction_loss(recon, target, {}, layer, var, 1e-4).item<double>(), (0.25 + 4e4 + 2.25 + 16e4) / 4, 1e-7);
  auto mask = torch::tensor({true, false, true, true}).view({2, 2});
  EXPECT_NEAR(reconstruction_loss(recon, target, mask, layer, {}, 1e-4).item<double>(), 26.0 / 3, 1e-12);
  EXPECT_NEAR(reconstruction_loss(recon, target, mask, layer, var, 1e-4).item<double>(), (0.25 + 2.25 + 16e4) / 3, 1e-7);
}

TEST(NtXent, TwoViewsOfOneSampleHaveZeroLoss) {
  // The only other view is the positive, so each anchor's softmax is 1.
  auto a = torch::tensor({{1.0, 2.0}}, torch::kFloat64), b = torch::tensor({{-3.0, 0.5}}, torch::kFloat64);
  EXPECT_NEAR(nt_xent(a, b, 0.1).item<double>(), 0.0, 1e-12);
}

TEST(NtXent, ClosedFormWithKnownCosines) {
  // a1 || b1 (cos 1); a2 = -b2 (cos -1); every cross pair orthogonal (cos 0). Norms vary.
  auto a = torch::tensor({{2.0, 0.0}, {0.0, 3.0}}, torch::kFloat64);
  auto b = torch::tensor({{1.0, 0.0}, {0.0, -1.0}}, torch::kFloat64);
  const double t = 0.5;
  // anchors a1, b1: -log(e^{1/t} / (e^{1/t} + 2)) = log(1 + 2 e^{-1/t});
  // anchors a2, b2: -log(e^{-1/t} / (e^{-1/t} + 2)) = log(1 + 2 e^{1/t}).
  const double expected = (2 * std::log(1 + 2 * std::exp(-1 / t)) + 2 * std::log(1 + 2 * std::exp(1 / t))) / 4;
  EXPECT_NEAR(nt_xent(a, b, t).item<double>(), expected, 1e-12);
  EXPECT_NEAR(expected, 1.4990842210, 1e-9);  // evaluated separately in Python
}

TEST(NtXent, MatchesTheDefinitionOnRandomViews) {
  torch::manual_seed(0);
  auto a = torch::randn({5, 3}, torch::kFloat64), b = torch::randn({5, 3}, torch::kFloat64);
  const double t = 0.2;
  auto v = torch::cat({a, b});
  double total = 0;
  for (int64_t i = 0; i < 10; ++i) {
    const int64_t twin = (i + 5) % 10;
    double denom = 0, pos = 0;
    for (int64_t k = 0; k < 10; ++k) {
      if (k == i) continue;
      const double cos = (v[i] * v[k]).sum().item<double>() / (v[i].norm().item<double>() * v[k].norm().item<double>());
      denom += std::exp(cos / t);
      if (k == twin) pos = std::exp(cos / t);
    }
    total += -std::log(pos / denom);
  }
  EXPECT_NEAR(nt_xent(a, b, t).item<double>(), total / 10, 1e-10);
}

TEST(NtXent, RankSlicesSumToTheGlobalLossAndGradient) {
  torch::manual_seed(1);
  auto a = torch::randn({6, 4}, torch::kFloat64).requires_grad_(), b = torch::randn({6, 4}, torch::kFloat64).requires_grad_();
  auto full = nt_xent(a, b, 0.1);
  auto ga = torch::autograd::grad({full}, {a, b});
  // three "ranks" of two samples each
  torch::Tensor sum = torch::zeros({}, torch::kFloat64), sa = torch::zeros_like(a), sb = torch::zeros_like(b);
  for (int64_t r = 0; r < 3; ++r) {
    auto part = nt_xent(a, b, 0.1, {2 * r, 2});
    auto g = torch::autograd::grad({part}, {a, b});
    sum += part.detach();
    sa += g[0], sb += g[1];
  }
  EXPECT_NEAR(sum.item<double>(), full.item<double>(), 1e-12);
  EXPECT_TRUE(torch::allclose(sa, ga[0], 1e-10, 1e-12));
  EXPECT_TRUE(torch::allclose(sb, ga[1], 1e-10, 1e-12));
  EXPECT_THROW(nt_xent(a, b, 0.1, {5, 2}), InternalError);
}

TEST(MixLosses, GammaSelectsTheModel) {
  auto c = torch::tensor(2.0), r = torch::tensor(10.0);
  EXPECT_DOUBLE_EQ(mix_losses(0.0, {}, r).item<double>(), 10.0);  // E_D
  EXPECT_DOUBLE_EQ(mix_losses(1.0, c, {}).item<double>(), 2.0);   // E_C
  EXPECT_NEAR(mix_losses(0.1, c, r).item<double>(), 0.1 * 2 + 0.9 * 10, 1e-6);
  EXPECT_THROW(mix_losses(1.5, c, r), ConfigError);
}

}  // namespace
}  // namespace hyperrep::model
