#include "population/population.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
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

}  // namespace

PopulationOptions population_options(const ZooConfig& zoo) {
  PopulationOptions o;
  o.batch_size = zoo.batch_size;
  o.epochs = zoo.epochs;
  o.keep_epochs = zoo::kept_epochs(zoo);
  o.momentum = zoo.momentum;
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
  std::vector<int64_t> seeds;
  for (const auto& m : members_) {
    HYPERREP_CHECK(m.structure_key() == key, InternalError, "member ", m.id, " (", m.structure_key(),
                   ") cannot share a population with member ", members_[0].id, " (", key, ")");
    init.push_back(init_member(arch_, parse_enum<Init>(m.init, "zoo.init"), m.seed, opt_.bias_init));
    lr.push_back(static_cast<float>(m.lr));
    wd.push_back(static_cast<float>(m.weight_decay));
    any_wd_ = any_wd_ || m.weight_decay != 0.0;
    seeds.push_back(m.seed);
  }
  const int64_t P = size();
  adam_ = parse_enum<ZooOptimizer>(members_[0].optimizer, "zoo.optimizer") == ZooOptimizer::kAdam;
  activation_ = parse_enum<Activation>(members_[0].activation, "zoo.activation");
  flat_ = torch::stack(init).to(device_).requires_grad_(true);
  lr_ = torch::tensor(lr).view({P, 1}).to(device_);
  wd_ = torch::tensor(wd).view({P, 1}).to(device_);
  auto zeros = [&] { return torch::zeros_like(flat_).detach(); };
  exp_avg_ = zeros();
  exp_avg_sq_ = adam_ ? zeros() : torch::Tensor();
  denom_ = zeros();
  update_ = zeros();
  dropout_base_ = dropout_bases(seeds, device_);
  flat_input_ = arch_.layers().front().kind == zoo::LayerKind::kFlatten;
}

torch::Tensor Population::dropout(const torch::Tensor& h, Layout layout, int64_t p0, int64_t P, int64_t epoch, int64_t step,
                                  int64_t layer) {
  const double p = members_[0].dropout;
  auto key = dropout_keys(dropout_base_.narrow(0, p0, P), epoch, step, layer);
  auto opts = torch::TensorOptions().dtype(torch::kInt64).device(device_);
  torch::Tensor mask;
  if (layout == Layout::kSpatial) {  // [P, C, b, H, W]: within-member index over (b, C, H, W)
    const int64_t C = h.size(1), b = h.size(2), hw = h.size(3) * h.size(4);
    auto idx = torch::arange(b * C * hw, opts).view({1, b, C, hw});
    mask = dropout_mask(idx, key.view({P, 1, 1, 1}), p).transpose(1, 2).reshape(h.sizes());
  } else {  // [P, b, F]
    const int64_t b = h.size(1), f = h.size(2);
    auto idx = torch::arange(b * f, opts).view({1, b, f});
    mask = dropout_mask(idx, key.view({P, 1, 1}), p);
  }
  return h * mask;
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
        if (device_.is_cpu() && l.plain_conv()) {
          h = layout == Layout::kShared ? shared_conv2d(h, w, b, k) : population_conv2d(h, w, b, k);
        } else {
          // Grouped convolution (cuDNN; on the CPU for strided or padded layers) on [b, P*C, H, W];
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
        if (train && members_[0].dropout > 0.0) h = dropout(h, layout, p0, P, epoch, step, static_cast<int64_t>(i));
        break;
    }
  }
  HYPERREP_CHECK(layout == Layout::kFlat && h.dim() == 3, ConfigError, "zoo.architecture: the last layer must be linear");
  return h;
}

