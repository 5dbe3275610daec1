// The population's max-pool and tanh (population_ops.h): the raw 2x2 and k x k pools with their
// backward, and the autograd forms of both.
#include "population/population_ops.h"

#include <ATen/Parallel.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

#include <cmath>
#include <cstring>

#include "common/error.h"
#include "kernels/vector_math.h"

namespace hyperrep::population {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// One output row of a 2x2 pool from input rows r0, r1: max and window position (0..3) of
// outputs [from, Wo), first maximum wins, NaN propagates (torch's CPU rule).
void pool2_row_scalar(const float* r0, const float* r1, float* d, uint8_t* a, int64_t from, int64_t Wo) {
  for (int64_t ox = from; ox < Wo; ++ox) {
    const float v0 = r0[2 * ox], v1 = r0[2 * ox + 1], v2 = r1[2 * ox], v3 = r1[2 * ox + 1];
    const bool t1 = (v1 > v0) | (v1 != v1);
    const float m1 = t1 ? v1 : v0;
    const int b1 = t1 ? 1 : 0;
    const bool t2 = (v2 > m1) | (v2 != v2);
    const float m2 = t2 ? v2 : m1;
    const int b2 = t2 ? 2 : b1;
    const bool t3 = (v3 > m2) | (v3 != v3);
    d[ox] = t3 ? v3 : m2;
    a[ox] = static_cast<uint8_t>(t3 ? 3 : b2);
  }
}

#if defined(__x86_64__) && defined(__GNUC__)
// The same, eight outputs per step with AVX2 (the library is built for baseline x86-64, so the
// kernel is compiled for AVX2 on its own and chosen at run time).
__attribute__((target("avx2"))) void pool2_row_avx2(const float* r0, const float* r1, float* d, uint8_t* a, int64_t Wo) {
  int64_t ox = 0;
  // Lambdas would not inherit the target attribute: the steps are spelled out.
  for (; ox + 8 <= Wo; ox += 8) {
    const __m256 a0 = _mm256_loadu_ps(r0 + 2 * ox), a1 = _mm256_loadu_ps(r0 + 2 * ox + 8);
    const __m256 b0 = _mm256_loadu_ps(r1 + 2 * ox), b1 = _mm256_loadu_ps(r1 + 2 * ox + 8);
    // De-interleave even/odd columns; the 64-bit permute restores their order across lanes.
    const __m256 v0 = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a0, a1, 0x88)), 0xD8));
    const __m256 v1 = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a0, a1, 0xDD)), 0xD8));
    const __m256 v2 = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(b0, b1, 0x88)), 0xD8));
    const __m256 v3 = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(b0, b1, 0xDD)), 0xD8));
    __m256 m = v0, idx = _mm256_setzero_ps(), t;
    t = _mm256_or_ps(_mm256_cmp_ps(v1, m, _CMP_GT_OQ), _mm256_cmp_ps(v1, v1, _CMP_UNORD_Q));
    m = _mm256_blendv_ps(m, v1, t), idx = _mm256_blendv_ps(idx, _mm256_set1_ps(1.0f), t);
    t = _mm256_or_ps(_mm256_cmp_ps(v2, m, _CMP_GT_OQ), _mm256_cmp_ps(v2, v2, _CMP_UNORD_Q));
    m = _mm256_blendv_ps(m, v2, t), idx = _mm256_blendv_ps(idx, _mm256_set1_ps(2.0f), t);
    t = _mm256_or_ps(_mm256_cmp_ps(v3, m, _CMP_GT_OQ), _mm256_cmp_ps(v3, v3, _CMP_UNORD_Q));
    m = _mm256_blendv_ps(m, v3, t), idx = _mm256_blendv_ps(idx, _mm256_set1_ps(3.0f), t);
    _mm256_storeu_ps(d + ox, m);
    const __m256i i32 = _mm256_cvttps_epi32(idx);
    const __m128i i16 = _mm_packus_epi32(_mm256_castsi256_si128(i32), _mm256_extracti128_si256(i32, 1));
    _mm_storel_epi64(reinterpret_cast<__m128i*>(a + ox), _mm_packus_epi16(i16, i16));
  }
  for (; ox + 4 <= Wo; ox += 4) {  // CNN-s's rows are 12 and 4 outputs wide: a 4-wide step too
    const __m128 a0 = _mm_loadu_ps(r0 + 2 * ox), a1 = _mm_loadu_ps(r0 + 2 * ox + 4);
    const __m128 b0 = _mm_loadu_ps(r1 + 2 * ox), b1 = _mm_loadu_ps(r1 + 2 * ox + 4);
    const __m128 v0 = _mm_shuffle_ps(a0, a1, 0x88), v1 = _mm_shuffle_ps(a0, a1, 0xDD);
    const __m128 v2 = _mm_shuffle_ps(b0, b1, 0x88), v3 = _mm_shuffle_ps(b0, b1, 0xDD);
    __m128 m = v0, idx = _mm_setzero_ps(), t;
    t = _mm_or_ps(_mm_cmp_ps(v1, m, _CMP_GT_OQ), _mm_cmp_ps(v1, v1, _CMP_UNORD_Q));
    m = _mm_blendv_ps(m, v1, t), idx = _mm_blendv_ps(idx, _mm_set1_ps(1.0f), t);
    t = _mm_or_ps(_mm_cmp_ps(v2, m, _CMP_GT_OQ), _mm_cmp_ps(v2, v2, _CMP_UNORD_Q));
    m = _mm_blendv_ps(m, v2, t), idx = _mm_blendv_ps(idx, _mm_set1_ps(2.0f), t);
    t = _mm_or_ps(_mm_cmp_ps(v3, m, _CMP_GT_OQ), _mm_cmp_ps(v3, v3, _CMP_UNORD_Q));
    m = _mm_blendv_ps(m, v3, t), idx = _mm_blendv_ps(idx, _mm_set1_ps(3.0f), t);
    _mm_storeu_ps(d + ox, m);
    const __m128i i32 = _mm_cvttps_epi32(idx);
    const __m128i i8 = _mm_packus_epi16(_mm_packus_epi32(i32, i32), _mm_setzero_si128());
    const int32_t four = _mm_cvtsi128_si32(i8);
    std::memcpy(a + ox, &four, 4);
  }
  pool2_row_scalar(r0, r1, d, a, ox, Wo);
}

