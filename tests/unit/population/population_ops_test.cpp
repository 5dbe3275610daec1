// Batched population convolution against torch's conv2d, forward and gradients, on random inputs
// of odd sizes, for one member and several.
#include <gtest/gtest.h>

#include <tuple>

#include "common/error.h"
#include "kernels/conv_kernels.h"
#include "kernels/vector_math.h"
#include "population/population_ops.h"

namespace hyperrep::population {
namespace {

// Member p's conv2d with torch's own op on its inputs x[p] ([C, b, H, W] in population layout).
torch::Tensor reference(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& bias, int64_t k, int64_t stride = 1,
                        int64_t pad = 0) {
  std::vector<torch::Tensor> out;
  const int64_t P = x.size(0), C = x.size(1), O = w.size(1);
  for (int64_t p = 0; p < P; ++p) {
    auto y =
        torch::conv2d(x[p].transpose(0, 1), w[p].view({O, C, k, k}), bias.defined() ? bias[p] : torch::Tensor(), stride, pad);
    out.push_back(y.transpose(0, 1));  // [O, b, Ho, Wo]
  }
  return torch::stack(out);
}

void expect_conv_matches(int64_t P, int64_t C, int64_t O, int64_t b, int64_t H, int64_t W, int64_t k, bool with_bias,
                         int64_t stride = 1, int64_t pad = 0) {
  torch::manual_seed(P * 1000 + C * 100 + k);
  auto x = torch::randn({P, C, b, H, W}).requires_grad_(true);
  auto w = torch::randn({P, O, C * k * k}).requires_grad_(true);
  auto bias = with_bias ? torch::randn({P, O}).requires_grad_(true) : torch::Tensor();
  auto xr = x.detach().clone().requires_grad_(true), wr = w.detach().clone().requires_grad_(true);
  auto br = with_bias ? bias.detach().clone().requires_grad_(true) : torch::Tensor();
  auto y = population_conv2d(x, w, bias, k, stride, pad);
  auto yr = reference(xr, wr, br, k, stride, pad);
  ASSERT_EQ(y.sizes(), yr.sizes());
  EXPECT_TRUE(torch::allclose(y, yr, 1e-4, 1e-5)) << "max diff " << (y - yr).abs().max().item<double>();
  auto g = torch::randn(y.sizes());
  (y * g).sum().backward();
  (yr * g).sum().backward();
  EXPECT_TRUE(torch::allclose(x.grad(), xr.grad(), 1e-4, 1e-4))
      << "dx max diff " << (x.grad() - xr.grad()).abs().max().item<double>();
  EXPECT_TRUE(torch::allclose(w.grad(), wr.grad(), 1e-4, 1e-4))
      << "dw max diff " << (w.grad() - wr.grad()).abs().max().item<double>();
  if (with_bias) {
    EXPECT_TRUE(torch::allclose(bias.grad(), br.grad(), 1e-4, 1e-4));
  }
  // Without an input gradient only the parameters receive one.
  auto x2 = x.detach();
  auto w2 = w.detach().clone().requires_grad_(true);
  (population_conv2d(x2, w2, torch::Tensor(), k, stride, pad) * g).sum().backward();
  EXPECT_FALSE(x2.grad().defined());
  if (!with_bias) {
    EXPECT_TRUE(torch::allclose(w2.grad(), wr.grad(), 1e-4, 1e-4));
  }
}

TEST(PopulationOps, ConvMatchesTorchConv2dForwardAndBackward) {
  expect_conv_matches(1, 1, 3, 2, 7, 9, 3, true);
  expect_conv_matches(3, 2, 5, 3, 6, 5, 2, true);
  expect_conv_matches(4, 3, 2, 1, 5, 5, 5, false);
  expect_conv_matches(2, 8, 6, 4, 12, 12, 5, true);  // CNN-s's second layer
  expect_conv_matches(2, 1, 8, 2, 28, 28, 5, true);  // its first (24 wide)
  expect_conv_matches(3, 6, 4, 2, 4, 4, 2, false);   // and its third (3 wide)
}

// Strided and padded convolutions (the Small CNN Zoo's 3x3 stride-2 valid layers on 28x28 and
// 32x32 inputs, 'same' padding, stride and padding together, odd sizes) through im2col + bmm.
TEST(PopulationOps, StridedAndPaddedConvMatchesTorchConv2dForwardAndBackward) {
  expect_conv_matches(3, 1, 16, 2, 28, 28, 3, true, 2, 0);   // 28 -> 13
  expect_conv_matches(2, 16, 16, 3, 13, 13, 3, true, 2, 0);  // 13 -> 6
  expect_conv_matches(2, 16, 16, 2, 6, 6, 3, false, 2, 0);   // 6 -> 2
  expect_conv_matches(2, 16, 4, 2, 15, 15, 3, true, 2, 0);   // CIFAR's 15 -> 7
  expect_conv_matches(2, 3, 5, 2, 9, 11, 3, true, 1, 1);     // same
  expect_conv_matches(1, 2, 3, 3, 10, 7, 4, true, 3, 2);     // stride 3, padding 2, even kernel
  expect_conv_matches(2, 2, 2, 1, 5, 6, 5, false, 1, 2);     // padding 2 on a 5x5 kernel
}

TEST(PopulationOps, StridedSharedConvMatchesTorchConv2d) {
  torch::manual_seed(9);
  const int64_t P = 3, C = 2, O = 4, N = 5, k = 3;
  auto x = torch::randn({N, C, 11, 9});
  auto w = torch::randn({P, O, C * k * k});
  auto bias = torch::randn({P, O});
  for (auto [stride, pad] : std::vector<std::pair<int64_t, int64_t>>{{2, 0}, {1, 1}, {2, 1}}) {
    auto y = shared_conv2d(x, w, bias, k, stride, pad);  // [P, O, N, Ho, Wo]
    for (int64_t p = 0; p < P; ++p) {
      auto r = torch::conv2d(x, w[p].view({O, C, k, k}), bias[p], stride, pad).transpose(0, 1);
      EXPECT_TRUE(torch::allclose(y[p], r, 1e-4, 1e-5)) << stride << " " << pad;
    }
  }
}

// Shapes for the direct kernels' edges: masked last vectors, rows beyond 24 columns, channel
// blocks of 4 plus a remainder, an odd number of one-vector rows, every supported kernel size.
TEST(PopulationOps, DirectConvEdgesMatchTorchConv2d) {
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {  // these shapes do take the direct path
    for (auto [k, Wo] : std::vector<std::pair<int64_t, int64_t>>{{3, 18}, {7, 34}, {2, 9}, {3, 8}, {4, 11}, {6, 9}}) {
      EXPECT_TRUE(kernels::direct_conv_suits(k, Wo)) << "k " << k << " Wo " << Wo;
    }
  }
  expect_conv_matches(2, 3, 5, 2, 20, 20, 3, true);  // 18 wide: 8 + 8 + 2, channels 4 + 1
  expect_conv_matches(1, 2, 3, 1, 16, 40, 7, true);  // 34 wide: 24 + 10, kernel 7
  expect_conv_matches(2, 2, 6, 3, 5, 10, 2, false);  // 9 wide: 8 + 1, kernel 2
  expect_conv_matches(1, 2, 3, 2, 7, 10, 3, true);   // 8 wide, 5 rows: 2 + 2 + 1
  expect_conv_matches(2, 1, 9, 2, 12, 14, 4, true);  // kernel 4, channels 4 + 4 + 1
  expect_conv_matches(1, 3, 2, 2, 9, 14, 6, false);  // kernel 6
}

// Output rows narrower than 8 (the tiny-convolution kernels where AVX2 runs): 7 wide, one output
// row and column, 1x1 and 7x7 kernels, several channels, with and without bias.
TEST(PopulationOps, TinyConvMatchesTorchConv2d) {
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    for (auto [k, H, W] :
         std::vector<std::tuple<int64_t, int64_t, int64_t>>{{3, 9, 9}, {7, 7, 7}, {1, 5, 6}, {3, 3, 8}, {2, 4, 4}}) {
      EXPECT_TRUE(kernels::tiny_conv_suits(k, H, W)) << "k " << k << " " << H << "x" << W;
    }
  }
  expect_conv_matches(2, 3, 5, 3, 9, 9, 3, true);   // 7 wide
  expect_conv_matches(1, 2, 3, 2, 7, 7, 7, false);  // one output
  expect_conv_matches(2, 4, 3, 3, 5, 6, 1, true);   // 1x1
  expect_conv_matches(3, 5, 6, 1, 3, 8, 3, true);   // one output row, 6 wide
  expect_conv_matches(2, 6, 4, 10, 4, 4, 2, true);  // CNN-s's third layer at batch 10
}

TEST(PopulationOps, Avx512ForwardEqualsAvx2ForwardBitwise) {
  if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) {
    GTEST_SKIP() << "needs AVX-512 and AVX2 + FMA";
  }
  // Widths: one 16-float vector (9, 12, 16), two (18, 24, 32), two blocks (34); odd row counts;
  // 8 wide, two rows to a vector (8 rows: 4 + 4; 5: 4 + one AVX2 row; 7: 4 + 2 + 1); 24 and 40
  // wide, the last 8 columns of two rows in one vector, an odd last row without.
  for (auto [H, W, k] : std::vector<std::tuple<int64_t, int64_t, int64_t>>{{10, 13, 5},
                                                                           {7, 16, 5},
                                                                           {9, 20, 5},
                                                                           {6, 22, 3},
                                                                           {28, 28, 5},
                                                                           {5, 36, 5},
                                                                           {8, 40, 7},
                                                                           {12, 12, 5},
                                                                           {9, 12, 5},
                                                                           {8, 9, 2},
                                                                           {5, 10, 3},
                                                                           {7, 28, 5},
                                                                           {9, 44, 5}}) {
    torch::manual_seed(H * 100 + W);
    const int64_t P = 2, C = 2, O = 5, b = 3;
    auto x = torch::randn({P, C, b, H, W});
    auto w = torch::randn({P, O, C * k * k});
    auto bias = torch::randn({P, O});
    kernels::ConvShape s;
    s.members = P, s.images = b, s.in = C, s.out = O, s.k = k, s.H = H, s.W = W;
    s.xs_image = H * W, s.xs_channel = b * H * W, s.xs_member = C * b * H * W;
    auto y512 = torch::empty({P, O, b, H - k + 1, W - k + 1}), y256 = torch::empty_like(y512);
    kernels::conv_forward(x.data_ptr<float>(), w.data_ptr<float>(), bias.data_ptr<float>(), y512.data_ptr<float>(), s, true);
    kernels::conv_forward(x.data_ptr<float>(), w.data_ptr<float>(), bias.data_ptr<float>(), y256.data_ptr<float>(), s, false);
    EXPECT_TRUE(torch::equal(y512, y256)) << H << "x" << W << " k " << k << " max diff "
                                          << (y512 - y256).abs().max().item<double>();
    EXPECT_TRUE(torch::allclose(y512, reference(x, w, bias, k), 1e-4, 1e-4)) << H << "x" << W << " k " << k;
  }
}

