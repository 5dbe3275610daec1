#include "probe/ridge_probe.h"

#include <cmath>
#include <limits>

#include "common/error.h"

namespace hyperrep::probe {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// The set's moments around its own means, computed once and reused for every λ.
struct CentredSet {
  explicit CentredSet(const RidgeStats& s)
      : n(s.count()), mean_x(s.mean_x()), mean_y(s.mean_y()), xtx(s.centred_xtx()), xty(s.centred_xty()), yy(s.centred_yy()) {}
  double n;
  torch::Tensor mean_x, mean_y, xtx, xty, yy;
};

// SSE = Σ(y-ȳ)² - 2βᵀΣ(x-μ)(y-ȳ) + βᵀΣ(x-μ)(x-μ)ᵀβ + n(ȳ - b - μᵀβ)²: the residual split into
// its part around the set's means and its mean.
RegressionScore score(const torch::Tensor& coef, const torch::Tensor& intercept, const CentredSet& s) {
  auto mean_residual = s.mean_y - intercept - torch::matmul(s.mean_x, coef);
  auto sse = s.yy - 2.0 * (coef * s.xty).sum(0) + (coef * torch::matmul(s.xtx, coef)).sum(0) + s.n * mean_residual.square();
  sse = sse.clamp_min(0.0);
  auto r2 = torch::where(s.yy > 0, 1.0 - sse / s.yy, torch::full_like(sse, kNaN));
  return {r2, sse / s.n};
}

}  // namespace

RidgeSolver::RidgeSolver(const RidgeStats& train, bool standardize) {
  HYPERREP_CHECK(train.count() >= 1, DataError, "RidgeSolver: the training statistics hold no rows");
  const double n = train.count();
  mean_x_ = train.mean_x();
  mean_y_ = train.mean_y();
  auto xtx = train.centred_xtx();
  auto xty = train.centred_xty();
  if (standardize) {
    auto std = (xtx.diagonal() / n).clamp_min(0.0).sqrt();
    // A constant column's centred sum of squares is cancellation noise of order 1e-16·n·μ², so
    // its "std" is ~1e-8·|μ|: treat such columns as constant instead of blowing the noise up.
    auto constant = std <= 1e-7 * mean_x_.abs() + std::numeric_limits<double>::min();
    scale_ = torch::where(constant, torch::ones_like(std), std);
    auto keep = (~constant).to(torch::kFloat64);
    xtx = xtx * torch::outer(keep, keep) / torch::outer(scale_, scale_);
    xty = xty * keep.unsqueeze(1) / scale_.unsqueeze(1);
  } else {
    scale_ = torch::ones_like(mean_x_);
  }
  auto [evals, evecs] = torch::linalg_eigh(xtx);
  eigenvalues_ = evals.clamp_min(0.0);  // roundoff can leave tiny negatives on a PSD matrix
  eigenvectors_ = evecs;
  projected_ = torch::matmul(evecs.t(), xty);
}

std::pair<torch::Tensor, torch::Tensor> RidgeSolver::solve(double lambda) const {
  HYPERREP_CHECK(lambda > 0 && std::isfinite(lambda), DataError, "RidgeSolver: lambda must be positive, got ", lambda);
  auto scaled = torch::matmul(eigenvectors_, projected_ / (eigenvalues_ + lambda).unsqueeze(1));
  auto coef = scaled / scale_.unsqueeze(1);
  auto intercept = mean_y_ - torch::matmul(mean_x_, coef);
  return {coef, intercept};
}

RegressionScore score_from_stats(const torch::Tensor& coef, const torch::Tensor& intercept, const RidgeStats& set) {
  HYPERREP_CHECK(coef.dim() == 2 && coef.size(0) == set.features() && coef.size(1) == set.targets(), DataError,
                 "score_from_stats: coefficients ", coef.sizes(), " do not match statistics of ", set.features(),
                 " features and ", set.targets(), " targets");
  HYPERREP_CHECK(set.count() >= 1, DataError, "score_from_stats: the statistics hold no rows");
  return score(coef.to(torch::kFloat64), intercept.to(torch::kFloat64), CentredSet(set));
}

