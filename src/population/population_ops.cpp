#include "population/population_ops.h"

#include <ATen/Parallel.h>

#include <vector>

#include "common/error.h"
#include "kernels/conv_kernels.h"

namespace hyperrep::population {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

void check_input(const torch::Tensor& x, int64_t dims, const char* what) {
  HYPERREP_CHECK(x.dim() == dims && x.scalar_type() == torch::kFloat32 && x.device().is_cpu(), InternalError, what,
                 ": expected a ", dims, "-d float32 CPU tensor, got ", x.sizes(), " ", x.scalar_type(), " on ", x.device().str());
}

// Weights [P, out, fan] and bias [P, out] (or undefined) as the raw kernels read them: float32 on the CPU.
void check_params(const torch::Tensor& w, const torch::Tensor& bias, const char* what) {
  HYPERREP_CHECK(w.scalar_type() == torch::kFloat32 && w.device().is_cpu(), InternalError, what,
                 ": weights must be float32 on the CPU, got ", w.scalar_type(), " on ", w.device().str());
  if (!bias.defined()) return;
  HYPERREP_CHECK(bias.dim() == 2 && bias.size(0) == w.size(0) && bias.size(1) == w.size(1) &&
                     bias.scalar_type() == torch::kFloat32 && bias.device().is_cpu(),
                 InternalError, what, ": bias ", bias.sizes(), " ", bias.scalar_type(), " on ", bias.device().str(),
                 " does not match weights ", w.sizes(), " (expected [P, out] float32 on the CPU)");
}

// A convolution's kernel size, stride and zero padding (on every side).
struct Geometry {
  int64_t k = 1, stride = 1, pad = 0;
  int64_t out(int64_t size) const { return (size + 2 * pad - k) / stride + 1; }
  bool plain() const { return stride == 1 && pad == 0; }
};

// im2col of planes [s, e) (one plane = one member's channel over the batch, [b, H, W]) into
// their k*k rows of cols; taps in the padding read 0. kWo > 0 fixes the output width of a plain
// (stride 1, unpadded) convolution at compile time (fully unrolled copies). Strided, unpadded
// convolutions take strided_pass.
template <int64_t kWo>
void im2col_planes(const float* src, float* dst, int64_t s, int64_t e, int64_t b, int64_t H, int64_t W, const Geometry& g) {
  const int64_t k = g.k, st = g.stride, Ho = g.out(H), Wo = kWo > 0 ? kWo : g.out(W), L = Ho * Wo, kk = k * k;
  for (int64_t pc = s; pc < e; ++pc) {
    const float* in = src + pc * b * H * W;
    for (int64_t r = 0; r < kk; ++r) {
      const int64_t ky = r / k, kx = r % k;
      float* row = dst + (pc * kk + r) * b * L;
      for (int64_t n = 0; n < b; ++n) {
        const float* img = in + n * H * W;
        float* to = row + n * L;
        for (int64_t y = 0; y < Ho; ++y, to += Wo) {
          const int64_t iy = y * st + ky - g.pad;
          if (g.plain()) {
            const float* from = img + iy * W + kx;
            for (int64_t i = 0; i < Wo; ++i) to[i] = from[i];  // 8-24 floats: inlined, not memcpy
          } else if (iy < 0 || iy >= H) {
            std::fill(to, to + Wo, 0.0f);
          } else {
            for (int64_t x = 0; x < Wo; ++x) {
              const int64_t ix = x * st + kx - g.pad;
              to[x] = ix >= 0 && ix < W ? img[iy * W + ix] : 0.0f;
            }
          }
        }
      }
    }
  }
}

// A strided, unpadded convolution reads every stride-th column: im2col and col2im go through one
// image's columns split by phase (column j*st + q at [q][row][j]), where every tap's run of Wo
// outputs is a contiguous run of one phase, copied like a plain convolution's rows. Non-zero
// template arguments fix stride, kernel and (square) input size at compile time, so that the
// short rows (13, 6, 2 floats for the Small CNN Zoo network) compile to straight vector code.
template <int64_t kSt, int64_t kK, int64_t kW>
struct PhaseSplit {
  int64_t st, k, H, W, Wp, Ho, Wo;  // Wp: columns per phase (the first phase is the longest)
  PhaseSplit(const Geometry& g, int64_t H_, int64_t W_)
      : st(kSt ? kSt : g.stride),
        k(kK ? kK : g.k),
        H(kW ? kW : H_),
        W(kW ? kW : W_),
        Wp((W + st - 1) / st),
        Ho((H - k) / st + 1),
        Wo((W - k) / st + 1) {}
  int64_t size() const { return st * H * Wp; }
  // Output row y's tap r = (ky, kx) as a contiguous run of Wo floats in the split.
  int64_t tap(int64_t y, int64_t r) const {
    const int64_t ky = r / k, kx = r % k;
    return ((kx % st) * H + y * st + ky) * Wp + kx / st;
  }
  void split(const float* img, float* ph) const {
    for (int64_t row = 0; row < H; ++row)
      for (int64_t q = 0; q < st; ++q) {
        float* to = ph + (q * H + row) * Wp;
        const float* from = img + row * W + q;
        for (int64_t j = 0; j < (W - q + st - 1) / st; ++j) to[j] = from[j * st];
      }
  }
  void add_back(const float* ph, float* img) const {
    for (int64_t row = 0; row < H; ++row)
      for (int64_t q = 0; q < st; ++q) {
        const float* from = ph + (q * H + row) * Wp;
        float* to = img + row * W + q;
        for (int64_t j = 0; j < (W - q + st - 1) / st; ++j) to[j * st] += from[j];
      }
  }
};

// im2col (kIm2col) or col2im of planes [s, e) of a strided, unpadded convolution. col2im adds each
// tap's contributions into the phase split in the order of the general loop, then adds the split
// to the (zeroed) input, so every pixel's sum is rounded exactly as there.
template <int64_t kSt, int64_t kK, int64_t kW, bool kIm2col>
void strided_pass(const float* src, float* dst, int64_t s, int64_t e, int64_t b, int64_t H, int64_t W, const Geometry& g) {
  const PhaseSplit<kSt, kK, kW> split(g, H, W);
  const int64_t Ho = split.Ho, Wo = split.Wo, L = Ho * Wo, kk = split.k * split.k;
  std::vector<float> ph(split.size());
  for (int64_t pc = s; pc < e; ++pc)
    for (int64_t n = 0; n < b; ++n) {
      const int64_t image = (pc * b + n) * H * W;
      if constexpr (kIm2col) {
        split.split(src + image, ph.data());
      } else {
        std::fill(ph.begin(), ph.end(), 0.0f);
      }
      for (int64_t r = 0; r < kk; ++r) {
        const int64_t cols = (pc * kk + r) * b * L + n * L;
        for (int64_t y = 0; y < Ho; ++y) {
          float* run = ph.data() + split.tap(y, r);
          if constexpr (kIm2col) {
            float* to = dst + cols + y * Wo;
            for (int64_t x = 0; x < Wo; ++x) to[x] = run[x];
          } else {
            const float* c = src + cols + y * Wo;
            for (int64_t x = 0; x < Wo; ++x) run[x] += c[x];
          }
        }
      }
      if constexpr (!kIm2col) split.add_back(ph.data(), dst + image);
    }
}

// strided_pass with the Small CNN Zoo network's layers on 28x28 and 32x32 inputs compiled for
// their sizes, anything else with run-time sizes.
template <bool kIm2col>
void strided_planes(const float* src, float* dst, int64_t s, int64_t e, int64_t b, int64_t H, int64_t W, const Geometry& g) {
  if (g.stride == 2 && g.k == 3 && H == W) {
    switch (W) {
      case 28: return strided_pass<2, 3, 28, kIm2col>(src, dst, s, e, b, H, W, g);
      case 13: return strided_pass<2, 3, 13, kIm2col>(src, dst, s, e, b, H, W, g);
      case 6: return strided_pass<2, 3, 6, kIm2col>(src, dst, s, e, b, H, W, g);
      case 32: return strided_pass<2, 3, 32, kIm2col>(src, dst, s, e, b, H, W, g);
      case 15: return strided_pass<2, 3, 15, kIm2col>(src, dst, s, e, b, H, W, g);
      case 7: return strided_pass<2, 3, 7, kIm2col>(src, dst, s, e, b, H, W, g);
      default: break;
    }
  }
  strided_pass<0, 0, 0, kIm2col>(src, dst, s, e, b, H, W, g);
}

// im2col of np members' planes: x [np, C, b, H, W] -> cols [np, C*k*k, b*Ho*Wo].
void im2col_raw(const float* src, float* dst, int64_t np, int64_t C, int64_t b, int64_t H, int64_t W, const Geometry& g) {
  const int64_t Wo = g.out(W);
  // One (member, channel) plane per task: its k*k rows of cols are written by this task only.
  at::parallel_for(0, np * C, 1, [&](int64_t s, int64_t e) {
    if (g.stride > 1 && g.pad == 0) return strided_planes<true>(src, dst, s, e, b, H, W, g);
    switch (g.plain() ? Wo : 0) {  // CNN-s's widths on 28x28 inputs
      case 24: im2col_planes<24>(src, dst, s, e, b, H, W, g); break;
      case 8: im2col_planes<8>(src, dst, s, e, b, H, W, g); break;
      case 3: im2col_planes<3>(src, dst, s, e, b, H, W, g); break;
      default: im2col_planes<0>(src, dst, s, e, b, H, W, g);
    }
  });
}

// The adjoint: adds cols [np, C*k*k, b*L] into x [np, C, b, H, W] (x must start zeroed).
void col2im_raw(const float* src, float* dst, int64_t np, int64_t C, int64_t b, int64_t H, int64_t W, const Geometry& g) {
  const int64_t k = g.k, Ho = g.out(H), Wo = g.out(W), L = Ho * Wo, kk = k * k;
  // One (member, channel) plane per task: only this task adds into it.
  at::parallel_for(0, np * C, 1, [&](int64_t s, int64_t e) {
    if (g.stride > 1 && g.pad == 0) return strided_planes<false>(src, dst, s, e, b, H, W, g);
    for (int64_t pc = s; pc < e; ++pc) {
      float* out = dst + pc * b * H * W;
      for (int64_t r = 0; r < kk; ++r) {
        const int64_t ky = r / k, kx = r % k;
        const float* row = src + (pc * kk + r) * b * L;
        for (int64_t n = 0; n < b; ++n) {
          float* img = out + n * H * W;
          const float* c = row + n * L;
          if (g.pad == 0) {  // stride 1, every tap inside the input: no bounds checks
            for (int64_t y = 0; y < Ho; ++y, c += Wo) {
              float* o = img + (y + ky) * W + kx;
              for (int64_t x = 0; x < Wo; ++x) o[x] += c[x];
            }
            continue;
          }
          for (int64_t y = 0; y < Ho; ++y, c += Wo) {
            const int64_t iy = y * g.stride + ky - g.pad;
            if (iy < 0 || iy >= H) continue;
            for (int64_t x = 0; x < Wo; ++x) {
              const int64_t ix = x * g.stride + kx - g.pad;
              if (ix >= 0 && ix < W) img[iy * W + ix] += c[x];
            }
          }
        }
      }
    }
  });
}

// Members per chunk so that one chunk's im2col matrix stays small (~1 MB, in cache): large temporaries
// are mmapped and page-faulted afresh on every step, which cost more than the GEMMs.
int64_t members_per_chunk(int64_t P, int64_t cols_per_member) {
  constexpr int64_t kChunkFloats = int64_t{1} << 18;
  return std::max<int64_t>(1, std::min<int64_t>(P, kChunkFloats / std::max<int64_t>(1, cols_per_member)));
}

// The direct kernels' view of a member-major [P, C, b, H, W] input to a conv with `out` channels.
kernels::ConvShape member_major_shape(const torch::Tensor& x, int64_t out, int64_t k) {
  kernels::ConvShape s;
  s.members = x.size(0), s.in = x.size(1), s.images = x.size(2), s.H = x.size(3), s.W = x.size(4);
  s.out = out, s.k = k;
  s.xs_image = s.H * s.W, s.xs_channel = s.images * s.xs_image, s.xs_member = s.in * s.xs_channel;
  return s;
}

}  // namespace

