#include "data/augment.h"

#include "common/error.h"

namespace hyperrep::data {
Augmenter::Augmenter(const AugmentConfig& cfg, std::shared_ptr<const PermutationPool> pool) : cfg_(cfg), pool_(std::move(pool)) {
  HYPERREP_CHECK(cfg.erase_min <= cfg.erase_max, ConfigError, "augment.erase_min must not exceed augment.erase_max");
}

Augmenter Augmenter::from_config(const AugmentConfig& cfg, const zoo::Architecture& arch, uint64_t pool_seed) {
  std::shared_ptr<const PermutationPool> pool;
  if (cfg.permutation) pool = std::make_shared<const PermutationPool>(arch, cfg.permutation_pool, pool_seed);
  return Augmenter(cfg, std::move(pool));
}

torch::Tensor Augmenter::permute(const torch::Tensor& w, const KeyedDraws& draws) const {
  if (!pool_) return w.clone();
  return pool_->apply(w, draws.integers(kPermutationStream, 0, pool_->size()).to(w.device()));
}

torch::Tensor Augmenter::add_noise(const torch::Tensor& w, double sigma, const KeyedDraws& draws) {
  if (sigma <= 0) return w.clone();
  return w + sigma * draws.normal(kNoiseStream, w.size(1)).to(w.device(), w.scalar_type());
}

torch::Tensor Augmenter::erase(const torch::Tensor& w, double p, double min_frac, double max_frac, const KeyedDraws& draws) {
  HYPERREP_CHECK(w.dim() == 2 && w.size(0) == draws.rows(), InternalError, "erase: expected [", draws.rows(), ", L], got ",
                 w.sizes());
  if (p <= 0) return w.clone();
  const int64_t l = w.size(1);
  const auto u = draws.uniform(kEraseStream, 3);  // hit, length, start
  auto hit = u.select(1, 0).lt(p);
  auto frac = min_frac + (max_frac - min_frac) * u.select(1, 1);
  auto len = (frac * l).floor().to(torch::kInt64).clamp(0, l);
  // start uniform in [0, L - len]
  auto start = (u.select(1, 2) * (l - len + 1).to(torch::kFloat64)).floor().to(torch::kInt64);
  start = torch::minimum(start, l - len);
  len = len * hit.to(torch::kInt64);
  const auto dev = w.device();
  auto pos = torch::arange(l, torch::TensorOptions().dtype(torch::kInt64).device(dev)).unsqueeze(0);
  auto s = start.to(dev).unsqueeze(1), e = (start + len).to(dev).unsqueeze(1);
  auto mask = pos.ge(s).logical_and(pos.lt(e));
  return w.masked_fill(mask, 0);
}

torch::Tensor Augmenter::view(const torch::Tensor& w, const KeyedDraws& draws) const {
  HYPERREP_CHECK(w.dim() == 2 && w.size(0) == draws.rows(), InternalError, "augment: ", w.sizes(), " for ", draws.rows(),
                 " keyed rows");
  auto v = permute(w, draws);
  if (cfg_.noise_sigma > 0) v = add_noise(v, cfg_.noise_sigma, draws);
  if (cfg_.erase_p > 0) v = erase(v, cfg_.erase_p, cfg_.erase_min, cfg_.erase_max, draws);
  return v;
}

}  // namespace hyperrep::data
