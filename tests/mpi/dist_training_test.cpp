// Data-parallel building blocks at 1, 2 and 3 ranks: every rank's share of a global loss,
// differentiated through the collectives, gives exactly the gradients of one process holding
// the whole batch.
#include <gtest/gtest.h>

#include "distributed/autograd_collectives.h"
#include "distributed/gradient_synchronizer.h"
#include "distributed/mpi_communicator.h"
#include "tests/mpi/mpi_env.h"

namespace hyperrep::dist {
namespace {

class DistTraining : public ::testing::Test {
 protected:
  MpiCommunicator comm{*testing::g_runtime};
  int rank = comm.rank(), world = comm.world_size();
  // Rows [begin, end) of a global batch of n rows split as evenly as possible.
  std::pair<int64_t, int64_t> slice(int64_t n) const {
    const int64_t base = n / world, extra = n % world;
    const int64_t begin = rank * base + std::min<int64_t>(rank, extra);
    return {begin, begin + base + (rank < extra ? 1 : 0)};
  }
};

TEST_F(DistTraining, AllGatherWithGradMatchesOneProcess) {
  torch::manual_seed(11);
  auto global = torch::randn({7, 3}, torch::kFloat64);
  auto weights = torch::randn({7, 3}, torch::kFloat64);
  auto [b, e] = slice(7);
  auto local = global.narrow(0, b, e - b).clone().requires_grad_(true);
  auto gathered = all_gather_with_grad(comm, local);
  ASSERT_EQ(gathered.offset, b);
  ASSERT_TRUE(gathered.all.allclose(global));
  // This rank's share of the global loss sum_i <w_i, x_i>^2 / 2 is the term of its own rows,
  // but computed from the gathered tensor (as NT-Xent does with other ranks' views).
  auto share = (gathered.all * weights).sum(1).pow(2).narrow(0, b, e - b).sum() / 2 + 0.1 * gathered.all.sum() / world;
  share.backward();
  auto full = global.clone().requires_grad_(true);
  ((full * weights).sum(1).pow(2).sum() / 2 + 0.1 * full.sum()).backward();
  EXPECT_TRUE(local.grad().allclose(full.grad().narrow(0, b, e - b), 1e-12, 1e-12));
}

TEST_F(DistTraining, SyncBatchNormMatchesFullBatchForwardAndBackward) {
  torch::manual_seed(5);
  auto global = torch::randn({9, 4}, torch::kFloat64) * 3 + 1;
  auto coef = torch::randn({9, 4}, torch::kFloat64);
  auto weight = torch::rand({4}, torch::kFloat64).requires_grad_(true);
  auto bias = torch::randn({4}, torch::kFloat64).requires_grad_(true);
  auto [b, e] = slice(9);
  auto x = global.narrow(0, b, e - b).clone().requires_grad_(true);
  auto rm = torch::zeros({4}, torch::kFloat64), rv = torch::ones({4}, torch::kFloat64);
  auto y = sync_batch_norm(comm, x, weight, bias, rm, rv, 0.1, 1e-5);
  (y * coef.narrow(0, b, e - b)).sum().backward();
  // Parameter gradients are shares: sum them over ranks as the synchronizer does.
  auto gw = weight.grad().clone(), gb = bias.grad().clone();
  comm.all_reduce(gw, ReduceOp::kSum);
  comm.all_reduce(gb, ReduceOp::kSum);

  auto xf = global.clone().requires_grad_(true);
  auto wf = weight.detach().clone().requires_grad_(true), bf = bias.detach().clone().requires_grad_(true);
  auto rmf = torch::zeros({4}, torch::kFloat64), rvf = torch::ones({4}, torch::kFloat64);
  auto yf = torch::batch_norm(xf, wf, bf, rmf, rvf, true, 0.1, 1e-5, false);
  (yf * coef).sum().backward();
  EXPECT_TRUE(y.allclose(yf.narrow(0, b, e - b), 1e-10, 1e-10));
  EXPECT_TRUE(x.grad().allclose(xf.grad().narrow(0, b, e - b), 1e-10, 1e-10));
  EXPECT_TRUE(gw.allclose(wf.grad(), 1e-10, 1e-10));
  EXPECT_TRUE(gb.allclose(bf.grad(), 1e-10, 1e-10));
  EXPECT_TRUE(rm.allclose(rmf, 1e-12, 1e-12));
  EXPECT_TRUE(rv.allclose(rvf, 1e-12, 1e-12));
}

struct Net : torch::nn::Module {
  Net() {
    a = register_module("a", torch::nn::Linear(6, 32));
    b = register_module("b", torch::nn::Linear(32, 32));
    c = register_module("c", torch::nn::Linear(32, 2));
  }
  torch::Tensor forward(const torch::Tensor& x) { return c(torch::tanh(b(torch::tanh(a(x))))); }
  torch::nn::Linear a{nullptr}, b{nullptr}, c{nullptr};
};

TEST_F(DistTraining, SynchronizerStrategiesGiveTheFullBatchGradient) {
  torch::manual_seed(1);
  auto x = torch::randn({10, 6});
  auto target = torch::randn({10, 2});
  for (auto strategy : {SyncStrategy::kBucketed, SyncStrategy::kFlat, SyncStrategy::kPerParam}) {
    for (bool overlap : {true, false}) {
      SCOPED_TRACE(std::to_string(static_cast<int>(strategy)) + (overlap ? " overlap" : " after backward"));
      torch::manual_seed(100 + rank);  // different init per rank: broadcast must fix it
      auto net = std::make_shared<Net>();
      SyncOptions opt;
      opt.bucket_mb = 2048.0 / (1 << 20);  // 2 KiB buckets: several per step
      opt.overlap = overlap;
      opt.strategy = strategy;
      opt.op = ReduceOp::kSum;
      GradientSynchronizer sync(comm, net->parameters(), opt);
      if (strategy == SyncStrategy::kBucketed) {
        EXPECT_GT(sync.num_buckets(), 2u);
      }
      sync.broadcast_parameters(0);
      torch::manual_seed(100);
      auto reference = std::make_shared<Net>();  // rank 0's initialisation
      for (size_t k = 0; k < net->parameters().size(); ++k) ASSERT_TRUE(net->parameters()[k].equal(reference->parameters()[k]));
      for (int step = 0; step < 2; ++step) {
        net->zero_grad();
        reference->zero_grad();
        auto [b, e] = slice(10);
        sync.prepare();
        // Share of the global mean loss: sum over local rows / global rows.
        ((net->forward(x.narrow(0, b, e - b)) - target.narrow(0, b, e - b)).pow(2).sum() / 10).backward();
        sync.finish();
        (reference->forward(x) - target).pow(2).sum().div(10).backward();
        for (size_t k = 0; k < net->parameters().size(); ++k) {
          EXPECT_TRUE(net->parameters()[k].grad().allclose(reference->parameters()[k].grad(), 1e-5, 1e-6)) << "param " << k;
        }
      }
    }
  }
}

}  // namespace
}  // namespace hyperrep::dist
