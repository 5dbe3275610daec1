// Thread configuration: torch's intra-op count as asked; OpenBLAS's own pool held at one thread
// (it would compete with torch's OpenMP threads) except in autoencoder training on the CPU.
#include <gtest/gtest.h>

#include "common/runtime.h"

namespace hyperrep {
namespace {

TEST(Runtime, ConfigureThreadsSetsTorchAndOpenBlasByStage) {
  const int before = torch::get_num_threads();
  if (set_blas_threads(2) == 0) GTEST_SKIP() << "LibTorch does not run on OpenBLAS here";
  EXPECT_EQ(blas_threads(), 2);
  EXPECT_EQ(configure_threads(2, 1), 2);
  EXPECT_EQ(torch::get_num_threads(), 2);
  EXPECT_EQ(blas_threads(), 1);
  // Autoencoder training on the CPU is a few large GEMMs: OpenBLAS gets the stage's threads.
  EXPECT_EQ(configure_threads(2, 1, ThreadStage::kTraining), 2);
  EXPECT_EQ(blas_threads(), 2);
  EXPECT_EQ(use_threads_for(ThreadStage::kGeneral), 2);
  EXPECT_EQ(blas_threads(), 1);
  // An explicit count wins over the node's cores and ranks.
  EXPECT_EQ(configure_threads(1, 4), 1);
  EXPECT_EQ(torch::get_num_threads(), 1);
  torch::set_num_threads(before);
}

TEST(Runtime, ResolveDeviceCpuAndUnknownName) {
  EXPECT_TRUE(resolve_device("cpu").is_cpu());
  EXPECT_THROW(resolve_device("tpu"), std::exception);
}

}  // namespace
}  // namespace hyperrep