TEST(PopulationOps, Avx512WeightGradEqualsAvx2WeightGradBitwise) {
  if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512vl") || !__builtin_cpu_supports("avx2") ||
      !__builtin_cpu_supports("fma")) {
    GTEST_SKIP() << "needs AVX-512VL and AVX2 + FMA";
  }
  // Kernels 2-5 (the ones with an AVX-512 form; 6 and 7 keep the AVX2 one), widths of one vector,
  // one and a tail, three; output channels past one register block (6 at k = 2, 3 at k = 3);
  // fewer output rows than k - 1 (every row checked), and exactly k - 1.
  for (auto [H, W, k, O] : std::vector<std::tuple<int64_t, int64_t, int64_t, int64_t>>{{28, 28, 5, 8},
                                                                                       {12, 12, 5, 6},
                                                                                       {9, 17, 3, 7},
                                                                                       {6, 10, 2, 13},
                                                                                       {11, 14, 4, 3},
                                                                                       {6, 13, 5, 2},
                                                                                       {8, 13, 5, 2},
                                                                                       {12, 33, 5, 1},
                                                                                       {10, 15, 6, 2}}) {
    torch::manual_seed(H * 100 + W + k);
    const int64_t P = 2, C = 3, b = 3;
    auto x = torch::randn({P, C, b, H, W});
    auto gy = torch::randn({P, O, b, H - k + 1, W - k + 1});
    kernels::ConvShape s;
    s.members = P, s.images = b, s.in = C, s.out = O, s.k = k, s.H = H, s.W = W;
    s.xs_image = H * W, s.xs_channel = b * H * W, s.xs_member = C * b * H * W;
    auto dw512 = torch::full({P, O, C * k * k}, NAN), dw256 = torch::full({P, O, C * k * k}, NAN);
    kernels::conv_weight_grad(x.data_ptr<float>(), gy.data_ptr<float>(), dw512.data_ptr<float>(), s, true);
    kernels::conv_weight_grad(x.data_ptr<float>(), gy.data_ptr<float>(), dw256.data_ptr<float>(), s, false);
    EXPECT_TRUE(torch::equal(dw512, dw256)) << H << "x" << W << " k " << k << " out " << O;
    // And both are the gradient: torch's conv2d weight gradient of each member.
    auto wr = torch::zeros({P, O, C * k * k}).requires_grad_(true);
    (reference(x, wr, torch::Tensor(), k) * gy).sum().backward();
    EXPECT_TRUE(torch::allclose(dw512, wr.grad(), 1e-4, 1e-4))
        << H << "x" << W << " k " << k << " max diff " << (dw512 - wr.grad()).abs().max().item<double>();
  }
}

