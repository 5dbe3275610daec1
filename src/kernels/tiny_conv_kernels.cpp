// Tiny convolutions (conv_kernels.h): output rows narrower than 8, forward and both gradients
// as 1-D correlations of each (member, channel)'s image stack with AVX2 + FMA.
#include "kernels/conv_kernels.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <vector>

#include "common/error.h"
#include "kernels/vector_math.h"
#include "kernels/x86_simd.h"

namespace hyperrep::kernels {

#if HYPERREP_X86_KERNELS
bool tiny_conv_suits(int64_t k, int64_t H, int64_t W) {
  return avx2_fma_available() && k >= 1 && k <= 7 && H >= k && W >= k && W - k + 1 < 8;
}

namespace {

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

bool tiny_conv_suits(int64_t, int64_t, int64_t) { return false; }
void tiny_conv_forward(const float*, const float*, const float*, float*, const ConvShape&) {
  HYPERREP_CHECK(false, InternalError, "tiny_conv_forward: the vector kernels need x86-64");
}
void tiny_conv_backward(const float*, const float*, const float*, float*, float*, const ConvShape&) {
  HYPERREP_CHECK(false, InternalError, "tiny_conv_backward: the vector kernels need x86-64");
}

#endif

}  // namespace hyperrep::kernels
