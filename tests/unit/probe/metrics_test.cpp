// Metrics against hand-computed values and, for Kendall's tau-b, against the O(n²) definition.
#include <gtest/gtest.h>

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>

#include "common/error.h"
#include "probe/metrics.h"

namespace hyperrep::probe {
namespace {

torch::Tensor vec(std::vector<double> v) { return torch::tensor(v, torch::kFloat64); }

// tau-b by its definition: Σ sign(dx)·sign(dy) / sqrt((n0 - n1)(n0 - n2)).
double tau_b_pairs(const torch::Tensor& x, const torch::Tensor& y) {
  auto a = x.accessor<double, 1>();
  auto b = y.accessor<double, 1>();
  const int64_t n = x.size(0);
  double s = 0, tx = 0, ty = 0, n0 = n * (n - 1) / 2.0;
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = i + 1; j < n; ++j) {
      const double dx = a[j] - a[i], dy = b[j] - b[i];
      s += (dx > 0 ? 1 : dx < 0 ? -1 : 0) * (dy > 0 ? 1 : dy < 0 ? -1 : 0);
      tx += dx == 0;
      ty += dy == 0;
    }
  }
  return s / std::sqrt((n0 - tx) * (n0 - ty));
}

TEST(KendallTau, HandComputedValues) {
  // Pairs (0,1) and (0,2) concordant, (1,2) discordant: (2 - 1) / 3.
  EXPECT_NEAR(kendall_tau(vec({1, 2, 3}), vec({1, 3, 2})), 1.0 / 3.0, 1e-15);
  // 4 concordant pairs, one tie in x, one in y: 4 / sqrt(5·5).
  EXPECT_NEAR(kendall_tau(vec({1, 2, 2, 3}), vec({1, 2, 3, 3})), 0.8, 1e-15);
  // scipy's documented example: C = 2, D = 6, ties in x 2, in y 1 (one of them joint):
  // -4 / sqrt(8·9).
  EXPECT_NEAR(kendall_tau(vec({12, 2, 1, 12, 2}), vec({1, 4, 7, 1, 0})), -4.0 / std::sqrt(72.0), 1e-15);
  EXPECT_NEAR(kendall_tau(vec({12, 2, 1, 12, 2}), vec({1, 4, 7, 1, 0})), -0.47140452079103173, 1e-15);
  EXPECT_DOUBLE_EQ(kendall_tau(vec({1, 2, 3, 4}), vec({10, 20, 30, 40})), 1.0);
  EXPECT_DOUBLE_EQ(kendall_tau(vec({1, 2, 3, 4}), vec({4, 3, 2, 1})), -1.0);
  EXPECT_TRUE(std::isnan(kendall_tau(vec({1, 2, 3}), vec({5, 5, 5}))));
  EXPECT_TRUE(std::isnan(kendall_tau(vec({1}), vec({2}))));
}

TEST(KendallTau, MatchesThePairDefinitionWithManyTies) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(7);
  for (int trial = 0; trial < 3; ++trial) {
    auto x = torch::randint(0, 5, {300}, gen, torch::kFloat64);
    auto y = (x + torch::randint(0, 4, {300}, gen, torch::kFloat64)).floor_divide(2);
    EXPECT_NEAR(kendall_tau(x, y), tau_b_pairs(x, y), 1e-13);
    auto z = torch::randn({257}, gen, torch::kFloat64);
    auto w = torch::randn({257}, gen, torch::kFloat64) + z;
    EXPECT_NEAR(kendall_tau(z, w), tau_b_pairs(z, w), 1e-13);
  }
  EXPECT_THROW(kendall_tau(vec({1, 2}), vec({1, 2, 3})), DataError);
}

TEST(Metrics, R2AndAccuracyByHand) {
  // SSE 1, SST 5 around the mean 2.5.
  EXPECT_NEAR(r2_score(vec({1, 2, 3, 5}), vec({1, 2, 3, 4})), 0.8, 1e-15);
  // Predicting the mean gives 0; predicting worse than the mean goes negative: SSE 20, SST 5.
  EXPECT_NEAR(r2_score(vec({2.5, 2.5, 2.5, 2.5}), vec({1, 2, 3, 4})), 0.0, 1e-15);
  EXPECT_NEAR(r2_score(vec({4, 3, 2, 1}), vec({1, 2, 3, 4})), -3.0, 1e-15);
  EXPECT_TRUE(std::isnan(r2_score(vec({1, 2}), vec({3, 3}))));
  EXPECT_DOUBLE_EQ(accuracy(torch::tensor({0, 1, 2, 1}), torch::tensor({0, 1, 1, 1})), 0.75);
  EXPECT_THROW(accuracy(torch::tensor({0, 1}), torch::tensor({0})), DataError);
}

}  // namespace
}  // namespace hyperrep::probe
