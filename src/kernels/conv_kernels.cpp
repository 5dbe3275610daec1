#include "kernels/conv_kernels.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <array>
#include <utility>
#include <vector>

#include "common/error.h"
#include "kernels/vector_math.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HYPERREP_DIRECT_CONV 1
#else
#define HYPERREP_DIRECT_CONV 0
#endif

namespace hyperrep::kernels {

#if HYPERREP_DIRECT_CONV
namespace {

// The library is built for baseline x86-64: the kernels are compiled for AVX2 + FMA on their own
// and chosen at run time. Vector values never cross into code compiled without AVX.
#define HYPERREP_AVX2_FMA __attribute__((target("avx2,fma")))

constexpr int kMaxVectors = 3;   // an output block is at most 24 floats wide
constexpr int kMaxChannels = 4;  // and covers at most 4 output channels

HYPERREP_AVX2_FMA inline __m256i lane_mask(int lanes) {  // lanes [0, lanes) set, lanes in 1..8
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(lanes), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

HYPERREP_AVX2_FMA inline float hsum(__m256 v) {
  const __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 t = _mm_add_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_add_ss(t, _mm_shuffle_ps(t, t, 1)));
}

// Where one output block reads and writes.
struct Block {
  const float* x;      // input plane of channel 0 at the block's (row, first column)
  int64_t xs_channel;  // input channel stride
  int64_t W;           // input row stride
  const float* w;      // weights [C, k, k] of the block's first output channel
  int64_t ckk;         // output channel stride of w
  int64_t C, k;
  int64_t ky0, ky1;   // kernel rows [ky0, ky1) read non-zero input rows; the others are skipped
  const float* bias;  // of the block's first output channel, or null
  float* y;           // output plane of the first channel at (row, first column)
  int64_t ys;         // output channel stride
  int64_t Wo;         // output row stride
  int tail;           // lanes of the last vector (1..8)
};

// OB output channels x RB output rows x NV vectors of 8 columns (the last one masked to b.tail
// lanes), accumulated in registers over C x k x k taps: each input vector feeds OB FMAs and each
// broadcast weight RB x NV.
template <int NV, int OB, int RB>
HYPERREP_AVX2_FMA void forward_block(const Block& b) {
  const __m256i mask = lane_mask(b.tail);
  __m256 acc[OB][RB][NV];
#pragma GCC unroll 4
  for (int o = 0; o < OB; ++o) {
    const __m256 b0 = b.bias ? _mm256_set1_ps(b.bias[o]) : _mm256_setzero_ps();
#pragma GCC unroll 2
    for (int r = 0; r < RB; ++r) {
#pragma GCC unroll 3
      for (int v = 0; v < NV; ++v) acc[o][r][v] = b0;
    }
  }
  for (int64_t c = 0; c < b.C; ++c) {
    for (int64_t ky = b.ky0; ky < b.ky1; ++ky) {
      const float* row = b.x + c * b.xs_channel + ky * b.W;
      const float* wr = b.w + (c * b.k + ky) * b.k;
      for (int64_t kx = 0; kx < b.k; ++kx) {
        __m256 in[RB][NV];
#pragma GCC unroll 2
        for (int r = 0; r < RB; ++r) {
#pragma GCC unroll 3
          for (int v = 0; v + 1 < NV; ++v) in[r][v] = _mm256_loadu_ps(row + r * b.W + kx + 8 * v);
          in[r][NV - 1] = _mm256_maskload_ps(row + r * b.W + kx + 8 * (NV - 1), mask);
        }
#pragma GCC unroll 4
        for (int o = 0; o < OB; ++o) {
          const __m256 wv = _mm256_broadcast_ss(wr + o * b.ckk + kx);
#pragma GCC unroll 2
          for (int r = 0; r < RB; ++r) {
#pragma GCC unroll 3
            for (int v = 0; v < NV; ++v) acc[o][r][v] = _mm256_fmadd_ps(wv, in[r][v], acc[o][r][v]);
          }
        }
      }
    }
  }
#pragma GCC unroll 4
  for (int o = 0; o < OB; ++o) {
#pragma GCC unroll 2
    for (int r = 0; r < RB; ++r) {
      float* out = b.y + o * b.ys + r * b.Wo;
#pragma GCC unroll 3
      for (int v = 0; v + 1 < NV; ++v) _mm256_storeu_ps(out + 8 * v, acc[o][r][v]);
      _mm256_maskstore_ps(out + 8 * (NV - 1), mask, acc[o][r][NV - 1]);
    }
  }
}

using BlockFn = void (*)(const Block&);

template <int NV, int OB>
constexpr std::array<BlockFn, 2> forward_rows() {
  return {&forward_block<NV, OB, 1>, &forward_block<NV, OB, 2>};
}
template <int NV>
constexpr std::array<std::array<BlockFn, 2>, kMaxChannels> forward_channels() {
  return {forward_rows<NV, 1>(), forward_rows<NV, 2>(), forward_rows<NV, 3>(), forward_rows<NV, 4>()};
}
// kForward[NV - 1][OB - 1][RB - 1]
constexpr std::array<std::array<std::array<BlockFn, 2>, kMaxChannels>, kMaxVectors> kForward = {
    forward_channels<1>(), forward_channels<2>(), forward_channels<3>()};

// The same block with 16-float AVX-512 vectors (the tail masked to b.tail lanes, 1..16) for rows
// wider than 8: 24-wide rows take 2 vectors instead of 3 and 12-wide rows 1 instead of 2. Each
// output still sums its taps in the same order, so the results equal forward_block's bit for bit.
template <int NV, int OB, int RB>
__attribute__((target("avx512f"))) void forward_block512(const Block& b) {
  const __mmask16 mask = static_cast<__mmask16>((1u << b.tail) - 1u);
  __m512 acc[OB][RB][NV];
#pragma GCC unroll 4
  for (int o = 0; o < OB; ++o) {
    const __m512 b0 = b.bias ? _mm512_set1_ps(b.bias[o]) : _mm512_setzero_ps();
#pragma GCC unroll 2
    for (int r = 0; r < RB; ++r) {
#pragma GCC unroll 2
      for (int v = 0; v < NV; ++v) acc[o][r][v] = b0;
    }
  }
  for (int64_t c = 0; c < b.C; ++c) {
    for (int64_t ky = b.ky0; ky < b.ky1; ++ky) {
      const float* row = b.x + c * b.xs_channel + ky * b.W;
      const float* wr = b.w + (c * b.k + ky) * b.k;
      for (int64_t kx = 0; kx < b.k; ++kx) {
        __m512 in[RB][NV];
#pragma GCC unroll 2
        for (int r = 0; r < RB; ++r) {
#pragma GCC unroll 2
          for (int v = 0; v + 1 < NV; ++v) in[r][v] = _mm512_loadu_ps(row + r * b.W + kx + 16 * v);
          in[r][NV - 1] = _mm512_maskz_loadu_ps(mask, row + r * b.W + kx + 16 * (NV - 1));
        }
#pragma GCC unroll 4
        for (int o = 0; o < OB; ++o) {
          const __m512 wv = _mm512_set1_ps(wr[o * b.ckk + kx]);
#pragma GCC unroll 2
          for (int r = 0; r < RB; ++r) {
#pragma GCC unroll 2
            for (int v = 0; v < NV; ++v) acc[o][r][v] = _mm512_fmadd_ps(wv, in[r][v], acc[o][r][v]);
          }
        }
      }
    }
  }
#pragma GCC unroll 4
  for (int o = 0; o < OB; ++o) {
#pragma GCC unroll 2
    for (int r = 0; r < RB; ++r) {
      float* out = b.y + o * b.ys + r * b.Wo;
#pragma GCC unroll 2
      for (int v = 0; v + 1 < NV; ++v) _mm512_storeu_ps(out + 16 * v, acc[o][r][v]);
      _mm512_mask_storeu_ps(out + 16 * (NV - 1), mask, acc[o][r][NV - 1]);
    }
  }
}

// Rows exactly 8 wide with AVX-512: two output rows share one 16-float vector (row r in the low
// half, row r + 1 in the high half), RP such pairs at a time. Each output still sums its taps in
// the same order, so the results equal forward_block's bit for bit.
template <int OB, int RP>
__attribute__((target("avx512f"))) void forward_pairs512(const Block& b) {
  __m512 acc[OB][RP];
#pragma GCC unroll 4
  for (int o = 0; o < OB; ++o) {
    const __m512 b0 = b.bias ? _mm512_set1_ps(b.bias[o]) : _mm512_setzero_ps();
#pragma GCC unroll 2
    for (int q = 0; q < RP; ++q) acc[o][q] = b0;
  }
  for (int64_t c = 0; c < b.C; ++c) {
    for (int64_t ky = b.ky0; ky < b.ky1; ++ky) {
      const float* row = b.x + c * b.xs_channel + ky * b.W;
      const float* wr = b.w + (c * b.k + ky) * b.k;
      for (int64_t kx = 0; kx < b.k; ++kx) {
        __m512 in[RP];
#pragma GCC unroll 2
        for (int q = 0; q < RP; ++q) {
          // Low half from row 2q, high half from row 2q + 1 (masked loads touch only those floats).
          const float* r0 = row + 2 * q * b.W + kx;
          in[q] = _mm512_mask_loadu_ps(_mm512_maskz_loadu_ps(0x00FF, r0), 0xFF00, r0 + b.W - 8);
        }
#pragma GCC unroll 4
        for (int o = 0; o < OB; ++o) {
          const __m512 wv = _mm512_set1_ps(wr[o * b.ckk + kx]);
#pragma GCC unroll 2
          for (int q = 0; q < RP; ++q) acc[o][q] = _mm512_fmadd_ps(wv, in[q], acc[o][q]);
        }
      }
    }
  }
#pragma GCC unroll 4
  for (int o = 0; o < OB; ++o) {
#pragma GCC unroll 2
    for (int q = 0; q < RP; ++q) {
      float* out = b.y + o * b.ys + 2 * q * b.Wo;
      _mm512_mask_storeu_ps(out, 0x00FF, acc[o][q]);
      _mm512_mask_storeu_ps(out + b.Wo - 8, 0xFF00, acc[o][q]);
    }
  }
}

// Two output rows of width 16 NF + 8 with AVX-512: NF full 16-float vectors per row, and the two
// rows' last 8 columns share one vector (row r low, row r + 1 high), so no lane computes past the
// row: 24-wide rows take 3 vectors for two rows instead of 4. Bitwise forward_block's results.
template <int NF, int OB>
__attribute__((target("avx512f"))) void forward_split512(const Block& b) {
  constexpr int kF = NF > 0 ? NF : 1;  // array extent (NF = 0: the pair vector only)
  __m512 acc[OB][2][kF], pair[OB];
#pragma GCC unroll 4
  for (int o = 0; o < OB; ++o) {
    const __m512 b0 = b.bias ? _mm512_set1_ps(b.bias[o]) : _mm512_setzero_ps();
    pair[o] = b0;
#pragma GCC unroll 2
    for (int r = 0; r < 2; ++r) {
#pragma GCC unroll 2
      for (int v = 0; v < NF; ++v) acc[o][r][v] = b0;
    }
  }
  for (int64_t c = 0; c < b.C; ++c) {
    for (int64_t ky = b.ky0; ky < b.ky1; ++ky) {
      const float* row = b.x + c * b.xs_channel + ky * b.W;
      const float* wr = b.w + (c * b.k + ky) * b.k;
      for (int64_t kx = 0; kx < b.k; ++kx) {
        __m512 in[2][kF];
#pragma GCC unroll 2
        for (int r = 0; r < 2; ++r) {
#pragma GCC unroll 2
          for (int v = 0; v < NF; ++v) in[r][v] = _mm512_loadu_ps(row + r * b.W + kx + 16 * v);
        }
        const float* t0 = row + kx + 16 * NF;
        const __m512 pin = _mm512_mask_loadu_ps(_mm512_maskz_loadu_ps(0x00FF, t0), 0xFF00, t0 + b.W - 8);
#pragma GCC unroll 4
        for (int o = 0; o < OB; ++o) {
          const __m512 wv = _mm512_set1_ps(wr[o * b.ckk + kx]);
#pragma GCC unroll 2
          for (int r = 0; r < 2; ++r) {
#pragma GCC unroll 2
            for (int v = 0; v < NF; ++v) acc[o][r][v] = _mm512_fmadd_ps(wv, in[r][v], acc[o][r][v]);
          }
          pair[o] = _mm512_fmadd_ps(wv, pin, pair[o]);
        }
      }
    }
  }
#pragma GCC unroll 4
  for (int o = 0; o < OB; ++o) {
    float* out = b.y + o * b.ys;
#pragma GCC unroll 2
    for (int r = 0; r < 2; ++r) {
#pragma GCC unroll 2
      for (int v = 0; v < NF; ++v) _mm512_storeu_ps(out + r * b.Wo + 16 * v, acc[o][r][v]);
    }
    _mm512_mask_storeu_ps(out + 16 * NF, 0x00FF, pair[o]);
    _mm512_mask_storeu_ps(out + b.Wo + 16 * NF - 8, 0xFF00, pair[o]);
  }
}

// kSplit512[NF][OB - 1]
constexpr std::array<std::array<BlockFn, kMaxChannels>, 2> kSplit512 = {
    std::array<BlockFn, kMaxChannels>{&forward_split512<0, 1>, &forward_split512<0, 2>, &forward_split512<0, 3>,
                                      &forward_split512<0, 4>},
    std::array<BlockFn, kMaxChannels>{&forward_split512<1, 1>, &forward_split512<1, 2>, &forward_split512<1, 3>,
                                      &forward_split512<1, 4>}};

template <int OB>
constexpr std::array<BlockFn, 2> forward_pairs512_rows() {
  return {&forward_pairs512<OB, 1>, &forward_pairs512<OB, 2>};
}
// kPairs512[OB - 1][RP - 1]
constexpr std::array<std::array<BlockFn, 2>, kMaxChannels> kPairs512 = {forward_pairs512_rows<1>(), forward_pairs512_rows<2>(),
                                                                        forward_pairs512_rows<3>(), forward_pairs512_rows<4>()};

template <int NV, int OB>
constexpr std::array<BlockFn, 2> forward512_rows() {
  return {&forward_block512<NV, OB, 1>, &forward_block512<NV, OB, 2>};
}
template <int NV>
constexpr std::array<std::array<BlockFn, 2>, kMaxChannels> forward512_channels() {
  return {forward512_rows<NV, 1>(), forward512_rows<NV, 2>(), forward512_rows<NV, 3>(), forward512_rows<NV, 4>()};
}
// kForward512[NV - 1][OB - 1][RB - 1], blocks up to 32 floats wide.
constexpr std::array<std::array<std::array<BlockFn, 2>, kMaxChannels>, 2> kForward512 = {forward512_channels<1>(),
                                                                                         forward512_channels<2>()};

bool cpu_has_avx512() {
  static const bool yes = __builtin_cpu_supports("avx512f");
  return yes;
}

// Sums over (n, y, x) of gy[o0 + o] * x[c] shifted by (ky, kx), for OB output channels and the
// K taps kx of one kernel row: OB x K accumulators, each input vector feeding OB FMAs.
struct GradBlock {
  const float* x;  // input plane (p, c, n = 0) at row ky (weight_grad_rows: at row 0)
  int64_t xs_image, W;
  const float* g;  // gy plane (p, o0, n = 0)
  int64_t gs_channel, gs_image;
  int64_t images, Ho, Wo;
  float* dw;    // dw[p, o0, c, ky, 0] (weight_grad_rows: dw[p, o0, c, 0, 0])
  int64_t dws;  // output channel stride of dw
};

template <int K, int OB>
HYPERREP_AVX2_FMA void weight_grad_block(const GradBlock& b) {
  __m256 acc[OB][K];
#pragma GCC unroll 4
  for (int o = 0; o < OB; ++o) {
#pragma GCC unroll 7
    for (int kx = 0; kx < K; ++kx) acc[o][kx] = _mm256_setzero_ps();
  }
  const int64_t full = b.Wo / 8 * 8;
  const int tail = static_cast<int>(b.Wo - full);
  const __m256i mask = lane_mask(tail > 0 ? tail : 8);
  for (int64_t n = 0; n < b.images; ++n) {
    for (int64_t y = 0; y < b.Ho; ++y) {
      const float* xr = b.x + n * b.xs_image + y * b.W;
      const float* gr = b.g + n * b.gs_image + y * b.Wo;
      for (int64_t x0 = 0; x0 < full; x0 += 8) {
        __m256 gv[OB];
#pragma GCC unroll 4
        for (int o = 0; o < OB; ++o) gv[o] = _mm256_loadu_ps(gr + o * b.gs_channel + x0);
#pragma GCC unroll 7
        for (int kx = 0; kx < K; ++kx) {
          const __m256 in = _mm256_loadu_ps(xr + x0 + kx);
#pragma GCC unroll 4
          for (int o = 0; o < OB; ++o) acc[o][kx] = _mm256_fmadd_ps(gv[o], in, acc[o][kx]);
        }
      }
      if (tail > 0) {  // masked lanes load as zero and are never read past the row
        __m256 gv[OB];
#pragma GCC unroll 4
        for (int o = 0; o < OB; ++o) gv[o] = _mm256_maskload_ps(gr + o * b.gs_channel + full, mask);
#pragma GCC unroll 7
        for (int kx = 0; kx < K; ++kx) {
          const __m256 in = _mm256_maskload_ps(xr + full + kx, mask);
#pragma GCC unroll 4
          for (int o = 0; o < OB; ++o) acc[o][kx] = _mm256_fmadd_ps(gv[o], in, acc[o][kx]);
        }
      }
    }
  }
#pragma GCC unroll 4
  for (int o = 0; o < OB; ++o) {
#pragma GCC unroll 7
    for (int kx = 0; kx < K; ++kx) b.dw[o * b.dws + kx] = hsum(acc[o][kx]);
  }
}

// With AVX-512's 32 vector registers (used at 8 lanes, AVX-512VL), every kernel row's taps fit at
// once: each input row is loaded once per image and feeds the K x K x OB accumulators of the output
// rows it reaches (y = row - ky), instead of once per kernel row. Every accumulator sums the same
// products in the same order as weight_grad_block's (images, then output rows, then columns), so
// the gradients are bitwise the same.
#define HYPERREP_AVX512VL __attribute__((target("avx2,fma,avx512f,avx512vl")))

// One vector of columns [x0, x0 + 8) of input row `row`: its K shifted input vectors feed kernel
// rows LO..HI, whose output rows row - ky exist (kCheck: only those that exist, checked here).
// kMasked: the row's last, partial vector (lanes past the row load as 0).
template <int K, int OB, int LO, int HI, bool kCheck, bool kMasked>
HYPERREP_AVX512VL inline __attribute__((always_inline)) void rows_step(__m256 (&acc)[OB][K][K], const float* xr,
                                                                       const float* gimg, int64_t row, int64_t x0,
                                                                       const GradBlock& b, __mmask8 mask) {
  __m256 in[K];
#pragma GCC unroll 5
  for (int kx = 0; kx < K; ++kx) in[kx] = kMasked ? _mm256_maskz_loadu_ps(mask, xr + x0 + kx) : _mm256_loadu_ps(xr + x0 + kx);
#pragma GCC unroll 5
  for (int ky = LO; ky <= HI; ++ky) {
    const int64_t y = row - ky;
    if (kCheck && (y < 0 || y >= b.Ho)) continue;
#pragma GCC unroll 6
    for (int o = 0; o < OB; ++o) {
      const float* gp = gimg + o * b.gs_channel + y * b.Wo + x0;
      const __m256 gv = kMasked ? _mm256_maskz_loadu_ps(mask, gp) : _mm256_loadu_ps(gp);
#pragma GCC unroll 5
      for (int kx = 0; kx < K; ++kx) acc[o][ky][kx] = _mm256_fmadd_ps(gv, in[kx], acc[o][ky][kx]);
    }
  }
}

template <int K, int OB, int LO, int HI, bool kCheck>
HYPERREP_AVX512VL inline __attribute__((always_inline)) void rows_row(__m256 (&acc)[OB][K][K], const float* xr, const float* gimg,
                                                                      int64_t row, int64_t full, int tail, const GradBlock& b,
                                                                      __mmask8 mask) {
  for (int64_t x0 = 0; x0 < full; x0 += 8) rows_step<K, OB, LO, HI, kCheck, false>(acc, xr, gimg, row, x0, b, mask);
  if (tail > 0) rows_step<K, OB, LO, HI, kCheck, true>(acc, xr, gimg, row, full, b, mask);
}

// Input row d (d < K - 1) reaches kernel rows 0..d; input row Ho - 1 + d (d >= 1) rows d..K-1.
// The row is matched against each d at compile time, so every case runs without checks.
template <int K, int OB, int D>
HYPERREP_AVX512VL inline __attribute__((always_inline)) void rows_edge(__m256 (&acc)[OB][K][K], const float* xr,
                                                                       const float* gimg, int64_t row, int64_t full, int tail,
                                                                       const GradBlock& b, __mmask8 mask) {
  if constexpr (D < K - 1) {
    if (row == D) return rows_row<K, OB, 0, D, false>(acc, xr, gimg, row, full, tail, b, mask);
    if (row == b.Ho - 1 + (D + 1)) return rows_row<K, OB, D + 1, K - 1, false>(acc, xr, gimg, row, full, tail, b, mask);
    rows_edge<K, OB, D + 1>(acc, xr, gimg, row, full, tail, b, mask);
  }
}

template <int K, int OB>
HYPERREP_AVX512VL void weight_grad_rows(const GradBlock& b) {
  __m256 acc[OB][K][K];
#pragma GCC unroll 6
  for (int o = 0; o < OB; ++o) {
#pragma GCC unroll 5
    for (int ky = 0; ky < K; ++ky) {
#pragma GCC unroll 5
      for (int kx = 0; kx < K; ++kx) acc[o][ky][kx] = _mm256_setzero_ps();
    }
  }
  const int64_t full = b.Wo / 8 * 8;
  const int tail = static_cast<int>(b.Wo - full);
  const __mmask8 mask = static_cast<__mmask8>(tail > 0 ? (1u << tail) - 1u : 0xFFu);
  // With fewer output rows than K - 1 the top and bottom edges overlap: every row checks.
  const bool checked = b.Ho < K - 1;
  for (int64_t n = 0; n < b.images; ++n) {
    const float* gimg = b.g + n * b.gs_image;
    const float* ximg = b.x + n * b.xs_image;
    for (int64_t row = 0; row < b.Ho + K - 1; ++row) {
      const float* xr = ximg + row * b.W;
      if (checked) {
        rows_row<K, OB, 0, K - 1, true>(acc, xr, gimg, row, full, tail, b, mask);
      } else if (row >= K - 1 && row < b.Ho) {  // every kernel row reaches an output row
        rows_row<K, OB, 0, K - 1, false>(acc, xr, gimg, row, full, tail, b, mask);
      } else {
        rows_edge<K, OB, 0>(acc, xr, gimg, row, full, tail, b, mask);
      }
    }
  }
#pragma GCC unroll 6
  for (int o = 0; o < OB; ++o) {
#pragma GCC unroll 5
    for (int ky = 0; ky < K; ++ky) {
#pragma GCC unroll 5
      for (int kx = 0; kx < K; ++kx) b.dw[o * b.dws + ky * K + kx] = hsum(acc[o][ky][kx]);
    }
  }
}

// Output channels per weight_grad_rows call: OB x K x K accumulators, K input vectors and one
// gradient vector within 32 registers (K 2: 27, 3: 31, 4: 21, 5: 31); 0 = kernel too large.
constexpr int rows_channels(int64_t K) { return K == 2 ? 6 : (K == 3 ? 3 : (K <= 5 ? 1 : 0)); }

using RowsFn = void (*)(const GradBlock&);
constexpr std::array<RowsFn, 6> kRows2 = {&weight_grad_rows<2, 1>, &weight_grad_rows<2, 2>, &weight_grad_rows<2, 3>,
                                          &weight_grad_rows<2, 4>, &weight_grad_rows<2, 5>, &weight_grad_rows<2, 6>};
constexpr std::array<RowsFn, 3> kRows3 = {&weight_grad_rows<3, 1>, &weight_grad_rows<3, 2>, &weight_grad_rows<3, 3>};

RowsFn rows_kernel(int64_t K, int64_t ob) {
  switch (K) {
    case 2: return kRows2[static_cast<size_t>(ob - 1)];
    case 3: return kRows3[static_cast<size_t>(ob - 1)];
    case 4: return &weight_grad_rows<4, 1>;
    default: return &weight_grad_rows<5, 1>;
  }
}

using GradFn = void (*)(const GradBlock&);

// Output channels per weight-gradient block: OB x K accumulators plus OB gradient vectors and one
// input vector stay within the 16 vector registers (K 2: 13, 3: 13, 4 and 5: 13, 6 and 7: 9).
constexpr int grad_channels(int K) { return K <= 2 ? 4 : (K == 3 ? 3 : (K <= 5 ? 2 : 1)); }

template <int K>
constexpr std::array<GradFn, kMaxChannels> grad_channels_table() {
  return {&weight_grad_block<K, 1>, &weight_grad_block<K, 2>, &weight_grad_block<K, 3>, &weight_grad_block<K, 4>};
}
// kGrad[K - 2][OB - 1]; entries past grad_channels(K) are never called.
constexpr std::array<std::array<GradFn, kMaxChannels>, 6> kGrad = {grad_channels_table<2>(), grad_channels_table<3>(),
                                                                   grad_channels_table<4>(), grad_channels_table<5>(),
                                                                   grad_channels_table<6>(), grad_channels_table<7>()};

// The input gradient of a convolution whose output rows are 8 wide, two input rows at a time:
// dx[c, Y, X] = sum over o, ky, kx of w[o, c, ky, kx] * gy[o, Y - ky, X - kx]. Output rows Y and
// Y + 1 read gy rows Y - ky and Y + 1 - ky, which lie next to each other in memory, so one
// 16-float vector holds both (zero where a row lies outside gy). Each kernel column kx has its own
// accumulator, summed over (o, then ky) along gy's columns; the k column sums are then shifted
// into place and added in kx order. Every product of the sum is a real one (the padded form
// multiplies by zero two thirds of the time).
struct InGradBlock {
  const float* g;  // gy plane (p, o = 0, n)
  int64_t gs_channel, Ho, O;
  const float* w;  // w[p, o = 0, c0, 0, 0]
  int64_t ws_out;  // output channel stride of w (C k k)
  float* dx;       // dx plane (p, c0, n)
  int64_t dxs_channel, H;
};

// Lanes of the vector of gy rows (y, y + 1) that exist: y in [0, Ho), and y + 1 when `two`.
inline unsigned pair_lanes(int64_t y, int64_t Ho, bool two) {
  return (y >= 0 && y < Ho ? 0x00FFu : 0u) | (two && y + 1 >= 0 && y + 1 < Ho ? 0xFF00u : 0u);
}

template <int K, int CB>
__attribute__((target("avx512f"))) void input_grad_pairs512(const InGradBlock& b) {
  constexpr int64_t W = 8 + K - 1;
  const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const __mmask16 row_mask = static_cast<__mmask16>((1u << W) - 1u);
  for (int64_t Y = 0; Y < b.H; Y += 2) {
    const bool two = Y + 1 < b.H;
    const int64_t ky_lo = std::max<int64_t>(0, Y - (b.Ho - 1)), ky_hi = std::min<int64_t>(K - 1, two ? Y + 1 : Y);
    __mmask16 lanes[K];
#pragma GCC unroll 7
    for (int ky = 0; ky < K; ++ky) lanes[ky] = static_cast<__mmask16>(pair_lanes(Y - ky, b.Ho, two));
    __m512 acc[CB][K];
#pragma GCC unroll 4
    for (int c = 0; c < CB; ++c) {
#pragma GCC unroll 7
      for (int kx = 0; kx < K; ++kx) acc[c][kx] = _mm512_setzero_ps();
    }
    for (int64_t o = 0; o < b.O; ++o) {
      const float* go = b.g + o * b.gs_channel;
      const float* wo = b.w + o * b.ws_out;
      for (int64_t ky = ky_lo; ky <= ky_hi; ++ky) {
        // Lanes outside gy are masked: neither read nor anything but zero.
        const __m512 v = _mm512_maskz_loadu_ps(lanes[ky], go + (Y - ky) * 8);
#pragma GCC unroll 4
        for (int c = 0; c < CB; ++c) {
          const float* wr = wo + (c * K + ky) * K;
#pragma GCC unroll 7
          for (int kx = 0; kx < K; ++kx) acc[c][kx] = _mm512_fmadd_ps(_mm512_set1_ps(wr[kx]), v, acc[c][kx]);
        }
      }
    }
    // Output lane X of row Y takes lane X - kx of accumulator kx (row Y + 1: lane 8 + X - kx).
#pragma GCC unroll 4
    for (int c = 0; c < CB; ++c) {
      __m512 lo = _mm512_maskz_mov_ps(0x00FF, acc[c][0]);
      __m512 hi = _mm512_maskz_permutexvar_ps(0x00FF, _mm512_add_epi32(iota, _mm512_set1_epi32(8)), acc[c][0]);
#pragma GCC unroll 7
      for (int kx = 1; kx < K; ++kx) {
        const __mmask16 m = static_cast<__mmask16>((0xFFu << kx) & 0xFFFFu);
        lo = _mm512_add_ps(lo, _mm512_maskz_permutexvar_ps(m, _mm512_sub_epi32(iota, _mm512_set1_epi32(kx)), acc[c][kx]));
        hi = _mm512_add_ps(hi, _mm512_maskz_permutexvar_ps(m, _mm512_add_epi32(iota, _mm512_set1_epi32(8 - kx)), acc[c][kx]));
      }
      float* out = b.dx + c * b.dxs_channel + Y * W;
      _mm512_mask_storeu_ps(out, row_mask, lo);
      if (two) _mm512_mask_storeu_ps(out + W, row_mask, hi);
    }
  }
}

// The same sums with AVX2, each 16-float pair as two 8-float halves (the out-of-gy half zero and
// still multiplied, as above): bitwise the results of input_grad_pairs512.
template <int K>
HYPERREP_AVX2_FMA void input_grad_pairs256(const InGradBlock& b) {
  constexpr int64_t W = 8 + K - 1;
  for (int64_t Y = 0; Y < b.H; Y += 2) {
    const bool two = Y + 1 < b.H;
    const int64_t ky_lo = std::max<int64_t>(0, Y - (b.Ho - 1)), ky_hi = std::min<int64_t>(K - 1, two ? Y + 1 : Y);
    __m256 acc[2][K];
#pragma GCC unroll 7
    for (int kx = 0; kx < K; ++kx) acc[0][kx] = acc[1][kx] = _mm256_setzero_ps();
    for (int64_t o = 0; o < b.O; ++o) {
      const float* go = b.g + o * b.gs_channel;
      const float* wr0 = b.w + o * b.ws_out;
      for (int64_t ky = ky_lo; ky <= ky_hi; ++ky) {
        const unsigned lanes = pair_lanes(Y - ky, b.Ho, two);
        const float* row = go + (Y - ky) * 8;
        const __m256 v0 = (lanes & 0x00FFu) ? _mm256_loadu_ps(row) : _mm256_setzero_ps();
        const __m256 v1 = (lanes & 0xFF00u) ? _mm256_loadu_ps(row + 8) : _mm256_setzero_ps();
        const float* wr = wr0 + ky * K;
#pragma GCC unroll 7
        for (int kx = 0; kx < K; ++kx) {
          const __m256 wv = _mm256_broadcast_ss(wr + kx);
          acc[0][kx] = _mm256_fmadd_ps(wv, v0, acc[0][kx]);
          acc[1][kx] = _mm256_fmadd_ps(wv, v1, acc[1][kx]);
        }
      }
    }
    // Column X of an output row takes lane X - kx of accumulator kx: a rotation by kx, whose lanes
    // i >= kx land in columns [0, 8) and lanes i < kx in columns [8, 16).
    const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    for (int half = 0; half < (two ? 2 : 1); ++half) {
      __m256 lo = acc[half][0], hi = _mm256_setzero_ps();
#pragma GCC unroll 7
      for (int kx = 1; kx < K; ++kx) {
        const __m256 r = _mm256_permutevar8x32_ps(
            acc[half][kx], _mm256_and_si256(_mm256_sub_epi32(iota, _mm256_set1_epi32(kx)), _mm256_set1_epi32(7)));
        const __m256 upper = _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(kx), iota));  // lanes i < kx
        lo = _mm256_add_ps(lo, _mm256_andnot_ps(upper, r));
        hi = _mm256_add_ps(hi, _mm256_and_ps(upper, r));
      }
      float* out = b.dx + (Y + half) * W;
      _mm256_storeu_ps(out, lo);
      _mm256_maskstore_ps(out + 8, lane_mask(static_cast<int>(W - 8)), hi);
    }
  }
}

