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
// What a process is about to do, for the default number of intra-op threads.
enum class ThreadStage {
  kGeneral,   // zoo generation, embedding, probes: cores / ranks on this node
  kTraining,  // autoencoder training on the CPU: one thread per rank
};
// Sets torch's intra-op threads: `threads` when > 0 (run.threads), else OMP_NUM_THREADS when set,
// else the stage's default. The defaults follow measurements on 2 cores (README, "Ranks and
// threads"): zoo generation runs 1.7x faster on 2 threads than on 1, while the autoencoder step
// is at best 1.5x faster (TETRIS-SEED with OpenBLAS on both threads, 1.35x for an epoch with
// start-up; no faster at quick-start sizes, and 2x slower there next to a busy process); ranks
// (mpirun, one per core) are what speed training up.
// Remembers threads and local_size for use_threads_for. Returns the count set.
int configure_threads(int64_t threads, int local_size, ThreadStage stage = ThreadStage::kGeneral);
// The stage of autoencoder training on `device` (run.device): kTraining on the CPU; on a GPU the
// CPU threads prepare the step (keyed draws, batches), so they keep the general default.
ThreadStage training_thread_stage(const std::string& device);
// Switches to another stage's threads, with the settings of the last configure_threads (a
// process that runs several stages, such as `hyperrep run`). Returns the count set.
int use_threads_for(ThreadStage stage);
// Threads of OpenBLAS's own pool when LibTorch runs on OpenBLAS; returns the count now in
// effect, or 0 when the BLAS is not OpenBLAS. configure_threads sets it to the training stage's
// thread count, and to 1 for every other stage.
int set_blas_threads(int n);
int blas_threads();

// OpenMP's idle workers spin before they sleep (libgomp: 300,000 rounds when OMP_WAIT_POLICY is
// unset), and libgomp reads the policy once, when it is loaded, before main. Starts this program
// again (same pid, same arguments) with OMP_WAIT_POLICY=PASSIVE unless the environment already
// chooses a policy (OMP_WAIT_POLICY or GOMP_SPINCOUNT); returns only when it did not restart
// (a policy was chosen, or no /proc/self/exe), with the environment as it found it.
void restart_with_passive_openmp_wait(char** argv);

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
