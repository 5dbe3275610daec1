// The direct convolution's forward: output blocks register-blocked over channels, rows and
// column vectors, with AVX2 + FMA and AVX-512 forms (conv_kernels.h). The gradients are in
// conv_grad_kernels.cpp, the tiny convolutions in tiny_conv_kernels.cpp.
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

constexpr int kMaxVectors = 3;   // an output block is at most 24 floats wide
constexpr int kMaxChannels = 4;  // and covers at most 4 output channels

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

}  // namespace

bool direct_conv_suits(int64_t k, int64_t Wo) { return avx2_fma_available() && k >= 2 && k <= 7 && Wo >= 8; }

void conv_forward(const float* x, const float* w, const float* bias, float* y, const ConvShape& s, bool allow_avx512) {
  HYPERREP_CHECK(direct_conv_suits(s.k, s.Wo()), InternalError, "conv_forward: no direct kernel for kernel ", s.k,
                 " and output width ", s.Wo());
  const int64_t Ho = s.Ho(), Wo = s.Wo(), ckk = s.in * s.k * s.k, ys = s.images * Ho * Wo;
  const bool avx512 = allow_avx512 && avx512f_available();
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

#else  // no x86-64 vector kernels: callers take the im2col + GEMM path

bool direct_conv_suits(int64_t, int64_t) { return false; }
void conv_forward(const float*, const float*, const float*, float*, const ConvShape&, bool) {
  HYPERREP_CHECK(false, InternalError, "conv_forward: direct convolution kernels need x86-64");
}

#endif

}  // namespace hyperrep::kernels