using InGradFn = void (*)(const InGradBlock&);
constexpr int kInGradChannels512 = 4;  // CB x K accumulators + the gy vector: at most 29 registers

template <int K>
constexpr std::array<InGradFn, kInGradChannels512> input_grad512_channels() {
  return {&input_grad_pairs512<K, 1>, &input_grad_pairs512<K, 2>, &input_grad_pairs512<K, 3>, &input_grad_pairs512<K, 4>};
}
// kInGrad512[K - 2][CB - 1], kInGrad256[K - 2]
constexpr std::array<std::array<InGradFn, kInGradChannels512>, 6> kInGrad512 = {
    input_grad512_channels<2>(), input_grad512_channels<3>(), input_grad512_channels<4>(),
    input_grad512_channels<5>(), input_grad512_channels<6>(), input_grad512_channels<7>()};
constexpr std::array<InGradFn, 6> kInGrad256 = {&input_grad_pairs256<2>, &input_grad_pairs256<3>, &input_grad_pairs256<4>,
                                                &input_grad_pairs256<5>, &input_grad_pairs256<6>, &input_grad_pairs256<7>};

// Tiny convolutions (output rows narrower than 8, CNN-s's third layer: 2x2 on 4x4): the b images
// of one (member, channel) are one contiguous stack of L = b H W floats, and a valid stride-1
// convolution is a 1-D correlation of that stack with taps at offsets ky W + kx, computed at every
// position. A position whose window leaves its image (x >= Wo or y >= Ho) is computed and dropped
// (forward), or holds a zero output gradient (backward); a valid position's window never leaves
// its image, so nothing crosses from one image into the next.
struct TinyShape {
  int64_t L, H, W, Ho, Wo, k, span;  // span: the largest tap offset, (k - 1) (W + 1)
  // A stack with span + 8 zeros on both sides: a vector read at a position below L with a tap
  // offset in [-span, span] stays inside.
  int64_t padded() const { return span + 8 + L + span + 8; }
};

