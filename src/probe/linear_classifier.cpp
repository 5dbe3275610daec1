#include "probe/linear_classifier.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "common/error.h"
#include "distributed/communicator.h"

namespace hyperrep::probe {
namespace {

constexpr int64_t kChunkRows = 8192;

// One Adam state per parameter, with torch.optim.Adam's update (defaults betas 0.9/0.999, eps
// 1e-8, weight decay as L2 on the gradient).
struct AdamState {
  torch::Tensor m, v;
  void step(torch::Tensor& p, torch::Tensor g, double lr, double wd, int64_t t) {
    constexpr double b1 = 0.9, b2 = 0.999, eps = 1e-8;
    if (wd != 0.0) g.add_(p, wd);
    m.mul_(b1).add_(g, 1.0 - b1);
    v.mul_(b2).addcmul_(g, g, 1.0 - b2);
    const double bc1 = 1.0 - std::pow(b1, static_cast<double>(t));
    const double bc2 = 1.0 - std::pow(b2, static_cast<double>(t));
    auto denom = (v.sqrt() / std::sqrt(bc2)).add_(eps);
    p.addcdiv_(m, denom, -lr / bc1);
  }
};

void check_rows(const torch::Tensor& x, const torch::Tensor& labels, const char* op) {
  HYPERREP_CHECK(x.dim() == 2 && x.is_floating_point(), DataError, op, ": features must be floating point [rows, dims], got ",
                 x.sizes());
  HYPERREP_CHECK(labels.dim() == 1 && labels.size(0) == x.size(0), DataError, op, ": labels must be [", x.size(0), "], got ",
                 labels.sizes());
}

}  // namespace

void LinearClassifierProbe::fit(const torch::Tensor& x_local, const torch::Tensor& labels_local, int64_t num_classes,
                                dist::Communicator& comm, const torch::Tensor& keys_local) {
  check_rows(x_local, labels_local, "LinearClassifierProbe::fit");
  // Decided together, so that no rank waits in a gather that another has left or skipped.
  const bool keys_ok = !keys_local.defined() || (keys_local.dim() == 1 && keys_local.size(0) == x_local.size(0));
  // One collective for both counts: ranks with bad keys in the high part, ranks with keys below
  // (a world has fewer than 2^24 ranks).
  constexpr int64_t kHigh = int64_t{1} << 24;
  const int64_t tally = comm.all_reduce_int((keys_ok ? 0 : kHigh) + (keys_local.defined() ? 1 : 0));
  const int64_t bad_keys = tally / kHigh, with_keys = tally % kHigh;
  HYPERREP_CHECK(bad_keys == 0, DataError, "LinearClassifierProbe::fit: keys must be one per row (",
                 keys_ok ? "on another rank" : "here " + std::to_string(x_local.size(0)) + " rows", ")");
  HYPERREP_CHECK(with_keys == 0 || with_keys == comm.world_size(), DataError, "LinearClassifierProbe::fit: row keys given on ",
                 with_keys, " of ", comm.world_size(), " ranks");
  HYPERREP_CHECK(num_classes >= 2, DataError, "LinearClassifierProbe::fit: need at least 2 classes, got ", num_classes);
  HYPERREP_CHECK(options_.epochs >= 1 && options_.batch_size >= 1 && options_.lr > 0, DataError,
                 "LinearClassifierProbe::fit: epochs, batch size and lr must be positive");
  // Gathered in the features' own dtype (float32 embeddings or weights stay float32: a large
  // zoo's raw weights are gigabytes in float64); statistics and steps are float64.
  const auto dtype = x_local.scalar_type() == torch::kFloat32 ? torch::kFloat32 : torch::kFloat64;
  auto x = comm.all_gather_varying(x_local.to(torch::kCPU, dtype).contiguous());
  auto y = comm.all_gather_varying(labels_local.to(torch::kCPU, torch::kInt64).contiguous());
  if (keys_local.defined()) {  // every rank learns ranks-independently: rows in key order
    const auto keys = comm.all_gather_varying(keys_local.to(torch::kCPU, torch::kInt64).contiguous());
    const auto order = keys.argsort();
    HYPERREP_CHECK(keys.numel() < 2 || (keys.index_select(0, order).diff() > 0).all().item<bool>(), DataError,
                   "LinearClassifierProbe::fit: row keys are not distinct");
    x = x.index_select(0, order);
    y = y.index_select(0, order);
  }
  const int64_t n = x.size(0), d = x.size(1);
  HYPERREP_CHECK(n >= 1, DataError, "LinearClassifierProbe::fit: no training rows on any rank");
  HYPERREP_CHECK(torch::isfinite(x).all().item<bool>(), DataError, "LinearClassifierProbe::fit: non-finite features");
  HYPERREP_CHECK(y.min().item<int64_t>() >= 0 && y.max().item<int64_t>() < num_classes, DataError,
                 "LinearClassifierProbe::fit: labels outside [0, ", num_classes, ")");

  mean_ = torch::zeros({d}, torch::kFloat64);
  scale_ = torch::ones({d}, torch::kFloat64);
  if (options_.standardize) {
    // Two passes in float64 over row chunks: mean, then population variance around it.
    auto var = torch::zeros({d}, torch::kFloat64);
    auto chunk = [&](int64_t s) { return x.narrow(0, s, std::min(kChunkRows, n - s)).to(torch::kFloat64); };
    for (int64_t s = 0; s < n; s += kChunkRows) mean_ += chunk(s).sum(0);
    mean_ /= static_cast<double>(n);
    for (int64_t s = 0; s < n; s += kChunkRows) var += (chunk(s) - mean_).square().sum(0);
    auto std = (var / static_cast<double>(n)).sqrt();
    scale_ = torch::where(std > 1e-7 * mean_.abs() + std::numeric_limits<double>::min(), std, torch::ones_like(std));
  }
  // z-scored features with a ones column (the bias), in the gathered dtype.
  auto z1 = torch::ones({n, d + 1}, x.options());
  for (int64_t s = 0; s < n; s += kChunkRows) {
    const int64_t m = std::min(kChunkRows, n - s);
    z1.narrow(0, s, m).narrow(1, 0, d).copy_((x.narrow(0, s, m).to(torch::kFloat64) - mean_) / scale_);
  }
  x = torch::Tensor();

  // torch.nn.Linear's initialisation, from a generator of our own so the global RNG is untouched.
  auto gen = at::make_generator<at::CPUGeneratorImpl>(options_.seed);
  const double bound = 1.0 / std::sqrt(static_cast<double>(d));
  weight_ = torch::empty({num_classes, d}, torch::kFloat64).uniform_(-bound, bound, gen);
  bias_ = torch::empty({num_classes}, torch::kFloat64).uniform_(-bound, bound, gen);
  // Weight and bias as one parameter [C, d+1] on z1: Adam is elementwise, so this is the same
  // update with half the tensor operations per step.
  auto theta = torch::cat({weight_, bias_.unsqueeze(1)}, 1);
  AdamState adam{torch::zeros_like(theta), torch::zeros_like(theta)};
  auto onehot = torch::one_hot(y, num_classes).to(torch::kFloat64);

  int64_t step = 0;
  double loss_sum = 0.0;
  for (int64_t epoch = 0; epoch < options_.epochs; ++epoch) {
    auto perm = torch::randperm(n, gen, torch::kInt64);
    const bool last = epoch + 1 == options_.epochs;
    for (int64_t start = 0; start < n; start += options_.batch_size) {
      const int64_t b = std::min(options_.batch_size, n - start);
      auto rows = perm.narrow(0, start, b);
      auto zb = z1.index_select(0, rows).to(torch::kFloat64), yb = onehot.index_select(0, rows);
      auto log_p = torch::log_softmax(torch::mm(zb, theta.t()), 1);
      if (last) loss_sum -= (log_p * yb).sum().item<double>();
      auto g = (log_p.exp_() - yb).div_(static_cast<double>(b));  // d(mean cross-entropy)/d(logits)
      adam.step(theta, torch::mm(g.t(), zb), options_.lr, options_.weight_decay, ++step);
    }
  }
  weight_ = theta.narrow(1, 0, d).contiguous();
  bias_ = theta.select(1, d).contiguous();
  final_loss_ = loss_sum / static_cast<double>(n);
}

torch::Tensor LinearClassifierProbe::standardized(const torch::Tensor& x) const {
  HYPERREP_CHECK(fitted(), DataError, "LinearClassifierProbe: not fitted");
  HYPERREP_CHECK(x.dim() == 2 && x.size(1) == weight_.size(1), DataError, "LinearClassifierProbe: features must be [rows, ",
                 weight_.size(1), "], got ", x.sizes());
  return (x.to(torch::kCPU, torch::kFloat64) - mean_) / scale_;
}

torch::Tensor LinearClassifierProbe::logits(const torch::Tensor& x) const {
  auto z = standardized(x);  // checks fitted() before weight_ is touched
  return torch::addmm(bias_, z, weight_.t());
}

torch::Tensor LinearClassifierProbe::predict(const torch::Tensor& x) const { return logits(x).argmax(1); }

double LinearClassifierProbe::accuracy(const torch::Tensor& x, const torch::Tensor& labels, dist::Communicator& comm) const {
  check_rows(x, labels, "LinearClassifierProbe::accuracy");
  auto counts = torch::zeros({2}, torch::kFloat64);
  if (x.size(0) > 0) {
    counts[0] = predict(x).eq(labels.to(torch::kCPU, torch::kInt64)).sum().item<double>();
    counts[1] = static_cast<double>(x.size(0));
  }
  comm.all_reduce(counts, dist::ReduceOp::kSum);
  const double total = counts[1].item<double>();
  return total > 0 ? counts[0].item<double>() / total : std::numeric_limits<double>::quiet_NaN();
}

}  // namespace hyperrep::probe
