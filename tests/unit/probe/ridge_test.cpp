// Ridge probe: the factorised solve against a direct solve with an explicit, unpenalised bias
// column; λ selection against a brute-force loop over the grid; sufficient statistics split
// over shards; R² on exactly linear targets and on noise.
#include <gtest/gtest.h>

#include <ATen/CPUGeneratorImpl.h>

#include "common/error.h"
#include "probe/metrics.h"
#include "probe/ridge_probe.h"

namespace hyperrep::probe {
namespace {

const std::vector<double> kGrid = {1e3, 3e2, 1e2, 3e1, 1e1, 3, 1, 3e-1, 1e-1, 3e-2, 1e-2, 3e-3, 1e-3, 3e-4, 1e-4, 3e-5, 1e-5};

torch::Tensor randn(std::vector<int64_t> sizes, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  return torch::randn(sizes, gen, torch::kFloat64);
}

// Features with very different scales and offsets, as raw weights or statistics have.
torch::Tensor features(int64_t n, int64_t d, uint64_t seed) {
  auto scales = torch::logspace(-2, 2, d, 10.0, torch::kFloat64);
  return randn({n, d}, seed) * scales + torch::linspace(-3, 3, d, torch::kFloat64);
}

RidgeStats stats(const torch::Tensor& x, const torch::Tensor& y) {
  RidgeStats s(x.size(1), y.dim() == 1 ? 1 : y.size(1));
  s.accumulate(x, y);
  return s;
}

// argmin ||y - [X 1] w||² + λ Σ_{j<d} w_j²: the bias column is not penalised.
std::pair<torch::Tensor, torch::Tensor> direct_solve(const torch::Tensor& x, const torch::Tensor& y, double lambda) {
  const int64_t d = x.size(1);
  auto a = torch::cat({x, torch::ones({x.size(0), 1}, torch::kFloat64)}, 1);
  auto penalty = torch::eye(d + 1, torch::kFloat64) * lambda;
  penalty[d][d] = 0.0;
  auto w = torch::linalg_solve(torch::mm(a.t(), a) + penalty, torch::mm(a.t(), y));
  return {w.narrow(0, 0, d), w[d]};
}

TEST(RidgeSolver, RawFeaturesMatchTheDirectSolveForEveryLambda) {
  auto x = features(120, 7, 1);
  auto y = torch::cat({torch::mm(x, randn({7, 1}, 2)) + randn({120, 1}, 3), randn({120, 1}, 4) + 10.0}, 1);
  RidgeSolver solver(stats(x, y), /*standardize=*/false);
  for (double lambda : {1e-5, 1e-2, 1.0, 30.0, 1e3}) {
    SCOPED_TRACE(lambda);
    auto [coef, intercept] = solver.solve(lambda);
    auto [w, b] = direct_solve(x, y, lambda);
    EXPECT_TRUE(torch::allclose(coef, w, 1e-8, 1e-10)) << coef << w;
    EXPECT_TRUE(torch::allclose(intercept, b, 1e-8, 1e-10)) << intercept << b;
  }
}

TEST(RidgeSolver, StandardizedEqualsTheDirectSolveOnZScoredFeatures) {
  auto x = features(90, 5, 5);
  auto y = torch::mm(x, randn({5, 1}, 6)) + randn({90, 1}, 7);
  auto mu = x.mean(0);
  auto sd = x.std(0, /*unbiased=*/false);
  RidgeSolver solver(stats(x, y), /*standardize=*/true);
  for (double lambda : {1e-3, 3.0, 300.0}) {
    SCOPED_TRACE(lambda);
    auto [w, b] = direct_solve((x - mu) / sd, y, lambda);
    auto [coef, intercept] = solver.solve(lambda);
    EXPECT_TRUE(torch::allclose(coef, w / sd.unsqueeze(1), 1e-8, 1e-12));
    EXPECT_TRUE(torch::allclose(intercept, b - torch::mv(w.t(), mu / sd), 1e-8, 1e-10));
  }
  // A large λ on z-scored features shrinks every feature alike; on raw features it would
  // leave the large-scale column almost untouched: the two must differ.
  auto raw = RidgeSolver(stats(x, y), false).solve(300.0).first;
  EXPECT_FALSE(torch::allclose(raw, solver.solve(300.0).first, 1e-3, 1e-6));
}

TEST(RidgeSolver, ConstantFeatureGetsZeroCoefficientWhenStandardized) {
  auto x = features(60, 3, 8);
  auto y = torch::mv(x, torch::tensor({1.0, -2.0, 0.5}, torch::kFloat64)) + randn({60}, 9) * 0.1;
  auto with_const = torch::cat({x, torch::full({60, 1}, 4.25, torch::kFloat64)}, 1);
  auto [c3, b3] = RidgeSolver(stats(x, y), true).solve(0.1);
  auto [c4, b4] = RidgeSolver(stats(with_const, y), true).solve(0.1);
  EXPECT_DOUBLE_EQ(c4[3][0].item<double>(), 0.0);
  EXPECT_TRUE(torch::allclose(c4.narrow(0, 0, 3), c3, 1e-9, 1e-12));
  EXPECT_NEAR(b4[0].item<double>(), b3[0].item<double>(), 1e-9);
}

TEST(RidgeProbe, ExactlyLinearTargetHasTestR2OfOne) {
  auto w = torch::tensor({{0.5}, {-1.0}, {2.0}, {0.0}, {3.0}}, torch::kFloat64);
  auto make = [&](uint64_t seed, int64_t n) {
    auto x = randn({n, 5}, seed);
    return std::make_pair(x, torch::mm(x, w) + 3.0);
  };
  auto [xt, yt] = make(10, 80);
  auto [xv, yv] = make(11, 40);
  auto [xs, ys] = make(12, 40);
  RidgeProbe probe(false);
  const auto& r = probe.fit(stats(xt, yt), stats(xv, yv), kGrid);
  EXPECT_EQ(r.best_lambda[0], 1e-5);  // every penalty only adds bias
  EXPECT_GT(probe.evaluate(stats(xs, ys)).r2[0].item<double>(), 1.0 - 1e-9);
  EXPECT_TRUE(torch::allclose(r.coefficients, w, 1e-5, 1e-6));
  EXPECT_NEAR(r.intercept[0].item<double>(), 3.0, 1e-6);
}

TEST(RidgeProbe, NoiseTargetHasTestR2AtMostAboutZero) {
  auto xt = randn({100, 8}, 20), xv = randn({50, 8}, 21), xs = randn({200, 8}, 22);
  auto yt = randn({100}, 23), yv = randn({50}, 24), ys = randn({200}, 25);
  RidgeProbe probe(true);
  probe.fit(stats(xt, yt), stats(xv, yv), kGrid);
  const double r2 = probe.evaluate(stats(xs, ys)).r2[0].item<double>();
  EXPECT_LT(r2, 0.02);
  EXPECT_GT(r2, -0.3);
}

TEST(RidgeProbe, LambdaSelectionEqualsBruteForceOverTheGrid) {
  // Few rows, many features, a noisy target: the best λ is inside the grid.
  const int64_t d = 25;
  auto w = randn({d, 2}, 30) * 0.3;
  auto make = [&](uint64_t seed, int64_t n) {
    auto x = features(n, d, seed);
    return std::make_pair(x, torch::mm(x / torch::logspace(-2, 2, d, 10.0, torch::kFloat64), w) + randn({n, 2}, seed + 100));
  };
  auto [xt, yt] = make(31, 40);
  auto [xv, yv] = make(32, 60);
  for (bool standardize : {false, true}) {
    SCOPED_TRACE(standardize);
    RidgeProbe probe(standardize);
    const auto& r = probe.fit(stats(xt, yt), stats(xv, yv), kGrid);
    auto mu = xt.mean(0);
    auto sd = standardize ? xt.std(0, false) : torch::ones({d}, torch::kFloat64);
    for (int64_t t = 0; t < 2; ++t) {
      int64_t best = -1;
      double best_r2 = -1e300;
      for (size_t i = 0; i < kGrid.size(); ++i) {
        auto [wz, b] = direct_solve((xt - mu) / sd, yt.select(1, t).unsqueeze(1), kGrid[i]);
        auto pred = torch::mm((xv - mu) / sd, wz).squeeze(1) + b;
        const double r2 = r2_score(pred, yv.select(1, t));
        EXPECT_NEAR(r.val_r2[i][t].item<double>(), r2, 1e-6) << "lambda " << kGrid[i];  // raw columns span 1e4 in scale
        if (r2 > best_r2) best_r2 = r2, best = static_cast<int64_t>(i);
      }
      EXPECT_EQ(r.best_index[t], best);
      EXPECT_GT(best, 0);  // the data were chosen so that the best λ is interior
      EXPECT_LT(best, static_cast<int64_t>(kGrid.size()) - 1);
      EXPECT_NEAR(r.best_val_r2(t), best_r2, 1e-6);
    }
  }
}

TEST(RidgeProbe, MultiTargetEqualsOneFitPerTarget) {
  auto xt = features(70, 6, 40), xv = features(30, 6, 41);
  auto yt = torch::cat({torch::mm(xt, randn({6, 1}, 42)) + randn({70, 1}, 43) * 5, randn({70, 1}, 44)}, 1);
  auto yv = torch::cat({torch::mm(xv, randn({6, 1}, 42)) + randn({30, 1}, 45) * 5, randn({30, 1}, 46)}, 1);
  RidgeProbe joint(true);
  const auto& r = joint.fit(stats(xt, yt), stats(xv, yv), kGrid);
  for (int64_t t = 0; t < 2; ++t) {
    RidgeProbe single(true);
    const auto& s = single.fit(stats(xt, yt.select(1, t)), stats(xv, yv.select(1, t)), kGrid);
    EXPECT_EQ(s.best_index[0], r.best_index[t]);
    EXPECT_TRUE(torch::allclose(s.coefficients.squeeze(1), r.coefficients.select(1, t), 1e-10, 1e-12));
    EXPECT_TRUE(torch::allclose(s.val_r2.squeeze(1), r.val_r2.select(1, t), 1e-10, 1e-12));
  }
}

TEST(RidgeStats, ShardsSummedEqualTheSinglePass) {
  auto x = features(101, 9, 50);
  auto y = torch::cat({torch::mm(x, randn({9, 1}, 51)), randn({101, 1}, 52)}, 1);
  RidgeStats whole = stats(x, y);
  RidgeStats a(9, 2), b(9, 2);
  a.accumulate(x.narrow(0, 0, 37), y.narrow(0, 0, 37));
  b.accumulate(x.narrow(0, 37, 64), y.narrow(0, 37, 64));
  b.accumulate(x.narrow(0, 0, 0), y.narrow(0, 0, 0));  // an empty shard changes nothing
  RidgeStats sum = a;
  sum += b;
  EXPECT_EQ(sum.count(), 101.0);
  EXPECT_EQ(a.count(), 37.0);  // copies are deep
  EXPECT_TRUE(torch::allclose(sum.xtx(), whole.xtx(), 1e-12, 1e-9));
  EXPECT_TRUE(torch::allclose(sum.xty(), whole.xty(), 1e-12, 1e-9));
  auto xv = features(40, 9, 53), yv = torch::cat({torch::mm(xv, randn({9, 1}, 51)), randn({40, 1}, 54)}, 1);
  RidgeProbe p1(true), p2(true);
  const auto& r1 = p1.fit(whole, stats(xv, yv), kGrid);
  const auto& r2 = p2.fit(sum, stats(xv, yv), kGrid);
  EXPECT_EQ(r1.best_index, r2.best_index);
  EXPECT_TRUE(torch::allclose(r1.coefficients, r2.coefficients, 1e-9, 1e-12));
  EXPECT_TRUE(torch::allclose(r1.val_r2, r2.val_r2, 1e-9, 1e-12));
  // Centred moments against their definitions.
  auto xc = x - x.mean(0);
  EXPECT_TRUE(torch::allclose(sum.centred_xtx(), torch::mm(xc.t(), xc), 1e-10, 1e-8));
  EXPECT_TRUE(torch::allclose(sum.centred_yy(), (y - y.mean(0)).square().sum(0), 1e-10, 1e-8));
}

TEST(RidgeProbe, EvaluateFromStatisticsEqualsEvaluateOnRows) {
  auto xt = features(80, 4, 60), xv = features(30, 4, 61), xs = features(50, 4, 62);
  auto w = randn({4, 1}, 63);
  auto yt = torch::mm(xt, w) + randn({80, 1}, 64), yv = torch::mm(xv, w) + randn({30, 1}, 65);
  auto ys = torch::mm(xs, w) * 0.5 + randn({50, 1}, 66) + 7.0;  // shifted: R² with the test mean
  RidgeProbe probe(true);
  probe.fit(stats(xt, yt), stats(xv, yv), kGrid);
  auto from_stats = probe.evaluate(stats(xs, ys));
  auto from_rows = probe.evaluate(xs, ys);
  EXPECT_NEAR(from_stats.r2[0].item<double>(), from_rows.r2[0].item<double>(), 1e-9);
  EXPECT_NEAR(from_stats.mse[0].item<double>(), from_rows.mse[0].item<double>(), 1e-9);
  auto pred = probe.predict(xs).squeeze(1);
  EXPECT_NEAR(from_rows.r2[0].item<double>(), r2_score(pred, ys.squeeze(1)), 1e-12);
  EXPECT_NEAR(from_rows.mse[0].item<double>(), (pred - ys.squeeze(1)).square().mean().item<double>(), 1e-12);
}

TEST(RidgeProbe, RejectsBadInput) {
  RidgeStats s(3, 1);
  EXPECT_THROW(s.accumulate(torch::zeros({4, 2}, torch::kFloat64), torch::zeros({4})), DataError);
  EXPECT_THROW(s.accumulate(torch::zeros({4, 3}, torch::kFloat64), torch::zeros({5})), DataError);
  auto bad = torch::zeros({2, 3}, torch::kFloat64);
  bad[1][2] = std::numeric_limits<double>::quiet_NaN();
  EXPECT_THROW(s.accumulate(bad, torch::zeros({2})), DataError);
  RidgeProbe p;
  EXPECT_THROW(p.fit(s, s, kGrid), DataError);  // no rows
  EXPECT_THROW(p.predict(torch::zeros({1, 3})), DataError);
  s.accumulate(torch::randn({5, 3}, torch::kFloat64), torch::randn({5}, torch::kFloat64));
  EXPECT_THROW(p.fit(s, RidgeStats(2, 1), kGrid), DataError);
  EXPECT_THROW(p.fit(s, s, {}), DataError);
  EXPECT_THROW(RidgeSolver(s, true).solve(0.0), DataError);
}

}  // namespace
}  // namespace hyperrep::probe
