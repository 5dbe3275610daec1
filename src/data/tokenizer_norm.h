// Per-layer weight statistics over the training split: standardisation of the flat vector
// (applied before tokenizing, undone after decoding) and the layer variances of the
// layer-wise normalised loss. Saved with the run so later checkpoints embed the same way.
#pragma once

#include <torch/torch.h>

#include <string>

#include "zoo/architecture.h"

namespace hyperrep::data {

class LayerStatistics {
 public:
  enum class Granularity { kLayer, kBlock };  // weight+bias of a layer together, or each block

  LayerStatistics() = default;
  // train_weights [N, L] (the training split only). std and variance use the population
  // (biased) estimate; a block whose std is 0 gets std 1 so that apply() stays finite.
  static LayerStatistics compute(const zoo::Architecture& arch, const torch::Tensor& train_weights,
                                 Granularity granularity = Granularity::kLayer);

  Granularity granularity() const { return granularity_; }
  // Per group (layer or block): mean, std, variance; group_sizes: values per group.
  const torch::Tensor& mean() const { return mean_; }
  const torch::Tensor& std() const { return std_; }
  const torch::Tensor& variance() const { return var_; }
  const torch::Tensor& group_sizes() const { return sizes_; }
  // The per-group values repeated to one entry per parameter, [L].
  torch::Tensor expand(const torch::Tensor& per_group) const;

  // (w - mean) / std and its inverse, for w [B, L] on any device.
  torch::Tensor apply(const torch::Tensor& w) const;
  torch::Tensor unapply(const torch::Tensor& w) const;

  // torch::save / torch::load of the statistic tensors (atomic write).
  void save(const std::string& path) const;
  static LayerStatistics load(const std::string& path);
  bool defined() const { return mean_.defined(); }

 private:
  Granularity granularity_ = Granularity::kLayer;
  torch::Tensor mean_, std_, var_, sizes_;  // float64 stats [G], int64 sizes [G] (CPU)
};

}  // namespace hyperrep::data
