// NCCL backend at world size 1 (one GPU cannot host two NCCL ranks): every collective must give
// the MPI path's analytic results (sum = avg = max = min = the input; broadcast and all_gather
// the identity / a copy), bit-exactly, for every supported dtype, contiguous or not.
#include <gtest/gtest.h>

#include "common/error.h"
#include "distributed/nccl_communicator.h"

using namespace hyperrep;

namespace {

class NcclTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
    if (!comm_) comm_ = dist::make_communicator(Backend::kNccl, nullptr).release();
  }
  static dist::Communicator& comm() { return *comm_; }
  static dist::Communicator* comm_;
};
dist::Communicator* NcclTest::comm_ = nullptr;

// Values that a lossy transport would change: int64 beyond 2^53, float64 beyond float32
// precision, bf16 values exactly representable (sum of world 1 must not round them).
torch::Tensor sample(torch::ScalarType s, bool contiguous) {
  torch::Tensor t;
  if (s == torch::kInt64) {
    t = torch::tensor({(int64_t{1} << 60) + 1, int64_t{-7}, int64_t{3}, int64_t{1} << 55, int64_t{0}, int64_t{42}},
                      torch::kInt64);
  } else if (s == torch::kFloat64) {
    t = torch::tensor({1.0 + 1e-12, -2.5, 3.0e300, 1e-300, 0.0, 7.125}, torch::kFloat64);
  } else {
    t = torch::tensor({1.5, -2.25, 384.0, 0.0078125, 0.0, -1024.0}, torch::kFloat32).to(s);
  }
  t = t.view({2, 3}).to(torch::kCUDA);
  return contiguous ? t : t.t();  // [3, 2] view with strides (1, 3)
}

}  // namespace

TEST_F(NcclTest, NameAndGeometry) {
  EXPECT_EQ(comm().name(), "nccl");
  EXPECT_EQ(comm().world_size(), 1);
  EXPECT_EQ(comm().rank(), 0);
}

TEST_F(NcclTest, AllReduceEveryOpAndDtypeIsTheIdentityAtWorldOne) {
  for (auto s : {torch::kFloat32, torch::kFloat64, torch::kInt64, torch::kBFloat16}) {
    for (auto op : {dist::ReduceOp::kSum, dist::ReduceOp::kAvg, dist::ReduceOp::kMax, dist::ReduceOp::kMin}) {
      if (op == dist::ReduceOp::kAvg && s == torch::kInt64) continue;
      for (bool contiguous : {true, false}) {
        auto t = sample(s, contiguous);
        const auto expected = t.cpu().clone();
        comm().all_reduce(t, op);
        EXPECT_TRUE(t.is_cuda());
        EXPECT_EQ(t.scalar_type(), s);
        EXPECT_TRUE(torch::equal(t.cpu(), expected))
            << c10::toString(s) << " " << dist::reduce_op_name(op) << " contiguous=" << contiguous;
      }
    }
  }
}

TEST_F(NcclTest, AllReduceRefusesCpuTensorsAndIntegerAverage) {
  auto cpu = torch::ones({4});
  try {
    comm().all_reduce(cpu, dist::ReduceOp::kSum);
    FAIL() << "a CPU tensor was accepted";
  } catch (const DistributedError& e) {
    EXPECT_NE(std::string(e.what()).find("CUDA tensors"), std::string::npos) << e.what();
  }
  auto i = torch::ones({4}, torch::TensorOptions().dtype(torch::kInt64).device(torch::kCUDA));
  EXPECT_THROW(comm().all_reduce(i, dist::ReduceOp::kAvg), DistributedError);
  auto h = torch::ones({4}, torch::TensorOptions().dtype(torch::kFloat16).device(torch::kCUDA));
  EXPECT_THROW(comm().all_reduce(h, dist::ReduceOp::kSum), DistributedError);
}

TEST_F(NcclTest, BroadcastKeepsRootValues) {
  for (auto s : {torch::kFloat32, torch::kFloat64, torch::kInt64, torch::kBFloat16}) {
    auto t = sample(s, false);
    const auto expected = t.cpu().clone();
    comm().broadcast(t, 0);
    EXPECT_TRUE(torch::equal(t.cpu(), expected)) << c10::toString(s);
  }
  auto t = sample(torch::kFloat32, true);
  EXPECT_THROW(comm().broadcast(t, 1), DistributedError);
}

TEST_F(NcclTest, AllGatherConcatenatesAlongDimZero) {
  for (auto s : {torch::kFloat32, torch::kFloat64, torch::kInt64, torch::kBFloat16}) {
    auto t = sample(s, false);
    auto g = comm().all_gather(t);
    ASSERT_EQ(g.sizes(), t.sizes()) << c10::toString(s);
    EXPECT_TRUE(g.is_cuda());
    EXPECT_TRUE(torch::equal(g.cpu(), t.cpu())) << c10::toString(s);
    // The gather is a copy: changing it leaves the input alone.
    g.fill_(0);
    EXPECT_FALSE(torch::equal(g.cpu(), t.cpu()));
  }
  auto scalar = torch::ones({}, torch::kCUDA);
  EXPECT_THROW(comm().all_gather(scalar), DistributedError);
}

TEST_F(NcclTest, AsyncAllReduceSeesPrecedingKernelsAndWritesBack) {
  // The input is produced by a kernel just queued on the current stream: the communication
  // stream must wait for it. A product large enough to still run when the reduction is queued.
  auto a = torch::randn({2048, 2048}, torch::kCUDA);
  auto b = torch::randn({2048, 2048}, torch::kCUDA);
  for (bool contiguous : {true, false}) {
    auto c = torch::mm(a, b);
    const auto expected = c.clone();  // queued after the product on the same stream
    torch::Tensor t = contiguous ? c : c.t();
    auto work = comm().all_reduce_async(t, dist::ReduceOp::kAvg);
    work->wait();
    EXPECT_TRUE(torch::equal(t.cpu(), contiguous ? expected.cpu() : expected.t().cpu()));
    EXPECT_TRUE(work->test());
  }
}

TEST_F(NcclTest, BarrierAndHostHelpers) {
  comm().barrier();
  const std::string bytes("abc\0def", 7);
  EXPECT_EQ(comm().broadcast_bytes(bytes, 0), bytes);
  const auto all = comm().all_gather_bytes("xyz");
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0], "xyz");
}

TEST_F(NcclTest, EmptyTensorsAreAccepted) {
  auto t = torch::empty({0, 3}, torch::kCUDA);
  comm().all_reduce(t, dist::ReduceOp::kSum);
  comm().broadcast(t, 0);
  EXPECT_EQ(comm().all_gather(t).size(0), 0);
}
