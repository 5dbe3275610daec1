#include "probe/metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "common/error.h"

namespace hyperrep::probe {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::vector<double> to_vector(const torch::Tensor& t, const char* what) {
  HYPERREP_CHECK(t.dim() == 1, DataError, what, ": expected a 1-D tensor, got ", t.dim(), " dimensions");
  auto c = t.to(torch::kFloat64).contiguous();
  return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

// Sum over groups of equal consecutive values of t(t-1)/2, for values already sorted.
template <typename Equal>
int64_t tied_pairs(size_t n, Equal equal) {
  int64_t pairs = 0, run = 1;
  for (size_t i = 1; i <= n; ++i) {
    if (i < n && equal(i - 1, i)) {
      ++run;
    } else {
      pairs += run * (run - 1) / 2;
      run = 1;
    }
  }
  return pairs;
}

}  // namespace

double r2_score(const torch::Tensor& prediction, const torch::Tensor& target) {
  HYPERREP_CHECK(prediction.dim() == 1 && target.dim() == 1 && prediction.numel() == target.numel(), DataError,
                 "r2_score: prediction and target must be 1-D of equal length, got ", prediction.sizes(), " and ",
                 target.sizes());
  if (target.numel() == 0) return kNaN;
  auto y = target.to(torch::kFloat64);
  auto p = prediction.to(torch::kFloat64);
  const double sse = (y - p).square().sum().item<double>();
  const double sst = (y - y.mean()).square().sum().item<double>();
  return sst > 0 ? 1.0 - sse / sst : kNaN;
}

double kendall_tau(const torch::Tensor& x_in, const torch::Tensor& y_in) {
  const auto x = to_vector(x_in, "kendall_tau");
  const auto y = to_vector(y_in, "kendall_tau");
  HYPERREP_CHECK(x.size() == y.size(), DataError, "kendall_tau: lengths differ (", x.size(), " vs ", y.size(), ")");
  const size_t n = x.size();
  if (n < 2) return kNaN;
  for (size_t i = 0; i < n; ++i) {
    HYPERREP_CHECK(std::isfinite(x[i]) && std::isfinite(y[i]), DataError, "kendall_tau: non-finite value at row ", i);
  }
  // Order by (x, y): then a discordant pair is exactly an inversion of y, and pairs tied in x
  // (sorted by y within the tie) are never counted as inversions.
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return x[a] < x[b] || (x[a] == x[b] && y[a] < y[b]); });
  std::vector<double> ys(y);
  std::sort(ys.begin(), ys.end());
  ys.erase(std::unique(ys.begin(), ys.end()), ys.end());
  // Inversions with a Fenwick tree over the dense ranks of y: for each row, the earlier rows
  // with a strictly larger y.
  std::vector<int64_t> tree(ys.size() + 1, 0);
  int64_t discordant = 0;
  for (size_t i = 0; i < n; ++i) {
    const size_t rank = std::lower_bound(ys.begin(), ys.end(), y[order[i]]) - ys.begin() + 1;
    int64_t not_greater = 0;
    for (size_t k = rank; k > 0; k -= k & (~k + 1)) not_greater += tree[k];
    discordant += static_cast<int64_t>(i) - not_greater;
    for (size_t k = rank; k < tree.size(); k += k & (~k + 1)) ++tree[k];
  }
  const int64_t x_ties = tied_pairs(n, [&](size_t a, size_t b) { return x[order[a]] == x[order[b]]; });
  const int64_t joint_ties =
      tied_pairs(n, [&](size_t a, size_t b) { return x[order[a]] == x[order[b]] && y[order[a]] == y[order[b]]; });
  std::vector<double> y_sorted(y);
  std::sort(y_sorted.begin(), y_sorted.end());
  const int64_t y_ties = tied_pairs(n, [&](size_t a, size_t b) { return y_sorted[a] == y_sorted[b]; });
  const int64_t total = static_cast<int64_t>(n) * static_cast<int64_t>(n - 1) / 2;
  if (total == x_ties || total == y_ties) return kNaN;
  // concordant - discordant, where concordant = total - ties(x) - ties(y) + joint ties - discordant.
  const double c_minus_d = static_cast<double>(total - x_ties - y_ties + joint_ties - 2 * discordant);
  return c_minus_d / std::sqrt(static_cast<double>(total - x_ties)) / std::sqrt(static_cast<double>(total - y_ties));
}

double accuracy(const torch::Tensor& predicted, const torch::Tensor& target) {
  HYPERREP_CHECK(predicted.dim() == 1 && target.dim() == 1 && predicted.numel() == target.numel(), DataError,
                 "accuracy: predicted and target must be 1-D of equal length, got ", predicted.sizes(), " and ", target.sizes());
  if (target.numel() == 0) return kNaN;
  return predicted.to(torch::kInt64).eq(target.to(torch::kInt64)).sum().item<int64_t>() / static_cast<double>(target.numel());
}

}  // namespace hyperrep::probe