void conv_forward_into(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& bias, const torch::Tensor& y,
                       int64_t k, int64_t stride, int64_t pad) {
  const Geometry geo{k, stride, pad};
  const int64_t P = x.size(0), C = x.size(1), b = x.size(2), H = x.size(3), W = x.size(4);
  const int64_t Ho = geo.out(H), Wo = geo.out(W), L = b * Ho * Wo, out = w.size(1), ckk = C * k * k;
  const bool has_bias = bias.defined() && bias.numel() > 0;
  if (geo.plain() && kernels::direct_conv_suits(k, Wo)) {
    kernels::conv_forward(x.data_ptr<float>(), w.data_ptr<float>(), has_bias ? bias.data_ptr<float>() : nullptr,
                          y.data_ptr<float>(), member_major_shape(x, out, k));
    return;
  }
  if (geo.plain() && kernels::tiny_conv_suits(k, H, W)) {
    kernels::tiny_conv_forward(x.data_ptr<float>(), w.data_ptr<float>(), has_bias ? bias.data_ptr<float>() : nullptr,
                               y.data_ptr<float>(), member_major_shape(x, out, k));
    return;
  }
  auto y3 = y.view({P, out, L});
  const int64_t chunk = members_per_chunk(P, ckk * L);
  auto cols = torch::empty({chunk, ckk, L}, x.options());
  for (int64_t p0 = 0; p0 < P; p0 += chunk) {
    const int64_t np = std::min(chunk, P - p0);
    auto c = cols.narrow(0, 0, np);
    im2col_raw(x.data_ptr<float>() + p0 * C * b * H * W, c.data_ptr<float>(), np, C, b, H, W, geo);
    auto yc = y3.narrow(0, p0, np);
    if (has_bias) {
      torch::baddbmm_out(yc, bias.narrow(0, p0, np).unsqueeze(2), w.narrow(0, p0, np), c);
    } else {
      torch::bmm_out(yc, w.narrow(0, p0, np), c);
    }
  }
}

