// Augmentations of flat weight vectors (METHOD.md §3), batched on the tensors' device: neuron
// permutation from a pool, Gaussian noise, random erasing of one contiguous block. Every draw is
// keyed (common/keyed_random.h): a row's view depends on its key, the seed and the step, never on
// which other rows share the batch, so a rank that holds part of a global batch draws for its own
// rows exactly what one process holding the whole batch draws for them. Views own their tensors
// (never aliasing the input or each other).
#pragma once

#include <torch/torch.h>

#include <memory>

#include "common/config_sections.h"
#include "common/keyed_random.h"
#include "data/permutation.h"

namespace hyperrep::data {

class Augmenter {
 public:
  // pool may be null (no permutation). Takes erase/noise settings from the [augment] section.
  Augmenter(const AugmentConfig& cfg, std::shared_ptr<const PermutationPool> pool);
  // Builds the pool from the architecture when cfg.permutation is set (seeded by pool_seed).
  static Augmenter from_config(const AugmentConfig& cfg, const zoo::Architecture& arch, uint64_t pool_seed);

  // One view of every sample of w [B, L] (row i keyed by draws.row_keys()[i]): permutation,
  // noise, erasing, in that order. Draws are made on the CPU and move to w's device.
  torch::Tensor view(const torch::Tensor& w, const KeyedDraws& draws) const;

  // The single steps, exposed for tests and for callers that compose them differently.
  torch::Tensor permute(const torch::Tensor& w, const KeyedDraws& draws) const;
  static torch::Tensor add_noise(const torch::Tensor& w, double sigma, const KeyedDraws& draws);
  // With probability p per sample, zeroes flat[start, start+len) with
  // len = floor(U(min_frac, max_frac) * L) and start uniform over the valid positions.
  static torch::Tensor erase(const torch::Tensor& w, double p, double min_frac, double max_frac, const KeyedDraws& draws);

  // The streams of KeyedDraws used here, apart from the call numbers of keyed dropout.
  static constexpr uint64_t kPermutationStream = 0x4175670000000001ULL;
  static constexpr uint64_t kNoiseStream = 0x4175670000000002ULL;
  static constexpr uint64_t kEraseStream = 0x4175670000000003ULL;

  const PermutationPool* pool() const { return pool_.get(); }

 private:
  AugmentConfig cfg_;
  std::shared_ptr<const PermutationPool> pool_;
};

}  // namespace hyperrep::data