// The stack of one (member, channel), zero-padded on both sides.
HYPERREP_AVX2_FMA void pad_stack(const float* src, float* dst, const TinyShape& t) {
  std::fill(dst, dst + t.span + 8, 0.0f);
  std::copy(src, src + t.L, dst + t.span + 8);
  std::fill(dst + t.span + 8 + t.L, dst + t.padded(), 0.0f);
}

// An output gradient plane [b, Ho, Wo] spread over the stack's positions (zero where dropped), padded.
HYPERREP_AVX2_FMA void spread_stack(const float* g, float* dst, const TinyShape& t) {
  std::fill(dst, dst + t.padded(), 0.0f);
  float* d = dst + t.span + 8;
  const int64_t images = t.L / (t.H * t.W);
  for (int64_t n = 0; n < images; ++n) {
    for (int64_t y = 0; y < t.Ho; ++y)
      std::copy(g + (n * t.Ho + y) * t.Wo, g + (n * t.Ho + y + 1) * t.Wo, d + n * t.H * t.W + y * t.W);
  }
}

}  // namespace

bool tiny_conv_suits(int64_t k, int64_t H, int64_t W) {
  return avx2_fma_available() && k >= 1 && k <= 7 && H >= k && W >= k && W - k + 1 < 8;
}

namespace {

TinyShape tiny_shape(const ConvShape& s) {
  return TinyShape{s.images * s.H * s.W, s.H, s.W, s.Ho(), s.Wo(), s.k, (s.k - 1) * (s.W + 1)};
}

HYPERREP_AVX2_FMA void tiny_forward_member(const float* x, const float* w, const float* bias, float* y, const ConvShape& s,
                                           std::vector<float>& buf) {
  const TinyShape t = tiny_shape(s);
  const int64_t stride = t.padded(), kk = s.k * s.k, L8 = (t.L + 7) / 8 * 8;
  buf.resize(static_cast<size_t>(s.in * stride + L8));
  for (int64_t c = 0; c < s.in; ++c) pad_stack(x + c * s.xs_channel, buf.data() + c * stride, t);
  float* full = buf.data() + s.in * stride;
  for (int64_t o = 0; o < s.out; ++o) {
    const float* wo = w + o * s.in * kk;
    for (int64_t i = 0; i < t.L; i += 8) {
      __m256 acc = _mm256_set1_ps(bias ? bias[o] : 0.0f);
      for (int64_t c = 0; c < s.in; ++c) {
        const float* xc = buf.data() + c * stride + t.span + 8 + i;
        for (int64_t ky = 0; ky < s.k; ++ky) {
          for (int64_t kx = 0; kx < s.k; ++kx) {
            acc = _mm256_fmadd_ps(_mm256_broadcast_ss(wo + (c * s.k + ky) * s.k + kx), _mm256_loadu_ps(xc + ky * s.W + kx), acc);
          }
        }
      }
      _mm256_storeu_ps(full + i, acc);
    }
    // Keep the positions whose window lies in the image: y [o, n, Ho, Wo].
    const int64_t images = s.images;
    for (int64_t n = 0; n < images; ++n) {
      for (int64_t yy = 0; yy < t.Ho; ++yy) {
        const float* src = full + n * s.H * s.W + yy * s.W;
        std::copy(src, src + t.Wo, y + ((o * images + n) * t.Ho + yy) * t.Wo);
      }
    }
  }
}

HYPERREP_AVX2_FMA void tiny_backward_member(const float* x, const float* w, const float* gy, float* dx, float* dw,
                                            const ConvShape& s, std::vector<float>& buf) {
  const TinyShape t = tiny_shape(s);
  const int64_t stride = t.padded(), kk = s.k * s.k, plane = s.images * t.Ho * t.Wo;
  buf.resize(static_cast<size_t>((s.out + (dw ? s.in : 0)) * stride));
  float* gs = buf.data();  // the output gradients spread over the stack, [out][stride]
  for (int64_t o = 0; o < s.out; ++o) spread_stack(gy + o * plane, gs + o * stride, t);
  if (dw) {
    float* xs = gs + s.out * stride;
    for (int64_t c = 0; c < s.in; ++c) pad_stack(x + c * s.xs_channel, xs + c * stride, t);
    // dw[o, c, ky, kx] = sum over the stack of g[i] x[i + ky W + kx]: one 8-lane sum per tap, the
    // k taps of a kernel row at once.
    for (int64_t o = 0; o < s.out; ++o) {
      const float* g = gs + o * stride + t.span + 8;
      for (int64_t c = 0; c < s.in; ++c) {
        for (int64_t ky = 0; ky < s.k; ++ky) {
          __m256 acc[7];
          for (int64_t kx = 0; kx < s.k; ++kx) acc[kx] = _mm256_setzero_ps();
          const float* xr = xs + c * stride + t.span + 8 + ky * s.W;
          for (int64_t i = 0; i < t.L; i += 8) {
            const __m256 gv = _mm256_loadu_ps(g + i);
            for (int64_t kx = 0; kx < s.k; ++kx) acc[kx] = _mm256_fmadd_ps(gv, _mm256_loadu_ps(xr + i + kx), acc[kx]);
          }
          for (int64_t kx = 0; kx < s.k; ++kx) dw[(o * s.in + c) * kk + ky * s.k + kx] = hsum(acc[kx]);
        }
      }
    }
  }
  if (dx) {
    // dx[c, i] = sum over o, ky, kx of w[o, c, ky, kx] g[o, i - ky W - kx]: every stack position is
    // an input position; the ones past L are not stored.
    for (int64_t c = 0; c < s.in; ++c) {
      float* d = dx + c * s.xs_channel;
      for (int64_t i = 0; i < t.L; i += 8) {
        __m256 acc = _mm256_setzero_ps();
        for (int64_t o = 0; o < s.out; ++o) {
          const float* g = gs + o * stride + t.span + 8 + i;
          const float* wr = w + (o * s.in + c) * kk;
          for (int64_t ky = 0; ky < s.k; ++ky) {
            for (int64_t kx = 0; kx < s.k; ++kx) {
              acc = _mm256_fmadd_ps(_mm256_broadcast_ss(wr + ky * s.k + kx), _mm256_loadu_ps(g - ky * s.W - kx), acc);
            }
          }
        }
        if (i + 8 <= t.L) {
          _mm256_storeu_ps(d + i, acc);
        } else {
          _mm256_maskstore_ps(d + i, lane_mask(static_cast<int>(t.L - i)), acc);
        }
      }
    }
  }
}

}  // namespace

