#include "common/keyed_random.h"

#include <ATen/Parallel.h>

#include <cmath>

#include "common/error.h"

namespace hyperrep {
namespace {

constexpr double kTwoPow53Inv = 1.0 / 9007199254740992.0;

inline double unit(uint64_t bits) { return static_cast<double>(bits >> 11) * kTwoPow53Inv; }

std::vector<int64_t> to_vector(const torch::Tensor& rows) {
  auto r = rows.to(torch::kCPU, torch::kInt64).contiguous();
  return std::vector<int64_t>(r.data_ptr<int64_t>(), r.data_ptr<int64_t>() + r.numel());
}

}  // namespace

KeyedDraws::KeyedDraws(uint64_t seed, uint64_t step, std::vector<int64_t> rows) : seed_(seed), step_(step), rows_(std::move(rows)) {}

KeyedDraws::KeyedDraws(uint64_t seed, uint64_t step, const torch::Tensor& rows) : KeyedDraws(seed, step, to_vector(rows)) {}

uint64_t KeyedDraws::row_key(uint64_t stream, int64_t r) const {
  const uint64_t base = splitmix64(splitmix64(splitmix64(seed_) ^ step_) ^ (stream * 0x632be59bd9b4e019ULL));
  return splitmix64(base ^ static_cast<uint64_t>(rows_[static_cast<size_t>(r)]));
}

template <class Fill>
void KeyedDraws::each_row(uint64_t stream, const Fill& fill) const {
  at::parallel_for(0, rows(), 1, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) fill(r, row_key(stream, r));
  });
}

torch::Tensor KeyedDraws::uniform(uint64_t stream, int64_t n) const {
  auto out = torch::empty({rows(), n}, torch::kFloat64);
  double* o = out.data_ptr<double>();
  each_row(stream, [&](int64_t r, uint64_t key) {
    for (int64_t e = 0; e < n; ++e) o[r * n + e] = unit(splitmix64(key + static_cast<uint64_t>(e)));
  });
  return out;
}

torch::Tensor KeyedDraws::integers(uint64_t stream, int64_t lo, int64_t hi) const {
  HYPERREP_CHECK(hi > lo, InternalError, "keyed integers: empty range [", lo, ", ", hi, ")");
  auto u = uniform(stream, 1).squeeze(1);
  return (u * static_cast<double>(hi - lo)).floor().to(torch::kInt64).clamp_max(hi - lo - 1) + lo;
}

torch::Tensor KeyedDraws::normal(uint64_t stream, int64_t n) const {
  auto out = torch::empty({rows(), n}, torch::kFloat32);
  float* o = out.data_ptr<float>();
  const double two_pi = 6.283185307179586;
  each_row(stream, [&](int64_t r, uint64_t key) {
    float* row = o + r * n;
    for (int64_t e = 0; e < n; e += 2) {
      // 1 - u lies in (0, 1], so the logarithm is finite.
      const double u1 = 1.0 - unit(splitmix64(key + static_cast<uint64_t>(e)));
      const double u2 = unit(splitmix64(key + static_cast<uint64_t>(e) + 1));
      const double rad = std::sqrt(-2.0 * std::log(u1)), ang = two_pi * u2;
      row[e] = static_cast<float>(rad * std::cos(ang));
      if (e + 1 < n) row[e + 1] = static_cast<float>(rad * std::sin(ang));
    }
  });
  return out;
}

torch::Tensor KeyedDraws::keep_mask(uint64_t stream, c10::IntArrayRef shape, double p) const {
  HYPERREP_CHECK(!shape.empty() && shape[0] == rows(), InternalError, "keyed dropout: input of ", shape, " for ", rows(),
                 " keyed rows");
  auto mask = torch::empty(shape, torch::kFloat32);
  const int64_t n = rows_.empty() ? 0 : mask.numel() / rows();
  float* out = mask.data_ptr<float>();
  const float scale = static_cast<float>(1.0 / (1.0 - p));
  // Keep when the top 53 bits, as a fraction of 2^53, are at least p.
  const auto threshold = static_cast<uint64_t>(p * 9007199254740992.0);
  each_row(stream, [&](int64_t r, uint64_t key) {
    float* o = out + r * n;
    for (int64_t e = 0; e < n; ++e) o[e] = (splitmix64(key + static_cast<uint64_t>(e)) >> 11) >= threshold ? scale : 0.0f;
  });
  return mask;
}

}  // namespace hyperrep
