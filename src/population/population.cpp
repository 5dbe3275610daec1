#include "population/population.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "common/error.h"
#include "population/population_ops.h"
#include "population/population_rng.h"

namespace hyperrep::population {
namespace {

constexpr double kBeta1 = 0.9, kBeta2 = 0.999, kEps = 1e-8;  // torch::optim::Adam defaults

int64_t max_activation(const zoo::Architecture& arch) {
  int64_t m = 1;
  for (const auto& l : arch.layers()) {
    int64_t n = 1;
    for (auto s : l.out_shape) n *= s;
    m = std::max(m, n);
  }
  return m;
}

// The training batch of members [p0, p0 + np), r images each from column `start` of `order`
// [P, n]: images [np, C, r, H, W] (spatial) or [np, r, C*H*W] (flat) and labels [np * r],
// member-major. On the CPU plain row copies: index_select and the layout copy after it cost
// 7% of a CNN-s training epoch, most of it per-op overhead.
std::pair<torch::Tensor, torch::Tensor> gather_batch(const tasks::ImageSplit& split, const torch::Tensor& order, int64_t p0,
                                                     int64_t np, int64_t start, int64_t r, bool flat) {
  const auto& xs = split.x;
  const int64_t N = xs.size(0), C = xs.size(1), plane = xs.numel() / std::max<int64_t>(1, N * C);
  if (!xs.device().is_cpu() || xs.scalar_type() != torch::kFloat32 || !xs.is_contiguous() || !split.y.is_contiguous() ||
      split.y.scalar_type() != torch::kInt64 || order.scalar_type() != torch::kInt64 || !order.is_contiguous()) {
    auto idx = order.narrow(0, p0, np).narrow(1, start, r).reshape({-1});
    auto x = xs.index_select(0, idx);
    x = flat ? x.view({np, r, -1}) : x.view({np, r, C, xs.size(2), xs.size(3)}).transpose(1, 2).contiguous();
    return {x, split.y.index_select(0, idx)};
  }
  auto x = flat ? torch::empty({np, r, C * plane}, xs.options()) : torch::empty({np, C, r, xs.size(2), xs.size(3)}, xs.options());
  auto y = torch::empty({np * r}, split.y.options());
  const float* src = xs.data_ptr<float>();
  const int64_t* labels = split.y.data_ptr<int64_t>();
  const int64_t* ord = order.data_ptr<int64_t>();
  const int64_t n = order.size(1);
  float* dst = x.data_ptr<float>();
  int64_t* ydst = y.data_ptr<int64_t>();
  for (int64_t p = 0; p < np; ++p) {
    for (int64_t j = 0; j < r; ++j) {
      const int64_t row = ord[(p0 + p) * n + start + j];
      HYPERREP_CHECK(row >= 0 && row < N, InternalError, "training image index ", row, " outside the split's ", N);
      ydst[p * r + j] = labels[row];
      for (int64_t c = 0; c < C; ++c) {
        // flat: [p, j, c * plane]; spatial: [p, c, j, plane]
        float* d = flat ? dst + ((p * r + j) * C + c) * plane : dst + ((p * C + c) * r + j) * plane;
        std::memcpy(d, src + (row * C + c) * plane, static_cast<size_t>(plane) * sizeof(float));
      }
    }
  }
  return {x, y};
}

}  // namespace

PopulationOptions population_options(const ZooConfig& zoo) {
  PopulationOptions o;
  o.batch_size = zoo.batch_size;
  o.epochs = zoo.epochs;
  o.keep_epochs = zoo::kept_epochs(zoo);
  o.momentum = zoo.momentum;
  o.rmsprop_alpha = zoo.rmsprop_alpha;
  o.bias_init = zoo.bias_init;
  return o;
}

Population::Population(const zoo::Architecture& arch, std::vector<zoo::MemberSpec> members, PopulationOptions opt,
                       torch::Device device)
    : arch_(arch), members_(std::move(members)), opt_(std::move(opt)), device_(device) {
  HYPERREP_CHECK(!members_.empty(), InternalError, "a population needs at least one member");
  const auto key = members_[0].structure_key();
  std::vector<torch::Tensor> init;
  std::vector<float> lr, wd;
  std::vector<double> rates;
  std::vector<int64_t> seeds;
  for (const auto& m : members_) {
    HYPERREP_CHECK(m.structure_key() == key, InternalError, "member ", m.id, " (", m.structure_key(),
                   ") cannot share a population with member ", members_[0].id, " (", key, ")");
    init.push_back(init_member(arch_, parse_enum<Init>(m.init, "zoo.init"), m.seed, opt_.bias_init, m.init_std));
    lr.push_back(static_cast<float>(m.lr));
    wd.push_back(static_cast<float>(m.weight_decay));
    any_wd_ = any_wd_ || m.weight_decay != 0.0;
    rates.push_back(m.dropout);
    any_dropout_ = any_dropout_ || m.dropout > 0.0;
    seeds.push_back(m.seed);
  }
  const int64_t P = size();
  optimizer_ = parse_enum<ZooOptimizer>(members_[0].optimizer, "zoo.optimizer");
  activation_ = parse_enum<Activation>(members_[0].activation, "zoo.activation");
  flat_ = torch::stack(init).to(device_).requires_grad_(true);
  lr_ = torch::tensor(lr).view({P, 1}).to(device_);
  wd_ = torch::tensor(wd).view({P, 1}).to(device_);
  auto zeros = [&] { return torch::zeros_like(flat_).detach(); };
  exp_avg_ = optimizer_ == ZooOptimizer::kRmsProp ? torch::Tensor() : zeros();
  exp_avg_sq_ = optimizer_ == ZooOptimizer::kSgd ? torch::Tensor() : zeros();
  denom_ = zeros();
  update_ = zeros();
  steps_.assign(static_cast<size_t>(P), 0);
  subsets_.resize(static_cast<size_t>(P));  // drawn on the first epoch, when the training set is known
  dropout_base_ = dropout_bases(seeds, device_);
  dropout_p_ = torch::tensor(rates, torch::kFloat64).to(device_);
  flat_input_ = arch_.layers().front().kind == zoo::LayerKind::kFlatten;
}

torch::Tensor Population::dropout_mask_of(c10::IntArrayRef sizes, Layout layout, int64_t p0, int64_t P, int64_t epoch,
                                          int64_t step, int64_t layer) {
  auto key = dropout_keys(dropout_base_.narrow(0, p0, P), epoch, step, layer);
  auto rate = dropout_p_.narrow(0, p0, P);
  auto opts = torch::TensorOptions().dtype(torch::kInt64).device(device_);
  torch::Tensor mask;
  if (layout == Layout::kSpatial) {  // [P, C, b, H, W]: within-member index over (b, C, H, W)
    const int64_t C = sizes[1], b = sizes[2], hw = sizes[3] * sizes[4];
    auto idx = torch::arange(b * C * hw, opts).view({1, b, C, hw});
    mask = dropout_mask(idx, key.view({P, 1, 1, 1}), rate.view({P, 1, 1, 1})).transpose(1, 2).reshape(sizes);
  } else {  // [P, b, F]
    const int64_t b = sizes[1], f = sizes[2];
    auto idx = torch::arange(b * f, opts).view({1, b, f});
    mask = dropout_mask(idx, key.view({P, 1, 1}), rate.view({P, 1, 1}));
  }
  return mask;
}

torch::Tensor Population::forward(const torch::Tensor& weights, int64_t p0, torch::Tensor h, Layout layout, bool train,
                                  int64_t epoch, int64_t step) {
  const int64_t P = weights.size(0);
  for (size_t i = 0; i < arch_.layers().size(); ++i) {
    const zoo::Layer& l = arch_.layers()[i];
    switch (l.kind) {
      case zoo::LayerKind::kConv: {
        const int64_t k = l.kernel, fan = l.fan_in();
        auto w = weights.narrow(1, l.weight_offset, l.weight_numel()).view({P, l.out, fan});
        torch::Tensor b = l.bias ? weights.narrow(1, l.bias_offset, l.out) : torch::Tensor();
        if (device_.is_cpu()) {
          h = layout == Layout::kShared ? shared_conv2d(h, w, b, k, l.stride, l.padding)
                                        : population_conv2d(h, w, b, k, l.stride, l.padding);
        } else {
          // Grouped convolution (cuDNN) on [b, P*C, H, W];
          // shared inputs: all members' filters stacked as the output channels of one ordinary convolution.
          auto w4 = w.reshape({P * l.out, l.in, k, k});
          auto b1 = l.bias ? b.reshape({P * l.out}) : torch::Tensor();
          const std::vector<int64_t> stride = {l.stride, l.stride}, pad = {l.padding, l.padding}, one = {1, 1};
          const bool shared = layout == Layout::kShared;
          auto xin = shared ? h : h.permute({2, 0, 1, 3, 4}).reshape({h.size(2), P * h.size(1), h.size(3), h.size(4)});
          auto y = torch::conv2d(xin, w4, b1, torch::IntArrayRef(stride), torch::IntArrayRef(pad), torch::IntArrayRef(one),
                                 shared ? 1 : P);
          h = y.view({y.size(0), P, l.out, y.size(2), y.size(3)}).permute({1, 2, 0, 3, 4}).contiguous();
        }
        layout = Layout::kSpatial;
        break;
      }
      case zoo::LayerKind::kLinear: {
        auto wt = weights.narrow(1, l.weight_offset, l.weight_numel()).view({P, l.out, l.in}).transpose(1, 2);
        if (layout == Layout::kShared) {
          h = torch::matmul(h, wt);  // [N, in] x [P, in, out] -> [P, N, out]
          if (l.bias) h = h + weights.narrow(1, l.bias_offset, l.out).unsqueeze(1);
        } else {
          h = l.bias ? torch::baddbmm(weights.narrow(1, l.bias_offset, l.out).unsqueeze(1), h, wt) : torch::bmm(h, wt);
        }
        layout = Layout::kFlat;
        break;
      }
      case zoo::LayerKind::kMaxPool:
      case zoo::LayerKind::kAvgPool: {
        // [P, C, b, H, W] pools as [P*C, b, H, W]; shared [N, C, H, W] as it is.
        if (l.kind == zoo::LayerKind::kMaxPool && device_.is_cpu()) {
          h = population_max_pool2d(h, l.kernel);
          break;
        }
        auto x4 = layout == Layout::kSpatial ? h.view({h.size(0) * h.size(1), h.size(2), h.size(3), h.size(4)}) : h;
        auto y = l.kind == zoo::LayerKind::kMaxPool ? torch::max_pool2d(x4, l.kernel) : torch::avg_pool2d(x4, l.kernel);
        h = layout == Layout::kSpatial ? y.view({h.size(0), h.size(1), h.size(2), y.size(2), y.size(3)}) : y;
        break;
      }
      case zoo::LayerKind::kGap:
        if (layout == Layout::kSpatial) {  // [P, C, b, H, W] -> [P, b, C]
          h = h.mean({3, 4}).transpose(1, 2);
          layout = Layout::kFlat;
        } else {  // shared [N, C, H, W] -> [N, C]
          h = h.mean({2, 3});
        }
        break;
      case zoo::LayerKind::kAct:
        // population_tanh is torch::tanh wherever its vector kernel cannot run (CUDA, no AVX2).
        h = activation_ == Activation::kTanh ? population_tanh(h) : zoo::apply_activation(h, activation_);
        break;
      case zoo::LayerKind::kFlatten:
        if (layout == Layout::kShared) {
          h = h.flatten(1);
        } else if (layout == Layout::kSpatial) {
          h = h.transpose(1, 2).reshape({P, h.size(2), -1});
          layout = Layout::kFlat;
        }
        break;
      case zoo::LayerKind::kDropout:
        if (train && any_dropout_) h = h * dropout_mask_of(h.sizes(), layout, p0, P, epoch, step, static_cast<int64_t>(i));
        break;
    }
  }
  HYPERREP_CHECK(layout == Layout::kFlat && h.dim() == 3, ConfigError, "zoo.architecture: the last layer must be linear");
  return h;
}

void Population::optimizer_rows(int64_t p0, int64_t rows, int64_t count) {
  const bool all = p0 == 0 && rows == size();
  auto part = [&](const torch::Tensor& t) { return all || !t.defined() ? t : t.narrow(0, p0, rows); };
  auto p = part(flat_.detach());
  auto g = part(flat_.mutable_grad());
  auto exp_avg = part(exp_avg_), exp_avg_sq = part(exp_avg_sq_), denom = part(denom_), update = part(update_);
  auto lr = part(lr_);
  if (any_wd_) g.addcmul_(p, part(wd_));  // L2 decay added to the gradient, as torch::optim does
  switch (optimizer_) {
    case ZooOptimizer::kAdam: {
      const double bc1 = 1.0 - std::pow(kBeta1, static_cast<double>(count));
      const double bc2 = 1.0 - std::pow(kBeta2, static_cast<double>(count));
      exp_avg.mul_(kBeta1).add_(g, 1.0 - kBeta1);
      exp_avg_sq.mul_(kBeta2).addcmul_(g, g, 1.0 - kBeta2);
      torch::sqrt_out(denom, exp_avg_sq);
      denom.div_(std::sqrt(bc2)).add_(kEps);
      torch::div_out(update, exp_avg, denom);
      update.mul_(lr);
      p.sub_(update, 1.0 / bc1);
      break;
    }
    case ZooOptimizer::kSgd:
      // torch::optim::SGD: the momentum buffer starts as the first gradient (no dampening).
      if (count == 1) {
        exp_avg.copy_(g);
      } else {
        exp_avg.mul_(opt_.momentum).add_(g);
      }
      torch::mul_out(update, exp_avg, lr);
      p.sub_(update);
      break;
    case ZooOptimizer::kRmsProp:
      // torch::optim::RMSprop (no momentum, not centred): v = alpha v + (1 - alpha) g^2,
      // w -= lr g / (sqrt(v) + eps).
      exp_avg_sq.mul_(opt_.rmsprop_alpha).addcmul_(g, g, 1.0 - opt_.rmsprop_alpha);
      torch::sqrt_out(denom, exp_avg_sq);
      denom.add_(kEps);
      torch::div_out(update, g, denom);
      update.mul_(lr);
      p.sub_(update);
      break;
  }
}

void Population::optimizer_step(const std::vector<int64_t>& active) {
  torch::NoGradGuard no_grad;
  const int64_t P = size();
  if (active.empty()) {
    for (auto& s : steps_) ++s;
  } else {
    for (auto p : active) ++steps_[static_cast<size_t>(p)];
  }
  // Every member steps with one count: one pass over all rows. Otherwise each stepping member's
  // rows alone, with its own count (the elementwise arithmetic is the same either way).
  const bool together = active.empty() && std::all_of(steps_.begin(), steps_.end(), [&](int64_t s) { return s == steps_[0]; });
  if (together) {
    optimizer_rows(0, P, steps_[0]);
  } else {
    std::vector<int64_t> rows = active;
    if (rows.empty()) {
      rows.resize(static_cast<size_t>(P));
      for (int64_t p = 0; p < P; ++p) rows[static_cast<size_t>(p)] = p;
    }
    // Runs of consecutive stepping members with the same count go together.
    for (size_t i = 0; i < rows.size();) {
      size_t j = i + 1;
      const int64_t count = steps_[static_cast<size_t>(rows[i])];
      while (j < rows.size() && rows[j] == rows[j - 1] + 1 && steps_[static_cast<size_t>(rows[j])] == count) ++j;
      optimizer_rows(rows[i], static_cast<int64_t>(j - i), count);
      i = j;
    }
  }
  flat_.mutable_grad().zero_();
}

void Population::train_epoch(const tasks::ImageSplit& train, int64_t epoch) {
  const int64_t P = size(), n = train.size(), B = opt_.batch_size;
  HYPERREP_CHECK(n > 0, DataError, "population training needs training images");
  // Each member's images in this epoch's order: its subset (all images by default), permuted.
  std::vector<torch::Tensor> perms;
  std::vector<int64_t> sizes;
  int64_t longest = 0;
  for (int64_t p = 0; p < P; ++p) {
    const auto& m = members_[static_cast<size_t>(p)];
    auto& subset = subsets_[static_cast<size_t>(p)];
    if (m.train_fraction < 1.0 && !subset.defined()) subset = member_subset(m.seed, m.train_fraction, n);
    const int64_t k = subset.defined() ? subset.size(0) : n;
    auto perm = member_permutation(m.seed, epoch, k);
    if (subset.defined()) perm = subset.index_select(0, perm);
    // Shorter subsets are padded to one matrix (the padding is never read).
    if (k < n) perm = torch::cat({perm, torch::zeros({n - k}, perm.options())});
    perms.push_back(perm);
    sizes.push_back(k);
    longest = std::max(longest, k);
  }
  auto order = torch::stack(perms).to(device_);  // [P, n]
  if (!flat_.grad().defined()) flat_.mutable_grad() = torch::zeros_like(flat_);
  auto grad = flat_.mutable_grad();
  const auto [chunk, chunks] = member_chunks();
  const bool hand = use_member_steps(chunks);
  for (int64_t start = 0, step = 0; start < longest; start += B, ++step) {
    const int64_t b = std::min(B, longest - start);
    // Members whose subset still has images at this step, and how many each has.
    std::vector<int64_t> active, real(static_cast<size_t>(P));
    for (int64_t p = 0; p < P; ++p) {
      real[static_cast<size_t>(p)] = std::clamp<int64_t>(sizes[static_cast<size_t>(p)] - start, 0, b);
      if (real[static_cast<size_t>(p)] > 0) active.push_back(p);
    }
    const bool full =
        static_cast<int64_t>(active.size()) == P && std::all_of(real.begin(), real.end(), [&](int64_t r) { return r == b; });
    // Members are independent: each chunk of members runs its own forward/backward (small,
    // cache-resident activations), and the chunks run in parallel, one thread each, with
    // single-threaded ops inside: one parallel region per step instead of one per op. Inside a
    // chunk, each run of consecutive members with the same number of images at this step goes
    // together with exactly that batch: the ops a member sees are the ones it sees alone, and
    // members whose subset is used up are not computed at all.
    at::parallel_for(0, chunks, 1, [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c) {
        const int64_t chunk_end = std::min(P, (c + 1) * chunk);
        for (int64_t p0 = c * chunk, p1; p0 < chunk_end; p0 = p1) {
          const int64_t r = real[static_cast<size_t>(p0)];
          for (p1 = p0 + 1; p1 < chunk_end && real[static_cast<size_t>(p1)] == r;) ++p1;
          if (r == 0) continue;
          const int64_t np = p1 - p0;
          auto [x, y] = gather_batch(train, order, p0, np, start, r, flat_input_);
          const Layout layout = flat_input_ ? Layout::kFlat : Layout::kSpatial;
          if (hand) {
            DropoutMaskFn masks;
            if (any_dropout_) {
              masks = [&, p0 = p0, np = np, step = step](c10::IntArrayRef act, int64_t layer) {
                return dropout_mask_of(act, act.size() == 5 ? Layout::kSpatial : Layout::kFlat, p0, np, epoch, step, layer);
              };
            }
            member_steps_[static_cast<size_t>(c)]->gradients(x, y, flat_.narrow(0, p0, np), grad.narrow(0, p0, np), masks);
            continue;
          }
          auto w = flat_.narrow(0, p0, np);
          auto logits = forward(w, p0, x, layout, true, epoch, step);
          // Sum over members of each member's mean loss: gradients stay per member.
          auto loss = torch::nll_loss(torch::log_softmax(logits.reshape({np * r, -1}), 1), y, {}, at::Reduction::Sum) /
                      static_cast<double>(r);
          // The run's own gradient rows: disjoint slices, so runs never write the same memory.
          grad.narrow(0, p0, np).copy_(torch::autograd::grad({loss}, {w})[0]);
        }
      }
    });
    optimizer_step(full ? std::vector<int64_t>{} : active);
  }
}

