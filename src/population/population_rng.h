// Everything random about one zoo member, derived from its seed alone (never from its
// population or rank): the initial weights, the data order of each epoch, dropout masks.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>

#include "common/enums.h"
#include "zoo/architecture.h"

namespace hyperrep::population {

// Initial flat weights [L] (float32, CPU) of a member, drawn layer by layer in flat order from a
// CPU generator seeded by the member seed. Biases are bias_init. With fan_in = in*k*k and
// fan_out = out*k*k:
//   uniform          U(-1/sqrt(fan_in), 1/sqrt(fan_in))  (PyTorch's default for Linear/Conv2d,
//                    kaiming_uniform with a = sqrt(5), which reduces to exactly this bound)
//   normal           N(0, 1/fan_in)
//   kaiming_uniform  U(-sqrt(6/fan_in), sqrt(6/fan_in))  (torch.nn.init default, gain sqrt 2)
//   kaiming_normal   N(0, 2/fan_in)
//   xavier_uniform   U(-sqrt(6/(fan_in+fan_out)), +...)
//   xavier_normal    N(0, 2/(fan_in+fan_out))
//   truncated_normal N(0, 1/fan_in) redrawn outside two standard deviations
//   orthogonal       each layer's [out, fan_in] matrix with orthonormal rows (or columns, when
//                    out > fan_in): Gram-Schmidt of a standard normal matrix in double, in a
//                    fixed order (the distribution of torch.nn.init.orthogonal_, not its bits)
// init_std > 0 replaces the standard deviation of normal and truncated_normal (the Small CNN
// Zoo's RandomNormal(stddev) / TruncatedNormal(stddev)); the other rules ignore it.
torch::Tensor init_member(const zoo::Architecture& arch, Init init, int64_t seed, double bias_init, double init_std = 0.0);

// The member's training subset: the first round(fraction * n) (at least 1) entries of a
// permutation of 0..n-1 drawn from its seed, ascending; all of 0..n-1 when fraction is 1.
torch::Tensor member_subset(int64_t seed, double fraction, int64_t n);

// The member's order of the n training images in epoch (1-based): a permutation [n] (int64,
// CPU) from a generator seeded by (seed, epoch).
torch::Tensor member_permutation(int64_t seed, int64_t epoch, int64_t n);

// 32-bit avalanche hash (host side); the device-side version below computes the same function.
uint32_t mix32(uint32_t x);
// Same as mix32, elementwise on an int64 tensor holding values in [0, 2^32).
torch::Tensor mix32(const torch::Tensor& x);

// Per-member key of the dropout stream at (epoch, step, layer): key_p = mix32(base_p ^ c) where
// base = mix32(member seed) ([P] int64 on the device) and c is a host-side counter hash.
torch::Tensor dropout_keys(const torch::Tensor& base, int64_t epoch, int64_t step, int64_t layer);
// Base keys [P] of the dropout streams of members with these seeds.
torch::Tensor dropout_bases(const std::vector<int64_t>& seeds, const torch::Device& device);

// Keep-mask scaled by 1/(1-p) for elements with within-member index idx (any shape) and the
// member key broadcast against it: element kept when mix32(mix32(idx ^ key)) / 2^32 >= p.
// Counter based, so a member's mask does not depend on the other members beside it.
torch::Tensor dropout_mask(const torch::Tensor& idx, const torch::Tensor& key, double p);
// The same with a rate per member: p (float64, the shape of key) broadcast like key. For equal
// rates it gives exactly the masks of the scalar version.
torch::Tensor dropout_mask(const torch::Tensor& idx, const torch::Tensor& key, const torch::Tensor& p);

}  // namespace hyperrep::population
