// Conformance suite of the Communicator backends (local and mpi), run under mpirun at 1, 2 and 3
// ranks. Expectations are closed-form in rank and world size.
#include <gtest/gtest.h>

#include "common/error.h"
#include "distributed/communicator.h"
#include "distributed/mpi_communicator.h"
#include "tests/mpi/mpi_env.h"

namespace hyperrep::dist {
namespace {

struct LocalBackend {
  static std::unique_ptr<Communicator> make() { return std::make_unique<LocalCommunicator>(); }
};
struct MpiBackend {
  static std::unique_ptr<Communicator> make() { return std::make_unique<MpiCommunicator>(*testing::g_runtime); }
};

const std::vector<torch::ScalarType> kDtypes = {torch::kFloat32, torch::kFloat64, torch::kInt64, torch::kBFloat16};

template <typename Backend>
class CommunicatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    comm = Backend::make();
    rank = comm->rank();
    world = comm->world_size();
  }
  torch::Tensor iota(int64_t n, torch::ScalarType dtype) { return torch::arange(n, torch::kFloat64).to(dtype); }
  std::unique_ptr<Communicator> comm;
  int rank = 0;
  int world = 1;
};

using Backends = ::testing::Types<LocalBackend, MpiBackend>;
TYPED_TEST_SUITE(CommunicatorTest, Backends);

TYPED_TEST(CommunicatorTest, AllReduceSumMaxMinEveryDtype) {
  const int W = this->world;
  for (auto dtype : kDtypes) {
    SCOPED_TRACE(c10::toString(dtype));
    auto i = this->iota(37, dtype);
    auto sum = (i * (this->rank + 1)).to(dtype);
    this->comm->all_reduce(sum, ReduceOp::kSum);
    EXPECT_TRUE(sum.to(torch::kFloat64).equal(this->iota(37, torch::kFloat64) * (W * (W + 1) / 2)));
    auto mx = (this->iota(37, torch::kFloat64) * -1 + this->rank).to(dtype);
    this->comm->all_reduce(mx, ReduceOp::kMax);
    EXPECT_TRUE(mx.to(torch::kFloat64).equal(this->iota(37, torch::kFloat64) * -1 + (W - 1)));
    auto mn = (this->iota(37, torch::kFloat64) + this->rank).to(dtype);
    this->comm->all_reduce(mn, ReduceOp::kMin);
    EXPECT_TRUE(mn.to(torch::kFloat64).equal(this->iota(37, torch::kFloat64)));
    EXPECT_EQ(sum.scalar_type(), dtype);
  }
}

TYPED_TEST(CommunicatorTest, AllReduceAvgFloatsAndRejectsIntegers) {
  const int W = this->world;
  for (auto dtype : {torch::kFloat32, torch::kFloat64, torch::kBFloat16}) {
    auto t = torch::full({5}, 2.0 * (this->rank + 1), torch::TensorOptions().dtype(dtype));
    this->comm->all_reduce(t, ReduceOp::kAvg);
    EXPECT_DOUBLE_EQ(t[0].template item<double>(), static_cast<double>(W + 1));  // mean of 2, 4, ..., 2W
  }
  auto ints = torch::ones({3}, torch::kInt64);
  EXPECT_THROW(this->comm->all_reduce(ints, ReduceOp::kAvg), DistributedError);
}

TYPED_TEST(CommunicatorTest, AllReduceWritesBackIntoNonContiguousViews) {
  auto base = torch::zeros({4, 6}, torch::kFloat32);
  auto view = base.t();  // not contiguous
  view.fill_(static_cast<float>(this->rank + 1));
  this->comm->all_reduce(view, ReduceOp::kSum);
  EXPECT_FLOAT_EQ(base[3][5].item<float>(), static_cast<float>(this->world * (this->world + 1) / 2));
}

TYPED_TEST(CommunicatorTest, AsyncAllReduceCompletesOnWait) {
  auto t = torch::full({1000}, static_cast<double>(this->rank), torch::kFloat64);
  auto work = this->comm->all_reduce_async(t, ReduceOp::kSum);
  work->wait();
  EXPECT_DOUBLE_EQ(t[999].item<double>(), this->world * (this->world - 1) / 2.0);
}

TYPED_TEST(CommunicatorTest, BroadcastFromLastRank) {
  const int root = this->world - 1;
  for (auto dtype : kDtypes) {
    auto t = (this->iota(11, torch::kFloat64) + 10 * this->rank).to(dtype);
    this->comm->broadcast(t, root);
    EXPECT_TRUE(t.to(torch::kFloat64).equal(this->iota(11, torch::kFloat64) + 10 * root)) << c10::toString(dtype);
  }
  auto t = torch::zeros({2});
  EXPECT_THROW(this->comm->broadcast(t, this->world), DistributedError);
}

TYPED_TEST(CommunicatorTest, AllGatherConcatenatesInRankOrder) {
  for (auto dtype : kDtypes) {
    auto t = torch::full({2, 3}, static_cast<double>(this->rank), torch::TensorOptions().dtype(dtype));
    auto all = this->comm->all_gather(t);
    ASSERT_EQ(all.sizes(), torch::IntArrayRef({2 * this->world, 3}));
    for (int r = 0; r < this->world; ++r) {
      EXPECT_EQ(all[2 * r][0].template item<double>(), r);
      EXPECT_EQ(all[2 * r + 1][2].template item<double>(), r);
    }
  }
}

