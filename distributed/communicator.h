// The Communicator interface: collectives over the ranks of a job. Contract: every rank calls
// every collective in the same order with matching shapes and dtypes.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "common/enums.h"

namespace hyperrep::dist {

enum class ReduceOp { kSum, kAvg, kMax, kMin };
const char* reduce_op_name(ReduceOp op);

// Handle of an asynchronous collective; wait() returns when its tensor holds the result.
class Work {
 public:
  virtual ~Work() = default;
  virtual void wait() = 0;
  virtual bool test() {
    wait();
    return true;
  }
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  virtual int local_rank() const = 0;
  virtual std::string name() const = 0;

  // In place on t: every rank ends with the reduction over all ranks.
  virtual void all_reduce(torch::Tensor& t, ReduceOp op = ReduceOp::kSum) = 0;
  // Starts an all_reduce; t must stay alive and untouched until wait().
  virtual std::unique_ptr<Work> all_reduce_async(torch::Tensor& t, ReduceOp op = ReduceOp::kSum);
  // In place: every rank ends with root's values.
  virtual void broadcast(torch::Tensor& t, int root = 0) = 0;
  // Concatenation along dim 0 of every rank's tensor in rank order (identical shapes).
  virtual torch::Tensor all_gather(const torch::Tensor& t) = 0;
  // Like all_gather, but dim 0 may differ between ranks.
  torch::Tensor all_gather_varying(const torch::Tensor& t);
  virtual void barrier() = 0;

  // Host-side helpers.
  virtual std::string broadcast_bytes(const std::string& bytes, int root = 0) = 0;
  virtual std::vector<std::string> all_gather_bytes(const std::string& bytes) = 0;
  double all_reduce_scalar(double v, ReduceOp op = ReduceOp::kSum);
  int64_t all_reduce_int(int64_t v, ReduceOp op = ReduceOp::kSum);
  // The communicator for CPU tensors over the same ranks: itself, except for device-only
  // backends (nccl), which keep an MPI (or local) communicator for host data.
  virtual Communicator& host() { return *this; }
};

// The world-of-one backend: every collective is the identity (after the same checks).
class LocalCommunicator final : public Communicator {
 public:
  int rank() const override { return 0; }
  int world_size() const override { return 1; }
  int local_rank() const override { return 0; }
  std::string name() const override { return "local"; }
  void all_reduce(torch::Tensor& t, ReduceOp op) override;
  void broadcast(torch::Tensor& t, int root) override;
  torch::Tensor all_gather(const torch::Tensor& t) override;
  void barrier() override {}
  std::string broadcast_bytes(const std::string& bytes, int root) override;
  std::vector<std::string> all_gather_bytes(const std::string& bytes) override { return {bytes}; }
};

// Throws DistributedError unless t has a dtype the collectives support.
void check_supported_dtype(const torch::Tensor& t, const char* op);

class MpiRuntime;
// local, mpi, nccl (needs a build with HYPERREP_WITH_NCCL) or auto (mpi when MPI is up, else local).
std::unique_ptr<Communicator> make_communicator(Backend backend, MpiRuntime* mpi);
// For training: auto picks nccl when the tensors live on CUDA and this build has NCCL.
std::unique_ptr<Communicator> make_communicator(Backend backend, bool cuda_tensors, MpiRuntime* mpi);

}  // namespace hyperrep::dist
