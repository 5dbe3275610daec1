// Shared by the kernel sources, not a public header. The library is built for baseline x86-64:
// vector code is compiled for AVX2 + FMA or AVX-512 on its own (the target attributes below) and
// chosen at run time (avx2_fma_available, avx512f_available in vector_math.h); vector values never
// cross into code compiled without AVX. HYPERREP_X86_KERNELS is 0 where there is no such code.
#pragma once

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HYPERREP_X86_KERNELS 1
#define HYPERREP_AVX2_FMA __attribute__((target("avx2,fma")))
#define HYPERREP_AVX512VL __attribute__((target("avx2,fma,avx512f,avx512vl")))

namespace hyperrep::kernels {

// Lanes [0, lanes) set, lanes in 1..8.
HYPERREP_AVX2_FMA inline __m256i lane_mask(int lanes) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(lanes), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// The sum of the eight lanes.
HYPERREP_AVX2_FMA inline float hsum(__m256 v) {
  const __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 t = _mm_add_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_add_ss(t, _mm_shuffle_ps(t, t, 1)));
}

}  // namespace hyperrep::kernels
#else
#define HYPERREP_X86_KERNELS 0
#endif
