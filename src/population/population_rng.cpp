#include "population/population_rng.h"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>

#include "common/error.h"

namespace hyperrep::population {
namespace {

constexpr int64_t kMask32 = 0xFFFFFFFFLL;
// A multiplier below 2^31 keeps every product of a 32-bit value below 2^63 (no int64 overflow).
constexpr uint32_t kMul = 0x45d9f3bU;

// Distinct streams per purpose, so that init, data order and dropout never share a seed. The
// numbers are part of every stored zoo's content: never renumber them.
enum class Stream : uint64_t { kInit = 1, kDataOrder = 2, kDropoutMember = 3, kDropoutStep = 4, kSubset = 5 };

uint64_t stream_seed(int64_t seed, Stream stream, int64_t counter) {
  uint64_t z = static_cast<uint64_t>(seed) * 0x9E3779B97F4A7C15ULL + static_cast<uint64_t>(stream) * 0xBF58476D1CE4E5B9ULL +
               static_cast<uint64_t>(counter) * 0x94D049BB133111EBULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

}  // namespace

torch::Tensor init_member(const zoo::Architecture& arch, Init init, int64_t seed, double bias_init, double init_std) {
  auto gen = at::detail::createCPUGenerator(stream_seed(seed, Stream::kInit, 0));
  auto flat = torch::empty({arch.num_params()}, torch::kFloat32);
  for (auto li : arch.param_layers()) {
    const zoo::Layer& l = arch.layers()[li];
    const double k2 = l.kind == zoo::LayerKind::kConv ? static_cast<double>(l.kernel * l.kernel) : 1.0;
    const double fan_in = static_cast<double>(l.fan_in());
    const double fan_out = static_cast<double>(l.out) * k2;
    auto w = flat.narrow(0, l.weight_offset, l.weight_numel());
    switch (init) {
      case Init::kUniform: {
        const double b = 1.0 / std::sqrt(fan_in);
        w.uniform_(-b, b, gen);
        break;
      }
      case Init::kNormal: w.normal_(0.0, init_std > 0 ? init_std : 1.0 / std::sqrt(fan_in), gen); break;
      case Init::kTruncatedNormal: {
        const double std = init_std > 0 ? init_std : 1.0 / std::sqrt(fan_in);
        w.normal_(0.0, std, gen);
        // Redraw what falls outside two standard deviations until nothing does.
        for (auto out = w.abs().gt(2.0 * std); out.any().item<bool>(); out = w.abs().gt(2.0 * std)) {
          auto redraw = torch::empty_like(w).normal_(0.0, std, gen);
          w.copy_(torch::where(out, redraw, w));
        }
        break;
      }
      case Init::kOrthogonal: {
        // Gram-Schmidt (twice, for orthogonality to rounding) over the min(out, fan_in) rows of a
        // standard normal matrix, in double, in a fixed order: the same bits whatever LAPACK or
        // thread count (a QR would depend on both). Equal in distribution to torch's orthogonal_.
        const int64_t rows = l.out, cols = l.fan_in(), m = std::min(rows, cols), len = std::max(rows, cols);
        auto a = torch::empty({m, len}, torch::kFloat64).normal_(0.0, 1.0, gen);
        double* q = a.data_ptr<double>();
        for (int64_t i = 0; i < m; ++i) {
          double* qi = q + i * len;
          for (int pass = 0; pass < 2; ++pass) {
            for (int64_t j = 0; j < i; ++j) {
              const double* qj = q + j * len;
              double dot = 0.0;
              for (int64_t t = 0; t < len; ++t) dot += qi[t] * qj[t];
              for (int64_t t = 0; t < len; ++t) qi[t] -= dot * qj[t];
            }
          }
          double norm = 0.0;
          for (int64_t t = 0; t < len; ++t) norm += qi[t] * qi[t];
          norm = std::sqrt(norm);
          for (int64_t t = 0; t < len; ++t) qi[t] /= norm;
        }
        w.copy_((rows < cols ? a : a.t()).contiguous().view({-1}).to(torch::kFloat32));  // orthonormal rows / columns
        break;
      }
      case Init::kKaimingUniform: {
        const double b = std::sqrt(6.0 / fan_in);
        w.uniform_(-b, b, gen);
        break;
      }
      case Init::kKaimingNormal: w.normal_(0.0, std::sqrt(2.0 / fan_in), gen); break;
      case Init::kXavierUniform: {
        const double b = std::sqrt(6.0 / (fan_in + fan_out));
        w.uniform_(-b, b, gen);
        break;
      }
      case Init::kXavierNormal: w.normal_(0.0, std::sqrt(2.0 / (fan_in + fan_out)), gen); break;
    }
    if (l.bias) flat.narrow(0, l.bias_offset, l.out).fill_(bias_init);
  }
  return flat;
}

torch::Tensor member_subset(int64_t seed, double fraction, int64_t n) {
  if (fraction >= 1.0) return torch::arange(n, torch::TensorOptions().dtype(torch::kInt64));
  const int64_t k = std::max<int64_t>(1, std::min<int64_t>(n, std::llround(fraction * static_cast<double>(n))));
  auto gen = at::detail::createCPUGenerator(stream_seed(seed, Stream::kSubset, 0));
  return std::get<0>(torch::randperm(n, gen, torch::TensorOptions().dtype(torch::kInt64)).narrow(0, 0, k).sort());
}

torch::Tensor member_permutation(int64_t seed, int64_t epoch, int64_t n) {
  auto gen = at::detail::createCPUGenerator(stream_seed(seed, Stream::kDataOrder, epoch));
  return torch::randperm(n, gen, torch::TensorOptions().dtype(torch::kInt64));
}

uint32_t mix32(uint32_t x) {
  x ^= x >> 16;
  x = static_cast<uint32_t>((static_cast<uint64_t>(x) * kMul) & 0xFFFFFFFFULL);
  x ^= x >> 16;
  x = static_cast<uint32_t>((static_cast<uint64_t>(x) * kMul) & 0xFFFFFFFFULL);
  x ^= x >> 16;
  return x;
}

torch::Tensor mix32(const torch::Tensor& x) {
  auto h = x.bitwise_xor(x.__rshift__(16));
  h.mul_(static_cast<int64_t>(kMul)).bitwise_and_(kMask32);
  h.bitwise_xor_(h.__rshift__(16));
  h.mul_(static_cast<int64_t>(kMul)).bitwise_and_(kMask32);
  h.bitwise_xor_(h.__rshift__(16));
  return h;
}

torch::Tensor dropout_bases(const std::vector<int64_t>& seeds, const torch::Device& device) {
  std::vector<int64_t> base;
  for (auto s : seeds) base.push_back(static_cast<int64_t>(stream_seed(s, Stream::kDropoutMember, 0) & 0xFFFFFFFFULL));
  return torch::tensor(base, torch::kInt64).to(device);
}

torch::Tensor dropout_keys(const torch::Tensor& base, int64_t epoch, int64_t step, int64_t layer) {
  const uint32_t c = static_cast<uint32_t>(stream_seed(epoch, Stream::kDropoutStep, step * 1024 + layer) & 0xFFFFFFFFULL);
  return mix32(base.bitwise_xor(static_cast<int64_t>(c)));
}

torch::Tensor dropout_mask(const torch::Tensor& idx, const torch::Tensor& key, const torch::Tensor& p) {
  auto h = mix32(mix32(idx.bitwise_xor(key)));
  const auto threshold = (p * 4294967296.0).ceil().to(torch::kInt64);
  return h.ge(threshold).to(torch::kFloat32).mul_((1.0 / (1.0 - p)).to(torch::kFloat32));
}

torch::Tensor dropout_mask(const torch::Tensor& idx, const torch::Tensor& key, double p) {
  auto h = mix32(mix32(idx.bitwise_xor(key)));
  const auto threshold = static_cast<int64_t>(std::ceil(p * 4294967296.0));
  return h.ge(threshold).to(torch::kFloat32).mul_(static_cast<float>(1.0 / (1.0 - p)));
}

}  // namespace hyperrep::population
