// The MPI backend of Communicator: CPU tensors of float32, float64, int64 and bfloat16, counts
// above INT_MAX split into chunks, agreement of shapes and dtypes checked across ranks.
#pragma once

#include <mpi.h>

#include <climits>

#include "distributed/communicator.h"
#include "distributed/mpi_runtime.h"

namespace hyperrep::dist {

class MpiCommunicator final : public Communicator {
 public:
  explicit MpiCommunicator(const MpiRuntime& runtime, MPI_Comm comm = MPI_COMM_WORLD);
  int rank() const override { return rank_; }
  int world_size() const override { return world_size_; }
  int local_rank() const override { return local_rank_; }
  std::string name() const override { return "mpi"; }

  void all_reduce(torch::Tensor& t, ReduceOp op) override;
  std::unique_ptr<Work> all_reduce_async(torch::Tensor& t, ReduceOp op) override;
  void broadcast(torch::Tensor& t, int root) override;
  torch::Tensor all_gather(const torch::Tensor& t) override;
  void barrier() override;
  std::string broadcast_bytes(const std::string& bytes, int root) override;
  std::vector<std::string> all_gather_bytes(const std::string& bytes) override;

  // Largest element count passed to one MPI call; larger tensors go in several calls.
  void set_max_chunk_elements(int64_t n) { max_chunk_ = n; }
  // Cross-rank agreement checks cost one tiny collective per call; hot paths may turn them off.
  void set_check_agreement(bool on) { check_agreement_ = on; }

 private:
  // Throws on every rank when the signature (dtype, numel or shape) differs between ranks.
  void check_agreement(const torch::Tensor& t, const char* op, bool full_shape);
  void check_all_reduce(const torch::Tensor& t, ReduceOp op);
  MPI_Comm comm_;
  int rank_ = 0;
  int world_size_ = 1;
  int local_rank_ = 0;
  int64_t max_chunk_ = INT_MAX;
  bool check_agreement_ = true;
};

}  // namespace hyperrep::dist
