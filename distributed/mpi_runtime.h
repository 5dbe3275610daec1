// MPI start-up and shutdown (RAII) and the job's geometry: rank, world size, and the node-local
// rank that picks a GPU and sizes the intra-op thread pool. Inactive when not launched by mpirun.
#pragma once

#include <string>

namespace hyperrep::dist {

class MpiRuntime {
 public:
  // Initialises MPI when the process was started by a launcher (mpirun, srun) or when
  // HYPERREP_MPI=1; otherwise stays inactive with world size 1.
  MpiRuntime(int* argc, char*** argv);
  ~MpiRuntime();
  MpiRuntime(const MpiRuntime&) = delete;
  MpiRuntime& operator=(const MpiRuntime&) = delete;

  bool active() const { return active_; }
  int rank() const { return rank_; }
  int world_size() const { return world_size_; }
  int local_rank() const { return local_rank_; }
  int local_size() const { return local_size_; }

  // Ends every rank of the job with this code (used when peers would otherwise hang).
  [[noreturn]] void abort(int code) const;

  // The live runtime, or nullptr before construction / after destruction.
  static MpiRuntime* current();
  // True when environment variables show a launcher started this process.
  static bool launched_by_mpi();

 private:
  bool active_ = false;
  bool finalize_ = false;
  int rank_ = 0;
  int world_size_ = 1;
  int local_rank_ = 0;
  int local_size_ = 1;
};

}  // namespace hyperrep::dist