bool Population::use_member_steps(int64_t chunks) {
  if (!opt_.hand_written_step || !device_.is_cpu()) return false;
  if (static_cast<int64_t>(member_steps_.size()) != chunks) {
    member_steps_.clear();
    for (int64_t c = 0; c < chunks; ++c) member_steps_.push_back(std::make_unique<MemberStep>(arch_, activation_));
  }
  return true;
}

std::pair<int64_t, int64_t> Population::member_chunks() const {
  const int64_t P = size();
  // CUDA: one chunk (the GPU wants the largest batched ops). CPU: at most chunk_members, and at
  // least one chunk per thread when there are enough members.
  int64_t chunk = P;
  if (device_.is_cpu()) {
    const int64_t threads = std::max<int64_t>(1, at::get_num_threads());
    // Tiny members (the Tetris MLP) are overhead-bound: they need the largest chunks there are.
    const int64_t fit = opt_.chunk_budget_floats / std::max<int64_t>(1, opt_.batch_size * max_activation(arch_));
    const int64_t wanted = opt_.chunk_members > 0 ? opt_.chunk_members : fit;
    chunk = std::min(std::max<int64_t>(1, wanted), (P + threads - 1) / threads);
  }
  return {chunk, (P + chunk - 1) / chunk};
}

SplitMetrics Population::evaluate(const tasks::ImageSplit& split) {
  torch::NoGradGuard no_grad;
  const int64_t P = size(), n = split.size();
  SplitMetrics out;
  if (n == 0) {
    out.loss.assign(P, std::numeric_limits<double>::quiet_NaN());
    out.acc = out.loss;
    return out;
  }
  const auto [mchunk, chunks] = member_chunks();
  const int64_t chunk =
      std::max<int64_t>(1, std::min<int64_t>(n, opt_.eval_budget_floats / (3 * mchunk * max_activation(arch_))));
  auto loss = torch::zeros({P}, torch::TensorOptions().dtype(torch::kFloat64).device(device_));
  auto correct = torch::zeros({P}, torch::TensorOptions().dtype(torch::kInt64).device(device_));
  auto w = flat_.detach();
  at::parallel_for(0, chunks, 1, [&](int64_t c0, int64_t c1) {
    torch::NoGradGuard no_grad_here;  // grad mode is per thread
    for (int64_t mc = c0; mc < c1; ++mc) {
      const int64_t p0 = mc * mchunk, np = std::min(mchunk, P - p0);
      auto wc = w.narrow(0, p0, np);
      auto lc = loss.narrow(0, p0, np), cc = correct.narrow(0, p0, np);  // disjoint per chunk
      for (int64_t s = 0; s < n; s += chunk) {
        const int64_t c = std::min(chunk, n - s);
        // One input batch for every member (the shared layout: one im2col for all of them where
        // the first convolution needs one); the member step's per-member layout measured no faster.
        auto z = forward(wc, p0, split.x.narrow(0, s, c), Layout::kShared, false, 0, 0);  // [np, c, K]
        auto y = split.y.narrow(0, s, c);
        auto logp = torch::log_softmax(z, 2);
        lc -= logp.gather(2, y.view({1, c, 1}).expand({np, c, 1})).sum({1, 2}).to(torch::kFloat64);
        cc += z.argmax(2).eq(y.view({1, c})).sum(1);
      }
    }
  });
  auto l = (loss / static_cast<double>(n)).cpu();
  auto a = (correct.to(torch::kFloat64) / static_cast<double>(n)).cpu();
  out.loss.assign(l.data_ptr<double>(), l.data_ptr<double>() + P);
  out.acc.assign(a.data_ptr<double>(), a.data_ptr<double>() + P);
  return out;
}

