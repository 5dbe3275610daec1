// Data-parallel gradient synchronisation: parameters are grouped into buckets (reverse
// registration order, the order backward produces gradients), each bucket is flattened and
// all-reduced as soon as its last gradient arrives (from autograd hooks, so communication
// overlaps the rest of backward), always in the same bucket order on every rank.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <vector>

#include "distributed/communicator.h"

namespace hyperrep::dist {

enum class SyncStrategy {
  kBucketed,  // buckets of bucket_mb, launched from hooks (overlap) or after backward
  kFlat,      // one flat all_reduce of every gradient after backward
  kPerParam,  // one all_reduce per parameter after backward
};

struct SyncOptions {
  double bucket_mb = 25.0;
  bool overlap = true;
  ReduceOp op = ReduceOp::kAvg;  // kSum when each rank's loss is its share of the global loss
  SyncStrategy strategy = SyncStrategy::kBucketed;
};

class GradientSynchronizer {
 public:
  GradientSynchronizer(Communicator& comm, std::vector<torch::Tensor> params, SyncOptions options);
  ~GradientSynchronizer();
  GradientSynchronizer(const GradientSynchronizer&) = delete;
  GradientSynchronizer& operator=(const GradientSynchronizer&) = delete;

  // Makes every rank start from root's parameters.
  void broadcast_parameters(int root = 0);
  // Call before backward.
  void prepare();
  // Call after backward: every param.grad() then holds the reduced gradient.
  void finish();
  // Off: prepare/finish do nothing (single-process baseline in benchmarks).
  void set_enabled(bool on) { enabled_ = on; }
  size_t num_buckets() const { return buckets_.size(); }
  // Bucket index of each parameter (for tests).
  std::vector<size_t> bucket_of_params() const;

 private:
  struct Bucket {
    std::vector<size_t> params;  // indices into params_
    std::vector<int64_t> offsets;
    torch::Tensor flat;
    size_t pending = 0;
    bool launched = false;
    std::unique_ptr<Work> work;
  };
  void on_grad(size_t param, const torch::Tensor& grad);
  void launch_ready();

  Communicator& comm_;
  std::vector<torch::Tensor> params_;
  SyncOptions options_;
  std::vector<Bucket> buckets_;
  std::vector<size_t> bucket_of_;
  std::vector<int64_t> offset_of_;
  std::vector<unsigned> hook_ids_;
  size_t next_launch_ = 0;
  bool enabled_ = true;
  bool in_step_ = false;
};

}  // namespace hyperrep::dist
