#include "distributed/autograd_collectives.h"

#include "common/error.h"

namespace hyperrep::dist {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// The communicator rides in the autograd context as an integer (saved_data holds IValues, which
// cannot own a Communicator). Lifetime: the caller's communicator outlives every graph built on
// it, since the trainer (or test) owns both and runs backward before the step returns; a graph
// kept past its communicator would be a bug in the caller.
Communicator* comm_of(AutogradContext* ctx) { return reinterpret_cast<Communicator*>(ctx->saved_data["comm"].toInt()); }

struct AllGatherRows : public torch::autograd::Function<AllGatherRows> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& local, Communicator* comm, int64_t offset) {
    ctx->saved_data["comm"] = reinterpret_cast<int64_t>(comm);
    ctx->saved_data["offset"] = offset;
    ctx->saved_data["rows"] = local.size(0);
    return comm->all_gather_varying(local.detach());
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto g = grads[0].contiguous().clone();
    comm_of(ctx)->all_reduce(g, ReduceOp::kSum);
    const int64_t offset = ctx->saved_data["offset"].toInt();
    const int64_t rows = ctx->saved_data["rows"].toInt();
    return {g.narrow(0, offset, rows), torch::Tensor(), torch::Tensor()};
  }
};

struct AllReduceSum : public torch::autograd::Function<AllReduceSum> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& local, Communicator* comm) {
    ctx->saved_data["comm"] = reinterpret_cast<int64_t>(comm);
    auto out = local.detach().clone();
    comm->all_reduce(out, ReduceOp::kSum);
    return out;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto g = grads[0].contiguous().clone();
    comm_of(ctx)->all_reduce(g, ReduceOp::kSum);
    return {g, torch::Tensor()};
  }
};

}  // namespace

GatheredRows all_gather_with_grad(Communicator& comm, const torch::Tensor& local) {
  HYPERREP_CHECK(local.dim() >= 1, DistributedError, "all_gather_with_grad: needs at least one dimension");
  if (comm.world_size() == 1) return {local, 0};
  auto rows = comm.all_gather(torch::tensor({local.size(0)}, torch::TensorOptions().dtype(torch::kInt64).device(local.device())));
  const int64_t offset = rows.narrow(0, 0, comm.rank()).sum().item<int64_t>();
  return {AllGatherRows::apply(local, &comm, offset), offset};
}

torch::Tensor all_reduce_sum_with_grad(Communicator& comm, const torch::Tensor& local) {
  if (comm.world_size() == 1) return local;
  return AllReduceSum::apply(local, &comm);
}

torch::Tensor sync_batch_norm(Communicator& comm, const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                              torch::Tensor running_mean, torch::Tensor running_var, double momentum, double eps) {
  HYPERREP_CHECK(x.dim() == 2, DistributedError, "sync_batch_norm: expects [rows, features], got ", x.sizes());
  // One reduction for count, sum and sum of squares keeps it to two collectives per call.
  auto count = torch::full({1}, static_cast<double>(x.size(0)), x.options().dtype(torch::kFloat64));
  auto n = all_reduce_sum_with_grad(comm, count).to(x.scalar_type());
  auto mean = all_reduce_sum_with_grad(comm, x.sum(0)) / n;
  auto centred = x - mean;
  auto var = all_reduce_sum_with_grad(comm, (centred * centred).sum(0)) / n;
  const double total = n.item<double>();
  HYPERREP_CHECK(total > 1, DistributedError, "sync_batch_norm: needs more than one row over all ranks");
  if (running_mean.defined()) {
    torch::NoGradGuard ng;
    running_mean.mul_(1 - momentum).add_(mean.detach(), momentum);
    running_var.mul_(1 - momentum).add_(var.detach() * (total / (total - 1)), momentum);
  }
  auto y = centred * torch::rsqrt(var + eps);
  if (weight.defined()) y = y * weight;
  if (bias.defined()) y = y + bias;
  return y;
}

}  // namespace hyperrep::dist