TEST(PopulationOps, InputGradOfEightWideRowsIsTheGradientBitwiseOnBothWidths) {
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) GTEST_SKIP() << "needs AVX2 + FMA";
  const bool avx512 = __builtin_cpu_supports("avx512f");
  // Output rows 8 wide (the kernel's only width), kernels 2-7; even and odd input heights, fewer
  // output rows than k - 1 and one output row; input channels past one register block (4).
  for (auto [H, k, C, O] : std::vector<std::tuple<int64_t, int64_t, int64_t, int64_t>>{
           {12, 5, 8, 6}, {11, 5, 3, 2}, {9, 2, 5, 7}, {10, 3, 9, 1}, {5, 4, 4, 3}, {7, 7, 2, 5}, {6, 6, 6, 2}, {3, 3, 1, 4}}) {
    torch::manual_seed(H * 100 + k * 10 + C);
    const int64_t P = 2, b = 3, W = 8 + k - 1;
    ASSERT_TRUE(kernels::input_grad_suits(k, W - k + 1));
    auto x = torch::randn({P, C, b, H, W});
    auto w = torch::randn({P, O, C * k * k});
    auto gy = torch::randn({P, O, b, H - k + 1, 8});
    gy.select(3, 0).select(2, 1).zero_();  // a zero row: the sign of zero sums is compared too
    kernels::ConvShape s;
    s.members = P, s.images = b, s.in = C, s.out = O, s.k = k, s.H = H, s.W = W;
    auto dx256 = torch::full({P, C, b, H, W}, NAN), dx512 = torch::full({P, C, b, H, W}, NAN);
    kernels::conv_input_grad(gy.data_ptr<float>(), w.data_ptr<float>(), dx256.data_ptr<float>(), s, false);
    auto xr = x.clone().requires_grad_(true);
    (reference(xr, w, torch::Tensor(), k) * gy).sum().backward();
    EXPECT_TRUE(torch::allclose(dx256, xr.grad(), 1e-4, 1e-4))
        << H << "x" << W << " k " << k << " max diff " << (dx256 - xr.grad()).abs().max().item<double>();
    if (avx512) {
      kernels::conv_input_grad(gy.data_ptr<float>(), w.data_ptr<float>(), dx512.data_ptr<float>(), s, true);
      EXPECT_TRUE(torch::equal(dx512.view(torch::kInt32), dx256.view(torch::kInt32))) << H << "x" << W << " k " << k;
    }
  }
}

