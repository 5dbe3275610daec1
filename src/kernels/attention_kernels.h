// Scaled dot-product attention of many short sequences on the CPU, forward and backward, read
// straight from the packed q|k|v projection and written in the token-major layout the output
// projection reads. The autoencoder's sequences are one member's neuron tokens (10 to 60), so
// attention is thousands of T x T products with T ~ 10: LibTorch 1.13 on OpenBLAS runs them as one
// small GEMM per (sequence, head), with a select, a stride check and often a copy each, and the
// permutes around them copy q, k, v and the output. Here one (sequence, head) is one task: its
// scores, softmax and products stay in L1, with AVX2 + FMA over the head dimension.
//
// Layouts: qkv [B, T, 3, H, dh] (the in-projection's output [B, T, 3d] with d = H * dh), out and
// dout [B, Q, H, dh], probabilities [B, H, Q, T] with Q = shape.nq() queries (all T tokens, or the
// first ones: the last encoder block needs only the compression token's row). Each (b, h) is computed alone in a fixed order, so
// results do not depend on the thread count or on the other sequences of the batch.
#pragma once

#include <cstdint>

namespace hyperrep::kernels {

struct AttentionShape {
  int64_t batch = 1, tokens = 1, heads = 1, head_dim = 8;
  int64_t queries = 0;  // only the first `queries` tokens attend (0 = all): out [B, queries, H, dh]
  int64_t nq() const { return queries > 0 ? queries : tokens; }
};

// True when this CPU runs the kernels (AVX2 + FMA) and the head dimension is a multiple of 8.
bool small_attention_suits(int64_t head_dim);

// out = softmax(q k^T * scale) v per (b, h); probs receives the softmax (kept for the backward).
void attention_forward(const float* qkv, float* out, float* probs, const AttentionShape& s, float scale);

// dqkv (overwritten, qkv's layout; zero for the queries of tokens past nq()) from dout, qkv and the
// forward's probabilities.
void attention_backward(const float* qkv, const float* probs, const float* dout, float* dqkv, const AttentionShape& s,
                        float scale);

}  // namespace hyperrep::kernels