bool input_grad_suits(int64_t k, int64_t Wo) { return direct_conv_suits(k, Wo) && Wo == 8; }

void conv_input_grad(const float* gy, const float* w, float* dx, const ConvShape& s, bool allow_avx512) {
  HYPERREP_CHECK(input_grad_suits(s.k, s.Wo()), InternalError, "conv_input_grad: no kernel for kernel ", s.k,
                 " and output width ", s.Wo());
  const int64_t Ho = s.Ho(), Wo = s.Wo(), ckk = s.in * s.k * s.k;
  const bool avx512 = allow_avx512 && cpu_has_avx512();
  const int64_t cb_max = avx512 ? kInGradChannels512 : 1;
  at::parallel_for(0, s.members * s.images, 1, [&](int64_t first, int64_t last) {
    for (int64_t pn = first; pn < last; ++pn) {
      const int64_t p = pn / s.images, n = pn % s.images;
      for (int64_t c0 = 0; c0 < s.in; c0 += cb_max) {
        const int64_t cb = std::min(cb_max, s.in - c0);
        InGradBlock blk{};
        blk.g = gy + (p * s.out * s.images + n) * Ho * Wo;
        blk.gs_channel = s.images * Ho * Wo, blk.Ho = Ho, blk.O = s.out;
        blk.w = w + p * s.out * ckk + c0 * s.k * s.k;
        blk.ws_out = ckk;
        blk.dx = dx + ((p * s.in + c0) * s.images + n) * s.H * s.W;
        blk.dxs_channel = s.images * s.H * s.W, blk.H = s.H;
        if (avx512) {
          kInGrad512[s.k - 2][cb - 1](blk);
        } else {
          kInGrad256[s.k - 2](blk);
        }
      }
    }
  });
}