TEST(PopulationOps, SkippingKnownZeroRowsIsExact) {
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) GTEST_SKIP() << "needs AVX2 + FMA";
  // The input gradient's padded rows: the kernel rows that read only them are skipped, and the
  // result is bitwise the full convolution's, on both vector widths, one and two output rows.
  for (auto [H, W, k, lo, hi] : std::vector<std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t>>{
           {16, 16, 5, 4, 12}, {12, 20, 3, 2, 10}, {9, 13, 5, 4, 5}, {7, 12, 2, 1, 6}, {12, 12, 5, 4, 8}}) {
    torch::manual_seed(H * 10 + k);
    const int64_t P = 2, C = 3, O = 5, b = 2;
    auto x = torch::randn({P, C, b, H, W});
    x.narrow(3, 0, lo).zero_();
    x.narrow(3, hi, H - hi).zero_();
    auto w = torch::randn({P, O, C * k * k});
    kernels::ConvShape s;
    s.members = P, s.images = b, s.in = C, s.out = O, s.k = k, s.H = H, s.W = W;
    s.xs_image = H * W, s.xs_channel = b * H * W, s.xs_member = C * b * H * W;
    for (bool wide : {true, false}) {
      auto full = torch::empty({P, O, b, H - k + 1, W - k + 1}), skipped = torch::full_like(full, NAN);
      kernels::conv_forward(x.data_ptr<float>(), w.data_ptr<float>(), nullptr, full.data_ptr<float>(), s, wide);
      s.row_lo = lo, s.row_hi = hi;
      kernels::conv_forward(x.data_ptr<float>(), w.data_ptr<float>(), nullptr, skipped.data_ptr<float>(), s, wide);
      s.row_lo = 0, s.row_hi = -1;
      EXPECT_TRUE(torch::equal(full, skipped)) << H << "x" << W << " k " << k << " wide " << wide;
    }
  }
}

