// hyperrep version: the build (torch, MPI, backends) and, under mpirun, every rank's place.
#include <unistd.h>

#include <iostream>

#include "common/logging.h"
#include "distributed/communicator.h"
#include "launch/args.h"
#include "launch/commands.h"

#ifdef HYPERREP_WITH_MPI
#include <mpi.h>
#endif

namespace hyperrep::cli {

int cmd_version(Context& ctx) {
  Args args(ctx.args, {}, {});
  if (args.help()) {
    std::cout << "usage: hyperrep --version\n  Print the version, the build's backends and, under mpirun, each rank.\n";
    return 0;
  }
  std::string backends = "local";
  std::string mpi_lib = "none";
#ifdef HYPERREP_WITH_MPI
  backends += " mpi";
  char lib[MPI_MAX_LIBRARY_VERSION_STRING];
  int len = 0;
  MPI_Get_library_version(lib, &len);
  mpi_lib = std::string(lib, len);
  if (auto nl = mpi_lib.find_first_of(",\n"); nl != std::string::npos) mpi_lib = mpi_lib.substr(0, nl);
#endif
#ifdef HYPERREP_WITH_NCCL
  backends += " nccl";
#endif
  if (ctx.mpi.rank() == 0) {
    std::cout << "hyperrep " << HYPERREP_VERSION << " (libtorch " << TORCH_VERSION << ", MPI: " << mpi_lib
              << ", backends: " << backends << ", cuda: " << (torch::cuda::is_available() ? "yes" : "no") << ")\n";
  }
  auto comm = dist::make_communicator(Backend::kAuto, &ctx.mpi);
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  const std::string me = std::string(host) + " pid " + std::to_string(getpid()) + " local rank " +
                         std::to_string(ctx.mpi.local_rank()) + "/" + std::to_string(ctx.mpi.local_size());
  const auto all = comm->all_gather_bytes(me);
  for (size_t r = 0; r < all.size(); ++r) {
    spdlog::info("rank {}/{} ({} backend): {}", r, comm->world_size(), comm->name(), all[r]);
  }
  return 0;
}

}  // namespace hyperrep::cli
