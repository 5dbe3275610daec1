// s(W) and W baselines: numpy-compatible percentiles and per-layer statistics by hand.
#include <gtest/gtest.h>

#include "common/error.h"
#include "probe/weight_statistics.h"

namespace hyperrep::probe {
namespace {

void expect_row(const torch::Tensor& row, std::vector<double> expected, double tol = 1e-12) {
  ASSERT_EQ(row.numel(), static_cast<int64_t>(expected.size()));
  for (size_t i = 0; i < expected.size(); ++i) EXPECT_NEAR(row[i].item<double>(), expected[i], tol) << "column " << i;
}

TEST(RowPercentiles, NumpyLinearInterpolation) {
  // numpy.percentile([1, 2, 3, 4, 5], [1, 25, 50, 75, 99]) = [1.04, 2, 3, 4, 4.96]
  auto p = row_percentiles(torch::tensor({{1.0, 2.0, 3.0, 4.0, 5.0}}), {1, 25, 50, 75, 99});
  expect_row(p[0], {1.04, 2, 3, 4, 4.96});
  // Unsorted, even length: sorted [0, 2, 5, 10], positions 0.03, 0.75, 1.5, 2.25, 2.97.
  p = row_percentiles(torch::tensor({{10.0, 0.0, 5.0, 2.0}, {1.0, 1.0, 1.0, 1.0}}), {1, 25, 50, 75, 99});
  expect_row(p[0], {0.06, 1.5, 3.5, 6.25, 9.85});
  expect_row(p[1], {1, 1, 1, 1, 1});
  expect_row(row_percentiles(torch::tensor({{3.0}}), {0, 50, 100})[0], {3, 3, 3});
  expect_row(row_percentiles(torch::tensor({{4.0, -1.0, 2.0}}), {0, 100})[0], {-1, 4});
  EXPECT_THROW(row_percentiles(torch::zeros({2, 3}), {101}), DataError);
}

TEST(WeightStatistics, TetrisMlpLayersByHand) {
  auto arch = zoo::Architecture::parse({"flatten", "linear(16,5,nobias)", "act", "linear(5,4,nobias)"}, {1, 4, 4});
  WeightStatistics s(arch);
  ASSERT_EQ(s.num_features(), 14);
  auto names = s.feature_names();
  EXPECT_EQ(names[0], "layer0.mean");
  EXPECT_EQ(names[8], "layer1.var");
  EXPECT_EQ(names[13], "layer1.p99");
  auto flat = torch::arange(100, torch::kFloat32).unsqueeze(0);
  auto f = s.compute(torch::cat({flat, -flat}, 0));
  EXPECT_EQ(f.scalar_type(), torch::kFloat64);
  // Layer 0 holds 0..79: mean 39.5, population variance (80² - 1) / 12, percentile p at 0.79·p.
  expect_row(f[0].narrow(0, 0, 7), {39.5, 533.25, 0.79, 19.75, 39.5, 59.25, 78.21}, 1e-10);
  // Layer 1 holds 80..99: variance (20² - 1) / 12, positions 0.19·p.
  expect_row(f[0].narrow(0, 7, 7), {89.5, 33.25, 80.19, 84.75, 89.5, 94.25, 98.81}, 1e-10);
  expect_row(f[1].narrow(0, 7, 7), {-89.5, 33.25, -98.81, -94.25, -89.5, -84.75, -80.19}, 1e-10);
}

TEST(WeightStatistics, BiasesOnlyWhenAsked) {
  auto arch = zoo::Architecture::parse({"linear(3,2)", "act", "linear(2,1)"}, {3});
  // Blocks: w0 = 1..6, b0 = (100, 100), w1 = (7, 8), b1 = 100.
  auto flat = torch::tensor({{1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 100.0, 100.0, 7.0, 8.0, 100.0}});
  auto weights_only = WeightStatistics(arch).compute(flat);
  expect_row(weights_only[0], {3.5, 35.0 / 12.0, 1.05, 2.25, 3.5, 4.75, 5.95, 7.5, 0.25, 7.01, 7.25, 7.5, 7.75, 7.99});
  auto with_bias = WeightStatistics(arch, true).compute(flat);
  EXPECT_NEAR(with_bias[0][0].item<double>(), 221.0 / 8.0, 1e-12);
  EXPECT_NEAR(with_bias[0][7].item<double>(), 115.0 / 3.0, 1e-12);
  EXPECT_NEAR(with_bias[0][13].item<double>(), 100.0 - 0.02 * 92.0, 1e-9);  // p99 of (7, 8, 100): 8 + 92·0.98
}

TEST(WeightStatistics, BatchedOverChunksEqualsRowByRow) {
  auto arch = zoo::Architecture::parse({"linear(3,2)", "act", "linear(2,1)"}, {3});
  torch::manual_seed(1);
  auto flat = torch::randn({5000, arch.num_params()});  // more rows than one chunk
  WeightStatistics s(arch);
  auto all = s.compute(flat);
  for (int64_t i : {0L, 4095L, 4096L, 4999L}) {
    EXPECT_TRUE(torch::allclose(all[i], s.compute(flat.narrow(0, i, 1))[0], 1e-14, 1e-14)) << "row " << i;
  }
  EXPECT_THROW(s.compute(torch::zeros({2, 10})), DataError);
}

TEST(WeightStatistics, RawWeightsAreTheIdentity) {
  auto flat = torch::randn({3, 11});
  EXPECT_TRUE(torch::equal(raw_weight_features(flat), flat));
  EXPECT_THROW(raw_weight_features(torch::zeros({3})), DataError);
}

}  // namespace
}  // namespace hyperrep::probe