TEST(PopulationOps, MaxPoolBackwardWritesEveryInputPosition) {
  // The raw backward overwrites its output (no zeroed tensor needed): a NaN-filled buffer gets
  // exactly torch's gradient, odd sizes and windows of 2 and 3 alike.
  for (int64_t k : {2, 3}) {
    for (auto [H, W] : std::vector<std::pair<int64_t, int64_t>>{{7, 9}, {8, 37}, {24, 24}}) {
      torch::manual_seed(k * 10 + W);
      auto x = torch::randn({3, H, W}).requires_grad_(true);
      auto yr = torch::max_pool2d(x.unsqueeze(0), k).squeeze(0);
      auto g = torch::randn(yr.sizes());
      (yr * g).sum().backward();
      auto y = torch::empty(yr.sizes());
      auto arg = torch::empty(yr.sizes(), torch::kUInt8);
      max_pool_forward_raw(x.detach().data_ptr<float>(), y.data_ptr<float>(), arg.data_ptr<uint8_t>(), 3, H, W, k);
      EXPECT_TRUE(torch::equal(y, yr.detach()));
      auto dx = torch::full({3, H, W}, NAN);
      max_pool_backward_raw(g.data_ptr<float>(), arg.data_ptr<uint8_t>(), dx.data_ptr<float>(), 3, H, W, k);
      EXPECT_TRUE(torch::equal(dx, x.grad())) << "k " << k << " " << H << "x" << W;
    }
  }
}

