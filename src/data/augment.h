// Augmentations of flat weight vectors (METHOD.md §3), batched on the tensors' device: neuron
// permutation from a pool, Gaussian noise, random erasing of one contiguous block. Two views
// per sample, each owning its own tensor (never aliasing the input or each other).
#pragma once

#include <torch/torch.h>

#include <memory>
#include <utility>

#include "common/config_sections.h"
#include "data/permutation.h"

namespace hyperrep::data {

class Augmenter {
 public:
  // pool may be null (no permutation). Takes erase/noise settings from the [augment] section.
  Augmenter(const AugmentConfig& cfg, std::shared_ptr<const PermutationPool> pool);
  // Builds the pool from the architecture when cfg.permutation is set (seeded by pool_seed).
  static Augmenter from_config(const AugmentConfig& cfg, const zoo::Architecture& arch, uint64_t pool_seed);

  // One view of every sample of w [B, L]: permutation, noise, erasing, in that order. Small
  // draws (pool ids, erase blocks) come from gen (a CPU generator) and move to w's device;
  // noise uses gen on CPU and the device's default generator elsewhere.
  torch::Tensor view(const torch::Tensor& w, torch::Generator& gen) const;
  // Two independent views.
  std::pair<torch::Tensor, torch::Tensor> two_views(const torch::Tensor& w, torch::Generator& gen) const;

  // The single steps, exposed for tests and for callers that compose them differently.
  torch::Tensor permute(const torch::Tensor& w, torch::Generator& gen) const;
  torch::Tensor add_noise(const torch::Tensor& w, double sigma, torch::Generator& gen) const;
  // With probability p per sample, zeroes flat[start, start+len) with
  // len = floor(U(min_frac, max_frac) * L) and start uniform over the valid positions.
  static torch::Tensor erase(const torch::Tensor& w, double p, double min_frac, double max_frac, torch::Generator& gen);

  const PermutationPool* pool() const { return pool_.get(); }

 private:
  AugmentConfig cfg_;
  std::shared_ptr<const PermutationPool> pool_;
};

}  // namespace hyperrep::data
