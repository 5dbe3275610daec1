// The direct convolution's gradients (conv_kernels.h): the weight gradient, one kernel row a
// call with AVX2 or a whole kernel with AVX-512's registers, and the input gradient of layers
// with 8-wide output rows.
#include "kernels/conv_kernels.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <array>

#include "common/error.h"
#include "kernels/vector_math.h"
#include "kernels/x86_simd.h"

namespace hyperrep::kernels {

#if HYPERREP_X86_KERNELS
namespace {

constexpr int kMaxGradChannels = 4;  // grad_channels(K) <= 4

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

using GradFn = void (*)(const GradBlock&);
constexpr std::array<GradFn, 6> kRows2 = {&weight_grad_rows<2, 1>, &weight_grad_rows<2, 2>, &weight_grad_rows<2, 3>,
                                          &weight_grad_rows<2, 4>, &weight_grad_rows<2, 5>, &weight_grad_rows<2, 6>};
constexpr std::array<GradFn, 3> kRows3 = {&weight_grad_rows<3, 1>, &weight_grad_rows<3, 2>, &weight_grad_rows<3, 3>};

GradFn rows_kernel(int64_t K, int64_t ob) {
  switch (K) {
    case 2: return kRows2[static_cast<size_t>(ob - 1)];
    case 3: return kRows3[static_cast<size_t>(ob - 1)];
    case 4: return &weight_grad_rows<4, 1>;
    default: return &weight_grad_rows<5, 1>;
  }
}

// Output channels per weight-gradient block: OB x K accumulators plus OB gradient vectors and one
// input vector stay within the 16 vector registers (K 2: 13, 3: 13, 4 and 5: 13, 6 and 7: 9).
constexpr int grad_channels(int K) { return K <= 2 ? 4 : (K == 3 ? 3 : (K <= 5 ? 2 : 1)); }

template <int K>
constexpr std::array<GradFn, kMaxGradChannels> grad_channels_table() {
  return {&weight_grad_block<K, 1>, &weight_grad_block<K, 2>, &weight_grad_block<K, 3>, &weight_grad_block<K, 4>};
}
// kGrad[K - 2][OB - 1]; entries past grad_channels(K) are never called.
constexpr std::array<std::array<GradFn, kMaxGradChannels>, 6> kGrad = {grad_channels_table<2>(), grad_channels_table<3>(),
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

}  // namespace

void conv_weight_grad(const float* x, const float* gy, float* dw, const ConvShape& s, bool allow_avx512) {
  HYPERREP_CHECK(direct_conv_suits(s.k, s.Wo()), InternalError, "conv_weight_grad: no direct kernel for kernel ", s.k,
                 " and output width ", s.Wo());
  const int64_t Ho = s.Ho(), Wo = s.Wo(), kk = s.k * s.k, ckk = s.in * kk;
  // AVX-512's registers hold a whole kernel's taps (weight_grad_rows); otherwise one kernel row a call.
  const bool whole = allow_avx512 && avx512f_available() && rows_channels(s.k) > 0;
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

bool input_grad_suits(int64_t k, int64_t Wo) { return direct_conv_suits(k, Wo) && Wo == 8; }

void conv_input_grad(const float* gy, const float* w, float* dx, const ConvShape& s, bool allow_avx512) {
  HYPERREP_CHECK(input_grad_suits(s.k, s.Wo()), InternalError, "conv_input_grad: no kernel for kernel ", s.k,
                 " and output width ", s.Wo());
  const int64_t Ho = s.Ho(), Wo = s.Wo(), ckk = s.in * s.k * s.k;
  const bool avx512 = allow_avx512 && avx512f_available();
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

#else  // no x86-64 vector kernels: callers take the im2col + GEMM path

bool input_grad_suits(int64_t, int64_t) { return false; }
void conv_input_grad(const float*, const float*, float*, const ConvShape&, bool) {
  HYPERREP_CHECK(false, InternalError, "conv_input_grad: direct convolution kernels need x86-64");
}
void conv_weight_grad(const float*, const float*, float*, const ConvShape&, bool) {
  HYPERREP_CHECK(false, InternalError, "conv_weight_grad: direct convolution kernels need x86-64");
}

#endif

}  // namespace hyperrep::kernels