TEST(PopulationOps, ConvRejectsABiasThatDoesNotMatchTheWeights) {
  auto x = torch::randn({2, 1, 3, 12, 12});
  auto w = torch::randn({2, 4, 25});
  EXPECT_THROW(population_conv2d(x, w, torch::randn({4}), 5), InternalError);     // [out], not [P, out]
  EXPECT_THROW(population_conv2d(x, w, torch::randn({2, 3}), 5), InternalError);  // too few channels
  EXPECT_THROW(shared_conv2d(x[0].transpose(0, 1), w, torch::randn({2}), 5), InternalError);
  EXPECT_THROW(population_conv2d(x, w.to(torch::kFloat64), torch::Tensor(), 5), InternalError);
  EXPECT_EQ(population_conv2d(x, w, torch::randn({2, 4}), 5).sizes(), (std::vector<int64_t>{2, 4, 3, 8, 8}));
}

TEST(PopulationOps, DirectKernelsServeCnnSShapesWhereAvx2Runs) {
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) GTEST_SKIP() << "no AVX2 + FMA on this CPU";
  // CNN-s's first two layers (24 and 8 wide) run direct; the third (3 wide) is not theirs (it takes
  // the tiny convolutions).
  EXPECT_TRUE(kernels::direct_conv_suits(5, 24));
  EXPECT_TRUE(kernels::direct_conv_suits(5, 8));
  EXPECT_FALSE(kernels::direct_conv_suits(2, 3));
  EXPECT_FALSE(kernels::direct_conv_suits(9, 20));
  // The weight gradient alone, against the im2col formulation on the same inputs.
  torch::manual_seed(11);
  const int64_t P = 2, C = 3, O = 5, b = 2, H = 11, W = 13, k = 4, Ho = H - k + 1, Wo = W - k + 1;
  auto x = torch::randn({P, C, b, H, W});
  auto g = torch::randn({P, O, b, Ho, Wo});
  kernels::ConvShape s;
  s.members = P, s.images = b, s.in = C, s.out = O, s.k = k, s.H = H, s.W = W;
  s.xs_image = H * W, s.xs_channel = b * H * W, s.xs_member = C * b * H * W;
  auto dw = torch::full({P, O, C * k * k}, 99.0f);  // overwritten, not accumulated into
  kernels::conv_weight_grad(x.data_ptr<float>(), g.data_ptr<float>(), dw.data_ptr<float>(), s);
  auto ref = torch::bmm(g.view({P, O, -1}), population_im2col(x, k).transpose(1, 2));
  EXPECT_TRUE(torch::allclose(dw, ref, 1e-4, 1e-4)) << "max diff " << (dw - ref).abs().max().item<double>();
}

// shared_conv2d of one input batch [N, C, H, W] against torch's conv2d, member by member.
void expect_shared_conv_matches(int64_t P, int64_t C, int64_t O, int64_t N, int64_t H, int64_t W, int64_t k) {
  torch::manual_seed(C * 100 + W);
  auto x = torch::randn({N, C, H, W});
  auto w = torch::randn({P, O, C * k * k});
  auto bias = torch::randn({P, O});
  auto y = shared_conv2d(x, w, bias, k);
  ASSERT_EQ(y.sizes(), (std::vector<int64_t>{P, O, N, H - k + 1, W - k + 1}));
  for (int64_t p = 0; p < P; ++p) {
    auto r = torch::conv2d(x, w[p].view({O, C, k, k}), bias[p]).transpose(0, 1);
    EXPECT_TRUE(torch::allclose(y[p], r, 1e-4, 1e-4))
        << "C=" << C << " W=" << W << " member " << p << " max diff " << (y[p] - r).abs().max().item<double>();
  }
  auto yn = shared_conv2d(x, w, torch::Tensor(), k);
  EXPECT_TRUE(torch::allclose(yn, y - bias.view({P, O, 1, 1, 1}), 1e-4, 1e-4));
}

TEST(PopulationOps, SharedConvMatchesTorchConv2d) {
  for (int64_t C : {1, 3}) expect_shared_conv_matches(3, C, 4, 5, 8, 7, 3);  // 5 wide: im2col
  // Rows wide enough for the direct kernels (one input read by every member), with a masked tail.
  for (int64_t C : {1, 2}) expect_shared_conv_matches(3, C, 6, 4, 14, 25, 5);
}