bool direct_conv_suits(int64_t k, int64_t Wo) { return avx2_fma_available() && k >= 2 && k <= 7 && Wo >= 8; }

void conv_forward(const float* x, const float* w, const float* bias, float* y, const ConvShape& s, bool allow_avx512) {
  HYPERREP_CHECK(direct_conv_suits(s.k, s.Wo()), InternalError, "conv_forward: no direct kernel for kernel ", s.k,
                 " and output width ", s.Wo());
  const int64_t Ho = s.Ho(), Wo = s.Wo(), ckk = s.in * s.k * s.k, ys = s.images * Ho * Wo;
  const bool avx512 = allow_avx512 && cpu_has_avx512();
  const int64_t row_lo = s.row_lo, row_hi = s.row_hi < 0 ? s.H : s.row_hi;
  at::parallel_for(0, s.members * s.images, 1, [&](int64_t first, int64_t last) {
    for (int64_t pn = first; pn < last; ++pn) {
      const int64_t p = pn / s.images, n = pn % s.images;
      for (int64_t o0 = 0; o0 < s.out; o0 += kMaxChannels) {
        const int64_t ob = std::min<int64_t>(kMaxChannels, s.out - o0);
        Block blk{};
        blk.xs_channel = s.xs_channel, blk.W = s.W, blk.ckk = ckk, blk.C = s.in, blk.k = s.k, blk.ys = ys, blk.Wo = Wo;
        blk.w = w + (p * s.out + o0) * ckk;
        blk.bias = bias ? bias + p * s.out + o0 : nullptr;
        const float* xin = x + p * s.xs_member + n * s.xs_image;
        float* yplane = y + ((p * s.out + o0) * s.images + n) * Ho * Wo;
        // Rows wider than 8 take 16-float vectors where the CPU has AVX-512 (blocks of 32 columns,
        // two rows at a time); otherwise 8-float vectors in blocks of 24, one-vector rows two at a time.
        const bool wide = avx512 && Wo > 8;
        const int64_t lanes = wide ? 16 : 8, block = wide ? 32 : 8 * kMaxVectors;
        for (int64_t x0 = 0; x0 < Wo; x0 += block) {
          const int64_t width = std::min(block, Wo - x0), nv = (width + lanes - 1) / lanes;
          blk.tail = static_cast<int>(width - lanes * (nv - 1));
          const int64_t rows = wide || nv == 1 ? 2 : 1;
          const bool pairs = avx512 && Wo == 8;  // two 8-wide rows to a 16-float vector, up to 4 rows a block
          for (int64_t r = 0; r < Ho;) {
            const int64_t rb = pairs ? (Ho - r >= 4 ? 4 : std::min<int64_t>(2, Ho - r)) : std::min(rows, Ho - r);
            // Kernel rows whose input rows r + ky .. r + rb - 1 + ky are all zero add nothing.
            blk.ky0 = std::clamp<int64_t>(row_lo - (r + rb - 1), 0, s.k);
            blk.ky1 = std::clamp<int64_t>(row_hi - r, blk.ky0, s.k);
            blk.x = xin + r * s.W + x0;
            blk.y = yplane + r * Wo + x0;
            if (wide && rb == 2 && (width == 24 || width == 8)) {  // the last 8 columns of both rows in one vector
              kSplit512[width / 16][ob - 1](blk);
            } else if (wide) {
              kForward512[nv - 1][ob - 1][rb - 1](blk);
            } else if (pairs && rb >= 2) {
              kPairs512[ob - 1][rb / 2 - 1](blk);
            } else {
              kForward[nv - 1][ob - 1][rb - 1](blk);
            }
            r += rb;
          }
        }
      }
    }
  });
}

