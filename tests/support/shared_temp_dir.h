// A temporary directory shared by the ranks of an MPI test: rank 0 makes it (TempDir) and tells
// the others; it is removed after every rank is done with it.
#pragma once

#include <memory>
#include <string>

#include "distributed/communicator.h"
#include "tests/support/temp_dir.h"

namespace hyperrep::testing {

class SharedTempDir {
 public:
  explicit SharedTempDir(dist::Communicator& comm, const std::string& prefix = "hyperrep_mpi") : comm_(comm) {
    if (comm.rank() == 0) owned_ = std::make_unique<TempDir>(prefix);
    path_ = comm.broadcast_bytes(owned_ ? owned_->path() : std::string(), 0);
  }
  ~SharedTempDir() {
    comm_.barrier();
    owned_.reset();
  }
  SharedTempDir(const SharedTempDir&) = delete;
  SharedTempDir& operator=(const SharedTempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  dist::Communicator& comm_;
  std::unique_ptr<TempDir> owned_;
  std::string path_;
};

}  // namespace hyperrep::testing