// The backward of one output row of a 2x2 pool: input rows r0, r1 get each output's gradient at
// its window's maximum and 0 elsewhere, outputs [from, Wo).
void pool2_back_row_scalar(const float* g, const uint8_t* a, float* r0, float* r1, int64_t from, int64_t Wo) {
  for (int64_t ox = from; ox < Wo; ++ox) {
    const float v = g[ox];
    const uint8_t m = a[ox];
    r0[2 * ox] = m == 0 ? v : 0.0f;
    r0[2 * ox + 1] = m == 1 ? v : 0.0f;
    r1[2 * ox] = m == 2 ? v : 0.0f;
    r1[2 * ox + 1] = m == 3 ? v : 0.0f;
  }
}

__attribute__((target("avx2"))) void pool2_back_row_avx2(const float* g, const uint8_t* a, float* r0, float* r1, int64_t Wo) {
  int64_t ox = 0;
  const __m256 z8 = _mm256_setzero_ps();
  for (; ox + 8 <= Wo; ox += 8) {
    const __m256 gv = _mm256_loadu_ps(g + ox);
    const __m256i ai = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(a + ox)));
    const __m256 v0 = _mm256_blendv_ps(z8, gv, _mm256_castsi256_ps(_mm256_cmpeq_epi32(ai, _mm256_set1_epi32(0))));
    const __m256 v1 = _mm256_blendv_ps(z8, gv, _mm256_castsi256_ps(_mm256_cmpeq_epi32(ai, _mm256_set1_epi32(1))));
    const __m256 v2 = _mm256_blendv_ps(z8, gv, _mm256_castsi256_ps(_mm256_cmpeq_epi32(ai, _mm256_set1_epi32(2))));
    const __m256 v3 = _mm256_blendv_ps(z8, gv, _mm256_castsi256_ps(_mm256_cmpeq_epi32(ai, _mm256_set1_epi32(3))));
    // Interleave (window column 0, column 1) within lanes, then put the lanes in order.
    const __m256 lo0 = _mm256_unpacklo_ps(v0, v1), hi0 = _mm256_unpackhi_ps(v0, v1);
    const __m256 lo1 = _mm256_unpacklo_ps(v2, v3), hi1 = _mm256_unpackhi_ps(v2, v3);
    _mm256_storeu_ps(r0 + 2 * ox, _mm256_permute2f128_ps(lo0, hi0, 0x20));
    _mm256_storeu_ps(r0 + 2 * ox + 8, _mm256_permute2f128_ps(lo0, hi0, 0x31));
    _mm256_storeu_ps(r1 + 2 * ox, _mm256_permute2f128_ps(lo1, hi1, 0x20));
    _mm256_storeu_ps(r1 + 2 * ox + 8, _mm256_permute2f128_ps(lo1, hi1, 0x31));
  }
  const __m128 z4 = _mm_setzero_ps();
  for (; ox + 4 <= Wo; ox += 4) {
    const __m128 gv = _mm_loadu_ps(g + ox);
    int32_t four;
    std::memcpy(&four, a + ox, 4);
    const __m128i ai = _mm_cvtepu8_epi32(_mm_cvtsi32_si128(four));
    const __m128 v0 = _mm_blendv_ps(z4, gv, _mm_castsi128_ps(_mm_cmpeq_epi32(ai, _mm_set1_epi32(0))));
    const __m128 v1 = _mm_blendv_ps(z4, gv, _mm_castsi128_ps(_mm_cmpeq_epi32(ai, _mm_set1_epi32(1))));
    const __m128 v2 = _mm_blendv_ps(z4, gv, _mm_castsi128_ps(_mm_cmpeq_epi32(ai, _mm_set1_epi32(2))));
    const __m128 v3 = _mm_blendv_ps(z4, gv, _mm_castsi128_ps(_mm_cmpeq_epi32(ai, _mm_set1_epi32(3))));
    _mm_storeu_ps(r0 + 2 * ox, _mm_unpacklo_ps(v0, v1));
    _mm_storeu_ps(r0 + 2 * ox + 4, _mm_unpackhi_ps(v0, v1));
    _mm_storeu_ps(r1 + 2 * ox, _mm_unpacklo_ps(v2, v3));
    _mm_storeu_ps(r1 + 2 * ox + 4, _mm_unpackhi_ps(v2, v3));
  }
  pool2_back_row_scalar(g, a, r0, r1, ox, Wo);
}
#else
void pool2_row_avx2(const float* r0, const float* r1, float* d, uint8_t* a, int64_t Wo) { pool2_row_scalar(r0, r1, d, a, 0, Wo); }
void pool2_back_row_avx2(const float* g, const uint8_t* a, float* r0, float* r1, int64_t Wo) {
  pool2_back_row_scalar(g, a, r0, r1, 0, Wo);
}
#endif

}  // namespace

