#include "data/permutation.h"

#include <algorithm>
#include <numeric>

#include <ATen/CPUGeneratorImpl.h>

#include "common/error.h"

namespace hyperrep::data {
namespace {

// All permutations of 0..n-1 in lexicographic order, [n!, n].
torch::Tensor all_permutations(int64_t n) {
  std::vector<int64_t> p(n), flat;
  std::iota(p.begin(), p.end(), 0);
  int64_t count = 0;
  do {
    flat.insert(flat.end(), p.begin(), p.end());
    ++count;
  } while (std::next_permutation(p.begin(), p.end()));
  return torch::tensor(flat, torch::kInt64).view({count, n});
}

}  // namespace

PermutationPool::PermutationPool(const zoo::Architecture& arch, int64_t max_size, uint64_t seed)
    : num_params_(arch.num_params()) {
  HYPERREP_CHECK(max_size >= 1, ConfigError, "augment.permutation_pool must be at least 1");
  const auto& pl = arch.param_layers();
  std::vector<int64_t> hidden;  // neurons of every permuted layer
  for (size_t k = 0; k < pl.size(); ++k) {
    const auto& l = arch.layers()[pl[k]];
    Block w;
    w.offset = l.weight_offset;
    w.out = l.out;
    w.cols = l.fan_in();
    w.out_perm = k + 1 < pl.size() ? static_cast<int64_t>(k) : -1;
    if (k > 0) {
      const auto& prev = arch.layers()[pl[k - 1]];
      const bool ok = l.kind == zoo::LayerKind::kConv ? l.in == prev.out : l.in % prev.out == 0;
      HYPERREP_CHECK(ok, DataError, "PermutationPool: layer ", pl[k], " takes ", l.in, " inputs, which are not ",
                     "whole blocks of the ", prev.out, " neurons of layer ", pl[k - 1]);
      w.in_group = l.fan_in() / prev.out;  // conv: k*k per channel; linear after flatten: positions
      w.in_perm = static_cast<int64_t>(k - 1);
    }
    blocks_.push_back(w);
    if (l.bias) {
      Block b;
      b.offset = l.bias_offset;
      b.out = l.out;
      b.cols = 1;
      b.out_perm = w.out_perm;
      blocks_.push_back(b);
    }
    if (k + 1 < pl.size()) hidden.push_back(l.out);
  }

  // Number of distinct permutations, saturating above max_size.
  int64_t total = 1;
  for (int64_t n : hidden) {
    for (int64_t f = 2; f <= n && total <= max_size; ++f) total *= f;
  }
  exhaustive_ = total <= max_size;
  if (exhaustive_) {
    // Cartesian product of every layer's permutations; the first layer varies slowest.
    size_ = total;
    int64_t repeat = total;
    for (int64_t n : hidden) {
      auto all = all_permutations(n);
      repeat /= all.size(0);
      auto ids = torch::arange(total, torch::kInt64).div(repeat, "floor").remainder(all.size(0));
      perms_.push_back(all.index_select(0, ids));
    }
  } else {
    size_ = max_size;
    auto gen = at::detail::createCPUGenerator(seed);
    for (int64_t n : hidden) perms_.push_back(torch::rand({size_, n}, gen).argsort(/*dim=*/1, /*descending=*/false));
  }
}

torch::Tensor PermutationPool::source_index(const torch::Tensor& ids) const {
  HYPERREP_CHECK(ids.dim() == 1, InternalError, "PermutationPool: ids must be [B]");
  const auto dev = ids.device();
  const int64_t b = ids.size(0);
  auto opts = torch::TensorOptions().dtype(torch::kInt64).device(dev);
  std::vector<torch::Tensor> chosen;
  // Select on the host, then move only the [B, n_l] rows the batch uses.
  auto host_ids = ids.to(torch::kCPU);
  for (const auto& p : perms_) chosen.push_back(p.index_select(0, host_ids).to(dev));
  std::vector<torch::Tensor> parts;
  for (const auto& blk : blocks_) {
    auto rows = blk.out_perm >= 0 ? chosen[blk.out_perm] : torch::arange(blk.out, opts).expand({b, blk.out});
    torch::Tensor cols;
    if (blk.in_perm >= 0) {
      cols = (chosen[blk.in_perm].unsqueeze(2) * blk.in_group + torch::arange(blk.in_group, opts)).reshape({b, blk.cols});
    } else {
      cols = torch::arange(blk.cols, opts).expand({b, blk.cols});
    }
    auto src = blk.offset + rows.unsqueeze(2) * blk.cols + cols.unsqueeze(1);  // [B, out, cols]
    parts.push_back(src.reshape({b, blk.out * blk.cols}));
  }
  return torch::cat(parts, 1);
}

torch::Tensor PermutationPool::apply(const torch::Tensor& flat, const torch::Tensor& ids) const {
  HYPERREP_CHECK(flat.dim() == 2 && flat.size(1) == num_params_ && ids.numel() == flat.size(0), InternalError,
                 "PermutationPool: expected flat [B, ", num_params_, "] and ids [B], got ", flat.sizes(), " and ", ids.sizes());
  if (perms_.empty()) return flat.clone();
  return flat.gather(1, source_index(ids.to(flat.device(), torch::kInt64)));
}

}  // namespace hyperrep::data