void conv_backward_into(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& gy, const torch::Tensor& dx,
                        const torch::Tensor& dw, int64_t k, int64_t stride, int64_t pad, torch::Tensor* padded) {
  const Geometry geo{k, stride, pad};
  const int64_t P = x.size(0), C = x.size(1), b = x.size(2), H = x.size(3), W = x.size(4);
  const int64_t out = w.size(1), ckk = C * k * k;
  auto g = gy.view({P, out, -1});  // [P, out, b*L]
  const bool need_dx = dx.defined(), need_dw = dw.defined();
  if (geo.plain() && kernels::direct_conv_suits(k, W - k + 1)) {
    if (need_dw)
      kernels::conv_weight_grad(x.data_ptr<float>(), g.data_ptr<float>(), dw.data_ptr<float>(), member_major_shape(x, out, k));
    if (need_dx && kernels::input_grad_suits(k, W - k + 1)) {
      kernels::conv_input_grad(g.data_ptr<float>(), w.data_ptr<float>(), dx.data_ptr<float>(), member_major_shape(x, out, k));
    } else if (need_dx) {
      // The input gradient is the full correlation of the output gradient with the flipped
      // kernels: a valid convolution of gy zero-padded by k - 1, channels in and out swapped.
      // A caller's workspace keeps its zero border from step to step: only the interior is written.
      const std::vector<int64_t> sizes = {P, out, b, H + k - 1, W + k - 1};
      torch::Tensor local;
      torch::Tensor& gp = padded ? *padded : local;
      if (!gp.defined() || gp.sizes() != c10::IntArrayRef(sizes)) {
        if (!gp.defined()) gp = torch::empty({0}, x.options());
        gp.resize_(sizes).zero_();
      }
      gp.narrow(3, k - 1, H - k + 1).narrow(4, k - 1, W - k + 1).copy_(g.view({P, out, b, H - k + 1, W - k + 1}));
      auto wf = w.view({P, out, C, k, k}).flip({3, 4}).transpose(1, 2).contiguous();
      auto shape = member_major_shape(gp, C, k);
      shape.row_lo = k - 1, shape.row_hi = H;  // the padded rows: 2 (k - 1) of H + k - 1 read only zeros
      kernels::conv_forward(gp.data_ptr<float>(), wf.data_ptr<float>(), nullptr, dx.data_ptr<float>(), shape);
    }
    return;
  }
  if (geo.plain() && kernels::tiny_conv_suits(k, H, W)) {
    kernels::tiny_conv_backward(x.data_ptr<float>(), w.data_ptr<float>(), g.data_ptr<float>(),
                                need_dx ? dx.data_ptr<float>() : nullptr, need_dw ? dw.data_ptr<float>() : nullptr,
                                member_major_shape(x, out, k));
    return;
  }
  if (need_dx) dx.zero_();
  const int64_t L = g.size(2);
  const int64_t chunk = members_per_chunk(P, ckk * L);
  auto cols = torch::empty({chunk, ckk, L}, x.options());
  for (int64_t p0 = 0; p0 < P; p0 += chunk) {
    const int64_t np = std::min(chunk, P - p0);
    auto c = cols.narrow(0, 0, np);
    auto gc = g.narrow(0, p0, np);
    if (need_dw) {  // the weight gradient needs the im2col matrix again: recomputed, not stored
      im2col_raw(x.data_ptr<float>() + p0 * C * b * H * W, c.data_ptr<float>(), np, C, b, H, W, geo);
      auto dwc = dw.narrow(0, p0, np);
      torch::bmm_out(dwc, gc, c.transpose(1, 2));
    }
    if (need_dx) {
      torch::bmm_out(c, w.narrow(0, p0, np).transpose(1, 2), gc);
      col2im_raw(c.data_ptr<float>(), dx.data_ptr<float>() + p0 * C * b * H * W, np, C, b, H, W, geo);
    }
  }
}

