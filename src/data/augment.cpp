#include "data/augment.h"

#include "common/error.h"

namespace hyperrep::data {
namespace {
const auto kCpuF64 = torch::TensorOptions().dtype(torch::kFloat64);
}  // namespace

Augmenter::Augmenter(const AugmentConfig& cfg, std::shared_ptr<const PermutationPool> pool) : cfg_(cfg), pool_(std::move(pool)) {
  HYPERREP_CHECK(cfg.erase_min <= cfg.erase_max, ConfigError, "augment.erase_min must not exceed augment.erase_max");
}

Augmenter Augmenter::from_config(const AugmentConfig& cfg, const zoo::Architecture& arch, uint64_t pool_seed) {
  std::shared_ptr<const PermutationPool> pool;
  if (cfg.permutation) pool = std::make_shared<const PermutationPool>(arch, cfg.permutation_pool, pool_seed);
  return Augmenter(cfg, std::move(pool));
}

torch::Tensor Augmenter::permute(const torch::Tensor& w, torch::Generator& gen) const {
  if (!pool_) return w.clone();
  auto ids = torch::randint(0, pool_->size(), {w.size(0)}, gen, torch::TensorOptions().dtype(torch::kInt64));
  return pool_->apply(w, ids.to(w.device()));
}

torch::Tensor Augmenter::add_noise(const torch::Tensor& w, double sigma, torch::Generator& gen) const {
  if (sigma <= 0) return w.clone();
  if (w.device().is_cpu()) return w + sigma * torch::randn(w.sizes(), gen, w.options());
  return w + sigma * torch::randn(w.sizes(), w.options());
}

torch::Tensor Augmenter::erase(const torch::Tensor& w, double p, double min_frac, double max_frac, torch::Generator& gen) {
  HYPERREP_CHECK(w.dim() == 2, InternalError, "erase: expected [B, L], got ", w.sizes());
  if (p <= 0) return w.clone();
  const int64_t b = w.size(0), l = w.size(1);
  auto hit = torch::rand({b}, gen, kCpuF64).lt(p);
  auto frac = min_frac + (max_frac - min_frac) * torch::rand({b}, gen, kCpuF64);
  auto len = (frac * l).floor().to(torch::kInt64).clamp(0, l);
  // start uniform in [0, L - len]
  auto start = (torch::rand({b}, gen, kCpuF64) * (l - len + 1).to(torch::kFloat64)).floor().to(torch::kInt64);
  start = torch::minimum(start, l - len);
  len = len * hit.to(torch::kInt64);
  const auto dev = w.device();
  auto pos = torch::arange(l, torch::TensorOptions().dtype(torch::kInt64).device(dev)).unsqueeze(0);
  auto s = start.to(dev).unsqueeze(1), e = (start + len).to(dev).unsqueeze(1);
  auto mask = pos.ge(s).logical_and(pos.lt(e));
  return w.masked_fill(mask, 0);
}

torch::Tensor Augmenter::view(const torch::Tensor& w, torch::Generator& gen) const {
  auto v = permute(w, gen);
  if (cfg_.noise_sigma > 0) v = add_noise(v, cfg_.noise_sigma, gen);
  if (cfg_.erase_p > 0) v = erase(v, cfg_.erase_p, cfg_.erase_min, cfg_.erase_max, gen);
  return v;
}

std::pair<torch::Tensor, torch::Tensor> Augmenter::two_views(const torch::Tensor& w, torch::Generator& gen) const {
  return {view(w, gen), view(w, gen)};
}

}  // namespace hyperrep::data
