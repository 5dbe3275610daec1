// Batched convolution kernels for population training on the CPU: activations are laid out
// member-major and channel-before-batch, [P, C, b, H, W]. Rows at least 8 wide run on the direct
// kernels of conv_kernels.h; narrower ones make each member's convolution one GEMM (im2col over
// the whole mini-batch) and run all members as one bmm. The max-pool and tanh declared here are
// in pool_tanh_ops.cpp.
#pragma once

#include <torch/torch.h>

namespace hyperrep::population {

// Convolution of every member on its own inputs, with the given stride and zero padding on every
// side (valid, stride 1 by default: the direct kernels; otherwise im2col + bmm).
// x [P, C, b, H, W] float32 CPU contiguous, w [P, out, C*k*k] (a member's filters in the
// [out, C, k, k] row-major order), bias [P, out] or undefined. Returns [P, out, b, Ho, Wo] with
// Ho = (H + 2 padding - k) / stride + 1. Differentiable in w, bias and (only when it requires grad) x.
torch::Tensor population_conv2d(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& bias, int64_t k,
                                int64_t stride = 1, int64_t padding = 0);

// The same convolution with one input batch shared by every member (evaluation; no autograd).
// x [N, C, H, W], w [P, out, C*k*k], bias [P, out] or undefined. Returns [P, out, N, Ho, Wo].
torch::Tensor shared_conv2d(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& bias, int64_t k,
                            int64_t stride = 1, int64_t padding = 0);

// k x k max-pool, stride k, over the last two dims of a float32 CPU tensor of any rank >= 2
// (floor output sizes; first maximum of a window in row-major order wins, NaN propagates, as in
// torch's CPU max_pool2d). Differentiable in x.
torch::Tensor population_max_pool2d(const torch::Tensor& x, int64_t k);

// tanh of a float32 CPU tensor with the AVX2 kernel of vector_math.h (within 2.5e-7 relative of
// the exact value; torch::tanh where that kernel cannot run). Differentiable in x.
torch::Tensor population_tanh(const torch::Tensor& x);

// The im2col / col2im pair behind population_conv2d, exposed for tests.
// cols [P, C*k*k, b*Ho*Wo]: row c*k*k + ky*k + kx, column n*Ho*Wo + y*Wo + x (taps in the
// padding read 0).
torch::Tensor population_im2col(const torch::Tensor& x, int64_t k, int64_t stride = 1, int64_t padding = 0);
// The adjoint of population_im2col: sums cols back into [P, C, b, H, W].
torch::Tensor population_col2im(const torch::Tensor& cols, int64_t C, int64_t b, int64_t H, int64_t W, int64_t k,
                                int64_t stride = 1, int64_t padding = 0);

// The raw, autograd-free forms behind population_conv2d and population_max_pool2d, for the
// hand-written member step (member_step.h). Every tensor is float32 CPU contiguous.
// y [P, out, b, Ho, Wo] is overwritten; w [P, out, C*k*k]; bias [P, out] or undefined.
void conv_forward_into(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& bias, const torch::Tensor& y,
                       int64_t k, int64_t stride = 1, int64_t padding = 0);
// dx (the shape of x) and dw (the shape of w) are overwritten; either may be undefined (not
// needed). gy [P, out, b, Ho, Wo]. padded: a workspace the direct kernels' input gradient keeps
// from call to call where conv_input_grad does not serve the shape (resized and zeroed when its
// shape changes; only its interior is written).
void conv_backward_into(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& gy, const torch::Tensor& dx,
                        const torch::Tensor& dw, int64_t k, int64_t stride = 1, int64_t padding = 0,
                        torch::Tensor* padded = nullptr);
// k x k max-pool, stride k, of `planes` H x W planes: maxima and their window positions
// (row-major, 0 .. k*k-1). The backward writes every input position (0 off the maxima).
void max_pool_forward_raw(const float* x, float* y, uint8_t* argmax, int64_t planes, int64_t H, int64_t W, int64_t k);
void max_pool_backward_raw(const float* gy, const uint8_t* argmax, float* dx, int64_t planes, int64_t H, int64_t W, int64_t k);

}  // namespace hyperrep::population