void Population::optimizer_step() {
  torch::NoGradGuard no_grad;
  auto p = flat_.detach();
  auto g = flat_.mutable_grad();
  ++step_count_;
  if (any_wd_) g.addcmul_(p, wd_);  // L2 decay added to the gradient, as torch::optim does
  if (adam_) {
    const double bc1 = 1.0 - std::pow(kBeta1, static_cast<double>(step_count_));
    const double bc2 = 1.0 - std::pow(kBeta2, static_cast<double>(step_count_));
    exp_avg_.mul_(kBeta1).add_(g, 1.0 - kBeta1);
    exp_avg_sq_.mul_(kBeta2).addcmul_(g, g, 1.0 - kBeta2);
    torch::sqrt_out(denom_, exp_avg_sq_);
    denom_.div_(std::sqrt(bc2)).add_(kEps);
    torch::div_out(update_, exp_avg_, denom_);
    update_.mul_(lr_);
    p.sub_(update_, 1.0 / bc1);
  } else {
    // torch::optim::SGD: the momentum buffer starts as the first gradient (no dampening).
    if (step_count_ == 1) {
      exp_avg_.copy_(g);
    } else {
      exp_avg_.mul_(opt_.momentum).add_(g);
    }
    torch::mul_out(update_, exp_avg_, lr_);
    p.sub_(update_);
  }
  g.zero_();
}

void Population::train_epoch(const tasks::ImageSplit& train, int64_t epoch) {
  const int64_t P = size(), n = train.size(), B = opt_.batch_size;
  HYPERREP_CHECK(n > 0, DataError, "population training needs training images");
  std::vector<torch::Tensor> perms;
  for (const auto& m : members_) perms.push_back(member_permutation(m.seed, epoch, n));
  auto order = torch::stack(perms).to(device_);  // [P, n]
  const auto& shape = arch_.input_shape();
  if (!flat_.grad().defined()) flat_.mutable_grad() = torch::zeros_like(flat_);
  auto grad = flat_.mutable_grad();
  const auto [chunk, chunks] = member_chunks();
  for (int64_t start = 0, step = 0; start < n; start += B, ++step) {
    const int64_t b = std::min(B, n - start);
    // Members are independent: each chunk of members runs its own forward/backward (small,
    // cache-resident activations), and the chunks run in parallel, one thread each, with
    // single-threaded ops inside: one parallel region per step instead of one per op.
    at::parallel_for(0, chunks, 1, [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c) {
        const int64_t p0 = c * chunk, np = std::min(chunk, P - p0);
        auto idx = order.narrow(0, p0, np).narrow(1, start, b).reshape({-1});  // member-major [np*b]
        torch::Tensor x = train.x.index_select(0, idx);
        Layout layout;
        if (flat_input_) {
          x = x.view({np, b, -1});
          layout = Layout::kFlat;
        } else {
          x = x.view({np, b, shape[0], shape[1], shape[2]}).transpose(1, 2).contiguous();  // no copy for one channel
          layout = Layout::kSpatial;
        }
        auto y = train.y.index_select(0, idx);
        auto w = flat_.narrow(0, p0, np);
        auto logits = forward(w, p0, x, layout, true, epoch, step);
        // Sum over members of each member's mean loss: gradients stay per member.
        auto loss = torch::nll_loss(torch::log_softmax(logits.reshape({np * b, -1}), 1), y, {}, at::Reduction::Sum) /
                    static_cast<double>(b);
        // The chunk's own gradient rows: disjoint slices, so chunks never write the same memory.
        grad.narrow(0, p0, np).copy_(torch::autograd::grad({loss}, {w})[0]);
      }
    });
    optimizer_step();
  }
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
  static const std::vector<std::string> k = {"test_acc",     "train_acc", "val_acc",   "test_loss", "train_loss",
                                             "val_loss",     "ggap",      "epoch",     "seed",      "lr",
                                             "weight_decay", "dropout",   "batch_size"};
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
                                {"weight_decay", m.weight_decay},
                                {"dropout", m.dropout},
                                {"batch_size", static_cast<double>(opt.batch_size)}});
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