TEST(PopulationOps, TanhIsWithinThreeUlpOfTheExactValue) {
  // A dense grid over every regime (the polynomial below |x| = 0.4, exp beyond, saturation),
  // tiny and subnormal values, and the special values.
  auto grid = torch::cat({torch::linspace(-12.0, 12.0, 480001), torch::logspace(-30, 0, 3001), -torch::logspace(-30, 0, 3001),
                          torch::tensor({0.0f, -0.0f, 1e-40f, 0.39999998f, 0.4f, 0.40000001f, 9.0f, 20.0f, 88.0f, 3e38f})});
  auto x = grid.to(torch::kFloat32);
  auto y = population_tanh(x);
  auto exact = torch::tanh(x.to(torch::kFloat64));
  auto rel = ((y.to(torch::kFloat64) - exact).abs() / exact.abs().clamp_min(1e-300)).max().item<double>();
  EXPECT_LT(rel, 2.5e-7) << "max relative error";
  EXPECT_TRUE(std::signbit(population_tanh(torch::tensor({-0.0f}))[0].item<float>()));
  auto special = population_tanh(torch::tensor({INFINITY, -INFINITY, NAN}));
  EXPECT_EQ(special[0].item<float>(), 1.0f);
  EXPECT_EQ(special[1].item<float>(), -1.0f);
  EXPECT_TRUE(std::isnan(special[2].item<float>()));
  // A value does not depend on where it sits (vector body or padded tail), nor on the vector width.
  auto shifted = population_tanh(x.narrow(0, 3, 1001));
  EXPECT_TRUE(torch::equal(shifted, y.narrow(0, 3, 1001)));
  if (kernels::avx2_fma_available()) {
    auto narrow = torch::empty_like(x);
    kernels::tanh_avx2(x.data_ptr<float>(), narrow.data_ptr<float>(), x.numel(), false);
    EXPECT_TRUE(torch::equal(narrow, y));
  }
  // The gradient is (1 - y^2) g.
  auto xs = torch::randn({3, 37}).mul(2).requires_grad_(true);
  auto g = torch::randn({3, 37});
  auto ys = population_tanh(xs);
  (ys * g).sum().backward();
  EXPECT_TRUE(torch::allclose(xs.grad(), g * (1 - ys.detach().square()), 1e-6, 1e-7));
}

TEST(PopulationOps, Col2imIsTheAdjointOfIm2col) {
  // <im2col(x), c> == <x, col2im(c)> for every x, c: checked on random tensors.
  torch::manual_seed(7);
  auto x = torch::randn({2, 3, 2, 6, 5});
  auto cols = population_im2col(x, 3);
  ASSERT_EQ(cols.sizes(), (std::vector<int64_t>{2, 27, 2 * 4 * 3}));
  // Row 0 of member 0 is the top-left k x k window's first tap of channel 0: x[0,0,n,y,x].
  EXPECT_TRUE(torch::equal(cols[0][0].view({2, 4, 3}), x[0][0].narrow(1, 0, 4).narrow(2, 0, 3)));
  auto c = torch::randn(cols.sizes());
  auto back = population_col2im(c, 3, 2, 6, 5, 3);
  EXPECT_NEAR((cols * c).sum().item<double>(), (x * back).sum().item<double>(), 1e-3);
  // Strided and padded: taps in the padding read 0, and the adjoint still holds.
  for (auto [stride, pad] : std::vector<std::pair<int64_t, int64_t>>{{2, 0}, {1, 1}, {2, 1}, {3, 2}}) {
    auto cs = population_im2col(x, 3, stride, pad);
    const int64_t Ho = (6 + 2 * pad - 3) / stride + 1, Wo = (5 + 2 * pad - 3) / stride + 1;
    ASSERT_EQ(cs.sizes(), (std::vector<int64_t>{2, 27, 2 * Ho * Wo}));
    auto cc = torch::randn(cs.sizes());
    auto bs = population_col2im(cc, 3, 2, 6, 5, 3, stride, pad);
    EXPECT_NEAR((cs * cc).sum().item<double>(), (x * bs).sum().item<double>(), 1e-3) << stride << " " << pad;
  }
  auto padded = population_im2col(x, 3, 1, 1);
  EXPECT_EQ(padded[0][0][0].item<float>(), 0.0f);                            // tap (0, 0) of output (0, 0) lies in the padding
  EXPECT_EQ(padded[0][4][0].item<float>(), x[0][0][0][0][0].item<float>());  // the centre tap is the pixel
}

