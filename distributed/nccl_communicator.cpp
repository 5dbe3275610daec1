#include "distributed/nccl_communicator.h"

#include <ATen/cuda/CUDAEvent.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include <cstring>

#include "common/error.h"

namespace hyperrep::dist {
namespace {

#define HYPERREP_NCCL_AT_LEAST(major, minor) (NCCL_VERSION_CODE >= NCCL_VERSION(major, minor, 0))

void nccl_ok(ncclResult_t rc, const char* what, ncclComm_t comm = nullptr) {
  if (rc == ncclSuccess) return;
  std::string detail;
#if HYPERREP_NCCL_AT_LEAST(2, 13)
  if (const char* last = ncclGetLastError(comm); last != nullptr && *last != '\0') detail = std::string(" (") + last + ")";
#else
  (void)comm;
#endif
  HYPERREP_THROW(DistributedError, what, " failed: ", ncclGetErrorString(rc), detail);
}

ncclDataType_t nccl_type(torch::ScalarType s) {
  switch (s) {
    case torch::kFloat32: return ncclFloat32;
    case torch::kFloat64: return ncclFloat64;
    case torch::kInt64: return ncclInt64;
    case torch::kBFloat16: return ncclBfloat16;
    default: HYPERREP_THROW(DistributedError, "no NCCL type for ", c10::toString(s));
  }
}

// Averages use ncclAvg (NCCL >= 2.10) so that no separate division kernel is needed.
ncclRedOp_t nccl_op(ReduceOp op) {
  switch (op) {
    case ReduceOp::kSum: return ncclSum;
#if HYPERREP_NCCL_AT_LEAST(2, 10)
    case ReduceOp::kAvg: return ncclAvg;
#else
    case ReduceOp::kAvg: return ncclSum;
#endif
    case ReduceOp::kMax: return ncclMax;
    case ReduceOp::kMin: return ncclMin;
  }
  return ncclSum;
}

bool needs_division(ReduceOp op) {
#if HYPERREP_NCCL_AT_LEAST(2, 10)
  (void)op;
  return false;
#else
  return op == ReduceOp::kAvg;
#endif
}

cudaStream_t raw(const c10::cuda::CUDAStream& s) { return s.stream(); }

// An all_reduce on the communication stream. wait() orders the caller's current stream after
// it (no host blocking), then the result is copied back into the caller's tensor if needed.
class NcclWork final : public Work {
 public:
  NcclWork(torch::Tensor target, torch::Tensor buffer, bool divide, int world, int device)
      : target_(std::move(target)), buffer_(std::move(buffer)), divide_(divide), world_(world), device_(device) {}
  at::cuda::CUDAEvent& done() { return done_; }
  bool test() override {
    if (finished_) return true;
    if (!done_.query()) return false;
    wait();
    return true;
  }
  void wait() override {
    if (finished_) return;
    c10::cuda::CUDAGuard guard(static_cast<c10::DeviceIndex>(device_));
    auto current = c10::cuda::getCurrentCUDAStream(static_cast<c10::DeviceIndex>(device_));
    done_.block(current);
    if (divide_) buffer_.div_(world_);
    if (!buffer_.is_same(target_)) target_.copy_(buffer_);
    finished_ = true;
  }

