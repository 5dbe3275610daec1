// Neuron permutations, the exact symmetry of a member (METHOD.md §3.1): permuting the output
// neurons of a hidden layer together with the matching inputs of the next conv/linear layer
// leaves the function unchanged. A pool of permutations is precomputed and applied batched.
#pragma once

#include <torch/torch.h>

#include <vector>

#include "zoo/architecture.h"

namespace hyperrep::data {

class PermutationPool {
 public:
  PermutationPool() = default;
  // Every hidden conv/linear layer (all but the last) is permuted. When the number of distinct
  // permutations (product of n_l!) is at most max_size the pool holds all of them (identity
  // first); otherwise max_size seeded random draws.
  PermutationPool(const zoo::Architecture& arch, int64_t max_size, uint64_t seed);

  int64_t size() const { return size_; }
  bool exhaustive() const { return exhaustive_; }
  int64_t num_params() const { return num_params_; }
  // Per hidden layer: [P, n_l] int64, row p = permutation p of that layer's neurons.
  const std::vector<torch::Tensor>& layer_permutations() const { return perms_; }

  // Flat source index [B, L] for pool entries ids [B]: permuted[b, j] = flat[b, src[b, j]].
  torch::Tensor source_index(const torch::Tensor& ids) const;
  // Applies pool entries ids [B] to flat [B, L] (any device); returns a new tensor.
  torch::Tensor apply(const torch::Tensor& flat, const torch::Tensor& ids) const;

 private:
  struct Block {            // one parameter block of the flat vector
    int64_t offset = 0;     // start in the flat vector
    int64_t out = 0;        // neurons of the layer
    int64_t cols = 0;       // values per neuron in this block (fan_in, or 1 for a bias)
    int64_t in_group = 1;   // consecutive columns per neuron of the previous layer
    int64_t out_perm = -1;  // index into perms_ permuting the rows, -1 = none
    int64_t in_perm = -1;   // index into perms_ permuting column groups, -1 = none
  };
  std::vector<Block> blocks_;
  std::vector<torch::Tensor> perms_;  // CPU; moved to the flat's device on use
  int64_t size_ = 0, num_params_ = 0;
  bool exhaustive_ = false;
};

}  // namespace hyperrep::data
