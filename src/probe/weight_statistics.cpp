#include "probe/weight_statistics.h"

#include <algorithm>
#include <cmath>

#include "common/error.h"

namespace hyperrep::probe {
namespace {

const std::vector<double> kPercentiles = {1, 25, 50, 75, 99};
const char* const kStatNames[WeightStatistics::kPerLayer] = {"mean", "var", "p1", "p25", "p50", "p75", "p99"};
constexpr int64_t kChunkRows = 4096;

}  // namespace

torch::Tensor row_percentiles(const torch::Tensor& x, const std::vector<double>& q) {
  HYPERREP_CHECK(x.dim() == 2 && x.size(1) >= 1, DataError, "row_percentiles: expected [rows, values>=1], got ", x.sizes());
  auto sorted = std::get<0>(x.to(torch::kFloat64).sort(1));
  const int64_t m = x.size(1);
  std::vector<torch::Tensor> cols;
  for (double p : q) {
    HYPERREP_CHECK(p >= 0 && p <= 100, DataError, "row_percentiles: percentile ", p, " outside [0, 100]");
    // numpy >= 1.22, method "linear": virtual index n·q + (1 - q) - 1 in this order of
    // operations, gamma = index - floor(index), and lerp(a, b, g) = g < 0.5 ? a + (b-a)g : b - (b-a)(1-g).
    const double quant = p / 100.0;
    const double pos = static_cast<double>(m) * quant + (1.0 + quant * (1.0 - 1.0 - 1.0)) - 1.0;
    const double floor_pos = std::floor(pos);
    const int64_t lo = std::clamp<int64_t>(static_cast<int64_t>(floor_pos), 0, m - 1);
    const int64_t hi = std::clamp<int64_t>(static_cast<int64_t>(floor_pos) + 1, 0, m - 1);
    const double t = pos - floor_pos;
    auto a = sorted.select(1, lo), b = sorted.select(1, hi);
    cols.push_back(t < 0.5 ? a + (b - a) * t : b - (b - a) * (1.0 - t));
  }
  return torch::stack(cols, 1);
}

WeightStatistics::WeightStatistics(const zoo::Architecture& arch, bool include_bias) : num_params_(arch.num_params()) {
  for (auto i : arch.param_layers()) {
    const auto& l = arch.layers()[i];
    const bool bias = include_bias && l.bias;
    blocks_.push_back({l.weight_offset, l.weight_numel(), bias ? l.bias_offset : 0, bias ? l.out : 0});
  }
  HYPERREP_CHECK(!blocks_.empty(), DataError, "WeightStatistics: the architecture has no parameter layers");
}

std::vector<std::string> WeightStatistics::feature_names() const {
  std::vector<std::string> names;
  for (size_t i = 0; i < blocks_.size(); ++i) {
    for (const char* s : kStatNames) names.push_back("layer" + std::to_string(i) + "." + s);
  }
  return names;
}

torch::Tensor WeightStatistics::compute(const torch::Tensor& flat) const {
  HYPERREP_CHECK(flat.dim() == 2 && flat.size(1) == num_params_ && flat.is_floating_point(), DataError,
                 "WeightStatistics: expected floating-point flat weights [rows, ", num_params_, "], got ", flat.sizes());
  const int64_t n = flat.size(0);
  auto out = torch::empty({n, num_features()}, torch::kFloat64);
  for (int64_t start = 0; start < n; start += kChunkRows) {
    const int64_t rows = std::min(kChunkRows, n - start);
    auto chunk = flat.narrow(0, start, rows).to(torch::kCPU);
    for (size_t b = 0; b < blocks_.size(); ++b) {
      const auto& blk = blocks_[b];
      auto values = chunk.narrow(1, blk.weight_offset, blk.weight_numel);
      if (blk.bias_numel > 0) values = torch::cat({values, chunk.narrow(1, blk.bias_offset, blk.bias_numel)}, 1);
      values = values.to(torch::kFloat64);
      auto dst = out.narrow(0, start, rows).narrow(1, static_cast<int64_t>(b) * kPerLayer, kPerLayer);
      dst.select(1, 0).copy_(values.mean(1));
      dst.select(1, 1).copy_(values.var(1, /*unbiased=*/false));
      dst.narrow(1, 2, 5).copy_(row_percentiles(values, kPercentiles));
    }
  }
  return out;
}

torch::Tensor raw_weight_features(const torch::Tensor& flat) {
  HYPERREP_CHECK(flat.dim() == 2 && flat.is_floating_point(), DataError,
                 "raw_weight_features: expected floating-point flat weights [rows, params], got ", flat.sizes());
  return flat.to(torch::kCPU).contiguous();
}

}  // namespace hyperrep::probe
