#include "model/transformer.h"

#include <torch/version.h>

#include <cmath>

#include "common/error.h"

#if defined(TORCH_VERSION_MAJOR) && TORCH_VERSION_MAJOR >= 2
#define HYPERREP_HAS_SDPA 1
#else
#define HYPERREP_HAS_SDPA 0
#endif

namespace hyperrep::model {

bool fused_attention_available() { return HYPERREP_HAS_SDPA != 0; }

AttentionKind resolve_attention(const std::string& mode) {
  if (mode == "plain") return AttentionKind::kPlain;
  if (mode == "fused") {
    HYPERREP_CHECK(fused_attention_available(), ConfigError, "model.attention = fused needs LibTorch >= 2.0 (this is ",
                   TORCH_VERSION, "); use auto or plain");
    return AttentionKind::kFused;
  }
  HYPERREP_CHECK(mode == "auto", ConfigError, "model.attention: unknown mode '", mode, "' (auto, fused, plain)");
  return fused_attention_available() ? AttentionKind::kFused : AttentionKind::kPlain;
}

MultiHeadAttentionImpl::MultiHeadAttentionImpl(int64_t d_model, int64_t heads, AttentionKind kind) : heads_(heads), kind_(kind) {
  HYPERREP_CHECK(heads > 0 && d_model % heads == 0, ConfigError, "model.heads (", heads, ") must divide model.d_model (", d_model,
                 ")");
  in_proj = register_module("in_proj", torch::nn::Linear(d_model, 3 * d_model));
  out_proj = register_module("out_proj", torch::nn::Linear(d_model, d_model));
  torch::NoGradGuard no_grad;
  in_proj->bias.narrow(0, d_model, d_model).zero_();
}

torch::Tensor MultiHeadAttentionImpl::qkv_bias() const {
  // The key bias adds q.b_k to every score of a query, which the softmax cancels: in exact
  // arithmetic its gradient is zero, in floats it is rounding noise, and Adam normalises noise
  // into full-size steps (so runs that differ only in rounding, e.g. in their world size, part
  // there first). It is left out of the forward, its gradient is exactly zero, and it stays at
  // zero; a checkpoint that holds another value computes the same function.
  const int64_t d = in_proj->bias.size(0) / 3;
  const auto& b = in_proj->bias;
  return torch::cat({b.narrow(0, 0, d), torch::zeros({d}, b.options()), b.narrow(0, 2 * d, d)});
}

torch::Tensor MultiHeadAttentionImpl::forward(const torch::Tensor& x) {
  const int64_t b = x.size(0), t = x.size(1), d = x.size(2), dh = d / heads_;
  auto qkv = torch::nn::functional::linear(x, in_proj->weight, qkv_bias()).view({b, t, 3, heads_, dh}).permute({2, 0, 3, 1, 4});  // [3, B, H, T, dh]
  auto q = qkv[0], k = qkv[1], v = qkv[2];
  torch::Tensor o;
#if HYPERREP_HAS_SDPA
  if (kind_ == AttentionKind::kFused) {
    o = at::scaled_dot_product_attention(q, k, v);
  } else
#endif
  {
    auto scores = torch::matmul(q, k.transpose(-2, -1)) / std::sqrt(static_cast<double>(dh));
    o = torch::matmul(torch::softmax(scores, -1), v);
  }
  return out_proj->forward(o.transpose(1, 2).reshape({b, t, d}));
}

TransformerBlockImpl::TransformerBlockImpl(int64_t d_model, int64_t heads, int64_t d_ff, double dropout, AttentionKind kind) {
  norm1 = register_module("norm1", torch::nn::LayerNorm(torch::nn::LayerNormOptions({d_model})));
  attn = register_module("attn", MultiHeadAttention(d_model, heads, kind));
  norm2 = register_module("norm2", torch::nn::LayerNorm(torch::nn::LayerNormOptions({d_model})));
  ff1 = register_module("ff1", torch::nn::Linear(d_model, d_ff));
  ff2 = register_module("ff2", torch::nn::Linear(d_ff, d_model));
  drop = register_module("drop", KeyedDropout(dropout));
}

torch::Tensor TransformerBlockImpl::forward(torch::Tensor x) {
  x = x + drop->forward(attn->forward(norm1->forward(x)));
  x = x + drop->forward(ff2->forward(torch::relu(ff1->forward(norm2->forward(x)))));
  return x;
}

double block_forward_flops(int64_t batch, int64_t tokens, int64_t d_model, int64_t d_ff) {
  const double bt = static_cast<double>(batch) * tokens, d = d_model;
  const double projections = 2.0 * bt * d * (3 * d) + 2.0 * bt * d * d;                   // qkv + out
  const double attention = 2.0 * 2.0 * batch * static_cast<double>(tokens) * tokens * d;  // QK^T and AV
  const double ff = 2.0 * 2.0 * bt * d * d_ff;
  return projections + attention + ff;
}

}  // namespace hyperrep::model
