// The NCCL backend of Communicator: collectives on CUDA tensors (float32, float64, int64,
// bfloat16), one GPU per rank chosen by node-local rank. Built only with HYPERREP_WITH_NCCL.
//
// Device contract: tensor collectives take CUDA tensors on this communicator's device() and are
// stream-ordered: they are enqueued on the caller's current CUDA stream and return without
// waiting for the GPU, so any later work on that stream (or a host read such as .item() or
// .cpu(), which synchronises) sees the result. all_reduce_async runs on a separate
// communication stream so that it overlaps compute; its Work::wait() makes the caller's current
// stream wait for it (it does not block the host). barrier() does block the host.
// CPU tensors are refused; host collectives (bytes, CPU scalars) go through host(), the MPI
// communicator (or a local one at world size 1) that also carried the NCCL unique id. The
// "auto" backend of make_communicator stays MPI/local: host collectives never need NCCL, and
// the trainer picks this communicator for tensors that live on CUDA.
#pragma once

// cuda_bf16.h first: NCCL before 2.19 declares ncclBfloat16 only when the CUDA bf16 type exists.
#include <cuda_bf16.h>
#include <nccl.h>

#include <c10/cuda/CUDAStream.h>

#include <memory>
#include <optional>

#include "distributed/communicator.h"

namespace hyperrep::dist {

class NcclCommunicator final : public Communicator {
 public:
  // Collective over host's ranks: rank 0 creates the unique id, host broadcasts it, and every
  // rank binds to GPU local_rank % device count before joining.
  explicit NcclCommunicator(std::unique_ptr<Communicator> host);
  ~NcclCommunicator() override;
  NcclCommunicator(const NcclCommunicator&) = delete;
  NcclCommunicator& operator=(const NcclCommunicator&) = delete;

  int rank() const override { return host_->rank(); }
  int world_size() const override { return host_->world_size(); }
  int local_rank() const override { return host_->local_rank(); }
  std::string name() const override { return "nccl"; }
  torch::Device device() const { return torch::Device(torch::kCUDA, device_); }
  Communicator& host() override { return *host_; }

  void all_reduce(torch::Tensor& t, ReduceOp op) override;
  std::unique_ptr<Work> all_reduce_async(torch::Tensor& t, ReduceOp op) override;
  void broadcast(torch::Tensor& t, int root) override;
  // [world * rows, ...]: rank r's tensor lands in rows [r * rows, (r + 1) * rows).
  torch::Tensor all_gather(const torch::Tensor& t) override;
  void barrier() override;
  std::string broadcast_bytes(const std::string& bytes, int root) override { return host_->broadcast_bytes(bytes, root); }
  std::vector<std::string> all_gather_bytes(const std::string& bytes) override { return host_->all_gather_bytes(bytes); }

 private:
  void check_tensor(const torch::Tensor& t, const char* op) const;
  // Enqueues the reduction of buffer (contiguous, on device_) on stream; returns after launch.
  void launch_all_reduce(torch::Tensor& buffer, ReduceOp op, void* stream);

  std::unique_ptr<Communicator> host_;
  int device_ = 0;
  ncclComm_t comm_ = nullptr;
  std::optional<c10::cuda::CUDAStream> comm_stream_;  // for all_reduce_async
};

}  // namespace hyperrep::dist
