// Process-wide runtime choices: which device tensors live on, and how many intra-op threads a
// rank uses so that several ranks on one node do not oversubscribe its cores.
#pragma once

#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

namespace hyperrep {

// "auto" -> cuda:<local_rank % devices> when CUDA is available, else cpu; "cuda" without a GPU throws.
torch::Device resolve_device(const std::string& name, int local_rank = 0);
// threads == 0: OMP_NUM_THREADS when set, else hardware cores / ranks on this node (at least 1).
// Returns the count set.
int configure_threads(int64_t threads, int local_size);
// Threads of OpenBLAS's own pool when LibTorch runs on OpenBLAS; returns the count now in
// effect, or 0 when the BLAS is not OpenBLAS. configure_threads sets it to 1.
int set_blas_threads(int n);
int blas_threads();

// bf16 autocast on CUDA for the ops of its scope (when `on`); leaving the scope, by return or by
// exception, switches it off again and clears the autocast cache. The backward follows the
// forward's dtypes, so it may run outside the scope.
class CudaBf16Autocast {
 public:
  explicit CudaBf16Autocast(bool on);
  ~CudaBf16Autocast();
  CudaBf16Autocast(const CudaBf16Autocast&) = delete;
  CudaBf16Autocast& operator=(const CudaBf16Autocast&) = delete;

 private:
  bool on_;
};

// Bytes of physical memory of this machine.
int64_t physical_memory_bytes();

// Refuses, before anything is allocated, work whose estimated memory exceeds this machine's:
// `parts` are (config key, bytes) of the main consumers; the error names `what`, the estimate and
// the key of the largest part, so a typo such as an extra zero names the key that holds it.
void check_memory_estimate(const std::string& what, const std::vector<std::pair<std::string, double>>& parts);

}  // namespace hyperrep