void max_pool_forward_raw(const float* src, float* dst, uint8_t* am, int64_t planes, int64_t H, int64_t W, int64_t k) {
  const int64_t Ho = H / k, Wo = W / k;
  const bool avx2 = k == 2 && kernels::avx2_fma_available();
  at::parallel_for(0, planes, 16, [&](int64_t s, int64_t e) {
    for (int64_t pl = s; pl < e; ++pl) {
      const float* in = src + pl * H * W;
      if (k == 2) {  // CNN-s's pools
        for (int64_t oy = 0; oy < Ho; ++oy) {
          const float* r0 = in + 2 * oy * W;
          float* d = dst + (pl * Ho + oy) * Wo;
          uint8_t* a = am + (pl * Ho + oy) * Wo;
          if (avx2) {
            pool2_row_avx2(r0, r0 + W, d, a, Wo);
          } else {
            pool2_row_scalar(r0, r0 + W, d, a, 0, Wo);
          }
        }
        continue;
      }
      for (int64_t oy = 0; oy < Ho; ++oy) {
        for (int64_t ox = 0; ox < Wo; ++ox) {
          const float* win = in + oy * k * W + ox * k;
          float m = win[0];
          int64_t best = 0;
          for (int64_t dy = 0; dy < k; ++dy) {
            for (int64_t dx = 0; dx < k; ++dx) {
              const float v = win[dy * W + dx];
              if (v > m || std::isnan(v)) m = v, best = dy * k + dx;
            }
          }
          const int64_t o = (pl * Ho + oy) * Wo + ox;
          dst[o] = m;
          am[o] = static_cast<uint8_t>(best);
        }
      }
    }
  });
}

