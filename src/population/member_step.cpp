#include "population/member_step.h"

#include <algorithm>
#include <cmath>

#include "common/error.h"
#include "kernels/vector_math.h"
#include "population/population_ops.h"

namespace hyperrep::population {
namespace {

// Linear layers up to this many weights run as loops over the member's rows (one torch op per
// member cost more than these products); larger ones as batched GEMMs. Fixed per layer, so a
// member's arithmetic never depends on how many members share its chunk.
constexpr int64_t kLoopLinear = 4096;

// t with these sizes: allocated on first use, resized (its storage kept when large enough) when
// the sizes change; the contents are not kept.
torch::Tensor& sized(torch::Tensor& t, c10::IntArrayRef sizes, torch::ScalarType type = torch::kFloat32) {
  if (!t.defined() || t.scalar_type() != type) {
    t = torch::empty(sizes, torch::TensorOptions().dtype(type));
  } else if (t.sizes() != sizes) {
    t.resize_(sizes);
  }
  return t;
}

float* fp(const torch::Tensor& t) { return t.data_ptr<float>(); }
const float* cfp(const torch::Tensor& t) { return t.data_ptr<float>(); }

// Columns [offset, offset + n) of every member's row of m [np, total] (the chunk's weights or
// gradient rows) into dst [np, n], and back: plain copies (a torch copy_ per layer and step cost
// more than the small layers' arithmetic).
void read_rows(const torch::Tensor& m, int64_t offset, int64_t n, float* dst) {
  const float* src = cfp(m) + offset;
  for (int64_t p = 0; p < m.size(0); ++p) std::copy(src + p * m.stride(0), src + p * m.stride(0) + n, dst + p * n);
}
void write_rows(const float* src, int64_t n, const torch::Tensor& m, int64_t offset) {
  float* dst = fp(m) + offset;
  for (int64_t p = 0; p < m.size(0); ++p) std::copy(src + p * n, src + (p + 1) * n, dst + p * m.stride(0));
}

// dst[p][c][r] = src[p][r][c] for np matrices of rows x cols; the members' matrices lie
// src_stride and dst_stride floats apart.
void transpose_members(const float* src, int64_t src_stride, float* dst, int64_t dst_stride, int64_t np, int64_t rows,
                       int64_t cols) {
  for (int64_t p = 0; p < np; ++p) {
    const float* sp = src + p * src_stride;
    float* dp = dst + p * dst_stride;
    for (int64_t c = 0; c < cols; ++c) {
      for (int64_t r = 0; r < rows; ++r) dp[c * rows + r] = sp[r * cols + c];
    }
  }
}

}  // namespace

MemberStep::MemberStep(const zoo::Architecture& arch, Activation activation)
    : arch_(arch), activation_(activation), state_(arch.layers().size()) {
  const auto& layers = arch_.layers();
  HYPERREP_CHECK(!arch_.param_layers().empty(), InternalError, "a member step needs a conv or linear layer");
  first_param_ = arch_.param_layers().front();
  HYPERREP_CHECK(!layers.empty() && layers.back().kind == zoo::LayerKind::kLinear, ConfigError,
                 "zoo.architecture: the last layer must be linear");
}

void MemberStep::forward_layer(size_t i, const torch::Tensor& h, const torch::Tensor& weights, const DropoutMaskFn& dropout) {
  const zoo::Layer& l = arch_.layers()[i];
  State& st = state_[i];
  const int64_t np = h.size(0);
  switch (l.kind) {
    case zoo::LayerKind::kConv: {
      const int64_t r = h.size(2), fan = l.fan_in();
      read_rows(weights, l.weight_offset, l.weight_numel(), fp(sized(st.w, {np, l.out, fan})));
      if (l.bias) read_rows(weights, l.bias_offset, l.out, fp(sized(st.b, {np, l.out})));
      auto& y = sized(st.out, {np, l.out, r, l.out_shape[1], l.out_shape[2]});
      conv_forward_into(h, st.w, l.bias ? st.b : torch::Tensor(), y, l.kernel, l.stride, l.padding);
      break;
    }
    case zoo::LayerKind::kLinear: {
      const int64_t r = h.size(1), in = l.in, out = l.out;
      float* rows = fp(sized(st.w_rows, {np, out, in}));
      read_rows(weights, l.weight_offset, l.weight_numel(), rows);
      // The transpose [in, out], for the forward's loops.
      transpose_members(rows, out * in, fp(sized(st.w, {np, in, out})), in * out, np, out, in);
      if (l.bias) read_rows(weights, l.bias_offset, out, fp(sized(st.b, {np, out})));
      auto& y = sized(st.out, {np, r, out});
      if (in * out > kLoopLinear) {
        if (l.bias) {
          torch::baddbmm_out(y, st.b.unsqueeze(1), h, st.w);
        } else {
          torch::bmm_out(y, h, st.w);
        }
        break;
      }
      const float* x = cfp(h);
      const float* wt = cfp(st.w);
      const float* bias = l.bias ? cfp(st.b) : nullptr;
      float* yo = fp(y);
      for (int64_t p = 0; p < np; ++p) {
        for (int64_t n = 0; n < r; ++n) {
          float* yr = yo + (p * r + n) * out;
          const float* xr = x + (p * r + n) * in;
          for (int64_t o = 0; o < out; ++o) yr[o] = bias ? bias[p * out + o] : 0.0f;
          for (int64_t j = 0; j < in; ++j) {
            const float a = xr[j];
            const float* wr = wt + (p * in + j) * out;
            for (int64_t o = 0; o < out; ++o) yr[o] += a * wr[o];
          }
        }
      }
      break;
    }
    case zoo::LayerKind::kMaxPool: {
      const int64_t H = h.size(3), W = h.size(4), k = l.kernel;
      const std::vector<int64_t> sizes = {np, h.size(1), h.size(2), H / k, W / k};
      auto& y = sized(st.out, sizes);
      auto& arg = sized(st.aux, sizes, torch::kUInt8);
      max_pool_forward_raw(cfp(h), fp(y), arg.data_ptr<uint8_t>(), np * h.size(1) * h.size(2), H, W, k);
      break;
    }
    case zoo::LayerKind::kAvgPool: {
      auto x4 = h.view({np * h.size(1), h.size(2), h.size(3), h.size(4)});
      auto y = torch::avg_pool2d(x4, l.kernel);
      st.out = y.view({np, h.size(1), h.size(2), y.size(2), y.size(3)});
      break;
    }
    case zoo::LayerKind::kGap:  // [np, C, r, H, W] -> [np, r, C]
      st.out = h.mean({3, 4}).transpose(1, 2).contiguous();
      break;
    case zoo::LayerKind::kAct: {
      if (activation_ == Activation::kTanh && kernels::avx2_fma_available()) {
        auto& y = sized(st.out, h.sizes());
        kernels::tanh_avx2(cfp(h), fp(y), h.numel());
      } else if (activation_ == Activation::kTanh) {
        torch::tanh_out(sized(st.out, h.sizes()), h);
      } else {
        // Other activations through autograd, one node: their exact backward formulas.
        torch::AutoGradMode grad_mode(true);
        st.aux = h.detach().requires_grad_(true);
        st.out = zoo::apply_activation(st.aux, activation_);
      }
      break;
    }
    case zoo::LayerKind::kFlatten:
      if (h.dim() == 5) {  // [np, C, r, H, W] -> [np, r, C*H*W]
        auto& y = sized(st.own, {np, h.size(2), h.size(1), h.size(3), h.size(4)});
        y.copy_(h.transpose(1, 2));
        st.out = y.view({np, h.size(2), -1});
      } else {  // the batch arrives flat
        st.out = h;
      }
      break;
    case zoo::LayerKind::kDropout:
      if (dropout) {
        st.aux = dropout(h.sizes(), static_cast<int64_t>(i));
        // Into the layer's own storage, never into `out`, which may alias the input.
        st.out = torch::mul_out(sized(st.own, h.sizes()), h, st.aux);
      } else {
        st.aux = torch::Tensor();
        st.out = h;
      }
      break;
  }
}

torch::Tensor MemberStep::backward_layer(size_t i, const torch::Tensor& h, const torch::Tensor& g, const torch::Tensor& grad) {
  const zoo::Layer& l = arch_.layers()[i];
  State& st = state_[i];
  const bool need_input = i > first_param_;
  const int64_t np = h.size(0);
  switch (l.kind) {
    case zoo::LayerKind::kConv: {
      const int64_t fan = l.fan_in();
      auto& dw = sized(st.dw, {np, l.out, fan});
      torch::Tensor dx = need_input ? sized(st.gin, h.sizes()) : torch::Tensor();
      conv_backward_into(h, st.w, g, dx, dw, l.kernel, l.stride, l.padding, &st.padded);
      write_rows(cfp(dw), l.weight_numel(), grad, l.weight_offset);
      if (l.bias) {
        torch::sum_out(sized(st.db, {np, l.out}), g.view({np, l.out, -1}), {2});
        write_rows(cfp(st.db), l.out, grad, l.bias_offset);
      }
      return dx;
    }
    case zoo::LayerKind::kLinear: {
      const int64_t r = h.size(1), in = l.in, out = l.out;
      auto& dwt = sized(st.dw, {np, in, out});
      torch::Tensor dx = need_input ? sized(st.gin, {np, r, in}) : torch::Tensor();
      if (l.bias) sized(st.db, {np, out});
      if (in * out > kLoopLinear) {
        torch::bmm_out(dwt, h.transpose(1, 2), g);
        if (l.bias) torch::sum_out(st.db, g, {1});
        if (need_input) torch::bmm_out(dx, g, st.w.transpose(1, 2));
      } else {
        const float* x = cfp(h);
        const float* gy = cfp(g);
        const float* w = cfp(st.w_rows);
        float* dwo = fp(dwt);
        float* dbo = l.bias ? fp(st.db) : nullptr;
        float* dxo = need_input ? fp(dx) : nullptr;
        for (int64_t p = 0; p < np; ++p) {
          float* dwp = dwo + p * in * out;
          std::fill(dwp, dwp + in * out, 0.0f);
          if (dbo) std::fill(dbo + p * out, dbo + (p + 1) * out, 0.0f);
          for (int64_t n = 0; n < r; ++n) {
            const float* gr = gy + (p * r + n) * out;
            const float* xr = x + (p * r + n) * in;
            if (dbo) {
              for (int64_t o = 0; o < out; ++o) dbo[p * out + o] += gr[o];
            }
            for (int64_t j = 0; j < in; ++j) {
              const float a = xr[j];
              float* row = dwp + j * out;
              for (int64_t o = 0; o < out; ++o) row[o] += a * gr[o];
            }
            if (dxo) {
              float* dr = dxo + (p * r + n) * in;
              std::fill(dr, dr + in, 0.0f);
              for (int64_t o = 0; o < out; ++o) {
                const float a = gr[o];
                const float* wr = w + (p * out + o) * in;
                for (int64_t j = 0; j < in; ++j) dr[j] += a * wr[j];
              }
            }
          }
        }
      }
      // The gradient rows hold [out, in]; dwt is [in, out].
      transpose_members(cfp(dwt), in * out, fp(grad) + l.weight_offset, grad.stride(0), np, in, out);
      if (l.bias) write_rows(cfp(st.db), out, grad, l.bias_offset);
      return dx;
    }
    case zoo::LayerKind::kMaxPool: {
      auto& dx = sized(st.gin, h.sizes());
      const int64_t H = h.size(3), W = h.size(4);
      max_pool_backward_raw(cfp(g), st.aux.data_ptr<uint8_t>(), fp(dx), np * h.size(1) * h.size(2), H, W, l.kernel);
      return dx;
    }
    case zoo::LayerKind::kAvgPool: {
      const int64_t k = l.kernel;
      auto x4 = h.view({np * h.size(1), h.size(2), h.size(3), h.size(4)});
      auto g4 = g.view({np * h.size(1), h.size(2), g.size(3), g.size(4)});
      return torch::avg_pool2d_backward(g4, x4, {k, k}, {k, k}, {0, 0}, false, true, c10::nullopt).view(h.sizes());
    }
    case zoo::LayerKind::kGap: {  // [np, r, C] -> [np, C, r, H, W], each position 1/(H W) of its mean's gradient
      const int64_t H = h.size(3), W = h.size(4);
      auto per = g.transpose(1, 2).unsqueeze(-1).unsqueeze(-1).expand(h.sizes());
      return torch::div_out(sized(st.gin, h.sizes()), per, static_cast<double>(H * W));
    }
    case zoo::LayerKind::kAct: {
      if (activation_ != Activation::kTanh) {
        torch::AutoGradMode grad_mode(true);
        return torch::autograd::grad({st.out}, {st.aux}, {g})[0];
      }
      // tanh' = 1 - tanh^2, from the saved output (torch's tanh_backward).
      auto& dx = sized(st.gin, h.sizes());
      const float* y = cfp(st.out);
      const float* gy = cfp(g);
      float* d = fp(dx);
      const int64_t n = h.numel();
      for (int64_t j = 0; j < n; ++j) d[j] = gy[j] * (1.0f - y[j] * y[j]);
      return dx;
    }
    case zoo::LayerKind::kFlatten:
      if (h.dim() == 5) {
        auto& dx = sized(st.gin, h.sizes());
        dx.copy_(g.view({np, h.size(2), h.size(1), h.size(3), h.size(4)}).transpose(1, 2));
        return dx;
      }
      return g;
    case zoo::LayerKind::kDropout:
      if (!st.aux.defined()) return g;
      return torch::mul_out(sized(st.gin, h.sizes()), g, st.aux);
  }
  HYPERREP_THROW(InternalError, "member step: a layer kind without a backward");
}

void MemberStep::gradients(const torch::Tensor& x, const torch::Tensor& labels, const torch::Tensor& weights_in,
                           const torch::Tensor& grad, const DropoutMaskFn& dropout) {
  torch::NoGradGuard no_grad;
  HYPERREP_CHECK(x.scalar_type() == torch::kFloat32 && x.device().is_cpu() && x.is_contiguous(), InternalError,
                 "member step: the batch must be contiguous float32 on the CPU");
  const auto weights = weights_in.detach();
  HYPERREP_CHECK(weights.dim() == 2 && weights.stride(1) == 1 && grad.dim() == 2 && grad.stride(1) == 1 &&
                     weights.scalar_type() == torch::kFloat32 && grad.scalar_type() == torch::kFloat32,
                 InternalError, "member step: weights and gradients must be float32 rows with unit column stride");
  const size_t n = arch_.layers().size();
  // acts[i] is layer i's input; acts[n] the logits [np, r, K].
  std::vector<torch::Tensor> acts(n + 1);
  acts[0] = x;
  for (size_t i = 0; i < n; ++i) {
    forward_layer(i, acts[i], weights, dropout);
    acts[i + 1] = state_[i].out;
  }
  // d/dlogits of the mean cross-entropy over each member's r images: (softmax - onehot) / r.
  const auto& z = acts[n];
  const int64_t rows = z.size(0) * z.size(1), K = z.size(2), r = z.size(1);
  auto& dz = sized(dlogits_, z.sizes());
  const float* zi = cfp(z);
  const int64_t* y = labels.data_ptr<int64_t>();
  float* d = fp(dz);
  const float inv_r = 1.0f / static_cast<float>(r);
  for (int64_t row = 0; row < rows; ++row) {
    const float* zr = zi + row * K;
    float* dr = d + row * K;
    const float m = *std::max_element(zr, zr + K);
    float sum = 0.0f;
    for (int64_t j = 0; j < K; ++j) sum += dr[j] = std::exp(zr[j] - m);
    for (int64_t j = 0; j < K; ++j) dr[j] = dr[j] / sum * inv_r;
    HYPERREP_CHECK(y[row] >= 0 && y[row] < K, DataError, "label ", y[row], " outside the ", K, " classes");
    dr[y[row]] -= inv_r;
  }
  torch::Tensor g = dz;
  for (size_t i = n; i-- > first_param_;) g = backward_layer(i, acts[i], g, grad);
}

}  // namespace hyperrep::population
