// all_reduce bandwidth of Communicator (mpi backend) against a raw MPI_Allreduce of the same
// buffer, 4 KiB to 64 MiB. Run under mpirun: mpirun -np 2 build/bin/bench_allreduce
#include <mpi.h>

#include <cstdio>

#include "bench/bench_common.h"
#include "distributed/mpi_communicator.h"
#include "distributed/mpi_runtime.h"

int main(int argc, char** argv) {
  using namespace hyperrep;
  setenv("HYPERREP_MPI", "1", 0);
  dist::MpiRuntime runtime(&argc, &argv);
  dist::MpiCommunicator comm(runtime);
  torch::set_num_threads(1);
  const int n = comm.world_size();
  if (comm.rank() == 0) {
    std::printf("all_reduce (sum, float32) at %d ranks; median of timed repetitions\n", n);
    std::printf("%10s %8s %12s %12s %12s %12s %7s\n", "bytes", "reps", "raw algbw", "raw busbw", "comm algbw", "comm busbw",
                "ratio");
  }
  double min_ratio_1mib = 1e9;
  for (int64_t bytes = 4 << 10; bytes <= (64 << 20); bytes *= 4) {
    const int64_t count = bytes / 4;
    auto t = torch::zeros({count});  // sums of zeros stay finite over many repetitions
    const int reps = bytes <= (1 << 20) ? 200 : bytes <= (16 << 20) ? 20 : 6;
    auto raw = [&] {
      MPI_Allreduce(MPI_IN_PLACE, t.data_ptr<float>(), static_cast<int>(count), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    };
    auto ours = [&] { comm.all_reduce(t, dist::ReduceOp::kSum); };
    // Interleave the two so that drift in machine load hits both alike.
    std::vector<double> r_raw, r_ours;
    for (int round = 0; round < 3; ++round) {
      MPI_Barrier(MPI_COMM_WORLD);
      r_raw.push_back(bench::median_seconds(raw, reps));
      MPI_Barrier(MPI_COMM_WORLD);
      r_ours.push_back(bench::median_seconds(ours, reps));
    }
    std::sort(r_raw.begin(), r_raw.end());
    std::sort(r_ours.begin(), r_ours.end());
    // Every rank must agree on the time: take the slowest rank's.
    double s_raw = r_raw[1], s_ours = r_ours[1];
    MPI_Allreduce(MPI_IN_PLACE, &s_raw, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    MPI_Allreduce(MPI_IN_PLACE, &s_ours, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    const double factor = n > 1 ? 2.0 * (n - 1) / n : 1.0;
    const double a_raw = bytes / s_raw / 1e9, a_ours = bytes / s_ours / 1e9;
    const double ratio = s_raw / s_ours;
    if (bytes >= (1 << 20)) min_ratio_1mib = std::min(min_ratio_1mib, ratio);
    if (comm.rank() == 0) {
      std::printf("%10lld %8d %9.3f GB/s %9.3f GB/s %9.3f GB/s %9.3f GB/s %7.3f\n", static_cast<long long>(bytes), reps, a_raw,
                  a_raw * factor, a_ours, a_ours * factor, ratio);
    }
  }
  if (comm.rank() == 0) {
    std::printf("min ratio (Communicator / raw MPI) from 1 MiB up: %.3f (goal >= 0.95)\n", min_ratio_1mib);
    std::printf("fp32 GEMM 1024^2 on this rank: %.1f GFLOP/s\n", bench::gemm_gflops());
  }
  return 0;
}
