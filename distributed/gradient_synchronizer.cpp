#include "distributed/gradient_synchronizer.h"

#include "common/error.h"

namespace hyperrep::dist {

GradientSynchronizer::GradientSynchronizer(Communicator& comm, std::vector<torch::Tensor> params, SyncOptions options)
    : comm_(comm), options_(options) {
  for (auto& p : params)
    if (p.requires_grad()) params_.push_back(p);
  bucket_of_.resize(params_.size());
  offset_of_.resize(params_.size());
  // Reverse registration order approximates the order in which backward produces gradients.
  const int64_t cap = std::max<int64_t>(1, static_cast<int64_t>(options_.bucket_mb * 1024 * 1024));
  const bool one_bucket_each = options_.strategy == SyncStrategy::kPerParam;
  const bool single = options_.strategy == SyncStrategy::kFlat;
  for (size_t k = params_.size(); k-- > 0;) {
    const auto& p = params_[k];
    const int64_t bytes = p.numel() * p.element_size();
    const bool new_bucket = buckets_.empty() || one_bucket_each ||
                            (!single && (buckets_.back().flat.numel() * p.element_size() + bytes > cap)) ||
                            buckets_.back().flat.scalar_type() != p.scalar_type();
    if (new_bucket) {
      buckets_.emplace_back();
      buckets_.back().flat = torch::empty({0}, p.options().requires_grad(false));
    }
    Bucket& b = buckets_.back();
    b.params.push_back(k);
    b.offsets.push_back(b.flat.numel());
    bucket_of_[k] = buckets_.size() - 1;
    offset_of_[k] = b.flat.numel();
    b.flat = torch::empty({b.flat.numel() + p.numel()}, b.flat.options());
  }
  const bool hooks = options_.strategy == SyncStrategy::kBucketed && options_.overlap && comm_.world_size() > 1;
  if (hooks) {
    for (size_t k = 0; k < params_.size(); ++k) {
      hook_ids_.push_back(params_[k].register_hook([this, k](torch::Tensor grad) {
        on_grad(k, grad);
        return grad;
      }));
    }
  }
}

GradientSynchronizer::~GradientSynchronizer() {
  for (size_t k = 0; k < hook_ids_.size(); ++k) params_[k].remove_hook(hook_ids_[k]);
}

std::vector<size_t> GradientSynchronizer::bucket_of_params() const { return bucket_of_; }

void GradientSynchronizer::broadcast_parameters(int root) {
  torch::NoGradGuard ng;
  for (auto& b : buckets_) {
    for (size_t j = 0; j < b.params.size(); ++j) {
      const auto& p = params_[b.params[j]];
      b.flat.narrow(0, b.offsets[j], p.numel()).copy_(p.detach().reshape(-1));
    }
    comm_.broadcast(b.flat, root);
    for (size_t j = 0; j < b.params.size(); ++j) {
      auto& p = params_[b.params[j]];
      p.detach().copy_(b.flat.narrow(0, b.offsets[j], p.numel()).view(p.sizes()));
    }
  }
}

void GradientSynchronizer::prepare() {
  if (!enabled_ || comm_.world_size() == 1) return;
  for (auto& b : buckets_) {
    b.pending = b.params.size();
    b.launched = false;
    b.work.reset();
  }
  next_launch_ = 0;
  in_step_ = true;
}

void GradientSynchronizer::on_grad(size_t param, const torch::Tensor& grad) {
  if (!in_step_) return;
  Bucket& b = buckets_[bucket_of_[param]];
  b.flat.narrow(0, offset_of_[param], grad.numel()).copy_(grad.reshape(-1));
  HYPERREP_CHECK(b.pending > 0, InternalError, "gradient of parameter ", param, " arrived twice in one backward");
  --b.pending;
  launch_ready();
  // Give earlier non-blocking reductions a chance to progress while backward continues.
  for (size_t i = 0; i < next_launch_; ++i)
    if (buckets_[i].work) buckets_[i].work->test();
}

void GradientSynchronizer::launch_ready() {
  // Strict bucket order on every rank, whatever order the hooks fire in.
  while (next_launch_ < buckets_.size() && buckets_[next_launch_].pending == 0) {
    Bucket& b = buckets_[next_launch_++];
    b.work = comm_.all_reduce_async(b.flat, options_.op);
    b.launched = true;
  }
}

void GradientSynchronizer::finish() {
  if (!enabled_ || comm_.world_size() == 1) return;
  const bool hooked = !hook_ids_.empty();
  for (size_t i = 0; i < buckets_.size(); ++i) {
    Bucket& b = buckets_[i];
    if (!hooked || !b.launched) {
      // Gathered after backward (no hooks), or parameters that received no gradient (zeros).
      for (size_t j = 0; j < b.params.size(); ++j) {
        const auto& p = params_[b.params[j]];
        auto slice = b.flat.narrow(0, b.offsets[j], p.numel());
        if (p.grad().defined()) {
          if (!hooked || b.pending > 0) slice.copy_(p.grad().reshape(-1));
        } else {
          slice.zero_();
        }
      }
      b.pending = 0;
    }
  }
  if (hooked) {
    launch_ready();
  } else {
    for (auto& b : buckets_) {
      comm_.all_reduce(b.flat, options_.op);
      b.launched = true;
    }
  }
  for (auto& b : buckets_) {
    if (b.work) b.work->wait();
    for (size_t j = 0; j < b.params.size(); ++j) {
      auto& p = params_[b.params[j]];
      // A parameter outside this step's graph keeps no gradient, as in a single process (the
      // graph, hence which gradients exist, is the same on every rank).
      if (p.grad().defined()) p.mutable_grad().copy_(b.flat.narrow(0, b.offsets[j], p.numel()).view(p.sizes()));
    }
  }
  in_step_ = false;
}

}  // namespace hyperrep::dist
