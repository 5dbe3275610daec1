#include "distributed/mpi_runtime.h"

#include <cstdlib>

#include "common/error.h"

#ifdef HYPERREP_WITH_MPI
#include <mpi.h>
#endif

namespace hyperrep::dist {
namespace {
MpiRuntime* g_current = nullptr;
}

bool MpiRuntime::launched_by_mpi() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS", "HYDRA_CONTROL_FD"}) {
    if (std::getenv(v) != nullptr) return true;
  }
  const char* force = std::getenv("HYPERREP_MPI");
  return force != nullptr && std::string(force) == "1";
}

MpiRuntime::MpiRuntime(int* argc, char*** argv) {
#ifdef HYPERREP_WITH_MPI
  if (launched_by_mpi()) {
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (!initialized) {
      int provided = 0;
      if (MPI_Init_thread(argc, argv, MPI_THREAD_SERIALIZED, &provided) != MPI_SUCCESS) {
        HYPERREP_THROW(DistributedError, "MPI_Init_thread failed");
      }
      finalize_ = true;
    }
    // Errors come back as codes so that they become exceptions naming the collective.
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &world_size_);
    MPI_Comm node;
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &node);
    MPI_Comm_rank(node, &local_rank_);
    MPI_Comm_size(node, &local_size_);
    MPI_Comm_free(&node);
    active_ = true;
  }
#else
  (void)argc;
  (void)argv;
#endif
  g_current = this;
}

MpiRuntime::~MpiRuntime() {
  if (g_current == this) g_current = nullptr;
#ifdef HYPERREP_WITH_MPI
  if (finalize_) {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) MPI_Finalize();
  }
#endif
}

void MpiRuntime::abort(int code) const {
#ifdef HYPERREP_WITH_MPI
  if (active_ && world_size_ > 1) MPI_Abort(MPI_COMM_WORLD, code);
#endif
  std::_Exit(code);
}

MpiRuntime* MpiRuntime::current() { return g_current; }

}  // namespace hyperrep::dist
