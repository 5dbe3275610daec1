#include "kernels/vector_math.h"

#include <cstring>

#include "common/error.h"
#include "kernels/x86_simd.h"

namespace hyperrep::kernels {

#if HYPERREP_X86_KERNELS
namespace {

// tanh of eight floats, computed on |x| with the sign of x put back last. |x| < 0.4: the odd
// Taylor polynomial to x^13 (next term < 5e-9 relative).
// Otherwise 1 - 2 / (exp(2|x|) + 1): exp by n = round(t / ln 2),
// r = t - n ln 2 (two-part ln 2), a degree-7 Taylor polynomial of e^r (|r| <= 0.35, error < 6e-9)
// and 2^n through the exponent bits; t is capped at 20 (where tanh is 1 in float).
HYPERREP_AVX2_FMA inline __m256 tanh8(__m256 x) {
  const __m256 sign = _mm256_and_ps(x, _mm256_set1_ps(-0.0f));
  const __m256 a = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), x);
  // Small |x|.
  const __m256 x2 = _mm256_mul_ps(x, x);
  __m256 p = _mm256_set1_ps(0.003592128036572481f);
  p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(-0.008863235529902197f));
  p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(0.021869488536155203f));
  p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(-0.05396825396825397f));
  p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(0.13333333333333333f));
  p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(-0.3333333333333333f));
  const __m256 small = _mm256_fmadd_ps(_mm256_mul_ps(p, x2), a, a);  // of |x|: the sign goes on last
  // Large |x|; min(20, t) keeps a NaN (the second operand wins), which then propagates.
  const __m256 t = _mm256_min_ps(_mm256_set1_ps(20.0f), _mm256_add_ps(a, a));
  const __m256 n =
      _mm256_round_ps(_mm256_mul_ps(t, _mm256_set1_ps(1.4426950408889634f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693145751953125f), t);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(1.428606765330187e-06f), r);
  __m256 e = _mm256_set1_ps(1.0f / 5040.0f);
  e = _mm256_fmadd_ps(e, r, _mm256_set1_ps(1.0f / 720.0f));
  e = _mm256_fmadd_ps(e, r, _mm256_set1_ps(1.0f / 120.0f));
  e = _mm256_fmadd_ps(e, r, _mm256_set1_ps(1.0f / 24.0f));
  e = _mm256_fmadd_ps(e, r, _mm256_set1_ps(1.0f / 6.0f));
  e = _mm256_fmadd_ps(e, r, _mm256_set1_ps(0.5f));
  e = _mm256_fmadd_ps(e, r, _mm256_set1_ps(1.0f));
  e = _mm256_fmadd_ps(e, r, _mm256_set1_ps(1.0f));
  const __m256i bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  e = _mm256_mul_ps(e, _mm256_castsi256_ps(bits));
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m256 large = _mm256_sub_ps(one, _mm256_div_ps(_mm256_set1_ps(2.0f), _mm256_add_ps(e, one)));
  return _mm256_or_ps(_mm256_blendv_ps(large, small, _mm256_cmp_ps(a, _mm256_set1_ps(0.4f), _CMP_LT_OQ)), sign);
}

// The same arithmetic on sixteen floats with AVX-512, lane for lane the same operations, so
// every value equals tanh8's bit for bit. (GCC 12's AVX-512 intrinsics pass an undefined vector
// to their masked builtins and warn about it when inlined: silenced here.)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
__attribute__((target("avx512f"))) inline __m512 tanh16(__m512 x) {
  const __m512i signbit = _mm512_set1_epi32(static_cast<int>(0x80000000u));
  const __m512i sign = _mm512_and_epi32(_mm512_castps_si512(x), signbit);
  const __m512 a = _mm512_castsi512_ps(_mm512_andnot_epi32(signbit, _mm512_castps_si512(x)));
  const __m512 x2 = _mm512_mul_ps(x, x);
  __m512 p = _mm512_set1_ps(0.003592128036572481f);
  p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(-0.008863235529902197f));
  p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(0.021869488536155203f));
  p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(-0.05396825396825397f));
  p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(0.13333333333333333f));
  p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(-0.3333333333333333f));
  const __m512 small = _mm512_fmadd_ps(_mm512_mul_ps(p, x2), a, a);
  const __m512 t = _mm512_min_ps(_mm512_set1_ps(20.0f), _mm512_add_ps(a, a));
  const __m512 n =
      _mm512_roundscale_ps(_mm512_mul_ps(t, _mm512_set1_ps(1.4426950408889634f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693145751953125f), t);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.428606765330187e-06f), r);
  __m512 e = _mm512_set1_ps(1.0f / 5040.0f);
  e = _mm512_fmadd_ps(e, r, _mm512_set1_ps(1.0f / 720.0f));
  e = _mm512_fmadd_ps(e, r, _mm512_set1_ps(1.0f / 120.0f));
  e = _mm512_fmadd_ps(e, r, _mm512_set1_ps(1.0f / 24.0f));
  e = _mm512_fmadd_ps(e, r, _mm512_set1_ps(1.0f / 6.0f));
  e = _mm512_fmadd_ps(e, r, _mm512_set1_ps(0.5f));
  e = _mm512_fmadd_ps(e, r, _mm512_set1_ps(1.0f));
  e = _mm512_fmadd_ps(e, r, _mm512_set1_ps(1.0f));
  const __m512i bits = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23);
  e = _mm512_mul_ps(e, _mm512_castsi512_ps(bits));
  const __m512 one = _mm512_set1_ps(1.0f);
  const __m512 large = _mm512_sub_ps(one, _mm512_div_ps(_mm512_set1_ps(2.0f), _mm512_add_ps(e, one)));
  const __m512 chosen = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, _mm512_set1_ps(0.4f), _CMP_LT_OQ), large, small);
  return _mm512_castsi512_ps(_mm512_or_epi32(_mm512_castps_si512(chosen), sign));
}

__attribute__((target("avx512f"))) int64_t tanh_avx512_body(const float* x, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, tanh16(_mm512_loadu_ps(x + i)));
  return i;
}

#pragma GCC diagnostic pop

HYPERREP_AVX2_FMA void tanh_avx2_impl(const float* x, float* y, int64_t n, bool allow_avx512) {
  int64_t i = allow_avx512 && avx512f_available() ? tanh_avx512_body(x, y, n) : 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, tanh8(_mm256_loadu_ps(x + i)));
  if (i < n) {
    float buf[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    std::memcpy(buf, x + i, sizeof(float) * static_cast<size_t>(n - i));
    _mm256_storeu_ps(buf, tanh8(_mm256_loadu_ps(buf)));
    std::memcpy(y + i, buf, sizeof(float) * static_cast<size_t>(n - i));
  }
}

}  // namespace

bool avx2_fma_available() {
  static const bool yes = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return yes;
}

bool avx512f_available() {
  static const bool yes = __builtin_cpu_supports("avx512f");
  return yes;
}

void tanh_avx2(const float* x, float* y, int64_t n, bool allow_avx512) {
  HYPERREP_CHECK(avx2_fma_available(), InternalError, "tanh_avx2: this CPU has no AVX2 + FMA");
  tanh_avx2_impl(x, y, n, allow_avx512);
}

#else

bool avx2_fma_available() { return false; }
bool avx512f_available() { return false; }
void tanh_avx2(const float*, float*, int64_t, bool) { HYPERREP_CHECK(false, InternalError, "tanh_avx2: needs x86-64"); }

#endif

}  // namespace hyperrep::kernels