namespace {

class PopulationConv : public torch::autograd::Function<PopulationConv> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x_in, const torch::Tensor& w_in,
                               const torch::Tensor& bias_in, int64_t k, int64_t stride, int64_t pad) {
    auto x = x_in.contiguous(), w = w_in.contiguous();
    const Geometry geo{k, stride, pad};
    const int64_t P = x.size(0), b = x.size(2), Ho = geo.out(x.size(3)), Wo = geo.out(x.size(4)), out = w.size(1);
    const bool has_bias = bias_in.numel() > 0;  // no bias: an empty tensor (apply() rejects undefined ones)
    auto y = torch::empty({P, out, b, Ho, Wo}, x.options());
    ctx->save_for_backward({x, w});
    ctx->saved_data["k"] = k;
    ctx->saved_data["stride"] = stride;
    ctx->saved_data["pad"] = pad;
    ctx->saved_data["bias"] = has_bias;
    conv_forward_into(x, w, has_bias ? bias_in.contiguous() : torch::Tensor(), y, k, stride, pad);
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto saved = ctx->get_saved_variables();
    auto x = saved[0], w = saved[1];
    const int64_t k = ctx->saved_data["k"].toInt(), stride = ctx->saved_data["stride"].toInt(),
                  pad = ctx->saved_data["pad"].toInt();
    auto g = grads[0].contiguous();
    torch::Tensor dx, dw, db;
    if (ctx->needs_input_grad(0)) dx = torch::empty(x.sizes(), x.options());
    if (ctx->needs_input_grad(1)) dw = torch::empty(w.sizes(), x.options());
    conv_backward_into(x, w, g, dx, dw, k, stride, pad);
    if (ctx->saved_data["bias"].toBool() && ctx->needs_input_grad(2)) db = g.view({x.size(0), w.size(1), -1}).sum(2);
    return {dx, dw, db, torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor population_im2col(const torch::Tensor& x_in, int64_t k, int64_t stride, int64_t padding) {
  check_input(x_in, 5, "population_im2col");
  auto x = x_in.contiguous();
  const Geometry geo{k, stride, padding};
  const int64_t P = x.size(0), C = x.size(1), b = x.size(2), H = x.size(3), W = x.size(4);
  HYPERREP_CHECK(stride >= 1 && padding >= 0 && H + 2 * padding >= k && W + 2 * padding >= k, InternalError,
                 "population_im2col: kernel ", k, " (stride ", stride, ", padding ", padding, ") does not fit the input ", H, "x",
                 W);
  auto cols = torch::empty({P, C * k * k, b * geo.out(H) * geo.out(W)}, x.options());
  im2col_raw(x.data_ptr<float>(), cols.data_ptr<float>(), P, C, b, H, W, geo);
  return cols;
}

torch::Tensor population_col2im(const torch::Tensor& cols_in, int64_t C, int64_t b, int64_t H, int64_t W, int64_t k,
                                int64_t stride, int64_t padding) {
  check_input(cols_in, 3, "population_col2im");
  auto cols = cols_in.contiguous();
  const Geometry geo{k, stride, padding};
  const int64_t P = cols.size(0), Ho = geo.out(H), Wo = geo.out(W);
  HYPERREP_CHECK(cols.size(1) == C * k * k && cols.size(2) == b * Ho * Wo, InternalError, "population_col2im: cols ",
                 cols.sizes(), " do not match C=", C, " b=", b, " ", H, "x", W, " kernel ", k);
  auto x = torch::zeros({P, C, b, H, W}, cols.options());
  col2im_raw(cols.data_ptr<float>(), x.data_ptr<float>(), P, C, b, H, W, geo);
  return x;
}

torch::Tensor population_conv2d(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& bias, int64_t k,
                                int64_t stride, int64_t padding) {
  check_input(x, 5, "population_conv2d");
  HYPERREP_CHECK(w.dim() == 3 && w.size(0) == x.size(0) && w.size(2) == x.size(1) * k * k, InternalError,
                 "population_conv2d: weights ", w.sizes(), " do not match input ", x.sizes(), " kernel ", k);
  check_params(w, bias, "population_conv2d");
  return PopulationConv::apply(x, w, bias.defined() ? bias : torch::empty({0}, w.options()), k, stride, padding);
}

torch::Tensor shared_conv2d(const torch::Tensor& x_in, const torch::Tensor& w, const torch::Tensor& bias, int64_t k,
                            int64_t stride, int64_t padding) {
  check_input(x_in, 4, "shared_conv2d");
  const torch::Tensor& x = x_in;
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3), P = w.size(0), out = w.size(1);
  HYPERREP_CHECK(w.dim() == 3 && w.size(2) == C * k * k, InternalError, "shared_conv2d: weights ", w.sizes(),
                 " do not match input ", x.sizes(), " kernel ", k);
  check_params(w, bias, "shared_conv2d");
  const Geometry geo{k, stride, padding};
  if (geo.plain() && kernels::direct_conv_suits(k, W - k + 1)) {  // every member reads the same planes: member stride 0
    auto xs = x.contiguous();
    auto y = torch::empty({P, out, N, H - k + 1, W - k + 1}, x.options());
    kernels::ConvShape s;
    s.members = P, s.images = N, s.in = C, s.out = out, s.k = k, s.H = H, s.W = W;
    s.xs_member = 0, s.xs_channel = H * W, s.xs_image = C * H * W;
    kernels::conv_forward(xs.data_ptr<float>(), w.contiguous().data_ptr<float>(),
                          bias.defined() ? bias.contiguous().data_ptr<float>() : nullptr, y.data_ptr<float>(), s);
    return y;
  }
  auto xc = x.transpose(0, 1).contiguous().unsqueeze(0);     // [1, C, N, H, W]; no copy for C = 1
  auto cols = population_im2col(xc, k, stride, padding)[0];  // [C*k*k, N*L]
  auto wm = w.reshape({P * out, C * k * k});
  auto y = bias.defined() ? torch::addmm(bias.reshape({P * out, 1}), wm, cols) : torch::mm(wm, cols);
  return y.view({P, out, N, geo.out(H), geo.out(W)});
}

}  // namespace hyperrep::population
