#include "kernels/attention_kernels.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "common/error.h"
#include "kernels/vector_math.h"
#include "kernels/x86_simd.h"

namespace hyperrep::kernels {

#if HYPERREP_X86_KERNELS
namespace {

// y = scale * sum over j < m of coef[j * cstride] * rows[j * rstride] (rows of n floats), written
// (not added) to y; j ascending in every lane.
HYPERREP_AVX2_FMA inline void combine(const float* coef, int64_t cstride, const float* rows, int64_t rstride, int64_t m,
                                      int64_t n, float scale, float* y) {
  const __m256 sc = _mm256_set1_ps(scale);
  for (int64_t c = 0; c < n; c += 8) {
    __m256 acc = _mm256_setzero_ps();
    for (int64_t j = 0; j < m; ++j)
      acc = _mm256_fmadd_ps(_mm256_set1_ps(coef[j * cstride]), _mm256_loadu_ps(rows + j * rstride + c), acc);
    _mm256_storeu_ps(y + c, _mm256_mul_ps(acc, sc));
  }
}

// Mt [n][Tp] = the first n columns of rows m[j * mstride], j < T (Tp = T rounded up to 8; the
// padding columns zero), so that a query's scores against 8 keys are n broadcast FMAs.
inline void transpose_rows(const float* m, int64_t mstride, int64_t T, int64_t n, int64_t Tp, float* mt) {
  for (int64_t c = 0; c < n; ++c) {
    float* to = mt + c * Tp;
    for (int64_t j = 0; j < T; ++j) to[j] = m[j * mstride + c];
    for (int64_t j = T; j < Tp; ++j) to[j] = 0.0f;
  }
}

// out[j] = scale * sum over c < n of a[c] * mt[c][j] for j < Tp (c ascending in every lane).
HYPERREP_AVX2_FMA inline void scores(const float* a, const float* mt, int64_t n, int64_t Tp, float scale, float* out) {
  const __m256 sc = _mm256_set1_ps(scale);
  for (int64_t jb = 0; jb < Tp; jb += 8) {
    __m256 acc = _mm256_setzero_ps();
    for (int64_t c = 0; c < n; ++c) acc = _mm256_fmadd_ps(_mm256_set1_ps(a[c]), _mm256_loadu_ps(mt + c * Tp + jb), acc);
    _mm256_storeu_ps(out + jb, _mm256_mul_ps(acc, sc));
  }
}

struct Views {  // one (b, h): where its rows are
  const float *q, *k, *v;
  int64_t row;  // qkv row stride: 3 * d
};

Views views(const float* qkv, const AttentionShape& s, int64_t b, int64_t h) {
  const int64_t d = s.heads * s.head_dim;
  const float* base = qkv + b * s.tokens * 3 * d + h * s.head_dim;
  return {base, base + d, base + 2 * d, 3 * d};
}

HYPERREP_AVX2_FMA void forward_one(const float* qkv, float* out, float* probs, const AttentionShape& s, float scale, int64_t bh,
                                   std::vector<float>& scratch) {
  const int64_t b = bh / s.heads, h = bh % s.heads, T = s.tokens, Q = s.nq(), dh = s.head_dim, d = s.heads * dh;
  const int64_t Tp = (T + 7) / 8 * 8;
  const Views x = views(qkv, s, b, h);
  scratch.resize(static_cast<size_t>(dh * Tp + Tp));
  float *kt = scratch.data(), *srow = kt + dh * Tp;
  transpose_rows(x.k, x.row, T, dh, Tp, kt);
  float* p = probs + bh * Q * T;
  for (int64_t i = 0; i < Q; ++i) {
    float* row = p + i * T;
    scores(x.q + i * x.row, kt, dh, Tp, scale, srow);
    float m = -INFINITY;
    for (int64_t j = 0; j < T; ++j) m = std::max(m, srow[j]);
    float sum = 0.0f;
    for (int64_t j = 0; j < T; ++j) {
      row[j] = std::exp(srow[j] - m);
      sum += row[j];
    }
    for (int64_t j = 0; j < T; ++j) row[j] /= sum;
    combine(row, 1, x.v, x.row, T, dh, 1.0f, out + (b * Q + i) * d + h * dh);
  }
}

HYPERREP_AVX2_FMA void backward_one(const float* qkv, const float* probs, const float* dout, float* dqkv, const AttentionShape& s,
                                    float scale, int64_t bh, std::vector<float>& scratch) {
  const int64_t b = bh / s.heads, h = bh % s.heads, T = s.tokens, Q = s.nq(), dh = s.head_dim, d = s.heads * dh;
  const Views x = views(qkv, s, b, h);
  const float* p = probs + bh * Q * T;
  const float* go = dout + b * Q * d + h * dh;  // row i at go + i * d
  float* dq = dqkv + b * T * 3 * d + h * dh;    // rows of 3d, like qkv
  float *dk = dq + d, *dv = dq + 2 * d;
  const int64_t Tp = (T + 7) / 8 * 8;
  scratch.resize(static_cast<size_t>(Q * T + dh * Tp + Tp));
  float *ds = scratch.data(), *vt = ds + Q * T, *dp = vt + dh * Tp;
  transpose_rows(x.v, x.row, T, dh, Tp, vt);
  for (int64_t i = 0; i < Q; ++i) {  // dP = dO V^T, then the softmax's backward, row by row
    const float* pr = p + i * T;
    float* r = ds + i * T;
    scores(go + i * d, vt, dh, Tp, 1.0f, dp);
    float dotp = 0.0f;
    for (int64_t j = 0; j < T; ++j) {
      r[j] = dp[j];
      dotp += pr[j] * r[j];
    }
    for (int64_t j = 0; j < T; ++j) r[j] = pr[j] * (r[j] - dotp);
  }
  for (int64_t j = 0; j < T; ++j) {
    combine(p + j, T, go, d, Q, dh, 1.0f, dv + j * 3 * d);         // dV_j = sum_i P[i][j] dO_i
    combine(ds + j, T, x.q, x.row, Q, dh, scale, dk + j * 3 * d);  // dK_j = scale sum_i dS[i][j] q_i
  }
  for (int64_t i = 0; i < Q; ++i) combine(ds + i * T, 1, x.k, x.row, T, dh, scale, dq + i * 3 * d);  // dQ_i
  for (int64_t i = Q; i < T; ++i) std::fill(dq + i * 3 * d, dq + i * 3 * d + dh, 0.0f);              // queries not asked for
}

}  // namespace

bool small_attention_suits(int64_t head_dim) { return avx2_fma_available() && head_dim > 0 && head_dim % 8 == 0; }

void attention_forward(const float* qkv, float* out, float* probs, const AttentionShape& s, float scale) {
  HYPERREP_CHECK(small_attention_suits(s.head_dim), InternalError, "attention_forward: head dim ", s.head_dim,
                 " or this CPU does not suit the kernel");
  at::parallel_for(0, s.batch * s.heads, 16, [&](int64_t from, int64_t to) {
    std::vector<float> scratch;
    for (int64_t bh = from; bh < to; ++bh) forward_one(qkv, out, probs, s, scale, bh, scratch);
  });
}

void attention_backward(const float* qkv, const float* probs, const float* dout, float* dqkv, const AttentionShape& s,
                        float scale) {
  HYPERREP_CHECK(small_attention_suits(s.head_dim), InternalError, "attention_backward: head dim ", s.head_dim,
                 " or this CPU does not suit the kernel");
  at::parallel_for(0, s.batch * s.heads, 16, [&](int64_t from, int64_t to) {
    std::vector<float> scratch;
    for (int64_t bh = from; bh < to; ++bh) backward_one(qkv, probs, dout, dqkv, s, scale, bh, scratch);
  });
}

#else

bool small_attention_suits(int64_t) { return false; }
void attention_forward(const float*, float*, float*, const AttentionShape&, float) {
  HYPERREP_CHECK(false, InternalError, "attention_forward: needs x86-64 with AVX2 + FMA");
}
void attention_backward(const float*, const float*, const float*, float*, const AttentionShape&, float) {
  HYPERREP_CHECK(false, InternalError, "attention_backward: needs x86-64 with AVX2 + FMA");
}

#endif

}  // namespace hyperrep::kernels