void conv_weight_grad(const float* x, const float* gy, float* dw, const ConvShape& s, bool allow_avx512) {
  HYPERREP_CHECK(direct_conv_suits(s.k, s.Wo()), InternalError, "conv_weight_grad: no direct kernel for kernel ", s.k,
                 " and output width ", s.Wo());
  const int64_t Ho = s.Ho(), Wo = s.Wo(), kk = s.k * s.k, ckk = s.in * kk;
  // AVX-512's registers hold a whole kernel's taps (weight_grad_rows); otherwise one kernel row a call.
  const bool whole = allow_avx512 && cpu_has_avx512() && rows_channels(s.k) > 0;
  const int64_t obmax = whole ? rows_channels(s.k) : grad_channels(static_cast<int>(s.k));
  const int64_t blocks = (s.out + obmax - 1) / obmax;
  // One task per (member, block of output channels, input channel): disjoint parts of dw.
  at::parallel_for(0, s.members * blocks * s.in, 1, [&](int64_t first, int64_t last) {
    for (int64_t t = first; t < last; ++t) {
      const int64_t c = t % s.in, ob_index = (t / s.in) % blocks, p = t / (s.in * blocks);
      const int64_t o0 = ob_index * obmax, ob = std::min(obmax, s.out - o0);
      GradBlock blk{};
      blk.xs_image = s.xs_image, blk.W = s.W, blk.images = s.images, blk.Ho = Ho, blk.Wo = Wo, blk.dws = ckk;
      blk.gs_channel = s.images * Ho * Wo, blk.gs_image = Ho * Wo;
      blk.g = gy + (p * s.out + o0) * s.images * Ho * Wo;
      if (whole) {
        blk.x = x + p * s.xs_member + c * s.xs_channel;
        blk.dw = dw + (p * s.out + o0) * ckk + c * kk;
        rows_kernel(s.k, ob)(blk);
        continue;
      }
      for (int64_t ky = 0; ky < s.k; ++ky) {
        blk.x = x + p * s.xs_member + c * s.xs_channel + ky * s.W;
        blk.dw = dw + (p * s.out + o0) * ckk + c * kk + ky * s.k;
        kGrad[s.k - 2][ob - 1](blk);
      }
    }
  });
}

