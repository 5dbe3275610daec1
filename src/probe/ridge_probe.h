// Ridge regression with an unpenalised bias, in closed form and float64, from all-reduced
// RidgeStats: one eigendecomposition of the centred (optionally standardised) XᵀX serves every λ
// of the grid, λ is chosen per target on validation statistics, and scores need only statistics.
#pragma once

#include <torch/torch.h>

#include <optional>
#include <utility>
#include <vector>

#include "probe/ridge_stats.h"

namespace hyperrep::probe {

// Per-target scores, each [k].
struct RegressionScore {
  torch::Tensor r2;   // 1 - SSE/SST, SST around the set's own target mean (NaN if constant)
  torch::Tensor mse;  // SSE / n
};

// The factorised training problem. Minimises ||y - b - Xβ||² + λ||β||² (sklearn's Ridge:
// a sum, not a mean, of squares; the bias unpenalised, which is centring with the train means).
// With standardize, β is penalised in the units of the train-z-scored features (population
// std, as sklearn's StandardScaler), so one λ grid fits features of any scale; coefficients are
// always returned in raw feature units. Constant features (std ≈ 0) get β = 0.
class RidgeSolver {
 public:
  RidgeSolver(const RidgeStats& train, bool standardize);
  // Coefficients [d, k] and intercept [k] for one λ > 0: O(d²k) after the factorisation.
  std::pair<torch::Tensor, torch::Tensor> solve(double lambda) const;

 private:
  torch::Tensor mean_x_, mean_y_, scale_;     // [d], [k], [d]
  torch::Tensor eigenvalues_, eigenvectors_;  // of the centred, scaled XᵀX
  torch::Tensor projected_;                   // Vᵀ (scaled, centred Xᵀy)  [d, k]
};

// Scores of the linear model y ≈ x·coef + intercept on a set known only by its statistics.
RegressionScore score_from_stats(const torch::Tensor& coef, const torch::Tensor& intercept, const RidgeStats& set);

struct RidgeResult {
  std::vector<double> lambdas;
  torch::Tensor val_r2;             // [lambdas, k]
  torch::Tensor val_mse;            // [lambdas, k]
  std::vector<int64_t> best_index;  // per target, into lambdas
  std::vector<double> best_lambda;  // per target
  torch::Tensor coefficients;       // [d, k], each column at its target's best λ, raw units
  torch::Tensor intercept;          // [k]
  double best_val_r2(int64_t target) const;
};

class RidgeProbe {
 public:
  explicit RidgeProbe(bool standardize = true) : standardize_(standardize) {}
  // Wraps a result fitted elsewhere (e.g. to evaluate on another zoo).
  explicit RidgeProbe(RidgeResult result) : standardize_(false), result_(std::move(result)) {}

  // Factorises train once, scores every λ on val, keeps per target the λ of least validation
  // MSE (the same as greatest validation R², since Var(y_val) does not depend on λ); ties go
  // to the earlier λ of the grid. Both statistics must already be all-reduced.
  const RidgeResult& fit(const RidgeStats& train, const RidgeStats& val, const std::vector<double>& lambdas);

  bool fitted() const { return result_.has_value(); }
  const RidgeResult& result() const;
  RegressionScore evaluate(const RidgeStats& test) const;
  RegressionScore evaluate(const torch::Tensor& x, const torch::Tensor& y) const;
  torch::Tensor predict(const torch::Tensor& x) const;  // [m, k] float64

 private:
  bool standardize_;
  std::optional<RidgeResult> result_;
};

}  // namespace hyperrep::probe
