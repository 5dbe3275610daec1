// Collectives that autograd can differentiate, for losses over the GLOBAL batch. Convention:
// each rank's loss is its share of the global loss (the shares sum to the single-process
// loss), and gradients are then SUMMED across ranks; under that convention the backward of
// all_gather is an all_reduce of the gathered gradient followed by taking the local slice,
// and the backward of an all_reduce(sum) is again an all_reduce(sum).
#pragma once

#include <torch/torch.h>

#include "distributed/communicator.h"

namespace hyperrep::dist {

// Concatenates every rank's rows in rank order (rows may differ per rank); gradients flow
// back to the local rows. Returns the gathered tensor and this rank's first row in it.
struct GatheredRows {
  torch::Tensor all;
  int64_t offset = 0;
};
GatheredRows all_gather_with_grad(Communicator& comm, const torch::Tensor& local);

// Sum over ranks, differentiable.
torch::Tensor all_reduce_sum_with_grad(Communicator& comm, const torch::Tensor& local);

// Batch normalisation over the rows of every rank (training mode): the statistics of the
// global batch, exactly as one process holding all rows would compute them. Updates
// running_mean/running_var (unbiased variance, like torch) when defined.
torch::Tensor sync_batch_norm(Communicator& comm, const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                              torch::Tensor running_mean, torch::Tensor running_var, double momentum, double eps);

}  // namespace hyperrep::dist
