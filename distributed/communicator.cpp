#include "distributed/communicator.h"

#include "common/error.h"
#include "distributed/mpi_runtime.h"
#ifdef HYPERREP_WITH_MPI
#include "distributed/mpi_communicator.h"
#endif
#ifdef HYPERREP_WITH_NCCL
#include "distributed/nccl_communicator.h"
#endif

namespace hyperrep::dist {

const char* reduce_op_name(ReduceOp op) {
  switch (op) {
    case ReduceOp::kSum: return "sum";
    case ReduceOp::kAvg: return "avg";
    case ReduceOp::kMax: return "max";
    case ReduceOp::kMin: return "min";
  }
  return "?";
}

void check_supported_dtype(const torch::Tensor& t, const char* op) {
  HYPERREP_CHECK(t.defined(), DistributedError, op, ": undefined tensor");
  const auto s = t.scalar_type();
  HYPERREP_CHECK(s == torch::kFloat32 || s == torch::kFloat64 || s == torch::kInt64 || s == torch::kBFloat16, DistributedError,
                 op, ": unsupported dtype ", c10::toString(s), " (supported: float32, float64, int64, bfloat16)");
}

namespace {
class DoneWork final : public Work {
 public:
  void wait() override {}
};
}  // namespace

std::unique_ptr<Work> Communicator::all_reduce_async(torch::Tensor& t, ReduceOp op) {
  all_reduce(t, op);
  return std::make_unique<DoneWork>();
}

torch::Tensor Communicator::all_gather_varying(const torch::Tensor& t) {
  HYPERREP_CHECK(t.dim() >= 1, DistributedError, "all_gather_varying: needs at least one dimension");
  auto rows = torch::tensor({t.size(0)}, torch::TensorOptions().dtype(torch::kInt64).device(t.device()));
  auto all_rows = all_gather(rows).to(torch::kCPU);
  const int64_t max_rows = all_rows.max().item<int64_t>();
  auto sizes = t.sizes().vec();
  sizes[0] = max_rows;
  auto padded = torch::zeros(sizes, t.options());
  if (t.size(0) > 0) padded.narrow(0, 0, t.size(0)).copy_(t);
  auto gathered = all_gather(padded);
  std::vector<torch::Tensor> parts;
  for (int r = 0; r < world_size(); ++r) {
    parts.push_back(gathered.narrow(0, r * max_rows, all_rows[r].item<int64_t>()));
  }
  return torch::cat(parts, 0);
}

double Communicator::all_reduce_scalar(double v, ReduceOp op) {
  auto t = torch::tensor({v}, torch::kFloat64);
  all_reduce(t, op);
  return t.item<double>();
}

int64_t Communicator::all_reduce_int(int64_t v, ReduceOp op) {
  HYPERREP_CHECK(op != ReduceOp::kAvg, DistributedError, "all_reduce_int: avg needs a floating-point value");
  auto t = torch::tensor({v}, torch::kInt64);
  all_reduce(t, op);
  return t.item<int64_t>();
}

void LocalCommunicator::all_reduce(torch::Tensor& t, ReduceOp op) {
  check_supported_dtype(t, "all_reduce");
  HYPERREP_CHECK(op != ReduceOp::kAvg || t.is_floating_point(), DistributedError,
                 "all_reduce: avg needs a floating-point tensor, got ", c10::toString(t.scalar_type()));
}

void LocalCommunicator::broadcast(torch::Tensor& t, int root) {
  check_supported_dtype(t, "broadcast");
  HYPERREP_CHECK(root == 0, DistributedError, "broadcast: root ", root, " out of range for world size 1");
}

torch::Tensor LocalCommunicator::all_gather(const torch::Tensor& t) {
  check_supported_dtype(t, "all_gather");
  HYPERREP_CHECK(t.dim() >= 1, DistributedError, "all_gather: needs at least one dimension");
  return t.clone();
}

std::string LocalCommunicator::broadcast_bytes(const std::string& bytes, int root) {
  HYPERREP_CHECK(root == 0, DistributedError, "broadcast_bytes: root ", root, " out of range for world size 1");
  return bytes;
}

std::unique_ptr<Communicator> make_communicator(Backend backend, MpiRuntime* mpi) {
  [[maybe_unused]] const bool mpi_up = mpi != nullptr && mpi->active();
  switch (backend) {
    case Backend::kLocal: return std::make_unique<LocalCommunicator>();
    case Backend::kNccl: {
#ifdef HYPERREP_WITH_NCCL
      // The unique id travels over MPI; a job of one process without MPI makes it locally.
      std::unique_ptr<Communicator> host;
#ifdef HYPERREP_WITH_MPI
      if (mpi_up) host = std::make_unique<MpiCommunicator>(*mpi);
#endif
      if (!host) {
        HYPERREP_CHECK(mpi == nullptr || mpi->world_size() == 1, DistributedError,
                       "backend 'nccl' with several ranks needs MPI to share the NCCL unique id");
        host = std::make_unique<LocalCommunicator>();
      }
      return std::make_unique<NcclCommunicator>(std::move(host));
#else
      HYPERREP_THROW(DistributedError, "backend 'nccl': this build has no NCCL (configure with -DHYPERREP_WITH_NCCL=ON)");
#endif
    }
    case Backend::kMpi:
#ifdef HYPERREP_WITH_MPI
      HYPERREP_CHECK(mpi_up, DistributedError, "backend 'mpi' asked for, but MPI is not initialised");
      return std::make_unique<MpiCommunicator>(*mpi);
#else
      HYPERREP_THROW(DistributedError, "backend 'mpi': this build has no MPI (HYPERREP_WITH_MPI=OFF)");
#endif
    case Backend::kAuto:
#ifdef HYPERREP_WITH_MPI
      if (mpi_up) return std::make_unique<MpiCommunicator>(*mpi);
#endif
      return std::make_unique<LocalCommunicator>();
  }
  HYPERREP_THROW(InternalError, "communicator backend without a constructor");
}

std::unique_ptr<Communicator> make_communicator(Backend backend, bool cuda_tensors, MpiRuntime* mpi) {
#ifdef HYPERREP_WITH_NCCL
  if (backend == Backend::kAuto && cuda_tensors) return make_communicator(Backend::kNccl, mpi);
#else
  (void)cuda_tensors;
#endif
  return make_communicator(backend, mpi);
}

}  // namespace hyperrep::dist