double RidgeResult::best_val_r2(int64_t target) const { return val_r2[best_index.at(target)][target].item<double>(); }

const RidgeResult& RidgeProbe::fit(const RidgeStats& train, const RidgeStats& val, const std::vector<double>& lambdas) {
  HYPERREP_CHECK(!lambdas.empty(), DataError, "RidgeProbe::fit: empty lambda grid");
  HYPERREP_CHECK(train.features() == val.features() && train.targets() == val.targets(), DataError,
                 "RidgeProbe::fit: train and val statistics differ in shape");
  HYPERREP_CHECK(val.count() >= 1, DataError, "RidgeProbe::fit: the validation statistics hold no rows");
  const int64_t k = train.targets();
  RidgeSolver solver(train, standardize_);
  const CentredSet val_set(val);
  RidgeResult r;
  r.lambdas = lambdas;
  std::vector<torch::Tensor> r2s, mses, coefs, intercepts;
  for (double lambda : lambdas) {
    auto [coef, intercept] = solver.solve(lambda);
    auto s = score(coef, intercept, val_set);
    r2s.push_back(s.r2);
    mses.push_back(s.mse);
    coefs.push_back(coef);
    intercepts.push_back(intercept);
  }
  r.val_r2 = torch::stack(r2s);
  r.val_mse = torch::stack(mses);
  r.coefficients = torch::empty({train.features(), k}, torch::kFloat64);
  r.intercept = torch::empty({k}, torch::kFloat64);
  auto mse = r.val_mse.contiguous();
  const double* m = mse.data_ptr<double>();
  for (int64_t t = 0; t < k; ++t) {
    int64_t best = 0;
    for (int64_t i = 1; i < static_cast<int64_t>(lambdas.size()); ++i) {
      if (m[i * k + t] < m[best * k + t]) best = i;
    }
    r.best_index.push_back(best);
    r.best_lambda.push_back(lambdas[best]);
    r.coefficients.select(1, t).copy_(coefs[best].select(1, t));
    r.intercept[t] = intercepts[best][t];
  }
  result_ = std::move(r);
  return *result_;
}

const RidgeResult& RidgeProbe::result() const {
  HYPERREP_CHECK(result_.has_value(), DataError, "RidgeProbe: not fitted");
  return *result_;
}

RegressionScore RidgeProbe::evaluate(const RidgeStats& test) const {
  return score_from_stats(result().coefficients, result().intercept, test);
}

torch::Tensor RidgeProbe::predict(const torch::Tensor& x) const {
  const auto& r = result();
  HYPERREP_CHECK(x.dim() == 2 && x.size(1) == r.coefficients.size(0), DataError, "RidgeProbe::predict: features must be [rows, ",
                 r.coefficients.size(0), "], got ", x.sizes());
  return torch::matmul(x.to(torch::kCPU, torch::kFloat64), r.coefficients) + r.intercept;
}

RegressionScore RidgeProbe::evaluate(const torch::Tensor& x, const torch::Tensor& y) const {
  auto p = predict(x);
  auto t = (y.dim() == 1 ? y.unsqueeze(1) : y).to(torch::kCPU, torch::kFloat64);
  HYPERREP_CHECK(t.sizes() == p.sizes(), DataError, "RidgeProbe::evaluate: targets ", y.sizes(), " do not match predictions ",
                 p.sizes());
  HYPERREP_CHECK(t.size(0) >= 1, DataError, "RidgeProbe::evaluate: no rows");
  auto sse = (t - p).square().sum(0);
  auto sst = (t - t.mean(0)).square().sum(0);
  auto r2 = torch::where(sst > 0, 1.0 - sse / sst, torch::full_like(sse, kNaN));
  return {r2, sse / static_cast<double>(t.size(0))};
}

}  // namespace hyperrep::probe