namespace {

// fn(p, buffer) for every member p, one task per member, each task with its own scratch buffer.
template <class Fn>
void for_each_tiny_member(const ConvShape& s, const char* what, Fn fn) {
  HYPERREP_CHECK(tiny_conv_suits(s.k, s.H, s.W), InternalError, what, ": no tiny-convolution kernel for kernel ", s.k, " on ",
                 s.H, "x", s.W);
  HYPERREP_CHECK(s.xs_image == s.H * s.W && s.xs_channel == s.images * s.xs_image, InternalError, what,
                 ": the input stacks must be contiguous");
  at::parallel_for(0, s.members, 1, [&](int64_t first, int64_t last) {
    std::vector<float> buf;
    for (int64_t p = first; p < last; ++p) fn(p, buf);
  });
}

}  // namespace

void tiny_conv_forward(const float* x, const float* w, const float* bias, float* y, const ConvShape& s) {
  const int64_t ckk = s.in * s.k * s.k, plane = s.images * s.Ho() * s.Wo();
  for_each_tiny_member(s, "tiny_conv_forward", [&](int64_t p, std::vector<float>& buf) {
    tiny_forward_member(x + p * s.xs_member, w + p * s.out * ckk, bias ? bias + p * s.out : nullptr, y + p * s.out * plane, s,
                        buf);
  });
}