void max_pool_backward_raw(const float* gs, const uint8_t* am, float* out, int64_t planes, int64_t H, int64_t W, int64_t k) {
  const int64_t Ho = H / k, Wo = W / k;
  const bool avx2 = k == 2 && kernels::avx2_fma_available();
  at::parallel_for(0, planes, 16, [&](int64_t s, int64_t e) {
    for (int64_t pl = s; pl < e; ++pl) {
      float* plane = out + pl * H * W;
      const float* g = gs + pl * Ho * Wo;
      const uint8_t* a = am + pl * Ho * Wo;
      if (k != 2) {  // zero the plane, then the gradient to each window's maximum
        std::fill(plane, plane + H * W, 0.0f);
        for (int64_t o = 0; o < Ho * Wo; ++o) plane[(o / Wo * k + a[o] / k) * W + o % Wo * k + a[o] % k] = g[o];
        continue;
      }
      // Every input position is written once: the maximum gets the gradient, the rest of its
      // window 0, and a column or row past the last whole window (odd sizes) 0.
      for (int64_t oy = 0; oy < Ho; ++oy) {
        float* r0 = plane + 2 * oy * W;
        if (avx2) {
          pool2_back_row_avx2(g + oy * Wo, a + oy * Wo, r0, r0 + W, Wo);
        } else {
          pool2_back_row_scalar(g + oy * Wo, a + oy * Wo, r0, r0 + W, 0, Wo);
        }
        if (W > 2 * Wo) r0[W - 1] = r0[2 * W - 1] = 0.0f;
      }
      std::fill(plane + Ho * k * W, plane + H * W, 0.0f);
    }
  });
}

namespace {

// k x k max-pool with stride k over the last two dims (floor sizes, as torch's max_pool2d).
// The first maximum of a window in row-major order wins, NaN propagates: torch's CPU rule.
class MaxPool : public torch::autograd::Function<MaxPool> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x_in, int64_t k) {
    auto x = x_in.contiguous();
    const int64_t H = x.size(-2), W = x.size(-1), planes = x.numel() / (H * W);
    auto sizes = x.sizes().vec();
    sizes[sizes.size() - 2] = H / k, sizes[sizes.size() - 1] = W / k;
    auto y = torch::empty(sizes, x.options());
    auto arg = torch::empty(sizes, x.options().dtype(torch::kUInt8));  // window position of the max
    max_pool_forward_raw(x.data_ptr<float>(), y.data_ptr<float>(), arg.data_ptr<uint8_t>(), planes, H, W, k);
    ctx->saved_data["arg"] = arg;
    ctx->saved_data["k"] = k;
    ctx->saved_data["in"] = x.sizes().vec();
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto arg = ctx->saved_data["arg"].toTensor();
    const int64_t k = ctx->saved_data["k"].toInt();
    auto in_sizes = ctx->saved_data["in"].toIntVector();
    auto g = grads[0].contiguous();
    auto dx = torch::empty(in_sizes, g.options());
    const int64_t H = dx.size(-2), W = dx.size(-1);
    max_pool_backward_raw(g.data_ptr<float>(), arg.data_ptr<uint8_t>(), dx.data_ptr<float>(), dx.numel() / (H * W), H, W, k);
    return {dx, torch::Tensor()};
  }
};

// tanh with the vector kernel; the gradient from the saved output, as torch's tanh_backward.
class FastTanh : public torch::autograd::Function<FastTanh> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x_in) {
    auto x = x_in.contiguous();
    auto y = torch::empty_like(x);
    const float* src = x.data_ptr<float>();
    float* dst = y.data_ptr<float>();
    at::parallel_for(0, x.numel(), 1 << 14, [&](int64_t s, int64_t e) { kernels::tanh_avx2(src + s, dst + s, e - s); });
    ctx->save_for_backward({y});
    return y;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    return {torch::tanh_backward(grads[0], ctx->get_saved_variables()[0])};
  }
};

}  // namespace

torch::Tensor population_tanh(const torch::Tensor& x) {
  if (!kernels::avx2_fma_available() || x.scalar_type() != torch::kFloat32 || !x.device().is_cpu()) return torch::tanh(x);
  return FastTanh::apply(x);
}

torch::Tensor population_max_pool2d(const torch::Tensor& x, int64_t k) {
  HYPERREP_CHECK(x.dim() >= 2 && x.scalar_type() == torch::kFloat32 && x.device().is_cpu(), InternalError,
                 "population_max_pool2d: expected a float32 CPU tensor, got ", x.sizes(), " ", x.scalar_type());
  HYPERREP_CHECK(k >= 1 && k * k <= 255 && x.size(-2) >= k && x.size(-1) >= k, InternalError, "population_max_pool2d: window ", k,
                 " does not fit ", x.sizes());
  return MaxPool::apply(x, k);
}

}  // namespace hyperrep::population
