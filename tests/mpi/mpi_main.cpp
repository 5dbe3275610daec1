// Main of the MPI test program: every rank runs every test, only rank 0 prints, and the
// verdict is reduced across ranks so that a failure on any rank fails the whole run.
#include <gtest/gtest.h>
#include <mpi.h>

#include "common/logging.h"
#include "distributed/mpi_runtime.h"
#include "tests/mpi/mpi_env.h"

namespace hyperrep::testing {
dist::MpiRuntime* g_runtime = nullptr;
}

int main(int argc, char** argv) {
  setenv("HYPERREP_MPI", "1", 0);
  hyperrep::dist::MpiRuntime runtime(&argc, &argv);
  hyperrep::testing::g_runtime = &runtime;
  hyperrep::init_logging(runtime.rank(), runtime.world_size(), "warn");
  torch::set_num_threads(1);
  ::testing::InitGoogleTest(&argc, argv);
  if (runtime.rank() != 0) {
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
  }
  const int local = RUN_ALL_TESTS();
  int failed = local != 0 ? 1 : 0;
  MPI_Allreduce(MPI_IN_PLACE, &failed, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  if (runtime.rank() == 0) {
    std::printf("mpi tests at world size %d: %s\n", runtime.world_size(),
                failed ? "FAILED on some rank" : "passed on every rank");
  }
  return failed;
}
