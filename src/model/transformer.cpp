#include "model/transformer.h"

#include <torch/version.h>

#include <cmath>

#include "common/error.h"
#include "kernels/attention_kernels.h"

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

namespace {

// Plain attention of many short sequences on the CPU through kernels/attention_kernels: qkv
// [B, T, 3d] (the in-projection's output) -> [B, T, d], the backward straight into qkv's layout.
class SmallAttention : public torch::autograd::Function<SmallAttention> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& qkv_in, int64_t heads,
                               int64_t queries) {
    auto qkv = qkv_in.contiguous();
    const kernels::AttentionShape s{qkv.size(0), qkv.size(1), heads, qkv.size(2) / 3 / heads, queries};
    auto out = torch::empty({s.batch, s.nq(), heads * s.head_dim}, qkv.options());
    auto probs = torch::empty({s.batch, heads, s.nq(), s.tokens}, qkv.options());
    kernels::attention_forward(qkv.data_ptr<float>(), out.data_ptr<float>(), probs.data_ptr<float>(), s, scale(s.head_dim));
    ctx->save_for_backward({qkv, probs});
    ctx->saved_data["heads"] = heads;
    ctx->saved_data["queries"] = queries;
    return out;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto &qkv = saved[0], &probs = saved[1];
    const int64_t heads = ctx->saved_data["heads"].toInt();
    const kernels::AttentionShape s{qkv.size(0), qkv.size(1), heads, qkv.size(2) / 3 / heads, ctx->saved_data["queries"].toInt()};
    auto dout = grads[0].contiguous();
    auto dqkv = torch::empty_like(qkv);
    kernels::attention_backward(qkv.data_ptr<float>(), probs.data_ptr<float>(), dout.data_ptr<float>(), dqkv.data_ptr<float>(), s,
                                scale(s.head_dim));
    return {dqkv, torch::Tensor(), torch::Tensor()};
  }

  // 1 / sqrt(dh): a power of two for the usual head sizes (16, 64, 256), where multiplying rounds
  // exactly as dividing by sqrt(dh) does.
  static float scale(int64_t head_dim) { return static_cast<float>(1.0 / std::sqrt(static_cast<double>(head_dim))); }
};

}  // namespace

bool small_attention_applies(const torch::Tensor& x, int64_t heads, AttentionKind kind) {
  const int64_t d = x.size(-1);
  return kind == AttentionKind::kPlain && x.device().is_cpu() && x.scalar_type() == torch::kFloat32 && x.dim() == 3 &&
         d % heads == 0 && kernels::small_attention_suits(d / heads);
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

torch::Tensor MultiHeadAttentionImpl::forward(const torch::Tensor& x, bool first_only) {
  const int64_t b = x.size(0), t = x.size(1), d = x.size(2), dh = d / heads_;
  if (small_attention_applies(x, heads_, kind_)) {
    return out_proj->forward(
        SmallAttention::apply(torch::nn::functional::linear(x, in_proj->weight, qkv_bias()), heads_, first_only ? 1 : 0));
  }
  auto qkv = torch::nn::functional::linear(x, in_proj->weight, qkv_bias())
                 .view({b, t, 3, heads_, dh})
                 .permute({2, 0, 3, 1, 4});  // [3, B, H, T, dh]
  // unbind, not qkv[0..2]: the backward of an index is a zero-filled tensor of qkv's whole size per
  // part, summed; unbind's is one stack of the three gradients (the same values, without the fills
  // and adds that were 15 % of a TETRIS-SEED step).
  const auto parts = qkv.unbind(0);
  const auto &k = parts[1], &v = parts[2];
  // Only token 0 queries when first_only (the last encoder block): scores and output of one row.
  const auto q = first_only ? parts[0].narrow(2, 0, 1) : parts[0];
  const int64_t tq = q.size(2);
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
  return out_proj->forward(o.transpose(1, 2).reshape({b, tq, d}));
}

torch::Tensor TransformerBlockImpl::forward_first(const torch::Tensor& x) {
  // Token 0's row of forward(x): its attention still reads every token's key and value. The
  // dropout masks are those of forward's token 0 (a mask is keyed by sample and element, and token
  // 0's elements come first).
  auto y = x.narrow(1, 0, 1) + drop->forward(attn->forward(norm1->forward(x), /*first_only=*/true));
  return y + drop->forward(ff2->forward(torch::relu(ff1->forward(norm2->forward(y)))));
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

double first_row_block_flops(int64_t batch, int64_t tokens, int64_t d_model, int64_t d_ff) {
  const double b = static_cast<double>(batch), d = d_model;
  const double projections = 2.0 * b * tokens * d * (3 * d) + 2.0 * b * d * d;  // qkv of every token, out of one
  const double attention = 2.0 * 2.0 * b * static_cast<double>(tokens) * d;     // one query: q.K^T and p.V
  return projections + attention + 2.0 * 2.0 * b * d * d_ff;
}

}  // namespace hyperrep::model
