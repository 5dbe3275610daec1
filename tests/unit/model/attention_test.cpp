// The CPU's small-sequence attention kernels (kernels/attention_kernels.h) against the textbook
// computation in float64: forward and the gradients of input, projections and biases, for short
// and long sequences and both head sizes in use; and the same bits at 1 and 2 threads.
#include <ATen/Parallel.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "kernels/attention_kernels.h"
#include "model/transformer.h"

using namespace hyperrep;

namespace {

// softmax(q k^T / sqrt(dh)) v with q, k, v from in_proj (the key bias left out, as the module does).
torch::Tensor reference(const torch::Tensor& x, const model::MultiHeadAttention& m, int64_t heads) {
  const int64_t b = x.size(0), t = x.size(1), d = x.size(2), dh = d / heads;
  auto w = m->in_proj->weight.to(torch::kFloat64), bias = m->in_proj->bias.to(torch::kFloat64).clone();
  bias = torch::cat({bias.narrow(0, 0, d), torch::zeros({d}, bias.options()), bias.narrow(0, 2 * d, d)});
  auto qkv = torch::nn::functional::linear(x, w, bias).view({b, t, 3, heads, dh}).permute({2, 0, 3, 1, 4});
  auto q = qkv[0], k = qkv[1], v = qkv[2];
  auto o = torch::matmul(torch::softmax(torch::matmul(q, k.transpose(-2, -1)) / std::sqrt(double(dh)), -1), v);
  return torch::nn::functional::linear(o.transpose(1, 2).reshape({b, t, d}), m->out_proj->weight.to(torch::kFloat64),
                                       m->out_proj->bias.to(torch::kFloat64));
}

}  // namespace

TEST(SmallAttention, MatchesTheTextbookComputationForwardAndBackward) {
  if (!kernels::small_attention_suits(8)) GTEST_SKIP() << "this CPU has no AVX2 + FMA: LibTorch's products are used";
  torch::manual_seed(3);
  for (auto [batch, tokens, d, heads] :
       std::vector<std::array<int64_t, 4>>{{7, 10, 64, 4}, {3, 1, 64, 4}, {2, 59, 64, 4}, {5, 9, 256, 4}, {4, 13, 32, 2}}) {
    model::MultiHeadAttention m(d, heads, model::AttentionKind::kPlain);
    {
      torch::NoGradGuard g;
      m->in_proj->bias.uniform_(-0.5, 0.5);  // the key part is ignored either way
      m->out_proj->bias.uniform_(-0.5, 0.5);
    }
    auto x = torch::randn({batch, tokens, d}, torch::requires_grad());
    ASSERT_TRUE(model::small_attention_applies(x, heads, model::AttentionKind::kPlain));
    auto gy = torch::randn({batch, tokens, d});
    auto y = m->forward(x);
    (y * gy).sum().backward();
    auto xd = x.detach().to(torch::kFloat64).requires_grad_(true);
    auto w_in = m->in_proj->weight, w_out = m->out_proj->weight;
    std::vector<torch::Tensor> got = {x.grad(), w_in.grad(), m->in_proj->bias.grad(), w_out.grad()};
    // The float64 reference's gradients through autograd on double copies of the parameters.
    model::MultiHeadAttention r(d, heads, model::AttentionKind::kPlain);
    r->to(torch::kFloat64);
    {
      torch::NoGradGuard g;
      r->in_proj->weight.copy_(w_in), r->in_proj->bias.copy_(m->in_proj->bias);
      r->out_proj->weight.copy_(w_out), r->out_proj->bias.copy_(m->out_proj->bias);
    }
    auto yr = reference(xd, r, heads);
    (yr * gy.to(torch::kFloat64)).sum().backward();
    EXPECT_TRUE(torch::allclose(y.to(torch::kFloat64), yr, 1e-4, 1e-5)) << tokens << " tokens, d " << d;
    std::vector<torch::Tensor> want = {xd.grad(), r->in_proj->weight.grad(), r->in_proj->bias.grad(), r->out_proj->weight.grad()};
    for (size_t i = 0; i < got.size(); ++i) {
      const double scale = want[i].abs().max().item<double>() + 1e-12;
      EXPECT_LT((got[i].to(torch::kFloat64) - want[i]).abs().max().item<double>() / scale, 2e-4)
          << "gradient " << i << ", " << tokens << " tokens, d " << d;
    }
    // The key bias has no effect: its gradient is exactly zero.
    EXPECT_EQ(m->in_proj->bias.grad().narrow(0, d, d).abs().max().item<float>(), 0.0f);
  }
}

TEST(SmallAttention, SameBitsAtOneAndTwoThreads) {
  if (!kernels::small_attention_suits(8)) GTEST_SKIP() << "this CPU has no AVX2 + FMA";
  torch::manual_seed(4);
  model::MultiHeadAttention m(64, 4, model::AttentionKind::kPlain);
  auto x = torch::randn({300, 10, 64});
  auto gy = torch::randn({300, 10, 64});
  std::vector<torch::Tensor> out;
  for (int threads : {1, 2}) {
    at::set_num_threads(threads);
    auto xi = x.clone().requires_grad_(true);
    (m->forward(xi) * gy).sum().backward();
    out.push_back(xi.grad());
  }
  at::set_num_threads(1);
  EXPECT_TRUE(torch::equal(out[0], out[1]));
}