const std::vector<std::string>& numeric_property_names() {
  static const std::vector<std::string> k = {
      "test_acc", "train_acc", "val_acc", "test_loss",    "train_loss", "val_loss",   "ggap",           "epoch",
      "seed",     "lr",        "l2",      "weight_decay", "dropout",    "batch_size", "train_fraction", "init_std"};
  return k;
}

const std::vector<std::string>& categorical_property_names() {
  static const std::vector<std::string> k = {"activation", "init", "optimizer"};
  return k;
}

std::vector<store::MemberRecord> train_population(const zoo::Architecture& arch, const std::vector<zoo::MemberSpec>& members,
                                                  const PopulationOptions& opt, const tasks::TaskData& task, torch::Device device,
                                                  const EpochCallback& on_epoch) {
  Population pop(arch, members, opt, device);
  const int64_t P = pop.size();
  std::vector<store::MemberRecord> out(P);
  std::vector<std::vector<torch::Tensor>> rows(P);
  for (int64_t p = 0; p < P; ++p) {
    const auto& m = members[p];
    out[p].member = m.id;
    out[p].categorical = {{"activation", m.activation}, {"init", m.init}, {"optimizer", m.optimizer}};
  }
  auto record = [&](int64_t epoch) {
    const auto tr = pop.evaluate(task.train), va = pop.evaluate(task.val), te = pop.evaluate(task.test);
    auto w = pop.weights().to(torch::kCPU, torch::kFloat32).clone();
    for (int64_t p = 0; p < P; ++p) {
      const auto& m = members[p];
      out[p].epochs.push_back(epoch);
      rows[p].push_back(w[p]);
      out[p].numeric.push_back({{"test_acc", te.acc[p]},
                                {"train_acc", tr.acc[p]},
                                {"val_acc", va.acc[p]},
                                {"test_loss", te.loss[p]},
                                {"train_loss", tr.loss[p]},
                                {"val_loss", va.loss[p]},
                                {"ggap", tr.acc[p] - te.acc[p]},
                                {"epoch", static_cast<double>(epoch)},
                                {"seed", static_cast<double>(m.seed)},
                                {"lr", m.lr},
                                {"l2", m.weight_decay / 2},
                                {"weight_decay", m.weight_decay},
                                {"dropout", m.dropout},
                                {"batch_size", static_cast<double>(opt.batch_size)},
                                {"train_fraction", m.train_fraction},
                                {"init_std", m.init_std}});
    }
  };
  auto kept = [&](int64_t e) { return std::binary_search(opt.keep_epochs.begin(), opt.keep_epochs.end(), e); };
  if (kept(0)) record(0);
  for (int64_t e = 1; e <= opt.epochs; ++e) {
    pop.train_epoch(task.train, e);
    if (kept(e)) record(e);
    if (on_epoch) on_epoch(P);
  }
  for (int64_t p = 0; p < P; ++p) {
    out[p].weights = rows[p].empty() ? torch::empty({0, arch.num_params()}) : torch::stack(rows[p]);
  }
  return out;
}

}  // namespace hyperrep::population
