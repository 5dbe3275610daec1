// Transformer pieces of the autoencoder (METHOD.md §4): multi-head self-attention (fused
// scaled_dot_product_attention where LibTorch >= 2.0 has it, plain otherwise) and the pre-norm
// block x += Drop(MHA(LN(x))); x += Drop(FF(LN(x))) with FF d -> d_ff -> ReLU -> d.
#pragma once

#include <torch/torch.h>

#include <string>

#include "model/keyed_dropout.h"

namespace hyperrep::model {

enum class AttentionKind { kFused, kPlain };
// "auto" -> fused when this LibTorch has it, else plain; "fused" on an old LibTorch throws ConfigError.
AttentionKind resolve_attention(const std::string& mode);
bool fused_attention_available();
// True when plain attention on x [B, T, d] runs through the CPU's own small-sequence kernels
// (kernels/attention_kernels.h: float32 on an AVX2 + FMA CPU, head dim a multiple of 8) rather
// than LibTorch's batched products. Both compute the same function; they round differently.
bool small_attention_applies(const torch::Tensor& x, int64_t heads, AttentionKind kind);

class MultiHeadAttentionImpl : public torch::nn::Module {
 public:
  MultiHeadAttentionImpl(int64_t d_model, int64_t heads, AttentionKind kind);
  // [B, T, d] -> [B, T, d]; first_only: token 0's row only, [B, 1, d] (its query against all keys).
  torch::Tensor forward(const torch::Tensor& x, bool first_only = false);

  torch::nn::Linear in_proj{nullptr}, out_proj{nullptr};  // d -> 3d (q, k, v), d -> d

 private:
  torch::Tensor qkv_bias() const;  // in_proj's bias with the key part left out (zero)

  int64_t heads_;
  AttentionKind kind_;
};
TORCH_MODULE(MultiHeadAttention);

class TransformerBlockImpl : public torch::nn::Module {
 public:
  TransformerBlockImpl(int64_t d_model, int64_t heads, int64_t d_ff, double dropout, AttentionKind kind);
  torch::Tensor forward(torch::Tensor x);
  // forward(x).narrow(1, 0, 1) without the other tokens' attention outputs and feed-forward: what
  // the last encoder block computes, since the code reads only the compression token's row.
  torch::Tensor forward_first(const torch::Tensor& x);

  torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr};
  MultiHeadAttention attn{nullptr};
  torch::nn::Linear ff1{nullptr}, ff2{nullptr};
  KeyedDropout drop{nullptr};
};
TORCH_MODULE(TransformerBlock);

// Matmul FLOPs of one block's forward on B sequences of T tokens (2*m*n*k per product).
double block_forward_flops(int64_t batch, int64_t tokens, int64_t d_model, int64_t d_ff);
// The same for TransformerBlock::forward_first (token 0's row only).
double first_row_block_flops(int64_t batch, int64_t tokens, int64_t d_model, int64_t d_ff);

}  // namespace hyperrep::model