void tiny_conv_backward(const float* x, const float* w, const float* gy, float* dx, float* dw, const ConvShape& s) {
  const int64_t ckk = s.in * s.k * s.k, plane = s.images * s.Ho() * s.Wo();
  for_each_tiny_member(s, "tiny_conv_backward", [&](int64_t p, std::vector<float>& buf) {
    tiny_backward_member(x + p * s.xs_member, w + p * s.out * ckk, gy + p * s.out * plane, dx ? dx + p * s.xs_member : nullptr,
                         dw ? dw + p * s.out * ckk : nullptr, s, buf);
  });
}

#else  // no x86-64 vector kernels: callers take the im2col + GEMM path

bool direct_conv_suits(int64_t, int64_t) { return false; }
bool input_grad_suits(int64_t, int64_t) { return false; }
bool tiny_conv_suits(int64_t, int64_t, int64_t) { return false; }
void tiny_conv_forward(const float*, const float*, const float*, float*, const ConvShape&) {
  HYPERREP_CHECK(false, InternalError, "tiny_conv_forward: the vector kernels need x86-64");
}
void tiny_conv_backward(const float*, const float*, const float*, float*, float*, const ConvShape&) {
  HYPERREP_CHECK(false, InternalError, "tiny_conv_backward: the vector kernels need x86-64");
}
void conv_input_grad(const float*, const float*, float*, const ConvShape&, bool) {
  HYPERREP_CHECK(false, InternalError, "conv_input_grad: direct convolution kernels need x86-64");
}
void conv_forward(const float*, const float*, const float*, float*, const ConvShape&, bool) {
  HYPERREP_CHECK(false, InternalError, "conv_forward: direct convolution kernels need x86-64");
}
void conv_weight_grad(const float*, const float*, float*, const ConvShape&, bool) {
  HYPERREP_CHECK(false, InternalError, "conv_weight_grad: direct convolution kernels need x86-64");
}

#endif

}  // namespace hyperrep::kernels
