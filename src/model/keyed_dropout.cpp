#include "model/keyed_dropout.h"

#include <ATen/Parallel.h>

#include "common/error.h"

namespace hyperrep::model {
namespace {

thread_local DropoutKeys* g_current = nullptr;

inline uint64_t mix(uint64_t x) {  // splitmix64's finaliser: a bijection with full avalanche
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace

torch::Tensor keyed_keep_mask(uint64_t seed, uint64_t step, const std::vector<int64_t>& rows, uint64_t call,
                              c10::IntArrayRef shape, double p) {
  HYPERREP_CHECK(!shape.empty() && shape[0] == static_cast<int64_t>(rows.size()), InternalError, "keyed dropout: input of ",
                 shape, " for ", rows.size(), " keyed rows");
  auto mask = torch::empty(shape, torch::kFloat32);
  const int64_t n = rows.empty() ? 0 : mask.numel() / static_cast<int64_t>(rows.size());
  float* out = mask.data_ptr<float>();
  const float scale = static_cast<float>(1.0 / (1.0 - p));
  // Keep when the top 53 bits, as a fraction of 2^53, are at least p.
  const auto threshold = static_cast<uint64_t>(p * 9007199254740992.0);
  const uint64_t base = mix(mix(mix(seed) ^ step) ^ (call * 0x632be59bd9b4e019ULL));
  at::parallel_for(0, static_cast<int64_t>(rows.size()), 1, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const uint64_t key = mix(base ^ static_cast<uint64_t>(rows[static_cast<size_t>(r)]));
      float* o = out + r * n;
      for (int64_t e = 0; e < n; ++e) o[e] = (mix(key + static_cast<uint64_t>(e)) >> 11) >= threshold ? scale : 0.0f;
    }
  });
  return mask;
}

DropoutKeys::DropoutKeys(uint64_t seed, uint64_t step, torch::Tensor rows) : seed_(seed), step_(step), outer_(g_current) {
  auto r = rows.to(torch::kCPU, torch::kInt64).contiguous();
  rows_.assign(r.data_ptr<int64_t>(), r.data_ptr<int64_t>() + r.numel());
  g_current = this;
}

DropoutKeys::~DropoutKeys() { g_current = outer_; }

DropoutKeys* DropoutKeys::current() { return g_current; }

torch::Tensor DropoutKeys::next_mask(c10::IntArrayRef shape, double p) {
  return keyed_keep_mask(seed_, step_, rows_, calls_++, shape, p);
}

torch::Tensor KeyedDropoutImpl::forward(const torch::Tensor& x) {
  if (!is_training() || p_ <= 0) return x;
  DropoutKeys* keys = DropoutKeys::current();
  if (!keys) return torch::dropout(x, p_, true);
  return x * keys->next_mask(x.sizes(), p_).to(x.device(), x.scalar_type());
}

}  // namespace hyperrep::model
