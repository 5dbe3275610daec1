// Direct (no im2col) convolution kernels for the population's small convolutions on the CPU:
// valid, stride-1 correlations of float32 planes, vectorised along output rows with AVX2 + FMA
// and register-blocked over output channels. Members have 1-8 channels and 5x5 kernels, so an
// im2col matrix is 25x larger than the input and the GEMMs behind it have 6-8 columns; computing
// straight from the input keeps everything in L1 and the FMA units busy. The input gradient of
// layers with 8-wide output rows has its own kernel (conv_input_grad; other widths take conv_forward
// on the zero-padded output gradient), and layers with output rows narrower than 8 the tiny-
// convolution kernels (a 1-D correlation of each member-channel's image stack).
//
// Layouts: input plane (member p, channel c, image n) of H x W floats starts at
// x + p * xs_member + c * xs_channel + n * xs_image (xs_member = 0: one input shared by every
// member); weights w [P, out, C, k, k] and outputs y [P, out, b, Ho, Wo] are contiguous.
#pragma once

#include <cstdint>

namespace hyperrep::kernels {

struct ConvShape {
  int64_t members = 1, images = 1;  // P, b
  int64_t in = 1, out = 1, k = 1;   // channels and kernel size
  int64_t H = 1, W = 1;             // input plane
  int64_t xs_member = 0, xs_channel = 0, xs_image = 0;
  // conv_forward: input rows outside [row_lo, row_hi) are known to be zero (row_hi -1: H), and the
  // taps that read only such rows are skipped: the input gradient's zero-padded rows. Exact for
  // finite weights (an infinite weight times a skipped zero would have given NaN).
  int64_t row_lo = 0, row_hi = -1;
  int64_t Ho() const { return H - k + 1; }
  int64_t Wo() const { return W - k + 1; }
};

// True when this CPU runs the kernels (x86-64 with AVX2 and FMA) and they suit the shape: output
// rows at least one vector (8 floats) wide and 2 <= k <= 7. Otherwise callers use im2col + GEMM.
bool direct_conv_suits(int64_t k, int64_t Wo);

// y[p, o, n] = bias[p, o] + sum over c, ky, kx of w[p, o, c, ky, kx] * x[p, c, n, y + ky, x + kx]
// (bias may be null). Work is split over (member, image) pairs with at::parallel_for. Rows wider
// than 8 use AVX-512 where the CPU has it and allow_avx512 holds; the results are bitwise the same
// either way (allow_avx512 = false is for tests).
void conv_forward(const float* x, const float* w, const float* bias, float* y, const ConvShape& s, bool allow_avx512 = true);

// dw[p, o, c, ky, kx] = sum over n, y, x of gy[p, o, n, y, x] * x[p, c, n, y + ky, x + kx]
// (overwrites dw; gy is contiguous [P, out, b, Ho, Wo]). Kernels up to 5x5 use AVX-512's
// registers where the CPU has them and allow_avx512 holds; bitwise the same either way.
void conv_weight_grad(const float* x, const float* gy, float* dw, const ConvShape& s, bool allow_avx512 = true);

// True when conv_input_grad serves the shape: direct_conv_suits and output rows exactly 8 wide.
bool input_grad_suits(int64_t k, int64_t Wo);

// dx[p, c, n, Y, X] = sum over o, ky, kx of w[p, o, c, ky, kx] * gy[p, o, n, Y - ky, X - kx], terms
// outside gy left out (overwrites dx, contiguous [P, in, b, H, W] like gy [P, out, b, Ho, Wo]; the
// x strides of s are not read). Two 8-wide gy rows to a 16-float vector with AVX-512, otherwise two
// 8-float halves: the same sums in the same order, so bitwise the same either way. Each output sums,
// per kernel column kx, the products over o and then ky, and then the k column sums in kx order.
void conv_input_grad(const float* gy, const float* w, float* dx, const ConvShape& s, bool allow_avx512 = true);

// True when the tiny-convolution kernels serve a valid stride-1 convolution: AVX2 + FMA, k <= 7
// and output rows narrower than 8 (where direct_conv_suits does not hold).
bool tiny_conv_suits(int64_t k, int64_t H, int64_t W);

// The same convolution as conv_forward (bias may be null) for tiny shapes, as a 1-D correlation of
// each (member, channel)'s contiguous stack of b images (see tiny_conv_kernels.cpp). One task per member.
void tiny_conv_forward(const float* x, const float* w, const float* bias, float* y, const ConvShape& s);

// Its gradients: dx (the layout of x, which must be contiguous per member) and dw [P, out, C k k],
// either may be null; gy [P, out, b, Ho, Wo] contiguous. Overwritten.
void tiny_conv_backward(const float* x, const float* w, const float* gy, float* dx, float* dw, const ConvShape& s);

}  // namespace hyperrep::kernels
