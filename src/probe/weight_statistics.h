// The weight baselines of METHOD.md §6: W (the raw flat weights) and s(W) (per parameter layer,
// over its weights: mean, variance and the 1/25/50/75/99 percentiles), batched over checkpoints.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "zoo/architecture.h"

namespace hyperrep::probe {

// Percentiles q (in [0, 100]) of each row of x [N, M], interpolated linearly between the order
// statistics with numpy.percentile's default method ("linear"), following numpy's own order of
// floating-point operations. Returns [N, q.size()] float64.
torch::Tensor row_percentiles(const torch::Tensor& x, const std::vector<double>& q);

class WeightStatistics {
 public:
  static constexpr int64_t kPerLayer = 7;  // mean, var, p1, p25, p50, p75, p99

  // include_bias adds each layer's bias to its block (METHOD.md uses the weights only).
  explicit WeightStatistics(const zoo::Architecture& arch, bool include_bias = false);

  int64_t num_features() const { return kPerLayer * static_cast<int64_t>(blocks_.size()); }
  // "layer<i>.<stat>" with i counting parameter layers from 0, in feature order.
  std::vector<std::string> feature_names() const;
  // flat [N, num_params] (any floating dtype) -> [N, num_features] float64. The variance is the
  // population variance (ddof 0, numpy's default). Rows are processed in chunks to bound memory.
  torch::Tensor compute(const torch::Tensor& flat) const;

 private:
  struct Block {
    int64_t weight_offset, weight_numel, bias_offset, bias_numel;
  };
  std::vector<Block> blocks_;
  int64_t num_params_ = 0;
};

// The W baseline: the flat weights themselves as features, unchanged (dtype kept: the probes
// convert chunk by chunk, so a large zoo is not copied into float64 at once).
torch::Tensor raw_weight_features(const torch::Tensor& flat);

}  // namespace hyperrep::probe