TYPED_TEST(CommunicatorTest, AllGatherVaryingKeepsEachRanksRows) {
  auto t = torch::full({this->rank + 1, 2}, static_cast<float>(this->rank));
  auto all = this->comm->all_gather_varying(t);
  ASSERT_EQ(all.size(0), this->world * (this->world + 1) / 2);
  int64_t row = 0;
  for (int r = 0; r < this->world; ++r)
    for (int k = 0; k <= r; ++k) EXPECT_EQ(all[row++][1].template item<float>(), r);
}

TYPED_TEST(CommunicatorTest, BytesAndScalars) {
  const std::string mine(static_cast<size_t>(this->rank) * 3 + 1, static_cast<char>('a' + this->rank));
  auto all = this->comm->all_gather_bytes(mine);
  ASSERT_EQ(all.size(), static_cast<size_t>(this->world));
  for (int r = 0; r < this->world; ++r) EXPECT_EQ(all[r], std::string(r * 3 + 1, static_cast<char>('a' + r)));
  const auto b = this->comm->broadcast_bytes(this->rank == 0 ? std::string("hello\0world", 11) : std::string(), 0);
  EXPECT_EQ(b, std::string("hello\0world", 11));
  EXPECT_DOUBLE_EQ(this->comm->all_reduce_scalar(0.5 * this->rank, ReduceOp::kMax), 0.5 * (this->world - 1));
  EXPECT_EQ(this->comm->all_reduce_int(this->rank + 1, ReduceOp::kSum), this->world * (this->world + 1) / 2);
  this->comm->barrier();
}

TYPED_TEST(CommunicatorTest, RejectsUnsupportedDtypeAndNonCpuTensors) {
  auto i32 = torch::ones({3}, torch::kInt32);
  EXPECT_THROW(this->comm->all_reduce(i32, ReduceOp::kSum), DistributedError);
  EXPECT_THROW(this->comm->all_gather(i32), DistributedError);
  if (this->comm->name() == "mpi") {
    auto meta = torch::empty({3}, torch::TensorOptions().device(torch::kMeta));
    try {
      this->comm->all_reduce(meta, ReduceOp::kSum);
      ADD_FAILURE() << "expected an error for a non-CPU tensor";
    } catch (const DistributedError& e) {
      EXPECT_NE(std::string(e.what()).find("CPU tensors"), std::string::npos) << e.what();
    }
  }
}

class MpiOnlyTest : public ::testing::Test {
 protected:
  MpiCommunicator comm{*testing::g_runtime};
};

TEST_F(MpiOnlyTest, MismatchedShapesFailOnEveryRank) {
  if (comm.world_size() < 2) GTEST_SKIP() << "needs two ranks";
  auto t = torch::ones({4 + comm.rank()});
  try {
    comm.all_reduce(t, ReduceOp::kSum);
    ADD_FAILURE() << "expected a mismatch error";
  } catch (const DistributedError& e) {
    EXPECT_NE(std::string(e.what()).find("disagree across ranks"), std::string::npos) << e.what();
  }
  auto g = torch::ones({2, 2 + comm.rank()});
  EXPECT_THROW(comm.all_gather(g), DistributedError);
  auto d = comm.rank() == 0 ? torch::ones({3}, torch::kFloat64) : torch::ones({3}, torch::kFloat32);
  EXPECT_THROW(comm.broadcast(d, 0), DistributedError);
}

TEST_F(MpiOnlyTest, CountsAboveTheChunkLimitAreSplit) {
  // The INT_MAX split, exercised with a chunk limit of 7 elements.
  comm.set_max_chunk_elements(7);
  const int W = comm.world_size();
  auto t = torch::arange(100, torch::kFloat64) * (comm.rank() + 1);
  comm.all_reduce(t, ReduceOp::kSum);
  EXPECT_TRUE(t.equal(torch::arange(100, torch::kFloat64) * (W * (W + 1) / 2)));
  auto bf = torch::full({23}, 1.0, torch::kBFloat16);
  comm.all_reduce(bf, ReduceOp::kSum);
  EXPECT_EQ(bf[22].item<float>(), static_cast<float>(W));
  auto b = torch::arange(33, torch::kInt64) + comm.rank();
  comm.broadcast(b, 0);
  EXPECT_TRUE(b.equal(torch::arange(33, torch::kInt64)));
  auto g = torch::arange(50, torch::kFloat32).view({5, 10}) + 100 * comm.rank();
  auto all = comm.all_gather(g);
  ASSERT_EQ(all.size(0), 5 * W);
  for (int r = 0; r < W; ++r)
    EXPECT_TRUE(all.narrow(0, 5 * r, 5).equal(torch::arange(50, torch::kFloat32).view({5, 10}) + 100 * r));
  const auto bytes = comm.broadcast_bytes(comm.rank() == 0 ? std::string(40, 'x') : std::string(), 0);
  EXPECT_EQ(bytes, std::string(40, 'x'));
}

}  // namespace
}  // namespace hyperrep::dist