 private:
  torch::Tensor target_, buffer_;
  bool divide_;
  int world_, device_;
  at::cuda::CUDAEvent done_;
  bool finished_ = false;
};

}  // namespace

NcclCommunicator::NcclCommunicator(std::unique_ptr<Communicator> host) : host_(std::move(host)) {
  HYPERREP_CHECK(host_ != nullptr, DistributedError, "nccl backend: needs a host communicator for the unique id");
  HYPERREP_CHECK(torch::cuda::is_available(), DistributedError, "nccl backend: no CUDA device is visible");
  const int count = static_cast<int>(c10::cuda::device_count());
  device_ = host_->local_rank() % count;
  c10::cuda::set_device(static_cast<c10::DeviceIndex>(device_));
  c10::cuda::CUDAGuard guard(static_cast<c10::DeviceIndex>(device_));

  ncclUniqueId id;
  std::memset(&id, 0, sizeof id);
  if (host_->rank() == 0) nccl_ok(ncclGetUniqueId(&id), "ncclGetUniqueId");
  const std::string bytes = host_->broadcast_bytes(std::string(reinterpret_cast<const char*>(&id), sizeof id), 0);
  HYPERREP_CHECK(bytes.size() == sizeof id, DistributedError, "nccl backend: unique id of ", bytes.size(),
                 " bytes received, expected ", sizeof id);
  std::memcpy(&id, bytes.data(), sizeof id);
  nccl_ok(ncclCommInitRank(&comm_, host_->world_size(), id, host_->rank()), "ncclCommInitRank");
  // One communication stream per communicator keeps the async reductions in launch order.
  comm_stream_ = c10::cuda::getStreamFromPool(/*isHighPriority=*/true, static_cast<c10::DeviceIndex>(device_));
}

NcclCommunicator::~NcclCommunicator() {
  if (comm_ == nullptr) return;
    // Never throw from here; finalize flushes operations still in flight before the destroy.
#if HYPERREP_NCCL_AT_LEAST(2, 14)
  ncclCommFinalize(comm_);
#endif
  ncclCommDestroy(comm_);
}

void NcclCommunicator::check_tensor(const torch::Tensor& t, const char* op) const {
  check_supported_dtype(t, op);
  HYPERREP_CHECK(t.is_cuda(), DistributedError, op, ": the nccl backend takes CUDA tensors, got one on ", t.device().str(),
                 " (host collectives go through the mpi communicator)");
  HYPERREP_CHECK(t.device().index() == device_, DistributedError, op, ": tensor on ", t.device().str(),
                 ", but this rank's NCCL communicator is bound to cuda:", device_);
}

void NcclCommunicator::launch_all_reduce(torch::Tensor& buffer, ReduceOp op, void* stream) {
  if (buffer.numel() == 0) return;
  // NCCL counts are size_t: no chunking is needed, unlike MPI's int counts.
  nccl_ok(ncclAllReduce(buffer.data_ptr(), buffer.data_ptr(), static_cast<size_t>(buffer.numel()),
                        nccl_type(buffer.scalar_type()), nccl_op(op), comm_, static_cast<cudaStream_t>(stream)),
          "ncclAllReduce", comm_);
}

void NcclCommunicator::all_reduce(torch::Tensor& t, ReduceOp op) {
  check_tensor(t, "all_reduce");
  HYPERREP_CHECK(op != ReduceOp::kAvg || t.is_floating_point(), DistributedError,
                 "all_reduce: avg needs a floating-point tensor, got ", c10::toString(t.scalar_type()));
  c10::cuda::CUDAGuard guard(static_cast<c10::DeviceIndex>(device_));
  auto stream = c10::cuda::getCurrentCUDAStream(static_cast<c10::DeviceIndex>(device_));
  torch::Tensor buffer = t.contiguous();
  launch_all_reduce(buffer, op, raw(stream));
  if (needs_division(op)) buffer.div_(world_size());
  if (!buffer.is_same(t)) t.copy_(buffer);
}

std::unique_ptr<Work> NcclCommunicator::all_reduce_async(torch::Tensor& t, ReduceOp op) {
  check_tensor(t, "all_reduce");
  HYPERREP_CHECK(op != ReduceOp::kAvg || t.is_floating_point(), DistributedError,
                 "all_reduce: avg needs a floating-point tensor, got ", c10::toString(t.scalar_type()));
  const auto dev = static_cast<c10::DeviceIndex>(device_);
  c10::cuda::CUDAGuard guard(dev);
  auto current = c10::cuda::getCurrentCUDAStream(dev);
  c10::cuda::CUDAStream& comm_stream = *comm_stream_;
  torch::Tensor buffer = t.contiguous();
  // The reduction must see every write the caller's stream made to the buffer.
  at::cuda::CUDAEvent ready;
  ready.record(current);
  ready.block(comm_stream);
  // The caching allocator must not hand the buffer out again while NCCL still uses it.
  buffer.record_stream(comm_stream);
  auto work = std::make_unique<NcclWork>(t, buffer, needs_division(op), world_size(), device_);
  launch_all_reduce(buffer, op, raw(comm_stream));
  work->done().record(comm_stream);
  return work;
}

void NcclCommunicator::broadcast(torch::Tensor& t, int root) {
  check_tensor(t, "broadcast");
  HYPERREP_CHECK(root >= 0 && root < world_size(), DistributedError, "broadcast: root ", root, " out of range for world size ",
                 world_size());
  c10::cuda::CUDAGuard guard(static_cast<c10::DeviceIndex>(device_));
  auto stream = c10::cuda::getCurrentCUDAStream(static_cast<c10::DeviceIndex>(device_));
  torch::Tensor buffer = t.contiguous();
  if (buffer.numel() > 0) {
    nccl_ok(ncclBroadcast(buffer.data_ptr(), buffer.data_ptr(), static_cast<size_t>(buffer.numel()),
                          nccl_type(buffer.scalar_type()), root, comm_, raw(stream)),
            "ncclBroadcast", comm_);
  }
  if (!buffer.is_same(t)) t.copy_(buffer);
}

torch::Tensor NcclCommunicator::all_gather(const torch::Tensor& t) {
  check_tensor(t, "all_gather");
  HYPERREP_CHECK(t.dim() >= 1, DistributedError, "all_gather: needs at least one dimension");
  c10::cuda::CUDAGuard guard(static_cast<c10::DeviceIndex>(device_));
  auto stream = c10::cuda::getCurrentCUDAStream(static_cast<c10::DeviceIndex>(device_));
  torch::Tensor in = t.contiguous();
  auto sizes = in.sizes().vec();
  sizes[0] *= world_size();
  torch::Tensor out = torch::empty(sizes, in.options());
  if (in.numel() > 0) {
    // Rank r's buffer lands at offset r * numel: the dim-0 concatenation in rank order.
    nccl_ok(ncclAllGather(in.data_ptr(), out.data_ptr(), static_cast<size_t>(in.numel()), nccl_type(in.scalar_type()), comm_,
                          raw(stream)),
            "ncclAllGather", comm_);
  }
  return out;
}

void NcclCommunicator::barrier() {
  c10::cuda::CUDAGuard guard(static_cast<c10::DeviceIndex>(device_));
  auto stream = c10::cuda::getCurrentCUDAStream(static_cast<c10::DeviceIndex>(device_));
  auto one = torch::ones({1}, torch::TensorOptions().dtype(torch::kFloat32).device(device()));
  launch_all_reduce(one, ReduceOp::kSum, raw(stream));
  stream.synchronize();
}

}  // namespace hyperrep::dist