// The strided im2col is a copy: equal, bit for bit, to torch's unfold on every size that has its own
// compiled path (the Small CNN Zoo network's 28 -> 13 -> 6 -> 2 and 32 -> 15 -> 7 -> 3) and on
// others (run-time sizes, stride 3).
TEST(PopulationOps, StridedIm2colEqualsTorchUnfold) {
  torch::manual_seed(11);
  for (auto [size, stride] :
       std::vector<std::pair<int64_t, int64_t>>{{28, 2}, {13, 2}, {6, 2}, {32, 2}, {15, 2}, {7, 2}, {9, 2}, {11, 3}}) {
    const int64_t P = 2, C = 3, N = 4, k = 3, L = ((size - k) / stride + 1) * ((size - k) / stride + 1);
    auto x = torch::randn({P, C, N, size, size});
    auto cols = population_im2col(x, k, stride, 0);  // [P, C*k*k, N*L]
    for (int64_t p = 0; p < P; ++p) {
      auto ref =
          torch::nn::functional::unfold(x[p].transpose(0, 1), torch::nn::functional::UnfoldFuncOptions({k, k}).stride(stride));
      // ref [N, C*k*k, L] -> [C*k*k, N*L]
      EXPECT_TRUE(torch::equal(cols[p], ref.transpose(0, 1).reshape({C * k * k, N * L}))) << size << " stride " << stride;
    }
  }
}

TEST(PopulationOps, MaxPoolMatchesTorchForwardAndBackward) {
  for (int64_t k : {2, 3}) {
    for (int64_t W : {9, 25, 37}) {  // k = 2: 4 | 8 + 4 | 8 + 8 + 2 outputs per row (vector steps, tail)
      torch::manual_seed(k * 100 + W);
      // Odd sizes (the last row/column is dropped), 5-d population layout, ties inside windows.
      auto base = torch::randn({2, 3, 2, 7, W});
      base.index_put_({0, 0, 0, 0, 1}, base.index({0, 0, 0, 0, 0}));  // a tie: the first one wins
      base.index_put_({1, 2, 1, 3, 3}, base.index({1, 2, 1, 2, 3}));  // a tie across rows
      base.index_put_({0, 1, 1, 5}, base.index({0, 1, 1, 4}));        // whole rows equal
      auto x = base.clone().requires_grad_(true), xr = base.clone().requires_grad_(true);
      auto y = population_max_pool2d(x, k);
      auto yr = torch::max_pool2d(xr.view({6, 2, 7, W}), k).view({2, 3, 2, 7 / k, W / k});
      ASSERT_EQ(y.sizes(), yr.sizes());
      EXPECT_TRUE(torch::equal(y, yr)) << "k=" << k << " W=" << W;
      auto g = torch::randn(y.sizes());
      (y * g).sum().backward();
      (yr * g).sum().backward();
      EXPECT_TRUE(torch::equal(x.grad(), xr.grad())) << "k=" << k << " W=" << W;
    }
  }
  // NaN wins its window wherever it sits, in the vector part and in the tail.
  auto n = torch::randn({2, 28});
  n.index_put_({0, 3}, NAN);
  n.index_put_({1, 18}, NAN);
  n.index_put_({1, 27}, NAN);
  auto y = population_max_pool2d(n, 2);
  EXPECT_TRUE(std::isnan(y[0][1].item<float>()));
  EXPECT_TRUE(std::isnan(y[0][9].item<float>()));
  EXPECT_TRUE(std::isnan(y[0][13].item<float>()));
  EXPECT_EQ(y.isnan().sum().item<int64_t>(), 3);
}

}  // namespace
}  // namespace hyperrep::population
