#include "probe/ridge_stats.h"

#include <algorithm>

#include "common/error.h"
#include "distributed/communicator.h"

namespace hyperrep::probe {

RidgeStats::RidgeStats(int64_t features, int64_t targets) : d_(features), k_(targets) {
  HYPERREP_CHECK(features >= 1 && targets >= 1, DataError, "RidgeStats: need at least one feature and one target, got ", features,
                 " and ", targets);
  buffer_ = torch::zeros({1 + d_ + 2 * k_ + d_ * d_ + d_ * k_}, torch::kFloat64);
}

RidgeStats::RidgeStats(const RidgeStats& other)
    : d_(other.d_), k_(other.k_), buffer_(other.buffer_.defined() ? other.buffer_.clone() : torch::Tensor()) {}

RidgeStats& RidgeStats::operator=(const RidgeStats& other) {
  if (this != &other) {
    d_ = other.d_;
    k_ = other.k_;
    buffer_ = other.buffer_.defined() ? other.buffer_.clone() : torch::Tensor();
  }
  return *this;
}

void RidgeStats::check_defined(const char* op) const {
  HYPERREP_CHECK(buffer_.defined(), DataError, "RidgeStats::", op, ": statistics were default-constructed (no shape)");
}

void RidgeStats::accumulate(const torch::Tensor& x, const torch::Tensor& y) {
  check_defined("accumulate");
  HYPERREP_CHECK(x.dim() == 2 && x.size(1) == d_, DataError, "RidgeStats::accumulate: features must be [rows, ", d_, "], got ",
                 x.sizes());
  auto y2 = y.dim() == 1 ? y.unsqueeze(1) : y;
  HYPERREP_CHECK(y2.dim() == 2 && y2.size(0) == x.size(0) && y2.size(1) == k_, DataError,
                 "RidgeStats::accumulate: targets must be [", x.size(0), ", ", k_, "], got ", y.sizes());
  HYPERREP_CHECK(x.is_floating_point() && y2.is_floating_point(), DataError,
                 "RidgeStats::accumulate: features and targets must be floating point");
  // float64 copies of a bounded number of rows at a time: a whole shard of raw weights in
  // float64 could be gigabytes.
  constexpr int64_t kChunkRows = 8192;
  for (int64_t start = 0; start < x.size(0); start += kChunkRows) {
    const int64_t m = std::min(kChunkRows, x.size(0) - start);
    auto xd = x.narrow(0, start, m).to(torch::kCPU, torch::kFloat64).contiguous();
    auto yd = y2.narrow(0, start, m).to(torch::kCPU, torch::kFloat64).contiguous();
    HYPERREP_CHECK(torch::isfinite(xd).all().item<bool>() && torch::isfinite(yd).all().item<bool>(), DataError,
                   "RidgeStats::accumulate: non-finite features or targets in rows ", start, "..", start + m - 1);
    part(0, 1).add_(static_cast<double>(m));
    part(off_sum_x(), d_).add_(xd.sum(0));
    part(off_sum_y(), k_).add_(yd.sum(0));
    part(off_sum_yy(), k_).add_(yd.square().sum(0));
    auto xtx_view = part(off_xtx(), d_ * d_).view({d_, d_});
    xtx_view.addmm_(xd.t(), xd);
    auto xty_view = part(off_xty(), d_ * k_).view({d_, k_});
    xty_view.addmm_(xd.t(), yd);
  }
}

RidgeStats& RidgeStats::operator+=(const RidgeStats& other) {
  check_defined("operator+=");
  HYPERREP_CHECK(other.d_ == d_ && other.k_ == k_ && other.buffer_.defined(), DataError,
                 "RidgeStats: cannot add statistics of shape (", other.d_, ", ", other.k_, ") to (", d_, ", ", k_, ")");
  buffer_.add_(other.buffer_);
  return *this;
}

void RidgeStats::all_reduce(dist::Communicator& comm) {
  check_defined("all_reduce");
  comm.all_reduce(buffer_, dist::ReduceOp::kSum);
}

double RidgeStats::count() const {
  check_defined("count");
  return buffer_[0].item<double>();
}
torch::Tensor RidgeStats::sum_x() const { return part(off_sum_x(), d_); }
torch::Tensor RidgeStats::sum_y() const { return part(off_sum_y(), k_); }
torch::Tensor RidgeStats::sum_yy() const { return part(off_sum_yy(), k_); }
torch::Tensor RidgeStats::xtx() const { return part(off_xtx(), d_ * d_).view({d_, d_}); }
torch::Tensor RidgeStats::xty() const { return part(off_xty(), d_ * k_).view({d_, k_}); }

torch::Tensor RidgeStats::mean_x() const {
  const double n = count();
  HYPERREP_CHECK(n > 0, DataError, "RidgeStats: no rows accumulated");
  return sum_x() / n;
}

torch::Tensor RidgeStats::mean_y() const {
  const double n = count();
  HYPERREP_CHECK(n > 0, DataError, "RidgeStats: no rows accumulated");
  return sum_y() / n;
}

torch::Tensor RidgeStats::centred_xtx() const {
  auto mu = mean_x();
  auto c = xtx() - count() * torch::outer(mu, mu);
  return (c + c.t()) * 0.5;  // exactly symmetric for the eigendecomposition
}

torch::Tensor RidgeStats::centred_xty() const { return xty() - count() * torch::outer(mean_x(), mean_y()); }

torch::Tensor RidgeStats::centred_yy() const {
  auto c = sum_yy() - count() * mean_y().square();
  return c.clamp_min(0.0);
}

}  // namespace hyperrep::probe
